//! Secrets: passwords and keys, and the names of the environment variables
//! that hold them.
//!
//! A shared type: the configuration names a secret ([`SecretRef`]), the mail
//! adapters and the ballot tokens use it ([`Secret`]). It lives on its own so
//! that the pure core (tokens, the verification policy) can take a secret
//! without importing the module that reads the configuration file. Neither
//! type ever prints the secret itself, so a secret cannot reach a log line
//! through `{:?}`.

use std::fmt;

/// The name of an environment variable that holds a secret. The secret itself is
/// read only when needed and never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub env: String,
}

impl SecretRef {
    /// Reads the secret from the environment.
    pub fn read(&self) -> Result<Secret, String> {
        match std::env::var(&self.env) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            Ok(_) => Err(format!("the environment variable {} is empty", self.env)),
            Err(_) => Err(format!("the environment variable {} is not set", self.env)),
        }
    }
}

/// A password or key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (for tests and for secrets read elsewhere).
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: call only where it is handed to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
