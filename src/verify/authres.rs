//! Authentication-Results (RFC 8601) written by the operator's own mail server, and
//! what they say about the author's domain.
//!
//! Anyone can write an Authentication-Results header, with any authserv-id, into the
//! mail they send, and any Received header too (`Received: from x by mx.ours`). What
//! the sender cannot do is write *above* the Received header our MX adds when it
//! accepts the message from outside: every header above it was added by our own
//! servers afterwards. So the trust is anchored there:
//!
//! 1. The *entry* is the first Received header, reading from the top, whose `by`
//!    host is one of the configured `mx_hosts` (by default the authserv-id). The
//!    Received headers above it are our internal hops (LMTP, a content filter).
//!    A Received header above the entry whose `by` host cannot be read ends the
//!    zone there too, since it may be the entry itself.
//! 2. Instances with our authserv-id above the entry are trusted; with
//!    `authres_placement = "below_received"` (a server that writes its results
//!    just under its own Received header) so are those between the entry and the
//!    next Received header, which is sound only when the server also removes
//!    incoming instances with its authserv-id, as RFC 8601 section 5 asks.
//! 3. With no entry at all (the message did not come through our MX) nothing is
//!    trusted. Every instance not trusted is ignored, and counted for the report.
//! 4. Our server's word against itself: when a trusted instance gives any other
//!    result than `pass` for a method about the author's domain (or about no
//!    domain: `dkim=none`), no `pass` of that method proves the author, and a
//!    `dmarc=fail` for the author's domain also voids any DKIM pass. A forged
//!    instance that slipped into the zone is then caught whenever our server spoke
//!    about the same method.
//!
//! The operator checks once with `mail-ballot inspect --config` on a delivered
//! message that our server's instance is reported as trusted.

use serde::{Deserialize, Serialize};

use super::dkim::aligned;

/// Instances and results read per message; a header block beyond this is not a
/// person's mail, and reading stays bounded.
const MAX_INSTANCES: usize = 50;
const MAX_RESULTS: usize = 50;

/// One Authentication-Results header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResults {
    /// Lower-cased.
    pub authserv_id: String,
    pub results: Vec<MethodResult>,
}

/// One `method=result` with its reason and properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodResult {
    /// Lower-cased, without a version (`dkim`, `spf`, `dmarc`...).
    pub method: String,
    /// Lower-cased (`pass`, `fail`, `none`, `temperror`...).
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// `(ptype.property, value)`, names lower-cased, values as written.
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    /// The first value of `ptype.property` (`header.d`), case-insensitive name.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The domain this result is about: `header.from` for DMARC, `header.d` (or the
    /// domain of `header.i`) for DKIM, the domain of `smtp.mailfrom` (or
    /// `smtp.helo`) for SPF; lower-cased.
    pub fn domain(&self) -> Option<String> {
        let v = match self.method.as_str() {
            "dmarc" => self.property("header.from"),
            "dkim" => self.property("header.d").or(self.property("header.i")),
            "spf" => self
                .property("smtp.mailfrom")
                .or(self.property("smtp.helo")),
            _ => None,
        }?;
        let d = v.rsplit_once('@').map_or(v, |(_, d)| d);
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        (!d.is_empty()).then_some(d)
    }
}

/// Parses one header value. None when it has no authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let text = strip_comments(value);
    let mut segments = split_outside_quotes(&text, |c| c == ';').into_iter();
    let head = words(&segments.next()?);
    let authserv_id = unquote(head.first()?).to_ascii_lowercase();
    if authserv_id.is_empty() || authserv_id.contains('=') {
        return None;
    }
    let mut results = Vec::new();
    for seg in segments {
        let ws = words(&seg);
        let Some((method, result)) = ws.first().and_then(|w| key_value(w)) else {
            continue; // `none`, or a malformed resinfo
        };
        let method = method
            .split('/')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if method.is_empty() {
            continue;
        }
        let mut r = MethodResult {
            method,
            result: unquote(&result).to_ascii_lowercase(),
            reason: None,
            properties: Vec::new(),
        };
        for w in &ws[1..] {
            let Some((k, v)) = key_value(w) else { continue };
            let k = k.to_ascii_lowercase();
            if k == "reason" {
                r.reason = Some(unquote(&v));
            } else if k.contains('.') {
                r.properties.push((k, unquote(&v)));
            }
        }
        if results.len() < MAX_RESULTS {
            results.push(r);
        }
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// Removes RFC 5322 comments (nested, with quoted pairs), leaving quoted strings alone.
fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes || depth > 0 => {
                let next = chars.next();
                if depth == 0 {
                    out.push(c);
                    if let Some(n) = next {
                        out.push(n);
                    }
                }
            }
            '"' if depth == 0 => {
                in_quotes = !in_quotes;
                out.push(c);
            }
            '(' if !in_quotes => {
                depth += 1;
                if depth == 1 {
                    out.push(' ');
                }
            }
            ')' if !in_quotes && depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn split_outside_quotes(s: &str, sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut in_quotes = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_quotes && !escaped && c == '\\' {
            escaped = true;
            out.last_mut().expect("never empty").push(c);
            continue;
        }
        if c == '"' && !escaped {
            in_quotes = !in_quotes;
        }
        escaped = false;
        if !in_quotes && sep(c) {
            out.push(String::new());
        } else {
            out.last_mut().expect("never empty").push(c);
        }
    }
    out
}

