//! Decision rules as data, and the tally: exact integer arithmetic only.
//!
//! A profile says when a deliberation is valid (成立: enough members answered) and
//! when it is approved (承認: enough of the right base were in favour), how
//! delegations (一任/委任) count, how a tie (賛否同数) resolves, and how re-ballots
//! run. The associations' rules differ in exactly these places: the base (all
//! members or those who replied), inclusive 以上 versus strict 過半数, and proxies.
//!
//! Every comparison `a/b of X` is evaluated as `count * b ⋚ a * X` in u64, so no
//! fraction is ever rounded.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ballot::deadline::DeadlineSpec;
use crate::domain::Position;

/// A fraction such as 1/2 or 2/3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fraction {
    pub num: u32,
    pub den: u32,
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a fraction such as 1/2 or 2/3");
        let (n, d) = s.trim().split_once('/').ok_or_else(bad)?;
        let num: u32 = n.trim().parse().map_err(|_| bad())?;
        let den: u32 = d.trim().parse().map_err(|_| bad())?;
        if den == 0 || num > den {
            return Err(format!("`{s}` must be a fraction between 0 and 1"));
        }
        Ok(Fraction { num, den })
    }
}

/// Inclusive (以上) or strict (過半数, more than).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    AtLeast,
    MoreThan,
}

/// What a threshold is a fraction of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// All eligible members (N).
    Members,
    /// Those who answered and count in the base (出席者 / 返信者).
    Present,
    /// Only those who said yes or no (abstentions left out).
    YesNo,
}

/// A bar to clear: `at least 1/2 of members`, `more than 1/2 of present`.
/// Written that way in the configuration so a secretary can read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub comparison: Comparison,
    pub fraction: Fraction,
    pub base: Base,
}

impl Bar {
    /// Does `count` clear the bar against `base_value`? Exact: compares
    /// `count * den` with `num * base_value` in 64 bits.
    pub fn cleared(&self, count: u32, base_value: u32) -> bool {
        let lhs = u64::from(count) * u64::from(self.fraction.den);
        let rhs = u64::from(self.fraction.num) * u64::from(base_value);
        match self.comparison {
            Comparison::AtLeast => lhs >= rhs,
            Comparison::MoreThan => lhs > rhs,
        }
    }

    /// The comparison written out with the numbers, e.g. `9 × 2 = 18 ≥ 1 × 17 = 17`.
    pub fn working(&self, count: u32, base_value: u32) -> String {
        let lhs = u64::from(count) * u64::from(self.fraction.den);
        let rhs = u64::from(self.fraction.num) * u64::from(base_value);
        let ok = self.cleared(count, base_value);
        let op = match (self.comparison, ok) {
            (Comparison::AtLeast, true) => "≥",
            (Comparison::AtLeast, false) => "<",
            (Comparison::MoreThan, true) => ">",
            (Comparison::MoreThan, false) => "≤",
        };
        format!(
            "{count} × {} = {lhs} {op} {} × {base_value} = {rhs}",
            self.fraction.den, self.fraction.num
        )
    }

    /// Japanese wording: `全運営委員数の 1/2 以上`, `返信者の過半数`.
    pub fn describe_ja(&self) -> String {
        let base = match self.base {
            Base::Members => "全会員数",
            Base::Present => "返信者（出席者）",
            Base::YesNo => "賛否を表明した者",
        };
        match (self.comparison, self.fraction) {
            (Comparison::MoreThan, Fraction { num: 1, den: 2 }) => format!("{base}の過半数"),
            (Comparison::AtLeast, f) => format!("{base}の {f} 以上"),
            (Comparison::MoreThan, f) => format!("{base}の {f} を超える数"),
        }
    }

    /// English wording: `at least 1/2 of all members`.
    pub fn describe_en(&self) -> String {
        let base = match self.base {
            Base::Members => "all members",
            Base::Present => "those who answered",
            Base::YesNo => "those who said yes or no",
        };
        match self.comparison {
            Comparison::AtLeast => format!("at least {} of {base}", self.fraction),
            Comparison::MoreThan => format!("more than {} of {base}", self.fraction),
        }
    }
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmp = match self.comparison {
            Comparison::AtLeast => "at least",
            Comparison::MoreThan => "more than",
        };
        let base = match self.base {
            Base::Members => "members",
            Base::Present => "present",
            Base::YesNo => "yes_no",
        };
        write!(f, "{cmp} {} of {base}", self.fraction)
    }
}

impl FromStr for Bar {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a bar such as \"at least 1/2 of members\" or \"more than 1/2 of present\" (bases: members, present, yes_no)"
            )
        };
        let t = s.trim();
        let (comparison, rest) = if let Some(r) = t.strip_prefix("at least ") {
            (Comparison::AtLeast, r)
        } else if let Some(r) = t.strip_prefix("more than ") {
            (Comparison::MoreThan, r)
        } else {
            return Err(bad());
        };
        let (frac, base) = rest.split_once(" of ").ok_or_else(bad)?;
        let base = match base.trim() {
            "members" => Base::Members,
            "present" => Base::Present,
            "yes_no" => Base::YesNo,
            _ => return Err(bad()),
        };
        Ok(Bar {
            comparison,
            fraction: frac.parse()?,
            base,
        })
    }
}

