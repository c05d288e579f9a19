//! The bot's IMAP mailbox.
//!
//! The folder is opened read-only (EXAMINE) and fetched by UID with BODY.PEEK[],
//! so the bot never changes a flag: a human can read the same mailbox without
//! confusing it, and it never confuses them. The cursor is (UIDVALIDITY, last
//! UID committed); when the server resets UIDVALIDITY every message is read again
//! and duplicates are recognised by Message-ID and content.
//!
//! New mail is awaited with IDLE when the server offers it, re-issued every 20
//! minutes (RFC 2177 asks for less than 29; servers' keep-alives would otherwise
//! keep a stale IDLE alive forever), and by polling otherwise. Every command has
//! a timeout; any failure drops the connection and the next call reconnects.
//!
//! The connection is TLS from the first byte (993) or plain text upgraded with
//! STARTTLS (143) before the login; certificates are checked against the
//! authorities of `crate::tls::Trust`, and a refusal is told in one sentence
//! that says what to set.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use chrono::Utc;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use super::{Batch, Fetched, MailSource, MailboxError};
use crate::config::{Auth, ImapConfig, Security};
use crate::store::Cursor;
use crate::tls::{self, Peer};

/// How often an IDLE is re-issued.
pub const IDLE_REISSUE: Duration = Duration::from_secs(20 * 60);

/// UIDs looked at per batch.
const FETCH_CHUNK: u32 = 500;

/// Bytes of message bodies fetched per batch (at least one message): with
/// `FETCH_CHUNK`, what bounds the daemon's memory whatever the backlog.
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A plain or TLS connection (plain only to loopback, checked at config load).
#[derive(Debug)]
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An IMAP folder read by UID.
pub struct ImapSource {
    cfg: ImapConfig,
    session: Option<Session<Connection>>,
    idle: bool,
    /// Bytes of a message worth fetching (the reading cap): a larger message is
    /// fetched only up to here.
    max_message_bytes: usize,
    /// (UIDVALIDITY, UIDNEXT) as the last fetch saw them: mail that arrives after
    /// it and before IDLE begins raises no IDLE event, so the wait compares.
    seen: Option<(u32, u32)>,
    /// The folder as this session's last EXAMINE found it: (UIDVALIDITY, UIDNEXT,
    /// EXISTS). A backlog is read batch after batch up to that UIDNEXT without
    /// opening the folder again: on a large folder each EXAMINE costs the server
    /// a sync of its index (0.3 s a batch at 100,000 messages in Maildir). Any
    /// wait, error or new connection forgets it, so new mail is always seen.
    selected: Option<(u32, u32, u32)>,
}

/// A UID and its RFC822.SIZE.
type Listed = (u32, usize);

/// One message's attributes from a FETCH.
struct Item {
    uid: u32,
    size: Option<usize>,
    internal_date: Option<chrono::DateTime<Utc>>,
    body: Option<Vec<u8>>,
}

/// Runs `UID FETCH set items` and reads every response up to the command's own
/// tagged completion, which must be OK. (async-imap's fetch stream ends quietly
/// on a NO, a BAD or a dropped connection; a partial answer taken for a whole
/// one would move the cursor past messages never read.) Only UIDs in
/// `(after, upto]` are kept: a server may answer with others, and a FETCH that
/// another session's flag change caused is not ours.
async fn fetch_items(
    session: &mut Session<Connection>,
    set: &str,
    items: &str,
    after: u32,
    upto: u32,
) -> Result<Vec<Item>, MailboxError> {
    use async_imap::imap_proto::{AttributeValue, Response, Status};
    let id = session
        .run_command(format!("UID FETCH {set} {items}"))
        .await?;
    let mut out = Vec::new();
    loop {
        let resp = session.read_response().await?.ok_or_else(|| {
            MailboxError::Imap("the server closed the connection during a FETCH".into())
        })?;
        match resp.parsed() {
            Response::Fetch(_, attrs) => {
                let mut item = Item {
                    uid: 0,
                    size: None,
                    internal_date: None,
                    body: None,
                };
                for a in attrs {
                    match a {
                        AttributeValue::Uid(u) => item.uid = *u,
                        AttributeValue::Rfc822Size(n) => item.size = Some(*n as usize),
                        AttributeValue::InternalDate(d) => item.internal_date = internal_date(d),
                        AttributeValue::BodySection {
                            section: None,
                            data: Some(d),
                            ..
                        }
                        | AttributeValue::Rfc822(Some(d)) => item.body = Some(d.to_vec()),
                        _ => {}
                    }
                }
                if item.uid > after && item.uid <= upto {
                    out.push(item);
                }
            }
            Response::Done {
                tag,
                status,
                outcome,
            } if tag.0 == id.0 => {
                return match status {
                    Status::Ok => {
                        out.sort_by_key(|i| i.uid);
                        Ok(out)
                    }
                    other => Err(MailboxError::Imap(format!(
                        "UID FETCH was answered {other:?}: {}",
                        outcome.information.as_deref().unwrap_or("")
                    ))),
                };
            }
            Response::Data {
                status: Status::Bye,
                ..
            } => {
                return Err(MailboxError::Imap(
                    "the server said BYE during a FETCH".into(),
                ))
            }
            _ => {}
        }
    }
}

