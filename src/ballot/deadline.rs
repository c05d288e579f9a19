//! Deadlines: how an admin writes them, how they resolve to an instant, and how
//! every mail shows them (in the organisation's time zone, with the weekday).
//!
//! Forms accepted (the same on the command line, in admin mail and in the config):
//! - `2026-11-29 17:00` (or `2026-11-29T17:00`): that time in the organisation's zone;
//! - `2026-11-29`: the end of that day (23:59);
//! - `2026-11-29T17:00:00+09:00`: an explicit offset;
//! - `7d`, `7d@17:00`: seven calendar days from now (at 17:00 local time);
//! - `5bd@17:00`: five business days from now (see `calendar`);
//! - `48h`: 48 hours from now.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ballot::calendar::{weekday_ja, Calendar};
use crate::language::Language;
use crate::zone::Tz;

/// A deadline as written, before it is resolved against `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineSpec {
    /// A fixed moment.
    At(Absolute),
    /// Some time after `now`.
    After {
        amount: u32,
        unit: Unit,
        /// Local time of day to land on (days and business days only).
        at: Option<NaiveTime>,
    },
}

/// A fixed moment, with or without an explicit offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Absolute {
    /// Local time in the organisation's zone.
    Local(NaiveDateTime),
    /// With an offset.
    Offset(DateTime<FixedOffset>),
}

/// Units of a relative deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hours,
    Days,
    BusinessDays,
}

impl FromStr for DeadlineSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || {
            format!(
                "`{t}` is not a deadline: write a date and time such as \"2026-11-29 17:00\", or a period such as \"7d@17:00\", \"5bd@17:00\" or \"48h\""
            )
        };
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(DeadlineSpec::At(Absolute::Offset(dt)));
        }
        for f in [
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
            "%Y/%m/%d %H:%M",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(DeadlineSpec::At(Absolute::Local(n)));
            }
        }
        for f in ["%Y-%m-%d", "%Y/%m/%d"] {
            if let Ok(d) = NaiveDate::parse_from_str(t, f) {
                let end = d.and_hms_opt(23, 59, 0).expect("valid time");
                return Ok(DeadlineSpec::At(Absolute::Local(end)));
            }
        }
        let (period, at) = match t.split_once('@') {
            Some((p, a)) => {
                let time = NaiveTime::parse_from_str(a.trim(), "%H:%M")
                    .map_err(|_| format!("`{t}`: the time after @ must be HH:MM, such as 17:00"))?;
                (p.trim(), Some(time))
            }
            None => (t, None),
        };
        let (digits, unit) = if let Some(n) = period.strip_suffix("bd") {
            (n, Unit::BusinessDays)
        } else if let Some(n) = period.strip_suffix('d') {
            (n, Unit::Days)
        } else if let Some(n) = period.strip_suffix('h') {
            (n, Unit::Hours)
        } else {
            return Err(bad());
        };
        let amount: u32 = digits.trim().parse().map_err(|_| bad())?;
        if amount == 0 || amount > 366 * 24 {
            return Err(format!(
                "`{t}`: the period must be at least 1 and at most a year"
            ));
        }
        if unit == Unit::Hours && at.is_some() {
            return Err(format!(
                "`{t}`: a period in hours cannot also give a time of day"
            ));
        }
        Ok(DeadlineSpec::After { amount, unit, at })
    }
}

impl fmt::Display for DeadlineSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlineSpec::At(Absolute::Local(n)) => write!(f, "{}", n.format("%Y-%m-%d %H:%M")),
            DeadlineSpec::At(Absolute::Offset(d)) => write!(f, "{}", d.to_rfc3339()),
            DeadlineSpec::After { amount, unit, at } => {
                let u = match unit {
                    Unit::Hours => "h",
                    Unit::Days => "d",
                    Unit::BusinessDays => "bd",
                };
                write!(f, "{amount}{u}")?;
                if let Some(t) = at {
                    write!(f, "@{}", t.format("%H:%M"))?;
                }
                Ok(())
            }
        }
    }
}

impl Serialize for DeadlineSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeadlineSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl DeadlineSpec {
    /// The shortest time a relative deadline can leave a round open, whatever
    /// the time of day it is resolved at (from a whole second, in a zone without
    /// summer time); `None` for a fixed moment. `7d` is exactly seven days;
    /// `7d@17:00` resolved just before midnight lands six days and 17 hours
    /// later; business days are at least as many calendar days.
    pub fn shortest(&self) -> Option<Duration> {
        match self {
            DeadlineSpec::At(_) => None,
            DeadlineSpec::After {
                amount,
                unit: Unit::Hours,
                ..
            } => Some(Duration::hours(i64::from(*amount))),
            DeadlineSpec::After { amount, at, .. } => {
                let days = Duration::days(i64::from(*amount));
                Some(match at {
                    None => days,
                    Some(t) => {
                        days - Duration::days(1)
                            + Duration::seconds(i64::from(t.num_seconds_from_midnight()))
                    }
                })
            }
        }
    }

