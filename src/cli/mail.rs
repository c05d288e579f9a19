//! `run`, `poll`, `tick`: the daemon, and each of its two steps once (read the
//! mailbox; close due rounds and send due mail) for cron and tests.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::anyhow;

use crate::app::App;
use crate::{daemon, ingest, mailbox, scheduler};

use super::check;
use super::shared::user_error;
use super::stdout::println;

/// `run`: the templates must render before the daemon starts; then it runs
/// until a signal, or until a worker gives up.
pub(super) async fn run(app: App) -> anyhow::Result<()> {
    // One daemon per database: a second one is refused before it reads or
    // sends anything, naming the first. Held until the process ends.
    let _lock = daemon::lock::DaemonLock::take(&app.config.storage.database, app.now())
        .map_err(|e| anyhow!("{e}"))?;
    check::templates_render(&app.config).map_err(|e| anyhow!("{e}"))?;
    let source = mailbox::from_config(&app.config);
    let transport = app.transport().map_err(user_error)?;
    let shutdown = daemon::shutdown_on_signals();
    // The reason goes to stderr as a plain line too (main), whatever
    // the log's format: it is what the supervisor's journal shows.
    daemon::run(Arc::new(app), source, transport, shutdown)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// `poll`: reads the mailbox to its end and says what became of the messages.
pub(super) async fn poll(app: &App, quiet: bool) -> anyhow::Result<()> {
    let mut src = mailbox::from_config(&app.config);
    let r = ingest::poll(app, src.as_mut())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    src.close().await;
    if speak(quiet, r.processed > 0) {
        let detail: Vec<String> = r
            .by_disposition
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "read {} new message(s){}",
            r.processed,
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {}", detail.join(", "))
            }
        );
    }
    Ok(())
}

/// `tick`: one scheduler step, and a line for each thing it did.
pub(super) async fn tick(app: &App, quiet: bool) -> anyhow::Result<()> {
    let transport = app.transport().map_err(user_error)?;
    let r = scheduler::tick(app, Some(transport.as_ref()))
        .await
        .map_err(user_error)?;
    let mut lines = Vec::new();
    for (b, round, what) in &r.closed {
        lines.push(format!("{b}: round {round} closed: {what}"));
    }
    for (b, n) in &r.reminded {
        lines.push(format!(
            "{b}: reminders sent to {n} organisation(s) that have not answered"
        ));
    }
    if let Some(m) = r.digest_for {
        lines.push(format!(
            "digest for the meeting of {m} queued to the secretariat"
        ));
    }
    for b in &r.waiting {
        lines.push(format!(
            "{b}: past its deadline; waiting for the mailbox to be read past it (run `poll`)"
        ));
    }
    let o = &r.outbox;
    let mailed = o.sent + o.deferred + o.refused + o.confirmed > 0;
    if speak(quiet, mailed) {
        lines.push(format!(
            "mail: {} sent, {} waiting for the relay, {} refused",
            o.sent, o.deferred, o.refused
        ));
    }
    if speak(quiet, !lines.is_empty()) {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// Whether `poll` and `tick` print their summary: never with --quiet, always
/// on a terminal, and under cron only when something happened (cron mails the
/// admin whatever a job prints).
fn speak(quiet: bool, something_happened: bool) -> bool {
    !quiet && (something_happened || std::io::stdout().is_terminal())
}