impl Serialize for Bar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How a delegation (一任, 委任) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delegation {
    /// The rule does not define it: the member is asked for 賛成/反対/棄権 instead.
    NotAccepted,
    /// Counts toward the quorum and follows the decision of the others: left out
    /// of the threshold's base (ISOG-J: 委任状は総意に同意し、定員数に算入する).
    QuorumOnly,
    /// Counts as present and in favour (a proxy to the chair, who moves the motion).
    InFavour,
}

/// What happens when yes and no are equal (賛否同数) and the bar was not cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tie {
    /// A tie is not a majority: rejected.
    Rejected,
    /// The chair's position decides (運営委員長の決定に従う).
    Chair,
}

/// When a round may close before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyClose {
    /// Only at the deadline: members may change their answer until then.
    Never,
    /// When every eligible organisation has answered (needs `VoteChanges::Closed`:
    /// otherwise an answer could still change before the deadline).
    AllAnswered,
    /// When no further answer, and no change of an answer already given, could
    /// change the outcome.
    Decided,
}

/// Whether a member may change an answer once given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteChanges {
    /// Until the deadline; the latest answer stands (ISOG-J: members may change
    /// their answer until the deadline).
    UntilDeadline,
    /// The first counted answer of each organisation is final; later ones are
    /// recorded and not counted. Only then can a round close early on answers
    /// given so far.
    Closed,
}

/// A named rule: what makes a deliberation valid and a motion approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// Where the rule comes from (the clause of the association's rules).
    #[serde(default)]
    pub clause: String,
    /// Validity (成立): always a fraction of all members; who counts as present
    /// follows from `delegation` (abstentions are replies and always count).
    pub quorum: Bar,
    /// Approval (承認).
    pub threshold: Bar,
    /// Whether an abstention (棄権) counts as present: toward validity and in a
    /// threshold taken over those present. True for every shipped rule: an
    /// abstention is a reply.
    #[serde(default = "default_true")]
    pub abstentions_present: bool,
    #[serde(default = "default_delegation")]
    pub delegation: Delegation,
    #[serde(default = "default_tie")]
    pub tie: Tie,
    /// The most rounds a deliberation may take; after the last one that is still
    /// not valid it ends as 不成立.
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// The deadline of each re-ballot round, counted from its opening.
    #[serde(default = "default_reballot")]
    pub reballot_deadline: DeadlineSpec,
    /// Whether earlier rounds' answers carry over into a re-ballot.
    #[serde(default)]
    pub carry_over: bool,
    /// The shortest time a round may be open.
    #[serde(default)]
    pub min_open_hours: u32,
    #[serde(default = "default_early_close")]
    pub early_close: EarlyClose,
    /// Whether an answer may be changed until the deadline (the default) or the
    /// first one is final. Ballots stored before this key existed read as
    /// `until_deadline`, which is what they did.
    #[serde(default = "default_vote_changes")]
    pub vote_changes: VoteChanges,
}

fn default_true() -> bool {
    true
}
fn default_delegation() -> Delegation {
    Delegation::NotAccepted
}
fn default_tie() -> Tie {
    Tie::Rejected
}
fn default_rounds() -> u32 {
    2
}
fn default_reballot() -> DeadlineSpec {
    "5d@17:00".parse().expect("static deadline")
}
fn default_early_close() -> EarlyClose {
    EarlyClose::Never
}
fn default_vote_changes() -> VoteChanges {
    VoteChanges::UntilDeadline
}

impl Profile {
    /// Checks what the type system cannot: a quorum is counted against all members.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a profile has an empty name".into());
        }
        if self.quorum.base != Base::Members {
            return Err(format!(
                "profile `{}`: quorum must be a fraction of members (\"at least 1/2 of members\")",
                self.name
            ));
        }
        if self.rounds == 0 || self.rounds > 10 {
            return Err(format!(
                "profile `{}`: rounds must be between 1 and 10",
                self.name
            ));
        }
        if matches!(self.reballot_deadline, DeadlineSpec::At(_)) {
            return Err(format!(
                "profile `{}`: reballot_deadline must be relative, such as \"5d@17:00\"",
                self.name
            ));
        }
        // The minimum open period binds every round, so a re-ballot's deadline
        // must never resolve to less (a re-ballot opens at any time of day).
        if self.rounds > 1 {
            if let Some(shortest) = self.reballot_deadline.shortest() {
                let min = chrono::Duration::hours(i64::from(self.min_open_hours));
                if shortest < min {
                    return Err(format!(
                        "profile `{}`: reballot_deadline = \"{}\" can leave a re-ballot open as little as {} hours, less than its min_open_hours = {}",
                        self.name,
                        self.reballot_deadline,
                        shortest.num_hours(),
                        self.min_open_hours
                    ));
                }
            }
        }
        match (self.early_close, self.vote_changes) {
            (EarlyClose::Never, _) | (_, VoteChanges::Closed) => {}
            (early, VoteChanges::UntilDeadline) => {
                return Err(format!(
                    "profile `{}`: early_close = \"{}\" needs vote_changes = \"closed\", because while members may change their answer until the deadline no answer given so far is final",
                    self.name,
                    if early == EarlyClose::AllAnswered { "all_answered" } else { "decided" }
                ));
            }
        }
        if self.early_close == EarlyClose::Decided && self.tie == Tie::Chair {
            return Err(format!(
                "profile `{}`: early_close = \"decided\" cannot foresee a tie that the chair breaks (tie = \"chair\"), so use early_close = \"all_answered\" or \"never\"",
                self.name
            ));
        }
        Ok(())
    }

    /// The rule in one Japanese sentence, for every mail about a ballot.
    pub fn describe_ja(&self) -> String {
        let mut s = format!(
            "{}の返信で成立し、{}の賛成で承認となります。",
            self.quorum.describe_ja(),
            self.threshold.describe_ja()
        );
        match self.delegation {
            Delegation::NotAccepted => {}
            Delegation::QuorumOnly => {
                s.push_str("一任は定足数に算入し、他の委員の決定に従います。")
            }
            Delegation::InFavour => s.push_str("一任（委任）は出席とみなし、賛成として数えます。"),
        }
        if self.tie == Tie::Chair {
            s.push_str("賛否同数の場合は委員長の決定に従います。");
        }
        if self.vote_changes == VoteChanges::Closed {
            s.push_str("最初の回答が最終で、変更はできません。");
        }
        if self.rounds > 1 {
            s.push_str("成立しなかった場合は再審要請を行います。");
        }
        s
    }

    /// The rule in one English sentence.
    pub fn describe_en(&self) -> String {
        let mut s = format!(
            "Valid when {} answer; approved when {} are in favour.",
            self.quorum.describe_en(),
            self.threshold.describe_en()
        );
        match self.delegation {
            Delegation::NotAccepted => {}
            Delegation::QuorumOnly => {
                s.push_str(" A delegation counts toward validity and follows the others' decision.")
            }
            Delegation::InFavour => s.push_str(" A delegation counts as present and in favour."),
        }
        if self.tie == Tie::Chair {
            s.push_str(" On a tie the chair decides.");
        }
        if self.vote_changes == VoteChanges::Closed {
            s.push_str(" The first answer is final and cannot be changed.");
        }
        if self.rounds > 1 {
            s.push_str(" If not valid, the question is sent again.");
        }
        s
    }
}

