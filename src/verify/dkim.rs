//! DKIM: which domains signed a message, and whether a signing domain speaks for the
//! author's domain.
//!
//! The cryptography and the DNS look-ups are mail-auth's (0.13, the last version on
//! mail-parser 0.11). Two things are ours:
//!
//! - the edge, [`DkimCheck`]: [`DkimVerifier`] asks DNS through a key cache that tests
//!   (and operators who pin keys) fill in advance; [`DkimVerifier::offline`] has no
//!   name server at all, so a test can never reach the network, and a look-up that
//!   was not pre-filled fails as a temporary error and is counted;
//! - the pure decision, [`aligned`]: a passing signature speaks for the author only
//!   when its `d=` is the author's domain or a parent of it that is still inside the
//!   author's organisational domain.
//!
//! The organisational domain is approximated without the Public Suffix List: the last
//! two labels, or the last three when the last two are one of [`TWO_LEVEL_SUFFIXES`]
//! (`co.jp`, `or.jp`, the prefecture domains `tokyo.jp`..., `co.uk`, `com.au`...).
//! A suffix missing from the list makes alignment looser than it should be only for a
//! parent `d=` one label too high (`d=example.xx` for `a.example.xx` is right anyway;
//! `d=co.xx` for `acme.co.xx` would wrongly align): real signers do not sign as a
//! public suffix, and a key for `_domainkey.co.xx` would have to exist in DNS.
//! Stricter than DMARC relaxed alignment on purpose: a `d=` that is a child or a
//! sibling of the author's domain (`d=mail.acme.co.jp` for `acme.co.jp`) does not
//! align, so that hosting domains the list does not know (`a.github.io` and
//! `b.github.io`) never vouch for each other.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimError;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::{
    AuthenticatedMessage, DkimResult, Error as AuthError, MessageAuthenticator, Parameters,
    ResolverCache, Txt,
};
use serde::{Deserialize, Serialize};

/// Signatures verified per message; more cost DNS look-ups and prove nothing more.
pub const MAX_SIGNATURES: usize = 5;

/// Keys cached from DNS (not counting pinned ones); past this the expired ones go,
/// then all, so a sender inventing selectors cannot grow the daemon's memory.
const MAX_CACHED_KEYS: usize = 1_000;

/// Two-label public suffixes under which an organisation registers a third label.
pub const TWO_LEVEL_SUFFIXES: &[&str] = &[
    // Japan: attribute-type second-level domains.
    "co.jp",
    "or.jp",
    "ne.jp",
    "ac.jp",
    "ad.jp",
    "ed.jp",
    "go.jp",
    "gr.jp",
    "lg.jp",
    // Japan: the 47 prefecture (geographic-type) domains.
    "hokkaido.jp",
    "aomori.jp",
    "iwate.jp",
    "miyagi.jp",
    "akita.jp",
    "yamagata.jp",
    "fukushima.jp",
    "ibaraki.jp",
    "tochigi.jp",
    "gunma.jp",
    "saitama.jp",
    "chiba.jp",
    "tokyo.jp",
    "kanagawa.jp",
    "niigata.jp",
    "toyama.jp",
    "ishikawa.jp",
    "fukui.jp",
    "yamanashi.jp",
    "nagano.jp",
    "gifu.jp",
    "shizuoka.jp",
    "aichi.jp",
    "mie.jp",
    "shiga.jp",
    "kyoto.jp",
    "osaka.jp",
    "hyogo.jp",
    "nara.jp",
    "wakayama.jp",
    "tottori.jp",
    "shimane.jp",
    "okayama.jp",
    "hiroshima.jp",
    "yamaguchi.jp",
    "tokushima.jp",
    "kagawa.jp",
    "ehime.jp",
    "kochi.jp",
    "fukuoka.jp",
    "saga.jp",
    "nagasaki.jp",
    "kumamoto.jp",
    "oita.jp",
    "miyazaki.jp",
    "kagoshima.jp",
    "okinawa.jp",
    // Elsewhere, the ones members' partners write from.
    "co.uk",
    "org.uk",
    "ac.uk",
    "gov.uk",
    "ltd.uk",
    "plc.uk",
    "me.uk",
    "net.uk",
    "com.au",
    "net.au",
    "org.au",
    "edu.au",
    "gov.au",
    "asn.au",
    "id.au",
    "co.nz",
    "org.nz",
    "ac.nz",
    "govt.nz",
    "net.nz",
    "co.kr",
    "or.kr",
    "ac.kr",
    "go.kr",
    "ne.kr",
    "re.kr",
    "com.cn",
    "net.cn",
    "org.cn",
    "edu.cn",
    "gov.cn",
    "ac.cn",
    "com.tw",
    "net.tw",
    "org.tw",
    "edu.tw",
    "gov.tw",
    "idv.tw",
    "com.hk",
    "net.hk",
    "org.hk",
    "edu.hk",
    "gov.hk",
    "idv.hk",
    "com.sg",
    "net.sg",
    "org.sg",
    "edu.sg",
    "gov.sg",
    "co.in",
    "net.in",
    "org.in",
    "ac.in",
    "gov.in",
    "firm.in",
    "gen.in",
    "ind.in",
    "co.id",
    "or.id",
    "ac.id",
    "go.id",
    "web.id",
    "co.th",
    "or.th",
    "ac.th",
    "go.th",
    "in.th",
    "com.my",
    "net.my",
    "org.my",
    "edu.my",
    "gov.my",
    "com.ph",
    "net.ph",
    "org.ph",
    "edu.ph",
    "gov.ph",
    "com.vn",
    "net.vn",
    "org.vn",
    "edu.vn",
    "gov.vn",
    "com.br",
    "net.br",
    "org.br",
    "gov.br",
    "edu.br",
    "co.za",
    "org.za",
    "ac.za",
    "gov.za",
    "co.il",
    "org.il",
    "ac.il",
    "gov.il",
    "com.tr",
    "org.tr",
    "edu.tr",
    "gov.tr",
    "com.mx",
    "org.mx",
    "edu.mx",
    "gob.mx",
    "com.ar",
    "org.ar",
    "gob.ar",
];