    /// The instant this deadline falls on, counted from `now` in zone `tz`.
    pub fn resolve(
        &self,
        now: DateTime<Utc>,
        tz: Tz,
        calendar: &Calendar,
    ) -> Result<DateTime<Utc>, String> {
        let local_now = now.with_timezone(&tz);
        let at_local = |date: NaiveDate, time: NaiveTime| -> Result<DateTime<Utc>, String> {
            tz.from_local_datetime(&date.and_time(time))
                .earliest()
                .map(|d| d.with_timezone(&Utc))
                .ok_or_else(|| format!("{date} {time} does not exist in {tz}"))
        };
        match self {
            DeadlineSpec::At(Absolute::Offset(d)) => Ok(d.with_timezone(&Utc)),
            DeadlineSpec::At(Absolute::Local(n)) => at_local(n.date(), n.time()),
            DeadlineSpec::After {
                amount,
                unit: Unit::Hours,
                ..
            } => Ok(now + Duration::hours(i64::from(*amount))),
            DeadlineSpec::After { amount, unit, at } => {
                let date = match unit {
                    Unit::Days => local_now.date_naive() + Duration::days(i64::from(*amount)),
                    Unit::BusinessDays => {
                        calendar.add_business_days(local_now.date_naive(), *amount)?
                    }
                    Unit::Hours => unreachable!("handled above"),
                };
                let time = at.unwrap_or_else(|| {
                    local_now
                        .time()
                        .with_nanosecond(0)
                        .expect("zero nanoseconds is valid")
                });
                at_local(date, time)
            }
        }
    }
}

/// A deadline as members read it: `2026年11月29日(日) 17:00 (JST)` or
/// `Sun 29 Nov 2026 17:00 JST`.
pub fn format_deadline(at: DateTime<Utc>, tz: Tz, lang: Language) -> String {
    let l = at.with_timezone(&tz);
    let zone = l.format("%Z").to_string();
    match lang {
        Language::Ja => format!(
            "{}年{}月{}日({}) {} ({zone})",
            l.year(),
            l.month(),
            l.day(),
            weekday_ja(l.weekday()),
            l.format("%H:%M")
        ),
        Language::En => format!("{} {zone}", l.format("%a %-d %b %Y %H:%M")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn tokyo() -> Tz {
        "Asia/Tokyo".parse().unwrap()
    }

    #[test]
    fn a_local_date_and_time_is_read_in_the_organisations_zone() {
        let spec: DeadlineSpec = "2026-11-29 17:00".parse().unwrap();
        let at = spec
            .resolve(utc("2026-11-22T00:00:00Z"), tokyo(), &Calendar::default())
            .unwrap();
        assert_eq!(at, utc("2026-11-29T08:00:00Z"));
    }

    #[test]
    fn seven_days_at_five_lands_on_that_local_time() {
        let spec: DeadlineSpec = "7d@17:00".parse().unwrap();
        // 2026-11-22 23:30 JST is 14:30Z; seven days later at 17:00 JST.
        let at = spec
            .resolve(utc("2026-11-22T14:30:00Z"), tokyo(), &Calendar::default())
            .unwrap();
        assert_eq!(at, utc("2026-11-29T08:00:00Z"));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let spec: DeadlineSpec = "5bd@17:00".parse().unwrap();
        // Opened Fri 2026-11-20 10:00 JST; Mon 11/23 is a holiday → Mon 11/30 17:00.
        let at = spec
            .resolve(utc("2026-11-20T01:00:00Z"), tokyo(), &Calendar::default())
            .unwrap();
        assert_eq!(at, utc("2026-11-30T08:00:00Z"));
    }

    #[test]
    fn a_date_alone_means_the_end_of_that_day() {
        let spec: DeadlineSpec = "2026-11-29".parse().unwrap();
        let at = spec
            .resolve(utc("2026-11-22T00:00:00Z"), tokyo(), &Calendar::default())
            .unwrap();
        assert_eq!(at, utc("2026-11-29T14:59:00Z"));
    }

    #[test]
    fn the_shortest_open_period_of_a_relative_deadline_is_its_worst_time_of_day() {
        let h = |s: &str| {
            s.parse::<DeadlineSpec>()
                .unwrap()
                .shortest()
                .map(|d| d.num_minutes())
        };
        assert_eq!(h("48h"), Some(48 * 60));
        assert_eq!(h("5d"), Some(5 * 24 * 60));
        assert_eq!(h("5d@17:00"), Some((4 * 24 + 17) * 60));
        assert_eq!(h("1bd@09:30"), Some(9 * 60 + 30));
        assert_eq!(h("2026-11-29 17:00"), None);
        // The bound is reached: opened one second before midnight, 1d@09:30
        // lands 9 h 30 min and one second later.
        let spec: DeadlineSpec = "1d@09:30".parse().unwrap();
        let now = utc("2026-11-22T14:59:59Z"); // 23:59:59 JST
        let at = spec.resolve(now, tokyo(), &Calendar::default()).unwrap();
        assert_eq!((at - now).num_seconds(), (9 * 60 + 30) * 60 + 1);
    }

    #[test]
    fn unreadable_deadlines_say_what_would_be_accepted() {
        for s in ["next friday", "7x", "0d", "7d@5pm", "48h@17:00", ""] {
            let err = s.parse::<DeadlineSpec>().unwrap_err();
            assert!(!err.is_empty(), "{s}");
        }
    }

    #[test]
    fn specs_print_back_as_they_were_written() {
        for s in ["7d@17:00", "5bd@17:00", "48h", "2026-11-29 17:00"] {
            assert_eq!(s.parse::<DeadlineSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn deadlines_are_shown_in_jst_with_the_weekday() {
        let at = utc("2026-11-29T08:00:00Z");
        assert_eq!(
            format_deadline(at, tokyo(), Language::Ja),
            "2026年11月29日(日) 17:00 (JST)"
        );
        assert_eq!(
            format_deadline(at, tokyo(), Language::En),
            "Sun 29 Nov 2026 17:00 JST"
        );
    }
}