/// The words of a segment, with white space around `=` removed first so that
/// `dkim = pass` reads like `dkim=pass`.
fn words(segment: &str) -> Vec<String> {
    let mut joined = String::with_capacity(segment.len());
    let mut in_quotes = false;
    let mut pending_space = false;
    for c in segment.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let at_equals = c == '=' && !in_quotes;
        if pending_space && !at_equals && !joined.ends_with('=') {
            joined.push(' ');
        }
        pending_space = false;
        joined.push(c);
    }
    split_outside_quotes(&joined, |c| c == ' ')
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect()
}

/// `key=value` split at the first `=` (a value may itself end in `=`, as base64 does).
fn key_value(word: &str) -> Option<(String, String)> {
    let (k, v) = word.split_once('=')?;
    (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => v.to_string(),
    }
}

/// Where our server writes its Authentication-Results, relative to the Received
/// header of the hop from outside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Above it, as RFC 8601 section 5 expects (rspamd; milters that insert at the top).
    #[default]
    AboveReceived,
    /// Directly below it: trusted only for a server that removes incoming instances
    /// carrying its authserv-id.
    BelowReceived,
}

/// What the operator told us about their own servers.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    /// The authserv-id our server writes (case-insensitive).
    pub authserv_id: &'a str,
    /// The `by` host names of the MX servers that accept mail from outside
    /// (case-insensitive); empty means the authserv-id.
    pub mx_hosts: &'a [String],
    pub placement: Placement,
}

impl Trust<'_> {
    fn is_mx(&self, host: &str) -> bool {
        if self.mx_hosts.is_empty() {
            host.eq_ignore_ascii_case(self.authserv_id.trim())
        } else {
            self.mx_hosts
                .iter()
                .any(|h| host.eq_ignore_ascii_case(h.trim().trim_end_matches('.')))
        }
    }
}

/// The `by` host of a Received header (`from HELO (info) by HOST ...`, or
/// `by HOST ...` for locally submitted mail), lower-cased. None when the header
/// does not have that shape: an odd HELO must not make it unreadable in a way that
/// lets a header further down pass for ours, so callers treat None as a boundary.
pub fn received_by(value: &str) -> Option<String> {
    let text = strip_comments(value);
    let words: Vec<&str> = text.split_whitespace().collect();
    let host = match words.as_slice() {
        [from, _, by, host, ..]
            if from.eq_ignore_ascii_case("from") && by.eq_ignore_ascii_case("by") =>
        {
            *host
        }
        [by, host, ..] if by.eq_ignore_ascii_case("by") => *host,
        _ => return None,
    };
    let host = host.trim_end_matches(';').trim_end_matches('.');
    (!host.is_empty() && !host.contains(['(', ')', '<', '>', '"']))
        .then(|| host.to_ascii_lowercase())
}

/// The instances believed, and how many others were passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub trusted: Vec<AuthResults>,
    pub ignored: usize,
    /// The `by` host of the Received header that anchored the trust (our MX), or
    /// None when no Received header of our MX was found.
    pub entry: Option<String>,
}

