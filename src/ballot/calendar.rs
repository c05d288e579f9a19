//! Japanese business days and dates as the minutes write them.
//!
//! A business day is not a Saturday, a Sunday, a national holiday (国民の祝日,
//! including 振替休日 and 国民の休日) or a day of the year-end closure (by default
//! 12/29 to 1/3, when member companies' offices are shut). The holidays are a
//! table kept in this file: the equinox days are only fixed by the National
//! Astronomical Observatory each February, so a table, checked in a test against
//! the rules of the 祝日法, is the source of truth; a year outside the table is
//! an error rather than a guess.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// The first and last years the holiday table covers.
pub const TABLE_YEARS: std::ops::RangeInclusive<i32> = 2024..=2030;

/// National holidays, as (date, name). Source: 内閣府「国民の祝日について」 and
/// 国立天文台 暦要項 (equinoxes); 2027-2030 equinoxes are the observatory's
/// computed dates, to be confirmed when each year's 暦要項 is published.
const HOLIDAYS: &[(&str, &str)] = &[
    ("2024-01-01", "元日"),
    ("2024-01-08", "成人の日"),
    ("2024-02-11", "建国記念の日"),
    ("2024-02-12", "振替休日"),
    ("2024-02-23", "天皇誕生日"),
    ("2024-03-20", "春分の日"),
    ("2024-04-29", "昭和の日"),
    ("2024-05-03", "憲法記念日"),
    ("2024-05-04", "みどりの日"),
    ("2024-05-05", "こどもの日"),
    ("2024-05-06", "振替休日"),
    ("2024-07-15", "海の日"),
    ("2024-08-11", "山の日"),
    ("2024-08-12", "振替休日"),
    ("2024-09-16", "敬老の日"),
    ("2024-09-22", "秋分の日"),
    ("2024-09-23", "振替休日"),
    ("2024-10-14", "スポーツの日"),
    ("2024-11-03", "文化の日"),
    ("2024-11-04", "振替休日"),
    ("2024-11-23", "勤労感謝の日"),
    ("2025-01-01", "元日"),
    ("2025-01-13", "成人の日"),
    ("2025-02-11", "建国記念の日"),
    ("2025-02-23", "天皇誕生日"),
    ("2025-02-24", "振替休日"),
    ("2025-03-20", "春分の日"),
    ("2025-04-29", "昭和の日"),
    ("2025-05-03", "憲法記念日"),
    ("2025-05-04", "みどりの日"),
    ("2025-05-05", "こどもの日"),
    ("2025-05-06", "振替休日"),
    ("2025-07-21", "海の日"),
    ("2025-08-11", "山の日"),
    ("2025-09-15", "敬老の日"),
    ("2025-09-23", "秋分の日"),
    ("2025-10-13", "スポーツの日"),
    ("2025-11-03", "文化の日"),
    ("2025-11-23", "勤労感謝の日"),
    ("2025-11-24", "振替休日"),
    ("2026-01-01", "元日"),
    ("2026-01-12", "成人の日"),
    ("2026-02-11", "建国記念の日"),
    ("2026-02-23", "天皇誕生日"),
    ("2026-03-20", "春分の日"),
    ("2026-04-29", "昭和の日"),
    ("2026-05-03", "憲法記念日"),
    ("2026-05-04", "みどりの日"),
    ("2026-05-05", "こどもの日"),
    ("2026-05-06", "振替休日"),
    ("2026-07-20", "海の日"),
    ("2026-08-11", "山の日"),
    ("2026-09-21", "敬老の日"),
    ("2026-09-22", "国民の休日"),
    ("2026-09-23", "秋分の日"),
    ("2026-10-12", "スポーツの日"),
    ("2026-11-03", "文化の日"),
    ("2026-11-23", "勤労感謝の日"),
    ("2027-01-01", "元日"),
    ("2027-01-11", "成人の日"),
    ("2027-02-11", "建国記念の日"),
    ("2027-02-23", "天皇誕生日"),
    ("2027-03-21", "春分の日"),
    ("2027-03-22", "振替休日"),
    ("2027-04-29", "昭和の日"),
    ("2027-05-03", "憲法記念日"),
    ("2027-05-04", "みどりの日"),
    ("2027-05-05", "こどもの日"),
    ("2027-07-19", "海の日"),
    ("2027-08-11", "山の日"),
    ("2027-09-20", "敬老の日"),
    ("2027-09-23", "秋分の日"),
    ("2027-10-11", "スポーツの日"),
    ("2027-11-03", "文化の日"),
    ("2027-11-23", "勤労感謝の日"),
    ("2028-01-01", "元日"),
    ("2028-01-10", "成人の日"),
    ("2028-02-11", "建国記念の日"),
    ("2028-02-23", "天皇誕生日"),
    ("2028-03-20", "春分の日"),
    ("2028-04-29", "昭和の日"),
    ("2028-05-03", "憲法記念日"),
    ("2028-05-04", "みどりの日"),
    ("2028-05-05", "こどもの日"),
    ("2028-07-17", "海の日"),
    ("2028-08-11", "山の日"),
    ("2028-09-18", "敬老の日"),
    ("2028-09-22", "秋分の日"),
    ("2028-10-09", "スポーツの日"),
    ("2028-11-03", "文化の日"),
    ("2028-11-23", "勤労感謝の日"),
    ("2029-01-01", "元日"),
    ("2029-01-08", "成人の日"),
    ("2029-02-11", "建国記念の日"),
    ("2029-02-12", "振替休日"),
    ("2029-02-23", "天皇誕生日"),
    ("2029-03-20", "春分の日"),
    ("2029-04-29", "昭和の日"),
    ("2029-04-30", "振替休日"),
    ("2029-05-03", "憲法記念日"),
    ("2029-05-04", "みどりの日"),
    ("2029-05-05", "こどもの日"),
    ("2029-07-16", "海の日"),
    ("2029-08-11", "山の日"),
    ("2029-09-17", "敬老の日"),
    ("2029-09-23", "秋分の日"),
    ("2029-09-24", "振替休日"),
    ("2029-10-08", "スポーツの日"),
    ("2029-11-03", "文化の日"),
    ("2029-11-23", "勤労感謝の日"),
    ("2030-01-01", "元日"),
    ("2030-01-14", "成人の日"),
    ("2030-02-11", "建国記念の日"),
    ("2030-02-23", "天皇誕生日"),
    ("2030-03-20", "春分の日"),
    ("2030-04-29", "昭和の日"),
    ("2030-05-03", "憲法記念日"),
    ("2030-05-04", "みどりの日"),
    ("2030-05-05", "こどもの日"),
    ("2030-05-06", "振替休日"),
    ("2030-07-15", "海の日"),
    ("2030-08-11", "山の日"),
    ("2030-08-12", "振替休日"),
    ("2030-09-16", "敬老の日"),
    ("2030-09-23", "秋分の日"),
    ("2030-10-14", "スポーツの日"),
    ("2030-11-03", "文化の日"),
    ("2030-11-04", "振替休日"),
    ("2030-11-23", "勤労感謝の日"),
];

