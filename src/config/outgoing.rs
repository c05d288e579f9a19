//! `[outgoing]`: where the bot's mail goes, an SMTP relay or a folder of
//! .eml files.

use std::path::PathBuf;

use super::connection::{check_env_name, check_plain, Security};
use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawOutgoing;
use crate::secret::SecretRef;

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
    pub user: Option<String>,
    pub password: Option<SecretRef>,
    pub timeout: std::time::Duration,
    /// Send the bot a blind copy of every mail. The copy in the bot's mailbox is
    /// the proof that the relay accepted a mail, which lets a send interrupted by
    /// a crash be resumed without sending twice.
    pub self_copy: bool,
}

/// Checks `[outgoing]`: a protected connection, and a user and a password
/// named together or not at all.
pub(super) fn load(file: &ConfigFile, raw: RawOutgoing) -> Result<OutgoingConfig, ConfigError> {
    match raw {
        RawOutgoing::Smtp {
            host,
            port,
            security,
            user,
            password_env,
            timeout_secs,
            self_copy,
        } => {
            check_plain(file, "outgoing", &host, security)?;
            if user.is_some() != password_env.is_some() {
                return Err(ConfigError(format!(
                    "{file}: [outgoing] user and password_env go together: give both or neither"
                )));
            }
            if let Some(env) = &password_env {
                check_env_name(file, "outgoing", "password_env", env)?;
            }
            Ok(OutgoingConfig::Smtp(SmtpConfig {
                port: port.unwrap_or(match security {
                    Security::Tls => 465,
                    Security::Starttls => 587,
                    Security::Plain => 25,
                }),
                host,
                security,
                user,
                password: password_env.map(|env| SecretRef { env }),
                timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
                self_copy,
            }))
        }
        RawOutgoing::File { path } => Ok(OutgoingConfig::File {
            path: file.at(&path),
        }),
    }
}
