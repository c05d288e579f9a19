//! `[ballots]` and `[[profiles]]`: how a ballot runs when it names nothing
//! else, the rule profiles (shipped and custom), and the motion kinds that
//! select them.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawBallots;
use crate::ballot::deadline::DeadlineSpec;
use crate::ballot::rules::{Profile, ProfileSet};
use crate::domain::OrgId;
use crate::roster::Roster;

/// How ballots run by default.
#[derive(Debug, Clone)]
pub struct BallotSettings {
    /// Deadline of a ballot opened without one.
    pub default_deadline: DeadlineSpec,
    /// The rule profile used when a ballot names no kind.
    pub default_profile: String,
    /// Subject prefix of an admin's mail that opens a ballot.
    pub open_subject_prefix: String,
    /// Motion kinds (新規会員の加盟承認 ...) and the profile each uses.
    pub kinds: Vec<MotionKind>,
    /// The organisation whose position breaks a tie where a rule says the chair decides.
    pub chair: Option<OrgId>,
}

/// A kind of motion and the rule it is decided by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionKind {
    pub name: String,
    pub profile: String,
}

/// Checks `[ballots]` and `[[profiles]]` together, since the ballots name
/// profiles: a relative default deadline, the profiles (with the default
/// profile's overrides applied), and kinds that name defined profiles. The
/// chair is checked later, by [`check_chair`], once the roster is read.
pub(super) fn load(
    file: &ConfigFile,
    raw: RawBallots,
    custom: Vec<Profile>,
) -> Result<(BallotSettings, ProfileSet), ConfigError> {
    let default_deadline: DeadlineSpec = raw
        .default_deadline
        .parse()
        .map_err(|e| ConfigError(format!("{file}: [ballots] default_deadline: {e}")))?;
    if matches!(default_deadline, DeadlineSpec::At(_)) {
        return Err(ConfigError(format!(
            "{file}: [ballots] default_deadline must be relative (such as \"7d@17:00\"), not a fixed date"
        )));
    }
    if raw.open_subject_prefix.trim().is_empty() {
        return Err(ConfigError(format!(
            "{file}: [ballots] open_subject_prefix is empty"
        )));
    }
    let profiles = profiles(file, &raw, custom)?;
    check_kinds(file, &raw.kinds, &profiles)?;
    Ok((
        BallotSettings {
            default_deadline,
            default_profile: raw.default_profile,
            open_subject_prefix: raw.open_subject_prefix,
            kinds: raw.kinds,
            chair: raw.chair,
        },
        profiles,
    ))
}

/// The shipped profiles with the custom ones, the default profile changed by
/// `[ballots] reballot_deadline` and `max_rounds` when they are given.
fn profiles(
    file: &ConfigFile,
    raw: &RawBallots,
    mut custom: Vec<Profile>,
) -> Result<ProfileSet, ConfigError> {
    let profiles = ProfileSet::with_shipped(custom.clone())
        .map_err(|e| ConfigError(format!("{file}: [[profiles]] {e}")))?;
    let Some(default) = profiles.get(&raw.default_profile).cloned() else {
        return Err(ConfigError(format!(
            "{file}: [ballots] default_profile = \"{}\" is not a known profile ({})",
            raw.default_profile,
            profiles.names().join(", ")
        )));
    };
    // [ballots] reballot_deadline and max_rounds are the default profile's
    // values, set where an admin looks first; a kind that selects another
    // profile keeps that profile's own.
    if raw.reballot_deadline.is_none() && raw.max_rounds.is_none() {
        return Ok(profiles);
    }
    let mut p = default;
    if let Some(d) = &raw.reballot_deadline {
        let spec: DeadlineSpec = d
            .parse()
            .map_err(|e| ConfigError(format!("{file}: [ballots] reballot_deadline: {e}")))?;
        if matches!(spec, DeadlineSpec::At(_)) {
            return Err(ConfigError(format!(
                "{file}: [ballots] reballot_deadline must be relative to the round's opening (such as \"5d@17:00\"), not a fixed date"
            )));
        }
        p.reballot_deadline = spec;
    }
    if let Some(n) = raw.max_rounds {
        if !(1..=10).contains(&n) {
            return Err(ConfigError(format!(
                "{file}: [ballots] max_rounds = {n} must be between 1 and 10 (1: no re-ballot)"
            )));
        }
        p.rounds = n;
    }
    custom.retain(|q| q.name != p.name);
    custom.push(p);
    ProfileSet::with_shipped(custom).map_err(|e| ConfigError(format!("{file}: [ballots] {e}")))
}

