//! What a message means: `decide(&facts) -> Decision`, a pure function of what
//! was gathered about it (`ingest::facts`). No database, no templates, no
//! clock but the dates in the facts.
//!
//! The order is the one place it is written: a copy of an earlier message,
//! automated mail, a failed verification, an admin's request, an official's
//! reply to a digest, a dispute of a receipt, then the answers to ballots.
//! The ingest records what it decides (`ingest::record`), with the mails
//! rendered from it (`ingest::render`); `audit replay` calls the same function
//! on facts rebuilt from the record and compares the votes it gives.

mod answer;
mod officials;
mod security;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

pub use officials::{confirmed_by, Action, Done};
pub use security::says_not_mine;

use crate::ballot::{Ballot, VoteRecord};
use crate::disposition::Disposition;
use crate::domain::{Address, BallotRef, OrgId, Position};
use crate::outbox::compose::NotOpenWhy;
use crate::reading::silence::Silence;
use crate::roster::Organisation;
use crate::security::Kind;

use super::facts::{author_of, failed, is_official, status_query_from, token_subject, Facts};

/// What a message does.
#[derive(Debug, Clone)]
pub struct Decision {
    pub disposition: Disposition,
    /// Why, in one English sentence (several for a reply to several ballots).
    pub reason: String,
    pub ballot: Option<BallotRef>,
    /// The answers to record.
    pub votes: Vec<NewVote>,
    /// The mails it causes, in order.
    pub mails: Vec<Notice>,
    /// What the security contact hears of.
    pub alerts: Vec<Alert>,
    /// Vote rows whose organisation says they were not its own.
    pub disputes: Vec<i64>,
    /// Counted answers that give way to another (`vote_superseded`).
    pub superseded: Vec<Supersession>,
    /// What must happen inside the message's transaction before its mails
    /// can be written (`Decision::settle` with what it did).
    pub action: Option<Action>,
    /// The sender's messages within the hour crossed the limit with this one.
    pub burst: bool,
    /// An earlier message from another sender with the same Message-ID
    /// (`Earlier::clash`): not this one, and the reason says so.
    pub clash: Option<i64>,
}

/// An answer to record.
#[derive(Debug, Clone)]
pub struct NewVote {
    pub ballot: BallotRef,
    /// `seq` is the message's row, set when it is written.
    pub record: VoteRecord,
    /// The index in `Decision::mails` of the receipt that acknowledges it.
    pub receipt: Option<usize>,
}

/// A mail a decision causes, with what only the decision knows; the message
/// it answers supplies the rest when it is rendered (`ingest::render`).
#[derive(Debug, Clone)]
pub enum Notice {
    /// A counted (or recorded, where the first answer stands) answer's receipt.
    Receipt {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        position: Position,
        /// The words read as the answer.
        evidence: String,
        /// The answer of the organisation that counted until now.
        superseded: Option<Position>,
    },
    /// An answer recorded but not counted.
    NotOpen {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        why: NotOpenWhy,
    },
    /// One answer of a reply to several ballots that nothing verified.
    NotVerified {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        position: Position,
        token_ballot: BallotRef,
    },
    /// An answer that could not be read: the member is asked again.
    Unclear {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        reason: String,
        delegation: bool,
    },
    /// A member's mail about an open ballot with no answer in it.
    NoAnswer {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        silence: Silence,
    },
    /// A reply too large to read.
    TooLarge {
        ballot: Arc<Ballot>,
        org: Organisation,
        voter: Address,
        size: usize,
        limit: usize,
    },
    /// A member named a ballot that does not exist.
    UnknownBallot {
        reference: BallotRef,
        org: Organisation,
        voter: Address,
    },
    /// An organisation (or, with `org` None, an admin or the secretariat at the
    /// address claimed) is told that a message in its name failed verification.
    Unverified {
        org: Option<Organisation>,
        ballot: Option<Arc<Ballot>>,
        claimed: Address,
        summary: String,
    },
    /// An organisation's dispute of a vote was received.
    Disputed {
        ballot: Arc<Ballot>,
        org: Organisation,
        round: u32,
        position: Position,
    },
    /// An admin's ballot is open.
    Opened {
        ballot: Arc<Ballot>,
        requester: Address,
    },
    /// An admin's mail could not be acted on.
    AdminError {
        requester: Address,
        subject: String,
        error: String,
    },
    /// A member asked where their organisation stands: every open ballot with
    /// its counted answer in the current round, if any.
    Status {
        org: Organisation,
        voter: Address,
        ballots: Vec<(Arc<Ballot>, Option<VoteRecord>)>,
    },
    /// What a reply to a digest recorded.
    Ratified {
        requester: Address,
        meeting: Option<NaiveDate>,
        confirmed: Vec<Ballot>,
        still_pending: Vec<BallotRef>,
        no_meeting: bool,
    },
}

