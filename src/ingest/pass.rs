//! A pass over the mailbox: read it to its end, a batch per transaction,
//! fetching and reading the next batch while this one is recorded; a count on
//! a terminal, quiet under cron.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::app::{App, AppError};
use crate::disposition::Disposition;
use crate::mailbox::{Batch, Fetched, MailSource, MailboxError};
use crate::reading::Reading;
use crate::store::{Cursor, Store, StoreError};

use super::prepare::{prepare, read_one};
use super::record::record_batch;

/// What a pass over the mailbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub processed: usize,
    pub skipped: usize,
    pub counted: usize,
    pub by_disposition: std::collections::BTreeMap<&'static str, usize>,
}

/// A pass failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    Mailbox(#[from] MailboxError),
    #[error("{0}")]
    App(#[from] AppError),
}

impl PollError {
    /// True when the database failed, not the mailbox.
    pub fn is_database(&self) -> bool {
        matches!(self, PollError::App(a) if a.is_database())
    }
}

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> Self {
        PollError::App(AppError::Store(e))
    }
}

/// Shows how far a long read has got, on a terminal only (cron stays quiet).
struct Progress {
    on: bool,
    last: Option<std::time::Instant>,
    shown: bool,
}

impl Progress {
    fn new(on: bool) -> Self {
        Progress {
            on,
            last: None,
            shown: false,
        }
    }

    /// At most once a second; the first after a second of work.
    fn show(&mut self, done: usize, pending: usize) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        let last = *self.last.get_or_insert(now);
        if now.duration_since(last) < std::time::Duration::from_secs(1) {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        if pending > 0 {
            eprint!("\r{done} of about {} messages read", done + pending);
        } else {
            eprint!("\r{done} messages read");
        }
    }

    fn finish(&self, done: usize) {
        if self.shown {
            eprintln!("\r{done} messages read{}", " ".repeat(24));
        }
    }
}

/// A batch fetched (and read) while the one before it was recorded: when its
/// fetch began, the cursor it was fetched after, and what came back.
type ReadAhead = (
    DateTime<Utc>,
    Option<Cursor>,
    Result<(Batch, Vec<(Reading, String)>), MailboxError>,
);

/// Reads the mailbox to its end, processing every new message, a batch per
/// transaction. On a terminal the count is shown as it goes; under cron it stays
/// quiet.
pub async fn poll(app: &App, src: &mut dyn MailSource) -> Result<PollReport, PollError> {
    poll_until(app, src, &CancellationToken::new()).await
}

/// `poll`, stopping early once `stop` is cancelled: after the batch in hand
/// is committed, never inside it (a daemon asked to stop finishes what it is
/// recording; the rest is read at the next start).
pub async fn poll_until(
    app: &App,
    src: &mut dyn MailSource,
    stop: &CancellationToken,
) -> Result<PollReport, PollError> {
    let name = app.source_name();
    let mut report = PollReport::default();
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let max = app.config.limits.messages_per_transaction;
    // A batch read ahead while the one before it was recorded, and when its
    // fetch began: the mailbox is read to its end as of that instant.
    let mut ahead: Option<ReadAhead> = None;
    loop {
        // A batch, recorded in one transaction: its size bounds memory however
        // large the backlog (the mailbox also caps its bytes) and spreads one
        // commit's fsync over many messages.
        let (started, cursor, batch, read) = match ahead.take() {
            Some((at, cursor, fetched)) => {
                let (batch, read) = fetched?;
                (at, cursor, batch, Some(read))
            }
            None => {
                let started = app.now();
                let cursor = app.store.cursor(&name).await?;
                (started, cursor, src.fetch(cursor, max).await?, None)
            }
        };
        let now = app.now();
        let clock = std::time::Instant::now();
        let (prepared, deferred) = prepare(app, &batch.messages, read, now).await?;
        debug!(
            messages = batch.messages.len(),
            prepare_ms = clock.elapsed().as_secs_f64() * 1e3,
            "batch prepared"
        );
        let uidvalidity = batch.uidvalidity;
        let at = |f: &Fetched| {
            f.uid.map(|uid| Cursor {
                uidvalidity,
                last_uid: uid,
            })
        };
        // Reading the next batch from the server while this one is recorded
        // keeps both the network and the database busy. Only a source whose
        // cursor is the UID can: a Maildir hands out what is still in new/.
        let read_ahead = batch.more && deferred.is_none() && src.reads_ahead();
        let done = if read_ahead {
            let next_cursor = Some(Cursor {
                uidvalidity,
                last_uid: batch.scanned_to,
            });
            let fetch_started = app.now();
            let opts = app.read_options.clone();
            let fetch_and_read = async {
                let clock = std::time::Instant::now();
                let next = src.fetch(next_cursor, max).await?;
                let fetched = clock.elapsed();
                // Reading is pure and most of a backlog's work: on the other core,
                // while this batch is recorded (one thread: recording has the first).
                let read = tokio::task::spawn_blocking(move || {
                    let read = next.messages.iter().map(|f| read_one(f, &opts)).collect();
                    (next, read)
                })
                .await
                .map_err(|e| match e.try_into_panic() {
                    Ok(p) => std::panic::resume_unwind(p),
                    Err(e) => MailboxError::Io(std::io::Error::other(e)),
                });
                debug!(
                    fetch_ms = fetched.as_secs_f64() * 1e3,
                    read_ms = (clock.elapsed() - fetched).as_secs_f64() * 1e3,
                    "next batch fetched and read"
                );
                read
            };
            let (done, next) =
                tokio::join!(record_batch(app, &name, &prepared, at, now), fetch_and_read);
            ahead = Some((fetch_started, next_cursor, next));
            done?
        } else {
            record_batch(app, &name, &prepared, at, now).await?
        };
        for (f, p) in &done {
            src.committed(f).await?;
            if p.skipped {
                report.skipped += 1;
            } else {
                report.processed += 1;
                *report
                    .by_disposition
                    .entry(p.disposition.as_str())
                    .or_default() += 1;
                if p.disposition == Disposition::Vote {
                    report.counted += 1;
                }
            }
        }
        if let Some(e) = deferred {
            progress.finish(report.processed);
            return Err(e.into());
        }
        // UIDs with no message left (expunged): move past them too.
        let last_uid = batch
            .messages
            .iter()
            .filter_map(|m| m.uid)
            .max()
            .or(cursor
                .filter(|c| c.uidvalidity == batch.uidvalidity)
                .map(|c| c.last_uid))
            .unwrap_or(0);
        if batch.uidvalidity != 0 && batch.scanned_to > last_uid {
            let mut tx = app.store.begin().await?;
            Store::save_cursor(
                &mut tx,
                &name,
                Cursor {
                    uidvalidity: batch.uidvalidity,
                    last_uid: batch.scanned_to,
                },
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        progress.show(report.processed + report.skipped, batch.pending);
        if !batch.more {
            app.store.mark_synced(&name, started).await?;
            break;
        }
        if stop.is_cancelled() {
            debug!("stopping after the batch in hand");
            break;
        }
    }
    progress.finish(report.processed + report.skipped);
    if report.processed > 0 {
        info!(
            processed = report.processed,
            counted = report.counted,
            "mailbox read"
        );
    } else {
        debug!("no new mail");
    }
    Ok(report)
}

/// Logs a mailbox failure at the right level.
pub fn log_poll_error(e: &PollError) {
    match e {
        PollError::Mailbox(m) => warn!(error = %m, "cannot read the mailbox; will retry"),
        PollError::App(a) => error!(error = %a, "processing mail failed; will retry"),
    }
}