/// Answers counted in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// N: eligible members (one per organisation).
    pub eligible: u32,
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
    pub delegate: u32,
}

impl Counts {
    /// Adds one answer.
    pub fn add(&mut self, p: Position) {
        match p {
            Position::Yes => self.yes += 1,
            Position::No => self.no += 1,
            Position::Abstain => self.abstain += 1,
            Position::Delegate => self.delegate += 1,
        }
    }

    /// Everyone who answered with a position.
    pub fn answered(&self) -> u32 {
        self.yes + self.no + self.abstain + self.delegate
    }
}

/// The outcome of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Rejected,
    NotValid,
}

impl Outcome {
    /// The machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::NotValid => "not_valid",
        }
    }
    /// As the minutes write it.
    pub fn label_ja(&self) -> &'static str {
        match self {
            Outcome::Approved => "承認",
            Outcome::Rejected => "否決",
            Outcome::NotValid => "不成立",
        }
    }
    /// In English.
    pub fn label_en(&self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::NotValid => "not valid",
        }
    }
}

/// A tally and the arithmetic that led to it, so anyone can check it by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub profile: String,
    pub counts: Counts,
    /// Those counted toward validity.
    pub present: u32,
    /// The threshold's base value.
    pub base: u32,
    /// Those counted in favour.
    pub in_favour: u32,
    pub valid: bool,
    pub approved: bool,
    pub outcome: Outcome,
    /// True when yes and no were equal and the tie rule decided.
    pub tie: bool,
    /// One line per step, in English with the Japanese terms.
    pub working: Vec<String>,
}

/// Why a tally could not be made from these numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TallyError {
    #[error("{answered} answers were counted but only {eligible} members are eligible")]
    MoreAnswersThanMembers { answered: u32, eligible: u32 },
    #[error("profile `{0}` does not accept delegations (一任); those members must be asked for 賛成, 反対 or 棄権")]
    DelegationNotAccepted(String),
    #[error("yes and no are tied and profile `{0}` leaves the decision to the chair: give the chair's position")]
    ChairNeeded(String),
}

