//! What every section that talks to a server shares: how a connection is
//! protected, and the two checks that keep passwords safe (plain text only to
//! this machine; a password named by an environment variable, never written
//! in the file).

use std::net::IpAddr;

use serde::Deserialize;

use super::error::ConfigError;
use super::file::ConfigFile;

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS (SMTP submission 587).
    Starttls,
    /// No encryption: only allowed to a loopback address.
    Plain,
}

/// Refuses `security = "plain"` to any host but this machine.
pub(super) fn check_plain(
    file: &ConfigFile,
    table: &str,
    host: &str,
    security: Security,
) -> Result<(), ConfigError> {
    if security != Security::Plain {
        return Ok(());
    }
    let loopback = host == "localhost"
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if loopback {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{file}: [{table}] security = \"plain\" sends passwords and votes unencrypted, so it is only allowed to a loopback host, not \"{host}\""
        )))
    }
}

/// Refuses a `*_env` key whose value looks like a secret rather than the name
/// of the variable holding it.
pub(super) fn check_env_name(
    file: &ConfigFile,
    table: &str,
    key: &str,
    name: &str,
) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ConfigError(format!(
            "{file}: [{table}] {key} = \"{name}\" must be the NAME of an environment variable (A-Z, 0-9, _), not the secret itself"
        )));
    }
    Ok(())
}
