//! One daemon per database (the lock `run` holds on it; `status` asks who holds it).
//!
//! Two daemons on one database would both read the mailbox and both send: each
//! batch is one transaction, so nothing would be counted twice, but every
//! receipt and announcement could leave twice, and the one that lost a race
//! would log errors all day. The daemon holds an exclusive `flock` on a file
//! beside the database (`ballots.sqlite.lock`) for as long as it runs; the
//! kernel releases it when the process ends, however it ends (a SIGKILL or a
//! crash leaves no stale lock behind). The file says who holds it, so the
//! second daemon can name the first.
//!
//! Commands that write while the daemon runs (`open`, `close`, `tick`, ...)
//! do not take the lock: SQLite's own locking keeps them safe, as before.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the daemon cannot take its lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error("another mail-ballot daemon is running on this database ({holder}; lock file {})", path.display())]
    Held { holder: String, path: PathBuf },
    #[error("cannot take the daemon's lock {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DaemonLock {
    // Never read: holding the open file is what holds the lock.
    _file: File,
    path: PathBuf,
}

impl DaemonLock {
    /// The lock file of the database at `database`.
    pub fn path_for(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of the database at `database`, or says who holds it.
    pub fn take(database: &Path, now: chrono::DateTime<chrono::Utc>) -> Result<Self, LockError> {
        let path = Self::path_for(database);
        let io = |error| LockError::Io {
            path: path.clone(),
            error,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns; it reads nothing.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(err));
            }
            let mut holder = String::new();
            // Best effort: the holder may be writing it this very moment.
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                holder: if holder.is_empty() {
                    "it did not say which".to_string()
                } else {
                    holder.to_string()
                },
                path,
            });
        }
        let host = hostname();
        let who = format!(
            "pid {} on {host}, since {}",
            std::process::id(),
            now.format("%Y-%m-%d %H:%M:%S UTC")
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(DaemonLock { _file: file, path })
    }

    /// Who holds the lock of the database at `database`, if a daemon runs
    /// (for `status`; taking and releasing it at once, never kept).
    pub fn holder(database: &Path) -> Option<String> {
        let path = Self::path_for(database);
        let mut file = OpenOptions::new().read(true).open(&path).ok()?;
        // SAFETY: flock on a descriptor this function owns.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
        if free {
            return None;
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        Some(holder.trim().to_string())
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This machine's name, for the lock file (another machine on a shared disk
/// would be a surprise worth naming).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match (ok, std::str::from_utf8(&buf[..end])) {
        (true, Ok(h)) if !h.is_empty() => h.to_string(),
        _ => "this host".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-12-04T09:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn a_second_lock_on_one_database_is_refused_naming_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ballots.sqlite");
        let first = DaemonLock::take(&db, now()).unwrap();
        assert_eq!(first.path(), dir.path().join("ballots.sqlite.lock"));
        // flock locks belong to the open file description: a second open in
        // the same process is refused just as another process would be.
        let e = DaemonLock::take(&db, now()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("since 2026-12-04 09:00:00 UTC"),
            "{text}"
        );
        assert!(text.contains("ballots.sqlite.lock"), "{text}");
        assert!(DaemonLock::holder(&db).unwrap().starts_with("pid "));
        drop(first);
        assert_eq!(DaemonLock::holder(&db), None);
        DaemonLock::take(&db, now()).expect("free again once the first is gone");
    }

    #[test]
    fn the_lock_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let lock = DaemonLock::take(&dir.path().join("db.sqlite"), now()).unwrap();
        let mode = std::fs::metadata(lock.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
