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

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::Session;
use chrono::Utc;
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use super::{Batch, Fetched, MailSource, MailboxError};
use crate::config::{ImapConfig, Security};
use crate::store::Cursor;

/// How often an IDLE is re-issued.
pub const IDLE_REISSUE: Duration = Duration::from_secs(20 * 60);

/// Messages fetched per UID FETCH: bounds memory whatever the backlog.
const FETCH_CHUNK: u32 = 500;

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

/// Opens a TCP (and TLS) connection to the configured server.
pub async fn connect(cfg: &ImapConfig) -> Result<Connection, MailboxError> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let tcp = timed(cfg.timeout, TcpStream::connect(&addr))
        .await
        .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
    tcp.set_nodelay(true).ok();
    match cfg.security {
        Security::Plain => Ok(Connection::Plain(tcp)),
        Security::Tls | Security::Starttls => {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = ClientConfig::builder_with_provider(Arc::new(
                tokio_rustls::rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = ServerName::try_from(cfg.host.clone())
                .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
            let tls = timed(
                cfg.timeout,
                TlsConnector::from(Arc::new(config)).connect(name, tcp),
            )
            .await
            .map_err(|e| MailboxError::Connect(addr.clone(), e.to_string()))?;
            Ok(Connection::Tls(Box::new(tls)))
        }
    }
}

impl ImapSource {
    /// Connects lazily, on the first fetch.
    pub fn new(cfg: ImapConfig) -> Self {
        Self {
            cfg,
            session: None,
            idle: false,
        }
    }

    async fn session(&mut self) -> Result<&mut Session<Connection>, MailboxError> {
        if self.session.is_none() {
            let conn = connect(&self.cfg).await?;
            let mut client = async_imap::Client::new(conn);
            // The server greets first.
            timed(self.cfg.timeout, async {
                client
                    .read_response()
                    .await
                    .map_err(MailboxError::Io)?
                    .ok_or_else(|| {
                        MailboxError::Imap(
                            "the server closed the connection before greeting".into(),
                        )
                    })
            })
            .await?;
            let password = self.cfg.password.read().map_err(MailboxError::Config)?;
            let mut session = match timed(self.cfg.timeout, async {
                client
                    .login(&self.cfg.user, password.expose())
                    .await
                    .map_err(|(e, _)| e)
                    .map_err(MailboxError::from)
            })
            .await
            {
                Ok(s) => s,
                Err(MailboxError::Imap(_)) => {
                    return Err(MailboxError::Login(self.cfg.user.clone()))
                }
                Err(e) => return Err(e),
            };
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
    ) -> Result<Batch, MailboxError> {
        let timeout = self.cfg.timeout;
        let folder = self.cfg.folder.clone();
        let session = self.session().await?;
        let mb = timed(timeout, session.examine(&folder)).await?;
        let uidvalidity = mb.uid_validity.unwrap_or(0);
        let uid_next = mb.uid_next.unwrap_or(1);
        let after = match cursor {
            Some(c) if c.uidvalidity == uidvalidity => c.last_uid,
            Some(c) => {
                warn!(old = c.uidvalidity, new = uidvalidity, "UIDVALIDITY changed: reading the folder again from the start (duplicates are recognised)");
                0
            }
            None => 0,
        };
        if mb.exists == 0 || after + 1 >= uid_next {
            return Ok(Batch {
                uidvalidity,
                messages: vec![],
                scanned_to: after,
                more: false,
            });
        }
        let chunk = FETCH_CHUNK
            .min(u32::try_from(max).unwrap_or(u32::MAX))
            .max(1);
        let last = (after.saturating_add(chunk)).min(uid_next - 1);
        let range = format!("{}:{}", after + 1, last);
        debug!(%range, "fetching");
        let mut messages = Vec::new();
        timed(timeout, async {
            let mut stream = session
                .uid_fetch(&range, "(UID INTERNALDATE BODY.PEEK[])")
                .await?;
            while let Some(f) = stream.next().await {
                let f = f?;
                // "N:M" may answer with messages outside the range on some
                // servers (and `*` always matches the last one): keep ours only.
                let Some(uid) = f.uid.filter(|u| *u > after && *u <= last) else {
                    continue;
                };
                let internal_date = f
                    .internal_date()
                    .map(|d| d.with_timezone(&Utc))
                    .ok_or_else(|| {
                        MailboxError::Imap(format!("UID {uid} came without INTERNALDATE"))
                    })?;
                let raw = f.body().unwrap_or_default().to_vec();
                messages.push(Fetched {
                    key: format!("uid:{uidvalidity}:{uid}"),
                    uid: Some(uid),
                    internal_date,
                    raw,
                });
            }
            Ok::<(), MailboxError>(())
        })
        .await?;
        messages.sort_by_key(|m| m.uid);
        Ok(Batch {
            uidvalidity,
            messages,
            scanned_to: last,
            more: last + 1 < uid_next,
        })
    }

    async fn wait_inner(&mut self, timeout: Duration) -> Result<(), MailboxError> {
        let cmd_timeout = self.cfg.timeout;
        let folder = self.cfg.folder.clone();
        self.session().await?;
        if !self.idle {
            tokio::time::sleep(timeout.min(self.cfg.poll_interval)).await;
            return Ok(());
        }
        let mut session = self.session.take().expect("connected above");
        timed(cmd_timeout, session.examine(&folder)).await?;
        let mut handle = session.idle();
        timed(cmd_timeout, handle.init()).await?;
        let limit = timeout.min(IDLE_REISSUE);
        {
            let (fut, _stop) = handle.wait_with_timeout(limit);
            // The outer timeout is the one that matters: keep-alive lines from
            // the server reset the inner one.
            match tokio::time::timeout(limit, fut).await {
                Ok(Ok(resp)) => debug!(?resp, "IDLE ended"),
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
    fn fetch<'a>(
        &'a mut self,
        cursor: Option<Cursor>,
        max: usize,
    ) -> BoxFuture<'a, Result<Batch, MailboxError>> {
        Box::pin(async move {
            let r = self.fetch_inner(cursor, max).await;
            if r.is_err() {
                self.session = None;
            }
            r
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