fn normalise(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The organisational domain of `domain` (lower-cased), by the approximation in the
/// module header: `mail.acme.co.jp` → `acme.co.jp`, `mx.example.org` → `example.org`.
pub fn organizational_domain(domain: &str) -> String {
    let d = normalise(domain);
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() <= 2 {
        return d;
    }
    let last_two = labels[labels.len() - 2..].join(".");
    let keep = if TWO_LEVEL_SUFFIXES.contains(&last_two.as_str()) {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

/// Whether a signature by `d` speaks for mail from `from_domain`: `d` is that domain,
/// or a parent of it no higher than its organisational domain. Case-insensitive.
pub fn aligned(d: &str, from_domain: &str) -> bool {
    let d = normalise(d);
    let from = normalise(from_domain);
    if d.is_empty() || from.is_empty() {
        return false;
    }
    if d == from {
        return true;
    }
    let org = organizational_domain(&from);
    from.ends_with(&format!(".{d}")) && d.split('.').count() >= org.split('.').count()
}

/// What became of one DKIM signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DkimStatus {
    Pass,
    /// The signature or the body hash does not verify: the message was changed or forged.
    Fail,
    /// The signature could not be evaluated (malformed, expired).
    Neutral,
    /// DNS did not answer; the same message may verify later.
    TempError,
    /// The key record is missing or unusable.
    PermError,
}

/// One DKIM-Signature header and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureResult {
    /// `d=`, lower-cased; None when the header could not be read.
    pub domain: Option<String>,
    /// `s=`.
    pub selector: Option<String>,
    pub status: DkimStatus,
    /// mail-auth's explanation when it did not pass.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub detail: String,
}

/// The edge to DNS: something that verifies the DKIM signatures of a raw message.
pub trait DkimCheck {
    /// The result of every signature, top first (at most [`MAX_SIGNATURES`]).
    fn verify<'a>(
        &'a self,
        raw: &'a [u8],
    ) -> impl Future<Output = Vec<SignatureResult>> + Send + 'a;
}

/// Results decided in advance: for tests of code that calls verification, and for
/// `inspect` when DNS should not be used.
#[derive(Debug, Clone, Default)]
pub struct StaticDkim(pub Vec<SignatureResult>);

impl DkimCheck for StaticDkim {
    fn verify<'a>(
        &'a self,
        _raw: &'a [u8],
    ) -> impl Future<Output = Vec<SignatureResult>> + Send + 'a {
        std::future::ready(self.0.clone())
    }
}

/// Why a verifier could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkimSetupError {
    #[error("the DNS resolver could not be set up: {0}")]
    Resolver(String),
    #[error("`{record}` is not a DKIM key record: {why}")]
    Record { record: String, why: String },
}