/// The national holiday on `date`, if any. `Err` when the year is outside the table.
pub fn holiday(date: NaiveDate) -> Result<Option<&'static str>, String> {
    if !TABLE_YEARS.contains(&date.year()) {
        return Err(format!(
            "the Japanese holiday table covers {}-{}, not {}; update src/ballot/calendar.rs",
            TABLE_YEARS.start(),
            TABLE_YEARS.end(),
            date.year()
        ));
    }
    let key = date.format("%Y-%m-%d").to_string();
    Ok(HOLIDAYS
        .binary_search_by(|(d, _)| (*d).cmp(key.as_str()))
        .ok()
        .map(|i| HOLIDAYS[i].1))
}

/// Which days count as business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// First day of the year-end closure, as (month, day); inclusive.
    pub closure_start: (u32, u32),
    /// Last day of the closure in the new year, as (month, day); inclusive.
    pub closure_end: (u32, u32),
}

impl Default for Calendar {
    /// 12/29 to 1/3, the usual 年末年始休業.
    fn default() -> Self {
        Self {
            closure_start: (12, 29),
            closure_end: (1, 3),
        }
    }
}

impl Calendar {
    /// No year-end closure: only weekends and holidays are skipped.
    pub fn without_closure() -> Self {
        // An empty range: (13, 1) is after every date, (0, 0) before every date.
        Self {
            closure_start: (13, 1),
            closure_end: (0, 0),
        }
    }

