//! Sender verification: whether a reply really comes from the member it names.
//!
//! Anyone can write `From: representative@member.co.jp`, so before a vote counts
//! the message must prove its author by one of the methods the committee's policy
//! accepts:
//!
//! - [`token`]: a reply to the personal ballot mail, whose Reply-To
//!   `bot+TOKEN@domain` only the representative received;
//! - [`dkim`]: a DKIM signature by the author's domain (mail-auth; DNS at the edge,
//!   a pre-filled key cache in tests);
//! - [`authres`]: the Authentication-Results our own mail server wrote, trusted only
//!   for the configured authserv-id and only where the sender cannot have written it.
//!
//! [`policy`] decides who the author is (taking the list's rewritten From into
//! account), runs every check and says which passed: [`Verification`] is recorded with
//! the message and shown by `inspect` and `show`. Everything here is pure except
//! [`DkimVerifier`], whose DNS look-ups [`check`] awaits; [`policy::decide`] takes DKIM
//! results computed elsewhere, so tests and `inspect` need no network.
//!
//! What is not handled: ARC (a list's ARC seal is not evaluated, so a list that breaks
//! the author's signature cannot vouch for it), DKIM2, and S/MIME or PGP signatures.

pub mod authres;
pub mod dkim;
pub mod policy;
pub mod token;

#[cfg(test)]
pub(crate) mod testing;

pub use dkim::{DkimCheck, DkimVerifier, SignatureResult, StaticDkim};
pub use policy::{
    decide, Check, CheckResult, Context, ListRewrite, Method, PolicyConfig, PolicyError,
    TokenSubject, Verification,
};
pub use token::{Token, TokenKey};

use crate::domain::Address;
use crate::reading::decode;

/// Verifies `raw` under `ctx`: DKIM through `dkim` (DNS) when the policy accepts it,
/// every other check offline. The ingest calls this once per message, before its
/// transaction, and records the result with the message.
pub async fn check(raw: &[u8], ctx: &Context<'_>, dkim: &impl DkimCheck) -> Verification {
    let signatures = if ctx.policy.accepts(Method::Dkim) {
        Some(dkim.verify(raw).await)
    } else {
        None
    };
    decide(raw, ctx, signatures.as_deref())
}

/// Header bytes read; more is not a person's mail and verification stays bounded.
const HEADER_LIMIT: usize = 1024 * 1024;

/// The top-level header fields of a message, in order.
pub(crate) struct Fields {
    fields: Vec<(String, String)>,
}

impl Fields {
    pub(crate) fn parse(raw: &[u8]) -> Fields {
        let headers = decode::Headers::parse(raw, HEADER_LIMIT);
        Fields {
            fields: headers
                .fields
                .into_iter()
                .map(|f| (f.name, String::from_utf8_lossy(&f.value).into_owned()))
                .collect(),
        }
    }

    /// `(lower-cased name, raw value)`, top first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The raw values of every field called `name` (lower-case).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The single mailbox of a field as `reading` reads From (decoded, then split), so
    /// the author verified is the sender the reading reports. None when absent.
    pub(crate) fn mailbox(value: &str) -> Option<Address> {
        let text = decode::decode_header_value(value.as_bytes());
        decode::split_mailbox(&text)
            .1
            .and_then(|a| Address::parse(&a).ok())
    }

    /// Every address in the fields called `name` (To, Cc, Delivered-To...).
    pub(crate) fn addresses(&self, name: &str) -> Vec<Address> {
        self.all(name).flat_map(mailbox_list).collect()
    }
}

/// The addresses of a mailbox list (`a@x, "B, Jr." <b@y>`), split at commas outside
/// quotes, angle brackets and comments.
pub(crate) fn mailbox_list(value: &str) -> Vec<Address> {
    let mut parts = vec![String::new()];
    let (mut quoted, mut angle, mut comment) = (false, false, 0usize);
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && (quoted || comment > 0) {
            escaped = true;
        } else if c == '"' && comment == 0 {
            quoted = !quoted;
        } else if !quoted && c == '(' {
            comment += 1;
        } else if !quoted && c == ')' {
            comment = comment.saturating_sub(1);
        } else if !quoted && comment == 0 && c == '<' {
            angle = true;
        } else if !quoted && comment == 0 && c == '>' {
            angle = false;
        } else if !quoted && !angle && comment == 0 && c == ',' {
            parts.push(String::new());
            continue;
        }
        parts.last_mut().expect("never empty").push(c);
    }
    parts
        .iter()
        .filter_map(|p| decode::split_mailbox(p).1)
        .filter_map(|a| Address::parse(&a).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_list_splits_only_at_commas_between_mailboxes() {
        let got = mailbox_list(
            "\"Yamada, Taro\" <taro@acme.co.jp>, jiro@beta.co.jp (Jiro, B), <ballot+x@committee.example>",
        );
        let got: Vec<&str> = got.iter().map(|a| a.as_str()).collect();
        assert_eq!(
            got,
            [
                "taro@acme.co.jp",
                "jiro@beta.co.jp",
                "ballot+x@committee.example"
            ]
        );
        assert!(mailbox_list("undisclosed-recipients:;").is_empty());
    }

    #[test]
    fn header_fields_keep_their_order_and_unfold() {
        let f = Fields::parse(
            b"Received: from a\r\n  by b\r\nAuthentication-Results: mx;\r\n dkim=pass\r\nTo: x@y.example\r\n\r\nbody",
        );
        let names: Vec<&str> = f.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["received", "authentication-results", "to"]);
        assert_eq!(
            f.all("authentication-results").next(),
            Some("mx; dkim=pass")
        );
    }
}
