//! What the decision about one message needs to know, gathered before it is
//! made: by `load` inside the ingest's transaction, or by `audit replay` from
//! the record. `decide` reads nothing else.
//!
//! The small rules both the gatherers and `decide` apply (whom a message is
//! from, whom a forgery claims to be, which receipt or digest a reply names,
//! which ballots it answers) are here once, so that what is loaded and what is
//! decided on cannot drift apart.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::ballot::{Ballot, VoteRecord};
use crate::config::Config;
use crate::disposition::Earlier;
use crate::domain::{Address, BallotRef, OrgId, Position, Vote};
use crate::reading::Reading;
use crate::roster::{Membership, Organisation};
use crate::store::SentDigest;
use crate::verify::policy::{Method, TokenSubject, Verification};

/// Everything the decision about one message reads.
#[derive(Debug)]
pub struct Facts<'a> {
    pub config: &'a Config,
    /// The addresses the bot sends from: its own copies coming back are no flood.
    pub own_addresses: &'a [Address],
    pub reading: &'a Reading,
    /// Sender verification, when a policy is configured (as run at the time,
    /// or as recorded then).
    pub verification: Option<&'a Verification>,
    /// The server's INTERNALDATE: the vote time.
    pub received: DateTime<Utc>,
    /// What the earlier copies with this Message-ID or these bytes make of it.
    pub earlier: Earlier,
    /// Every ballot the message names ([`named_ballots`]) and the one a
    /// disputed receipt belongs to, as it stood; `None` where no such ballot
    /// exists.
    pub ballots: HashMap<BallotRef, Option<Arc<Ballot>>>,
    /// The author's organisation's earlier answers in each ballot where this
    /// message's answer would count ([`would_count_in`]), in arrival order.
    pub answers: HashMap<BallotRef, Vec<VoteRecord>>,
    /// The vote whose receipt a reply saying "not mine" answers ([`named_receipt`]).
    pub receipt: Option<ReceiptVote>,
    /// The digest an official's reply answers ([`named_digests`]), and what
    /// confirming it needs.
    pub digest: Option<DigestFacts>,
    /// The organisation a failed verification claims ([`claimed_member`]) was
    /// already told of a forgery within the hour.
    pub told_within_hour: bool,
    /// For a member's status query ([`status_query_from`]): every open ballot
    /// with the organisation's answers in it, in the order they opened.
    pub status: Vec<(Arc<Ballot>, Vec<VoteRecord>)>,
    /// How many messages the From address sent in the hour before this one
    /// (for a burst); `None` without a From.
    pub sent_in_the_hour: Option<i64>,
}

/// The organisation of a member whose mail asks where it stands (状況 /
/// status): the From address must be one of its registered addresses, since
/// the answer goes to those addresses and nowhere else.
pub fn status_query_from<'c>(config: &'c Config, reading: &Reading) -> Option<&'c Organisation> {
    if reading.vote != Vote::None || !reading.answers.is_empty() {
        return None;
    }
    if !crate::reading::silence::asks_status(&reading.own_words, reading.subject.as_deref()) {
        return None;
    }
    match config.roster.lookup(reading.from.as_ref()?) {
        Some(Membership::Voter(org)) => Some(org),
        _ => None,
    }
}

/// The vote a receipt acknowledged, found by the receipt's Message-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptVote {
    /// The receipt's Message-ID, as the reply names it.
    pub receipt: String,
    /// The vote's row.
    pub vote: i64,
    pub ballot: BallotRef,
    pub round: u32,
    pub org: OrgId,
    pub position: Position,
}

/// A digest the secretariat (or an admin) answered, and what recording the
/// meeting's confirmation needs.
#[derive(Debug, Clone)]
pub struct DigestFacts {
    pub digest: SentDigest,
    /// The ballots it listed that still wait for a meeting, in its order.
    pub pending: Vec<BallotRef>,
    /// The meetings added by hand (`mail-ballot meeting add`), for the
    /// calendar when the digest names no meeting.
    pub added_meetings: Vec<NaiveDate>,
}

impl Facts<'_> {
    /// Ballot `r` as it stood, when it exists.
    pub fn ballot(&self, r: BallotRef) -> Option<&Arc<Ballot>> {
        self.ballots.get(&r).and_then(Option::as_ref)
    }

    /// The author's organisation's earlier answers in `r`.
    pub fn answers_in(&self, r: BallotRef) -> &[VoteRecord] {
        self.answers.get(&r).map_or(&[], Vec::as_slice)
    }
}