    /// Parses a closure such as "12/29-1/3" (it may cross the new year).
    pub fn parse_closure(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a closure such as \"12/29-1/3\" or \"none\"");
        let md = |t: &str| -> Result<(u32, u32), String> {
            let (m, d) = t.trim().split_once('/').ok_or_else(bad)?;
            let m: u32 = m.trim().parse().map_err(|_| bad())?;
            let d: u32 = d.trim().parse().map_err(|_| bad())?;
            NaiveDate::from_ymd_opt(2024, m, d).ok_or_else(bad)?;
            Ok((m, d))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            closure_start: md(a)?,
            closure_end: md(b)?,
        })
    }

    /// True when `date` falls in the year-end closure.
    pub fn in_closure(&self, date: NaiveDate) -> bool {
        let md = (date.month(), date.day());
        if self.closure_start <= self.closure_end {
            md >= self.closure_start && md <= self.closure_end
        } else {
            md >= self.closure_start || md <= self.closure_end
        }
    }

    /// True on a weekday that is neither a holiday nor in the closure.
    pub fn is_business_day(&self, date: NaiveDate) -> Result<bool, String> {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || self.in_closure(date) {
            return Ok(false);
        }
        Ok(holiday(date)?.is_none())
    }

    /// The date `n` business days after `from` (`from` itself is not counted).
    pub fn add_business_days(&self, from: NaiveDate, n: u32) -> Result<NaiveDate, String> {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_business_day(d)? {
                left -= 1;
            }
        }
        Ok(d)
    }
}

/// The Japanese era date with weekday, as minutes write it: `令和8年12月1日(火)`.
/// 令和 began on 2019-05-01; earlier dates use 平成.
pub fn era_date(date: NaiveDate) -> String {
    let reiwa_start = NaiveDate::from_ymd_opt(2019, 5, 1).expect("static date");
    let (era, year) = if date >= reiwa_start {
        ("令和", date.year() - 2018)
    } else {
        ("平成", date.year() - 1988)
    };
    let year = if year == 1 {
        "元".to_string()
    } else {
        year.to_string()
    };
    format!(
        "{era}{year}年{}月{}日({})",
        date.month(),
        date.day(),
        weekday_ja(date.weekday())
    )
}

