//! `[mailbox]`: where the replies are read from, an IMAP account or a Maildir
//! folder.

use std::path::PathBuf;

use super::connection::{check_plain, secret_source, trust, Auth, Login, SecretKeys, Security};
use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawMailbox;
use crate::tls::Trust;

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
    /// The authorities its certificate may be signed by (not used for "plain").
    pub trust: Trust,
    pub login: Login,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: std::time::Duration,
    /// Every IMAP command gives up after this long.
    pub timeout: std::time::Duration,
}

/// Checks `[mailbox]`: a protected connection and the authorities it trusts,
/// a password named not written, a poll interval and a timeout the reader can
/// keep.
pub(super) fn load(file: &ConfigFile, raw: RawMailbox) -> Result<MailboxConfig, ConfigError> {
    match raw {
        RawMailbox::Imap {
            host,
            port,
            security,
            user,
            password_env,
            password_file,
            password_credential,
            ca_file,
            public_roots,
            folder,
            idle,
            poll_interval_secs,
            timeout_secs,
        } => {
            check_plain(file, "mailbox", &host, security)?;
            let trust = trust(file, "mailbox", security, ca_file, public_roots)?;
            let keys = SecretKeys {
                env: password_env,
                file: password_file,
                credential: password_credential,
            };
            let password = secret_source(file, "mailbox", "password", keys)?.ok_or_else(|| {
                ConfigError(format!(
                    "{file}: [mailbox] has no password: set password_env, password_file or password_credential"
                ))
            })?;
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
                trust,
                login: Login {
                    user,
                    auth: Auth::Password(password),
                },
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
    use crate::secret::SecretRef;

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

    fn imap(keys: &str) -> String {
        CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            &format!("kind = \"imap\"\nhost = \"imap.example.org\"\nuser = \"u\"\n{keys}"),
        )
    }

    fn load(dir: &std::path::Path, text: &str) -> Result<ImapConfig, String> {
        match Config::load(&write_config(dir, text))
            .map_err(|e| e.0)?
            .mailbox
        {
            MailboxConfig::Imap(i) => Ok(i),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn imap_starttls_is_accepted_on_port_143_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let i = load(
            dir.path(),
            &imap("security = \"starttls\"\npassword_env = \"P\""),
        )
        .unwrap();
        assert_eq!(i.security, Security::Starttls);
        assert_eq!(i.port, 143);
        assert_eq!(i.trust, Trust::public());
    }

    #[test]
    fn the_password_may_come_from_a_file_beside_the_configuration_or_a_systemd_credential() {
        let dir = tempfile::tempdir().unwrap();
        let i = load(dir.path(), &imap("password_file = \"secrets/imap\"")).unwrap();
        assert_eq!(
            i.login.auth,
            Auth::Password(SecretRef::File(dir.path().join("secrets/imap")))
        );
        let i = load(dir.path(), &imap("password_credential = \"imap-password\"")).unwrap();
        assert_eq!(
            i.login.auth,
            Auth::Password(SecretRef::Credential("imap-password".into()))
        );
    }

    #[test]
    fn a_password_named_twice_or_not_at_all_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            &imap("password_env = \"P\"\npassword_file = \"pw\""),
        )
        .unwrap_err();
        assert!(
            err.ends_with("[mailbox] password_env and password_file each name where the password is kept; keep only one"),
            "{err}"
        );
        let err = load(dir.path(), &imap("")).unwrap_err();
        assert!(
            err.ends_with(
                "[mailbox] has no password: set password_env, password_file or password_credential"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_credential_name_that_is_a_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            &imap("password_credential = \"/etc/imap-password\""),
        )
        .unwrap_err();
        assert!(
            err.contains("must be the name of a systemd credential"),
            "{err}"
        );
    }

    #[test]
    fn a_ca_file_is_read_when_the_configuration_loads() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            &imap("password_env = \"P\"\nca_file = \"ca.pem\""),
        )
        .unwrap_err();
        assert!(
            err.contains(&format!(
                "[mailbox] ca_file {} cannot be read",
                dir.path().join("ca.pem").display()
            )),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let err = load(
            dir.path(),
            &imap("password_env = \"P\"\nca_file = \"ca.pem\""),
        )
        .unwrap_err();
        assert!(err.contains("holds no certificate"), "{err}");
    }

    #[test]
    fn a_private_authority_is_trusted_beside_the_public_ones_or_alone() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        // Text around the block, as `openssl x509 -text` writes it, is skipped.
        std::fs::write(
            dir.path().join("ca.pem"),
            format!("Certificate:\n    Data: ...\n{}", ca.pem()),
        )
        .unwrap();
        let i = load(
            dir.path(),
            &imap("password_env = \"P\"\nca_file = \"ca.pem\""),
        )
        .unwrap();
        assert!(i.trust.public_roots);
        assert_eq!(i.trust.ca_file, Some(dir.path().join("ca.pem")));
        assert_eq!(i.trust.authorities, vec![ca.der().clone()]);
        let i = load(
            dir.path(),
            &imap("password_env = \"P\"\nca_file = \"ca.pem\"\npublic_roots = false"),
        )
        .unwrap();
        assert!(!i.trust.public_roots);
        assert!(i.trust.client_config().is_ok());
    }

    #[test]
    fn public_roots_off_needs_a_ca_file_and_plain_text_takes_neither() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            dir.path(),
            &imap("password_env = \"P\"\npublic_roots = false"),
        )
        .unwrap_err();
        assert!(err.contains("would trust no certificate at all"), "{err}");
        let plain = imap("password_env = \"P\"\nca_file = \"ca.pem\"\nsecurity = \"plain\"")
            .replace("imap.example.org", "127.0.0.1");
        let err = load(dir.path(), &plain).unwrap_err();
        assert!(
            err.contains("[mailbox] ca_file applies to TLS, and security = \"plain\" uses none"),
            "{err}"
        );
    }
}
