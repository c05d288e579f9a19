//! The one error the configuration loader gives: a sentence naming the file,
//! the line or the key, and what is wrong, for the secretaries who edit it.

use std::path::Path;

/// A configuration problem: one sentence saying what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Turns a TOML error into "FILE: line L, column C: MESSAGE". Used for the
/// configuration file and for the roster file it names, so both read alike.
pub(super) fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            ConfigError(format!(
                "{}: line {line}, column {col}: {message}",
                path.display()
            ))
        }
        None => ConfigError(format!("{}: {message}", path.display())),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}
