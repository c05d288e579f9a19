//! Mail from the officials: an admin's request to open a ballot, and the
//! secretariat's (or an admin's) reply to a digest recording what a meeting
//! confirmed. Both change ballots, so they are decided here as an [`Action`]
//! the recorder carries out inside the message's transaction; what it did
//! ([`Done`]) then settles the decision and its mail.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::admin::{parse_open_mail, OpenRequest};
use crate::ballot::Ballot;
use crate::disposition::Disposition;
use crate::domain::{Address, BallotRef};

use super::super::facts::DigestFacts;
use super::{local_date, Decision, Facts, Notice};

/// What must happen inside the message's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open the ballot an admin asked for (`admin::open_in`).
    Open {
        request: OpenRequest,
        /// The admin, as verification settled on: answered there.
        requester: Address,
        subject: String,
    },
    /// Record that `meeting` confirmed `wanted` (`admin::ratify_in`).
    Confirm {
        requester: Address,
        meeting: NaiveDate,
        wanted: Vec<BallotRef>,
        /// The digest's ballots that still wait for a meeting afterwards.
        still_pending: Vec<BallotRef>,
    },
}

/// What carrying out an [`Action`] did, with what its mail needs.
#[derive(Debug)]
pub enum Done {
    /// The ballot opened.
    Opened {
        ballot: Arc<Ballot>,
        requester: Address,
    },
    /// The request could not be done as asked; `error` is for the admin.
    Refused {
        requester: Address,
        subject: String,
        error: String,
    },
    /// The meeting's confirmation was recorded: `confirmed` are the ballots
    /// `wanted` as they are now.
    Confirmed {
        requester: Address,
        meeting: NaiveDate,
        wanted: Vec<BallotRef>,
        confirmed: Vec<Ballot>,
        still_pending: Vec<BallotRef>,
    },
}

impl Decision {
    /// The decision once its action is done: what the message did, and the
    /// mail that says so.
    pub fn settle(&mut self, done: Done) {
        self.settle_as(done);
        self.note_clash();
    }

    fn settle_as(&mut self, done: Done) {
        match done {
            Done::Opened { ballot, requester } => {
                self.ballot = Some(ballot.reference);
                self.reason = format!("opened {}", ballot.reference);
                self.mail(Notice::Opened { ballot, requester });
            }
            Done::Refused {
                requester,
                subject,
                error,
            } => self.refuse(requester, subject, error),
            Done::Confirmed {
                requester,
                meeting,
                wanted,
                confirmed,
                still_pending,
            } => {
                self.reason = if confirmed.is_empty() {
                    "a reply to the digest that confirms nothing; the secretariat was told how to confirm"
                        .to_string()
                } else {
                    let refs: Vec<String> = wanted.iter().map(|r| r.to_string()).collect();
                    format!("confirmed at the meeting of {meeting}: {}", refs.join(", "))
                };
                self.mail(Notice::Ratified {
                    requester,
                    meeting: Some(meeting),
                    confirmed,
                    still_pending,
                    no_meeting: false,
                });
            }
        }
    }

    /// The admin's mail could not be acted on: recorded, the admin told why.
    fn refuse(&mut self, requester: Address, subject: String, error: String) {
        self.disposition = Disposition::AdminRejected;
        self.ballot = None;
        self.reason = error.clone();
        self.mail(Notice::AdminError {
            requester,
            subject,
            error,
        });
    }
}

/// An admin's request to open a ballot, when the message is one. The admin
/// answered is the author verification settled on, never the raw From, which a
/// list that rewrites From would have turned into the list itself.
pub(super) fn admin_request(facts: &Facts<'_>, from: &Address) -> Option<Decision> {
    let config = facts.config;
    let prefix = config.ballots.open_subject_prefix.to_lowercase();
    let subject = facts.reading.subject.as_deref().unwrap_or("").trim();
    if !(config.is_admin(from) && subject.to_lowercase().starts_with(&prefix)) {
        return None;
    }
    // The prefix matched case-insensitively on a lower-cased copy; slicing by its
    // byte length is safe only when the subject starts with the same bytes' length.
    let rest = subject
        .get(config.ballots.open_subject_prefix.len()..)
        .unwrap_or("");
    let mut d = Decision::only(
        Disposition::AdminOpened,
        None,
        "an admin asked to open a ballot",
    );
    match parse_open_mail(rest, &facts.reading.text) {
        Ok(request) => {
            d.action = Some(Action::Open {
                request,
                requester: from.clone(),
                subject: subject.to_string(),
            })
        }
        Err(e) => d.refuse(from.clone(), subject.to_string(), e),
    }
    Some(d)
}

