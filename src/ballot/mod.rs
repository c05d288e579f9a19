//! A ballot and its rounds: the state machine, with no I/O.
//!
//! ```text
//!   open ──(deadline, valid)──────────────► closed: approved | rejected
//!    │  └─(deadline, not valid, rounds left)─► open, round n+1 (再審要請)
//!    │  └─(deadline, not valid, last round)──► closed: not_valid (不成立)
//!    └──(cancel)──► cancelled
//! ```
//!
//! Every closed ballot is pending confirmation at the next committee meeting
//! (必ず次回運営委員会で確認する) until a meeting confirms or overturns it.
//! Time is always a parameter: the caller passes `now`, and a vote's time is the
//! server's INTERNALDATE, never the sender's Date header.

pub mod calendar;
pub mod deadline;
pub mod rules;
pub mod working;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Address, BallotRef, OrgId, Position, Vote};
use crate::roster::{Membership, Organisation, Participant, Roster};
use crate::zone::Tz;
use calendar::Calendar;
use rules::Delegation;
use rules::{Counts, Outcome, Profile, Tally, TallyError};

/// Where a ballot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Closed,
    Cancelled,
}

impl State {
    /// The machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Cancelled => "cancelled",
        }
    }
}

/// What the next committee meeting did with a closed ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Ratification {
    /// Not yet confirmed at a meeting.
    Pending,
    /// Confirmed (確認) at the meeting of that date.
    Confirmed {
        meeting: NaiveDate,
        at: DateTime<Utc>,
        by: String,
    },
    /// The meeting overturned the email resolution.
    Overturned {
        meeting: NaiveDate,
        at: DateTime<Utc>,
        by: String,
        note: String,
    },
}

/// One round of a deliberation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub number: u32,
    /// Whole seconds: INTERNALDATE has one-second resolution, and a reply sent the
    /// same second the round opened must not look as if it came before.
    pub opened_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub tally: Option<Tally>,
}

/// What happened to a ballot after some moment: the rounds opened and closed
/// since, and whether it was closed or cancelled since. Empty when nothing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Changes {
    pub opened: Vec<u32>,
    pub closed: Vec<u32>,
    pub ended: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty() && self.closed.is_empty() && !self.ended
    }
}

/// A ballot: one motion (議決ごと), its rule and roster as they were when it opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ballot {
    pub reference: BallotRef,
    pub title: String,
    pub motion: String,
    pub kind: Option<String>,
    /// The rule in force, copied when the ballot opened.
    pub profile: Profile,
    /// The roster in force, copied when the ballot opened: later edits never change N.
    pub roster: Roster,
    pub state: State,
    /// The final outcome once closed.
    pub outcome: Option<Outcome>,
    pub rounds: Vec<Round>,
    pub opened_at: DateTime<Utc>,
    /// `cli` or `mail:<address>`.
    pub opened_by: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub ratification: Ratification,
    /// The organisation whose position breaks a tie where the rule says the chair decides.
    #[serde(default)]
    pub chair: Option<OrgId>,
}

/// A recorded answer from an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    pub org: OrgId,
    pub position: Position,
    /// INTERNALDATE of the message.
    pub cast_at: DateTime<Utc>,
    /// Order of arrival, to break ties between answers in the same second.
    pub seq: i64,
    pub round: u32,
    pub status: VoteStatus,
    /// The address it came from.
    pub voter: String,
    /// Message-ID of the reply, when it had one.
    pub message_id: Option<String>,
    /// A member said it was not theirs (身に覚えがない) and no admin has ruled it
    /// genuine: it does not count.
    #[serde(default)]
    pub disputed: bool,
}

/// Whether a recorded answer can count. Nothing is ever deleted; an answer that
/// no longer counts keeps its row with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteStatus {
    /// Arrived in time: counts unless a later answer from the same organisation supersedes it.
    Valid,
    /// Arrived after the round's deadline: recorded, not counted.
    Late,
}

impl VoteStatus {
    /// The machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            VoteStatus::Valid => "valid",
            VoteStatus::Late => "late",
        }
    }
}

