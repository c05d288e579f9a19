//! What a member hears back about their mail: the receipt for a counted
//! answer, and why an answer was not counted (too late, unclear, unverified,
//! about a ballot that does not exist), or that a dispute was received.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::headers::tag;
use super::{Answering, Composer, Member};
use crate::ballot::rules::VoteChanges;
use crate::ballot::{Ballot, VoteRecord};
use crate::domain::{Address, BallotRef, Position};
use crate::outbox::templates::TemplateError;
use crate::outbox::{AutoSubmitted, Mail};
use crate::reading::silence::Silence;
use crate::roster::Organisation;

/// The member's words as the mail quotes them back: the first lines that say something.
fn quoted(own_words: &str) -> Vec<&str> {
    own_words
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(12)
        .collect()
}

/// Why an answer was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOpenWhy {
    Late,
    Cancelled,
    Early,
    /// The reply answers the mail of another round (the round it names).
    OtherRound(u32),
}

impl NotOpenWhy {
    fn as_str(&self) -> &'static str {
        match self {
            NotOpenWhy::Late => "late",
            NotOpenWhy::Cancelled => "cancelled",
            NotOpenWhy::Early => "early",
            NotOpenWhy::OtherRound(_) => "other_round",
        }
    }
}

/// An answer as recorded, for its receipt.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub position: Position,
    /// The server's INTERNALDATE.
    pub received_at: DateTime<Utc>,
    /// The words that were read as the answer.
    pub evidence: &'a str,
    /// The answer this one replaces, if any.
    pub superseded: Option<Position>,
}

