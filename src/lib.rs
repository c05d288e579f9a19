//! mail-ballot: email ballots for committees.
//!
//! A message travels `mailbox` -> `reading` -> `ballot` -> `store` -> `outbox`;
//! see ARCHITECTURE.md for the map.

pub mod domain;
pub mod reading;
