//! `[storage]`: where the database lives, and how long the daemon bears with
//! it failing.

use std::path::PathBuf;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawStorage;

/// Where the database lives, and how long the daemon bears with it failing.
#[derive(Debug, Clone)]
pub struct Storage {
    pub database: PathBuf,
    /// The daemon stops with an error once a worker's database writes have
    /// failed for this long without a success in between (a disk that stays
    /// full, a file that cannot be written), so that its supervisor starts it
    /// again and an admin hears of it. Shorter outages heal by themselves.
    pub give_up_after: std::time::Duration,
}

/// Checks `[storage]`: a patience of one second to a day.
pub(super) fn load(file: &ConfigFile, raw: RawStorage) -> Result<Storage, ConfigError> {
    if !(1..=86_400).contains(&raw.give_up_after_secs) {
        return Err(ConfigError(format!(
            "{file}: [storage] give_up_after_secs must be between 1 and 86400 seconds"
        )));
    }
    Ok(Storage {
        database: file.at(&raw.database),
        give_up_after: std::time::Duration::from_secs(raw.give_up_after_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;

    #[test]
    fn the_daemon_bears_with_a_failing_database_five_minutes_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&write_config(dir.path(), CONFIG)).unwrap();
        assert_eq!(c.storage.give_up_after.as_secs(), 300);
        let with = |secs: &str| {
            CONFIG.replace(
                "database = \"ballots.sqlite\"",
                &format!("database = \"ballots.sqlite\"\ngive_up_after_secs = {secs}"),
            )
        };
        let c = Config::load(&write_config(dir.path(), &with("20"))).unwrap();
        assert_eq!(c.storage.give_up_after.as_secs(), 20);
        for bad in ["0", "86401"] {
            let err = Config::load(&write_config(dir.path(), &with(bad)))
                .unwrap_err()
                .0;
            assert!(
                err.ends_with(
                    "mail-ballot.toml: [storage] give_up_after_secs must be between 1 and 86400 seconds"
                ),
                "{err}"
            );
        }
        let err = Config::load(&write_config(dir.path(), &with("-1")))
            .unwrap_err()
            .0;
        assert!(err.contains("mail-ballot.toml: line"), "{err}");
        assert!(!err.contains('\n'), "one sentence, one line: {err}");
    }
}