/// Tallies `counts` under `profile`. `chair` is the chair's position, used only
/// when the profile lets the chair break a tie.
pub fn tally(
    profile: &Profile,
    counts: Counts,
    chair: Option<Position>,
) -> Result<Tally, TallyError> {
    let answered = counts.answered();
    if answered > counts.eligible {
        return Err(TallyError::MoreAnswersThanMembers {
            answered,
            eligible: counts.eligible,
        });
    }
    if counts.delegate > 0 && profile.delegation == Delegation::NotAccepted {
        return Err(TallyError::DelegationNotAccepted(profile.name.clone()));
    }
    let Counts {
        eligible: n,
        yes: y,
        no,
        abstain: a,
        delegate: d,
    } = counts;
    let mut working = vec![format!(
        "N (eligible) = {n}; yes 賛成 = {y}, no 反対 = {no}, abstain 棄権 = {a}, delegate 一任 = {d}"
    )];

    // Abstentions are replies: they count toward validity unless the profile
    // says otherwise. Delegations count where the profile accepts them.
    let a_present = if profile.abstentions_present { a } else { 0 };
    let present = y + no + a_present + d;
    working.push(format!(
        "present (replies) = {y} + {no} + {a_present} + {d} = {present}{}",
        if profile.abstentions_present {
            ""
        } else {
            " (abstentions not counted as present)"
        }
    ));
    let valid = profile.quorum.cleared(present, n);
    working.push(format!(
        "valid 成立 iff present is {}: {} → {}",
        profile.quorum,
        profile.quorum.working(present, n),
        if valid { "valid" } else { "not valid" }
    ));

    let in_favour = match profile.delegation {
        Delegation::InFavour => y + d,
        _ => y,
    };
    let base = match profile.threshold.base {
        Base::Members => n,
        Base::Present => match profile.delegation {
            Delegation::QuorumOnly => present - d,
            _ => present,
        },
        Base::YesNo => match profile.delegation {
            Delegation::InFavour => y + d + no,
            _ => y + no,
        },
    };
    let base_name = match profile.threshold.base {
        Base::Members => "members",
        Base::Present => "present",
        Base::YesNo => "yes + no",
    };
    working.push(format!(
        "in favour = {in_favour}; base ({base_name}) = {base}"
    ));

    let mut tie = false;
    let approved = if !valid {
        working.push("not valid: approval is not considered".into());
        false
    } else if base > 0 && profile.threshold.cleared(in_favour, base) {
        working.push(format!(
            "approved 承認 iff in favour is {}: {} → approved",
            profile.threshold,
            profile.threshold.working(in_favour, base)
        ));
        true
    } else {
        working.push(format!(
            "approved 承認 iff in favour is {}: {} → not approved",
            profile.threshold,
            profile.threshold.working(in_favour, base)
        ));
        if in_favour == no && profile.tie == Tie::Chair {
            tie = true;
            match chair {
                Some(Position::Yes) => {
                    working.push(
                        "yes and no are tied 賛否同数: the chair is in favour → approved".into(),
                    );
                    true
                }
                Some(Position::No) => {
                    working.push(
                        "yes and no are tied 賛否同数: the chair is against → rejected".into(),
                    );
                    false
                }
                _ => return Err(TallyError::ChairNeeded(profile.name.clone())),
            }
        } else {
            if in_favour == no {
                tie = true;
                working.push(
                    "yes and no are tied 賛否同数: a tie is not a majority → rejected".into(),
                );
            }
            false
        }
    };

    let outcome = if !valid {
        Outcome::NotValid
    } else if approved {
        Outcome::Approved
    } else {
        Outcome::Rejected
    };
    Ok(Tally {
        profile: profile.name.clone(),
        counts,
        present,
        base,
        in_favour,
        valid,
        approved,
        outcome,
        tie,
        working,
    })
}

/// Tallies a ballot's round: like `tally`, but a tie the chair should break
/// when the chair gave no position is rejected (a tie is not a majority), with
/// the reason in the working, instead of an error.
pub fn tally_for_ballot(
    profile: &Profile,
    counts: Counts,
    chair: Option<Position>,
) -> Result<Tally, TallyError> {
    match tally(profile, counts, chair) {
        Err(TallyError::ChairNeeded(_)) => {
            let mut p = profile.clone();
            p.tie = Tie::Rejected;
            let mut t = tally(&p, counts, None)?;
            t.profile = profile.name.clone();
            t.working.push(
                "the chair gave no position on the tie, so it is not a majority → rejected".into(),
            );
            Ok(t)
        }
        other => other,
    }
}

/// The outcome no further answer could change, if there is one: every way the
/// organisations that have not answered could still answer (or not) leads to
/// the same outcome. Used for an early close where a profile allows it.
///
/// Answers already given are fixed only where the profile closes vote changes
/// (`VoteChanges::Closed`: the first answer is final). Otherwise every member
/// who answered may still answer anything until the deadline, so only the
/// number who answered is known (nobody can take an answer back): `counts`
/// then stands for that many free answers.
///
/// Instead of every split of the open answers, it tries, for each number `t`
/// of answers still to come or change, the corners "all yes", "all no", "all
/// abstain" and "all delegate": with the number of replies fixed the quorum is
/// fixed, and approval only grows with each further yes (or delegation counted
/// in favour or out of the base) and only shrinks with each further no or
/// abstention, so the corners bound every split. A tie the chair breaks is not
/// monotone, so such a profile is never settled early. The unit tests check
/// this against brute force, both with vote changes closed and open.
pub fn settled(profile: &Profile, counts: Counts, chair: Option<Position>) -> Option<Outcome> {
    if profile.tie == Tie::Chair {
        return None;
    }
    let answered = counts.answered();
    let silent = counts.eligible.checked_sub(answered)?;
    // (answers fixed, fewest open answers, most open answers)
    let (fixed, fewest, most) = match profile.vote_changes {
        VoteChanges::Closed => (counts, 0, silent),
        VoteChanges::UntilDeadline => (
            Counts {
                eligible: counts.eligible,
                ..Counts::default()
            },
            answered,
            counts.eligible,
        ),
    };
    let mut outcome = None;
    let mut corners = vec![Position::Yes, Position::No, Position::Abstain];
    if profile.delegation != Delegation::NotAccepted {
        corners.push(Position::Delegate);
    }
    for t in fewest..=most {
        for p in &corners {
            let mut c = fixed;
            for _ in 0..t {
                c.add(*p);
            }
            let o = tally(profile, c, chair).ok()?.outcome;
            match outcome {
                None => outcome = Some(o),
                Some(prev) if prev != o => return None,
                _ => {}
            }
            if t == 0 {
                break;
            }
        }
    }
    outcome
}

/// The profiles a configuration can use: the shipped ones, replaced or
/// supplemented by those written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
}

