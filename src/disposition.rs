//! What became of a message, and when an earlier copy of a message stands as
//! its original: one enum, and the one duplicate rule that the ingest (through
//! the store's batch staging) and `audit replay` both apply.
//!
//! The database keeps each disposition as the text of [`Disposition::as_str`]
//! (snake case, as serde writes it); [`FromStr`] reads it back, once, at the
//! store's edge.

use std::fmt;
use std::str::FromStr;

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
}

impl Disposition {
    /// Every disposition, in the order of the enum.
    pub const ALL: [Disposition; 19] = [
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
            | Disposition::Ratification => true,
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
            | AdminRejected | Ratification | Error | Unverified | Dispute => (),
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
}
