//! A member's answer to one ballot: whether and where it counts, what is
//! recorded, and what the member is told.

use crate::ballot::rules::VoteChanges;
use crate::ballot::{Answer, AnswerFate, State, VoteRecord, VoteStatus};
use crate::disposition::Disposition;
use crate::domain::{Address, BallotRef, Vote};
use crate::outbox::compose::NotOpenWhy;
use crate::reading::silence::why_silent;
use crate::roster::Membership;
use crate::security::Kind;
use crate::verify::policy::{TokenSubject, Verification};

use super::{Decision, Facts, NewVote, Notice, Supersession};

/// The ballot and round a message says it answers: the round of our mail it
/// replies to, and the personal ballot mail whose token verified it.
pub(super) struct Named<'a> {
    pub round: Option<u32>,
    pub token: Option<&'a TokenSubject>,
    /// One answer of a reply that answers several ballots.
    pub several: bool,
}

/// Why an answer belongs to another ballot or round than the one it would count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// It replies to (or its token is for) the mail of this other round.
    Round(u32),
    /// Its personal reply token is for another ballot.
    Ballot(BallotRef),
}

impl Mismatch {
    fn reason(&self, round: u32) -> String {
        match self {
            Mismatch::Round(n) => {
                format!("the reply answers round {n} but round {round} is open; not counted")
            }
            Mismatch::Ballot(b) => {
                format!("the personal reply address belongs to {b}; not counted")
            }
        }
    }
}

/// Whether an answer that would count in `round` of `ballot` says it answers
/// something else: the round of the mail it replies to, or the ballot and round
/// of the personal reply address (token) it was sent to.
pub fn answers_elsewhere(
    named_round: Option<u32>,
    token: Option<&TokenSubject>,
    ballot: BallotRef,
    round: u32,
) -> Option<Mismatch> {
    match token {
        Some(t) if t.ballot != ballot => Some(Mismatch::Ballot(t.ballot)),
        Some(t) if t.round != round => Some(Mismatch::Round(t.round)),
        _ => named_round.filter(|n| *n != round).map(Mismatch::Round),
    }
}

/// Where an answer that would count in a round belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It counts here.
    Here,
    /// It answers another ballot or round (`answers_elsewhere`).
    Elsewhere(Mismatch),
    /// One answer of a reply to several ballots, sent to the personal reply
    /// address of `token_ballot`: the token speaks for that ballot only, and
    /// nothing else verified this answer. Not a replay; the member is asked to
    /// answer this ballot again.
    Unverified { token_ballot: BallotRef },
}

/// Where an answer to `ballot` that would count in `round` belongs. A reply
/// that answers several ballots (`several`) carries at most one ballot's
/// token; its other answers count where the author is verified without it
/// (`verified_without_token`: another accepted method passed, or the policy
/// does not enforce).
pub fn place_answer(
    named_round: Option<u32>,
    token: Option<&TokenSubject>,
    ballot: BallotRef,
    round: u32,
    several: bool,
    verified_without_token: bool,
) -> Placement {
    match answers_elsewhere(named_round, token, ballot, round) {
        None => Placement::Here,
        Some(Mismatch::Ballot(token_ballot)) if several => {
            if !verified_without_token {
                return Placement::Unverified { token_ballot };
            }
            match answers_elsewhere(named_round, None, ballot, round) {
                None => Placement::Here,
                Some(m) => Placement::Elsewhere(m),
            }
        }
        Some(m) => Placement::Elsewhere(m),
    }
}

