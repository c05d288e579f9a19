//! The committee's meeting calendar, where every email resolution is confirmed
//! (必ず次回運営委員会で確認する): dates from the configuration, the yearly
//! pattern, and meetings added by command, merged into one list. Pure.

use chrono::{Datelike, Duration, NaiveDate};

use crate::ballot::calendar::Calendar;

/// Time-driven work: business days, reminders, meetings and the digest. The
/// configuration builds it from `[calendar]`, `[reminders]`, `[meetings]` and
/// `[digest]`; the functions here only read it.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub calendar: Calendar,
    /// How long before a deadline each reminder goes out, longest first.
    pub reminders: Vec<chrono::Duration>,
    /// Committee meetings given by date.
    pub meetings: Vec<NaiveDate>,
    /// A yearly pattern of meetings (ISOG-J: late April, early September, early December).
    pub meeting_pattern: Option<MeetingPattern>,
    /// The digest goes to the secretariat this many days before a meeting.
    pub digest_days_before: u32,
    /// Show dates in the digest as 令和8年12月1日(火).
    pub era_dates: bool,
}

/// A yearly pattern of committee meetings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingPattern {
    /// ISOG-J 運営規約 5 (2): 第1回 4月下旬, 第2回 9月上旬, 第3回 12月上旬: the
    /// windows 4/21-4/30, 9/1-9/10 and 12/1-12/10. Each is taken as its first
    /// day (4/21, 9/1, 12/1), so the digest is never late; a meeting given with
    /// its exact date inside a window replaces that window's date.
    Isogj,
}

impl MeetingPattern {
    /// The pattern's windows in `year`, as (first day, last day), inclusive.
    pub fn windows(&self, year: i32) -> Vec<(NaiveDate, NaiveDate)> {
        match self {
            MeetingPattern::Isogj => [((4, 21), (4, 30)), ((9, 1), (9, 10)), ((12, 1), (12, 10))]
                .iter()
                .filter_map(|((m, d), (m2, d2))| {
                    Some((
                        NaiveDate::from_ymd_opt(year, *m, *d)?,
                        NaiveDate::from_ymd_opt(year, *m2, *d2)?,
                    ))
                })
                .collect(),
        }
    }

    /// The pattern's dates in `year`: the first day of each window.
    pub fn dates(&self, year: i32) -> Vec<NaiveDate> {
        self.windows(year)
            .into_iter()
            .map(|(first, _)| first)
            .collect()
    }
}

/// Where a meeting date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Configured,
    Pattern,
    Added,
}

/// A meeting on the calendar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Meeting {
    pub date: NaiveDate,
    pub source: Source,
}

