//! `[calendar]`, `[reminders]`, `[meetings]` and `[digest]`: the time-driven
//! work, built into the meeting calendar's [`Schedule`].

use chrono::NaiveDate;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::{RawCalendar, RawDigest, RawMeetings, RawReminders};
use crate::ballot::calendar::Calendar;
use crate::meetings::{MeetingPattern, Schedule};

/// Checks the four tables and builds the schedule: reminders longest first,
/// meeting dates in order.
pub(super) fn load(
    file: &ConfigFile,
    calendar: RawCalendar,
    reminders: RawReminders,
    meetings: RawMeetings,
    digest: RawDigest,
) -> Result<Schedule, ConfigError> {
    let calendar = match calendar.year_end_closure.as_deref().map(str::trim) {
        None => Calendar::default(),
        Some("none") => Calendar::without_closure(),
        Some(s) => Calendar::parse_closure(s)
            .map_err(|e| ConfigError(format!("{file}: [calendar] year_end_closure: {e}")))?,
    };
    let mut before = Vec::new();
    for r in &reminders.before {
        let d = parse_duration(r)
            .map_err(|e| ConfigError(format!("{file}: [reminders] before: {e}")))?;
        if d <= chrono::Duration::zero() {
            return Err(ConfigError(format!(
                "{file}: [reminders] before: `{r}` must be longer than zero"
            )));
        }
        before.push(d);
    }
    before.sort_by(|a, b| b.cmp(a));
    before.dedup();
    let mut dates = Vec::new();
    for d in &meetings.dates {
        dates.push(
            NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                ConfigError(format!(
                    "{file}: [meetings] dates: `{d}` is not a date of the form YYYY-MM-DD"
                ))
            })?,
        );
    }
    dates.sort();
    let meeting_pattern = match meetings.pattern.as_deref() {
        None => None,
        Some("isogj") => Some(MeetingPattern::Isogj),
        Some(other) => {
            return Err(ConfigError(format!(
                "{file}: [meetings] pattern = \"{other}\" is not known (the one pattern is \"isogj\": late April, early September, early December)"
            )))
        }
    };
    Ok(Schedule {
        calendar,
        reminders: before,
        meetings: dates,
        meeting_pattern,
        digest_days_before: meetings.digest_days_before,
        era_dates: digest.era_dates,
    })
}

/// Parses "48h", "2d", "90m" as a duration.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let t = s.trim();
    let bad = || format!("`{t}` is not a duration such as \"48h\", \"2d\" or \"30m\"");
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        _ => Err(bad()),
    }
}