/// Picks the trusted instances from the header fields of a message, top first, as
/// `(lower-cased name, value)`, by the rule in the module header.
pub fn select<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    trust: &Trust<'_>,
) -> Selection {
    #[derive(PartialEq)]
    enum Zone {
        /// Above the entry: only our servers write here.
        Ours,
        /// Between the entry and the next Received (placement below only).
        UnderEntry,
        /// The sender's part of the header.
        Outside,
    }
    let mut zone = Zone::Ours;
    let mut sel = Selection::default();
    let mut candidates = Vec::new();
    let mut anchored = false;
    let mut seen = 0;
    for (name, value) in fields {
        match name {
            "received" => match zone {
                Zone::Ours => match received_by(value) {
                    Some(by) if trust.is_mx(&by) => {
                        anchored = true;
                        sel.entry = Some(by);
                        zone = match trust.placement {
                            Placement::AboveReceived => Zone::Outside,
                            Placement::BelowReceived => Zone::UnderEntry,
                        };
                    }
                    Some(_) => {} // an internal hop of ours (LMTP, a filter)
                    // Unreadable: it may be the entry itself, so trust stops here.
                    None => {
                        anchored = true;
                        zone = Zone::Outside;
                    }
                },
                Zone::UnderEntry => zone = Zone::Outside,
                Zone::Outside => {}
            },
            "authentication-results" => {
                seen += 1;
                if seen > MAX_INSTANCES {
                    sel.ignored += 1;
                    continue;
                }
                match parse(value) {
                    Some(ar)
                        if zone != Zone::Outside
                            && ar
                                .authserv_id
                                .eq_ignore_ascii_case(trust.authserv_id.trim()) =>
                    {
                        candidates.push(ar)
                    }
                    _ => sel.ignored += 1,
                }
            }
            _ => {}
        }
    }
    if anchored {
        sel.trusted = candidates;
    } else {
        // No Received header of our MX: nothing shows where our part ends.
        sel.ignored += candidates.len();
    }
    sel
}

/// One result the trusted instances give about the author's domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// `dmarc`, `dkim` or `spf`.
    pub method: String,
    pub result: String,
    /// The domain the result is about (see [`MethodResult::domain`]).
    pub domain: Option<String>,
    /// Whether that domain speaks for the author: DMARC's `header.from` must be the
    /// author's domain; DKIM's `d` and SPF's domain must align with it.
    pub aligned: bool,
}

impl Statement {
    /// `dkim=pass header.d=acme.co.jp`.
    pub fn describe(&self) -> String {
        let prop = match self.method.as_str() {
            "dmarc" => "header.from",
            "dkim" => "header.d",
            _ => "smtp.mailfrom",
        };
        match &self.domain {
            Some(d) => format!("{}={} {prop}={d}", self.method, self.result),
            None => format!("{}={}", self.method, self.result),
        }
    }
}

/// What the trusted instances say about one author domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    /// Every DMARC, DKIM and SPF result, in header order.
    pub statements: Vec<Statement>,
    /// Methods (`dkim`, `dmarc`) whose pass our server contradicts: it also gave
    /// another result about the author's domain, or about no domain.
    pub conflicting: Vec<String>,
}

impl Findings {
    /// The result that proves the author: an aligned `dmarc=pass` or `dkim=pass`
    /// of a method no trusted instance contradicts. SPF is reported, never enough
    /// on its own: it vouches for the envelope path, not the From header.
    pub fn proof(&self) -> Option<&Statement> {
        self.statements.iter().find(|s| {
            s.aligned
                && s.result == "pass"
                && (s.method == "dmarc" || s.method == "dkim")
                && !self.conflicting.contains(&s.method)
        })
    }
}

