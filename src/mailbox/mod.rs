//! Where replies come from: an IMAP folder, or a local Maildir.
//!
//! A source hands out messages in arrival order after a cursor, each with the
//! time the server received it (IMAP INTERNALDATE, or the Maildir file's
//! modification time, which is what Dovecot itself reports as INTERNALDATE).
//! The source never marks anything read or deletes anything: the cursor lives in
//! the database and moves in the same transaction as each message's effects.

pub mod imap;
pub mod maildir;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::config::{Config, MailboxConfig};
use crate::store::Cursor;

/// One message as the mailbox holds it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Unique within the source: `uid:<uidvalidity>:<uid>` or a Maildir file name.
    pub key: String,
    /// The IMAP UID, when there is one.
    pub uid: Option<u32>,
    /// When the server received it: the time of a vote.
    pub internal_date: DateTime<Utc>,
    /// The message, or only its first part when it is larger than the reading cap
    /// (`max_message_bytes`): then `raw.len() < size`.
    pub raw: Vec<u8>,
    /// The whole message's size in bytes (IMAP RFC822.SIZE), kept in the record.
    pub size: usize,
}

/// A run of messages after a cursor.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The folder's UIDVALIDITY (0 for a Maildir).
    pub uidvalidity: u32,
    pub messages: Vec<Fetched>,
    /// The highest UID this batch covered, even where UIDs were missing, so the
    /// cursor can move past expunged messages.
    pub scanned_to: u32,
    /// True when more messages wait after this batch.
    pub more: bool,
    /// About how many messages wait after this batch (at most this many), for
    /// showing progress.
    pub pending: usize,
}

/// A mailbox failure: logged, and the daemon reconnects with backoff.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    /// The connection could not be made safe: a certificate refused, or no
    /// STARTTLS. One sentence that says which and what to set.
    #[error("{0}")]
    Tls(String),
    #[error("the server refused the login for {0}")]
    Login(String),
    #[error("IMAP error: {0}")]
    Imap(String),
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// A place replies arrive.
pub trait MailSource: Send {
    /// Messages after `cursor`, oldest first, at most `max`.
    fn fetch<'a>(
        &'a mut self,
        cursor: Option<Cursor>,
        max: usize,
    ) -> BoxFuture<'a, Result<Batch, MailboxError>>;
    /// Called once a message's transaction has committed (a Maildir moves the
    /// file to cur/; IMAP needs nothing, its cursor is in the database).
    fn committed<'a>(&'a mut self, message: &'a Fetched)
        -> BoxFuture<'a, Result<(), MailboxError>>;
    /// Waits until new mail may have arrived (IMAP IDLE) or `timeout` passes.
    fn wait<'a>(&'a mut self, timeout: Duration) -> BoxFuture<'a, Result<(), MailboxError>>;
    /// Logs out cleanly.
    fn close(&mut self) -> BoxFuture<'_, ()>;
    /// True when the batch after a cursor can be fetched before the messages
    /// before it are `committed` (the cursor alone says what comes next).
    fn reads_ahead(&self) -> bool {
        false
    }
}

/// Opens the configured source.
pub fn from_config(config: &Config) -> Box<dyn MailSource> {
    match &config.mailbox {
        MailboxConfig::Imap(i) => Box::new(imap::ImapSource::new(
            i.clone(),
            config.limits.max_message_bytes,
        )),
        MailboxConfig::Maildir { path } => Box::new(maildir::MaildirSource::new(path.clone())),
    }
}
