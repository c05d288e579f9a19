//! What became of a message, and when an earlier copy of a message stands as
//! its original: one enum, and the one duplicate rule that the ingest (through
//! the store's batch staging) and `audit replay` both apply, through
//! [`Copies::earlier`].
//!
//! The database keeps each disposition as the text of [`Disposition::as_str`]
//! (snake case, as serde writes it); [`FromStr`] reads it back, once, at the
//! store's edge.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A position, counted (until superseded by a later one from the same organisation).
    Vote,
    /// A position that arrived after the deadline: recorded, not counted.
    Late,
    /// A position that cannot count: the ballot was cancelled, or the message is dated before it opened.
    NotCounted,
    /// An answer that could not be read with confidence: the member was asked again.
    Unclear,
    /// A member's mail with no position (a question, an acknowledgement).
    NoAnswer,
    /// Answers to several ballots, each handled on its own.
    Several,
    /// An auto-reply, bounce, report, or the bot's own mail.
    Automated,
    /// The same Message-ID or bytes were already processed.
    Duplicate,
    /// Not a readable message.
    Malformed,
    /// Names no ballot (ordinary list traffic).
    NoBallot,
    /// Names a ballot that does not exist.
    UnknownBallot,
    /// From an address not on the ballot's roster.
    NonMember,
    /// From an observer, adviser or fellow: no vote.
    NonVoting,
    /// An admin's mail that opened a ballot.
    AdminOpened,
    /// An admin's mail that could not be acted on (the admin was told why).
    AdminRejected,
    /// The secretariat's reply to a digest, recording what the meeting confirmed.
    Ratification,
    /// The bot failed to handle it (recorded so that it does not block the mailbox).
    Error,
    /// Failed sender verification: recorded, not counted.
    Unverified,
    /// A member said a recorded vote was not theirs (身に覚えがない).
    Dispute,
    /// A member asked where their organisation stands (状況 / status) and was told.
    StatusQuery,
}

impl Disposition {
    /// Every disposition, in the order of the enum.
    pub const ALL: [Disposition; 20] = [
        Disposition::Vote,
        Disposition::Late,
        Disposition::NotCounted,
        Disposition::Unclear,
        Disposition::NoAnswer,
        Disposition::Several,
        Disposition::Automated,
        Disposition::Duplicate,
        Disposition::Malformed,
        Disposition::NoBallot,
        Disposition::UnknownBallot,
        Disposition::NonMember,
        Disposition::NonVoting,
        Disposition::AdminOpened,
        Disposition::AdminRejected,
        Disposition::Ratification,
        Disposition::Error,
        Disposition::Unverified,
        Disposition::Dispute,
        Disposition::StatusQuery,
    ];

    /// The machine name stored in the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Disposition::Vote => "vote",
            Disposition::Late => "late",
            Disposition::NotCounted => "not_counted",
            Disposition::Unclear => "unclear",
            Disposition::NoAnswer => "no_answer",
            Disposition::Several => "several",
            Disposition::Automated => "automated",
            Disposition::Duplicate => "duplicate",
            Disposition::Malformed => "malformed",
            Disposition::NoBallot => "no_ballot",
            Disposition::UnknownBallot => "unknown_ballot",
            Disposition::NonMember => "non_member",
            Disposition::NonVoting => "non_voting",
            Disposition::AdminOpened => "admin_opened",
            Disposition::AdminRejected => "admin_rejected",
            Disposition::Ratification => "ratification",
            Disposition::Error => "error",
            Disposition::Unverified => "unverified",
            Disposition::Dispute => "dispute",
            Disposition::StatusQuery => "status_query",
        }
    }

    /// Whether an earlier copy of a message (same Message-ID from the same
    /// sender, or same bytes), recorded with this disposition, stands as the
    /// original. The goal is a message handled once and never a real answer
    /// swallowed:
    ///
    /// - A copy the bot *used* is the original: it counted or recorded an answer,
    ///   answered the sender (late, not counted, unclear), recorded a dispute, or
    ///   acted on an admin's or the secretariat's mail. Handling another copy
    ///   would count or answer twice.
    /// - A copy the bot could not use does not stand in the way of one it can: the
    ///   list's copy of a reply-all with From rewritten ("X via steering") is from
    ///   a non-member, the list's DKIM-breaking copy fails verification, a munged
    ///   subject names no ballot; the member's direct copy must still count.
    ///   Handling such a copy again changes nothing that matters (it is recorded
    ///   again, or asks or alerts again).
    /// - The same bytes are the same delivery read again (a UIDVALIDITY reset):
    ///   reading them gives the same result, so any earlier record stands, except
    ///   a failure of the bot's own (`error`), which must not lose the message.
    /// - A row marked duplicate is never the original: it points at one anyway.
    pub fn counts_as_original(self, same_bytes: bool) -> bool {
        match self {
            Disposition::Vote
            | Disposition::Late
            | Disposition::NotCounted
            | Disposition::Unclear
            | Disposition::Several
            | Disposition::Dispute
            | Disposition::AdminOpened
            | Disposition::AdminRejected
            | Disposition::Ratification
            | Disposition::StatusQuery => true,
            Disposition::Duplicate | Disposition::Error => false,
            Disposition::NonMember
            | Disposition::NonVoting
            | Disposition::NoBallot
            | Disposition::UnknownBallot
            | Disposition::NoAnswer
            | Disposition::Malformed
            | Disposition::Automated
            | Disposition::Unverified => same_bytes,
        }
    }

    /// Whether an earlier message recorded with this disposition makes a new
    /// one a duplicate: the ingest's and replay's one rule. The earlier one
    /// must be the same message (the same bytes, or the same Message-ID from
    /// the same sender) and a copy that stands as the original
    /// ([`Disposition::counts_as_original`]).
    ///
    /// A Message-ID alone is never enough: anyone can write any Message-ID, and
    /// clients reuse them when a message is resent, so another sender's message
    /// with a member's Message-ID (sent before the member's own) would otherwise
    /// swallow the member's genuine answer without a word. Such a clash is noted
    /// on the later message and each is judged on its own. The sender is the
    /// author the bot acted on (verification's, through a list's rewritten From,
    /// else the From header), so the list's copy of a member's reply and the
    /// member's direct copy are still one message.
    pub fn duplicates(self, same_bytes: bool, same_sender: bool) -> bool {
        (same_bytes || same_sender) && self.counts_as_original(same_bytes)
    }
}

