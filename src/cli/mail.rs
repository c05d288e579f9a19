//! `run`, `poll`, `tick`: the daemon, and each of its two steps once (read the
//! mailbox; close due rounds and send due mail) for cron and tests.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use anyhow::anyhow;

use crate::app::App;
use crate::{daemon, ingest, mailbox, scheduler};

use super::args::Cli;
use super::check;
use super::shared::{load_config, user_error};
use crate::stdout::println;
use tracing::{error, info};

/// `run`: the templates must render before the daemon starts; then it runs
/// until a signal, or until a worker gives up. SIGHUP reads the configuration
/// again: a valid one replaces the running one between two batches (the
/// workers stop as on SIGTERM and start again on it, in this process, with the
/// lock still held); an invalid one is refused, the reason logged and the old
/// one kept. Running ballots keep the roster and rule they were opened with.
pub(super) async fn run(cli: &Cli, app: App) -> anyhow::Result<()> {
    // One daemon per database: a second one is refused before it reads or
    // sends anything, naming the first. Held until the process ends.
    let _lock = crate::store::lock::DaemonLock::take(&app.config.storage.database, app.now())
        .map_err(|e| anyhow!("{e}"))?;
    check::templates_render(&app.config).map_err(|e| anyhow!("{e}"))?;
    let signals = daemon::signals::Signals::listen();
    let mut app = app;
    loop {
        let source = mailbox::from_config(&app.config);
        let transport = app.transport().map_err(user_error)?;
        let database = app.config.storage.database.clone();
        let round = signals.stop.child_token();
        let replacement: Arc<Mutex<Option<App>>> = Arc::default();
        let watcher = tokio::spawn({
            let (reload, round, replacement) =
                (signals.reload.clone(), round.clone(), replacement.clone());
            let (path, now) = (cli.config.clone(), cli.now);
            async move {
                loop {
                    reload.notified().await;
                    match reloaded(&path, now, &database).await {
                        Ok(new) => {
                            *replacement.lock().unwrap_or_else(|p| p.into_inner()) = Some(new);
                            round.cancel();
                            return;
                        }
                        Err(e) => {
                            error!(error = %e, "the new configuration is refused; the running one is kept")
                        }
                    }
                }
            }
        });
        // The reason goes to stderr as a plain line too (main), whatever
        // the log's format: it is what the supervisor's journal shows.
        let result = daemon::run(Arc::new(app), source, transport, round).await;
        watcher.abort();
        result.map_err(|e| anyhow!("{e}"))?;
        let next = replacement.lock().unwrap_or_else(|p| p.into_inner()).take();
        match next {
            Some(new) if !signals.stop.is_cancelled() => {
                info!("configuration reloaded");
                app = new;
            }
            _ => return Ok(()),
        }
    }
}

/// The configuration at `path` read again, as `run` would start on it; the
/// database must stay the one whose lock this process holds.
async fn reloaded(
    path: &std::path::Path,
    now: Option<chrono::DateTime<chrono::Utc>>,
    database: &std::path::Path,
) -> anyhow::Result<App> {
    let config = load_config(path)?;
    if config.storage.database != database {
        return Err(anyhow!(
            "[storage] database changed to {}; a new database needs a restart",
            config.storage.database.display()
        ));
    }
    check::templates_render(&config).map_err(|e| anyhow!("{e}"))?;
    let clock = match now {
        Some(t) => crate::app::fixed_clock(t),
        None => crate::app::system_clock(),
    };
    App::open(config, clock).await.map_err(user_error)
}

/// `poll`: reads the mailbox to its end and says what became of the messages.
pub(super) async fn poll(app: &App, quiet: bool) -> anyhow::Result<()> {
    let mut src = mailbox::from_config(&app.config);
    let mailbox = crate::status::Fault::Mailbox.as_str();
    let r = match ingest::poll(app, src.as_mut()).await {
        Ok(r) => {
            app.store
                .record_ok(mailbox)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            r
        }
        Err(e) => {
            // For `status` and the alerts, when cron runs the reading.
            if !e.is_database() {
                let _ = app
                    .store
                    .record_failure(mailbox, &e.to_string(), app.now())
                    .await;
            }
            return Err(anyhow!("{e}"));
        }
    };
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
