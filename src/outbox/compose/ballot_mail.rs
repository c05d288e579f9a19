//! Mail about a ballot to the committee: the announcement of each round (to
//! the list, and personally to each organisation), the result, a new
//! deadline, a cancellation, and reminders to those who have not answered.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::calendar::EntryState;
use super::{Composer, Member};
use crate::ballot::{Ballot, RoundClosed, VoteRecord};
use crate::domain::Address;
use crate::language::Language;
use crate::outbox::templates::TemplateError;
use crate::outbox::Mail;
use crate::roster::Organisation;

impl Composer<'_> {
    /// The announcement of the current round to the committee list.
    /// `personal_follow`: each organisation also gets its personal copy (the
    /// policy uses reply tokens), so the list's copy asks members to answer
    /// that one, whose reply proves itself, rather than this one.
    pub fn announce(&self, b: &Ballot, personal_follow: bool) -> Result<Mail, TemplateError> {
        self.announce_to(b, None, personal_follow)
    }

    /// The same announcement sent personally to an organisation's representative,
    /// with a Reply-To whose token proves a reply answers this very mail.
    pub fn personal_announce(
        &self,
        b: &Ballot,
        org: &Organisation,
        reply_to: Address,
    ) -> Result<Mail, TemplateError> {
        self.announce_to(b, Some((org, reply_to)), true)
    }

    fn announce_to(
        &self,
        b: &Ballot,
        personal: Option<(&Organisation, Address)>,
        personal_follow: bool,
    ) -> Result<Mail, TemplateError> {
        let round = b.current_round().number;
        let previous = b
            .rounds
            .iter()
            .rev()
            .nth(1)
            .and_then(|r| r.tally.as_ref())
            .map(|t| json!({ "present": t.present, "eligible": t.counts.eligible }))
            .unwrap_or(json!({ "present": 0, "eligible": b.roster.eligible() }));
        let member = personal.as_ref().map(|(org, _)| {
            self.member_view(Member {
                org,
                voter: &org.representative,
            })
        });
        let r = self.templates.render(
            "announce",
            self.ctx(
                json!({ "ballot": self.ballot_view(b), "previous": previous, "personal": member, "personal_follow": personal_follow && member.is_none() }),
            ),
        )?;
        // A re-ballot continues the thread of the first round's announcement.
        let first = (round > 1).then(|| self.announce_id(b, 1));
        // The deadline in the members' calendars (see `calendar`).
        let entry = self.deadline_entry(b, EntryState::Open);
        Ok(match personal {
            // The list's announcement opens the round's thread.
            None => Mail {
                in_reply_to: first.clone(),
                references: first.into_iter().collect(),
                attachments: vec![entry],
                ..self.list_mail("announce", b, round, None, r)
            },
            Some((org, reply_to)) => {
                // Threaded under the list's announcement (and a re-ballot's under
                // the first round's too), so a reply to either finds the ballot.
                let mut mail = self.list_mail("personal", b, round, Some(org.id.as_str()), r);
                mail.references.splice(0..0, first);
                Mail {
                    // The representative and the alternates: any of them may answer.
                    to: org.addresses().cloned().collect(),
                    reply_to: Some(reply_to),
                    attachments: vec![entry],
                    ..mail
                }
            }
        })
    }

    /// The result of a round, to the committee list.
    pub fn result(
        &self,
        b: &Ballot,
        closed: &RoundClosed,
        votes: &[VoteRecord],
    ) -> Result<Mail, TemplateError> {
        let (next_round, next_deadline) = match closed.next {
            crate::ballot::Next::Reballot { round, deadline } => {
                (Some(round), Some(self.when(deadline)))
            }
            crate::ballot::Next::Final(_) => (None, None),
        };
        let r = self.templates.render(
            "result",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "round": closed.round,
                "tally": closed.tally,
                // The arithmetic in the mail's language (the tally's own working is English).
                "working": match self.lang() {
                    Language::Ja => crate::ballot::working::in_japanese(&b.profile, &closed.tally),
                    Language::En => closed.tally.working.clone(),
                },
                "outcome": closed.tally.outcome.as_str(),
                "outcome_label": self.outcome_label(closed.tally.outcome),
                "table": self.answer_table(b, votes, closed.round),
                "next_round": next_round,
                "next_deadline": next_deadline,
                // Closed by an admin before its deadline (`close`): the mail must
                // not say the deadline came.
                "closed_early": b
                    .rounds
                    .iter()
                    .find(|r| r.number == closed.round)
                    .and_then(|r| r.closed_at.map(|c| c < r.deadline))
                    .unwrap_or(false),
            })),
        )?;
        Ok(self.list_mail("result", b, closed.round, None, r))
    }

    /// A new deadline, to the committee list.
    pub fn extended(&self, b: &Ballot, old_deadline: DateTime<Utc>) -> Result<Mail, TemplateError> {
        let round = b.current_round();
        let r = self.templates.render(
            "extended",
            self.ctx(
                json!({ "ballot": self.ballot_view(b), "old_deadline": self.when(old_deadline) }),
            ),
        )?;
        // One per new deadline: a second extension is a mail of its own.
        let unique = round.deadline.timestamp().to_string();
        Ok(Mail {
            // The calendar entry moves with the deadline.
            attachments: vec![self.deadline_entry(b, EntryState::Open)],
            ..self.list_mail("extended", b, round.number, Some(&unique), r)
        })
    }

    /// A cancellation, to the committee list.
    pub fn cancelled(&self, b: &Ballot) -> Result<Mail, TemplateError> {
        let round = b.current_round().number;
        let r = self.templates.render(
            "cancelled",
            self.ctx(json!({ "ballot": self.ballot_view(b) })),
        )?;
        Ok(Mail {
            // The calendar entry is withdrawn.
            attachments: vec![self.deadline_entry(b, EntryState::Cancelled)],
            ..self.list_mail("cancelled", b, round, None, r)
        })
    }

    /// A reminder to an organisation that has not answered, to its representative.
    pub fn reminder(
        &self,
        b: &Ballot,
        org: &Organisation,
        before: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let round = b.current_round();
        let hours_left = ((round.deadline - now).num_minutes() + 30).max(0) / 60;
        let r = self.templates.render(
            "reminder",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(Member { org, voter: &org.representative }),
                "hours_left": hours_left,
            })),
        )?;
        // One per organisation, offset and deadline: an extended deadline reminds again.
        let unique = format!(
            "{}.{}h.{}",
            round.deadline.timestamp(),
            before.num_hours(),
            org.id
        );
        Ok(Mail {
            to: vec![org.representative.clone()],
            ..self.list_mail("reminder", b, round.number, Some(&unique), r)
        })
    }
}
