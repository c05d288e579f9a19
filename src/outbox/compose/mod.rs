//! What the bot says: one method of [`Composer`] per kind of mail, each
//! building its template's context and choosing the mail's shape.
//! `check-config` renders every template through these same methods with
//! sample data, so what it checks is what is sent.
//!
//! - `context`: what every template sees of the committee, a ballot, a member;
//! - `headers`: the constructors every mail starts from (to the list, a reply
//!   to a member about a ballot, a reply to whoever wrote), which fix its
//!   recipients, thread, Reply-To and Message-ID;
//! - `ballot_mail`: announcements, results, extensions, cancellations, reminders;
//! - `replies`: what a member hears back about their mail;
//! - `officials`: mail to admins, the secretariat and the security contact;
//! - `digest`: the ratification digest, with its HTML and CSV;
//! - `samples`: what `check-config` renders, and the golden tests that pin it.

mod ballot_mail;
mod calendar;
mod context;
mod digest;
mod headers;
mod officials;
mod replies;
mod samples;

use chrono::{DateTime, Utc};

pub use calendar::EntryState;
pub use replies::{NotOpenWhy, Recorded};
pub use samples::Sample;

use super::templates::Templates;
use super::{message_id, MessageIdKey};
use crate::ballot::deadline::format_deadline;
use crate::config::Config;
use crate::domain::{Address, BallotRef};
use crate::language::Language;
use crate::roster::Organisation;
use crate::zone::Tz;

/// The member a personal mail is about: the organisation and the address that wrote.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub org: &'a Organisation,
    pub voter: &'a Address,
}

/// The message being answered: its Message-ID and a digest of its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    pub message_id: Option<&'a str>,
    pub content_hash: &'a str,
}

/// Builds the bot's mails for one configuration.
pub struct Composer<'a> {
    pub config: &'a Config,
    pub templates: &'a Templates,
    /// The installation's key for Message-IDs (`Store::message_id_key`).
    pub ids: &'a MessageIdKey,
}

impl<'a> Composer<'a> {
    /// A composer writing in the templates' language.
    pub fn new(config: &'a Config, templates: &'a Templates, ids: &'a MessageIdKey) -> Self {
        Self {
            config,
            templates,
            ids,
        }
    }

    /// A Message-ID of this installation (see [`message_id`]).
    fn message_id(
        &self,
        ballot: Option<(BallotRef, u32)>,
        kind: &str,
        unique: Option<&str>,
    ) -> String {
        message_id(self.ids, ballot, kind, unique, self.domain())
    }

    pub(super) fn lang(&self) -> Language {
        self.templates.language()
    }

    fn tz(&self) -> Tz {
        self.config.organisation.time_zone
    }

    fn domain(&self) -> &str {
        self.config.message_id_domain()
    }

    /// A moment as members read it, in the organisation's zone.
    pub fn when(&self, t: DateTime<Utc>) -> String {
        format_deadline(t, self.tz(), self.lang())
    }
}