/// Each kind is listed once and names a defined profile.
fn check_kinds(
    file: &ConfigFile,
    kinds: &[MotionKind],
    profiles: &ProfileSet,
) -> Result<(), ConfigError> {
    let mut kind_names = BTreeSet::new();
    for k in kinds {
        if !kind_names.insert(k.name.clone()) {
            return Err(ConfigError(format!(
                "{file}: [[ballots.kinds]] \"{}\" is listed twice",
                k.name
            )));
        }
        if profiles.get(&k.profile).is_none() {
            return Err(ConfigError(format!(
                "{file}: [[ballots.kinds]] \"{}\" uses profile \"{}\", which is not defined ({})",
                k.name,
                k.profile,
                profiles.names().join(", ")
            )));
        }
    }
    Ok(())
}

/// `[ballots] chair` must be an organisation of the roster (read from `roster_path`).
pub(super) fn check_chair(
    file: &ConfigFile,
    ballots: &BallotSettings,
    roster: &Roster,
    roster_path: &Path,
) -> Result<(), ConfigError> {
    if let Some(chair) = &ballots.chair {
        if roster.organisation(chair).is_none() {
            return Err(ConfigError(format!(
                "{file}: [ballots] chair = \"{chair}\" is not an organisation id in {}",
                roster_path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;

    #[test]
    fn a_profile_whose_combination_cannot_work_is_one_sentence_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let profile = |extra: &str| {
            format!(
                "{CONFIG}\n[[profiles]]\nname = \"quick\"\nquorum = \"at least 1/2 of members\"\nthreshold = \"more than 1/2 of present\"\n{extra}"
            )
        };
        for (extra, names) in [
            ("early_close = \"all_answered\"\n", "vote_changes"),
            (
                "min_open_hours = 72\nreballot_deadline = \"2d@17:00\"\n",
                "min_open_hours = 72",
            ),
        ] {
            let err = Config::load(&write_config(dir.path(), &profile(extra)))
                .unwrap_err()
                .0;
            assert!(
                err.contains("profile `quick`") && err.contains(names),
                "{err}"
            );
            assert!(!err.contains('\n'), "one sentence: {err}");
        }
        let ok = profile("early_close = \"all_answered\"\nvote_changes = \"closed\"\n");
        let c = Config::load(&write_config(dir.path(), &ok)).unwrap();
        assert_eq!(
            c.profiles.get("quick").unwrap().vote_changes,
            crate::ballot::rules::VoteChanges::Closed
        );
    }

    #[test]
    fn a_motion_kind_must_name_a_defined_profile() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{CONFIG}\n[ballots]\nkinds = [{{ name = \"予算承認\", profile = \"nope\" }}]\n"
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("予算承認") && err.contains("nope"), "{err}");
    }

    #[test]
    fn ballots_reballot_deadline_and_max_rounds_override_only_the_default_profile() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{CONFIG}\n[ballots]\nreballot_deadline = \"3bd@12:00\"\nmax_rounds = 3\nkinds = [{{ name = \"会議\", profile = \"nca-steering\" }}]\n"
        );
        let c = Config::load(&write_config(dir.path(), &text)).unwrap();
        let d = c.profiles.get("isogj-email").unwrap();
        assert_eq!(d.rounds, 3);
        assert_eq!(d.reballot_deadline, "3bd@12:00".parse().unwrap());
        // The profile a kind selects keeps its own values.
        let shipped = crate::ballot::rules::shipped();
        let other = shipped.iter().find(|p| p.name == "nca-steering").unwrap();
        assert_eq!(c.profiles.get("nca-steering").unwrap(), other);
        // Without the keys, the default profile is as shipped.
        let c = Config::load(&write_config(dir.path(), CONFIG)).unwrap();
        let as_shipped = shipped.iter().find(|p| p.name == "isogj-email").unwrap();
        assert_eq!(c.profiles.get("isogj-email").unwrap(), as_shipped);
    }

    #[test]
    fn a_bad_reballot_deadline_or_round_cap_is_one_sentence_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (extra, expected) in [
            (
                "reballot_deadline = \"soon\"",
                "[ballots] reballot_deadline: `soon` is not a deadline",
            ),
            (
                "reballot_deadline = \"2026-12-01 17:00\"",
                "[ballots] reballot_deadline must be relative",
            ),
            (
                "max_rounds = 0",
                "[ballots] max_rounds = 0 must be between 1 and 10",
            ),
            (
                "max_rounds = 11",
                "[ballots] max_rounds = 11 must be between 1 and 10",
            ),
        ] {
            let text = format!("{CONFIG}\n[ballots]\n{extra}\n");
            let err = Config::load(&write_config(dir.path(), &text))
                .unwrap_err()
                .0;
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("mail-ballot.toml"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
