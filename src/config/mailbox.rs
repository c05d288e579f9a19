//! `[mailbox]`: where the replies are read from, an IMAP account or a Maildir
//! folder.

use std::path::PathBuf;

use super::connection::{check_env_name, check_plain, Security};
use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawMailbox;
use crate::secret::SecretRef;

/// How the bot reaches a mail server (or a local folder).
#[derive(Debug, Clone)]
pub enum MailboxConfig {
    Imap(ImapConfig),
    Maildir { path: PathBuf },
}

/// An IMAP account.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub password: SecretRef,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: std::time::Duration,
    /// Every IMAP command gives up after this long.
    pub timeout: std::time::Duration,
}

/// Checks `[mailbox]`: a protected connection, a password named not written,
/// a poll interval and a timeout the reader can keep.
pub(super) fn load(file: &ConfigFile, raw: RawMailbox) -> Result<MailboxConfig, ConfigError> {
    match raw {
        RawMailbox::Imap {
            host,
            port,
            security,
            user,
            password_env,
            folder,
            idle,
            poll_interval_secs,
            timeout_secs,
        } => {
            check_plain(file, "mailbox", &host, security)?;
            if security == Security::Starttls {
                return Err(ConfigError(format!(
                    "{file}: [mailbox] security = \"starttls\" is not supported for IMAP; use \"tls\" (port 993)"
                )));
            }
            check_env_name(file, "mailbox", "password_env", &password_env)?;
            // Fractions of a second are allowed: polling is how to get replies
            // faster than a server's IDLE notifications (Dovecot 2.3 holds
            // them for half a second).
            if !(0.05..=86_400.0).contains(&poll_interval_secs) {
                return Err(ConfigError(format!(
                    "{file}: [mailbox] poll_interval_secs must be between 0.05 and 86400 seconds"
                )));
            }
            if timeout_secs == 0 {
                return Err(ConfigError(format!(
                    "{file}: [mailbox] timeout_secs must be at least 1"
                )));
            }
            Ok(MailboxConfig::Imap(ImapConfig {
                port: port.unwrap_or(if security == Security::Tls { 993 } else { 143 }),
                host,
                security,
                user,
                password: SecretRef { env: password_env },
                folder,
                idle,
                poll_interval: std::time::Duration::from_secs_f64(poll_interval_secs),
                timeout: std::time::Duration::from_secs(timeout_secs),
            }))
        }
        RawMailbox::Maildir { path } => Ok(MailboxConfig::Maildir {
            path: file.at(&path),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;
    use super::*;

    #[test]
    fn plain_text_to_a_remote_server_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"imap.example.org\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"P\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn the_poll_interval_may_be_a_fraction_of_a_second_but_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let imap = |interval: &str| {
            CONFIG.replace(
                "kind = \"maildir\"\npath = \"mail\"",
                &format!("kind = \"imap\"\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"P\"\nidle = false\npoll_interval_secs = {interval}"),
            )
        };
        let c = Config::load(&write_config(dir.path(), &imap("0.2"))).unwrap();
        match &c.mailbox {
            MailboxConfig::Imap(i) => {
                assert_eq!(i.poll_interval, std::time::Duration::from_millis(200))
            }
            other => panic!("{other:?}"),
        }
        let c = Config::load(&write_config(dir.path(), &imap("60"))).unwrap();
        match &c.mailbox {
            MailboxConfig::Imap(i) => assert_eq!(i.poll_interval.as_secs(), 60),
            other => panic!("{other:?}"),
        }
        let err = Config::load(&write_config(dir.path(), &imap("0")))
            .unwrap_err()
            .0;
        assert!(
            err.contains("poll_interval_secs must be between 0.05"),
            "{err}"
        );
    }

    #[test]
    fn a_password_written_in_place_of_a_variable_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"hunter2!\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("password_env"), "{err}");
    }

    #[test]
    fn imap_starttls_is_refused_because_the_reader_speaks_only_implicit_tls() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"imap.example.org\"\nsecurity = \"starttls\"\nuser = \"u\"\npassword_env = \"P\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(
            err.contains("\"starttls\" is not supported for IMAP"),
            "{err}"
        );
    }
}