/// Where an instant falls in a ballot's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Before round 1 opened.
    BeforeOpening,
    /// Inside round n (from its opening to its deadline, both inclusive).
    InRound(u32),
    /// After round n's deadline, before any later round opened.
    AfterDeadline(u32),
}

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerFate {
    /// Record and count in this round.
    Count { round: u32 },
    /// Record, do not count, tell the member it was late.
    Late { round: u32 },
    /// The ballot was cancelled: record, do not count.
    Cancelled,
    /// Dated before the ballot opened (a clock problem or a crafted message).
    Early,
}

/// What an answer means for a ballot: the one decision ingest acts on and
/// `replay` recomputes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer<'a> {
    /// The sender is not on the ballot's roster.
    NonMember,
    /// An observer, adviser or fellow: recorded, never counted.
    NonVoting(&'a Participant),
    /// A member's mail with no position (a question, an acknowledgement).
    NoAnswer(&'a Organisation),
    /// Not readable with confidence; `delegation` when it was a 一任 under a
    /// rule that does not define one.
    Unclear {
        org: &'a Organisation,
        delegation: bool,
    },
    /// A position, and what becomes of it.
    Position {
        org: &'a Organisation,
        position: Position,
        fate: AnswerFate,
    },
}

/// What happened when a round closed.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundClosed {
    pub round: u32,
    pub tally: Tally,
    /// The positions counted, per organisation.
    pub counted: BTreeMap<OrgId, Position>,
    pub next: Next,
}

/// After a round closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The deliberation is over with this outcome.
    Final(Outcome),
    /// Not valid: a new round opens (再審要請).
    Reballot { round: u32, deadline: DateTime<Utc> },
}

/// A request the state machine refuses, in words for the admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BallotError {
    #[error("{0} is {1}, not open")]
    NotOpen(BallotRef, &'static str),
    #[error("the deadline {0} is not in the future")]
    DeadlineInPast(String),
    #[error("the deadline {given} is earlier than the current one ({current}); a deadline can only be extended")]
    DeadlineEarlier { given: String, current: String },
    #[error("the deadline leaves the ballot open less than the {0} hours its rule requires")]
    TooShort(u32),
    #[error("a ballot needs a title")]
    NoTitle,
    #[error("a ballot needs the text of its motion")]
    NoMotion,
    #[error("the tally could not be made: {0}")]
    Tally(#[from] TallyError),
    #[error("{0}")]
    Deadline(String),
}

/// Drops sub-second precision (see `Round::opened_at`).
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("a valid timestamp stays valid")
}

/// Everything needed to open a ballot.
#[derive(Debug, Clone)]
pub struct Opening {
    pub reference: BallotRef,
    pub title: String,
    pub motion: String,
    pub kind: Option<String>,
    pub profile: Profile,
    pub roster: Roster,
    pub deadline: DateTime<Utc>,
    pub opened_by: String,
    pub chair: Option<OrgId>,
}

