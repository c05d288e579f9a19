//! The language the bot writes its mail in.
//!
//! A shared type: the configuration chooses it, the deadline formatter and the
//! templates speak it. It lives on its own so that the pure core (deadlines)
//! can name it without importing the module that reads the configuration file.

use serde::{Deserialize, Serialize};

/// The language of the mails the bot writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ja,
    En,
}

impl Language {
    /// The folder name under templates/.
    pub fn as_str(&self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ja" => Ok(Language::Ja),
            "en" => Ok(Language::En),
            _ => Err(format!("`{s}` is not a language (ja or en)")),
        }
    }
}
