//! What every section that talks to a server shares: how a connection is
//! protected (TLS, STARTTLS, or plain text only to this machine), which
//! certificate authorities it trusts, how the bot logs in, and the checks that
//! keep passwords safe (plain text only to this machine; a password named by
//! where it is kept, never written in the file).

use std::net::IpAddr;
use std::path::PathBuf;

use super::error::ConfigError;
use super::file::ConfigFile;
use crate::secret::SecretRef;
use crate::tls::Trust;

pub use crate::tls::Security;

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

/// How the bot logs in to a server: as `user`, proving it with `auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub user: String,
    pub auth: Auth,
}

/// How the bot proves who it is. One way today; a SASL mechanism with a
/// token (XOAUTH2, OAUTHBEARER) is another variant beside it, which the
/// adapters match on where they log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// IMAP LOGIN, SMTP AUTH PLAIN or LOGIN, with a password kept outside the file.
    Password(SecretRef),
}

/// The keys that say where a secret is kept, as written (`password_env`,
/// `password_file`, `password_credential`).
pub(super) struct SecretKeys {
    pub(super) env: Option<String>,
    pub(super) file: Option<PathBuf>,
    pub(super) credential: Option<String>,
}

/// Where the secret named by `prefix` (`password`) is kept: one of its three
/// keys, or none (`Ok(None)`). Two at once are refused, since which would win
/// is a guess.
pub(super) fn secret_source(
    file: &ConfigFile,
    table: &str,
    prefix: &str,
    keys: SecretKeys,
) -> Result<Option<SecretRef>, ConfigError> {
    let given: Vec<String> = [
        keys.env.is_some().then(|| format!("{prefix}_env")),
        keys.file.is_some().then(|| format!("{prefix}_file")),
        keys.credential
            .is_some()
            .then(|| format!("{prefix}_credential")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        return Err(ConfigError(format!(
            "{file}: [{table}] {} each name where the {prefix} is kept; keep only one",
            given.join(" and ")
        )));
    }
    if let Some(name) = keys.env {
        check_env_name(file, table, &format!("{prefix}_env"), &name)?;
        return Ok(Some(SecretRef::Env(name)));
    }
    if let Some(path) = keys.file {
        return Ok(Some(SecretRef::File(file.at(&path))));
    }
    if let Some(name) = keys.credential {
        // A name, not a path: systemd's credential names are file names in
        // $CREDENTIALS_DIRECTORY.
        if name.is_empty()
            || name == "."
            || name == ".."
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        {
            return Err(ConfigError(format!(
                "{file}: [{table}] {prefix}_credential = \"{name}\" must be the name of a systemd credential (as in LoadCredential=NAME:/path), not a path or the secret itself"
            )));
        }
        return Ok(Some(SecretRef::Credential(name)));
    }
    Ok(None)
}

/// The authorities a connection trusts: the public ones, a private one from
/// `ca_file`, or both (the default when `ca_file` is given). The file is read
/// now, so a wrong path is a configuration error and not a failure at the
/// first connection.
pub(super) fn trust(
    file: &ConfigFile,
    table: &str,
    security: Security,
    ca_file: Option<PathBuf>,
    public_roots: Option<bool>,
) -> Result<Trust, ConfigError> {
    if security == Security::Plain && (ca_file.is_some() || public_roots.is_some()) {
        let key = if ca_file.is_some() {
            "ca_file"
        } else {
            "public_roots"
        };
        return Err(ConfigError(format!(
            "{file}: [{table}] {key} applies to TLS, and security = \"plain\" uses none; remove {key} or set security to \"tls\" or \"starttls\""
        )));
    }
    let public_roots = public_roots.unwrap_or(true);
    let Some(path) = ca_file else {
        if !public_roots {
            return Err(ConfigError(format!(
                "{file}: [{table}] public_roots = false without ca_file would trust no certificate at all; set ca_file to the PEM file of the authority that signed the server's certificate"
            )));
        }
        return Ok(Trust::public());
    };
    let path = file.at(&path);
    let authorities = Trust::read_ca_file(&path).map_err(|why| {
        ConfigError(format!(
            "{file}: [{table}] ca_file {} {why}",
            path.display()
        ))
    })?;
    Ok(Trust {
        public_roots,
        ca_file: Some(path),
        authorities,
    })
}
