//! `[logging]`: how the daemon logs.

use serde::Deserialize;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawLogging;

/// How the daemon logs.
#[derive(Debug, Clone)]
pub struct Logging {
    pub format: LogFormat,
    pub level: String,
}

/// Text for people, JSON for log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Checks `[logging]`: a level the log filter understands.
pub(super) fn load(file: &ConfigFile, raw: RawLogging) -> Result<Logging, ConfigError> {
    if raw
        .level
        .parse::<tracing_subscriber::filter::EnvFilter>()
        .is_err()
    {
        return Err(ConfigError(format!(
            "{file}: [logging] level = \"{}\" is not a log filter such as \"info\" or \"mail_ballot=debug\"",
            raw.level
        )));
    }
    Ok(Logging {
        format: raw.format,
        level: raw.level,
    })
}