impl ProfileSet {
    /// The shipped profiles, then `custom` ones (a custom profile with a shipped
    /// name replaces it).
    pub fn with_shipped(custom: Vec<Profile>) -> Result<Self, String> {
        let mut profiles = shipped();
        let mut seen = std::collections::BTreeSet::new();
        for p in custom {
            p.validate()?;
            if !seen.insert(p.name.clone()) {
                return Err(format!("profile `{}` is defined twice", p.name));
            }
            if let Some(slot) = profiles.iter_mut().find(|q| q.name == p.name) {
                *slot = p;
            } else {
                profiles.push(p);
            }
        }
        Ok(Self { profiles })
    }

    /// The profile with this name.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Every profile's name.
    pub fn names(&self) -> Vec<&str> {
        self.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    /// Every profile.
    pub fn all(&self) -> &[Profile] {
        &self.profiles
    }
}

/// The profiles shipped with the program, each citing its clause.
pub fn shipped() -> Vec<Profile> {
    let bar = |s: &str| s.parse::<Bar>().expect("static bar");
    vec![
        // ISOG-J 運営規約 5 (2): メールでの審議については、適切な期限をもうけ、照会を行う。
        // 全運営委員数の 1/2 以上の返信において成立し、返信があった運営委員の過半数の
        // 賛成をもって承認とする。審議が成立しなかった場合には、再審要請を行う。
        // The rule speaks only of 賛成 among replies, so a 一任 is not guessed at:
        // the member is asked for 賛成/反対/棄権.
        Profile {
            name: "isogj-email".into(),
            clause: "ISOG-J 運営規約 5 (2) メールでの審議".into(),
            abstentions_present: true,
            quorum: bar("at least 1/2 of members"),
            threshold: bar("more than 1/2 of present"),
            delegation: Delegation::NotAccepted,
            tie: Tie::Rejected,
            rounds: 2,
            reballot_deadline: default_reballot(),
            carry_over: false,
            min_open_hours: 24,
            early_close: EarlyClose::Never,
            vote_changes: VoteChanges::UntilDeadline,
        },
        // ISOG-J 運営規約 5 (2): 運営委員会は全運営委員数の 1/2 以上の出席（委任状を含む）
        // において成立する。委任状は、運営委員会の総意に同意する意思を明確にし、
        // 運営委員会成立のための定員数に算入する。審議事項は出席者の過半数の賛成をもって
        // 決議する。賛否が同数の場合は、運営委員長の決定に従う。
        Profile {
            name: "isogj-meeting".into(),
            clause: "ISOG-J 運営規約 5 (2) 運営委員会".into(),
            abstentions_present: true,
            quorum: bar("at least 1/2 of members"),
            threshold: bar("more than 1/2 of present"),
            delegation: Delegation::QuorumOnly,
            tie: Tie::Chair,
            rounds: 1,
            reballot_deadline: default_reballot(),
            carry_over: false,
            min_open_hours: 0,
            early_close: EarlyClose::Never,
            vote_changes: VoteChanges::UntilDeadline,
        },
        // NCA 運営規約 6 (1): 総会は…全会員数の半数以上の会員の代表の出席（委任状の提出に
        // よる場合を含む）をもって…開催する。…委任状を含む出席者の過半数以上の賛成を
        // もって決議する。総会は、必要に応じて、書面または電子メール等の電子的手段により
        // 開催することが出来る。 A proxy (委任状) is counted present and, as the usual
        // 議長一任 proxy to the chair who moves the motion, in favour.
        Profile {
            name: "nca-general-assembly-email".into(),
            clause: "NCA 運営規約 6 (1) 総会".into(),
            abstentions_present: true,
            quorum: bar("at least 1/2 of members"),
            threshold: bar("more than 1/2 of present"),
            delegation: Delegation::InFavour,
            tie: Tie::Rejected,
            rounds: 2,
            reballot_deadline: default_reballot(),
            carry_over: false,
            min_open_hours: 24,
            early_close: EarlyClose::Never,
            vote_changes: VoteChanges::UntilDeadline,
        },
        // NCA 運営規約 6 (2): 運営委員会における決議は、全運営委員の 2/3 以上の出席に
        // おいて、1/2 以上の賛成をもって決議する。 (1/2 以上 is inclusive.)
        Profile {
            name: "nca-steering".into(),
            clause: "NCA 運営規約 6 (2) 運営委員会".into(),
            abstentions_present: true,
            quorum: bar("at least 2/3 of members"),
            threshold: bar("at least 1/2 of present"),
            delegation: Delegation::NotAccepted,
            tie: Tie::Rejected,
            rounds: 2,
            reballot_deadline: default_reballot(),
            carry_over: false,
            min_open_hours: 24,
            early_close: EarlyClose::Never,
            vote_changes: VoteChanges::UntilDeadline,
        },
        // NCA 運営規約 4 (1) 6): 運営委員の 2/3 以上の議決をもって当該会員の退会を勧告
        // することができる。 Two thirds of ALL committee members, not of those present.
        Profile {
            name: "two-thirds-of-members".into(),
            clause: "NCA 運営規約 4 (1) 6) 退会勧告".into(),
            abstentions_present: true,
            quorum: bar("at least 2/3 of members"),
            threshold: bar("at least 2/3 of members"),
            delegation: Delegation::NotAccepted,
            tie: Tie::Rejected,
            rounds: 2,
            reballot_deadline: default_reballot(),
            carry_over: false,
            min_open_hours: 24,
            early_close: EarlyClose::Never,
            vote_changes: VoteChanges::UntilDeadline,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isogj() -> Profile {
        shipped()
            .into_iter()
            .find(|p| p.name == "isogj-email")
            .unwrap()
    }

    fn counts(n: u32, y: u32, no: u32, a: u32) -> Counts {
        Counts {
            eligible: n,
            yes: y,
            no,
            abstain: a,
            delegate: 0,
        }
    }

    #[test]
    fn eight_replies_of_seventeen_are_not_valid_and_nine_are() {
        let t = tally(&isogj(), counts(17, 8, 0, 0), None).unwrap();
        assert!(!t.valid);
        assert_eq!(t.outcome, Outcome::NotValid);
        let t = tally(&isogj(), counts(17, 9, 0, 0), None).unwrap();
        assert!(t.valid);
        assert_eq!(t.outcome, Outcome::Approved);
    }

    #[test]
    fn five_replies_of_ten_are_valid_because_one_half_is_inclusive() {
        let t = tally(&isogj(), counts(10, 3, 2, 0), None).unwrap();
        assert!(t.valid);
        assert!(t.approved);
    }

    #[test]
    fn a_tie_is_not_a_majority() {
        let t = tally(&isogj(), counts(10, 3, 3, 0), None).unwrap();
        assert!(t.valid);
        assert!(!t.approved);
        assert!(t.tie);
        assert_eq!(t.outcome, Outcome::Rejected);
    }

    #[test]
    fn half_in_favour_with_an_abstention_is_rejected() {
        // Y·2 = R: 3 yes of 6 replies (2 no, 1 abstain) is not more than half.
        let t = tally(&isogj(), counts(10, 3, 2, 1), None).unwrap();
        assert!(t.valid);
        assert_eq!(t.outcome, Outcome::Rejected);
    }

    #[test]
    fn an_abstention_counts_toward_validity_and_against_approval() {
        let t = tally(&isogj(), counts(4, 1, 0, 1), None).unwrap();
        assert!(t.valid, "two replies of four are valid");
        assert!(!t.approved, "one yes of two replies is not a majority");
    }

    #[test]
    fn nobody_answering_is_not_valid() {
        let t = tally(&isogj(), counts(17, 0, 0, 0), None).unwrap();
        assert_eq!(t.outcome, Outcome::NotValid);
    }

    #[test]
    fn the_isogj_email_rule_matches_its_integer_definition_for_every_split_up_to_twenty() {
        let p = isogj();
        for n in 1..=20u32 {
            for y in 0..=n {
                for no in 0..=(n - y) {
                    for a in 0..=(n - y - no) {
                        let t = tally(&p, counts(n, y, no, a), None).unwrap();
                        let r = y + no + a;
                        assert_eq!(t.valid, 2 * r >= n, "n={n} y={y} no={no} a={a}");
                        assert_eq!(
                            t.approved,
                            2 * r >= n && 2 * y > r,
                            "n={n} y={y} no={no} a={a}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_delegation_under_a_rule_that_does_not_define_it_is_an_error() {
        let mut c = counts(10, 5, 0, 0);
        c.delegate = 1;
        assert_eq!(
            tally(&isogj(), c, None),
            Err(TallyError::DelegationNotAccepted("isogj-email".into()))
        );
    }

    #[test]
    fn more_answers_than_members_is_an_error() {
        assert!(matches!(
            tally(&isogj(), counts(2, 2, 1, 0), None),
            Err(TallyError::MoreAnswersThanMembers { .. })
        ));
    }

    fn profile(name: &str) -> Profile {
        shipped().into_iter().find(|p| p.name == name).unwrap()
    }

    /// Every split of `n` members into yes, no, abstain, delegate (those the
    /// profile accepts) and silent.
    fn splits(n: u32, delegates: bool) -> Vec<Counts> {
        let mut out = Vec::new();
        for y in 0..=n {
            for no in 0..=(n - y) {
                for a in 0..=(n - y - no) {
                    let dmax = if delegates { n - y - no - a } else { 0 };
                    for d in 0..=dmax {
                        out.push(Counts {
                            eligible: n,
                            yes: y,
                            no,
                            abstain: a,
                            delegate: d,
                        });
                    }
                }
            }
        }
        out
    }

    /// The rules as the documents state them, written independently of the
    /// profile machinery: (valid, approved).
    fn reference(name: &str, c: Counts, chair: Option<Position>) -> (bool, bool) {
        let Counts {
            eligible: n,
            yes: y,
            no,
            abstain: a,
            delegate: d,
        } = c;
        match name {
            // 全運営委員数の1/2以上の返信で成立、返信者の過半数の賛成で承認.
            "isogj-email" => {
                let r = y + no + a;
                (2 * r >= n, 2 * r >= n && 2 * y > r)
            }
            // 1/2以上の出席（委任状を含む）で成立、出席者の過半数で決議、同数は委員長.
            // A proxy agrees with the committee's decision: in the quorum, not in the vote.
            "isogj-meeting" => {
                let present = y + no + a + d;
                let voting = y + no + a;
                let valid = 2 * present >= n;
                let approved =
                    valid && (2 * y > voting || (y == no && chair == Some(Position::Yes)));
                (valid, approved)
            }
            // 半数以上の出席（委任状を含む）、委任状を含む出席者の過半数の賛成.
            "nca-general-assembly-email" => {
                let present = y + no + a + d;
                (2 * present >= n, 2 * present >= n && 2 * (y + d) > present)
            }
            // 全運営委員の2/3以上の出席、1/2以上の賛成.
            "nca-steering" => {
                let present = y + no + a;
                (
                    3 * present >= 2 * n,
                    3 * present >= 2 * n && 2 * y >= present,
                )
            }
            // 運営委員の2/3以上の議決.
            "two-thirds-of-members" => {
                let present = y + no + a;
                (3 * present >= 2 * n, 3 * present >= 2 * n && 3 * y >= 2 * n)
            }
            other => panic!("no reference for {other}"),
        }
    }

    #[test]
    fn every_shipped_profile_agrees_with_its_rule_for_every_split_from_six_to_twenty_members() {
        for p in shipped() {
            let delegates = p.delegation != Delegation::NotAccepted;
            for n in 6..=20 {
                for c in splits(n, delegates) {
                    for chair in [Some(Position::Yes), Some(Position::No)] {
                        let t = tally(&p, c, chair).unwrap();
                        let want = reference(&p.name, c, chair);
                        assert_eq!(
                            (t.valid, t.approved),
                            want,
                            "{} {c:?} chair {chair:?}",
                            p.name
                        );
                        assert_eq!(
                            t.outcome,
                            if !want.0 {
                                Outcome::NotValid
                            } else if want.1 {
                                Outcome::Approved
                            } else {
                                Outcome::Rejected
                            }
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_tie_in_a_meeting_is_decided_by_the_chair() {
        let p = profile("isogj-meeting");
        let c = Counts {
            eligible: 10,
            yes: 3,
            no: 3,
            abstain: 0,
            delegate: 0,
        };
        assert!(tally(&p, c, Some(Position::Yes)).unwrap().approved);
        assert!(!tally(&p, c, Some(Position::No)).unwrap().approved);
        assert_eq!(
            tally(&p, c, None),
            Err(TallyError::ChairNeeded("isogj-meeting".into()))
        );
        let t = tally_for_ballot(&p, c, None).unwrap();
        assert_eq!(t.outcome, Outcome::Rejected);
        assert!(t.working.last().unwrap().contains("chair gave no position"));
    }

    #[test]
    fn one_half_inclusive_approves_a_tie_where_a_majority_would_not() {
        let c = Counts {
            eligible: 9,
            yes: 3,
            no: 3,
            abstain: 0,
            delegate: 0,
        };
        assert!(tally(&profile("nca-steering"), c, None).unwrap().approved);
        let c = Counts {
            eligible: 10,
            yes: 3,
            no: 3,
            abstain: 0,
            delegate: 0,
        };
        assert!(!tally(&profile("isogj-email"), c, None).unwrap().approved);
    }

    #[test]
    fn two_thirds_of_members_counts_against_all_members_not_those_present() {
        let p = profile("two-thirds-of-members");
        // 7 of 9 present, all 7 yes: 7 ≥ 6 → approved; 5 yes of 7 present: 5 < 6 → rejected.
        assert!(
            tally(
                &p,
                Counts {
                    eligible: 9,
                    yes: 7,
                    no: 0,
                    abstain: 0,
                    delegate: 0
                },
                None
            )
            .unwrap()
            .approved
        );
        assert!(
            !tally(
                &p,
                Counts {
                    eligible: 9,
                    yes: 5,
                    no: 2,
                    abstain: 0,
                    delegate: 0
                },
                None
            )
            .unwrap()
            .approved
        );
    }

    #[test]
    fn a_profile_can_leave_abstentions_out_of_those_present() {
        let mut p = profile("isogj-email");
        p.abstentions_present = false;
        // 2 yes, 1 no, 3 abstain of 10: present 3 (not valid); with abstentions it would be 6.
        let t = tally(
            &p,
            Counts {
                eligible: 10,
                yes: 2,
                no: 1,
                abstain: 3,
                delegate: 0,
            },
            None,
        )
        .unwrap();
        assert_eq!(t.present, 3);
        assert!(!t.valid);
    }

    /// Every final split the round could still end with: the answers given stay
    /// where vote changes are closed, or become free (but stay answers: nobody
    /// can take an answer back) where members may change them; the silent may
    /// answer anything or stay silent.
    fn brute_settled(p: &Profile, c: Counts) -> Option<Outcome> {
        let delegates = p.delegation != Delegation::NotAccepted;
        let (fixed, fewest) = match p.vote_changes {
            VoteChanges::Closed => (c, 0),
            VoteChanges::UntilDeadline => (
                Counts {
                    eligible: c.eligible,
                    ..Counts::default()
                },
                c.answered(),
            ),
        };
        let open = c.eligible - fixed.answered();
        let mut seen = None;
        for y in 0..=open {
            for no in 0..=(open - y) {
                for a in 0..=(open - y - no) {
                    let dmax = if delegates { open - y - no - a } else { 0 };
                    for d in 0..=dmax {
                        if y + no + a + d < fewest {
                            continue;
                        }
                        let more = Counts {
                            eligible: c.eligible,
                            yes: fixed.yes + y,
                            no: fixed.no + no,
                            abstain: fixed.abstain + a,
                            delegate: fixed.delegate + d,
                        };
                        let o = tally(p, more, None).unwrap().outcome;
                        if seen.is_some_and(|s| s != o) {
                            return None;
                        }
                        seen = Some(o);
                    }
                }
            }
        }
        seen
    }

    #[test]
    fn an_outcome_is_settled_exactly_when_brute_force_says_no_answer_could_change_it() {
        for changes in [VoteChanges::Closed, VoteChanges::UntilDeadline] {
            for mut p in shipped().into_iter().filter(|p| p.tie != Tie::Chair) {
                p.vote_changes = changes;
                let delegates = p.delegation != Delegation::NotAccepted;
                for n in 1..=9 {
                    for c in splits(n, delegates) {
                        assert_eq!(
                            settled(&p, c, None),
                            brute_settled(&p, c),
                            "{} {changes:?} {c:?}",
                            p.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn while_members_may_change_their_answer_three_yes_of_four_settle_nothing() {
        // One of the three switching to 反対 gives 2-2, a tie: rejected.
        let mut p = profile("isogj-email");
        let c = counts(4, 3, 0, 0);
        assert_eq!(p.vote_changes, VoteChanges::UntilDeadline);
        assert_eq!(settled(&p, c, None), None);
        assert_eq!(settled(&p, counts(4, 4, 0, 0), None), None);
        p.vote_changes = VoteChanges::Closed;
        assert_eq!(settled(&p, c, None), Some(Outcome::Approved));
    }

    #[test]
    fn a_majority_already_in_favour_is_settled_before_the_deadline_when_answers_are_final() {
        let mut p = profile("isogj-email");
        p.vote_changes = VoteChanges::Closed;
        // 9 of 17 said yes: valid whatever the others do, and 9 > half of at most 17.
        let c = Counts {
            eligible: 17,
            yes: 9,
            no: 0,
            abstain: 0,
            delegate: 0,
        };
        assert_eq!(settled(&p, c, None), Some(Outcome::Approved));
        let c = Counts {
            eligible: 17,
            yes: 8,
            no: 0,
            abstain: 0,
            delegate: 0,
        };
        assert_eq!(settled(&p, c, None), None);
    }

    #[test]
    fn bars_read_and_write_in_plain_words() {
        let b: Bar = "at least 2/3 of members".parse().unwrap();
        assert_eq!(b.to_string(), "at least 2/3 of members");
        assert!(b.cleared(4, 6));
        assert!(!b.cleared(3, 6));
        assert!("at most 1/2 of members".parse::<Bar>().is_err());
        assert!("at least 3/2 of members".parse::<Bar>().is_err());
    }

    #[test]
    fn the_working_shows_the_cross_multiplication() {
        let t = tally(&isogj(), counts(17, 9, 0, 0), None).unwrap();
        assert!(
            t.working
                .iter()
                .any(|l| l.contains("9 × 2 = 18 ≥ 1 × 17 = 17")),
            "{:?}",
            t.working
        );
    }

    #[test]
    fn every_shipped_profile_is_valid_and_cites_a_clause() {
        for p in shipped() {
            p.validate().unwrap();
            assert!(!p.clause.is_empty(), "{}", p.name);
        }
    }

    fn refused(p: &Profile) -> String {
        let e = p.validate().unwrap_err();
        assert!(!e.contains('\n'), "one sentence: {e}");
        assert!(e.starts_with(&format!("profile `{}`", p.name)), "{e}");
        e
    }

    #[test]
    fn an_early_close_needs_answers_that_cannot_change_any_more() {
        let mut p = isogj();
        for early in [EarlyClose::AllAnswered, EarlyClose::Decided] {
            p.early_close = early;
            p.vote_changes = VoteChanges::UntilDeadline;
            let e = refused(&p);
            assert!(e.contains("vote_changes = \"closed\""), "{e}");
            p.vote_changes = VoteChanges::Closed;
            p.validate().unwrap();
        }
    }

    #[test]
    fn an_early_close_on_a_decided_outcome_cannot_foresee_a_tie_the_chair_breaks() {
        let mut p = profile("isogj-meeting");
        p.vote_changes = VoteChanges::Closed;
        p.early_close = EarlyClose::Decided;
        assert!(refused(&p).contains("tie = \"chair\""));
        p.early_close = EarlyClose::AllAnswered;
        p.validate().unwrap();
    }

    #[test]
    fn a_re_ballot_deadline_shorter_than_the_minimum_open_period_is_refused() {
        let mut p = isogj();
        p.min_open_hours = 48;
        p.reballot_deadline = "2d@17:00".parse().unwrap(); // as little as 41 h
        let e = refused(&p);
        assert!(
            e.contains("41 hours") && e.contains("min_open_hours = 48"),
            "{e}"
        );
        p.reballot_deadline = "48h".parse().unwrap();
        p.validate().unwrap();
        p.reballot_deadline = "3d@00:00".parse().unwrap(); // at least 48 h
        p.validate().unwrap();
        // A single round never re-ballots.
        p.reballot_deadline = "1d@09:00".parse().unwrap();
        p.rounds = 1;
        p.validate().unwrap();
    }

    #[test]
    fn a_rule_with_final_answers_says_so_in_both_languages() {
        let mut p = isogj();
        p.vote_changes = VoteChanges::Closed;
        assert!(p.describe_ja().contains("最初の回答が最終"));
        assert!(p.describe_en().contains("first answer is final"));
        assert!(!isogj().describe_en().contains("final"));
    }

    #[test]
    fn a_configured_profile_replaces_the_shipped_one_of_the_same_name() {
        let mut p = isogj();
        p.rounds = 3;
        let set = ProfileSet::with_shipped(vec![p]).unwrap();
        assert_eq!(set.get("isogj-email").unwrap().rounds, 3);
        assert_eq!(set.all().len(), shipped().len());
    }
}
