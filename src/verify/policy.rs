//! The committee's verification policy and the decision for one message.
//!
//! Who the author is comes first. Normally it is the single From address. When From
//! is the list's own address (Mailman's `"Taro via Steering" <list@...>`, Google
//! Groups' `'Taro' via Steering <group@...>`), the author is taken from a header the
//! operator named in `trusted_list_headers` (X-Original-From, X-Original-Sender,
//! Reply-To), and from nowhere else: with no such header trusted, a list-rewritten
//! message has no known author and cannot pass.
//!
//! Every check is then made against that author. DKIM and Authentication-Results
//! must speak for the author's own domain, so a list that re-signs the message as
//! itself (`d=lists.example.org`) never vouches for a member: trusting a list header
//! only lets the list say who wrote the message, and the author must still be proven
//! by a token, by the author's own signature surviving the list, or by our server's
//! results for the author's domain.
//!
//! A message passes when any accepted method passes. With `require = false` the
//! checks are still made and reported, but a message that proves nothing passes too
//! (for a committee whose members have neither DKIM nor personal ballots yet).
//!
//! The methods prove a domain or the receipt of a mail, not a person: DKIM and
//! Authentication-Results trust the member's mail system to keep its users from
//! writing as each other, and a token proves only that its writer saw the personal
//! ballot mail.

use serde::{Deserialize, Serialize};

use super::authres;
use super::dkim::{aligned, DkimStatus, SignatureResult};
use super::token::{self, find_tokens, TokenKey};
use super::Fields;
use crate::domain::{Address, BallotRef, OrgId};
use crate::secret::SecretRef;

/// A verification method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// A reply to the personal ballot mail, through `bot+TOKEN@domain`.
    Token,
    /// A DKIM signature aligned with the author's domain.
    Dkim,
    /// Authentication-Results written by the operator's own server.
    Authres,
}

impl Method {
    /// Every method, in the order checks are made and reported.
    pub const ALL: [Method; 3] = [Method::Token, Method::Dkim, Method::Authres];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Token => "token",
            Method::Dkim => "dkim",
            Method::Authres => "authres",
        }
    }
}

/// The `[verification]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Methods any one of which verifies a message.
    pub accept: Vec<Method>,
    /// The authserv-id our mail server writes in Authentication-Results (usually its
    /// host name). Required when `authres` is accepted.
    pub authserv_id: Option<String>,
    /// The host names our MX servers write after `by` in the Received header of mail
    /// they accept from outside; only instances above that header are trusted.
    /// Empty means the authserv-id.
    pub mx_hosts: Vec<String>,
    /// Where our server writes its Authentication-Results (see [`authres`]).
    pub authres_placement: authres::Placement,
    /// Where the token key is: an environment variable, a file (relative to the
    /// configuration's folder once loaded) or a systemd credential. Exactly one
    /// when `token` is accepted.
    pub token_secret_env: Option<String>,
    pub token_secret_file: Option<std::path::PathBuf>,
    pub token_secret_credential: Option<String>,
    /// Headers a list that rewrites From uses to name the author; empty means a
    /// list-rewritten From is never attributed to anyone.
    pub trusted_list_headers: Vec<String>,
    /// false: checks are reported but a message that fails them still counts.
    pub require: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            accept: Method::ALL.to_vec(),
            authserv_id: None,
            mx_hosts: Vec::new(),
            authres_placement: authres::Placement::default(),
            token_secret_env: None,
            token_secret_file: None,
            token_secret_credential: None,
            trusted_list_headers: Vec::new(),
            require: true,
        }
    }
}

/// A `[verification]` table that cannot work, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("[verification] accept is empty, so no message could ever be verified; list at least one of \"token\", \"dkim\", \"authres\" or set require = false")]
    NothingAccepted,
    #[error("[verification] accepts \"authres\" but sets no authserv_id (the name your mail server writes first in Authentication-Results)")]
    MissingAuthservId,
    #[error("[verification] accepts \"token\" but sets no token_secret_env, token_secret_file or token_secret_credential (where the token key is)")]
    MissingTokenSecret,
    #[error("[verification] sets more than one of token_secret_env, token_secret_file and token_secret_credential; keep one")]
    TwoTokenSecrets,
    #[error("[verification] trusted_list_headers has `{0}`, which is not a header name")]
    BadHeaderName(String),
    #[error("[verification] authserv_id `{0}` is not a single word")]
    BadAuthservId(String),
    #[error("[verification] mx_hosts has `{0}`, which is not a host name")]
    BadMxHost(String),
}