/// Whom a message is from: the author verification settled on (the list's
/// rewritten From resolved through a trusted header), else the From header. The
/// same address decides who may act and is answered.
pub fn author_of(reading: &Reading, verification: Option<&Verification>) -> Option<Address> {
    verification
        .and_then(|v| v.author.clone())
        .or_else(|| reading.from.clone())
}

/// The verification, when the policy enforces it and the message failed.
pub fn failed(verification: Option<&Verification>) -> Option<&Verification> {
    verification.filter(|v| v.enforced && !v.passed)
}

/// Whom a message that failed verification claims to be from: the author a
/// list's rewritten From names, else verification's author, else From.
pub fn claimed_author(reading: &Reading, v: &Verification) -> Option<Address> {
    v.list
        .as_ref()
        .and_then(|l| l.claimed.clone())
        .or_else(|| v.author.clone())
        .or_else(|| reading.from.clone())
}

/// The voting organisation `claimed` belongs to, on the roster of the ballot
/// the message names, else on the configured one.
pub fn claimed_member<'r>(
    config: &'r Config,
    ballot: Option<&'r Ballot>,
    claimed: &Address,
) -> Option<&'r Organisation> {
    let roster = ballot.map(|b| &b.roster).unwrap_or(&config.roster);
    match roster.lookup(claimed) {
        Some(Membership::Voter(org)) => Some(org),
        _ => None,
    }
}

/// The personal ballot mail whose token verified the message, if a token did.
pub fn token_subject(v: Option<&Verification>) -> Option<&TokenSubject> {
    v.filter(|v| v.method == Some(Method::Token))
        .and_then(|v| v.token.as_ref())
}

/// True for an admin or the secretariat.
pub fn is_official(config: &Config, a: &Address) -> bool {
    config.is_secretariat(a) || config.is_admin(a)
}

/// The ids a reply answers, nearest first: In-Reply-To, then References from
/// the last.
fn replied_ids(reading: &Reading) -> impl Iterator<Item = &String> {
    reading
        .in_reply_to
        .iter()
        .chain(reading.references.iter().rev())
}

/// The receipt of ours a reply answers, by its Message-ID.
pub fn named_receipt<'r>(reading: &'r Reading, domain: &str) -> Option<&'r str> {
    let suffix = format!("@{domain}");
    replied_ids(reading)
        .find(|id| id.contains(".receipt.") && id.ends_with(&suffix))
        .map(String::as_str)
}

/// The digests of ours a reply may answer, nearest first.
pub fn named_digests<'r>(reading: &'r Reading, domain: &str) -> Vec<&'r str> {
    let suffix = format!("@{domain}");
    replied_ids(reading)
        .filter(|id| id.starts_with("digest.") && id.ends_with(&suffix))
        .map(String::as_str)
        .collect()
}

/// The answers a message gives, one per ballot: its per-ballot answer lines,
/// else its one answer to the ballot it names.
pub fn answers_given(reading: &Reading) -> Vec<(BallotRef, Vote)> {
    if reading.answers.is_empty() {
        reading
            .ballot
            .map(|b| (b, reading.vote))
            .into_iter()
            .collect()
    } else {
        reading.answers.iter().map(|a| (a.ballot, a.vote)).collect()
    }
}

/// Every ballot a message names: the one it answers and those of its answer lines.
pub fn named_ballots(reading: &Reading) -> Vec<BallotRef> {
    let mut out: Vec<BallotRef> = reading.ballot.into_iter().collect();
    for a in &reading.answers {
        if !out.contains(&a.ballot) {
            out.push(a.ballot);
        }
    }
    out
}

/// The organisation whose answer `vote` from `author` would count in `b` at
/// `received` (`Ballot::answer`, whose earlier answers the decision weighs).
pub fn would_count_in<'b>(
    b: &'b Ballot,
    author: &Address,
    vote: Vote,
    received: DateTime<Utc>,
) -> Option<&'b OrgId> {
    match b.answer(author, vote, received) {
        crate::ballot::Answer::Position {
            org,
            fate: crate::ballot::AnswerFate::Count { .. },
            ..
        } => Some(&org.id),
        _ => None,
    }
}
