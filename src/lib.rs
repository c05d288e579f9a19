//! mail-ballot: email ballots for committees.
//!
//! A message travels `mailbox` -> `reading` -> `ingest` (facts -> `decide` ->
//! render) -> `store` -> `outbox`; see ARCHITECTURE.md for the map.
//!
//! The layers, lowest first. A module uses only its own layer and those below
//! it, and no two modules use each other, even through others
//! (`tests/layers.rs` checks both, and the rules in brackets):
//!
//! 1. shared types: `domain`, `language`, `secret`, `disposition`, `incident`,
//!    `zone`, `memory`, `tls` (what every layer names);
//! 2. the pure core: `roster`, `ballot` (its rules, calendar, deadlines),
//!    `meetings`, `reading`, `verify`: never `config`, the store, `app` or
//!    sqlx; they receive values and `now`;
//! 3. settings: `config` (the file as written, checked once);
//! 4. adapters: `store` (the only place with SQL), `mailbox`, `outbox`;
//! 5. context: `app` (the configuration, store, templates and clock every
//!    service reads);
//! 6. services: `admin`, `ingest`, `scheduler`, `audit`, `security`, `status`,
//!    `alerts` (with the store, the only ones that begin transactions);
//! 7. the shell: `daemon`, `demo`, `cli`, `stdout`, and `main` (the only users
//!    of anyhow).

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
pub mod incident;
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
pub mod stdout;
pub mod store;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tls;
pub mod verify;
pub mod zone;
