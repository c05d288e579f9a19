//! `[limits]`: the caps that keep a fault or an attack from turning into a
//! flood.

use super::raw::RawLimits;

/// Limits that keep a fault or an attack from turning into a flood.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The bot sends at most this many mails to one address per hour; more wait.
    pub mails_per_address_per_hour: u32,
    /// More messages than this from one sender within an hour is reported as a burst.
    pub messages_per_sender_per_hour: u32,
    /// Bytes of a message the bot reads; beyond, the rest is not read.
    pub max_message_bytes: usize,
    /// Messages recorded per transaction while reading a backlog: one commit
    /// (and one fsync) carries them all. A crash loses none of them, it only
    /// makes the bot read the uncommitted batch again.
    pub messages_per_transaction: usize,
}

/// `[limits]` never fails: a value out of range is brought to the nearest one
/// the bot can work with.
pub(super) fn load(raw: RawLimits) -> Limits {
    Limits {
        mails_per_address_per_hour: raw.mails_per_address_per_hour.max(1),
        messages_per_sender_per_hour: raw.messages_per_sender_per_hour.max(1),
        max_message_bytes: raw.max_message_bytes.max(64 * 1024),
        messages_per_transaction: raw.messages_per_transaction.clamp(1, 5000),
    }
}