/// DKIM verification with mail-auth, over DNS or over pre-filled keys only.
pub struct DkimVerifier {
    resolver: MessageAuthenticator,
    cache: KeyCache,
}

impl DkimVerifier {
    /// Production: the name servers of `/etc/resolv.conf`. Building it sends nothing.
    pub fn system() -> Result<DkimVerifier, DkimSetupError> {
        let resolver = MessageAuthenticator::new_system_conf()
            .map_err(|e| DkimSetupError::Resolver(e.to_string()))?;
        Ok(DkimVerifier {
            resolver,
            cache: KeyCache::default(),
        })
    }

    /// No name server at all: only keys added with [`DkimVerifier::add_key_record`]
    /// are known, and every other look-up fails at once as a temporary error (and is
    /// counted by [`DkimVerifier::uncached_lookups`]). For tests and offline `inspect`.
    pub fn offline() -> Result<DkimVerifier, DkimSetupError> {
        let mut opts = ResolverOpts::default();
        opts.use_hosts_file = mail_auth::hickory_resolver::config::ResolveHosts::Never;
        let resolver = MessageAuthenticator::new(ResolverConfig::from_name_servers(vec![]), opts)
            .map_err(|e| DkimSetupError::Resolver(e.to_string()))?;
        Ok(DkimVerifier {
            resolver,
            cache: KeyCache::default(),
        })
    }

    /// Pins a key record: `name` is `selector._domainkey.domain`, `record` the TXT
    /// text (`v=DKIM1; k=ed25519; p=...`). Pinned keys never expire and are used
    /// instead of DNS.
    pub fn add_key_record(&self, name: &str, record: &str) -> Result<(), DkimSetupError> {
        let key = DomainKey::parse(record.as_bytes()).map_err(|e| DkimSetupError::Record {
            record: record.to_string(),
            why: e.to_string(),
        })?;
        self.cache.pin(fqdn(name), Txt::from(key));
        Ok(())
    }

    /// Pins the answer "no such record" for `name`, as DNS would give for a
    /// withdrawn key.
    pub fn add_missing_record(&self, name: &str) {
        let err = AuthError::Dns(mail_auth::DnsError::RecordNotFound(
            mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
        ));
        self.cache.pin(fqdn(name), Txt::Error(err));
    }

    /// How many key look-ups were not answered from the cache (each went to DNS, or
    /// failed when offline).
    pub fn uncached_lookups(&self) -> usize {
        *lock(&self.cache.misses)
    }
}

fn fqdn(name: &str) -> Box<str> {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.").into_boxed_str()
}