/// An IMAP date-time (`"24-Nov-2026 10:40:12 +0900"`, the day maybe space-padded).
fn internal_date(s: &str) -> Option<chrono::DateTime<Utc>> {
    chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A UID set in IMAP syntax, runs collapsed: `1:5,7,9:12`.
fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |out: &mut String, (a, b): (u32, u32)| {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}:{b}"));
        }
    };
    for u in uids {
        run = match run {
            Some((a, b)) if u == b + 1 => Some((a, u)),
            Some(r) => {
                flush(&mut out, r);
                Some((u, u))
            }
            None => Some((u, u)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

fn imap_err(e: async_imap::error::Error) -> MailboxError {
    MailboxError::Imap(e.to_string())
}

async fn timed<T, E: Into<MailboxError>>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, MailboxError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(MailboxError::Timeout(limit)),
    }
}

impl From<async_imap::error::Error> for MailboxError {
    fn from(e: async_imap::error::Error) -> Self {
        imap_err(e)
    }
}

/// The server as the configuration names it, for the sentence a TLS failure
/// is told in.
fn peer(cfg: &ImapConfig) -> Peer<'_> {
    Peer {
        table: "[mailbox]",
        host: &cfg.host,
        port: cfg.port,
        security: cfg.security,
        trust: &cfg.trust,
    }
}

/// The TLS handshake over `tcp`, its failure told as one sentence.
async fn handshake(cfg: &ImapConfig, tcp: TcpStream) -> Result<Connection, MailboxError> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let config = cfg
        .trust
        .client_config()
        .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
    let name = ServerName::try_from(cfg.host.clone())
        .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
    match tokio::time::timeout(cfg.timeout, TlsConnector::from(config).connect(name, tcp)).await {
        Ok(Ok(tls)) => Ok(Connection::Tls(Box::new(tls))),
        Ok(Err(e)) => Err(match tls::rustls_cause(&e) {
            Some(cause) => MailboxError::Tls(tls::explain(cause, &peer(cfg))),
            None => MailboxError::Connect(addr, e.to_string()),
        }),
        Err(_) => Err(MailboxError::Timeout(cfg.timeout)),
    }
}

/// Whether a capability list names STARTTLS.
fn lists_starttls(caps: &[async_imap::imap_proto::Capability]) -> bool {
    caps.iter().any(|c| {
        matches!(c, async_imap::imap_proto::Capability::Atom(a) if a.eq_ignore_ascii_case("STARTTLS"))
    })
}

/// Reads the server's greeting, the first thing it says, before any command;
/// and whether it offers STARTTLS, when the greeting lists its capabilities
/// (`* OK [CAPABILITY ... STARTTLS] ...`, as Dovecot's does).
async fn greeting<T>(
    cfg: &ImapConfig,
    client: &mut async_imap::Client<T>,
) -> Result<Option<bool>, MailboxError>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    use async_imap::imap_proto::{Response, ResponseCode};
    let read = async {
        client
            .read_response()
            .await
            .map_err(MailboxError::Io)?
            .ok_or_else(|| {
                MailboxError::Imap("the server closed the connection before greeting".into())
            })
    };
    let hello = match tokio::time::timeout(cfg.timeout, read).await {
        Ok(r) => r?,
        // A STARTTLS client waits for a greeting in clear that a server on an
        // implicit-TLS port never sends: it waits for our handshake.
        Err(_) if cfg.security == Security::Starttls => {
            return Err(MailboxError::Imap(format!(
                "{}:{} sent no greeting within {} s; if that port expects TLS from the first byte (usually 993), set [mailbox] security = \"tls\"",
                cfg.host,
                cfg.port,
                cfg.timeout.as_secs()
            )))
        }
        Err(_) => return Err(MailboxError::Timeout(cfg.timeout)),
    };
    Ok(match hello.parsed() {
        Response::Data { outcome, .. } => match &outcome.code {
            Some(ResponseCode::Capabilities(caps)) => Some(lists_starttls(caps)),
            _ => None,
        },
        _ => None,
    })
}

