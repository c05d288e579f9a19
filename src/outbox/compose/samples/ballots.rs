//! Sample ballots in every state, built from the configured roster, for
//! `check-config` to render every template with.

use chrono::{DateTime, Utc};

use crate::ballot::calendar::Calendar;
use crate::ballot::{Ballot, BallotError, Opening, RoundClosed, VoteRecord, VoteStatus};
use crate::config::Config;
use crate::domain::{BallotRef, Position};
use crate::roster::Organisation;

/// A ballot in each state a template speaks of, with the answers behind it.
pub struct SampleBallots {
    pub open: Ballot,
    pub closed: Ballot,
    pub closed_round: RoundClosed,
    pub votes: Vec<VoteRecord>,
    pub reballot: Ballot,
    pub reballot_round: RoundClosed,
    pub cancelled: Ballot,
    /// Two rounds, neither valid: ended as 不成立.
    pub not_valid: Ballot,
    pub not_valid_round: RoundClosed,
    pub not_valid_votes: Vec<VoteRecord>,
    /// A kind, a rule that counts 一任, closed before its deadline.
    pub delegated: Ballot,
    pub delegated_votes: Vec<VoteRecord>,
    /// Open under a rule whose first answer is final.
    pub final_answers: Ballot,
}

fn answer(o: &Organisation, p: Position, at: DateTime<Utc>, seq: i64, round: u32) -> VoteRecord {
    VoteRecord {
        org: o.id.clone(),
        position: p,
        cast_at: at,
        seq,
        round,
        status: VoteStatus::Valid,
        voter: o.representative.to_string(),
        message_id: None,
        disputed: false,
    }
}

impl SampleBallots {
    /// Sample ballots under the configuration's default profile, open for a
    /// week or for as long as the profile asks (`min_open_hours`), whichever
    /// is longer; an error where the profile admits no sample at all.
    pub fn new(config: &Config, now: DateTime<Utc>) -> Result<SampleBallots, BallotError> {
        let profile = config
            .profiles
            .get(&config.ballots.default_profile)
            .cloned()
            .expect("the default profile is checked when the configuration loads");
        let span = chrono::Duration::hours(i64::from(profile.min_open_hours).max(7 * 24));
        let opening = |n: u32| Opening {
            reference: BallotRef::new(2026, n).expect("static reference"),
            title: "新規会員 株式会社サンプルの加盟承認".into(),
            motion:
                "株式会社サンプルの本協議会への加盟を承認する。\n（入会申込書は事務局にて確認済み）"
                    .into(),
            kind: config.ballots.kinds.first().map(|k| k.name.clone()),
            profile: profile.clone(),
            roster: config.roster.clone(),
            deadline: now + span,
            opened_by: "cli".into(),
            chair: config.ballots.chair.clone(),
        };
        let mut open = Ballot::open(opening(7), now)?;
        open.profile.min_open_hours = 0;
        let votes: Vec<VoteRecord> = config
            .roster
            .voters()
            .enumerate()
            .map(|(i, o)| VoteRecord {
                org: o.id.clone(),
                position: if i % 3 == 2 {
                    Position::No
                } else {
                    Position::Yes
                },
                cast_at: now + chrono::Duration::hours(i as i64 + 1),
                seq: i as i64,
                round: 1,
                status: VoteStatus::Valid,
                voter: o.representative.to_string(),
                message_id: None,
                disputed: false,
            })
            .collect();
        let tz = config.organisation.time_zone;
        let cal = Calendar::default();
        let mut closed = Ballot::open(opening(8), now)?;
        let closed_round = closed.close_round(&votes, now + span, tz, &cal)?;
        let mut reballot = Ballot::open(opening(9), now)?;
        let reballot_round = reballot.close_round(&[], now + span, tz, &cal)?;
        let mut cancelled = Ballot::open(opening(10), now)?;
        cancelled.cancel("議案の取り下げ", now)?;

        // One answer in each of two rounds: too few either time (on a roster
        // of three or more), so the deliberation ends as 不成立.
        let voters: Vec<&Organisation> = config.roster.voters().collect();
        let mut o = opening(11);
        o.title = "ワーキンググループの設置".into();
        o.motion = "脆弱性情報共有ワーキンググループを設置する。".into();
        o.profile.rounds = o.profile.rounds.max(2);
        let mut not_valid = Ballot::open(o, now)?;
        let mut not_valid_votes = Vec::new();
        if voters.len() >= 3 {
            not_valid_votes.push(answer(
                voters[0],
                Position::Yes,
                now + chrono::Duration::hours(2),
                1,
                1,
            ));
        }
        let mut not_valid_round = not_valid.close_round(&not_valid_votes, now + span, tz, &cal)?;
        if not_valid.state == crate::ballot::State::Open {
            let second = not_valid.current_round().opened_at;
            if voters.len() >= 3 {
                not_valid_votes.push(answer(
                    voters[1],
                    Position::No,
                    second + chrono::Duration::hours(3),
                    2,
                    2,
                ));
            }
            let deadline = not_valid.current_round().deadline;
            not_valid_round = not_valid.close_round(&not_valid_votes, deadline, tz, &cal)?;
        }

        // Under a rule that counts 一任 (a shipped one, unless the
        // configuration replaced them all; one the chair need not decide
        // first), with a kind, closed early.
        let counts_delegations = |p: &&crate::ballot::rules::Profile| {
            p.delegation != crate::ballot::rules::Delegation::NotAccepted
        };
        let delegating = config
            .profiles
            .all()
            .iter()
            .filter(counts_delegations)
            .find(|p| p.tie != crate::ballot::rules::Tie::Chair)
            .or_else(|| config.profiles.all().iter().find(counts_delegations))
            .cloned()
            .unwrap_or_else(|| {
                let mut p = profile.clone();
                p.delegation = crate::ballot::rules::Delegation::InFavour;
                p
            });
        let mut o = opening(12);
        o.title = "令和9年度予算の承認".into();
        o.motion = "令和9年度予算案を原案のとおり承認する。".into();
        o.kind = Some(
            config
                .ballots
                .kinds
                .iter()
                .find(|k| k.profile == delegating.name)
                .map(|k| k.name.clone())
                .unwrap_or_else(|| "予算承認".into()),
        );
        o.profile = delegating;
        o.profile.min_open_hours = 0;
        let mut delegated = Ballot::open(o, now)?;
        let delegated_votes: Vec<VoteRecord> = voters
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let p = match i % 3 {
                    0 => Position::Yes,
                    1 => Position::Delegate,
                    _ => Position::No,
                };
                answer(
                    o,
                    p,
                    now + chrono::Duration::hours(i as i64 + 1),
                    i as i64,
                    1,
                )
            })
            .collect();
        delegated.close_round(&delegated_votes, now + chrono::Duration::days(3), tz, &cal)?;

        let mut final_answers = open.clone();
        final_answers.profile.vote_changes = crate::ballot::rules::VoteChanges::Closed;
        Ok(SampleBallots {
            open,
            closed,
            closed_round,
            votes,
            reballot,
            reballot_round,
            cancelled,
            not_valid,
            not_valid_round,
            not_valid_votes,
            delegated,
            delegated_votes,
            final_answers,
        })
    }

    pub fn org(&self) -> &Organisation {
        self.open
            .roster
            .voters()
            .next()
            .expect("a roster has at least one organisation")
    }
}
