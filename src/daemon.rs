//! The daemon: two workers that only schedule steps.
//!
//! - the reader: `ingest::poll` the mailbox, then wait for new mail (IMAP IDLE,
//!   or the poll interval), waking in time for the next deadline; on failure it
//!   backs off (1 s doubling to 5 min) and reconnects;
//! - the scheduler: `scheduler::tick` (deadlines, then the outbox) every few
//!   seconds, and at once when the reader recorded something.
//!
//! Both stop together when the shutdown token is cancelled (SIGINT, SIGTERM).
//! Stopping in the middle of a message is safe: its transaction rolls back and
//! the message is read again at the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::app::App;
use crate::ingest::{self, log_poll_error};
use crate::mailbox::MailSource;
use crate::outbox::transport::Transport;
use crate::scheduler;

/// How often the scheduler runs when nothing wakes it.
pub const TICK_EVERY: Duration = Duration::from_secs(10);

/// Runs until `shutdown` is cancelled.
pub async fn run(
    app: Arc<App>,
    mut source: Box<dyn MailSource>,
    transport: Box<dyn Transport>,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    info!(mailbox = %app.source_name(), outgoing = %transport.describe(), "mail-ballot running");

    let reader = {
        let app = app.clone();
        let wake = wake.clone();
        let shutdown = shutdown.clone();
        async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let step = async {
                    let report = ingest::poll(&app, source.as_mut()).await?;
                    if report.processed > 0 {
                        wake.notify_one();
                    }
                    // Wake for the next deadline so the mailbox is read past it.
                    let mut wait = idle_limit(&app);
                    if let Ok(Some(due)) = scheduler::next_due(&app).await {
                        let until = (due - app.now()).to_std().unwrap_or(Duration::from_secs(1));
                        wait = wait.min(until.max(Duration::from_secs(1)));
                    }
                    // A send interrupted by a crash or a broken connection waits for
                    // the mailbox to show whether its copy arrived: read it soon.
                    if app.store.interrupted_sends().await.unwrap_or(false) {
                        wait = wait.min(Duration::from_secs(20));
                    }
                    source.wait(wait).await?;
                    Ok::<(), ingest::PollError>(())
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = step => match r {
                        Ok(()) => backoff = Duration::from_secs(1),
                        Err(e) => {
                            log_poll_error(&e);
                            tokio::select! {
                                _ = shutdown.cancelled() => break,
                                _ = tokio::time::sleep(backoff) => {}
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(300));
                        }
                    }
                }
            }
            source.close().await;
        }
    };

    let ticker = {
        let app = app.clone();
        let wake = wake.clone();
        let shutdown = shutdown.clone();
        async move {
            loop {
                match scheduler::tick(&app, Some(transport.as_ref())).await {
                    Ok(r) if r.outbox.deferred > 0 => {
                        warn!("outgoing mail is waiting for the relay")
                    }
                    Ok(_) => {}
                    Err(e) => error!(error = %e, "the scheduler failed; will retry"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(TICK_EVERY) => {}
                }
            }
        }
    };

    tokio::join!(reader, ticker);
    info!("mail-ballot stopped");
}

fn idle_limit(app: &App) -> Duration {
    match &app.config.mailbox {
        crate::config::MailboxConfig::Imap(i) if i.idle => crate::mailbox::imap::IDLE_REISSUE,
        crate::config::MailboxConfig::Imap(i) => i.poll_interval,
        crate::config::MailboxConfig::Maildir { .. } => Duration::from_secs(2),
    }
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        error!(error = %e, "cannot listen for SIGTERM");
                        return;
                    }
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        info!("shutting down");
        t.cancel();
    });
    token
}