impl PolicyConfig {
    /// Checks that every accepted method has what it needs.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.accept.is_empty() && self.require {
            return Err(PolicyError::NothingAccepted);
        }
        match &self.authserv_id {
            Some(id)
                if id.trim().is_empty()
                    || id.trim().contains(char::is_whitespace)
                    || id.contains(';') =>
            {
                return Err(PolicyError::BadAuthservId(id.clone()))
            }
            None if self.accepts(Method::Authres) => return Err(PolicyError::MissingAuthservId),
            _ => {}
        }
        let sources = [
            self.token_secret_env
                .as_deref()
                .is_some_and(|e| !e.trim().is_empty()),
            self.token_secret_file.is_some(),
            self.token_secret_credential
                .as_deref()
                .is_some_and(|c| !c.trim().is_empty()),
        ]
        .iter()
        .filter(|given| **given)
        .count();
        if sources > 1 {
            return Err(PolicyError::TwoTokenSecrets);
        }
        if self.accepts(Method::Token) && sources == 0 {
            return Err(PolicyError::MissingTokenSecret);
        }
        for h in &self.mx_hosts {
            let h2 = h.trim();
            if h2.is_empty()
                || !h2
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            {
                return Err(PolicyError::BadMxHost(h.clone()));
            }
        }
        for h in &self.trusted_list_headers {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(PolicyError::BadHeaderName(h.clone()));
            }
        }
        Ok(())
    }

    /// Whether `m` verifies a message under this policy.
    pub fn accepts(&self, m: Method) -> bool {
        self.accept.contains(&m)
    }

    /// Where the token key is read from, if configured.
    pub fn token_secret(&self) -> Option<SecretRef> {
        if let Some(env) = &self.token_secret_env {
            return Some(SecretRef::Env(env.clone()));
        }
        if let Some(f) = &self.token_secret_file {
            return Some(SecretRef::File(f.clone()));
        }
        self.token_secret_credential
            .as_ref()
            .map(|c| SecretRef::Credential(c.clone()))
    }
}

/// A personal ballot mail a token may answer: the ingest lists the ones sent to the
/// author's organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSubject {
    pub ballot: BallotRef,
    pub round: u32,
    pub org: OrgId,
}

/// Everything verification needs that the message does not say.
pub struct Context<'a> {
    pub policy: &'a PolicyConfig,
    /// None when no key is configured (token checks are then skipped).
    pub token_key: Option<&'a TokenKey>,
    /// The bot's address, whose `+TOKEN` variants carry tokens.
    pub bot: &'a Address,
    /// The committee list, whose rewritten From is handled as above.
    pub list: Option<&'a Address>,
    /// The personal ballot mails sent to the organisation of this author (every
    /// open round of every ballot, or just the one the reply names): given the
    /// author, the ingest looks up its organisation in the roster.
    pub token_subjects: &'a (dyn Fn(&Address) -> Vec<TokenSubject> + Sync),
}

/// The outcome of one method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// Proves the author.
    Pass,
    /// Present and wrong: a token of no personal ballot of the author's
    /// organisation, a broken signature, our server saying fail.
    Fail,
    /// Nothing to check: no token, no signature, no trusted Authentication-Results.
    None,
    /// Valid, but for another domain than the author's.
    NotAligned,
    /// DNS did not answer; the message may verify later.
    TempError,
    /// Not evaluated: not accepted by the policy, or not configured.
    Skipped,
}

/// One method's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub method: Method,
    pub result: CheckResult,
    /// Whether the policy accepts this method (a check of a method not accepted is
    /// reported but decides nothing).
    pub accepted: bool,
    /// Short English: `d=acme.co.jp, aligned`.
    pub detail: String,
}

impl Check {
    /// A few words for the one-line summary.
    fn phrase(&self) -> String {
        use CheckResult as R;
        let name = match self.method {
            Method::Token => "token",
            Method::Dkim => "dkim",
            Method::Authres => "Authentication-Results",
        };
        match (self.method, self.result) {
            (Method::Token, R::None) => "no token".into(),
            (Method::Authres, R::None) => "no trusted Authentication-Results".into(),
            (_, R::Pass) => format!("{name} pass ({})", self.detail),
            (_, R::Fail) => format!("{name} fail"),
            (_, R::None) => format!("{name} none"),
            (_, R::NotAligned) => format!("{name} not aligned"),
            (_, R::TempError) => format!("{name} temperror"),
            (_, R::Skipped) => format!("{name} skipped"),
        }
    }
}

/// How a list's rewritten From was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRewrite {
    /// The header that names the author, if any was found.
    pub header: Option<String>,
    /// The address it names.
    pub claimed: Option<Address>,
    /// Whether the policy trusts that header (the author is then `claimed`).
    pub trusted: bool,
}

/// The verification of one message: recorded with it, shown by `inspect` and `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether the message counts: verified, or the policy does not enforce.
    pub passed: bool,
    /// Whether the policy enforces verification (`require`).
    pub enforced: bool,
    /// The accepted method that verified the author, if any.
    pub method: Option<Method>,
    /// Whom the message is from after list handling: the address to find in the
    /// roster, and whom to tell when the message failed. None when the From is
    /// missing, ambiguous, or the list's own with no trusted header.
    pub author: Option<Address>,
    /// Why there is no author, when there is none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_note: Option<String>,
    /// Set when From was the list's own address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub list: Option<ListRewrite>,
    /// The personal ballot mail the token answered, when the token passed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<TokenSubject>,
    /// Every method, in the order token, dkim, authres.
    pub checks: Vec<Check>,
    /// DNS did not answer, but the author is nobody whose mail is worth waiting
    /// for (not on the roster, not an admin or the secretariat): decided now,
    /// without DKIM, so that a stranger's slow DNS cannot hold the mailbox up.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_waited: bool,
}

