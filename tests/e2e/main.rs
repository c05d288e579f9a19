//! The end-to-end tests of mail flow: mail-ballot against a real Dovecot and Postfix.
//!
//! One test binary for all of them (not one per file under `tests/`): they share the
//! harness, link once, and cargo runs them in parallel threads, each with its own
//! [`harness::MailStack`]. Run them with `cargo test --test e2e`; they need root and the
//! Debian packages dovecot-imapd, dovecot-lmtpd and postfix, which `scripts/test` installs.

mod attacks;
mod committee;
mod crash;
mod disk;
mod faults;
mod harness;
mod imap_reader;
mod lifecycle;
mod logs;
mod schedule;
mod security;
mod service;
mod smoke;
mod tls;
