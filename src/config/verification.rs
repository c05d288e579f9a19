//! `[verification]`: how the bot checks that a reply comes from the member it
//! names. The policy is the verify module's own type; this only checks it
//! against the rest of the file.

use super::connection::check_env_name;
use super::error::ConfigError;
use super::file::ConfigFile;
use crate::verify::policy::PolicyConfig;

/// Checks `[verification]` when there is one: a consistent policy, and a token
/// secret named, not written.
pub(super) fn load(
    file: &ConfigFile,
    raw: Option<PolicyConfig>,
) -> Result<Option<PolicyConfig>, ConfigError> {
    let mut raw = raw;
    if let Some(v) = &mut raw {
        v.validate()
            .map_err(|e| ConfigError(format!("{file}: {e}")))?;
        if let Some(env) = &v.token_secret_env {
            check_env_name(file, "verification", "token_secret_env", env)?;
        }
        // A file named relative to the configuration, like every other path.
        if let Some(f) = &v.token_secret_file {
            v.token_secret_file = Some(file.at(f));
        }
    }
    Ok(raw)
}
