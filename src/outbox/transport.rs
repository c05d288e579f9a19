//! How queued mail leaves: over SMTP, into a folder of .eml files, or (unit
//! tests) into memory. One trait, our own error type, so the worker does not
//! care which.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::redact_addresses;
use crate::config::{Auth, OutgoingConfig, Security, SmtpConfig};
use crate::store::OutboxMail;
use crate::tls::{self as tls_check, Peer, Trust};

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
    /// The connection could not be made safe (a certificate refused, no
    /// STARTTLS): nothing was sent. The mail waits and is tried again, since
    /// the mail itself is fine; the sentence says what the admin must set.
    #[error("{}", redact_addresses(.0))]
    Tls(String),
}

impl TransportError {
    /// The whole text, addresses included: for `outbox.last_error`, which an
    /// admin reads with `show`; never for a log line.
    pub fn detail(&self) -> &str {
        match self {
            TransportError::Transient(s)
            | TransportError::Permanent(s)
            | TransportError::Tls(s) => s,
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

/// An SMTP relay (lettre, rustls with the webpki roots and any `ca_file`:
/// certificates are verified).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    describe: String,
    /// Where the relay is and how it is reached, for the sentence a TLS
    /// failure is told in.
    host: String,
    port: u16,
    security: Security,
    trust: Trust,
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
        let tls_params = || tls_parameters(&cfg.host, &cfg.trust);
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(cfg.timeout));
        b = match cfg.security {
            Security::Tls => b.tls(Tls::Wrapper(tls_params()?)),
            Security::Starttls => b.tls(Tls::Required(tls_params()?)),
            // Checked at load: only to a loopback host.
            Security::Plain => b.tls(Tls::None),
        };
        if let Some(login) = &cfg.login {
            match &login.auth {
                Auth::Password(secret) => {
                    let password = secret
                        .read()
                        .map_err(|e| format!("[outgoing] {}: {e}", secret.key("password")))?;
                    b = b.credentials(Credentials::new(
                        login.user.clone(),
                        password.expose().to_string(),
                    ));
                }
            }
        }
        Ok(Self {
            inner: b.build(),
            describe: format!("smtp://{}:{}", cfg.host, cfg.port),
            host: cfg.host.clone(),
            port: cfg.port,
            security: cfg.security,
            trust: cfg.trust.clone(),
            timeout: cfg.timeout,
            self_copy,
        })
    }
}

/// lettre's TLS parameters for `host` under `trust`: the same authorities the
/// IMAP reader trusts (`crate::tls`), built through lettre's own builder so it
/// keeps its rustls configuration.
fn tls_parameters(host: &str, trust: &Trust) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(host.to_string()).certificate_store(if trust.public_roots {
        CertificateStore::WebpkiRoots
    } else {
        CertificateStore::None
    });
    for der in &trust.authorities {
        let cert = Certificate::from_der(der.to_vec())
            .map_err(|e| format!("[outgoing] ca_file: a certificate lettre cannot use: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls()
        .map_err(|e| format!("TLS setup for {host} failed: {e}"))
}

impl SmtpTransport {
    fn peer(&self) -> Peer<'_> {
        Peer {
            table: "[outgoing]",
            host: &self.host,
            port: self.port,
            security: self.security,
            trust: &self.trust,
        }
    }

    /// What a failed send was: a refusal, something to retry, or a connection
    /// that could not be made safe (then the sentence says what to set).
    fn classify(&self, e: lettre::transport::smtp::Error) -> TransportError {
        if let Some(cause) = tls_check::rustls_cause(&e) {
            return TransportError::Tls(tls_check::explain(cause, &self.peer()));
        }
        // lettre says so in words only (a client error with this text), and
        // gives up before sending anything.
        if e.is_client() && e.to_string().contains("STARTTLS is not supported") {
            return TransportError::Tls(tls_check::no_starttls(&self.peer()));
        }
        if e.is_permanent() {
            TransportError::Permanent(e.to_string())
        } else {
            TransportError::Transient(e.to_string())
        }
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
                    "{} did not finish the send within {} s{}",
                    self.describe,
                    self.timeout.as_secs(),
                    // A STARTTLS client waits for a greeting that a server
                    // on an implicit-TLS port never sends in clear.
                    if self.security == Security::Starttls {
                        " (if that port expects TLS from the first byte, usually 465, set [outgoing] security = \"tls\")"
                    } else {
                        ""
                    }
                ))),
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(self.classify(e)),
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
            trust: Trust::public(),
            login: None,
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

    /// An SMTP server that greets and answers EHLO without offering STARTTLS.
    async fn server_without_starttls() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                tokio::spawn(async move {
                    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
                    let (read, mut write) = sock.into_split();
                    let _ = write.write_all(b"220 plain.test ESMTP\r\n").await;
                    let mut lines = BufReader::new(read).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let answer: &[u8] = if line.starts_with("EHLO") {
                            b"250-plain.test\r\n250 8BITMIME\r\n"
                        } else {
                            b"221 bye\r\n"
                        };
                        let _ = write.write_all(answer).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_relay_without_starttls_is_never_sent_to_in_plain_text_and_the_error_says_what_to_set(
    ) {
        let port = server_without_starttls().await;
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: Security::Starttls,
            trust: Trust::public(),
            login: None,
            timeout: std::time::Duration::from_secs(5),
            self_copy: false,
        };
        let t = SmtpTransport::new(&cfg, None).unwrap();
        let e = t.send(&mail()).await.unwrap_err();
        assert!(matches!(e, TransportError::Tls(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("127.0.0.1:{port} does not offer STARTTLS, and the bot never sends a password or mail in plain text; if the server offers TLS from the first byte (usually port 993 for IMAP, 465 for SMTP), set [outgoing] security = \"tls\" and that port")
        );
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
