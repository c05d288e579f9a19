//! The daemon: two workers that only schedule steps.
//!
//! - the reader: `ingest::poll` the mailbox, then wait for new mail (IMAP IDLE,
//!   or the poll interval), waking in time for the next deadline; on failure it
//!   backs off (1 s doubling to 5 min, see [`Backoff`]) and reconnects;
//! - the scheduler: `scheduler::tick` (deadlines, then the outbox) every few
//!   seconds, and at once when the reader recorded something.
//!
//! Both stop together when the shutdown token is cancelled (SIGINT, SIGTERM).
//! Stopping in the middle of a message is safe: its transaction rolls back and
//! the message is read again at the next start.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
            let mut backoff = Backoff::default();
            loop {
                let read = async {
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
                    Ok::<Duration, ingest::PollError>(wait)
                };
                let read = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = read => r,
                };
                let waited = match read {
                    Ok(wait) => {
                        backoff.read(Instant::now());
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            r = source.wait(wait) => r.map_err(ingest::PollError::from),
                        }
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = waited {
                    log_poll_error(&e);
                    let pause = backoff.failed(Instant::now());
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
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

/// How long the reader pauses after a failure before it tries the mailbox again:
/// 1 s, doubling up to 5 minutes while failures follow one another. A connection
/// that read the mailbox and then stayed up for at least as long as the pause
/// before it was healthy, so its failure starts again at 1 s: otherwise every
/// brief server restart during IDLE would lengthen the pause after the next one,
/// until the daemon read its mail minutes after the server was back. One that
/// fails as soon as it has read (a server that refuses IDLE) keeps backing off.
#[derive(Debug, Default)]
struct Backoff {
    /// The pause after the last failure; zero before the first.
    pause: Duration,
    /// When the mailbox was first read after the last failure.
    read_since: Option<Instant>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const LONGEST: Duration = Duration::from_secs(300);

    /// The mailbox was read at `now`.
    fn read(&mut self, now: Instant) {
        self.read_since.get_or_insert(now);
    }

    /// A failure at `now`: how long to pause before trying again.
    fn failed(&mut self, now: Instant) -> Duration {
        let healthy = self
            .read_since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) >= self.pause);
        self.pause = if healthy || self.pause.is_zero() {
            Self::FIRST
        } else {
            (self.pause * 2).min(Self::LONGEST)
        };
        self.pause
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn failures_in_a_row_double_the_pause_up_to_five_minutes() {
        let mut b = Backoff::default();
        let t = Instant::now();
        let pauses: Vec<u64> = (0..11).map(|_| b.failed(t).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn a_connection_that_read_and_stayed_up_starts_the_next_pause_afresh() {
        let mut b = Backoff::default();
        let t = Instant::now();
        for _ in 0..5 {
            b.failed(t);
        }
        // Back after 16 s: read, then IDLE for a minute until the server restarts.
        b.read(t + secs(20));
        b.read(t + secs(50));
        assert_eq!(b.failed(t + secs(80)), secs(1));
        assert_eq!(
            b.failed(t + secs(81)),
            secs(2),
            "still down: back off again"
        );
    }

    #[test]
    fn a_connection_that_fails_right_after_reading_keeps_backing_off() {
        let mut b = Backoff::default();
        let mut t = Instant::now();
        let mut pauses = Vec::new();
        for _ in 0..5 {
            let pause = b.failed(t);
            pauses.push(pause.as_secs());
            t += pause;
            // It reads, then fails at once (a server that refuses IDLE).
            b.read(t);
            t += Duration::from_millis(50);
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16]);
    }
}