/// Whether the server offers STARTTLS: as its greeting said, or by asking
/// (CAPABILITY, with a tag of our own: the library keeps its command runner
/// to itself before login).
async fn offers_starttls(
    client: &mut async_imap::Client<TcpStream>,
    from_greeting: Option<bool>,
) -> Result<bool, MailboxError> {
    use async_imap::imap_proto::Response;
    use tokio::io::AsyncWriteExt;
    if let Some(offered) = from_greeting {
        return Ok(offered);
    }
    const TAG: &str = "cap0";
    let stream = client.get_mut();
    stream
        .write_all(format!("{TAG} CAPABILITY\r\n").as_bytes())
        .await?;
    stream.flush().await?;
    let mut offered = false;
    loop {
        let resp = client.read_response().await?.ok_or_else(|| {
            MailboxError::Imap("the server closed the connection during CAPABILITY".into())
        })?;
        match resp.parsed() {
            Response::Capabilities(caps) => offered |= lists_starttls(caps),
            Response::Done { tag, .. } if tag.0 == TAG => return Ok(offered),
            _ => {}
        }
    }
}

/// Opens a connection the bot may log in on: TLS from the first byte
/// (`security = "tls"`); plain text upgraded with STARTTLS before anything
/// else is said (`"starttls"`, RFC 3501 6.2.1: greeting, capability,
/// STARTTLS, handshake, and no second greeting); or plain text, which the
/// configuration allows only to this machine.
pub async fn connect(cfg: &ImapConfig) -> Result<async_imap::Client<Connection>, MailboxError> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let tcp = timed(cfg.timeout, TcpStream::connect(&addr))
        .await
        .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
    tcp.set_nodelay(true).ok();
    match cfg.security {
        Security::Plain | Security::Tls => {
            let conn = match cfg.security {
                Security::Tls => handshake(cfg, tcp).await?,
                _ => Connection::Plain(tcp),
            };
            let mut client = async_imap::Client::new(conn);
            greeting(cfg, &mut client).await?;
            Ok(client)
        }
        Security::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            let listed = greeting(cfg, &mut client).await?;
            if !timed(cfg.timeout, offers_starttls(&mut client, listed)).await? {
                return Err(MailboxError::Tls(tls::no_starttls(&peer(cfg))));
            }
            timed(
                cfg.timeout,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            // Whatever the library read past the tagged OK stays in its buffer,
            // which into_inner drops: bytes before the handshake are plain text
            // anyone on the path could have written, and must not be taken as
            // the server's (the STARTTLS response injection of CVE-2011-0411).
            // The capabilities are asked again after login, over TLS.
            let conn = handshake(cfg, client.into_inner()).await?;
            Ok(async_imap::Client::new(conn))
        }
    }
}

/// Logs in as the configuration says. Each way of proving who the bot is
/// (`Auth`) has its arm here; a refusal names the user, never the secret.
async fn login(
    cfg: &ImapConfig,
    client: async_imap::Client<Connection>,
) -> Result<Session<Connection>, MailboxError> {
    let user = &cfg.login.user;
    let result = match &cfg.login.auth {
        Auth::Password(secret) => {
            let password = secret.read().map_err(|e| {
                MailboxError::Config(format!("[mailbox] {}: {e}", secret.key("password")))
            })?;
            timed(cfg.timeout, async {
                client
                    .login(user, password.expose())
                    .await
                    .map_err(|(e, _)| MailboxError::from(e))
            })
            .await
        }
    };
    match result {
        Err(MailboxError::Imap(_)) => Err(MailboxError::Login(user.clone())),
        other => other,
    }
}