impl Verification {
    /// One English line: `passed: dkim pass (d=acme.co.jp, aligned)`,
    /// `failed: no token, dkim none, no trusted Authentication-Results`.
    pub fn summary(&self) -> String {
        if let Some(m) = self.method {
            if let Some(c) = self.checks.iter().find(|c| c.method == m) {
                return format!("passed: {}", c.phrase());
            }
        }
        let head = match (self.passed, self.retry_later()) {
            (true, _) => "passed (not enforced)",
            (false, true) => "failed for now (DNS did not answer)",
            (false, false) if self.not_waited => {
                "failed (DNS did not answer; not waited for, the author is not on the roster)"
            }
            (false, false) => "failed",
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(note) = &self.author_note {
            parts.push(format!("author unknown ({note})"));
        }
        let accepted: Vec<String> = self
            .checks
            .iter()
            .filter(|c| c.accepted)
            .map(Check::phrase)
            .collect();
        if accepted.is_empty() {
            parts.push("no method accepted".into());
        } else {
            parts.push(accepted.join(", "));
        }
        format!("{head}: {}", parts.join("; "))
    }

    /// Whether the author is verified for any ballot, not only the one a
    /// personal-ballot token names: the policy does not enforce, or an accepted
    /// method other than the token passed (DKIM, our Authentication-Results).
    pub fn verified_without_token(&self) -> bool {
        !self.enforced
            || self
                .checks
                .iter()
                .any(|c| c.accepted && c.result == CheckResult::Pass && c.method != Method::Token)
    }

    /// Whether the message failed only because DNS did not answer an accepted DKIM
    /// check: the ingest should read it again later rather than reject it.
    pub fn retry_later(&self) -> bool {
        !self.passed
            && !self.not_waited
            && self
                .checks
                .iter()
                .any(|c| c.accepted && c.result == CheckResult::TempError)
    }
}

/// The header fields a list writes the original author into, looked at (untrusted)
/// to report whom a list-rewritten message claims to be from.
const KNOWN_LIST_HEADERS: &[&str] = &["x-original-from", "x-original-sender", "reply-to"];

/// Recipient fields that may carry the bot's `+TOKEN` address.
const RECIPIENT_FIELDS: &[&str] = &["to", "cc", "delivered-to", "x-original-to", "envelope-to"];

struct Author {
    address: Option<Address>,
    note: Option<String>,
    list: Option<ListRewrite>,
}

fn author(fields: &Fields, ctx: &Context<'_>) -> Author {
    let unknown = |note: String, list: Option<ListRewrite>| Author {
        address: None,
        note: Some(note),
        list,
    };
    let froms: Vec<&str> = fields.all("from").collect();
    let from = match froms.as_slice() {
        [] => return unknown("the message has no From".into(), None),
        [one] => *one,
        // A second From is how a signature over one is shown with the other.
        _ => {
            return unknown(
                format!("the message has {} From headers", froms.len()),
                None,
            )
        }
    };
    if super::mailbox_list(from).len() > 1 {
        return unknown("From names several addresses".into(), None);
    }
    let Some(from) = Fields::mailbox(from) else {
        return unknown("From has no readable address".into(), None);
    };
    if ctx.list != Some(&from) {
        return Author {
            address: Some(from),
            note: None,
            list: None,
        };
    }

    // From is the list itself: only a trusted header may name the author.
    let list_addr = &from;
    let named = |name: &str| -> Result<Option<Address>, String> {
        let values: Vec<&str> = fields.all(name).collect();
        match values.as_slice() {
            [] => Ok(None),
            [v] => {
                let mut addrs: Vec<Address> = super::mailbox_list(v)
                    .into_iter()
                    .filter(|a| a != list_addr)
                    .collect();
                addrs.dedup();
                match addrs.len() {
                    0 => Ok(None),
                    1 => Ok(addrs.pop()),
                    n => Err(format!("{name} names {n} addresses")),
                }
            }
            _ => Err(format!("{name} appears {} times", values.len())),
        }
    };
    for h in &ctx.policy.trusted_list_headers {
        let name = h.to_ascii_lowercase();
        match named(&name) {
            Ok(Some(a)) => {
                return Author {
                    address: Some(a.clone()),
                    note: None,
                    list: Some(ListRewrite {
                        header: Some(h.clone()),
                        claimed: Some(a),
                        trusted: true,
                    }),
                }
            }
            Ok(None) => {}
            Err(why) => {
                return unknown(
                    format!("From is the list's own address and {why}"),
                    Some(ListRewrite {
                        header: Some(h.clone()),
                        claimed: None,
                        trusted: true,
                    }),
                )
            }
        }
    }
    let claimed = KNOWN_LIST_HEADERS
        .iter()
        .find_map(|h| named(h).ok().flatten().map(|a| (h.to_string(), a)));
    let note = if ctx.policy.trusted_list_headers.is_empty() {
        "From is the list's own address and no list header is trusted".to_string()
    } else {
        "From is the list's own address and no trusted list header names the author".to_string()
    };
    unknown(
        note,
        Some(ListRewrite {
            header: claimed.as_ref().map(|(h, _)| h.clone()),
            claimed: claimed.map(|(_, a)| a),
            trusted: false,
        }),
    )
}

fn token_check(
    fields: &Fields,
    ctx: &Context<'_>,
    author: Option<&Address>,
) -> (Check, Option<TokenSubject>) {
    let check = |result, detail: String| Check {
        method: Method::Token,
        result,
        accepted: ctx.policy.accepts(Method::Token),
        detail,
    };
    let Some(key) = ctx.token_key else {
        return (
            check(CheckResult::Skipped, "no token key is configured".into()),
            None,
        );
    };
    let recipients: Vec<Address> = RECIPIENT_FIELDS
        .iter()
        .flat_map(|f| fields.addresses(f))
        .collect();
    let tokens = find_tokens(&recipients, ctx.bot);
    if tokens.is_empty() {
        return (
            check(
                CheckResult::None,
                "no recipient is the bot's +token address".into(),
            ),
            None,
        );
    }
    let Some(author) = author else {
        return (
            check(CheckResult::Fail, "the author is not known".into()),
            None,
        );
    };
    let subjects = (ctx.token_subjects)(author);
    if subjects.is_empty() {
        return (
            check(
                CheckResult::Fail,
                "no personal ballot was sent to the author's organisation".into(),
            ),
            None,
        );
    }
    for t in &tokens {
        for s in &subjects {
            if token::check(key, t, s.ballot, s.round, &s.org) {
                return (
                    check(
                        CheckResult::Pass,
                        format!("{} round {}, {}", s.ballot, s.round, s.org),
                    ),
                    Some(s.clone()),
                );
            }
        }
    }
    (
        check(
            CheckResult::Fail,
            "the token answers no personal ballot of the author's organisation".into(),
        ),
        None,
    )
}

fn describe_signature(s: &SignatureResult) -> String {
    let d = s.domain.as_deref().unwrap_or("?");
    let status = match s.status {
        DkimStatus::Pass => "pass",
        DkimStatus::Fail => "fail",
        DkimStatus::Neutral => "neutral",
        DkimStatus::TempError => "temperror",
        DkimStatus::PermError => "permerror",
    };
    if s.detail.is_empty() {
        format!("d={d} {status}")
    } else {
        format!("d={d} {status} ({})", s.detail)
    }
}

fn dkim_check(
    ctx: &Context<'_>,
    signatures: Option<&[SignatureResult]>,
    author: Option<&Address>,
) -> Check {
    let check = |result, detail: String| Check {
        method: Method::Dkim,
        result,
        accepted: ctx.policy.accepts(Method::Dkim),
        detail,
    };
    let Some(sigs) = signatures else {
        return check(
            CheckResult::Skipped,
            "not accepted by the policy, so not verified".into(),
        );
    };
    if sigs.is_empty() {
        return check(
            CheckResult::None,
            "the message has no DKIM signature".into(),
        );
    }
    let all = || {
        sigs.iter()
            .map(describe_signature)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let Some(author) = author else {
        return check(
            CheckResult::Fail,
            format!("the author is not known; {}", all()),
        );
    };
    let is_aligned = |s: &SignatureResult| {
        s.domain
            .as_deref()
            .is_some_and(|d| aligned(d, author.domain()))
    };
    if let Some(s) = sigs
        .iter()
        .find(|s| s.status == DkimStatus::Pass && is_aligned(s))
    {
        let d = s.domain.as_deref().unwrap_or_default();
        return check(CheckResult::Pass, format!("d={d}, aligned"));
    }
    if sigs
        .iter()
        .any(|s| s.status == DkimStatus::TempError && is_aligned(s))
    {
        return check(CheckResult::TempError, all());
    }
    if !sigs.iter().any(is_aligned) && sigs.iter().any(|s| s.status == DkimStatus::Pass) {
        return check(
            CheckResult::NotAligned,
            format!("{}; none is aligned with {}", all(), author.domain()),
        );
    }
    check(CheckResult::Fail, all())
}

fn authres_check(fields: &Fields, ctx: &Context<'_>, author: Option<&Address>) -> Check {
    let check = |result, detail: String| Check {
        method: Method::Authres,
        result,
        accepted: ctx.policy.accepts(Method::Authres),
        detail,
    };
    let Some(id) = ctx.policy.authserv_id.as_deref() else {
        return check(CheckResult::Skipped, "no authserv_id is configured".into());
    };
    let trust = authres::Trust {
        authserv_id: id,
        mx_hosts: &ctx.policy.mx_hosts,
        placement: ctx.policy.authres_placement,
    };
    let sel = authres::select(fields.iter(), &trust);
    let ignored = match sel.ignored {
        0 => String::new(),
        1 => "; 1 other instance ignored".into(),
        n => format!("; {n} other instances ignored"),
    };
    if sel.trusted.is_empty() {
        let mx = if ctx.policy.mx_hosts.is_empty() {
            id.to_string()
        } else {
            ctx.policy.mx_hosts.join(" or ")
        };
        let where_ = match &sel.entry {
            Some(_) => format!("above the Received header of {mx}"),
            None => format!("(no Received header written by {mx})"),
        };
        return check(
            CheckResult::None,
            format!("no Authentication-Results from {id} {where_}{ignored}"),
        );
    }
    let Some(author) = author else {
        return check(
            CheckResult::Fail,
            format!("the author is not known{ignored}"),
        );
    };
    let f = authres::findings(&sel.trusted, author.domain());
    if let Some(p) = f.proof() {
        return check(CheckResult::Pass, p.describe());
    }
    let said: Vec<String> = f.statements.iter().map(|s| s.describe()).collect();
    let said = if said.is_empty() {
        "no dmarc, dkim or spf result".to_string()
    } else {
        said.join(", ")
    };
    if !f.conflicting.is_empty() {
        return check(
            CheckResult::Fail,
            format!(
                "our server's results contradict a pass for {}: {said}{ignored}",
                f.conflicting.join(", ")
            ),
        );
    }
    let aligned_any = f.statements.iter().any(|s| s.aligned && s.method != "spf");
    let pass_any = f
        .statements
        .iter()
        .any(|s| s.result == "pass" && s.method != "spf");
    let result = if !aligned_any && pass_any {
        CheckResult::NotAligned
    } else {
        CheckResult::Fail
    };
    check(result, format!("{said} for {}{ignored}", author.domain()))
}

/// Decides `raw` under `ctx`, with DKIM results computed beforehand (`None` when DKIM
/// was not verified). Pure.
pub fn decide(
    raw: &[u8],
    ctx: &Context<'_>,
    dkim_signatures: Option<&[SignatureResult]>,
) -> Verification {
    let fields = Fields::parse(raw);
    let who = author(&fields, ctx);
    let a = who.address.as_ref();
    let (token, subject) = token_check(&fields, ctx, a);
    let checks = vec![
        token,
        dkim_check(ctx, dkim_signatures, a),
        authres_check(&fields, ctx, a),
    ];
    let method = checks
        .iter()
        .find(|c| c.accepted && c.result == CheckResult::Pass)
        .map(|c| c.method);
    Verification {
        passed: method.is_some() || !ctx.policy.require,
        enforced: ctx.policy.require,
        method,
        author: who.address,
        author_note: who.note,
        list: who.list,
        token: subject,
        checks,
        not_waited: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_key_comes_from_exactly_one_place() {
        let token_only = |f: fn(&mut PolicyConfig)| {
            let mut p = PolicyConfig {
                accept: vec![Method::Token],
                ..PolicyConfig::default()
            };
            f(&mut p);
            p
        };
        let p = token_only(|p| p.token_secret_credential = Some("token-key".into()));
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            p.token_secret(),
            Some(SecretRef::Credential("token-key".into()))
        );
        let p = token_only(|p| p.token_secret_file = Some("token.key".into()));
        assert_eq!(p.token_secret(), Some(SecretRef::File("token.key".into())));
        assert_eq!(
            token_only(|_| {}).validate(),
            Err(PolicyError::MissingTokenSecret)
        );
        let two = token_only(|p| {
            p.token_secret_env = Some("KEY".into());
            p.token_secret_file = Some("token.key".into());
        });
        assert_eq!(two.validate(), Err(PolicyError::TwoTokenSecrets));
    }
    use crate::verify::dkim::DkimVerifier;
    use crate::verify::testing::Signer;
    use crate::verify::token::{reply_address, token};

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }
    fn key() -> TokenKey {
        TokenKey::new("a-test-key-of-enough-bytes").unwrap()
    }
    fn subject() -> TokenSubject {
        TokenSubject {
            ballot: "B-2026-007".parse().unwrap(),
            round: 1,
            org: OrgId::parse("acme").unwrap(),
        }
    }
    fn acme_subjects(a: &Address) -> Vec<TokenSubject> {
        if a.domain() == "acme.co.jp" {
            vec![subject()]
        } else {
            Vec::new()
        }
    }

    const ID: &str = "mx.committee.example";

    fn policy(accept: &[Method]) -> PolicyConfig {
        PolicyConfig {
            accept: accept.to_vec(),
            authserv_id: Some(ID.into()),
            token_secret_env: Some("MAIL_BALLOT_TOKEN_KEY".into()),
            ..PolicyConfig::default()
        }
    }

    struct Env {
        policy: PolicyConfig,
        key: TokenKey,
        bot: Address,
        list: Address,
    }

    impl Env {
        fn new(policy: PolicyConfig) -> Env {
            Env {
                policy,
                key: key(),
                bot: addr("ballot@committee.example"),
                list: addr("steering@committee.example"),
            }
        }
        fn ctx(&self) -> Context<'_> {
            Context {
                policy: &self.policy,
                token_key: Some(&self.key),
                bot: &self.bot,
                list: Some(&self.list),
                token_subjects: &acme_subjects,
            }
        }
        fn personal_reply_to(&self) -> Address {
            let s = subject();
            reply_address(&self.bot, &token(&self.key, s.ballot, s.round, &s.org))
        }
    }

