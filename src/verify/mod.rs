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
pub mod token;

#[cfg(test)]
pub(crate) mod testing;

pub use dkim::{DkimCheck, DkimVerifier, SignatureResult, StaticDkim};
pub use token::{Token, TokenKey};
