//! How queued mail leaves: over SMTP, into a folder of .eml files, or (unit
//! tests) into memory. One trait, our own error type, so the worker does not
//! care which.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{OutgoingConfig, Security, SmtpConfig};
use crate::store::OutboxMail;

/// A failed send.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Worth trying again later (server down, 4xx, network).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused the mail for good (5xx): retrying will not help.
    #[error("refused: {0}")]
    Permanent(String),
}

/// Somewhere mail can be handed to.
pub trait Transport: Send + Sync {
    /// Hands one mail over. Returns once the other side has taken responsibility for it.
    fn send<'a>(&'a self, mail: &'a OutboxMail) -> BoxFuture<'a, Result<(), TransportError>>;
    /// What it is, for logs (`smtp://host:port`, `file:/path`).
    fn describe(&self) -> String;
    /// True when every mail also goes to the bot's own mailbox, whose copy proves
    /// the relay accepted it.
    fn self_copies(&self) -> bool {
        false
    }
}

/// Builds the configured transport.
pub fn from_config(
    cfg: &OutgoingConfig,
    bot: &crate::domain::Address,
) -> Result<Box<dyn Transport>, String> {
    match cfg {
        OutgoingConfig::Smtp(s) => Ok(Box::new(SmtpTransport::new(
            s,
            s.self_copy.then(|| bot.clone()),
        )?)),
        OutgoingConfig::File { path } => Ok(Box::new(FileTransport::new(path.clone()))),
    }
}

/// An SMTP relay (lettre, rustls with the webpki roots: certificates are verified).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    describe: String,
    /// The bot's address, added to every envelope (a blind copy).
    self_copy: Option<crate::domain::Address>,
}

impl SmtpTransport {
    /// Connects lazily: nothing happens until the first send.
    pub fn new(
        cfg: &SmtpConfig,
        self_copy: Option<crate::domain::Address>,
    ) -> Result<Self, String> {
        let tls_params = || {
            TlsParameters::new(cfg.host.clone())
                .map_err(|e| format!("TLS setup for {} failed: {e}", cfg.host))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(cfg.timeout));
        b = match cfg.security {
            Security::Tls => b.tls(Tls::Wrapper(tls_params()?)),
            Security::Starttls => b.tls(Tls::Required(tls_params()?)),
            // Checked at load: only to a loopback host.
            Security::Plain => b.tls(Tls::None),
        };
        if let (Some(user), Some(secret)) = (&cfg.user, &cfg.password) {
            let password = secret.read()?;
            b = b.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(Self {
            inner: b.build(),
            describe: format!("smtp://{}:{}", cfg.host, cfg.port),
            self_copy,
        })
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, mail: &'a OutboxMail) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let envelope = envelope(mail, self.self_copy.as_ref())?;
            match self.inner.send_raw(&envelope, &mail.raw).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(TransportError::Permanent(e.to_string())),
                Err(e) => Err(TransportError::Transient(e.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn self_copies(&self) -> bool {
        self.self_copy.is_some()
    }
}

fn envelope(
    mail: &OutboxMail,
    copy: Option<&crate::domain::Address>,
) -> Result<Envelope, TransportError> {
    let from = mail
        .envelope_from
        .parse()
        .map_err(|e| TransportError::Permanent(format!("sender {}: {e}", mail.envelope_from)))?;
    let to = mail
        .recipients
        .iter()
        .map(|r| {
            r.parse()
                .map_err(|e| TransportError::Permanent(format!("recipient {r}: {e}")))
        })
        .collect::<Result<Vec<lettre::Address>, _>>()?;
    let mut to = to;
    if let Some(bot) = copy {
        if !mail
            .recipients
            .iter()
            .any(|r| r.eq_ignore_ascii_case(bot.as_str()))
        {
            to.push(
                bot.as_str()
                    .parse()
                    .map_err(|e| TransportError::Permanent(format!("the bot's address: {e}")))?,
            );
        }
    }
    Envelope::new(Some(from), to).map_err(|e| TransportError::Permanent(e.to_string()))
}

/// Writes each mail as `<folder>/<Message-ID>.eml`. Written to a temporary name
/// and renamed, so a reader never sees half a mail; the name is the Message-ID,
/// so sending twice leaves one file.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Mail goes into `dir` (created when needed).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The file a mail with this Message-ID is written to.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        let safe: String = message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}.eml"))
    }
}

impl Transport for FileTransport {
    fn send<'a>(&'a self, mail: &'a OutboxMail) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let io = |e: std::io::Error| {
                TransportError::Transient(format!("{}: {e}", self.dir.display()))
            };
            tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
            let path = self.path_for(&mail.message_id);
            let tmp = path.with_extension("eml.tmp");
            let mut content = Vec::with_capacity(mail.raw.len() + 128);
            // The envelope is not in the headers (Bcc-like recipients would be lost otherwise).
            content.extend_from_slice(
                format!("X-Envelope-To: {}\r\n", mail.recipients.join(", ")).as_bytes(),
            );
            content.extend_from_slice(&mail.raw);
            tokio::fs::write(&tmp, &content).await.map_err(io)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io)?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

/// Keeps mail in memory; can be told to fail. For unit tests of the worker.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    pub sent: Arc<Mutex<Vec<OutboxMail>>>,
    pub fail: Arc<Mutex<Option<TransportError>>>,
    /// Behave like an SMTP transport that sends the bot a copy.
    pub self_copy: bool,
}

impl Transport for MemoryTransport {
    fn send<'a>(&'a self, mail: &'a OutboxMail) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if let Some(e) = self.fail.lock().expect("not poisoned").clone() {
                return Err(e);
            }
            self.sent.lock().expect("not poisoned").push(mail.clone());
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "memory".into()
    }

    fn self_copies(&self) -> bool {
        self.self_copy
    }
}
