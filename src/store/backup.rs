//! An online copy of the whole database (`mail-ballot backup`).
//!
//! `VACUUM INTO` writes a consistent snapshot (one read transaction, so the
//! daemon goes on recording and sending meanwhile, in WAL mode) into a new
//! file, compacted. The copy is owner-only from the start: it holds every
//! vote and address.

use std::path::Path;

use super::{create_private, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the database to `target`, which must not
    /// exist yet.
    pub async fn backup_into(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Corrupt(format!(
                "{} already exists; a backup never overwrites a file",
                target.display()
            )));
        }
        // An empty file of our own, mode 0600: VACUUM INTO accepts an empty
        // target and keeps its permissions.
        create_private(target)?;
        let name = target.to_str().ok_or_else(|| {
            StoreError::Corrupt(format!("{} is not a UTF-8 path", target.display()))
        })?;
        let done = sqlx::query("VACUUM INTO ?")
            .bind(name)
            .execute(self.pool())
            .await;
        if let Err(e) = done {
            // Leave no half-written copy that could pass for a backup.
            let _ = std::fs::remove_file(target);
            return Err(e.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backup_is_a_private_copy_that_opens_with_the_same_installation_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("ballots.sqlite"))
            .await
            .unwrap();
        let copy = dir.path().join("backup/copy.sqlite");
        s.backup_into(&copy).await.unwrap();
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let c = Store::open(&copy).await.unwrap();
        assert_eq!(
            c.message_id_key(),
            s.message_id_key(),
            "restored, it writes the same Message-IDs"
        );
        let again = s.backup_into(&copy).await.unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
    }
}