impl ImapSource {
    /// Connects lazily, on the first fetch. Messages larger than
    /// `max_message_bytes` are fetched only up to it.
    pub fn new(cfg: ImapConfig, max_message_bytes: usize) -> Self {
        Self {
            cfg,
            session: None,
            idle: false,
            max_message_bytes: max_message_bytes.max(1),
            seen: None,
            selected: None,
        }
    }

    async fn session(&mut self) -> Result<&mut Session<Connection>, MailboxError> {
        if self.session.is_none() {
            let client = connect(&self.cfg).await?;
            let mut session = login(&self.cfg, client).await?;
            let caps = timed(self.cfg.timeout, session.capabilities()).await?;
            self.idle = self.cfg.idle && caps.has_str("IDLE");
            info!(idle = self.idle, "connected to the IMAP server");
            self.session = Some(session);
        }
        Ok(self.session.as_mut().expect("just set"))
    }

    async fn fetch_inner(
        &mut self,
        cursor: Option<Cursor>,
        max: usize,
    ) -> Result<(Batch, (u32, u32)), MailboxError> {
        let timeout = self.cfg.timeout;
        let folder = self.cfg.folder.clone();
        let cap = self.max_message_bytes;
        if self.session.is_none() {
            self.selected = None;
        }
        let known = self.selected;
        let session = self.session().await?;
        let (uidvalidity, uid_next, exists) = match (known, cursor) {
            // More of the folder as examined is still to read: no need to open it again.
            (Some((v, next, exists)), Some(c)) if c.uidvalidity == v && c.last_uid + 1 < next => {
                (v, next, exists)
            }
            _ => {
                let mb = timed(timeout, session.examine(&folder)).await?;
                (
                    mb.uid_validity.unwrap_or(0),
                    mb.uid_next.unwrap_or(1),
                    mb.exists,
                )
            }
        };
        self.selected = Some((uidvalidity, uid_next, exists));
        let session = self.session.as_mut().expect("connected above");
        let after = match cursor {
            Some(c) if c.uidvalidity == uidvalidity => c.last_uid,
            Some(c) => {
                warn!(old = c.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: reading the folder again from the start (duplicates are recognised)");
                0
            }
            None => 0,
        };
        let seen = (uidvalidity, uid_next);
        if exists == 0 || after + 1 >= uid_next {
            let empty = Batch {
                uidvalidity,
                messages: vec![],
                scanned_to: after,
                more: false,
                pending: 0,
            };
            return Ok((empty, seen));
        }
        let chunk = FETCH_CHUNK
            .min(u32::try_from(max).unwrap_or(u32::MAX))
            .max(1);
        let last = (after.saturating_add(chunk)).min(uid_next - 1);

        // Which messages the range holds, and how big they are: a batch is cut to
        // a byte budget before any body is fetched, and an oversized message is
        // fetched only up to the reading cap.
        let listed = timed(
            timeout,
            fetch_items(
                session,
                &format!("{}:{last}", after + 1),
                "(UID RFC822.SIZE)",
                after,
                last,
            ),
        )
        .await?;
        let mut chosen: Vec<Listed> = Vec::new();
        let mut bytes = 0usize;
        for item in &listed {
            let size = item.size.unwrap_or(0).min(cap);
            if !chosen.is_empty() && bytes + size > BATCH_BYTES {
                break;
            }
            bytes += size;
            chosen.push((item.uid, item.size.unwrap_or(0)));
        }
        // Every UID up to here has been looked at: a gap is an expunged message.
        let covered = if chosen.len() == listed.len() {
            last
        } else {
            chosen.last().map(|c| c.0).unwrap_or(last)
        };
        let (whole, big): (Vec<Listed>, Vec<Listed>) =
            chosen.iter().partition(|(_, size)| *size <= cap);
        let mut messages = Vec::with_capacity(chosen.len());
        if !whole.is_empty() {
            let set = uid_set(whole.iter().map(|c| c.0));
            debug!(range = %set, "fetching");
            let got = timed(
                timeout,
                fetch_items(
                    session,
                    &set,
                    "(UID INTERNALDATE BODY.PEEK[])",
                    after,
                    covered,
                ),
            )
            .await?;
            messages.extend(got);
        }
        for &(uid, size) in &big {
            warn!(
                uid,
                size,
                cap,
                "a message larger than the reading cap: only its first part is fetched and kept"
            );
            let mut got = timed(
                timeout,
                fetch_items(
                    session,
                    &uid.to_string(),
                    &format!("(UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.{cap}>)"),
                    after,
                    covered,
                ),
            )
            .await?;
            // The size listed a moment ago, should this answer leave it out.
            for item in &mut got {
                item.size.get_or_insert(size);
            }
            messages.extend(got);
        }
        let mut fetched = Vec::with_capacity(messages.len());
        for m in messages {
            let (Some(raw), Some(internal_date)) = (m.body, m.internal_date) else {
                // A FETCH without a body: an update about flags, not a message.
                continue;
            };
            // The record keeps the whole message's size: the reader reads a cut
            // message as the whole one (by its headers), and the stored copy shows
            // it was cut (fewer bytes than its size).
            let size = m.size.unwrap_or(0).max(raw.len());
            fetched.push(Fetched {
                key: format!("uid:{uidvalidity}:{}", m.uid),
                uid: Some(m.uid),
                internal_date,
                size,
                raw,
            });
        }
        fetched.sort_by_key(|m| m.uid);
        fetched.dedup_by_key(|m| m.uid);
        // The server said OK to every FETCH; a chosen message that came back
        // without its body was expunged between the two commands.
        if fetched.len() < chosen.len() {
            warn!(
                missing = chosen.len() - fetched.len(),
                "messages disappeared while being fetched (expunged); skipped"
            );
        }
        let pending = (uid_next - 1).saturating_sub(covered) as usize;
        let batch = Batch {
            uidvalidity,
            messages: fetched,
            scanned_to: covered,
            more: covered + 1 < uid_next,
            pending: pending.min(exists as usize),
        };
        Ok((batch, seen))
    }

    async fn wait_inner(&mut self, timeout: Duration) -> Result<(), MailboxError> {
        // After a wait the folder is examined again: mail may have come.
        self.selected = None;
        let cmd_timeout = self.cfg.timeout;
        let folder = self.cfg.folder.clone();
        self.session().await?;
        if !self.idle {
            tokio::time::sleep(timeout.min(self.cfg.poll_interval)).await;
            return Ok(());
        }
        let mut session = self.session.take().expect("connected above");
        let mb = timed(cmd_timeout, session.examine(&folder)).await?;
        // Mail that arrived after the last fetch and before this IDLE would raise
        // no event: read it now.
        let now = (mb.uid_validity.unwrap_or(0), mb.uid_next.unwrap_or(1));
        if self.seen.is_some_and(|seen| seen != now) {
            self.session = Some(session);
            return Ok(());
        }
        let mut handle = session.idle();
        timed(cmd_timeout, handle.init()).await?;
        let limit = timeout.min(IDLE_REISSUE);
        {
            let (fut, _stop) = handle.wait_with_timeout(limit);
            // The outer timeout is the one that matters: keep-alive lines from
            // the server reset the inner one.
            match tokio::time::timeout(limit, fut).await {
                // Which kind of end only: the server's data may quote a message.
                Ok(Ok(resp)) => debug!(
                    event = match resp {
                        IdleResponse::NewData(_) => "new data",
                        IdleResponse::Timeout => "timeout",
                        IdleResponse::ManualInterrupt => "interrupted",
                    },
                    "IDLE ended"
                ),
                Ok(Err(e)) => return Err(imap_err(e)),
                Err(_) => debug!("IDLE re-issued"),
            }
        }
        let session = timed(cmd_timeout, handle.done()).await?;
        self.session = Some(session);
        Ok(())
    }
}

impl MailSource for ImapSource {
    fn reads_ahead(&self) -> bool {
        true
    }

    fn fetch<'a>(
        &'a mut self,
        cursor: Option<Cursor>,
        max: usize,
    ) -> BoxFuture<'a, Result<Batch, MailboxError>> {
        Box::pin(async move {
            match self.fetch_inner(cursor, max).await {
                Ok((batch, seen)) => {
                    self.seen = Some(seen);
                    Ok(batch)
                }
                Err(e) => {
                    self.session = None;
                    Err(e)
                }
            }
        })
    }

    fn committed<'a>(
        &'a mut self,
        _message: &'a Fetched,
    ) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async { Ok(()) })
    }

    fn wait<'a>(&'a mut self, timeout: Duration) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async move {
            let r = self.wait_inner(timeout).await;
            if r.is_err() {
                self.session = None;
            }
            r
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut s) = self.session.take() {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
            }
        })
    }
}