/// Every meeting from `from` to `to` (inclusive), in date order. A date given
/// exactly (configured or added) inside one of the pattern's windows replaces
/// the pattern's date for it, since the pattern only says "late April" or
/// "early September"; one outside every window (a meeting the chair calls,
/// 必要に応じて) is an extra meeting and the regular one stays.
pub fn calendar(
    schedule: &Schedule,
    added: &[NaiveDate],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Meeting> {
    let mut exact: Vec<Meeting> = schedule
        .meetings
        .iter()
        .map(|d| Meeting {
            date: *d,
            source: Source::Configured,
        })
        .chain(added.iter().map(|d| Meeting {
            date: *d,
            source: Source::Added,
        }))
        .collect();
    if let Some(p) = schedule.meeting_pattern {
        for year in from.year()..=to.year() {
            for (first, last) in p.windows(year) {
                if !exact.iter().any(|m| m.date >= first && m.date <= last) {
                    exact.push(Meeting {
                        date: first,
                        source: Source::Pattern,
                    });
                }
            }
        }
    }
    exact.retain(|m| m.date >= from && m.date <= to);
    exact.sort_by_key(|m| m.date);
    exact.dedup_by_key(|m| m.date);
    exact
}

/// The first meeting on or after `today`.
pub fn next(schedule: &Schedule, added: &[NaiveDate], today: NaiveDate) -> Option<Meeting> {
    calendar(schedule, added, today, today + Duration::days(400))
        .into_iter()
        .next()
}

/// The day the digest for `meeting` is due.
pub fn digest_due(schedule: &Schedule, meeting: NaiveDate) -> NaiveDate {
    meeting - Duration::days(i64::from(schedule.digest_days_before))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn schedule(dates: &[&str], pattern: bool) -> Schedule {
        Schedule {
            calendar: Calendar::default(),
            reminders: vec![],
            meetings: dates.iter().map(|s| d(s)).collect(),
            meeting_pattern: pattern.then_some(MeetingPattern::Isogj),
            digest_days_before: 7,
            era_dates: true,
        }
    }

    #[test]
    fn the_isogj_pattern_gives_late_april_early_september_and_early_december() {
        let s = schedule(&[], true);
        let dates: Vec<_> = calendar(&s, &[], d("2026-01-01"), d("2026-12-31"))
            .into_iter()
            .map(|m| m.date)
            .collect();
        assert_eq!(dates, [d("2026-04-21"), d("2026-09-01"), d("2026-12-01")]);
    }

    #[test]
    fn late_april_starts_on_the_twenty_first() {
        let s = schedule(&[], true);
        assert_eq!(
            next(&s, &[], d("2027-04-20")).unwrap().date,
            d("2027-04-21")
        );
        assert_eq!(
            next(&s, &[], d("2027-04-22")).unwrap().date,
            d("2027-09-01"),
            "the window's first day has passed"
        );
    }

    #[test]
    fn an_exact_date_inside_a_window_replaces_the_patterns_date() {
        let s = schedule(&["2027-04-27", "2027-09-10"], true);
        let dates: Vec<_> = calendar(&s, &[], d("2027-01-01"), d("2027-12-31"))
            .into_iter()
            .map(|m| (m.date, m.source))
            .collect();
        assert_eq!(
            dates,
            [
                (d("2027-04-27"), Source::Configured),
                (d("2027-09-10"), Source::Configured),
                (d("2027-12-01"), Source::Pattern),
            ]
        );
    }

    #[test]
    fn a_meeting_the_chair_calls_outside_a_window_does_not_drop_the_regular_one() {
        // Early April and late September are outside 下旬 / 上旬.
        let s = schedule(&[], true);
        let added = [d("2027-04-05"), d("2027-09-11")];
        let dates: Vec<_> = calendar(&s, &added, d("2027-01-01"), d("2027-12-31"))
            .into_iter()
            .map(|m| (m.date, m.source))
            .collect();
        assert_eq!(
            dates,
            [
                (d("2027-04-05"), Source::Added),
                (d("2027-04-21"), Source::Pattern),
                (d("2027-09-01"), Source::Pattern),
                (d("2027-09-11"), Source::Added),
                (d("2027-12-01"), Source::Pattern),
            ]
        );
    }

    #[test]
    fn an_exact_date_replaces_the_patterns_date_in_that_month() {
        let s = schedule(&["2026-12-10"], true);
        let m = next(&s, &[], d("2026-11-22")).unwrap();
        assert_eq!(
            m,
            Meeting {
                date: d("2026-12-10"),
                source: Source::Configured
            }
        );
    }

    #[test]
    fn a_meeting_added_by_command_is_on_the_calendar() {
        let s = schedule(&[], false);
        assert_eq!(
            next(&s, &[d("2027-01-15")], d("2026-11-22"))
                .unwrap()
                .source,
            Source::Added
        );
        assert!(next(&s, &[], d("2026-11-22")).is_none());
    }

    #[test]
    fn the_digest_is_due_the_configured_days_before() {
        let s = schedule(&[], false);
        assert_eq!(digest_due(&s, d("2026-12-10")), d("2026-12-03"));
    }
}