impl Notice {
    /// The ballot and organisation of a personal mail about a ballot, which
    /// carries the organisation's personal reply address when tokens are used.
    pub fn personal(&self) -> Option<(&Ballot, &Organisation)> {
        match self {
            Notice::Receipt { ballot, org, .. }
            | Notice::NotOpen { ballot, org, .. }
            | Notice::NotVerified { ballot, org, .. }
            | Notice::Unclear { ballot, org, .. }
            | Notice::NoAnswer { ballot, org, .. }
            | Notice::TooLarge { ballot, org, .. }
            | Notice::Disputed { ballot, org, .. } => Some((ballot, org)),
            Notice::Unverified {
                ballot: Some(ballot),
                org: Some(org),
                ..
            } => Some((ballot, org)),
            Notice::Unverified { .. }
            | Notice::UnknownBallot { .. }
            | Notice::Opened { .. }
            | Notice::AdminError { .. }
            | Notice::Status { .. }
            | Notice::Ratified { .. } => None,
        }
    }
}

/// An incident for the security contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: Kind,
    pub ballot: Option<BallotRef>,
    /// One sentence (English) for the subject and the record.
    pub summary: String,
    /// A dispute's evidence also names the organisation and the receipt.
    pub dispute: Option<(OrgId, String)>,
}

/// A counted answer that gives way to another in its round: the stored one
/// stops counting, or the new one (dated before it) never counts.
#[derive(Debug, Clone)]
pub struct Supersession {
    pub ballot: BallotRef,
    /// The stored answer that counted until now.
    pub stored: VoteRecord,
    /// The answer being recorded.
    pub new: VoteRecord,
    /// True when the new answer is the one that counts from now on.
    pub new_wins: bool,
}

impl Decision {
    /// A decision that records the message and does nothing else.
    pub fn only(
        disposition: Disposition,
        ballot: Option<BallotRef>,
        reason: impl Into<String>,
    ) -> Decision {
        Decision {
            disposition,
            reason: reason.into(),
            ballot,
            votes: vec![],
            mails: vec![],
            alerts: vec![],
            disputes: vec![],
            superseded: vec![],
            action: None,
            burst: false,
            clash: None,
        }
    }

    /// Notes the clash, if any, at the end of the reason.
    fn note_clash(&mut self) {
        if let Some(other) = self.clash {
            // Not the same message: judged on its own, and the record says so.
            self.reason.push_str(&format!(
                "; its Message-ID is also that of message #{other} from another sender, judged on its own"
            ));
        }
    }

    /// Adds `notice` to the mails.
    fn mail(&mut self, notice: Notice) {
        self.mails.push(notice);
    }

    /// Adds an alert about the message itself.
    fn alert(&mut self, kind: Kind, ballot: Option<BallotRef>, summary: impl Into<String>) {
        self.alerts.push(Alert {
            kind,
            ballot,
            summary: summary.into(),
            dispute: None,
        });
    }
}

/// What the message described by `facts` does.
pub fn decide(facts: &Facts<'_>) -> Decision {
    let mut d = decide_message(facts);
    d.burst = crosses_burst_limit(facts);
    d
}

fn decide_message(facts: &Facts<'_>) -> Decision {
    let reading = facts.reading;
    if let Some(why) = &reading.malformed {
        return Decision::only(Disposition::Malformed, None, why.clone());
    }
    if let Some((first, first_at)) = facts.earlier.original {
        let mut d = Decision::only(
            Disposition::Duplicate,
            reading.ballot,
            format!("the same Message-ID or content was already processed (message #{first}); not counted again"),
        );
        // A copy through the list arrives within minutes of the original; one
        // that comes back an hour or more later is being replayed.
        if facts.received - first_at >= chrono::Duration::hours(1) && !reading.automated {
            d.alert(
                Kind::Replay,
                reading.ballot,
                format!("a message already processed (#{first}) was delivered again"),
            );
        }
        return d;
    }
    let mut d = judge(facts);
    d.clash = facts.earlier.clash;
    d.note_clash();
    d
}

