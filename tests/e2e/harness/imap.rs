//! The harness's own IMAP access to a stack's mailboxes: async-imap over a plain loopback
//! TcpStream, the same library the daemon uses, so a harness failure looks like a daemon one.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Context};
use chrono::{DateTime, FixedOffset};
use futures::TryStreamExt;
use tokio::net::TcpStream;

use super::message::StoredMessage;

/// A logged-in IMAP session on a stack's Dovecot.
pub type ImapSession = async_imap::Session<TcpStream>;

/// No exchange of the harness takes this long unless the server hangs, and a hung server
/// must fail the test rather than hang it: cargo test has no timeout of its own.
pub const TIMEOUT: Duration = Duration::from_secs(30);

async fn within<T>(
    what: &str,
    limit: Duration,
    exchange: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| anyhow!("{what} got no answer within {limit:?}"))?
}

/// Connects, reads the greeting and logs in.
pub async fn login(port: u16, user: &str, password: &str) -> anyhow::Result<ImapSession> {
    login_within(port, user, password, TIMEOUT).await
}

/// [`login`] with a time limit of the caller's choosing (polls use a short one).
pub async fn login_within(
    port: u16,
    user: &str,
    password: &str,
    limit: Duration,
) -> anyhow::Result<ImapSession> {
    within("IMAP login", limit, connect_and_login(port, user, password)).await
}

/// Logs out, ignoring errors: the session is done with either way.
pub async fn logout(mut session: ImapSession) {
    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
}

async fn connect_and_login(port: u16, user: &str, password: &str) -> anyhow::Result<ImapSession> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to IMAP on 127.0.0.1:{port}"))?;
    let mut client = async_imap::Client::new(stream);
    // async_imap::Client::new leaves the server's "* OK" greeting unread.
    client
        .read_response()
        .await
        .context("reading the IMAP greeting")?
        .ok_or_else(|| anyhow!("the IMAP server closed the connection before its greeting"))?;
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| anyhow!("IMAP LOGIN as {user} failed: {e}"))
}

/// APPENDs `raw` to the INBOX, with the given INTERNALDATE or the server's now.
pub async fn append(
    session: &mut ImapSession,
    raw: &[u8],
    internal_date: Option<DateTime<FixedOffset>>,
) -> anyhow::Result<()> {
    // RFC 3501 date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", quoted.
    let date = internal_date.map(|d| format!("\"{}\"", d.format("%d-%b-%Y %H:%M:%S %z")));
    within("IMAP APPEND", TIMEOUT, async {
        session
            .append("INBOX", None, date.as_deref(), raw)
            .await
            .context("IMAP APPEND to INBOX")
    })
    .await
}

/// Number of messages in the INBOX, by STATUS, which sees new deliveries without a SELECT.
pub async fn inbox_count(session: &mut ImapSession, limit: Duration) -> anyhow::Result<usize> {
    within("IMAP STATUS", limit, async {
        let status = session
            .status("INBOX", "(MESSAGES)")
            .await
            .context("IMAP STATUS INBOX")?;
        Ok(status.exists as usize)
    })
    .await
}

/// Every message of the INBOX in UID order. EXAMINE (read-only) and BODY.PEEK leave
/// flags and \Recent alone, so reading in a test does not change what the daemon sees.
pub async fn inbox(session: &mut ImapSession) -> anyhow::Result<Vec<StoredMessage>> {
    within("IMAP EXAMINE and FETCH", TIMEOUT, fetch_inbox(session)).await
}

async fn fetch_inbox(session: &mut ImapSession) -> anyhow::Result<Vec<StoredMessage>> {
    let mailbox = session
        .examine("INBOX")
        .await
        .context("IMAP EXAMINE INBOX")?;
    if mailbox.exists == 0 {
        return Ok(Vec::new());
    }
    let fetches: Vec<_> = session
        .uid_fetch("1:*", "(UID INTERNALDATE BODY.PEEK[])")
        .await
        .context("IMAP UID FETCH")?
        .try_collect()
        .await
        .context("reading the IMAP FETCH responses")?;
    let mut messages = fetches
        .iter()
        .map(|f| {
            Ok(StoredMessage {
                uid: f.uid.ok_or_else(|| anyhow!("FETCH response without UID"))?,
                internal_date: f
                    .internal_date()
                    .ok_or_else(|| anyhow!("FETCH response without INTERNALDATE"))?,
                raw: f
                    .body()
                    .ok_or_else(|| anyhow!("FETCH response without BODY[]"))?
                    .to_vec(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    messages.sort_by_key(|m| m.uid);
    Ok(messages)
}