/// The answer `vote` from `from` to ballot `r`; `evidence` is the text that
/// decided it, when the reader kept one.
pub(super) fn answer(
    facts: &Facts<'_>,
    from: &Address,
    r: BallotRef,
    vote: Vote,
    evidence: Option<&str>,
    named: &Named<'_>,
) -> Decision {
    let reading = facts.reading;
    let Some(b) = facts.ballot(r) else {
        let mut d = Decision::only(
            Disposition::UnknownBallot,
            None,
            format!("{r} does not exist"),
        );
        // Only members are answered: a stranger's mail never makes the bot write.
        if let Some(Membership::Voter(org)) = facts.config.roster.lookup(from) {
            d.mail(Notice::UnknownBallot {
                reference: r,
                org: org.clone(),
                voter: from.clone(),
            });
        }
        return d;
    };
    let (org, position, fate) = match b.answer(from, vote, facts.received) {
        Answer::NonMember => {
            return Decision::only(
                Disposition::NonMember,
                Some(r),
                "the sender is not on this ballot's roster; recorded and ignored",
            )
        }
        Answer::NonVoting(p) => {
            return Decision::only(
                Disposition::NonVoting,
                Some(r),
                format!(
                    "the sender takes part as {} without a vote; recorded and ignored",
                    p.role.as_str()
                ),
            )
        }
        Answer::NoAnswer(org) => {
            let mut d = Decision::only(Disposition::NoAnswer, Some(r), reading.reason.clone());
            // A member who wrote 「賛成？」, a question or an answer in the subject believes
            // they answered or waits for an answer: they are told what was seen.
            if b.state == State::Open {
                d.mail(Notice::NoAnswer {
                    ballot: b.clone(),
                    org: org.clone(),
                    voter: from.clone(),
                    silence: why_silent(&reading.own_words, reading.subject.as_deref(), &b.title),
                });
            }
            return d;
        }
        Answer::Unclear { org, delegation } => {
            let reason = if delegation {
                format!(
                    "the rule {} does not define 一任 (delegation); please answer 賛成, 反対 or 棄権",
                    b.profile.name
                )
            } else {
                reading.reason.clone()
            };
            let mut d = Decision::only(Disposition::Unclear, Some(r), reason.clone());
            if b.state == State::Open {
                let (ballot, org, voter) = (b.clone(), org.clone(), from.clone());
                // Too large to read: the member is told so, and how large it was.
                d.mail(match reading.oversized {
                    Some(o) => Notice::TooLarge {
                        ballot,
                        org,
                        voter,
                        size: o.size,
                        limit: o.limit,
                    },
                    None => Notice::Unclear {
                        ballot,
                        org,
                        voter,
                        reason,
                        delegation,
                    },
                });
            }
            return d;
        }
        Answer::Position {
            org,
            position,
            fate,
        } => (org, position, fate),
    };
    let record = |round: u32, status: VoteStatus| VoteRecord {
        org: org.id.clone(),
        position,
        cast_at: facts.received,
        seq: 0,
        round,
        status,
        voter: from.to_string(),
        message_id: reading.message_id.clone(),
        disputed: false,
    };
    let not_open = |why: NotOpenWhy| Notice::NotOpen {
        ballot: b.clone(),
        org: org.clone(),
        voter: from.clone(),
        why,
    };
    // A reply counts only in the ballot and round it answers: an old answer
    // sent again, or a personal reply address used for another round, is
    // recorded but never counted again (the member is asked to answer anew).
    if let AnswerFate::Count { round } = fate {
        let verified = facts
            .verification
            .is_none_or(Verification::verified_without_token);
        match place_answer(named.round, named.token, r, round, named.several, verified) {
            Placement::Here => {}
            Placement::Unverified { token_ballot } => {
                let mut d = Decision::only(
                    Disposition::NotCounted,
                    Some(r),
                    format!(
                        "one answer of a reply to several ballots, sent to the personal reply address of {token_ballot}, which verifies only that ballot; nothing else verified it; not counted"
                    ),
                );
                d.mail(Notice::NotVerified {
                    ballot: b.clone(),
                    org: org.clone(),
                    voter: from.clone(),
                    position,
                    token_ballot,
                });
                return d;
            }
            Placement::Elsewhere(m) => {
                let mut d = Decision::only(Disposition::NotCounted, Some(r), m.reason(round));
                if let Mismatch::Round(n) = m {
                    d.mail(not_open(NotOpenWhy::OtherRound(n)));
                }
                // A personal reply address is a credential for one ballot: used for
                // another, it is being replayed, which the security contact hears
                // of. The same ballot's earlier round is a member answering the
                // old mail late, told so above: nothing for the security contact.
                if let Some(t) = named.token.filter(|t| t.ballot != r) {
                    d.alert(
                        Kind::Replay,
                        Some(r),
                        format!(
                            "the personal reply address of {} round {} was used to answer {r} round {round}",
                            t.ballot, t.round
                        ),
                    );
                }
                return d;
            }
        }
    }
    let mut d = match fate {
        AnswerFate::Count { round } => {
            // This organisation's answers only: whose answer stands is decided per
            // organisation, and a ballot may hold thousands of answers.
            let votes = facts.answers_in(r);
            let previous = b.positions(votes, round).get(&org.id).copied();
            // Under a rule whose first answer is final, a later one is kept on
            // record (the receipt says which answer stands) and never counts.
            let first_stands = b.profile.vote_changes == VoteChanges::Closed;
            let mut d = match previous {
                Some(kept) if first_stands => Decision::only(
                    Disposition::NotCounted,
                    Some(r),
                    format!(
                        "the rule makes the first answer final: {} stands in round {round}; not counted",
                        kept.as_str()
                    ),
                ),
                _ => Decision::only(
                    Disposition::Vote,
                    Some(r),
                    format!("counted in round {round}"),
                ),
            };
            let new = record(round, VoteStatus::Valid);
            if let Some(s) = supersession(b, votes, &new) {
                d.superseded.push(s);
            }
            d.votes.push(NewVote {
                ballot: r,
                record: new,
                receipt: Some(d.mails.len()),
            });
            d.mail(Notice::Receipt {
                ballot: b.clone(),
                org: org.clone(),
                voter: from.clone(),
                position,
                evidence: evidence.unwrap_or(position.label_ja()).to_string(),
                superseded: previous,
            });
            d
        }
        AnswerFate::Late { round } => {
            let mut d = Decision::only(
                Disposition::Late,
                Some(r),
                format!("arrived after the deadline of round {round}; not counted"),
            );
            d.votes.push(NewVote {
                ballot: r,
                record: record(round, VoteStatus::Late),
                receipt: None,
            });
            d.mail(not_open(NotOpenWhy::Late));
            d
        }
        AnswerFate::Cancelled => {
            let mut d = Decision::only(
                Disposition::NotCounted,
                Some(r),
                "the ballot was cancelled; not counted",
            );
            d.mail(not_open(NotOpenWhy::Cancelled));
            d
        }
        AnswerFate::Early => {
            let mut d = Decision::only(
                Disposition::NotCounted,
                Some(r),
                "dated before the ballot opened; not counted",
            );
            d.mail(not_open(NotOpenWhy::Early));
            d
        }
    };
    d.ballot = Some(r);
    d
}

