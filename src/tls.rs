//! TLS for the mail adapters: which certificate authorities the bot trusts, and
//! what to tell an admin when a server's certificate is refused.
//!
//! Shared by `mailbox::imap` and `outbox::transport`, so that IMAP and SMTP trust
//! the same authorities and fail with the same sentences. Certificates are always
//! verified (rustls with the ring provider): there is deliberately no setting
//! that turns verification off, only `ca_file` to trust a private authority
//! (beside the public ones, or instead of them with `public_roots = false`).
//!
//! rustls says why it refused a certificate in a typed error
//! ([`CertificateError`]); a library above it (tokio-rustls, lettre) hands it on
//! inside an `io::Error`. [`rustls_cause`] digs it out again and [`explain`]
//! turns it into one sentence that says which check failed and what to set.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS before anything else is said
    /// (IMAP 143, SMTP submission 587).
    Starttls,
    /// No encryption: only allowed to a loopback address.
    Plain,
}

/// The certificate authorities a connection trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The public web authorities (Mozilla's list, built in through
    /// webpki-roots): what a hosting provider's or Microsoft's certificate
    /// is signed by.
    pub public_roots: bool,
    /// Where `authorities` were read from (`ca_file`), for messages.
    pub ca_file: Option<PathBuf>,
    /// Private authorities from `ca_file`, DER.
    pub authorities: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The public authorities only: the default.
    pub fn public() -> Self {
        Trust {
            public_roots: true,
            ca_file: None,
            authorities: Vec::new(),
        }
    }

    /// Reads the authorities of a PEM file: every `CERTIFICATE` block in it (other
    /// blocks, and text around them, are skipped). An error is the end of a
    /// sentence that starts with the file's name.
    pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("is not a PEM file of certificates: {e}"))?;
        if certs.is_empty() {
            return Err(
                "holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks)".into(),
            );
        }
        // Each must be usable as a trust anchor; better said now than at the
        // first connection.
        for cert in &certs {
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| format!("holds a certificate that cannot be trusted: {e}"))?;
        }
        Ok(certs)
    }

    /// The rustls client configuration for these authorities: TLS 1.2 and 1.3,
    /// the ring provider, no client certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, rustls::Error> {
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(self.root_store())
                .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn root_store(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        if self.public_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        // Checked when the configuration was loaded (read_ca_file).
        roots.add_parsable_certificates(self.authorities.iter().cloned());
        roots
    }
}

/// The server a connection is for, as the configuration names it: what the
/// sentence about a failure needs.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// `[mailbox]` or `[outgoing]`.
    pub table: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub security: Security,
    pub trust: &'a Trust,
}

impl Peer<'_> {
    fn at(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The rustls error somewhere in `err`'s chain of causes. tokio-rustls wraps it
/// in an `io::Error`, whose `source()` skips it, so each link is also looked
/// into as an `io::Error`.
pub fn rustls_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                return Some(r);
            }
        }
        link = e.source();
    }
    None
}

/// One sentence saying why TLS with `peer` failed and what to set.
pub fn explain(err: &rustls::Error, peer: &Peer) -> String {
    let (at, table, host) = (peer.at(), peer.table, peer.host);
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::NotValidForName => format!(
                "the certificate of {at} is not valid for the name {host}; set {table} host to a name the certificate holds"
            ),
            CertificateError::NotValidForNameContext { presented, .. } => format!(
                "the certificate of {at} is not valid for the name {host} (it holds {}); set {table} host to one of those",
                if presented.is_empty() {
                    "no name".to_string()
                } else {
                    presented.iter().map(|n| name_of(n)).collect::<Vec<_>>().join(", ")
                }
            ),
            CertificateError::Expired => format!(
                "the certificate of {at} has expired; the server's administrator must renew it (an expired certificate is never accepted)"
            ),
            CertificateError::ExpiredContext { not_after, .. } => format!(
                "the certificate of {at} expired on {}; the server's administrator must renew it (an expired certificate is never accepted)",
                date(*not_after)
            ),
            CertificateError::NotValidYet => format!(
                "the certificate of {at} is not valid yet; check this machine's clock"
            ),
            CertificateError::NotValidYetContext { not_before, .. } => format!(
                "the certificate of {at} is not valid before {}; check this machine's clock",
                date(*not_before)
            ),
            CertificateError::UnknownIssuer => unknown_issuer(peer),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => format!(
                "the certificate of {at} is not one for a server (its extended key usage); the server's administrator must install a server certificate"
            ),
            CertificateError::Revoked => format!(
                "the certificate of {at} has been revoked; the server's administrator must install a new one"
            ),
            other => format!("the certificate of {at} was refused: {other:?}"),
        },
        // Plain text where a TLS record was expected: a greeting in the clear,
        // from a port that wants STARTTLS first.
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            if peer.security == Security::Tls =>
        {
            format!(
                "{at} did not answer in TLS; if that port expects STARTTLS (usually 143 for IMAP, 587 for SMTP), set {table} security = \"starttls\""
            )
        }
        other => format!("TLS with {at} failed: {other}"),
    }
}