/// An official's reply to the digest `df` is about, answered, like admin
/// mail, at the verified author's address.
pub(super) fn confirmation(facts: &Facts<'_>, from: &Address, df: &DigestFacts) -> Decision {
    let digest = &df.digest;
    // A resolution is confirmed at a meeting: the one the digest was sent for
    // (an admin or the schedule named it), else the latest on the calendar
    // held between the digest and this reply. Never at a date no meeting was
    // held (the reply's own date, say), which no minutes would show.
    let meeting = digest.meeting.or_else(|| {
        crate::meetings::calendar(
            &facts.config.schedule,
            &df.added_meetings,
            local_date(facts, digest.sent_at),
            local_date(facts, facts.received),
        )
        .last()
        .map(|m| m.date)
    });
    let Some(meeting) = meeting else {
        let mut d = Decision::only(
            Disposition::Ratification,
            None,
            "a reply to a digest, but no meeting on the calendar to record it at; nothing confirmed, the secretariat was told",
        );
        d.mail(Notice::Ratified {
            requester: from.clone(),
            meeting: None,
            confirmed: vec![],
            still_pending: digest.ballots.clone(),
            no_meeting: true,
        });
        return d;
    };
    let mut still_pending = df.pending.clone();
    let wanted: Vec<BallotRef> = confirmed_by(&facts.reading.own_words, &digest.ballots)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| still_pending.contains(r))
        .collect();
    still_pending.retain(|r| !wanted.contains(r));
    let mut d = Decision::only(
        Disposition::Ratification,
        None,
        "the secretariat answered a digest",
    );
    d.action = Some(Action::Confirm {
        requester: from.clone(),
        meeting,
        wanted,
        still_pending,
    });
    d
}

