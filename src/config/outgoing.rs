//! `[outgoing]`: where the bot's mail goes, an SMTP relay or a folder of
//! .eml files.

use std::path::PathBuf;

use super::connection::{check_plain, secret_source, trust, Auth, Login, SecretKeys, Security};
use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawOutgoing;
use crate::tls::Trust;

/// Where outgoing mail goes.
#[derive(Debug, Clone)]
pub enum OutgoingConfig {
    Smtp(SmtpConfig),
    /// Each mail is written as an .eml file in this folder (demo, tests, or an
    /// operator who hands mail to another system).
    File {
        path: PathBuf,
    },
}

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The authorities its certificate may be signed by (not used for "plain").
    pub trust: Trust,
    /// None: the relay takes the bot's mail without a login (by its address).
    pub login: Option<Login>,
    pub timeout: std::time::Duration,
    /// Send the bot a blind copy of every mail. The copy in the bot's mailbox is
    /// the proof that the relay accepted a mail, which lets a send interrupted by
    /// a crash be resumed without sending twice.
    pub self_copy: bool,
}

/// Checks `[outgoing]`: a protected connection and the authorities it trusts,
/// and a user and a password named together or not at all.
pub(super) fn load(file: &ConfigFile, raw: RawOutgoing) -> Result<OutgoingConfig, ConfigError> {
    match raw {
        RawOutgoing::Smtp {
            host,
            port,
            security,
            user,
            password_env,
            password_file,
            password_credential,
            ca_file,
            public_roots,
            timeout_secs,
            self_copy,
        } => {
            check_plain(file, "outgoing", &host, security)?;
            let trust = trust(file, "outgoing", security, ca_file, public_roots)?;
            let keys = SecretKeys {
                env: password_env,
                file: password_file,
                credential: password_credential,
            };
            let login = match (user, secret_source(file, "outgoing", "password", keys)?) {
                (Some(user), Some(password)) => Some(Login {
                    user,
                    auth: Auth::Password(password),
                }),
                (None, None) => None,
                _ => {
                    return Err(ConfigError(format!(
                        "{file}: [outgoing] user and a password go together: give user and one of password_env, password_file or password_credential, or neither"
                    )))
                }
            };
            Ok(OutgoingConfig::Smtp(SmtpConfig {
                port: port.unwrap_or(match security {
                    Security::Tls => 465,
                    Security::Starttls => 587,
                    Security::Plain => 25,
                }),
                host,
                security,
                trust,
                login,
                timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
                self_copy,
            }))
        }
        RawOutgoing::File { path } => Ok(OutgoingConfig::File {
            path: file.at(&path),
        }),
    }
}