impl Ballot {
    /// SHA-256 of the motion text as stored, in hex: what the audit trail
    /// records when the ballot opens, and (its first 16 digits) what the
    /// announcement, each receipt and the digest print, so that every inbox
    /// witnesses which text was voted on.
    pub fn motion_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.motion.as_bytes()))
    }

    /// Opens a ballot at `now`: checks the title, motion and deadline.
    pub fn open(o: Opening, now: DateTime<Utc>) -> Result<Ballot, BallotError> {
        if o.title.trim().is_empty() {
            return Err(BallotError::NoTitle);
        }
        if o.motion.trim().is_empty() {
            return Err(BallotError::NoMotion);
        }
        if o.deadline <= now {
            return Err(BallotError::DeadlineInPast(o.deadline.to_rfc3339()));
        }
        let min = chrono::Duration::hours(i64::from(o.profile.min_open_hours));
        if o.deadline - now < min {
            return Err(BallotError::TooShort(o.profile.min_open_hours));
        }
        let opened_at = whole_seconds(now);
        Ok(Ballot {
            reference: o.reference,
            title: o.title.trim().to_string(),
            motion: o.motion,
            kind: o.kind,
            profile: o.profile,
            roster: o.roster,
            state: State::Open,
            outcome: None,
            rounds: vec![Round {
                number: 1,
                opened_at,
                // Whole seconds, as `opened_at`: a deadline 48 h after an
                // opening must not sit a fraction of a second later, where the
                // 48-hour reminder fell just after the opening.
                deadline: whole_seconds(o.deadline),
                closed_at: None,
                tally: None,
            }],
            opened_at,
            opened_by: o.opened_by,
            closed_at: None,
            cancel_reason: None,
            ratification: Ratification::Pending,
            chair: o.chair,
        })
    }

    /// The latest round.
    pub fn current_round(&self) -> &Round {
        self.rounds.last().expect("a ballot always has a round")
    }

    fn current_round_mut(&mut self) -> &mut Round {
        self.rounds.last_mut().expect("a ballot always has a round")
    }

    /// Where instant `t` falls.
    pub fn timing(&self, t: DateTime<Utc>) -> Timing {
        let mut timing = Timing::BeforeOpening;
        for r in &self.rounds {
            if t < r.opened_at {
                break;
            }
            timing = if t <= r.deadline && r.closed_at.is_none_or(|c| t <= c) {
                Timing::InRound(r.number)
            } else {
                Timing::AfterDeadline(r.number)
            };
        }
        timing
    }

    /// What happens to an answer cast at `cast_at` (the INTERNALDATE).
    pub fn fate_of_answer(&self, cast_at: DateTime<Utc>) -> AnswerFate {
        if self.state == State::Cancelled {
            return AnswerFate::Cancelled;
        }
        match self.timing(cast_at) {
            Timing::BeforeOpening => AnswerFate::Early,
            Timing::InRound(n) if self.rounds[n as usize - 1].closed_at.is_none() => {
                AnswerFate::Count { round: n }
            }
            // Inside a round's window but the round is already closed: it arrived
            // in the mailbox after the tally was made, so it cannot count.
            Timing::InRound(n) | Timing::AfterDeadline(n) => AnswerFate::Late { round: n },
        }
    }

    /// The answer each organisation holds in `round`: its latest valid answer
    /// (by INTERNALDATE, then arrival), or its first where the profile closes
    /// vote changes, including earlier rounds' answers when the profile carries
    /// them over. Answers from organisations not on the snapshot roster are ignored.
    pub fn counted_votes<'v>(
        &self,
        votes: &'v [VoteRecord],
        round: u32,
    ) -> BTreeMap<OrgId, &'v VoteRecord> {
        let first_stands = self.profile.vote_changes == rules::VoteChanges::Closed;
        let mut latest: BTreeMap<OrgId, &VoteRecord> = BTreeMap::new();
        for v in votes {
            let in_scope = if self.profile.carry_over {
                v.round <= round
            } else {
                v.round == round
            };
            if !in_scope || v.status != VoteStatus::Valid || v.disputed {
                continue;
            }
            let key = |x: &VoteRecord| (x.round, x.cast_at, x.seq);
            match latest.get(&v.org) {
                Some(prev) if !first_stands && key(prev) >= key(v) => {}
                Some(prev) if first_stands && key(prev) <= key(v) => {}
                _ => {
                    latest.insert(v.org.clone(), v);
                }
            }
        }
        // Once per organisation, not per answer; through a set when there are
        // many (a tally of a large committee), by a plain search for a few.
        if latest.len() > 16 {
            let on_roster: std::collections::HashSet<&OrgId> =
                self.roster.voters().map(|o| &o.id).collect();
            latest.retain(|org, _| on_roster.contains(org));
        } else {
            latest.retain(|org, _| self.roster.organisation(org).is_some());
        }
        latest
    }

    /// The position each organisation holds in `round` (see `counted_votes`).
    pub fn positions(&self, votes: &[VoteRecord], round: u32) -> BTreeMap<OrgId, Position> {
        self.counted_votes(votes, round)
            .into_iter()
            .map(|(o, v)| (o, v.position))
            .collect()
    }

    /// The counts for `round` from `votes`.
    pub fn counts(&self, votes: &[VoteRecord], round: u32) -> Counts {
        let mut c = Counts {
            eligible: self.roster.eligible(),
            ..Counts::default()
        };
        for p in self.positions(votes, round).values() {
            c.add(*p);
        }
        c
    }

    /// The tally of `round` from `votes`, and the positions it counted: the rule
    /// applied to the counts, the chair's own answer breaking a tie where the
    /// profile says so. `close_round` records it and replay makes it again from
    /// the messages, with this one copy of the decision.
    pub fn tally_round(
        &self,
        votes: &[VoteRecord],
        round: u32,
    ) -> Result<(BTreeMap<OrgId, Position>, Tally), TallyError> {
        let counted = self.positions(votes, round);
        let counts = self.counts(votes, round);
        let chair = self.chair.as_ref().and_then(|c| counted.get(c).copied());
        let t = rules::tally_for_ballot(&self.profile, counts, chair)?;
        Ok((counted, t))
    }

    /// Closes the current round at `now` and decides what follows: the final
    /// outcome, or a new round when not valid and rounds remain.
    pub fn close_round(
        &mut self,
        votes: &[VoteRecord],
        now: DateTime<Utc>,
        tz: Tz,
        calendar: &Calendar,
    ) -> Result<RoundClosed, BallotError> {
        if self.state != State::Open {
            return Err(BallotError::NotOpen(self.reference, self.state.as_str()));
        }
        let number = self.current_round().number;
        let (counted, t) = self.tally_round(votes, number)?;
        let closed_at = whole_seconds(now).max(self.current_round().opened_at);
        {
            let r = self.current_round_mut();
            r.closed_at = Some(closed_at);
            r.tally = Some(t.clone());
        }
        let next = if t.outcome == rules::Outcome::NotValid && number < self.profile.rounds {
            let resolved = self
                .profile
                .reballot_deadline
                .resolve(now, tz, calendar)
                .map_err(BallotError::Deadline)?;
            // The minimum open period binds a re-ballot too. A checked profile's
            // re-ballot deadline never falls short (`Profile::validate`); one that
            // still does (summer time, a profile stored before the check) is
            // moved to the minimum rather than refused, since no admin is there
            // to choose another and the round must open.
            let min = closed_at + chrono::Duration::hours(i64::from(self.profile.min_open_hours));
            let deadline = resolved.max(min);
            self.rounds.push(Round {
                number: number + 1,
                opened_at: closed_at,
                deadline,
                closed_at: None,
                tally: None,
            });
            Next::Reballot {
                round: number + 1,
                deadline,
            }
        } else {
            self.state = State::Closed;
            self.outcome = Some(t.outcome);
            self.closed_at = Some(closed_at);
            self.ratification = Ratification::Pending;
            Next::Final(t.outcome)
        };
        Ok(RoundClosed {
            round: number,
            tally: t,
            counted,
            next,
        })
    }

    /// Moves the current round's deadline later.
    pub fn extend(
        &mut self,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), BallotError> {
        if self.state != State::Open {
            return Err(BallotError::NotOpen(self.reference, self.state.as_str()));
        }
        if deadline <= now {
            return Err(BallotError::DeadlineInPast(deadline.to_rfc3339()));
        }
        let current = self.current_round().deadline;
        if deadline < current {
            return Err(BallotError::DeadlineEarlier {
                given: deadline.to_rfc3339(),
                current: current.to_rfc3339(),
            });
        }
        self.current_round_mut().deadline = whole_seconds(deadline);
        Ok(())
    }

    /// Cancels an open ballot. Its answers stay recorded.
    pub fn cancel(&mut self, reason: &str, now: DateTime<Utc>) -> Result<(), BallotError> {
        if self.state != State::Open {
            return Err(BallotError::NotOpen(self.reference, self.state.as_str()));
        }
        self.state = State::Cancelled;
        self.cancel_reason = Some(reason.to_string());
        self.closed_at = Some(whole_seconds(now));
        Ok(())
    }

    /// What an answer from `from` reading as `vote`, received at `cast_at`, means.
    pub fn answer(&self, from: &Address, vote: Vote, cast_at: DateTime<Utc>) -> Answer<'_> {
        let org = match self.roster.lookup(from) {
            None => return Answer::NonMember,
            Some(Membership::NonVoting(p)) => return Answer::NonVoting(p),
            Some(Membership::Voter(o)) => o,
        };
        if vote == Vote::Delegate && self.profile.delegation == Delegation::NotAccepted {
            return Answer::Unclear {
                org,
                delegation: true,
            };
        }
        match vote.position() {
            Some(position) => Answer::Position {
                org,
                position,
                fate: self.fate_of_answer(cast_at),
            },
            None if vote == Vote::Unclear => Answer::Unclear {
                org,
                delegation: false,
            },
            None => Answer::NoAnswer(org),
        }
    }

    /// The ballot as it stood at `t`: rounds opened later are gone, rounds
    /// closed later are open, and a later cancellation or closing undone. What
    /// ingest saw when it processed a message at `t`, for `replay`.
    pub fn as_of(&self, t: DateTime<Utc>) -> Ballot {
        self.undone(&self.changes_after(t))
    }

    /// What happened to the ballot after `t`, by the times it records.
    pub fn changes_after(&self, t: DateTime<Utc>) -> Changes {
        Changes {
            opened: self
                .rounds
                .iter()
                .filter(|r| r.number != 1 && r.opened_at > t)
                .map(|r| r.number)
                .collect(),
            closed: self
                .rounds
                .iter()
                .filter(|r| r.closed_at.is_some_and(|c| c > t))
                .map(|r| r.number)
                .collect(),
            ended: self.closed_at.is_some_and(|c| c > t),
        }
    }

    /// The ballot with `changes` undone. A copy: callers that ask for the same
    /// changes again (replay, message after message) keep it rather than copy the
    /// roster each time.
    pub fn undone(&self, changes: &Changes) -> Ballot {
        let mut b = self.clone();
        b.rounds
            .retain(|r| r.number == 1 || !changes.opened.contains(&r.number));
        for r in &mut b.rounds {
            if changes.closed.contains(&r.number) {
                r.closed_at = None;
                r.tally = None;
            }
        }
        if changes.ended {
            b.state = State::Open;
            b.outcome = None;
            b.closed_at = None;
            b.cancel_reason = None;
        }
        b
    }

    /// True when the current round's deadline has passed.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.state == State::Open && self.current_round().deadline <= now
    }

    /// Organisations on the snapshot roster with no counted answer in `round`.
    pub fn not_answered<'a>(
        &'a self,
        votes: &[VoteRecord],
        round: u32,
    ) -> Vec<&'a crate::roster::Organisation> {
        let answered = self.positions(votes, round);
        self.roster
            .voters()
            .filter(|o| !answered.contains_key(&o.id))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    pub(crate) fn roster(n: usize) -> Roster {
        Roster {
            organisations: (1..=n)
                .map(|i| Organisation {
                    id: OrgId::parse(&format!("org{i:02}")).unwrap(),
                    name: format!("会員{i}"),
                    representative: Address::parse(&format!("rep{i}@org{i}.example")).unwrap(),
                    representative_name: None,
                    alternates: vec![],
                })
                .collect(),
            participants: vec![],
        }
    }

    pub(crate) fn ballot(n: usize) -> Ballot {
        let profile = rules::shipped().into_iter().next().unwrap();
        Ballot::open(
            Opening {
                reference: BallotRef::new(2026, 7).unwrap(),
                title: "新規会員の加盟承認".into(),
                motion: "株式会社サンプルの加盟を承認する。".into(),
                kind: None,
                profile,
                roster: roster(n),
                deadline: utc("2026-11-29T08:00:00Z"),
                opened_by: "cli".into(),
                chair: None,
            },
            utc("2026-11-22T01:00:00.700Z"),
        )
        .unwrap()
    }

    pub(crate) fn vote(org: usize, p: Position, at: &str, seq: i64, round: u32) -> VoteRecord {
        VoteRecord {
            org: OrgId::parse(&format!("org{org:02}")).unwrap(),
            position: p,
            cast_at: utc(at),
            seq,
            round,
            status: VoteStatus::Valid,
            voter: format!("rep{org}@org{org}.example"),
            message_id: None,
            disputed: false,
        }
    }

    fn tokyo() -> Tz {
        "Asia/Tokyo".parse().unwrap()
    }

    #[test]
    fn an_answer_is_judged_by_who_sent_it_what_it_says_and_when_the_server_got_it() {
        let b = ballot(3);
        let rep = Address::parse("rep2@org2.example").unwrap();
        let at = utc("2026-11-23T00:00:00Z");
        assert!(matches!(
            b.answer(&Address::parse("x@y.example").unwrap(), Vote::Yes, at),
            Answer::NonMember
        ));
        assert!(matches!(
            b.answer(&rep, Vote::Yes, at),
            Answer::Position {
                position: Position::Yes,
                fate: AnswerFate::Count { round: 1 },
                ..
            }
        ));
        assert!(matches!(
            b.answer(&rep, Vote::Delegate, at),
            Answer::Unclear {
                delegation: true,
                ..
            }
        ));
        assert!(matches!(
            b.answer(&rep, Vote::None, at),
            Answer::NoAnswer(_)
        ));
        assert!(matches!(
            b.answer(&rep, Vote::No, utc("2026-11-30T00:00:00Z")),
            Answer::Position {
                fate: AnswerFate::Late { round: 1 },
                ..
            }
        ));
    }

    /// Ballot 17 with its first round closed, unanswered, at 08:00:05 on 29 November.
    fn closed_unanswered() -> Ballot {
        let mut b = ballot(17);
        b.close_round(
            &[],
            utc("2026-11-29T08:00:05Z"),
            tokyo(),
            &Calendar::default(),
        )
        .unwrap();
        b
    }

    #[test]
    fn nothing_changed_after_the_last_event_so_nothing_is_undone() {
        let b = closed_unanswered();
        assert!(b.changes_after(utc("2026-11-29T08:00:05Z")).is_empty());
        let before = b.changes_after(utc("2026-11-29T08:00:00Z"));
        assert_eq!(before.closed, vec![1]);
        assert!(!before.is_empty());
        // Undoing nothing gives the ballot back as it is.
        assert_eq!(b.undone(&Changes::default()), b);
    }

    #[test]
    fn a_ballot_as_of_an_earlier_moment_has_its_later_rounds_undone() {
        let b = closed_unanswered();
        let before = b.as_of(utc("2026-11-29T08:00:00Z"));
        assert_eq!(before.rounds.len(), 1);
        assert_eq!(before.rounds[0].closed_at, None);
        // An answer dated inside round 1 but processed after it closed is late;
        // processed before the close, it counted.
        assert_eq!(
            b.fate_of_answer(utc("2026-11-28T00:00:00Z")),
            AnswerFate::Late { round: 1 }
        );
        assert_eq!(
            before.fate_of_answer(utc("2026-11-28T00:00:00Z")),
            AnswerFate::Count { round: 1 }
        );
    }

    #[test]
    fn a_reply_in_the_same_second_as_the_opening_counts() {
        let b = ballot(3);
        assert_eq!(
            b.fate_of_answer(utc("2026-11-22T01:00:00Z")),
            AnswerFate::Count { round: 1 }
        );
        assert_eq!(
            b.fate_of_answer(utc("2026-11-22T00:59:59Z")),
            AnswerFate::Early
        );
    }

    #[test]
    fn a_reply_at_the_deadline_counts_and_one_second_later_is_late() {
        let b = ballot(3);
        assert_eq!(
            b.fate_of_answer(utc("2026-11-29T08:00:00Z")),
            AnswerFate::Count { round: 1 }
        );
        assert_eq!(
            b.fate_of_answer(utc("2026-11-29T08:00:01Z")),
            AnswerFate::Late { round: 1 }
        );
    }

    #[test]
    fn the_latest_answer_from_an_organisation_wins_and_earlier_ones_stay() {
        let b = ballot(3);
        let votes = vec![
            vote(1, Position::Yes, "2026-11-23T00:00:00Z", 1, 1),
            vote(1, Position::No, "2026-11-24T00:00:00Z", 2, 1),
            vote(2, Position::Yes, "2026-11-23T00:00:00Z", 3, 1),
        ];
        let p = b.positions(&votes, 1);
        assert_eq!(p[&OrgId::parse("org01").unwrap()], Position::No);
        assert_eq!(b.counts(&votes, 1).answered(), 2);
        assert_eq!(votes.len(), 3, "history is kept");
    }

    #[test]
    fn where_the_rule_makes_answers_final_the_first_one_stands() {
        let mut b = ballot(3);
        b.profile.vote_changes = rules::VoteChanges::Closed;
        let votes = vec![
            vote(1, Position::No, "2026-11-24T00:00:00Z", 2, 1),
            vote(1, Position::Yes, "2026-11-23T00:00:00Z", 1, 1),
            vote(1, Position::Abstain, "2026-11-25T00:00:00Z", 3, 1),
        ];
        assert_eq!(
            b.positions(&votes, 1)[&OrgId::parse("org01").unwrap()],
            Position::Yes
        );
        // A first answer the member disputed never stood: the next one does.
        let mut disputed = votes.clone();
        disputed[1].disputed = true;
        assert_eq!(
            b.positions(&disputed, 1)[&OrgId::parse("org01").unwrap()],
            Position::No
        );
    }

    #[test]
    fn a_re_ballot_is_open_at_least_the_minimum_period_of_its_rule() {
        let mut b = ballot(17);
        // A stored profile whose re-ballot deadline falls short of its minimum.
        b.profile.reballot_deadline = "1d@09:00".parse().unwrap();
        b.profile.min_open_hours = 48;
        // Closed Sun 11/29 17:00:05 JST: 1d@09:00 would be Mon 09:00, 16 hours.
        let closed = utc("2026-11-29T08:00:05Z");
        let c = b
            .close_round(&[], closed, tokyo(), &Calendar::default())
            .unwrap();
        let Next::Reballot { deadline, .. } = c.next else {
            panic!("{:?}", c.next)
        };
        assert_eq!(deadline, closed + chrono::Duration::hours(48));
        assert_eq!(b.current_round().deadline, deadline);
    }

    #[test]
    fn two_answers_in_the_same_second_are_ordered_by_arrival() {
        let b = ballot(3);
        let votes = vec![
            vote(1, Position::No, "2026-11-23T00:00:00Z", 8, 1),
            vote(1, Position::Yes, "2026-11-23T00:00:00Z", 9, 1),
        ];
        assert_eq!(
            b.positions(&votes, 1)[&OrgId::parse("org01").unwrap()],
            Position::Yes
        );
    }

    #[test]
    fn a_valid_round_closes_the_ballot_with_its_outcome() {
        let mut b = ballot(4);
        let votes = vec![
            vote(1, Position::Yes, "2026-11-23T00:00:00Z", 1, 1),
            vote(2, Position::Yes, "2026-11-23T00:00:00Z", 2, 1),
        ];
        let c = b
            .close_round(
                &votes,
                utc("2026-11-29T08:00:05Z"),
                tokyo(),
                &Calendar::default(),
            )
            .unwrap();
        assert_eq!(c.next, Next::Final(Outcome::Approved));
        assert_eq!(b.state, State::Closed);
        assert_eq!(b.ratification, Ratification::Pending);
    }

    #[test]
    fn a_round_that_is_not_valid_opens_a_fresh_second_round() {
        let mut b = ballot(17);
        let votes: Vec<_> = (1..=8)
            .map(|i| vote(i, Position::Yes, "2026-11-23T00:00:00Z", i as i64, 1))
            .collect();
        let c = b
            .close_round(
                &votes,
                utc("2026-11-29T08:00:05Z"),
                tokyo(),
                &Calendar::default(),
            )
            .unwrap();
        assert!(matches!(c.next, Next::Reballot { round: 2, .. }));
        assert_eq!(b.state, State::Open);
        assert_eq!(b.current_round().number, 2);
        // Fresh round: round-1 answers do not count in round 2.
        assert_eq!(b.counts(&votes, 2).answered(), 0);
        // A reply after round 1's deadline but in round 2 counts for round 2.
        assert_eq!(
            b.fate_of_answer(utc("2026-11-30T00:00:00Z")),
            AnswerFate::Count { round: 2 }
        );
    }

    #[test]
    fn the_last_round_that_is_not_valid_ends_as_not_valid() {
        let mut b = ballot(17);
        b.close_round(
            &[],
            utc("2026-11-29T08:00:05Z"),
            tokyo(),
            &Calendar::default(),
        )
        .unwrap();
        let deadline = b.current_round().deadline;
        let c = b
            .close_round(&[], deadline, tokyo(), &Calendar::default())
            .unwrap();
        assert_eq!(c.next, Next::Final(Outcome::NotValid));
        assert_eq!(b.outcome, Some(Outcome::NotValid));
        assert_eq!(b.state, State::Closed);
    }

    #[test]
    fn carried_over_answers_count_in_the_next_round_when_the_profile_says_so() {
        let mut b = ballot(4);
        b.profile.carry_over = true;
        let v1 = vote(1, Position::Yes, "2026-11-23T00:00:00Z", 1, 1);
        b.close_round(
            std::slice::from_ref(&v1),
            utc("2026-11-29T08:00:05Z"),
            tokyo(),
            &Calendar::default(),
        )
        .unwrap();
        let v2 = vote(2, Position::No, "2026-11-30T00:00:00Z", 2, 2);
        assert_eq!(b.counts(&[v1, v2], 2).answered(), 2);
    }

    #[test]
    fn an_answer_arriving_after_its_round_was_tallied_is_late_even_if_dated_inside() {
        let mut b = ballot(2);
        let votes = vec![
            vote(1, Position::Yes, "2026-11-23T00:00:00Z", 1, 1),
            vote(2, Position::Yes, "2026-11-23T00:00:00Z", 2, 1),
        ];
        // Closed early by an admin at 11/25.
        b.close_round(
            &votes,
            utc("2026-11-25T00:00:00Z"),
            tokyo(),
            &Calendar::default(),
        )
        .unwrap();
        assert_eq!(
            b.fate_of_answer(utc("2026-11-24T00:00:00Z")),
            AnswerFate::Late { round: 1 }
        );
    }

    #[test]
    fn a_deadline_can_only_move_later_and_into_the_future() {
        let mut b = ballot(3);
        let now = utc("2026-11-23T00:00:00Z");
        assert!(matches!(
            b.extend(utc("2026-11-28T00:00:00Z"), now),
            Err(BallotError::DeadlineEarlier { .. })
        ));
        assert!(matches!(
            b.extend(utc("2026-11-22T00:00:00Z"), now),
            Err(BallotError::DeadlineInPast(_))
        ));
        b.extend(utc("2026-12-01T08:00:00Z"), now).unwrap();
        assert_eq!(b.current_round().deadline, utc("2026-12-01T08:00:00Z"));
    }

    #[test]
    fn a_cancelled_ballot_counts_nothing_and_cannot_be_cancelled_twice() {
        let mut b = ballot(3);
        b.cancel("議案の取り下げ", utc("2026-11-23T00:00:00Z"))
            .unwrap();
        assert_eq!(
            b.fate_of_answer(utc("2026-11-23T00:00:00Z")),
            AnswerFate::Cancelled
        );
        assert!(b.cancel("again", utc("2026-11-23T00:00:00Z")).is_err());
        assert!(b
            .close_round(
                &[],
                utc("2026-11-30T00:00:00Z"),
                tokyo(),
                &Calendar::default()
            )
            .is_err());
    }

    #[test]
    fn a_deadline_in_the_past_or_too_soon_is_refused_at_opening() {
        let mut o = Opening {
            reference: BallotRef::new(2026, 1).unwrap(),
            title: "t".into(),
            motion: "m".into(),
            kind: None,
            profile: rules::shipped().into_iter().next().unwrap(),
            roster: roster(2),
            deadline: utc("2026-11-21T00:00:00Z"),
            opened_by: "cli".into(),
            chair: None,
        };
        let now = utc("2026-11-22T00:00:00Z");
        assert!(matches!(
            Ballot::open(o.clone(), now),
            Err(BallotError::DeadlineInPast(_))
        ));
        o.deadline = utc("2026-11-22T05:00:00Z");
        assert!(matches!(
            Ballot::open(o, now),
            Err(BallotError::TooShort(24))
        ));
    }

    #[test]
    fn answers_from_organisations_not_in_the_snapshot_are_ignored() {
        let b = ballot(2);
        let votes = vec![vote(9, Position::Yes, "2026-11-23T00:00:00Z", 1, 1)];
        assert_eq!(b.counts(&votes, 1).answered(), 0);
    }
}
