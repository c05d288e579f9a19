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
//!
//! A database that fails (a full disk, an I/O error) is retried like anything
//! else, and most such outages heal by themselves. One that lasts `[storage]
//! give_up_after_secs` for a worker stops the daemon with an error: alive but
//! unable to record or send, it would hide the fault from its supervisor, which
//! restarts a process that exits (and whose log an admin reads), never one that
//! waits. Mail cannot be the way to say so: the outbox is in that database.

pub mod http;

pub mod notify;
pub mod signals;

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

/// How long a daemon asked to stop gives the batch it is recording to finish
/// (well within the shipped unit's TimeoutStopSec=60).
pub const FINISH_BATCH: Duration = Duration::from_secs(20);

/// How often the scheduler runs when nothing wakes it.
pub const TICK_EVERY: Duration = Duration::from_secs(10);

/// Why the daemon stopped by itself.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The metrics endpoint cannot listen where `[http] listen` says.
    #[error("cannot listen on {addr} ([http] listen): {error}")]
    Listen {
        addr: std::net::SocketAddr,
        error: String,
    },
    /// A worker's database steps failed, without one success, for longer than
    /// `[storage] give_up_after_secs`.
    #[error("the database has failed for {} s ({worker}: {error}); stopping so that the supervisor starts mail-ballot again", failing_for.as_secs())]
    DatabaseDown {
        worker: &'static str,
        failing_for: Duration,
        error: String,
    },
}

/// A worker's unbroken run of database failures. Each worker keeps its own: a
/// database that can be read but not written lets the scheduler's idle ticks
/// (reads) succeed while every batch the reader records fails.
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
}

impl Outage {
    /// A step that succeeded: the database works for this worker.
    fn ended(&mut self) {
        self.since = None;
    }

    /// A database failure at `now`. Returns when to try again (after
    /// `backoff`, but never later than the moment the outage reaches `limit`,
    /// so that the daemon gives up on time), or None once it has lasted `limit`.
    fn failed(&mut self, now: Instant, limit: Duration, backoff: Duration) -> Option<Duration> {
        let lasted = now.duration_since(*self.since.get_or_insert(now));
        (lasted < limit).then(|| backoff.min(limit - lasted))
    }

    /// How long the outage has lasted at `now`.
    fn lasted(&self, now: Instant) -> Duration {
        self.since.map_or(Duration::ZERO, |s| now.duration_since(s))
    }

    /// The error to stop with, said loudly in the log too.
    fn give_up(&self, worker: &'static str, error: &dyn std::fmt::Display) -> DaemonError {
        let e = DaemonError::DatabaseDown {
            worker,
            failing_for: self.lasted(Instant::now()),
            error: error.to_string(),
        };
        error!(error = %e, "giving up on the database");
        e
    }
}

