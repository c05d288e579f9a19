//! Authentication-Results (RFC 8601) written by the operator's own mail server, and
//! what they say about the author's domain.
//!
//! Anyone can write an Authentication-Results header, with any authserv-id, into the
//! mail they send. Only the instances our server added can be believed, and the
//! rule that picks them relies on position, because a server adds its headers on
//! top of what it received:
//!
//! 1. Reading from the top, Received headers before the first
//!    Authentication-Results are the operator's own internal hops (LMTP, a content
//!    filter) and are passed over.
//! 2. The first Authentication-Results opens the trusted zone; the next Received
//!    header closes it. Everything below that Received was already in the message
//!    when that hop received it, so it may have been written by the sender.
//! 3. In the zone, instances whose authserv-id is the configured one are trusted;
//!    every other instance, anywhere, is ignored (and counted, for the report).
//! 4. When trusted instances contradict each other about the same method and
//!    domain (one says pass, another fail), nothing they say about it counts.
//!
//! This is safe when the server puts its results above the Received header of the
//! hop from outside, as RFC 8601 section 5 expects (rspamd does; milters that insert
//! at the top do), or removes incoming instances that carry its authserv-id. A server
//! that writes its results below its own Received header would leave a sender's
//! forged instance at the top of the zone: rule 4 then catches a forged pass that
//! contradicts the server, but not a forged pass for a method the server does not
//! report at all. The operator checks this once with `mail-ballot inspect` on a
//! delivered message.

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

/// The instances believed, and how many others were passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub trusted: Vec<AuthResults>,
    pub ignored: usize,
}

/// Picks the trusted instances from the header fields of a message, top first, as
/// `(lower-cased name, value)`, by the rule in the module header.
pub fn select<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    authserv_id: &str,
) -> Selection {
    #[derive(PartialEq)]
    enum Zone {
        Before,
        In,
        After,
    }
    let mut zone = Zone::Before;
    let mut sel = Selection::default();
    let mut seen = 0;
    for (name, value) in fields {
        match name {
            "received" if zone == Zone::In => zone = Zone::After,
            "authentication-results" => {
                seen += 1;
                if seen > MAX_INSTANCES {
                    sel.ignored += 1;
                    continue;
                }
                if zone == Zone::Before {
                    zone = Zone::In;
                }
                match parse(value) {
                    Some(ar)
                        if zone == Zone::In
                            && ar.authserv_id.eq_ignore_ascii_case(authserv_id.trim()) =>
                    {
                        sel.trusted.push(ar)
                    }
                    _ => sel.ignored += 1,
                }
            }
            _ => {}
        }
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
    /// Trusted instances gave different results for the same method and domain.
    pub conflicting: Vec<String>,
}

impl Findings {
    /// The result that proves the author: an aligned `dmarc=pass` or `dkim=pass`
    /// that no other trusted instance contradicts. SPF is reported, never enough on
    /// its own: it vouches for the envelope path, not the From header.
    pub fn proof(&self) -> Option<&Statement> {
        self.statements.iter().find(|s| {
            s.aligned
                && s.result == "pass"
                && (s.method == "dmarc" || s.method == "dkim")
                && !self.conflicting.contains(&conflict_key(s))
        })
    }
}

fn conflict_key(s: &Statement) -> String {
    format!("{} {}", s.method, s.domain.as_deref().unwrap_or(""))
}

/// What `trusted` says about mail from `author_domain`.
pub fn findings(trusted: &[AuthResults], author_domain: &str) -> Findings {
    let author = author_domain.trim().to_ascii_lowercase();
    let mut f = Findings::default();
    // (key, instance index, passed) for each aligned statement, to find contradictions.
    let mut seen: Vec<(String, usize, bool)> = Vec::new();
    for (i, ar) in trusted.iter().enumerate() {
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
            if is_aligned {
                let key = conflict_key(&s);
                let pass = s.result == "pass";
                if seen
                    .iter()
                    .any(|(k, j, p)| *k == key && *j != i && *p != pass)
                    && !f.conflicting.contains(&key)
                {
                    f.conflicting.push(key.clone());
                }
                seen.push((key, i, pass));
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

    const OURS: &str =
        "mx.committee.example; dkim=pass header.d=acme.co.jp; dmarc=pass header.from=acme.co.jp";
    const FORGED: &str = "mx.committee.example; dmarc=pass header.from=victim.co.jp";

    #[test]
    fn our_instance_above_the_first_outside_hop_is_trusted() {
        let s = select(
            fields(&[
                ("return-path", "<taro@acme.co.jp>"),
                (
                    "received",
                    "from mx.committee.example by imap.committee.example with LMTP",
                ),
                ("authentication-results", OURS),
                ("received", "from mail.acme.co.jp by mx.committee.example"),
                ("from", "taro@acme.co.jp"),
            ]),
            "mx.committee.example",
        );
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.ignored, 0);
    }

    #[test]
    fn a_forged_instance_with_our_id_below_a_received_header_is_ignored() {
        let s = select(
            fields(&[
                (
                    "authentication-results",
                    "mx.committee.example; dmarc=none header.from=victim.co.jp",
                ),
                ("received", "from evil.example by mx.committee.example"),
                ("authentication-results", FORGED),
                ("from", "someone@victim.co.jp"),
            ]),
            "mx.committee.example",
        );
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.ignored, 1);
        let f = findings(&s.trusted, "victim.co.jp");
        assert!(f.proof().is_none());
    }

    #[test]
    fn instances_with_another_authserv_id_are_ignored_even_at_the_top() {
        let s = select(
            fields(&[
                (
                    "authentication-results",
                    "spamfilter.example; dmarc=pass header.from=acme.co.jp",
                ),
                ("authentication-results", OURS),
                ("received", "from mail.acme.co.jp by mx.committee.example"),
            ]),
            "MX.committee.example",
        );
        assert_eq!(s.trusted.len(), 1);
        assert_eq!(s.trusted[0].authserv_id, "mx.committee.example");
        assert_eq!(s.ignored, 1);
    }

    #[test]
    fn a_message_without_any_instance_trusts_nothing() {
        let s = select(
            fields(&[("received", "from a by b"), ("from", "taro@acme.co.jp")]),
            "mx.committee.example",
        );
        assert!(s.trusted.is_empty());
    }

    #[test]
    fn several_trusted_instances_and_results_are_all_read() {
        let s = select(
            fields(&[
                ("authentication-results", "mx.committee.example; spf=pass smtp.mailfrom=taro@acme.co.jp"),
                ("authentication-results", "mx.committee.example; dkim=fail header.d=list.example; dkim=pass header.d=acme.co.jp"),
                ("received", "from mail.acme.co.jp by mx.committee.example"),
            ]),
            "mx.committee.example",
        );
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
        assert_eq!(f.conflicting, vec!["dmarc acme.co.jp".to_string()]);
        assert!(f.proof().is_none());
    }
}