/// What a message that is not a copy of an earlier one does.
fn judge(facts: &Facts<'_>) -> Decision {
    let (reading, config) = (facts.reading, facts.config);
    if reading.automated {
        return Decision::only(
            Disposition::Automated,
            reading.ballot,
            reading
                .automated_reason
                .clone()
                .unwrap_or_else(|| "automated mail is never counted or answered".into()),
        );
    }
    // Before verification: the answer goes only to the organisation's
    // registered addresses, so a forged query tells the forger nothing, and a
    // member may ask in a new mail even where answers need a personal token.
    if let Some(d) = status_query(facts) {
        return d;
    }
    if let Some(v) = failed(facts.verification) {
        return security::unverified(facts, v);
    }
    let Some(from) = author_of(reading, facts.verification) else {
        return Decision::only(
            Disposition::Malformed,
            reading.ballot,
            "the message has no usable From address",
        );
    };
    if let Some(d) = officials::admin_request(facts, &from) {
        return d;
    }
    if let Some(df) = facts.digest.as_ref().filter(|_| is_official(config, &from)) {
        return officials::confirmation(facts, &from, df);
    }
    if let Some(d) = security::dispute(facts, &from) {
        return d;
    }
    if !reading.answers.is_empty() {
        return several(facts, &from);
    }
    match reading.ballot {
        None => Decision::only(Disposition::NoBallot, None, "the message names no ballot"),
        Some(r) => {
            let named = answer::Named {
                round: reading.round,
                token: token_subject(facts.verification),
                several: false,
            };
            answer::answer(
                facts,
                &from,
                r,
                reading.vote,
                reading.evidence.as_deref(),
                &named,
            )
        }
    }
}

/// A member's status query (状況 / status): every open ballot and what counts
/// for the organisation in its current round.
fn status_query(facts: &Facts<'_>) -> Option<Decision> {
    let reading = facts.reading;
    let org = status_query_from(facts.config, reading)?;
    let voter = reading.from.clone()?;
    let ballots: Vec<(Arc<Ballot>, Option<VoteRecord>)> = facts
        .status
        .iter()
        .map(|(b, votes)| {
            let round = b.current_round().number;
            let counted = b
                .counted_votes(votes, round)
                .get(&org.id)
                .map(|v| (*v).clone());
            (b.clone(), counted)
        })
        .collect();
    let mut d = Decision::only(
        Disposition::StatusQuery,
        None,
        format!(
            "a member asked for its status; told of {} open ballot(s)",
            ballots.len()
        ),
    );
    if let Some(v) = failed(facts.verification) {
        d.reason.push_str(&format!(
            " at its registered addresses (sender verification {})",
            v.summary()
        ));
    }
    d.mail(Notice::Status {
        org: org.clone(),
        voter,
        ballots,
    });
    Some(d)
}

/// A reply with answer lines for several ballots: each answer decided on its
/// own, one decision recording them all.
fn several(facts: &Facts<'_>, from: &Address) -> Decision {
    let reading = facts.reading;
    let mut merged = Decision::only(
        Disposition::Several,
        reading.answers.first().map(|a| a.ballot),
        "",
    );
    let mut reasons = Vec::new();
    for a in &reading.answers {
        let named = answer::Named {
            round: if Some(a.ballot) == reading.ballot {
                reading.round
            } else {
                None
            },
            token: token_subject(facts.verification),
            several: reading.answers.len() > 1,
        };
        let part = answer::answer(facts, from, a.ballot, a.vote, Some(&a.evidence), &named);
        reasons.push(format!(
            "{}: {} ({})",
            a.ballot,
            part.disposition.as_str(),
            part.reason
        ));
        let offset = merged.mails.len();
        merged.votes.extend(part.votes.into_iter().map(|v| NewVote {
            receipt: v.receipt.map(|i| i + offset),
            ..v
        }));
        merged.mails.extend(part.mails);
        merged.superseded.extend(part.superseded);
        // One incident of a kind per message, however many answers it holds.
        for i in part.alerts {
            if !merged.alerts.iter().any(|x| x.kind == i.kind) {
                merged.alerts.push(i);
            }
        }
    }
    merged.reason = reasons.join("; ");
    merged
}

/// A flood from one sender is reported once, when it crosses the limit. The
/// bot's own copies of what it sent are no flood: a ballot's personal mails
/// alone come back by the dozen within a minute.
fn crosses_burst_limit(facts: &Facts<'_>) -> bool {
    let own = facts
        .reading
        .from
        .as_ref()
        .is_some_and(|a| facts.own_addresses.contains(a));
    !own && facts.sent_in_the_hour
        == Some(i64::from(facts.config.limits.messages_per_sender_per_hour))
}

/// The date of `t` where the organisation is.
fn local_date(facts: &Facts<'_>, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&facts.config.organisation.time_zone)
        .date_naive()
}

#[cfg(test)]
mod tests;
