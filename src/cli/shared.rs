//! What every command handler uses: the configuration and the app opened as the
//! command line asks, who acts (for the audit trail), an error as the user sees
//! it, and sending at once the mail a command queued.

use std::path::Path;

use anyhow::anyhow;

use crate::app::{fixed_clock, system_clock, App, AppError, Clock};
use crate::config::Config;
use crate::outbox;

use super::args::Cli;

/// The configuration file, or its one-sentence error.
pub(super) fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow!("{e}"))
}

/// The app on the configuration, with the clock `--now` sets when given.
pub(super) async fn open_app(cli: &Cli, config: Config) -> anyhow::Result<App> {
    let clock: Clock = match cli.now {
        Some(t) => fixed_clock(t),
        None => system_clock(),
    };
    App::open(config, clock).await.map_err(user_error)
}

/// Who the audit trail records as acting: the person behind sudo, and the
/// clock when it was set by hand.
pub(super) fn actor(cli: &Cli) -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    match cli.now {
        Some(t) => format!("cli:{user} (clock set to {})", t.to_rfc3339()),
        None => format!("cli:{user}"),
    }
}

/// A refusal reaches the user as its sentence; anything else is logged too and
/// marked as internal, so the user knows it is not their mistake.
pub(super) fn user_error(e: AppError) -> anyhow::Error {
    if e.is_user_error() {
        anyhow!("{e}")
    } else {
        tracing::error!(error = %e, "internal error");
        anyhow!("internal error: {e}")
    }
}

/// An I/O error's reason without the OS error number ("No such file or directory").
pub(super) fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// After a command queued mail, try to send it at once; if the relay is down the
/// daemon (or the next `tick`) retries.
pub(super) async fn send_now(app: &App) {
    let transport = match app.transport() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mail stays queued: {e}");
            return;
        }
    };
    let opts = match app.outbox_options().await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mail stays queued: {e}");
            return;
        }
    };
    match outbox::worker::step(&app.store, transport.as_ref(), app.now(), &opts).await {
        Ok(r) if r.deferred > 0 || r.refused > 0 => eprintln!(
            "mail: {} sent, {} waiting for the relay (the daemon retries), {} refused",
            r.sent, r.deferred, r.refused
        ),
        Ok(_) => {}
        Err(e) => eprintln!("mail stays queued: {e}"),
    }
}
