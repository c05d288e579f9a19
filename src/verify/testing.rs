//! Helpers for the verification tests: DKIM signers whose public keys are pinned in an
//! offline verifier (so no test ever asks DNS), and replies as members write them.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::dkim::DkimVerifier;

const RSA_KEY: &str = include_str!("../../tests/fixtures/dkim/rsa2048-test-only.pem");
const RSA_RECORD: &str = include_str!("../../tests/fixtures/dkim/rsa2048-test-only.txt");

enum KeyKind {
    Ed25519(Vec<u8>),
    Rsa,
}

/// A DKIM signer for one domain and selector, with the TXT record of its public key.
pub struct Signer {
    kind: KeyKind,
    pub domain: String,
    pub selector: String,
    pub record: String,
}

impl Signer {
    /// A fresh Ed25519 key.
    pub fn ed25519(domain: &str, selector: &str) -> Signer {
        let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
        let public = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap().public_key();
        Signer {
            kind: KeyKind::Ed25519(pkcs8),
            domain: domain.into(),
            selector: selector.into(),
            record: format!("v=DKIM1; k=ed25519; p={}", base64(&public)),
        }
    }

    /// The committed test-only RSA-2048 key.
    pub fn rsa(domain: &str, selector: &str) -> Signer {
        Signer {
            kind: KeyKind::Rsa,
            domain: domain.into(),
            selector: selector.into(),
            record: RSA_RECORD.trim().to_string(),
        }
    }

    /// Pins the public key in `v`, as DNS would publish it.
    pub fn publish(&self, v: &DkimVerifier) {
        v.add_key_record(
            &format!("{}._domainkey.{}", self.selector, self.domain),
            &self.record,
        )
        .unwrap();
    }

    /// `message` with this signer's DKIM-Signature on top, over From, To, Subject
    /// and Message-ID.
    pub fn sign(&self, message: &str) -> String {
        let headers = ["From", "To", "Subject", "Message-ID"];
        let sig = match &self.kind {
            KeyKind::Ed25519(pkcs8) => {
                DkimSigner::from_key(Ed25519Key::from_pkcs8_der(pkcs8).unwrap())
                    .domain(&self.domain)
                    .selector(&self.selector)
                    .headers(headers)
                    .sign(message.as_bytes())
            }
            KeyKind::Rsa => {
                let der = PrivatePkcs8KeyDer::from_pem_slice(RSA_KEY.as_bytes()).unwrap();
                DkimSigner::from_key(
                    RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der)).unwrap(),
                )
                .domain(&self.domain)
                .selector(&self.selector)
                .headers(headers)
                .sign(message.as_bytes())
            }
        }
        .unwrap();
        format!("{}{message}", sig.to_header())
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A reply to the ballot with no signature and no trace headers.
pub fn unsigned_reply() -> String {
    "From: Taro <taro@acme.co.jp>\r\nTo: ballot@committee.example\r\nSubject: Re: [B-2026-007] vote\r\nMessage-ID: <m1@acme.co.jp>\r\n\r\n賛成します。\r\n".to_string()
}

#[test]
fn base64_matches_the_rfc_4648_examples() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}