/// How `new` (not yet stored) changes which answer of its organisation counts
/// in its round, when it does: the one counted until now stops counting, or,
/// when `new` is dated before it, `new` itself never counts.
fn supersession(
    b: &crate::ballot::Ballot,
    votes: &[VoteRecord],
    new: &VoteRecord,
) -> Option<Supersession> {
    let before = b.counted_votes(votes, new.round).get(&new.org).copied()?;
    // Arrival order: the new message gets a row after every stored one.
    let incoming = VoteRecord {
        seq: i64::MAX,
        ..new.clone()
    };
    let mut all = votes.to_vec();
    all.push(incoming);
    let new_wins = b
        .counted_votes(&all, new.round)
        .get(&new.org)
        .is_some_and(|v| v.seq == i64::MAX);
    Some(Supersession {
        ballot: b.reference,
        stored: before.clone(),
        new: new.clone(),
        new_wins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_naming_another_round_or_ballot_is_placed_elsewhere() {
        let b1: BallotRef = "B-2026-001".parse().unwrap();
        let b2: BallotRef = "B-2026-002".parse().unwrap();
        let org = crate::domain::OrgId::parse("org1").unwrap();
        let tok = |ballot, round| TokenSubject {
            ballot,
            round,
            org: org.clone(),
        };
        assert_eq!(answers_elsewhere(None, None, b1, 2), None);
        assert_eq!(answers_elsewhere(Some(2), None, b1, 2), None);
        assert_eq!(
            answers_elsewhere(Some(1), None, b1, 2),
            Some(Mismatch::Round(1))
        );
        assert_eq!(
            answers_elsewhere(None, Some(&tok(b1, 1)), b1, 2),
            Some(Mismatch::Round(1))
        );
        assert_eq!(
            answers_elsewhere(Some(2), Some(&tok(b2, 2)), b1, 2),
            Some(Mismatch::Ballot(b2))
        );
        assert_eq!(answers_elsewhere(Some(2), Some(&tok(b1, 2)), b1, 2), None);
    }
}
