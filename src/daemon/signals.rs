//! What the daemon hears from outside: SIGINT and SIGTERM stop it (the batch
//! in hand is rolled back and read again at the next start), SIGHUP asks it to
//! read its configuration, roster and templates again.
//!
//! Each signal is listened for on its own, so one that cannot be registered
//! (a sandbox that forbids it) leaves the others working: before, a failure to
//! register SIGTERM also left Ctrl-C unheard.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// The daemon's signals.
#[derive(Debug, Clone)]
pub struct Signals {
    /// Cancelled on SIGINT or SIGTERM.
    pub stop: CancellationToken,
    /// Notified on every SIGHUP.
    pub reload: Arc<Notify>,
}

impl Signals {
    /// Starts listening (on the current tokio runtime).
    pub fn listen() -> Signals {
        let stop = CancellationToken::new();
        let reload = Arc::new(Notify::new());
        let t = stop.clone();
        tokio::spawn(async move {
            match tokio::signal::ctrl_c().await {
                Ok(()) => {
                    info!("interrupted; shutting down");
                    t.cancel();
                }
                Err(e) => error!(error = %e, "cannot listen for SIGINT"),
            }
        });
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let t = stop.clone();
            tokio::spawn(async move {
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => {
                        term.recv().await;
                        info!("SIGTERM; shutting down");
                        t.cancel();
                    }
                    Err(e) => error!(error = %e, "cannot listen for SIGTERM"),
                }
            });
            let r = reload.clone();
            tokio::spawn(async move {
                match signal(SignalKind::hangup()) {
                    Ok(mut hup) => {
                        while hup.recv().await.is_some() {
                            info!("SIGHUP; reading the configuration again");
                            r.notify_one();
                        }
                    }
                    Err(e) => error!(error = %e, "cannot listen for SIGHUP"),
                }
            });
        }
        Signals { stop, reload }
    }
}
