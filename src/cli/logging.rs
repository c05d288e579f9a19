//! Where a command's log lines go (stderr, as text or JSON) and which lines
//! may be written at all: ours at the level asked for, the libraries' only from
//! warn up.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Starts logging: the configured level for the daemon, warn for one-off
/// commands (their output is what they print); MAIL_BALLOT_LOG overrides both.
pub(super) fn init_logging(config: Option<&Config>, daemon: bool) {
    let level = match (config, daemon) {
        (Some(c), true) => c.logging.level.clone(),
        _ => "warn".to_string(),
    };
    let filter =
        EnvFilter::try_from_env("MAIL_BALLOT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let json = config.is_some_and(|c| c.logging.format == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a journal or log file would
        // get escape codes in every line.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = if json {
        builder.json().finish().with(libraries_quiet()).try_init()
    } else {
        builder.finish().with(libraries_quiet()).try_init()
    };
}

/// Our own lines at whatever level is asked for; every library's at warn and
/// above only, whatever the configuration or MAIL_BALLOT_LOG says, even by
/// name (`async_imap=trace`): a second filter that every line must pass too.
/// Below warn the libraries write what goes over the wire and into the
/// database: async-imap each IMAP command (LOGIN with the password) and each
/// response (whole messages: addresses, bodies, reply tokens), sqlx its
/// statements, rustls its handshakes. Our own debug lines say what happened
/// without such data (README, "Privacy and integrity").
fn libraries_quiet() -> Targets {
    Targets::new()
        .with_target("mail_ballot", LevelFilter::TRACE)
        .with_default(LevelFilter::WARN)
}
