//! The journey of one message: mailbox → reading → facts → decide → render →
//! store → outbox.
//!
//! `poll` (`pass`) reads the mailbox to its end, a batch at a time. Each batch
//! is made ready outside any transaction (`prepare`: read, a pure function;
//! hashed; its sender verified), then recorded in ONE transaction (`record`):
//! for each message, what its decision needs is loaded (`load`, into `facts`),
//! the decision is made (`decide`, pure), an action it asks for is carried out
//! (`act`), its mails are rendered (`render`) and its incidents gathered
//! (`incidents`), and everything is staged for the store: the raw message,
//! its disposition and reason, votes, mails, audit events and the mailbox
//! cursor. Either all of it is stored or none of it is, so a crash at any
//! moment neither loses a message nor counts it twice.
//!
//! Nothing that arrives is lost: malformed mail, auto-replies, duplicates,
//! strangers' mail are all stored with the reason they were not counted.

mod act;
pub mod decide;
pub mod facts;
mod incidents;
mod load;
mod pass;
mod prepare;
mod record;
mod render;

pub use pass::{log_poll_error, poll, poll_until, PollError, PollReport};
pub use prepare::{content_hash, verify_message};
pub use record::{process, Processed};

#[cfg(test)]
mod tests;
