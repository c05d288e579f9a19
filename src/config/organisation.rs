//! `[organisation]`: who the committee is, its time zone and the language the
//! bot writes in.

use super::error::ConfigError;
use super::file::ConfigFile;
use super::raw::RawOrganisation;
use crate::language::Language;
use crate::zone::Tz;

/// Who the committee is.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    pub time_zone: Tz,
    pub language: Language,
}

/// Checks `[organisation]`: a known IANA zone and a name.
pub(super) fn load(file: &ConfigFile, raw: RawOrganisation) -> Result<Organisation, ConfigError> {
    let time_zone: Tz = raw.time_zone.parse().map_err(|_| {
        ConfigError(format!(
            "{file}: [organisation] time_zone = \"{}\" is not an IANA time zone such as Asia/Tokyo",
            raw.time_zone
        ))
    })?;
    if raw.name.trim().is_empty() {
        return Err(ConfigError(format!("{file}: [organisation] name is empty")));
    }
    Ok(Organisation {
        name: raw.name,
        time_zone,
        language: raw.language,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;

    #[test]
    fn a_bad_time_zone_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "name = \"テスト協議会 運営委員会\"",
            "name = \"x\"\ntime_zone = \"Asia/Tokio\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("Asia/Tokio"), "{err}");
    }
}
