//! A Maildir as the bot's mailbox: new messages are the files in `new/`, taken
//! in order of arrival (modification time, then name); a message whose effects
//! have committed moves to `cur/` with the Seen flag. A crash between the commit
//! and the move is harmless: the database knows the file name and skips it.
//! The Maildir must belong to the bot: another client moving files out of `new/`
//! would hide them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::{Batch, Fetched, MailSource, MailboxError};
use crate::store::Cursor;

/// A local Maildir.
pub struct MaildirSource {
    root: PathBuf,
}

impl MaildirSource {
    /// Reads `root/new`; creates the Maildir folders if they are missing.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Creates `tmp`, `new` and `cur`.
    pub fn create(root: &Path) -> std::io::Result<()> {
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(())
    }

    /// Delivers a message the way an MDA does (tmp/ then rename into new/), with
    /// `received` as its modification time: the demo and tests use this.
    pub fn deliver(
        root: &Path,
        name: &str,
        raw: &[u8],
        received: DateTime<Utc>,
    ) -> std::io::Result<PathBuf> {
        Self::create(root)?;
        let tmp = root.join("tmp").join(name);
        std::fs::write(&tmp, raw)?;
        let f = std::fs::File::options().write(true).open(&tmp)?;
        f.set_modified(std::time::SystemTime::from(received))?;
        drop(f);
        let dest = root.join("new").join(name);
        std::fs::rename(&tmp, &dest)?;
        Ok(dest)
    }
}

impl MailSource for MaildirSource {
    fn fetch<'a>(
        &'a mut self,
        _cursor: Option<Cursor>,
        max: usize,
    ) -> BoxFuture<'a, Result<Batch, MailboxError>> {
        Box::pin(async move {
            let root = self.root.clone();
            tokio::task::spawn_blocking(move || read_new(&root, max))
                .await
                .map_err(|e| MailboxError::Io(std::io::Error::other(e)))?
        })
    }

    fn committed<'a>(
        &'a mut self,
        message: &'a Fetched,
    ) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async move {
            let from = self.root.join("new").join(&message.key);
            let to = self.root.join("cur").join(format!("{}:2,S", message.key));
            match tokio::fs::rename(&from, &to).await {
                Ok(()) => Ok(()),
                // Already moved (a second run after a crash): nothing to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn wait<'a>(&'a mut self, timeout: Duration) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async move {
            tokio::time::sleep(timeout).await;
            Ok(())
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

fn read_new(root: &Path, max: usize) -> Result<Batch, MailboxError> {
    let new = root.join("new");
    if !new.exists() {
        MaildirSource::create(root)?;
    }
    let mut entries = Vec::new();
    for e in std::fs::read_dir(&new)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type()?.is_file() {
            continue;
        }
        let modified: DateTime<Utc> = e.metadata()?.modified()?.into();
        entries.push((modified, name));
    }
    entries.sort();
    let total = entries.len();
    let mut messages = Vec::with_capacity(entries.len().min(max));
    let mut bytes = 0;
    for (modified, name) in entries.into_iter().take(max) {
        // The same byte budget per batch as IMAP: memory stays bounded.
        if !messages.is_empty() && bytes >= super::imap::BATCH_BYTES {
            break;
        }
        let raw = match std::fs::read(new.join(&name)) {
            Ok(r) => r,
            // Moved away between listing and reading: gone from new/, skip.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        bytes += raw.len();
        // Read whole, whatever its size: the reader reads an oversized one by its
        // headers, and DKIM can still check the body a cut copy would lack.
        messages.push(Fetched {
            key: name,
            uid: None,
            internal_date: DateTime::from_timestamp(modified.timestamp(), 0).unwrap_or(modified),
            size: raw.len(),
            raw,
        });
    }
    // Files that vanished between listing and reading count as taken.
    let pending = total.saturating_sub(messages.len());
    Ok(Batch {
        uidvalidity: 0,
        more: pending > 0,
        messages,
        scanned_to: 0,
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_come_in_order_of_arrival_and_leave_new_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        MaildirSource::deliver(
            dir.path(),
            "b",
            b"second",
            t0 + chrono::Duration::seconds(5),
        )
        .unwrap();
        MaildirSource::deliver(dir.path(), "a", b"first", t0).unwrap();
        let mut src = MaildirSource::new(dir.path().to_path_buf());
        let batch = src.fetch(None, 10).await.unwrap();
        let names: Vec<_> = batch.messages.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(batch.messages[0].internal_date, t0);
        src.committed(&batch.messages[0]).await.unwrap();
        let batch = src.fetch(None, 10).await.unwrap();
        assert_eq!(batch.messages.len(), 1);
        assert!(dir.path().join("cur/a:2,S").exists());
    }

    #[tokio::test]
    async fn a_batch_says_when_more_messages_wait() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            MaildirSource::deliver(dir.path(), &format!("m{i}"), b"x", Utc::now()).unwrap();
        }
        let mut src = MaildirSource::new(dir.path().to_path_buf());
        let batch = src.fetch(None, 2).await.unwrap();
        assert_eq!(batch.messages.len(), 2);
        assert!(batch.more);
    }
}