/// What `trusted` says about mail from `author_domain`.
pub fn findings(trusted: &[AuthResults], author_domain: &str) -> Findings {
    let author = author_domain.trim().to_ascii_lowercase();
    let mut f = Findings::default();
    let contradict = |method: &str, f: &mut Findings| {
        if !f.conflicting.iter().any(|m| m == method) {
            f.conflicting.push(method.to_string());
        }
    };
    for ar in trusted {
        for r in &ar.results {
            if !matches!(r.method.as_str(), "dmarc" | "dkim" | "spf") {
                continue;
            }
            let domain = r.domain();
            let is_aligned = match (r.method.as_str(), &domain) {
                ("dmarc", Some(d)) => *d == author,
                (_, Some(d)) => aligned(d, &author),
                _ => false,
            };
            let s = Statement {
                method: r.method.clone(),
                result: r.result.clone(),
                domain,
                aligned: is_aligned,
            };
            let about_author = s.aligned || s.domain.is_none();
            if s.method != "spf" && s.result != "pass" && about_author {
                contradict(&s.method, &mut f);
                // DMARC fails only when no aligned DKIM signature passed.
                if s.method == "dmarc" && s.result == "fail" {
                    contradict("dkim", &mut f);
                }
            }
            f.statements.push(s);
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typical_header_gives_its_id_methods_results_and_properties() {
        let ar = parse(
            "mx.committee.example;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=acme.co.jp header.i=@acme.co.jp header.s=sel1 header.b=\"Ab+/cd=\";\r\n\tspf=pass (mx.committee.example: domain of taro@acme.co.jp designates 192.0.2.1 as permitted sender) smtp.mailfrom=taro@acme.co.jp;\r\n\tdmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=acme.co.jp",
        )
        .unwrap();
        assert_eq!(ar.authserv_id, "mx.committee.example");
        assert_eq!(ar.results.len(), 3);
        assert_eq!(ar.results[0].method, "dkim");
        assert_eq!(ar.results[0].result, "pass");
        assert_eq!(ar.results[0].property("header.d"), Some("acme.co.jp"));
        assert_eq!(ar.results[0].property("header.b"), Some("Ab+/cd="));
        assert_eq!(ar.results[1].domain().as_deref(), Some("acme.co.jp"));
        assert_eq!(ar.results[2].property("header.from"), Some("acme.co.jp"));
    }

    #[test]
    fn versions_spaces_around_equals_reasons_and_none_are_read() {
        let ar = parse("mx.example 1; dkim/1 = fail reason=\"signature; verification failed\" header.d = Acme.co.jp; auth=pass smtp.auth=taro").unwrap();
        assert_eq!(ar.results[0].method, "dkim");
        assert_eq!(ar.results[0].result, "fail");
        assert_eq!(
            ar.results[0].reason.as_deref(),
            Some("signature; verification failed")
        );
        assert_eq!(ar.results[0].domain().as_deref(), Some("acme.co.jp"));
        assert_eq!(ar.results[1].method, "auth");
        let none = parse("mx.example; none").unwrap();
        assert!(none.results.is_empty());
        assert!(parse("").is_none());
        assert!(parse("  ; dkim=pass").is_none());
    }

    #[test]
    fn a_comment_cannot_hide_a_semicolon_or_a_result() {
        let ar =
            parse("mx.example (a comment; dkim=pass (nested)) ; dkim=fail header.d=acme.co.jp")
                .unwrap();
        assert_eq!(ar.results.len(), 1);
        assert_eq!(ar.results[0].result, "fail");
    }

    fn fields(list: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        list.to_vec()
    }

    const ID: &str = "mx.committee.example";

    fn trust(placement: Placement) -> Trust<'static> {
        Trust {
            authserv_id: ID,
            mx_hosts: &[],
            placement,
        }
    }

    fn pick(list: &[(&'static str, &'static str)]) -> Selection {
        select(fields(list), &trust(Placement::AboveReceived))
    }

    const OURS: &str =
        "mx.committee.example; dkim=pass header.d=acme.co.jp; dmarc=pass header.from=acme.co.jp";
    const FORGED: &str = "mx.committee.example; dmarc=pass header.from=victim.co.jp";

    #[test]
    fn our_instance_above_the_first_outside_hop_is_trusted() {
        let s = pick(&[
            ("return-path", "<taro@acme.co.jp>"),
            (
                "received",
                "from mx.committee.example by imap.committee.example with LMTP",
            ),
            ("authentication-results", OURS),
            ("received", "from mail.acme.co.jp by mx.committee.example"),
            ("from", "taro@acme.co.jp"),
        ]);
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.ignored, 0);
    }

    #[test]
    fn a_forged_instance_with_our_id_below_a_received_header_is_ignored() {
        let s = pick(&[
            (
                "authentication-results",
                "mx.committee.example; dmarc=none header.from=victim.co.jp",
            ),
            ("received", "from evil.example by mx.committee.example"),
            ("authentication-results", FORGED),
            ("from", "someone@victim.co.jp"),
        ]);
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.ignored, 1);
        let f = findings(&s.trusted, "victim.co.jp");
        assert!(f.proof().is_none());
    }

    #[test]
    fn instances_with_another_authserv_id_are_ignored_even_at_the_top() {
        let s = pick(&[
            (
                "authentication-results",
                "spamfilter.example; dmarc=pass header.from=acme.co.jp",
            ),
            ("authentication-results", OURS),
            ("received", "from mail.acme.co.jp by mx.committee.example"),
        ]);
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.trusted[0].authserv_id, "mx.committee.example");
        assert_eq!(s.ignored, 1);
    }

    #[test]
    fn a_message_without_any_instance_trusts_nothing() {
        let s = pick(&[("received", "from a by b"), ("from", "taro@acme.co.jp")]);
        assert!(s.trusted.is_empty());
    }

    #[test]
    fn several_trusted_instances_and_results_are_all_read() {
        let s = pick(&[
                ("authentication-results", "mx.committee.example; spf=pass smtp.mailfrom=taro@acme.co.jp"),
                ("authentication-results", "mx.committee.example; dkim=fail header.d=list.example; dkim=pass header.d=acme.co.jp"),
                ("received", "from mail.acme.co.jp by mx.committee.example"),
        ]);
        assert_eq!(s.trusted.len(), 2);
        let f = findings(&s.trusted, "acme.co.jp");
        assert_eq!(f.statements.len(), 3);
        let proof = f.proof().unwrap();
        assert_eq!(proof.describe(), "dkim=pass header.d=acme.co.jp");
    }

    #[test]
    fn an_aligned_dmarc_or_dkim_pass_proves_the_author_and_spf_alone_does_not() {
        let ar = |v: &str| vec![parse(v).unwrap()];
        let dmarc = ar("mx; dmarc=pass header.from=acme.co.jp");
        assert_eq!(
            findings(&dmarc, "acme.co.jp").proof().unwrap().method,
            "dmarc"
        );
        let parent = ar("mx; dkim=pass header.d=acme.co.jp");
        assert!(findings(&parent, "sub.acme.co.jp").proof().is_some());
        let spf = ar("mx; spf=pass smtp.mailfrom=taro@acme.co.jp");
        assert!(findings(&spf, "acme.co.jp").proof().is_none());
        let other =
            ar("mx; dkim=pass header.d=googlegroups.com; dmarc=pass header.from=googlegroups.com");
        let f = findings(&other, "acme.co.jp");
        assert!(f.proof().is_none());
        assert!(f.statements.iter().all(|s| !s.aligned));
        let failed = ar("mx; dkim=fail header.d=acme.co.jp; dmarc=fail header.from=acme.co.jp");
        assert!(findings(&failed, "acme.co.jp").proof().is_none());
    }

    #[test]
    fn trusted_instances_that_contradict_each_other_prove_nothing() {
        let trusted = vec![
            parse("mx; dmarc=pass header.from=acme.co.jp").unwrap(),
            parse("mx; dmarc=fail header.from=acme.co.jp").unwrap(),
        ];
        let f = findings(&trusted, "acme.co.jp");
        // A DMARC failure also says no aligned DKIM signature passed.
        assert_eq!(f.conflicting, ["dmarc", "dkim"]);
        assert!(f.proof().is_none());
    }

    // ---- the attacks: an instance with our authserv-id written by the sender ----

    const FORGED_DKIM: &str = "mx.committee.example; dkim=pass header.d=victim.co.jp";

    #[test]
    fn when_our_server_writes_none_a_senders_instance_with_our_id_is_not_trusted() {
        // The old rule let the first instance open the trusted block, wherever it was.
        let s = pick(&[
            (
                "received",
                "from mx.committee.example by imap.committee.example with LMTP",
            ),
            (
                "received",
                "from evil.example (evil.example [203.0.113.5]) by mx.committee.example (Postfix) with ESMTP",
            ),
            ("authentication-results", FORGED_DKIM),
            ("from", "someone@victim.co.jp"),
        ]);
        assert!(s.trusted.is_empty(), "{s:?}");
        assert_eq!(s.ignored, 1);
        assert_eq!(s.entry.as_deref(), Some("mx.committee.example"));
    }

    #[test]
    fn a_sender_talking_straight_to_our_mx_cannot_fake_a_received_header_of_ours() {
        let s = pick(&[
            ("received", "from evil.example by mx.committee.example"),
            ("authentication-results", FORGED_DKIM),
            ("received", "from mail.victim.co.jp by mx.committee.example"),
            ("from", "someone@victim.co.jp"),
        ]);
        assert!(s.trusted.is_empty(), "{s:?}");
    }

    #[test]
    fn a_forged_pass_under_our_received_is_caught_by_our_own_result_for_the_method() {
        // A server that writes below its own Received header: the forged instance
        // sits in the same block as ours.
        let list = [
            ("received", "from mail.victim.co.jp by mx.committee.example"),
            (
                "authentication-results",
                "mx.committee.example; dkim=none; dmarc=none header.from=victim.co.jp",
            ),
            ("authentication-results", FORGED_DKIM),
            ("received", "from evil.example by mail.victim.co.jp"),
            ("from", "someone@victim.co.jp"),
        ];
        let below = select(fields(&list), &trust(Placement::BelowReceived));
        assert_eq!(below.trusted.len(), 2);
        let f = findings(&below.trusted, "victim.co.jp");
        assert!(f.conflicting.contains(&"dkim".to_string()), "{f:?}");
        assert!(f.proof().is_none(), "{f:?}");
        // Configured as above (the default), nothing under the entry counts at all.
        assert!(pick(&list).trusted.is_empty());
    }

    #[test]
    fn our_fail_for_the_authors_domain_voids_a_pass_for_it_elsewhere_in_the_zone() {
        let trusted = vec![
            parse("mx; dkim=fail header.d=victim.co.jp").unwrap(),
            parse("mx; dkim=pass header.d=victim.co.jp").unwrap(),
        ];
        assert!(findings(&trusted, "victim.co.jp").proof().is_none());
        // Our result about another domain (a list's broken signature) contradicts nothing.
        let trusted =
            vec![
                parse("mx; dkim=fail header.d=lists.example.org; dkim=pass header.d=acme.co.jp")
                    .unwrap(),
            ];
        assert!(findings(&trusted, "acme.co.jp").proof().is_some());
    }

    #[test]
    fn without_a_received_header_of_our_mx_nothing_is_trusted() {
        let s = pick(&[
            ("authentication-results", OURS),
            (
                "received",
                "from mail.acme.co.jp by relay.elsewhere.example",
            ),
        ]);
        assert!(s.trusted.is_empty());
        assert_eq!(s.entry, None);
        assert!(pick(&[("authentication-results", OURS)]).trusted.is_empty());
    }

    #[test]
    fn an_unreadable_received_header_above_the_entry_ends_the_zone() {
        // A HELO with a parenthesis hides the `by` of what may be our entry: what is
        // below cannot be told from the sender's headers.
        let s = pick(&[
            ("authentication-results", OURS),
            ("received", "from x(y by mx.committee.example with ESMTP"),
            ("authentication-results", FORGED_DKIM),
            ("received", "from mail.victim.co.jp by mx.committee.example"),
        ]);
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(
            s.trusted[0].results[0].property("header.d"),
            Some("acme.co.jp")
        );
        assert_eq!(s.ignored, 1);
    }

    #[test]
    fn mx_hosts_name_the_entry_when_it_is_not_the_authserv_id() {
        let hosts = vec!["MX1.committee.example.".to_string()];
        let t = Trust {
            authserv_id: "committee.example",
            mx_hosts: &hosts,
            placement: Placement::AboveReceived,
        };
        let s = select(
            fields(&[
                (
                    "authentication-results",
                    "committee.example; dkim=pass header.d=acme.co.jp",
                ),
                ("received", "from mail.acme.co.jp by mx1.committee.example"),
            ]),
            &t,
        );
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.entry.as_deref(), Some("mx1.committee.example"));
    }

    #[test]
    fn the_by_host_is_read_from_the_usual_received_shapes_and_nothing_else() {
        let by = |v: &str| received_by(v);
        assert_eq!(
            by("from mail.acme.co.jp (mail.acme.co.jp [192.0.2.1])\r\n\tby mx.committee.example (Postfix) with ESMTPS id 4Xy for <bot@committee.example>; Mon, 23 Nov 2026 10:00:00 +0900").as_deref(),
            Some("mx.committee.example")
        );
        assert_eq!(
            by("from mx.committee.example ([127.0.0.1]) by IMAP.committee.example with LMTP id abc (envelope-from <a@b>) for <c@d>; date").as_deref(),
            Some("imap.committee.example")
        );
        assert_eq!(
            by("by mx.committee.example (Postfix, from userid 0) id 1; date").as_deref(),
            Some("mx.committee.example")
        );
        // A HELO of "by" does not make the HELO's neighbour the host.
        assert_eq!(
            by("from by (evil [203.0.113.5]) by mx.committee.example with ESMTP").as_deref(),
            Some("mx.committee.example")
        );
        assert_eq!(by("with ESMTP by mx.committee.example"), None);
        assert_eq!(by("from x(y by mx.committee.example"), None);
        assert_eq!(by(""), None);
    }
}