impl Composer<'_> {
    /// The receipt for a counted answer, to every registered address of the organisation.
    pub fn receipt(
        &self,
        b: &Ballot,
        member: Member<'_>,
        answer: Recorded<'_>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "receipt",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "answer": self.position_label(answer.position),
                "position": answer.position.as_str(),
                "received_at": self.when(answer.received_at),
                "evidence": answer.evidence,
                "superseded": answer.superseded.map(|p| self.position_label(p)),
                // Where the first answer is final, a later one is recorded only.
                "kept": answer.superseded.filter(|_| b.profile.vote_changes == VoteChanges::Closed).map(|p| self.position_label(p)),
            })),
        )?;
        Ok(self.member_reply("receipt", b, member.org, answering, r))
    }

    /// An answer that was recorded but not counted (late, cancelled ballot, dated before opening).
    pub fn not_open(
        &self,
        b: &Ballot,
        member: Member<'_>,
        why: NotOpenWhy,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "not_open",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "why": why.as_str(),
                "answered_round": match why {
                    NotOpenWhy::OtherRound(n) => Some(n),
                    _ => None,
                },
                "received_at": self.when(received_at),
            })),
        )?;
        Ok(self.member_reply("not_open", b, member.org, answering, r))
    }

    /// An answer in a reply to several ballots that nothing verified for its
    /// ballot: the reply went to the personal reply address of `token_ballot`,
    /// which speaks for that ballot only. Sent with this ballot's personal
    /// Reply-To, so answering it verifies.
    pub fn not_verified(
        &self,
        b: &Ballot,
        member: Member<'_>,
        position: Position,
        token_ballot: BallotRef,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "not_verified",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "answer": self.position_label(position),
                "token_ballot": token_ballot.to_string(),
                "received_at": self.when(received_at),
            })),
        )?;
        Ok(self.member_reply("not_verified", b, member.org, answering, r))
    }

    /// A request for a clear answer, quoting what was read. `delegation` says the
    /// member wrote 一任 under a rule that does not define it; `reason` is the
    /// reader's explanation (English), shown by the English template.
    pub fn unclear(
        &self,
        b: &Ballot,
        member: Member<'_>,
        own_words: &str,
        reason: &str,
        delegation: bool,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unclear",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "quoted": quoted(own_words),
                "reason": reason,
                "delegation": delegation,
                "too_large": null,
            })),
        )?;
        Ok(self.member_reply("unclear", b, member.org, answering, r))
    }

    /// The `unclear` mail for a reply too large to read: it says so, with the
    /// message's size and the limit, and asks for a short answer without
    /// attachments, which a member can act on where "we could not read your answer"
    /// alone would leave them guessing.
    pub fn too_large(
        &self,
        b: &Ballot,
        member: Member<'_>,
        size: usize,
        limit: usize,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unclear",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "quoted": [],
                "reason": "",
                "delegation": false,
                "too_large": { "size": bytes_for_people(size), "limit": bytes_for_people(limit) },
            })),
        )?;
        Ok(self.member_reply("unclear", b, member.org, answering, r))
    }

    /// A member's mail about `b` with no answer in it: what the bot saw
    /// (`silence`), and how to answer, so that nobody believes they answered
    /// when they did not, and a question is pointed to people who can answer it.
    pub fn no_answer(
        &self,
        b: &Ballot,
        member: Member<'_>,
        own_words: &str,
        silence: Silence,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let addresses = &self.config.addresses;
        // Whoever can answer a question about the motion: the secretariat, else the chair.
        let contact = addresses
            .secretariat
            .first()
            .or(addresses.admins.first())
            .map_or(addresses.list.as_str(), |a| a.as_str());
        let r = self.templates.render(
            "no_answer",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "quoted": quoted(own_words),
                "silence": silence.as_str(),
                "contact": contact,
            })),
        )?;
        Ok(self.member_reply("no_answer", b, member.org, answering, r))
    }

    /// Where an organisation stands, for its status query (状況 / status):
    /// every open ballot, its deadline, and the answer that counts for the
    /// organisation in the current round, to all its registered addresses.
    pub fn status(
        &self,
        org: &Organisation,
        voter: &Address,
        ballots: &[(&Ballot, Option<&VoteRecord>)],
        as_of: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let rows: Vec<_> = ballots
            .iter()
            .map(|(b, counted)| {
                json!({
                    "ballot": self.ballot_view(b),
                    "answer": counted.map(|v| self.position_label(v.position)),
                    "at": counted.map(|v| self.when(v.cast_at)),
                })
            })
            .collect();
        let r = self.templates.render(
            "status",
            self.ctx(json!({
                "member": self.member_view(Member { org, voter }),
                "as_of": self.when(as_of),
                "ballots": rows,
            })),
        )?;
        Ok(self.reply(
            "status",
            None,
            org.addresses().cloned().collect(),
            answering,
            r,
        ))
    }

    /// A member named a ballot that does not exist.
    pub fn unknown_ballot(
        &self,
        reference: BallotRef,
        member: Member<'_>,
        subject: &str,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unknown_ballot",
            self.ctx(json!({
                "reference": reference.to_string(),
                "member": self.member_view(member),
                "subject": subject,
            })),
        )?;
        Ok(Mail {
            // Its Message-ID spells the kind with a hyphen, as it always has
            // (the golden files pin it).
            message_id: self.message_id(None, "unknown-ballot", Some(&tag(answering))),
            ..self.reply(
                "unknown_ballot",
                None,
                member.org.addresses().cloned().collect(),
                answering,
                r,
            )
        })
    }

    /// Tells an organisation that a message claiming to be from it failed sender
    /// verification and was not counted.
    pub fn unverified(
        &self,
        org: Option<&Organisation>,
        ballot: Option<&Ballot>,
        claimed: &Address,
        summary: &str,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        // A member's organisation at all its registered addresses; an official
        // (admin, secretariat) at the address the message claimed.
        let (member, to) = match org {
            Some(org) => (
                self.member_view(Member {
                    org,
                    voter: claimed,
                }),
                org.addresses().cloned().collect(),
            ),
            None => (
                json!({ "greeting": self.official_greeting(claimed), "voter": claimed.as_str() }),
                vec![claimed.clone()],
            ),
        };
        let r = self.templates.render(
            "unverified",
            self.ctx(json!({
                "ballot": ballot.map(|b| self.ballot_view(b)),
                "member": member,
                "official": org.is_none(),
                "received_at": self.when(received_at),
                "summary": summary,
                "security_contact": !self.config.addresses.security_contact.is_empty(),
            })),
        )?;
        // In no thread: the organisation may never have seen the message it
        // is about, which someone else may have written.
        Ok(self.mail(
            "unverified",
            ballot.map(|b| (b.reference, b.current_round().number)),
            Some(&tag(answering)),
            to,
            AutoSubmitted::Replied,
            r,
        ))
    }

    /// Confirms to an organisation that its dispute of a vote recorded in its
    /// name was received and the vote no longer counts until an admin decides.
    pub fn disputed(
        &self,
        b: &Ballot,
        org: &Organisation,
        round: u32,
        position: Position,
        reported_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "disputed",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(Member { org, voter: &org.representative }),
                "round": round,
                "answer": self.position_label(position),
                "reported_at": self.when(reported_at),
                "security_contact": !self.config.addresses.security_contact.is_empty(),
            })),
        )?;
        Ok(self.member_reply("disputed", b, org, answering, r))
    }

    /// Tells an organisation what an admin decided about its dispute
    /// (`dispute resolve`): upheld, the vote never counts; dismissed, it counts
    /// again; with the admin's note, and the closed rounds whose recorded
    /// result the decision would change (for the meeting to confirm).
    pub fn dispute_decided(
        &self,
        b: &Ballot,
        org: &Organisation,
        upheld: bool,
        note: Option<&str>,
        changed_rounds: &[u32],
        decided_at: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "dispute_decided",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(Member { org, voter: &org.representative }),
                "upheld": upheld,
                "note": note.map(str::trim).filter(|n| !n.is_empty()),
                "changed_rounds": changed_rounds,
                "decided_at": self.when(decided_at),
            })),
        )?;
        // One per decision: an organisation may dispute again and be decided again.
        let unique = format!("{}.{}", org.id.as_str(), decided_at.timestamp());
        Ok(self.mail(
            "dispute_decided",
            Some((b.reference, b.current_round().number)),
            Some(&unique),
            org.addresses().cloned().collect(),
            AutoSubmitted::Generated,
            r,
        ))
    }
}

/// A size as mail clients show it: "68 KB", "12.1 MB" (binary units, as they count).
fn bytes_for_people(bytes: usize) -> String {
    const KB: usize = 1024;
    const MB: usize = 1024 * 1024;
    if bytes < MB {
        format!("{} KB", bytes.div_ceil(KB))
    } else {
        let tenths = (bytes * 10).div_ceil(MB);
        match tenths % 10 {
            0 => format!("{} MB", tenths / 10),
            t => format!("{}.{t} MB", tenths / 10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_as_mail_clients_show_them() {
        assert_eq!(bytes_for_people(70_000), "69 KB");
        assert_eq!(bytes_for_people(65_536), "64 KB");
        assert_eq!(bytes_for_people(10 * 1024 * 1024), "10 MB");
        assert_eq!(bytes_for_people(12_740_000), "12.2 MB");
    }
}