/// 月 火 水 木 金 土 日.
pub fn weekday_ja(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "月",
        Weekday::Tue => "火",
        Weekday::Wed => "水",
        Weekday::Thu => "木",
        Weekday::Fri => "金",
        Weekday::Sat => "土",
        Weekday::Sun => "日",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The 祝日法 rules, computed, to check the table against: fixed days, Happy
    /// Mondays, the equinox approximation valid for 1980-2099, 振替休日 (a holiday
    /// on Sunday moves to the next non-holiday) and 国民の休日 (a day between two
    /// holidays).
    fn computed(year: i32) -> Vec<NaiveDate> {
        let nth_monday = |month: u32, n: u32| {
            let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
            let offset = (7 - first.weekday().num_days_from_monday() as i64) % 7;
            first + Duration::days(offset + 7 * (i64::from(n) - 1))
        };
        let y = f64::from(year - 1980);
        let leap = ((year - 1980) / 4) as f64;
        let vernal = (20.8431 + 0.242194 * y - leap).floor() as u32;
        let autumnal = (23.2488 + 0.242194 * y - leap).floor() as u32;
        let md = |m, dd| NaiveDate::from_ymd_opt(year, m, dd).unwrap();
        let mut days = vec![
            md(1, 1),
            nth_monday(1, 2),
            md(2, 11),
            md(2, 23),
            md(3, vernal),
            md(4, 29),
            md(5, 3),
            md(5, 4),
            md(5, 5),
            nth_monday(7, 3),
            md(8, 11),
            nth_monday(9, 3),
            md(9, autumnal),
            nth_monday(10, 2),
            md(11, 3),
            md(11, 23),
        ];
        days.sort();
        let base = days.clone();
        for w in base.windows(2) {
            if (w[1] - w[0]).num_days() == 2 {
                let mid = w[0] + Duration::days(1);
                if mid.weekday() != Weekday::Sun {
                    days.push(mid);
                }
            }
        }
        for h in &base {
            if h.weekday() == Weekday::Sun {
                let mut s = *h + Duration::days(1);
                while days.contains(&s) {
                    s += Duration::days(1);
                }
                days.push(s);
            }
        }
        days.sort();
        days
    }

    fn table(year: i32) -> Vec<NaiveDate> {
        HOLIDAYS
            .iter()
            .map(|(s, _)| d(s))
            .filter(|x| x.year() == year)
            .collect()
    }

    #[test]
    fn the_table_is_sorted_so_lookups_can_bisect() {
        assert!(HOLIDAYS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn holidays_2024_follow_the_rules() {
        assert_eq!(table(2024), computed(2024));
    }
    #[test]
    fn holidays_2025_follow_the_rules() {
        assert_eq!(table(2025), computed(2025));
    }
    #[test]
    fn holidays_2026_follow_the_rules_including_the_silver_week_citizens_holiday() {
        assert_eq!(table(2026), computed(2026));
        assert_eq!(holiday(d("2026-09-22")).unwrap(), Some("国民の休日"));
        assert_eq!(holiday(d("2026-05-06")).unwrap(), Some("振替休日"));
    }
    #[test]
    fn holidays_2027_follow_the_rules() {
        assert_eq!(table(2027), computed(2027));
        assert_eq!(holiday(d("2027-03-22")).unwrap(), Some("振替休日"));
    }
    #[test]
    fn holidays_2028_follow_the_rules() {
        assert_eq!(table(2028), computed(2028));
    }
    #[test]
    fn holidays_2029_follow_the_rules() {
        assert_eq!(table(2029), computed(2029));
    }
    #[test]
    fn holidays_2030_follow_the_rules() {
        assert_eq!(table(2030), computed(2030));
    }

    #[test]
    fn a_year_outside_the_table_is_an_error_not_a_guess() {
        assert!(holiday(d("2031-01-01")).is_err());
    }

    #[test]
    fn five_business_days_from_a_friday_before_a_holiday_skip_the_weekend_and_the_holiday() {
        // Fri 2026-11-20; Mon 11/23 is 勤労感謝の日: 24, 25, 26, 27, 30.
        let c = Calendar::default();
        assert_eq!(
            c.add_business_days(d("2026-11-20"), 5).unwrap(),
            d("2026-11-30")
        );
    }

    #[test]
    fn the_year_end_closure_is_not_a_business_day() {
        let c = Calendar::default();
        // Mon 2026-12-28 + 1 business day: 29-31 closed, 1/1-1/3 closed, 1/4 Mon.
        assert_eq!(
            c.add_business_days(d("2026-12-28"), 1).unwrap(),
            d("2027-01-04")
        );
        assert!(!c.is_business_day(d("2027-01-02")).unwrap());
    }

    #[test]
    fn silver_week_2026_is_skipped_whole() {
        // Fri 9/18; 19 Sat, 20 Sun, 21 敬老の日, 22 国民の休日, 23 秋分の日 → Thu 9/24.
        let c = Calendar::default();
        assert_eq!(
            c.add_business_days(d("2026-09-18"), 1).unwrap(),
            d("2026-09-24")
        );
    }

    #[test]
    fn the_2027_spring_equinox_on_a_sunday_moves_its_holiday_to_monday() {
        // Sun 3/21 春分の日, Mon 3/22 振替休日: Fri 3/19 + 1 is Tue 3/23.
        let c = Calendar::default();
        assert!(!c.is_business_day(d("2027-03-22")).unwrap());
        assert_eq!(
            c.add_business_days(d("2027-03-19"), 1).unwrap(),
            d("2027-03-23")
        );
        assert_eq!(
            c.add_business_days(d("2027-03-18"), 2).unwrap(),
            d("2027-03-23")
        );
    }

    #[test]
    fn golden_week_2027_leaves_one_business_day_between_its_holidays() {
        // Thu 4/29 昭和の日, Fri 4/30 open, Mon 5/3-Wed 5/5 holidays.
        let c = Calendar::default();
        assert_eq!(
            c.add_business_days(d("2027-04-28"), 1).unwrap(),
            d("2027-04-30")
        );
        assert_eq!(
            c.add_business_days(d("2027-04-28"), 2).unwrap(),
            d("2027-05-06")
        );
        assert_eq!(
            c.add_business_days(d("2027-04-30"), 1).unwrap(),
            d("2027-05-06")
        );
    }

    #[test]
    fn golden_week_2028_has_no_substitute_for_a_saturday_holiday() {
        // Sat 4/29 昭和の日 gives no 振替休日: Mon 5/1 and Tue 5/2 are open,
        // then Wed 5/3-Fri 5/5 and the weekend.
        let c = Calendar::default();
        assert!(c.is_business_day(d("2028-05-01")).unwrap());
        assert_eq!(
            c.add_business_days(d("2028-04-28"), 1).unwrap(),
            d("2028-05-01")
        );
        assert_eq!(
            c.add_business_days(d("2028-05-02"), 1).unwrap(),
            d("2028-05-08")
        );
        assert_eq!(
            c.add_business_days(d("2028-04-28"), 3).unwrap(),
            d("2028-05-08")
        );
    }

    #[test]
    fn the_closure_from_2027_into_2028_then_coming_of_age_day_are_skipped() {
        // Tue 12/28 + 1: 12/29-1/3 closed (1/1 a Saturday), Tue 1/4. Then
        // Sat 1/8, Sun 1/9 and Mon 1/10 成人の日.
        let c = Calendar::default();
        assert_eq!(
            c.add_business_days(d("2027-12-28"), 1).unwrap(),
            d("2028-01-04")
        );
        assert_eq!(
            c.add_business_days(d("2027-12-28"), 3).unwrap(),
            d("2028-01-06")
        );
        assert_eq!(
            c.add_business_days(d("2027-12-28"), 5).unwrap(),
            d("2028-01-11")
        );
        // Without the closure, only the weekend (元日 falls on it) is skipped:
        // Thu 12/30 + 2 is Fri 12/31, then Mon 1/3.
        let open = Calendar::without_closure();
        assert_eq!(
            open.add_business_days(d("2027-12-28"), 1).unwrap(),
            d("2027-12-29")
        );
        assert_eq!(
            open.add_business_days(d("2027-12-30"), 2).unwrap(),
            d("2028-01-03")
        );
    }

    #[test]
    fn era_dates_are_written_as_the_minutes_write_them() {
        assert_eq!(era_date(d("2026-12-01")), "令和8年12月1日(火)");
        assert_eq!(era_date(d("2019-05-01")), "令和元年5月1日(水)");
        assert_eq!(era_date(d("2019-04-30")), "平成31年4月30日(火)");
    }
}