/// What a reply to a digest confirms: the references it names (of those the
/// digest listed), or all of them when it says 確認済 / confirmed. A negated
/// statement (確認済ではありません, 未確認, not confirmed) confirms nothing.
///
/// Negation is judged per reference, not for the whole reply: within a line,
/// each named reference takes the verdict of the first 確認済-like or negating
/// word after it (Japanese puts it after: "001 確認済、002 未確認"), else of the
/// last one before it ("Confirmed: B-2026-001"), else it is a bare listing and
/// confirmed. A reply that names no listed reference confirms everything if it
/// says 確認済 without negating anything. One that names only exclusions ("確認済。
/// ただし B-2026-002 は未確認") confirms the rest when it also says 確認済 outside
/// those lines. A resolution's own outcome (否決) is not a negation.
pub fn confirmed_by(own_words: &str, listed: &[BallotRef]) -> Option<Vec<BallotRef>> {
    use unicode_normalization::UnicodeNormalization;
    static REF: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = REF.get_or_init(|| {
        regex::Regex::new(r"(?-u:\b)b-[0-9]{4}-[0-9]{3,6}(?-u:\b)").expect("static regex")
    });
    // Longest first, negations before the affirmations they contain.
    const NEGATIVE: &[&str] = &[
        "確認済みではありません",
        "確認済ではありません",
        "確認済みではない",
        "確認済ではない",
        "確認していません",
        "確認されていません",
        "確認されませんでした",
        "確認できませんでした",
        "not confirmed",
        "unconfirmed",
        "ではありません",
        "ではない",
        "未確認",
        "されませんでした",
        "できませんでした",
    ];
    const POSITIVE: &[&str] = &[
        "確認済",
        "確認しました",
        "確認されました",
        "承認されました",
        "confirmed",
    ];
    let text: String = own_words.nfkc().collect::<String>().to_lowercase();
    let mut named: Vec<(BallotRef, bool)> = Vec::new();
    let mut general_yes = false;
    let mut general_no = false;
    for line in text.lines() {
        // (byte offset, true for 確認済, false for a negation)
        let mut marks: Vec<(usize, bool)> = Vec::new();
        let mut i = 0;
        while i < line.len() {
            let rest = &line[i..];
            if let Some(w) = NEGATIVE.iter().find(|w| rest.starts_with(**w)) {
                marks.push((i, false));
                i += w.len();
            } else if let Some(w) = POSITIVE.iter().find(|w| rest.starts_with(**w)) {
                marks.push((i, true));
                i += w.len();
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        let refs: Vec<(usize, BallotRef)> = re
            .find_iter(line)
            .filter_map(|m| Some((m.end(), m.as_str().to_uppercase().parse().ok()?)))
            .filter(|(_, r)| listed.contains(r))
            .collect();
        if refs.is_empty() {
            general_yes |= marks.iter().any(|(_, yes)| *yes);
            general_no |= marks.iter().any(|(_, yes)| !*yes);
            continue;
        }
        for (end, r) in refs {
            let verdict = marks
                .iter()
                .find(|(at, _)| *at >= end)
                .or_else(|| marks.iter().rev().find(|(at, _)| *at < end))
                .is_none_or(|(_, yes)| *yes);
            named.retain(|(n, _)| *n != r);
            named.push((r, verdict));
        }
    }
    if named.is_empty() {
        return (general_yes && !general_no).then(|| listed.to_vec());
    }
    let confirmed: Vec<BallotRef> = if named.iter().any(|(_, yes)| *yes) {
        named
            .iter()
            .filter(|(_, yes)| *yes)
            .map(|(r, _)| *r)
            .collect()
    } else if general_yes && !general_no {
        listed
            .iter()
            .filter(|r| !named.iter().any(|(n, _)| n == *r))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    (!confirmed.is_empty()).then_some(confirmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_reply_confirms_what_it_says() {
        let a = BallotRef::new(2026, 1).unwrap();
        let b = BallotRef::new(2026, 2).unwrap();
        let listed = [a, b];
        assert_eq!(confirmed_by("確認済です。", &listed), Some(vec![a, b]));
        assert_eq!(
            confirmed_by("Confirmed at today's meeting.", &listed),
            Some(vec![a, b])
        );
        assert_eq!(
            confirmed_by("B-2026-002 は確認しました", &listed),
            Some(vec![b])
        );
        assert_eq!(confirmed_by("確認済ではありません", &listed), None);
        assert_eq!(confirmed_by("B-2026-001 は未確認です", &listed), None);
        assert_eq!(confirmed_by("資料を拝見しました", &listed), None);
        assert_eq!(
            confirmed_by("B-2026-009 確認済", &listed),
            Some(vec![a, b]),
            "an unlisted reference is ignored"
        );
    }

    #[test]
    fn a_digest_reply_is_read_reference_by_reference() {
        let a = BallotRef::new(2026, 1).unwrap();
        let b = BallotRef::new(2026, 2).unwrap();
        let c = BallotRef::new(2026, 3).unwrap();
        let listed = [a, b, c];
        // A resolution's outcome is not a negation of the confirmation.
        assert_eq!(
            confirmed_by("B-2026-003（否決）確認済", &listed),
            Some(vec![c])
        );
        assert_eq!(
            confirmed_by("B-2026-001 確認済、B-2026-002 未確認", &listed),
            Some(vec![a])
        );
        assert_eq!(
            confirmed_by(
                "B-2026-001 は確認済ではありません\nB-2026-002 確認済",
                &listed
            ),
            Some(vec![b])
        );
        // One per line, as the digest asks: a bare listing confirms.
        assert_eq!(
            confirmed_by("B-2026-001\nB-2026-003\n", &listed),
            Some(vec![a, c])
        );
        assert_eq!(
            confirmed_by("Confirmed: B-2026-002, B-2026-003", &listed),
            Some(vec![b, c])
        );
        assert_eq!(confirmed_by("Not confirmed: B-2026-002", &listed), None);
        assert_eq!(
            confirmed_by("B-2026-001、B-2026-002 は未確認です", &listed),
            None,
            "a negation after two references covers both"
        );
        // Only exclusions named, and 確認済 said on its own: the rest.
        assert_eq!(
            confirmed_by("確認済です。\nただし B-2026-002 は未確認です。", &listed),
            Some(vec![a, c])
        );
        // A negated whole reply still confirms nothing.
        assert_eq!(confirmed_by("確認済ではありません", &listed), None);
        assert_eq!(confirmed_by("まだ確認されていません", &listed), None);
        assert_eq!(
            confirmed_by("否決の議案も含め確認済です", &listed),
            Some(listed.to_vec())
        );
    }
}
