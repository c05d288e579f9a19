//! `[roster] file`: reading the roster file the configuration names. The
//! roster itself only parses text; the sentence naming the file and line is
//! written here, the same way as for the configuration file.

use std::path::Path;

use super::error::{toml_error, ConfigError};
use crate::roster::{Roster, RosterError};

/// Reads and checks the roster at `path` (already made relative to the
/// configuration's folder).
pub(super) fn load(path: &Path) -> Result<Roster, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the roster file {}: {e}",
            path.display()
        ))
    })?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<Roster, ConfigError> {
    Roster::from_toml(text).map_err(|e| match e {
        RosterError::Malformed(err) => toml_error(path, text, &err),
        RosterError::Invalid(reason) => ConfigError(format!("{}: {reason}", path.display())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_error_names_the_file_and_line() {
        let err = parse(
            Path::new("roster.toml"),
            "[[organisations]]\nid = \"Bad Id\"\nname = \"A\"\nrepresentative = \"x@a.example\"\n",
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("roster.toml: line 2"), "{err}");
    }
}
