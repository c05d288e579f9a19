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

use super::redact_addresses;
use crate::config::{OutgoingConfig, Security, SmtpConfig};
use crate::store::OutboxMail;

/// A failed send. The text is the server's or lettre's, which quotes
/// recipients; Display (what logs show) replaces every address, and
/// [`TransportError::detail`] keeps the whole text for the outbox row.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// Worth trying again later (server down, 4xx, network, a timeout).
    #[error("temporary failure: {}", redact_addresses(.0))]
    Transient(String),
    /// The server refused the mail for good (5xx): retrying will not help.
    #[error("refused: {}", redact_addresses(.0))]
    Permanent(String),
}

impl TransportError {
    /// The whole text, addresses included: for `outbox.last_error`, which an
    /// admin reads with `show`; never for a log line.
    pub fn detail(&self) -> &str {
        match self {
            TransportError::Transient(s) | TransportError::Permanent(s) => s,
        }
    }
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
    /// The longest one `send` can take before it gives up. The worker's claim
    /// on a mail must outlast it, or another sender could take the mail over
    /// while this one is still talking to the server.
    fn max_send_time(&self) -> std::time::Duration {
        std::time::Duration::from_secs(60)
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
    /// The whole of one send (connection, TLS, login, envelope, data) gives up
    /// after this long: lettre's own timeout covers only the connection, and
    /// a server that stops answering mid-command would hold the worker forever.
    timeout: std::time::Duration,
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
            timeout: cfg.timeout,
            self_copy,
        })
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, mail: &'a OutboxMail) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let envelope = envelope(mail, self.self_copy.as_ref())?;
            // A send that times out may or may not have been accepted (the
            // data may have gone out before the server fell silent): it is
            // transient, and the worker treats it as an interrupted send.
            match tokio::time::timeout(self.timeout, self.inner.send_raw(&envelope, &mail.raw))
                .await
            {
                Err(_) => Err(TransportError::Transient(format!(
                    "{} did not finish the send within {} s",
                    self.describe,
                    self.timeout.as_secs()
                ))),
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.is_permanent() => Err(TransportError::Permanent(e.to_string())),
                Ok(Err(e)) => Err(TransportError::Transient(e.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn self_copies(&self) -> bool {
        self.self_copy.is_some()
    }

    fn max_send_time(&self) -> std::time::Duration {
        self.timeout
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
            // Owner-only, whatever the umask: these are members' mails. A
            // leftover from a crash is removed first, since opening an
            // existing file keeps its mode.
            match tokio::fs::remove_file(&tmp).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                _ => {}
            }
            let mut opts = tokio::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts.open(&tmp).await.map_err(io)?;
            {
                use tokio::io::AsyncWriteExt;
                f.write_all(&content).await.map_err(io)?;
                f.sync_all().await.map_err(io)?;
            }
            drop(f);
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An SMTP server that greets, then never answers a command.
    pub(crate) async fn stalling_server() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let _ = sock.write_all(b"220 stall.test ESMTP\r\n").await;
                    let mut buf = [0u8; 1024];
                    while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        port
    }

    pub(crate) fn smtp_to(port: u16, timeout_secs: u64, self_copy: bool) -> SmtpTransport {
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: Security::Plain,
            user: None,
            password: None,
            timeout: std::time::Duration::from_secs(timeout_secs),
            self_copy,
        };
        let bot = crate::domain::Address::parse("bot@x.example").unwrap();
        SmtpTransport::new(&cfg, self_copy.then_some(bot)).unwrap()
    }

    pub(crate) fn mail() -> OutboxMail {
        OutboxMail {
            id: 1,
            message_id: "m1@x.example".into(),
            kind: "test".into(),
            ballot: None,
            envelope_from: "bot@x.example".into(),
            recipients: vec!["rep@org.example".into()],
            raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            attempts: 0,
            created_at: chrono::Utc::now(),
            sent_at: None,
            failed_at: None,
            last_error: None,
            sending_since: None,
        }
    }

    #[tokio::test]
    async fn mail_written_to_files_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = FileTransport::new(dir.path().join("sent"));
        // A leftover temporary file from an earlier crash, readable by all.
        std::fs::create_dir_all(dir.path().join("sent")).unwrap();
        let tmp = t.path_for("m1@x.example").with_extension("eml.tmp");
        std::fs::write(&tmp, b"old").unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
        t.send(&mail()).await.unwrap();
        let p = t.path_for("m1@x.example");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .starts_with("X-Envelope-To: rep@org.example\r\n"));
    }

    #[tokio::test]
    async fn a_server_that_stops_answering_mid_conversation_is_given_up_on_after_the_timeout() {
        let port = stalling_server().await;
        let t = smtp_to(port, 1, false);
        let started = std::time::Instant::now();
        let e = t.send(&mail()).await.unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(matches!(e, TransportError::Transient(_)), "{e}");
        assert!(
            e.to_string().contains("did not finish the send within 1 s"),
            "{e}"
        );
        assert_eq!(t.max_send_time(), std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_transport_errors_display_hides_the_recipient_and_its_detail_keeps_it() {
        let e = envelope(
            &OutboxMail {
                recipients: vec!["not an address@@org.example".into()],
                ..mail()
            },
            None,
        )
        .unwrap_err();
        assert!(e.detail().contains("org.example"), "{}", e.detail());
        assert!(!e.to_string().contains("org.example"), "{e}");
        let refused = TransportError::Permanent(
            "permanent error (550): 5.1.1 <ghost@org1.test>: Recipient address rejected".into(),
        );
        assert_eq!(
            refused.to_string(),
            "refused: permanent error (550): 5.1.1 <address>: Recipient address rejected"
        );
        assert!(refused.detail().contains("ghost@org1.test"));
    }
}