/// Whether two messages' senders (see [`Disposition::duplicates`]) are one
/// address. A message without one is nobody's: it is the same as no other.
pub fn same_sender(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored disposition this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a disposition")]
pub struct UnknownDisposition(pub String);

impl FromStr for Disposition {
    type Err = UnknownDisposition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Disposition::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDisposition(s.to_string()))
    }
}

/// An earlier message a new one may be a copy of.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Its row.
    pub id: i64,
    pub internal_date: DateTime<Utc>,
    pub disposition: Disposition,
    pub message_id: Option<String>,
    pub content_hash: String,
    /// The author the bot acted on (see [`Disposition::duplicates`]), as written.
    pub sender: Option<String>,
}

/// What the earlier messages sharing a new message's Message-ID or bytes make of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Earlier {
    /// The original it duplicates: its row and INTERNALDATE.
    pub original: Option<(i64, DateTime<Utc>)>,
    /// An earlier message from another sender with the same Message-ID, which
    /// the bot used ([`Disposition::counts_as_original`]): not the same
    /// message, but worth a note on the new one.
    pub clash: Option<i64>,
}

/// The earlier messages new ones may be copies of, in row order, found by
/// content hash and by Message-ID. The batch staging holds those of the
/// database that share a batch's hashes or Message-IDs, and adds each message
/// it records; replay adds every message as it goes.
#[derive(Debug, Default)]
pub struct Copies {
    copies: Vec<Indexed>,
    by_hash: HashMap<String, Vec<usize>>,
    by_message_id: HashMap<String, Vec<usize>>,
}

/// A copy as the index keeps it: its hash and Message-ID are the keys that
/// find it, not kept twice (replay holds one per stored message).
#[derive(Debug)]
struct Indexed {
    id: i64,
    internal_date: DateTime<Utc>,
    disposition: Disposition,
    sender: Option<Box<str>>,
}

impl Copies {
    /// Forgets every copy.
    pub fn clear(&mut self) {
        self.copies.clear();
        self.by_hash.clear();
        self.by_message_id.clear();
    }

    /// Adds `c`, which comes after every copy added before it (row order).
    pub fn add(&mut self, c: Copy) {
        debug_assert!(self.copies.last().is_none_or(|l| l.id < c.id));
        let i = self.copies.len();
        self.by_hash.entry(c.content_hash).or_default().push(i);
        if let Some(id) = c.message_id {
            self.by_message_id.entry(id).or_default().push(i);
        }
        self.copies.push(Indexed {
            id: c.id,
            internal_date: c.internal_date,
            disposition: c.disposition,
            sender: c.sender.map(String::into_boxed_str),
        });
    }