impl DkimCheck for DkimVerifier {
    async fn verify<'a>(&'a self, raw: &'a [u8]) -> Vec<SignatureResult> {
        let Some(mut message) = AuthenticatedMessage::parse(raw) else {
            return Vec::new();
        };
        let beyond = message.dkim_headers.len().saturating_sub(MAX_SIGNATURES);
        message.dkim_headers.truncate(MAX_SIGNATURES);
        let params = Parameters::new(&message).with_txt_cache(&self.cache);
        let outputs = self.resolver.verify_dkim(params).await;
        let mut out: Vec<SignatureResult> = outputs
            .iter()
            .filter_map(|o| {
                let (status, detail) = match o.result() {
                    DkimResult::Pass => (DkimStatus::Pass, String::new()),
                    DkimResult::Fail(e) => (DkimStatus::Fail, e.to_string()),
                    // RFC 6376 6.3: a body hash that does not match is a failure,
                    // not a signature that could not be evaluated.
                    DkimResult::Neutral(e @ AuthError::Dkim(DkimError::FailedBodyHashMatch)) => {
                        (DkimStatus::Fail, e.to_string())
                    }
                    DkimResult::Neutral(e) => (DkimStatus::Neutral, e.to_string()),
                    DkimResult::TempError(e) => (DkimStatus::TempError, e.to_string()),
                    DkimResult::PermError(e) => (DkimStatus::PermError, e.to_string()),
                    DkimResult::None => return None,
                };
                Some(SignatureResult {
                    domain: o.signature().map(|s| normalise(&s.d)),
                    selector: o.signature().map(|s| s.s.clone()),
                    status,
                    detail,
                })
            })
            .collect();
        if beyond > 0 {
            out.push(SignatureResult {
                domain: None,
                selector: None,
                status: DkimStatus::Neutral,
                detail: format!(
                    "{beyond} more signatures were not verified (at most {MAX_SIGNATURES} are)"
                ),
            });
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves a cache that is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The TXT cache mail-auth consults before DNS: pinned keys first, then what DNS
/// answered, until its TTL.
#[derive(Default)]
struct KeyCache {
    pinned: Mutex<HashMap<Box<str>, Txt>>,
    learned: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
    misses: Mutex<usize>,
}

impl KeyCache {
    fn pin(&self, name: Box<str>, value: Txt) {
        lock(&self.pinned).insert(name, value);
    }
}

impl ResolverCache<Box<str>, Txt> for KeyCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = lock(&self.pinned).get(name) {
            return Some(v.clone());
        }
        if let Some((v, until)) = lock(&self.learned).get(name) {
            if *until > Instant::now() {
                return Some(v.clone());
            }
        }
        *lock(&self.misses) += 1;
        None
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        lock(&self.learned).remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        let now = Instant::now();
        // DNS TTLs can be days; a key rotated after a compromise should not linger.
        let valid_until = valid_until.min(now + Duration::from_secs(3600));
        let mut learned = lock(&self.learned);
        if learned.len() >= MAX_CACHED_KEYS {
            learned.retain(|_, (_, until)| *until > now);
            if learned.len() >= MAX_CACHED_KEYS {
                learned.clear();
            }
        }
        learned.insert(key, (value, valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::testing::{self, Signer};

    #[test]
    fn the_organisational_domain_keeps_three_labels_under_japanese_second_levels() {
        assert_eq!(organizational_domain("mail.acme.co.jp"), "acme.co.jp");
        assert_eq!(organizational_domain("acme.co.jp"), "acme.co.jp");
        assert_eq!(organizational_domain("a.b.example.org"), "example.org");
        assert_eq!(
            organizational_domain("www.example.tokyo.jp"),
            "example.tokyo.jp"
        );
        assert_eq!(organizational_domain("Mail.Example.COM."), "example.com");
        assert_eq!(organizational_domain("example.jp"), "example.jp");
    }

    #[test]
    fn a_signing_domain_aligns_when_it_is_the_from_domain_or_a_parent_inside_it() {
        assert!(aligned("acme.co.jp", "acme.co.jp"));
        assert!(aligned("ACME.co.jp", "acme.CO.jp"));
        assert!(aligned("acme.co.jp", "mail.acme.co.jp"));
        assert!(aligned("example.org", "lists.example.org"));
    }

    #[test]
    fn public_suffixes_children_siblings_and_lookalikes_never_align() {
        assert!(!aligned("co.jp", "acme.co.jp"));
        assert!(!aligned("jp", "acme.co.jp"));
        assert!(!aligned("org", "example.org"));
        assert!(!aligned("mail.acme.co.jp", "acme.co.jp"));
        assert!(!aligned("news.acme.co.jp", "www.acme.co.jp"));
        assert!(!aligned("evilacme.co.jp", "acme.co.jp"));
        assert!(!aligned("acme.co.jp.evil.example", "acme.co.jp"));
        assert!(!aligned("", "acme.co.jp"));
        assert!(!aligned("googlegroups.com", "acme.co.jp"));
    }

    const MESSAGE: &str = "From: Taro <taro@acme.co.jp>\r\nTo: ballot@committee.example\r\nSubject: Re: [B-2026-007] vote\r\nMessage-ID: <m1@acme.co.jp>\r\n\r\n賛成します。\r\n";

    #[tokio::test]
    async fn an_ed25519_signature_verifies_against_a_pre_filled_key() {
        let signer = Signer::ed25519("acme.co.jp", "sel1");
        let v = DkimVerifier::offline().unwrap();
        signer.publish(&v);
        let raw = signer.sign(MESSAGE);
        let r = v.verify(raw.as_bytes()).await;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].status, DkimStatus::Pass, "{r:?}");
        assert_eq!(r[0].domain.as_deref(), Some("acme.co.jp"));
        assert_eq!(r[0].selector.as_deref(), Some("sel1"));
        assert_eq!(v.uncached_lookups(), 0);
    }

    #[tokio::test]
    async fn an_rsa_signature_verifies_against_a_pre_filled_key() {
        let signer = Signer::rsa("acme.co.jp", "rsa2026");
        let v = DkimVerifier::offline().unwrap();
        signer.publish(&v);
        let r = v.verify(signer.sign(MESSAGE).as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::Pass, "{r:?}");
        assert_eq!(v.uncached_lookups(), 0);
    }

    #[tokio::test]
    async fn a_changed_body_fails() {
        let signer = Signer::ed25519("acme.co.jp", "sel1");
        let v = DkimVerifier::offline().unwrap();
        signer.publish(&v);
        let raw = signer.sign(MESSAGE).replace("賛成", "反対");
        let r = v.verify(raw.as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::Fail, "{r:?}");
        assert!(r[0].detail.contains("body hash"), "{r:?}");
    }

    #[tokio::test]
    async fn a_changed_signed_header_fails() {
        let signer = Signer::ed25519("acme.co.jp", "sel1");
        let v = DkimVerifier::offline().unwrap();
        signer.publish(&v);
        let raw = signer
            .sign(MESSAGE)
            .replace("taro@acme.co.jp>", "jiro@acme.co.jp>");
        let r = v.verify(raw.as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::Fail, "{r:?}");
    }

    #[tokio::test]
    async fn a_signature_by_another_key_of_the_same_name_fails() {
        let real = Signer::ed25519("acme.co.jp", "sel1");
        let forger = Signer::ed25519("acme.co.jp", "sel1");
        let v = DkimVerifier::offline().unwrap();
        real.publish(&v);
        let r = v.verify(forger.sign(MESSAGE).as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::Fail, "{r:?}");
    }

    #[tokio::test]
    async fn a_signature_by_another_domain_passes_but_is_not_aligned() {
        let list = Signer::ed25519("lists.example.org", "list");
        let v = DkimVerifier::offline().unwrap();
        list.publish(&v);
        let r = v.verify(list.sign(MESSAGE).as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::Pass, "{r:?}");
        let d = r[0].domain.as_deref().unwrap();
        assert!(!aligned(d, "acme.co.jp"));
    }

    #[tokio::test]
    async fn a_key_that_was_not_pre_filled_is_a_temporary_error_and_no_network_is_used() {
        let signer = Signer::ed25519("acme.co.jp", "unknown");
        let v = DkimVerifier::offline().unwrap();
        let r = v.verify(signer.sign(MESSAGE).as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::TempError, "{r:?}");
        assert!(r[0].detail.starts_with("DNS resolution error"), "{r:?}");
        assert_eq!(v.uncached_lookups(), 1);
    }

    #[tokio::test]
    async fn a_withdrawn_key_is_a_permanent_error() {
        let signer = Signer::ed25519("acme.co.jp", "old");
        let v = DkimVerifier::offline().unwrap();
        v.add_missing_record("old._domainkey.acme.co.jp");
        let r = v.verify(signer.sign(MESSAGE).as_bytes()).await;
        assert_eq!(r[0].status, DkimStatus::PermError, "{r:?}");
        assert_eq!(v.uncached_lookups(), 0);
    }

    #[tokio::test]
    async fn an_unsigned_message_has_no_results_and_looks_nothing_up() {
        let v = DkimVerifier::offline().unwrap();
        assert!(v.verify(MESSAGE.as_bytes()).await.is_empty());
        assert_eq!(v.uncached_lookups(), 0);
    }

    #[tokio::test]
    async fn a_message_with_many_signatures_verifies_only_the_first_few() {
        let v = DkimVerifier::offline().unwrap();
        let mut raw = MESSAGE.to_string();
        for i in 0..(MAX_SIGNATURES + 2) {
            let s = Signer::ed25519(&format!("d{i}.example.org"), "s");
            s.publish(&v);
            raw = s.sign(&raw);
        }
        let r = v.verify(raw.as_bytes()).await;
        assert_eq!(r.len(), MAX_SIGNATURES + 1, "{r:?}");
        assert!(r.last().unwrap().detail.contains("2 more signatures"));
    }

    #[test]
    fn a_malformed_key_record_is_refused_with_the_record_named() {
        let v = DkimVerifier::offline().unwrap();
        let e = v
            .add_key_record("s._domainkey.acme.co.jp", "v=DKIM1; k=rsa; p=!!!")
            .unwrap_err();
        assert!(e.to_string().contains("p=!!!"), "{e}");
    }

    #[test]
    fn the_production_verifier_can_be_built_without_sending_anything() {
        // Reads /etc/resolv.conf only; it is never asked anything in tests.
        if std::path::Path::new("/etc/resolv.conf").exists() {
            assert!(DkimVerifier::system().is_ok());
        }
    }

    #[test]
    fn verification_futures_can_move_between_threads() {
        fn is_send<T: Send>(_: &T) {}
        let v = DkimVerifier::offline().unwrap();
        let raw = testing::unsigned_reply();
        is_send(&v.verify(raw.as_bytes()));
    }
}