    const BODY: &str =
        "Subject: Re: [B-2026-007] vote\r\nMessage-ID: <m1@acme.co.jp>\r\n\r\n賛成します。\r\n";

    fn message(head: &str) -> String {
        format!("{head}{BODY}")
    }

    async fn run(env: &Env, raw: &str, dkim: &DkimVerifier) -> Verification {
        crate::verify::check(raw.as_bytes(), &env.ctx(), dkim).await
    }

    fn result(v: &Verification, m: Method) -> CheckResult {
        v.checks.iter().find(|c| c.method == m).unwrap().result
    }

    #[tokio::test]
    async fn a_reply_to_the_personal_ballot_passes_by_token() {
        let env = Env::new(policy(&[Method::Token]));
        let raw = message(&format!(
            "From: Taro <taro@acme.co.jp>\r\nTo: {}\r\n",
            env.personal_reply_to()
        ));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(v.passed, "{v:?}");
        assert_eq!(v.method, Some(Method::Token));
        assert_eq!(v.token, Some(subject()));
        assert_eq!(v.summary(), "passed: token pass (B-2026-007 round 1, acme)");
    }

    #[tokio::test]
    async fn a_token_in_delivered_to_counts_and_a_lowercased_one_too() {
        let env = Env::new(policy(&[Method::Token]));
        let reply_to = env.personal_reply_to().as_str().to_ascii_uppercase();
        let raw = message(&format!(
            "Delivered-To: {reply_to}\r\nFrom: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n"
        ));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(v.passed, "{v:?}");
    }

