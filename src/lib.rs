//! mail-ballot: email ballots for committees.
//!
//! A message travels `mailbox` -> `reading` -> `ballot` -> `store` -> `outbox`;
//! see ARCHITECTURE.md for the map.

pub mod admin;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod ballot;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod disposition;
pub mod domain;
pub mod ingest;
pub mod language;
pub mod mailbox;
pub mod meetings;
pub mod memory;
pub mod outbox;
pub mod reading;
pub mod roster;
pub mod scheduler;
pub mod secret;
pub mod security;
pub mod status;
pub mod store;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tls;
pub mod verify;
pub mod zone;