/// The sentence for a server that does not offer STARTTLS where the
/// configuration asks for it. The bot never goes on in plain text.
pub fn no_starttls(peer: &Peer) -> String {
    format!(
        "{} does not offer STARTTLS, and the bot never sends a password or mail in plain text; if the server offers TLS from the first byte (usually port 993 for IMAP, 465 for SMTP), set {} security = \"tls\" and that port",
        peer.at(),
        peer.table
    )
}

fn unknown_issuer(peer: &Peer) -> String {
    let (at, table) = (peer.at(), peer.table);
    match (&peer.trust.ca_file, peer.trust.public_roots) {
        (None, _) => format!(
            "the certificate of {at} is not signed by an authority this machine trusts (a self-signed certificate, or a private certificate authority); set {table} ca_file to the PEM file of the authority that signed it"
        ),
        (Some(ca), true) => format!(
            "the certificate of {at} is signed neither by a public authority nor by the one in {table} ca_file ({}); set ca_file to the PEM file of the authority that signed it",
            ca.display()
        ),
        (Some(ca), false) => format!(
            "the certificate of {at} is not signed by the authority in {table} ca_file ({}), the only one trusted (public_roots = false); set ca_file to the PEM file of the authority that signed it, or remove public_roots if a public authority signed it",
            ca.display()
        ),
    }
}

/// A name as webpki reports it (`DnsName("mail.example")`, `IpAddress(192.0.2.1)`)
/// as an admin writes it in `host`.
fn name_of(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn date(t: UnixTime) -> String {
    chrono::DateTime::from_timestamp(t.as_secs() as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{} s after 1970", t.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(trust: &Trust) -> Peer<'_> {
        Peer {
            table: "[mailbox]",
            host: "imap.example.org",
            port: 993,
            security: Security::Tls,
            trust,
        }
    }

    #[test]
    fn a_certificate_for_another_name_says_which_names_it_holds_and_what_to_set() {
        let trust = Trust::public();
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("imap.example.org").unwrap(),
            presented: vec![
                "DnsName(\"mail.host.example\")".into(),
                "IpAddress(192.0.2.1)".into(),
            ],
        });
        let s = explain(&e, &peer(&trust));
        assert_eq!(
            s,
            "the certificate of imap.example.org:993 is not valid for the name imap.example.org (it holds mail.host.example, 192.0.2.1); set [mailbox] host to one of those"
        );
    }

    #[test]
    fn an_expired_certificate_gives_its_end_date() {
        let trust = Trust::public();
        let e = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        });
        let s = explain(&e, &peer(&trust));
        assert!(s.contains("expired on 2023-11-14 22:13 UTC"), "{s}");
        assert!(s.contains("renew"), "{s}");
    }

    #[test]
    fn an_unknown_authority_says_to_set_ca_file_or_names_the_one_that_was_set() {
        let public = Trust::public();
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(explain(&e, &peer(&public)).contains("set [mailbox] ca_file to the PEM file"));
        let private = Trust {
            public_roots: false,
            ca_file: Some("/etc/mail-ballot/ca.pem".into()),
            authorities: vec![],
        };
        let s = explain(&e, &peer(&private));
        assert!(
            s.contains("(/etc/mail-ballot/ca.pem), the only one trusted"),
            "{s}"
        );
    }

    #[test]
    fn plain_text_from_an_implicit_tls_port_suggests_starttls() {
        let trust = Trust::public();
        let e = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let s = explain(&e, &peer(&trust));
        assert!(s.contains("set [mailbox] security = \"starttls\""), "{s}");
    }

    #[test]
    fn the_rustls_error_is_found_inside_an_io_error_inside_another_error() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let outer = Outer(io);
        assert_eq!(
            rustls_cause(&outer),
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
        let unrelated = std::io::Error::other("connection refused");
        assert_eq!(rustls_cause(&unrelated), None);
    }
}