    /// What the earlier messages with this Message-ID or these bytes make of
    /// a message from `sender`, by the one rule ([`Disposition::duplicates`]):
    /// the first copy that stands as the original, in row order.
    pub fn earlier(
        &self,
        message_id: Option<&str>,
        content_hash: &str,
        sender: Option<&str>,
    ) -> Earlier {
        let same_bytes: &[usize] = self.by_hash.get(content_hash).map_or(&[], Vec::as_slice);
        let same_id: &[usize] = message_id
            .and_then(|id| self.by_message_id.get(id))
            .map_or(&[], Vec::as_slice);
        // Both lists are in row order: take the first copy that counts.
        let mut candidates: Vec<usize> = same_bytes.iter().chain(same_id).copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut earlier = Earlier::default();
        for i in candidates {
            let c = &self.copies[i];
            let bytes = same_bytes.binary_search(&i).is_ok();
            let from = same_sender(c.sender.as_deref(), sender);
            if c.disposition.duplicates(bytes, from) {
                earlier.original = Some((c.id, c.internal_date));
                break;
            }
            if earlier.clash.is_none() && c.disposition.counts_as_original(bytes) {
                earlier.clash = Some(c.id);
            }
        }
        earlier
    }
}

/// The hex SHA-256 of a message's raw bytes: what "the same bytes" means to
/// the duplicate rule, and what the audit trail records of every message.
pub fn content_hash(raw: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disposition_reads_back_from_its_stored_name_and_serde_writes_the_same() {
        for d in Disposition::ALL {
            assert_eq!(d.as_str().parse::<Disposition>(), Ok(d));
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.as_str())
            );
            assert_eq!(d.to_string(), d.as_str());
        }
        assert_eq!(
            "counted".parse::<Disposition>(),
            Err(UnknownDisposition("counted".into()))
        );
    }

    #[test]
    fn only_used_copies_or_the_same_bytes_stand_as_the_original() {
        use Disposition::*;
        let used = [
            Vote,
            Late,
            NotCounted,
            Unclear,
            Several,
            Dispute,
            AdminOpened,
            AdminRejected,
            Ratification,
            StatusQuery,
        ];
        let unused = [
            NonMember,
            NonVoting,
            NoBallot,
            UnknownBallot,
            NoAnswer,
            Malformed,
            Automated,
            Unverified,
        ];
        let never = [Error, Duplicate];
        for d in used {
            assert!(d.counts_as_original(false), "{d}");
            assert!(d.counts_as_original(true), "{d}");
        }
        for d in unused {
            assert!(!d.counts_as_original(false), "{d}");
            assert!(d.counts_as_original(true), "{d}");
        }
        for d in never {
            assert!(!d.counts_as_original(false), "{d}");
            assert!(!d.counts_as_original(true), "{d}");
        }
        // Every disposition the ingest records is decided on purpose: a new
        // variant stops this match compiling until it is in `ALL` and in one
        // of the lists above.
        let _ = |d: Disposition| match d {
            Vote | Late | NotCounted | Unclear | NoAnswer | Several | Automated | Duplicate
            | Malformed | NoBallot | UnknownBallot | NonMember | NonVoting | AdminOpened
            | AdminRejected | Ratification | Error | Unverified | Dispute | StatusQuery => (),
        };
        for d in Disposition::ALL {
            assert!(
                used.contains(&d) || unused.contains(&d) || never.contains(&d),
                "{d} is in none of the lists"
            );
        }
    }

    #[test]
    fn a_message_id_alone_never_makes_a_duplicate_without_the_same_sender() {
        use Disposition::*;
        assert!(Vote.duplicates(false, true));
        assert!(!Vote.duplicates(false, false));
        assert!(NonMember.duplicates(true, false));
        assert!(!NonMember.duplicates(false, true));
        assert!(same_sender(
            Some("Rep1@Org1.example"),
            Some("rep1@org1.example")
        ));
        assert!(!same_sender(None, None));
    }

    fn copy(id: i64, d: Disposition, message_id: &str, hash: &str, sender: &str) -> Copy {
        Copy {
            id,
            internal_date: DateTime::from_timestamp(id, 0).unwrap(),
            disposition: d,
            message_id: Some(message_id.into()),
            content_hash: hash.into(),
            sender: Some(sender.into()),
        }
    }

    #[test]
    fn the_first_copy_that_stands_is_the_original_and_another_senders_used_one_a_clash() {
        let mut c = Copies::default();
        c.add(copy(1, Disposition::NonMember, "a@x", "h1", "list@x"));
        c.add(copy(2, Disposition::Vote, "a@x", "h2", "rep2@org2"));
        c.add(copy(3, Disposition::Vote, "a@x", "h3", "rep1@org1"));
        // The list's unused copy stands in nobody's way; org2's used one is a clash.
        let e = c.earlier(Some("a@x"), "h4", Some("REP1@org1"));
        assert_eq!(e.original.map(|o| o.0), Some(3));
        assert_eq!(e.clash, Some(2));
        // The same bytes stand whatever the first copy was, whoever sends them.
        assert_eq!(c.earlier(None, "h1", None).original.map(|o| o.0), Some(1));
        assert_eq!(
            c.earlier(Some("b@x"), "h5", Some("rep1@org1")),
            Earlier::default()
        );
    }
}