    #[tokio::test]
    async fn another_organisations_token_fails() {
        let env = Env::new(policy(&[Method::Token]));
        // The token of acme's personal ballot, on a message from beta.
        let raw = message(&format!(
            "From: jiro@beta.co.jp\r\nTo: {}\r\n",
            env.personal_reply_to()
        ));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Token), CheckResult::Fail);
        assert_eq!(v.summary(), "failed: token fail");
    }

    #[tokio::test]
    async fn an_aligned_dkim_signature_passes_and_the_summary_names_it() {
        let env = Env::new(policy(&Method::ALL));
        let dkim = DkimVerifier::offline().unwrap();
        let signer = Signer::ed25519("acme.co.jp", "sel1");
        signer.publish(&dkim);
        let raw = signer.sign(&message(
            "From: Taro <taro@acme.co.jp>\r\nTo: ballot@committee.example\r\n",
        ));
        let v = run(&env, &raw, &dkim).await;
        assert!(v.passed, "{v:?}");
        assert_eq!(v.method, Some(Method::Dkim));
        assert_eq!(v.summary(), "passed: dkim pass (d=acme.co.jp, aligned)");
        assert_eq!(dkim.uncached_lookups(), 0);
    }

    #[tokio::test]
    async fn a_forged_from_with_nothing_to_prove_it_fails_and_says_why() {
        let env = Env::new(policy(&Method::ALL));
        let raw = message("From: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed);
        assert_eq!(v.method, None);
        assert_eq!(v.author, Some(addr("taro@acme.co.jp")));
        assert_eq!(
            v.summary(),
            "failed: no token, dkim none, no trusted Authentication-Results"
        );
    }

    #[tokio::test]
    async fn a_signature_by_the_forgers_own_domain_is_not_aligned() {
        let env = Env::new(policy(&[Method::Dkim]));
        let dkim = DkimVerifier::offline().unwrap();
        let signer = Signer::ed25519("evil.example", "s");
        signer.publish(&dkim);
        let raw = signer.sign(&message(
            "From: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n",
        ));
        let v = run(&env, &raw, &dkim).await;
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Dkim), CheckResult::NotAligned);
    }

    #[tokio::test]
    async fn a_tampered_signed_message_fails_dkim() {
        let env = Env::new(policy(&[Method::Dkim]));
        let dkim = DkimVerifier::offline().unwrap();
        let signer = Signer::rsa("acme.co.jp", "rsa");
        signer.publish(&dkim);
        let raw = signer
            .sign(&message(
                "From: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n",
            ))
            .replace("賛成", "反対");
        let v = run(&env, &raw, &dkim).await;
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Dkim), CheckResult::Fail);
        assert!(!v.retry_later());
    }

    #[tokio::test]
    async fn a_dns_failure_on_the_authors_key_asks_to_retry_later() {
        let env = Env::new(policy(&[Method::Dkim]));
        let dkim = DkimVerifier::offline().unwrap();
        let signer = Signer::ed25519("acme.co.jp", "unpublished");
        let raw = signer.sign(&message(
            "From: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n",
        ));
        let v = run(&env, &raw, &dkim).await;
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Dkim), CheckResult::TempError);
        assert!(v.retry_later());
        assert!(v.summary().starts_with("failed for now"), "{}", v.summary());
    }

    const OURS: &str = "Authentication-Results: mx.committee.example; dkim=pass header.d=acme.co.jp; dmarc=pass header.from=acme.co.jp\r\nReceived: from mail.acme.co.jp by mx.committee.example\r\n";

    #[tokio::test]
    async fn our_servers_authentication_results_pass() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = message(&format!("{OURS}From: taro@acme.co.jp\r\n"));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(v.passed, "{v:?}");
        assert_eq!(
            v.summary(),
            "passed: Authentication-Results pass (dkim=pass header.d=acme.co.jp)"
        );
    }

    #[tokio::test]
    async fn a_forged_authentication_results_below_our_received_is_ignored() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = message("Authentication-Results: mx.committee.example; dkim=none; dmarc=none header.from=acme.co.jp\r\nReceived: from evil.example by mx.committee.example\r\nAuthentication-Results: mx.committee.example; dmarc=pass header.from=acme.co.jp\r\nFrom: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed, "{v:?}");
        let c = &v.checks[2];
        assert_eq!(c.result, CheckResult::Fail);
        assert!(
            c.detail.contains("1 other instance ignored"),
            "{}",
            c.detail
        );
    }

    #[tokio::test]
    async fn a_senders_instance_with_our_id_proves_nothing_when_our_server_wrote_none() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = message("Received: from mx.committee.example by imap.committee.example with LMTP\r\nReceived: from evil.example by mx.committee.example\r\nAuthentication-Results: mx.committee.example; dkim=pass header.d=acme.co.jp\r\nFrom: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed, "{v:?}");
        let c = &v.checks[2];
        assert_eq!(c.result, CheckResult::None);
        assert_eq!(
            c.detail,
            "no Authentication-Results from mx.committee.example above the Received header of mx.committee.example; 1 other instance ignored"
        );
    }

    #[tokio::test]
    async fn with_results_written_below_our_received_a_forged_pass_meets_our_none() {
        let mut p = policy(&[Method::Authres]);
        p.mx_hosts = vec!["mx.committee.example".into()];
        p.authres_placement = authres::Placement::BelowReceived;
        let env = Env::new(p);
        let raw = message("Received: from mail.acme.co.jp by mx.committee.example\r\nAuthentication-Results: mx.committee.example; dkim=none; dmarc=none header.from=acme.co.jp\r\nAuthentication-Results: mx.committee.example; dkim=pass header.d=acme.co.jp\r\nReceived: from evil.example by mail.acme.co.jp\r\nFrom: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed, "{v:?}");
        assert_eq!(result(&v, Method::Authres), CheckResult::Fail);
        assert!(
            v.checks[2]
                .detail
                .contains("contradict a pass for dkim, dmarc"),
            "{}",
            v.checks[2].detail
        );
    }

    #[tokio::test]
    async fn authentication_results_from_another_server_are_ignored() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = message("Authentication-Results: mx.elsewhere.example; dmarc=pass header.from=acme.co.jp\r\nReceived: from evil.example by mx.committee.example\r\nFrom: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Authres), CheckResult::None);
        assert_eq!(v.summary(), "failed: no trusted Authentication-Results");
    }

    fn list_message(extra: &str) -> String {
        message(&format!(
            "{OURS}From: \"Taro via Steering\" <steering@committee.example>\r\nReply-To: taro@acme.co.jp\r\n{extra}To: steering@committee.example\r\n"
        ))
    }

    #[tokio::test]
    async fn a_list_rewritten_from_is_not_attributed_unless_a_header_is_trusted() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = list_message("X-Original-From: Taro <taro@acme.co.jp>\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(!v.passed);
        assert_eq!(v.author, None);
        let list = v.list.as_ref().unwrap();
        assert!(!list.trusted);
        assert_eq!(list.claimed, Some(addr("taro@acme.co.jp")));
        assert_eq!(list.header.as_deref(), Some("x-original-from"));
        assert!(
            v.summary().contains("no list header is trusted"),
            "{}",
            v.summary()
        );
    }

    #[tokio::test]
    async fn a_trusted_list_header_names_the_author_who_must_still_be_proven() {
        let mut p = policy(&[Method::Authres]);
        p.trusted_list_headers = vec!["X-Original-From".into()];
        let env = Env::new(p);
        let raw = list_message("X-Original-From: Taro <taro@acme.co.jp>\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert_eq!(v.author, Some(addr("taro@acme.co.jp")));
        assert!(v.list.as_ref().unwrap().trusted);
        // Our server's results speak for acme.co.jp, so the named author is proven.
        assert!(v.passed, "{v:?}");
    }

    #[tokio::test]
    async fn a_list_that_re_signs_as_itself_does_not_vouch_for_the_author() {
        let mut p = policy(&[Method::Dkim]);
        p.trusted_list_headers = vec!["X-Original-From".into()];
        let env = Env::new(p);
        let dkim = DkimVerifier::offline().unwrap();
        let list = Signer::ed25519("committee.example", "list");
        list.publish(&dkim);
        let raw = list.sign(&message("From: \"Taro via Steering\" <steering@committee.example>\r\nX-Original-From: taro@acme.co.jp\r\nTo: steering@committee.example\r\n"));
        let v = run(&env, &raw, &dkim).await;
        assert_eq!(v.author, Some(addr("taro@acme.co.jp")));
        assert!(!v.passed);
        assert_eq!(result(&v, Method::Dkim), CheckResult::NotAligned);
    }

    #[tokio::test]
    async fn a_trusted_header_that_appears_twice_names_nobody() {
        let mut p = policy(&[Method::Authres]);
        p.trusted_list_headers = vec!["X-Original-Sender".into()];
        let env = Env::new(p);
        let raw = list_message(
            "X-Original-Sender: taro@acme.co.jp\r\nX-Original-Sender: jiro@beta.co.jp\r\n",
        );
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert_eq!(v.author, None);
        assert!(!v.passed);
        assert!(v.author_note.unwrap().contains("appears 2 times"));
    }

    #[tokio::test]
    async fn a_list_header_on_mail_not_from_the_list_is_ignored() {
        let mut p = policy(&[Method::Authres]);
        p.trusted_list_headers = vec!["X-Original-From".into()];
        let env = Env::new(p);
        let raw = message("From: mallory@evil.example\r\nX-Original-From: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert_eq!(v.author, Some(addr("mallory@evil.example")));
    }

    #[tokio::test]
    async fn two_from_headers_leave_the_author_unknown() {
        let env = Env::new(policy(&[Method::Authres]));
        let raw = message(&format!(
            "{OURS}From: taro@acme.co.jp\r\nFrom: mallory@evil.example\r\n"
        ));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert_eq!(v.author, None);
        assert!(!v.passed);
        assert!(v.summary().contains("2 From headers"), "{}", v.summary());
    }

    #[tokio::test]
    async fn with_require_false_a_message_proving_nothing_passes_and_says_so() {
        let mut p = policy(&Method::ALL);
        p.require = false;
        let env = Env::new(p);
        let raw = message("From: taro@acme.co.jp\r\n");
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        assert!(v.passed);
        assert!(!v.enforced);
        assert_eq!(v.method, None);
        assert_eq!(
            v.summary(),
            "passed (not enforced): no token, dkim none, no trusted Authentication-Results"
        );
    }

    /// The evidence each message carries: a token, an aligned signature, our results.
    async fn evidence_messages(env: &Env, dkim: &DkimVerifier) -> [(Method, String); 3] {
        let signer = Signer::ed25519("acme.co.jp", "sel1");
        signer.publish(dkim);
        let plain = "From: taro@acme.co.jp\r\nTo: ballot@committee.example\r\n";
        [
            (
                Method::Token,
                message(&format!(
                    "From: taro@acme.co.jp\r\nTo: {}\r\n",
                    env.personal_reply_to()
                )),
            ),
            (Method::Dkim, signer.sign(&message(plain))),
            (Method::Authres, message(&format!("{OURS}{plain}"))),
        ]
    }

    #[tokio::test]
    async fn every_combination_of_accepted_methods_passes_exactly_the_evidence_it_accepts() {
        let dkim = DkimVerifier::offline().unwrap();
        for mask in 0u8..8 {
            let accept: Vec<Method> = Method::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, m)| *m)
                .collect();
            let env = Env::new(policy(&accept));
            for (evidence, raw) in evidence_messages(&env, &dkim).await {
                let v = run(&env, &raw, &dkim).await;
                let expected = accept.contains(&evidence);
                assert_eq!(
                    v.passed, expected,
                    "accept {accept:?}, evidence {evidence:?}: {v:?}"
                );
                assert_eq!(v.method, expected.then_some(evidence));
                // The evidence is reported even when its method is not accepted,
                // except DKIM, which is not verified (no DNS) unless accepted.
                let c = v.checks.iter().find(|c| c.method == evidence).unwrap();
                assert_eq!(c.accepted, expected);
                if evidence != Method::Dkim || expected {
                    assert_eq!(c.result, CheckResult::Pass, "{v:?}");
                } else {
                    assert_eq!(c.result, CheckResult::Skipped);
                }
            }
        }
        assert_eq!(dkim.uncached_lookups(), 0);
    }

    #[test]
    fn the_verification_table_reads_from_toml_with_defaults() {
        let p: PolicyConfig = toml::from_str("").unwrap();
        assert_eq!(p, PolicyConfig::default());
        assert_eq!(p.accept, Method::ALL.to_vec());
        assert!(p.require);
        let p: PolicyConfig = toml::from_str(
            "accept = [\"dkim\", \"authres\"]\nauthserv_id = \"mx.committee.example\"\ntrusted_list_headers = [\"X-Original-From\"]\nrequire = false\n",
        )
        .unwrap();
        assert_eq!(p.accept, vec![Method::Dkim, Method::Authres]);
        assert!(p.validate().is_ok());
        let p: PolicyConfig = toml::from_str(
            "accept = [\"authres\"]\nauthserv_id = \"mx.committee.example\"\nmx_hosts = [\"mx1.committee.example\"]\nauthres_placement = \"below_received\"\n",
        )
        .unwrap();
        assert_eq!(p.authres_placement, authres::Placement::BelowReceived);
        assert!(p.validate().is_ok());
        let bad = PolicyConfig {
            mx_hosts: vec!["mx one".into()],
            ..p
        };
        assert_eq!(bad.validate(), Err(PolicyError::BadMxHost("mx one".into())));
        assert!(toml::from_str::<PolicyConfig>("acept = []").is_err());
        assert!(toml::from_str::<PolicyConfig>("accept = [\"spf\"]").is_err());
    }

    #[test]
    fn a_policy_missing_what_an_accepted_method_needs_is_refused_in_one_sentence() {
        let mut p = PolicyConfig::default();
        assert_eq!(p.validate(), Err(PolicyError::MissingAuthservId));
        p.authserv_id = Some(ID.into());
        assert_eq!(p.validate(), Err(PolicyError::MissingTokenSecret));
        p.token_secret_env = Some("MAIL_BALLOT_TOKEN_KEY".into());
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            p.token_secret(),
            Some(SecretRef::Env("MAIL_BALLOT_TOKEN_KEY".into()))
        );
        p.trusted_list_headers = vec!["X-Original From".into()];
        assert!(matches!(p.validate(), Err(PolicyError::BadHeaderName(_))));
        let empty = PolicyConfig {
            accept: vec![],
            ..PolicyConfig::default()
        };
        assert_eq!(empty.validate(), Err(PolicyError::NothingAccepted));
        let e = PolicyError::MissingAuthservId.to_string();
        assert!(e.starts_with("[verification]") && !e.contains('\n'));
    }

    #[tokio::test]
    async fn a_verification_serialises_to_json_for_inspect_and_show() {
        let env = Env::new(policy(&Method::ALL));
        let raw = message(&format!("{OURS}From: taro@acme.co.jp\r\n"));
        let v = run(&env, &raw, &DkimVerifier::offline().unwrap()).await;
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["passed"], true);
        assert_eq!(json["method"], "authres");
        assert_eq!(json["author"], "taro@acme.co.jp");
        assert_eq!(json["checks"][0]["method"], "token");
        assert_eq!(json["checks"][0]["result"], "none");
        assert_eq!(json["checks"][1]["result"], "none");
        assert_eq!(json["checks"][2]["result"], "pass");
        let back: Verification = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
    }
}
