//! Telling a service manager how the daemon is (systemd's `sd_notify`
//! protocol, `Type=notify`): `READY=1` once it is running, `WATCHDOG=1` after
//! every scheduler pass, `STOPPING=1` when it stops, and a `STATUS=` line an
//! admin sees in `systemctl status`.
//!
//! The protocol is one datagram to the unix socket named by `$NOTIFY_SOCKET`
//! (a path, or an abstract name when it starts with `@`). Without it (no
//! supervisor, or one that does not ask) every call does nothing. A failure to
//! send is logged at debug level and otherwise ignored: the supervisor's
//! notifications must never stop the daemon.
//!
//! The watchdog is fed by the scheduler, the worker that runs every few
//! seconds whatever the mailbox does: if it hangs, the pings stop and the
//! supervisor restarts the daemon (`WatchdogSec=` in the shipped unit).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tracing::debug;

/// Where to send notifications, read once from the environment.
#[derive(Debug, Default)]
pub struct Notifier {
    socket: Option<String>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (honoured only when
    /// `$WATCHDOG_PID`, if set, is this process).
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty());
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// The watchdog interval the supervisor asked for, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The daemon is running.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// The daemon is alive and its scheduler made a pass.
    pub fn alive(&self) {
        if self.watchdog.is_some() {
            self.send("WATCHDOG=1");
        }
    }

    /// A line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// The daemon is stopping.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        if let Err(e) = send_to(path, message.as_bytes()) {
            debug!(error = %e, "the service manager's notification socket did not take a message");
        }
    }
}

/// A status is one line of the protocol's `KEY=value` list.
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

fn send_to(path: &str, message: &[u8]) -> std::io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(message, &addr)
        }
        #[cfg(not(target_os = "linux"))]
        Some(_) => Err(std::io::Error::other("abstract sockets need Linux")),
        None => socket.send_to(message, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_and_nothing_happens_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let n = Notifier {
            socket: Some(path.display().to_string()),
            watchdog: Some(Duration::from_secs(60)),
        };
        let mut buf = [0u8; 256];
        n.ready("reading the mailbox\nand sending");
        let got = listener.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..got],
            b"READY=1\nSTATUS=reading the mailbox and sending"
        );
        n.alive();
        let got = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"WATCHDOG=1");
        // No watchdog asked for: no pings.
        let quiet = Notifier {
            watchdog: None,
            ..n
        };
        quiet.alive();
        quiet.stopping();
        let got = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"STOPPING=1");
        // Without a socket, nothing is sent and nothing fails.
        Notifier::default().ready("x");
    }
}
