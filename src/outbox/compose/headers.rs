//! The shapes the bot's mail comes in: every kind of mail starts from one of
//! these constructors and says only what differs, so mails for the same
//! audience cannot drift apart in their recipients, thread, Reply-To or
//! Auto-Submitted.

use sha2::{Digest, Sha256};

use super::{Answering, Composer};
use crate::ballot::Ballot;
use crate::domain::{Address, BallotRef};
use crate::outbox::templates::Rendered;
use crate::outbox::{AutoSubmitted, Mail};
use crate::roster::Organisation;

/// A short, stable tag from the answered message, so each answer mail gets its
/// own Message-ID and a retry gets the same one.
pub(super) fn tag(a: &Answering<'_>) -> String {
    let mut h = Sha256::new();
    h.update(a.message_id.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(a.content_hash.as_bytes());
    hex::encode(&h.finalize()[..6])
}

impl Composer<'_> {
    /// The Message-ID of round `round`'s announcement to the list: the root
    /// of that round's thread, which every other mail about the round joins.
    pub(super) fn announce_id(&self, b: &Ballot, round: u32) -> String {
        self.message_id(Some((b.reference, round)), "announce", None)
    }

    /// `s` with the ballot's tag in front, unless the template put the tag
    /// somewhere itself.
    pub(super) fn subject(&self, reference: BallotRef, s: &str) -> String {
        let tag = format!("[{reference}]");
        if s.contains(&tag) {
            s.to_string()
        } else {
            format!("{tag} {s}")
        }
    }

    /// The mail every constructor below starts from: `kind` to `to`, in no
    /// thread, with no Reply-To. A mail `about` a ballot's round carries the
    /// ballot's tag in its subject and a Message-ID beginning with the
    /// reference and round, so a reply finds the ballot even if its subject
    /// was rewritten; `unique` tells apart mails of one kind in one round.
    pub(super) fn mail(
        &self,
        kind: &'static str,
        about: Option<(BallotRef, u32)>,
        unique: Option<&str>,
        to: Vec<Address>,
        auto: AutoSubmitted,
        text: Rendered,
    ) -> Mail {
        Mail {
            kind,
            ballot: about.map(|(b, _)| b),
            message_id: self.message_id(about, kind, unique),
            to,
            subject: match about {
                Some((b, _)) => self.subject(b, &text.subject),
                None => text.subject,
            },
            body: text.body,
            in_reply_to: None,
            references: vec![],
            auto,
            reply_to: None,
            html: None,
            attachments: vec![],
        }
    }

    /// A mail to the committee list about `round` of `b`, threaded under that
    /// round's announcement. Replies go to the bot, which reads them as answers.
    pub(super) fn list_mail(
        &self,
        kind: &'static str,
        b: &Ballot,
        round: u32,
        unique: Option<&str>,
        text: Rendered,
    ) -> Mail {
        let announce = self.announce_id(b, round);
        Mail {
            in_reply_to: Some(announce.clone()),
            references: vec![announce],
            reply_to: Some(self.config.addresses.bot.clone()),
            ..self.mail(
                kind,
                Some((b.reference, round)),
                unique,
                vec![self.config.addresses.list.clone()],
                AutoSubmitted::Generated,
                text,
            )
        }
    }

    /// An answer to a member's mail about `b`: to every registered address of
    /// the organisation (whichever of them wrote, all of them hear), threaded
    /// under the round's announcement and the member's message, with a
    /// Message-ID drawn from that message, so a retry writes the same one.
    pub(super) fn member_reply(
        &self,
        kind: &'static str,
        b: &Ballot,
        org: &Organisation,
        answering: &Answering<'_>,
        text: Rendered,
    ) -> Mail {
        let round = b.current_round().number;
        let mut references = vec![self.announce_id(b, round)];
        references.extend(answering.message_id.map(str::to_string));
        Mail {
            in_reply_to: answering.message_id.map(str::to_string),
            references,
            ..self.mail(
                kind,
                Some((b.reference, round)),
                Some(&tag(answering)),
                org.addresses().cloned().collect(),
                AutoSubmitted::Replied,
                text,
            )
        }
    }

    /// An answer to `to` about the mail they sent (an admin's request, the
    /// secretariat's confirmation, a member's mail that names no ballot the
    /// bot knows), threaded under that mail alone.
    pub(super) fn reply(
        &self,
        kind: &'static str,
        about: Option<(BallotRef, u32)>,
        to: Vec<Address>,
        answering: &Answering<'_>,
        text: Rendered,
    ) -> Mail {
        Mail {
            in_reply_to: answering.message_id.map(str::to_string),
            references: answering
                .message_id
                .map(str::to_string)
                .into_iter()
                .collect(),
            ..self.mail(
                kind,
                about,
                Some(&tag(answering)),
                to,
                AutoSubmitted::Replied,
                text,
            )
        }
    }
}
