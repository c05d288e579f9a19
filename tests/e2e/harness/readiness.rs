//! Waiting until a daemon really serves a port: it accepts a connection *and* sends its
//! greeting, and the greeting carries this stack's own token.
//!
//! An open port alone is not enough: Dovecot and Postfix bind their listeners before the
//! login, auth and smtpd processes can answer. The token (put into `login_greeting` and
//! `smtpd_banner`) proves the answer comes from this stack's daemon and not from some
//! other process that got the port.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::process::Daemon;

/// The greeting style of a port.
#[derive(Clone, Copy, Debug)]
pub enum Greeting {
    /// `* OK ...`, then `LOGOUT` to leave politely.
    Imap,
    /// `220 ...` (SMTP and LMTP), then `QUIT`.
    Smtp,
}

/// Why a daemon did not become ready.
#[derive(Debug)]
pub enum NotReady {
    /// The master exited: usually a configuration error or a port taken meanwhile.
    Exited(std::process::ExitStatus),
    /// Still no proper greeting at the deadline; holds the last thing that went wrong.
    TimedOut(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Exited(status) => write!(f, "exited at start ({status})"),
            NotReady::TimedOut(last) => write!(f, "not ready in time (last: {last})"),
        }
    }
}

/// Polls `port` until it greets with a line containing `token`, the daemon exits, or
/// `deadline` passes.
pub async fn wait_until_ready(
    daemon: &mut Daemon,
    port: u16,
    greeting: Greeting,
    token: &str,
    deadline: Instant,
) -> Result<(), NotReady> {
    loop {
        if let Some(status) = daemon.exit_status() {
            return Err(NotReady::Exited(status));
        }
        let last = match tokio::time::timeout(Duration::from_secs(2), greet(port, greeting)).await {
            Ok(Ok(line)) if line.contains(token) => return Ok(()),
            Ok(Ok(line)) => format!("port {port} greeted with a stranger's banner: {line}"),
            Ok(Err(e)) => format!("port {port}: {e}"),
            Err(_) => format!("port {port}: no greeting within 2 s"),
        };
        if Instant::now() > deadline {
            return Err(NotReady::TimedOut(last));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Connects, reads the greeting (the last line of a multi-line SMTP one) and says goodbye.
async fn greet(port: u16, greeting: Greeting) -> std::io::Result<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::other("closed before greeting"));
        }
        let done = match greeting {
            Greeting::Imap => true,
            Greeting::Smtp => line.as_bytes().get(3) != Some(&b'-'),
        };
        if done {
            break;
        }
    }
    let (ok, bye): (bool, &[u8]) = match greeting {
        Greeting::Imap => (line.starts_with("* OK"), b"a LOGOUT\r\n"),
        Greeting::Smtp => (line.starts_with("220"), b"QUIT\r\n"),
    };
    // A polite goodbye keeps the daemons' logs free of "lost connection" noise.
    let _ = write.write_all(bye).await;
    let _ = read.read_line(&mut String::new()).await;
    if ok {
        Ok(line.trim_end().to_owned())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected greeting: {}",
            line.trim_end()
        )))
    }
}