/// Runs until `shutdown` is cancelled, or until the database has failed for
/// `[storage] give_up_after_secs`.
pub async fn run(
    app: Arc<App>,
    mut source: Box<dyn MailSource>,
    transport: Box<dyn Transport>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let wake = Arc::new(Notify::new());
    let limit = app.config.storage.give_up_after;
    // Cancelled by a signal, or by a worker that gives up: the other stops too.
    let stop = shutdown.child_token();
    info!(mailbox = %app.source_name(), outgoing = %transport.describe(), "mail-ballot running");
    let started = app.now();
    let http = match app.config.http.listen {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| DaemonError::Listen {
                        addr,
                        error: e.to_string(),
                    })?;
            Some(tokio::spawn(http::serve(
                listener,
                app.clone(),
                stop.clone(),
            )))
        }
        None => None,
    };
    let notifier = Arc::new(notify::Notifier::from_env());
    notifier.ready(&format!(
        "reading {} and sending through {}",
        app.source_name(),
        transport.describe()
    ));
    // The scheduler feeds the watchdog: it never waits longer than half of
    // the supervisor's interval between passes.
    let tick_every = notifier
        .watchdog()
        .map_or(TICK_EVERY, |w| TICK_EVERY.min(w / 2));

    let reader = {
        let app = app.clone();
        let wake = wake.clone();
        let shutdown = stop.clone();
        async move {
            let mut backoff = Backoff::default();
            let mut outage = Outage::default();
            let given_up = loop {
                let read = {
                    let read = async {
                        let report = ingest::poll_until(&app, source.as_mut(), &shutdown).await?;
                        // The database worked, whatever the wait for mail below does.
                        outage.ended();
                        if report.processed > 0 {
                            wake.notify_one();
                        }
                        // Wake for the next deadline so the mailbox is read past it.
                        let mut wait = idle_limit(&app);
                        if let Ok(Some(due)) = scheduler::next_due(&app).await {
                            let until =
                                (due - app.now()).to_std().unwrap_or(Duration::from_secs(1));
                            wait = wait.min(until.max(Duration::from_secs(1)));
                        }
                        // A send interrupted by a crash or a broken connection waits for
                        // the mailbox to show whether its copy arrived: read it soon.
                        if app.store.interrupted_sends().await.unwrap_or(false) {
                            wait = wait.min(Duration::from_secs(20));
                        }
                        Ok::<Duration, ingest::PollError>(wait)
                    };
                    tokio::pin!(read);
                    tokio::select! {
                        r = &mut read => r,
                        // Asked to stop: the batch in hand is finished and committed
                        // (poll stops after it), unless the server keeps it waiting
                        // longer than the supervisor would.
                        _ = shutdown.cancelled() => match tokio::time::timeout(FINISH_BATCH, &mut read).await {
                            Ok(r) => r,
                            Err(_) => break None,
                        },
                    }
                };
                if shutdown.is_cancelled() {
                    break None;
                }
                let waited = match read {
                    Ok(wait) => {
                        backoff.read(Instant::now());
                        // For `status` and the alerts: the mailbox works.
                        if let Err(e) = app
                            .store
                            .record_ok(crate::status::Fault::Mailbox.as_str())
                            .await
                        {
                            warn!(error = %e, "cannot record that the mailbox was read");
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => break None,
                            r = source.wait(wait) => r.map_err(ingest::PollError::from),
                        }
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = waited {
                    log_poll_error(&e);
                    if !e.is_database() {
                        let recorded = app
                            .store
                            .record_failure(
                                crate::status::Fault::Mailbox.as_str(),
                                &e.to_string(),
                                app.now(),
                            )
                            .await;
                        if let Err(e) = recorded {
                            warn!(error = %e, "cannot record the mailbox's failure");
                        }
                    }
                    let mut pause = backoff.failed(Instant::now());
                    if e.is_database() {
                        match outage.failed(Instant::now(), limit, pause) {
                            Some(w) => pause = w,
                            None => {
                                shutdown.cancel();
                                break Some(outage.give_up("the reader", &e));
                            }
                        }
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break None,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            };
            source.close().await;
            given_up
        }
    };

    let ticker = {
        let app = app.clone();
        let wake = wake.clone();
        let shutdown = stop.clone();
        let notifier = notifier.clone();
        async move {
            let mut outage = Outage::default();
            loop {
                let mut wait = tick_every;
                match scheduler::tick(&app, Some(transport.as_ref())).await {
                    Ok(r) => {
                        outage.ended();
                        if r.outbox.deferred > 0 {
                            warn!("outgoing mail is waiting for the relay")
                        }
                    }
                    Err(e) => {
                        error!(error = %e, "the scheduler failed; will retry");
                        if e.is_database() {
                            match outage.failed(Instant::now(), limit, tick_every) {
                                Some(w) => wait = w,
                                None => {
                                    shutdown.cancel();
                                    return Some(outage.give_up("the scheduler", &e));
                                }
                            }
                        }
                    }
                }
                // Faults that last are mailed to the admins (and their end).
                if let Err(e) = crate::alerts::check(&app, app.now(), started).await {
                    warn!(error = %e, "cannot check whether to alert the admins");
                }
                notifier.alive();
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    };

    let (reader, ticker) = tokio::join!(reader, ticker);
    notifier.stopping();
    if let Some(server) = http {
        // Both workers stopped, so `stop` is cancelled (or the signal came):
        // the endpoint ends too, and its port is free for a reload.
        stop.cancel();
        let _ = server.await;
    }
    match reader.or(ticker) {
        Some(e) => Err(e),
        None => {
            info!("mail-ballot stopped");
            Ok(())
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(300);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn failures_are_retried_until_they_have_lasted_the_limit_and_never_later() {
        let t0 = Instant::now();
        let mut outage = Outage::default();
        assert_eq!(outage.failed(t0, LIMIT, secs(1)), Some(secs(1)));
        assert_eq!(outage.failed(t0 + secs(1), LIMIT, secs(2)), Some(secs(2)));
        // A backoff that would sleep past the limit is cut to end at it.
        assert_eq!(
            outage.failed(t0 + secs(255), LIMIT, secs(256)),
            Some(secs(45))
        );
        assert_eq!(outage.lasted(t0 + secs(255)), secs(255));
        assert_eq!(outage.failed(t0 + secs(300), LIMIT, secs(300)), None);
        assert_eq!(outage.failed(t0 + secs(900), LIMIT, secs(1)), None);
    }

    #[test]
    fn one_success_ends_an_outage_and_the_next_failure_starts_a_new_one() {
        let t0 = Instant::now();
        let mut outage = Outage::default();
        assert!(outage.failed(t0, LIMIT, secs(1)).is_some());
        outage.ended();
        assert_eq!(outage.lasted(t0 + secs(299)), Duration::ZERO);
        let t1 = t0 + secs(299);
        assert_eq!(outage.failed(t1, LIMIT, secs(10)), Some(secs(10)));
        assert_eq!(outage.lasted(t1 + secs(10)), secs(10));
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
