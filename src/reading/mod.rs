//! Reading a member's reply: from the raw bytes of one mail to the ballot it answers,
//! the position it states, and the evidence for that reading.
//!
//! The steps, each in its own module and each pure:
//!
//! 1. `decode`: the header block, the MIME parts that hold the member's text, their
//!    transfer encodings and charsets (`html` turns HTML-only mail into text);
//! 2. `automated`: auto-replies, bounces and reports are recognised and never counted;
//! 3. `cut`: quotes, the quoted ballot, reply headers and signatures are cut away,
//!    leaving the member's own words;
//! 4. `classify`: the own words are read for a position, or found unclear, or empty.
//!
//! The daemon and `mail-ballot inspect` both call [`read_message`], so what an
//! administrator sees in `inspect` is exactly what the daemon counted. A vote read
//! wrongly is the worst failure the product can have: every doubtful case comes out as
//! `Vote::Unclear`, never as a guess.

pub mod classify;
pub mod inspect;
pub mod silence;

mod automated;
mod cut;
pub(crate) mod decode;
mod html;

use std::panic::{self, AssertUnwindSafe};
use std::sync::LazyLock;

use mail_parser::{MessageParser, MimeHeaders};
use regex::Regex;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::domain::{Address, BallotRef, Vote};

pub use classify::{classify, Classification};

/// Markers of the line in the ballot announcement above which members write their answer.
/// The announcement template will contain the line
/// `##- この行より上にご回答ください / Please reply above this line -##`.
/// Matched case-insensitively after NFKC normalisation.
pub const REPLY_MARKERS: &[&str] = &["この行より上にご回答ください", "reply above this line"];

/// Limits that keep reading bounded on any input.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Addresses the bot itself sends from: mail from them is automated (never counted
    /// or answered).
    pub own_addresses: Vec<Address>,
    /// Beyond this many bytes only the headers are read, and the reading says so.
    pub max_message_bytes: usize,
    /// MIME parts beyond this many are not read.
    pub max_parts: usize,
    /// Characters of decoded text considered (for `text` and `own_words`); own words
    /// that run past them make the reading unclear, and the reading says so.
    pub max_text_chars: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            own_addresses: Vec::new(),
            max_message_bytes: 10 * 1024 * 1024,
            max_parts: 100,
            max_text_chars: 200_000,
        }
    }
}

/// Everything read from one message.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    pub from: Option<Address>,
    pub from_name: Option<String>,
    pub reply_to: Option<Address>,
    /// The subject, decoded.
    pub subject: Option<String>,
    /// Ids in In-Reply-To, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// Ids in References, without angle brackets.
    pub references: Vec<String>,
    /// The ballot answered: the reference in the subject first, then In-Reply-To, then
    /// References.
    pub ballot: Option<BallotRef>,
    /// Every distinct reference in the subject, In-Reply-To, References and the
    /// per-ballot answer lines.
    pub ballots: Vec<BallotRef>,
    /// N from a `b-YYYY-NNN.rN.` Message-ID in In-Reply-To or References.
    pub round: Option<u32>,
    /// The single answer. With per-ballot answer lines: the answer when there is exactly
    /// one line, Unclear when there are several (see `answers`).
    pub vote: Vote,
    /// Per-ballot answers from lines such as `B-2026-007 賛成`.
    pub answers: Vec<BallotAnswer>,
    /// Auto-replies, bounces, reports, list bulk and the bot's own mail.
    pub automated: bool,
    pub automated_reason: Option<String>,
    /// The text that decided, if any.
    pub evidence: Option<String>,
    /// One English sentence explaining the reading.
    pub reason: String,
    /// The member's own words after cutting quotes, the marker and signatures; NFKC.
    pub own_words: String,
    /// The whole decoded text body (text/plain preferred, HTML turned into text), up to
    /// `max_text_chars`, for admin commands that need the full body.
    #[serde(skip)]
    pub text: String,
    /// Some(reason) when the bytes could not be read as a message at all.
    pub malformed: Option<String>,
    /// How the text was found: relabelled charsets, skipped attachments, where the own
    /// words were cut. For `inspect`; never needed to count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Set when the message was larger than `max_message_bytes`: only its headers
    /// were read, and the answer is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oversized: Option<Oversized>,
}

/// A message too large to read: its size, the limit, and how much of it was at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Oversized {
    /// The whole message's size in bytes (IMAP RFC822.SIZE).
    pub size: usize,
    /// `max_message_bytes`.
    pub limit: usize,
    /// The bytes the reader was given: fewer than `size` when the mailbox fetched only
    /// the first part of the message.
    pub kept: usize,
}

/// One ballot's answer in a reply that answers several.
#[derive(Debug, Clone, Serialize)]
pub struct BallotAnswer {
    pub ballot: BallotRef,
    pub vote: Vote,
    /// The answer line as written (NFKC).
    pub evidence: String,
}

/// The prefix of `malformed` when reading itself failed; a bug, never the sender's fault.
pub const INTERNAL_ERROR: &str = "internal error while reading";

/// `f` over `items` on every core, in order: reading is pure and is most of the
/// work of a backlog or a replay. A blocking call (scoped threads): under tokio,
/// run it in `block_in_place` or `spawn_blocking`. `read_message` never panics; a
/// panic in `f` is a bug and surfaces rather than losing an item.
pub fn on_every_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if threads < 2 || items.len() < 8 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| panic::resume_unwind(p)))
            .collect()
    })
}

/// Reads one message. Pure: no I/O, never panics, bounded time and memory on any input.
pub fn read_message(raw: &[u8], opts: &ReadOptions) -> Reading {
    read_message_of_size(raw, raw.len(), opts)
}

/// Reads a message of `size` bytes of which `raw` may be only the first part: the
/// IMAP mailbox fetches a message larger than `max_message_bytes` only up to there.
/// The reading is the one the whole message would give (`inspect` on the file),
/// and says what was at hand.
pub fn read_message_of_size(raw: &[u8], size: usize, opts: &ReadOptions) -> Reading {
    // mail-parser is robust, but a panic in a dependency must not take the daemon down
    // with one hostile message: it becomes a malformed reading that a person looks at.
    match panic::catch_unwind(AssertUnwindSafe(|| read_unguarded(raw, size, opts))) {
        Ok(r) => r,
        Err(_) => Reading::malformed(format!("{INTERNAL_ERROR}: the parser failed")),
    }
}

impl Reading {
    fn malformed(why: String) -> Reading {
        Reading {
            reason: format!("The bytes could not be read as a mail message: {why}."),
            malformed: Some(why),
            ..Reading::blank()
        }
    }

    fn blank() -> Reading {
        Reading {
            message_id: None,
            from: None,
            from_name: None,
            reply_to: None,
            subject: None,
            in_reply_to: Vec::new(),
            references: Vec::new(),
            ballot: None,
            ballots: Vec::new(),
            round: None,
            vote: Vote::None,
            answers: Vec::new(),
            automated: false,
            automated_reason: None,
            evidence: None,
            reason: String::new(),
            own_words: String::new(),
            text: String::new(),
            malformed: None,
            notes: Vec::new(),
            oversized: None,
        }
    }
}

/// Building a parser fills a table of header parsers: done once, not per message.
static PARSER: LazyLock<MessageParser> = LazyLock::new(MessageParser::default);

/// Ids kept from In-Reply-To and References; a longer chain adds nothing.
const MAX_IDS: usize = 200;

fn read_unguarded(raw: &[u8], size: usize, opts: &ReadOptions) -> Reading {
    let size = size.max(raw.len());
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Reading::malformed("the message is empty".into());
    }
    let header_limit = raw.len().min(opts.max_message_bytes.max(64 * 1024));
    let headers = decode::Headers::parse(raw, header_limit);
    if headers.fields.is_empty() {
        return Reading::malformed("it does not start with header fields".into());
    }

    let mut r = Reading::blank();
    read_headers(&headers, &mut r);

    // Whether the whole message is at hand or only its first part, a message over
    // the limit reads the same: by its headers.
    if size > opts.max_message_bytes {
        let why = automated::detect(
            &headers,
            r.from.as_ref(),
            r.subject.as_deref(),
            None,
            &opts.own_addresses,
        );
        r.notes.push(format!(
            "the message has {size} bytes, more than the {} read; only its headers were read",
            opts.max_message_bytes
        ));
        if raw.len() < size {
            r.notes.push(format!(
                "only its first {} bytes were fetched and kept",
                raw.len()
            ));
        }
        r.oversized = Some(Oversized {
            size,
            limit: opts.max_message_bytes,
            kept: raw.len(),
        });
        return match why {
            Some(why) => automated_reading(r, why),
            None => {
                r.vote = Vote::Unclear;
                r.reason = format!(
                    "The message has {size} bytes, more than the {} that are read, so only its headers were read and the answer is unknown.",
                    opts.max_message_bytes
                );
                r
            }
        };
    }

    // The parser builds every part it finds: give it no more than the cap.
    let raw = match decode::part_cap(raw, opts.max_parts) {
        Some(cut) => {
            r.notes.push(format!(
                "the message has more than {} MIME parts; parts beyond the first {} were not read (the bytes after {cut} were not parsed)",
                opts.max_parts, opts.max_parts
            ));
            &raw[..cut]
        }
        None => raw,
    };
    let Some(msg) = PARSER.parse(raw) else {
        return Reading {
            malformed: Some("no message structure was found".into()),
            reason:
                "The bytes could not be read as a mail message: no message structure was found."
                    .into(),
            ..r
        };
    };

    let report_part = msg
        .parts
        .iter()
        .take(opts.max_parts)
        .find_map(|p| report_kind(p.content_type()?));
    let why = automated::detect(
        &headers,
        r.from.as_ref(),
        r.subject.as_deref(),
        report_part.as_deref(),
        &opts.own_addresses,
    );

    let body = decode::body_text(&msg, opts.max_parts, opts.max_text_chars);
    r.notes.extend(body.notes);
    r.text = truncate_chars(&body.text, opts.max_text_chars).to_string();
    let text_cut = r.text.len() < body.text.len();
    let cut = cut::own_words(&r.text);
    if let Some(at) = &cut.stopped_at {
        r.notes.push(format!("own words cut at {at}"));
    }
    if cut.quoted_lines > 0 {
        r.notes
            .push(format!("{} quoted lines dropped", cut.quoted_lines));
    }
    r.own_words = truncate_chars(&cut.own_words, opts.max_text_chars).to_string();
    // The text is read up to a bound. Where the own words end before it (at the
    // quote, the marker, a signature) nothing of the member's was lost; where
    // they run to it, what follows might take the answer back.
    let own_words_cut =
        (text_cut && cut.stopped_at.is_none()) || r.own_words.len() < cut.own_words.len();
    if text_cut {
        r.notes.push(format!(
            "the text is longer than {} characters; only the first {} were read{}",
            opts.max_text_chars,
            opts.max_text_chars,
            if own_words_cut {
                ", and the own words run past them"
            } else {
                ", and the own words end before them"
            }
        ));
    } else if own_words_cut {
        r.notes.push(format!(
            "the own words are longer than {} characters; only the first {} were read",
            opts.max_text_chars, opts.max_text_chars
        ));
    }

    if let Some(why) = why {
        return automated_reading(r, why);
    }
    decide(&mut r);
    if own_words_cut {
        r.vote = Vote::Unclear;
        for a in &mut r.answers {
            a.vote = Vote::Unclear;
        }
        r.reason = format!(
            "The member's own words run past the {} characters that are read, so the rest of them was not read and the answer is unknown.",
            opts.max_text_chars
        );
    }
    r
}

fn read_headers(headers: &decode::Headers, r: &mut Reading) {
    r.message_id = headers
        .text("message-id")
        .and_then(|v| decode::message_ids(&v).into_iter().next());
    if let Some(from) = headers.text("from") {
        let (name, addr) = decode::split_mailbox(&from);
        r.from = addr.and_then(|a| Address::parse(&a).ok());
        r.from_name = name;
    }
    r.reply_to = headers
        .text("reply-to")
        .and_then(|v| decode::split_mailbox(&v).1)
        .and_then(|a| Address::parse(&a).ok());
    r.subject = headers.text("subject");
    let ids = |name: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in headers.all_text(name) {
            for id in decode::message_ids(&v) {
                if out.len() < MAX_IDS && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    };
    r.in_reply_to = ids("in-reply-to");
    r.references = ids("references");

    let subject: String = r.subject.as_deref().unwrap_or("").nfkc().collect();
    let from_subject = BallotRef::find_all(&subject);
    let from_irt = BallotRef::find_all(&r.in_reply_to.join(" "));
    let from_refs = BallotRef::find_all(&r.references.join(" "));
    r.ballot = from_subject
        .first()
        .or(from_irt.first())
        .or(from_refs.first())
        .copied();
    for b in from_subject.iter().chain(&from_irt).chain(&from_refs) {
        if !r.ballots.contains(b) {
            r.ballots.push(*b);
        }
    }
    r.round = find_round(&r.in_reply_to, &r.references, r.ballot);
}

static ROUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)b-\d{4}-\d{3,6}\.r(\d{1,6})\.").expect("static regex")
});

/// The round of our announcement being answered: the parent (In-Reply-To) first, then
/// the most recent of References, preferring ids of the ballot found.
fn find_round(irt: &[String], refs: &[String], ballot: Option<BallotRef>) -> Option<u32> {
    let ordered: Vec<&String> = irt.iter().chain(refs.iter().rev()).collect();
    let round_of = |id: &str| -> Option<u32> { ROUND.captures(id)?.get(1)?.as_str().parse().ok() };
    if let Some(b) = ballot {
        let prefix = format!("{}.r", b.msgid_prefix());
        if let Some(n) = ordered
            .iter()
            .filter(|id| id.to_ascii_lowercase().starts_with(&prefix))
            .find_map(|id| round_of(id))
        {
            return Some(n);
        }
    }
    ordered.iter().find_map(|id| round_of(id))
}

/// The kind of report a MIME part is, if it is one.
fn report_kind(ct: &mail_parser::ContentType<'_>) -> Option<String> {
    let t = ct.ctype().to_ascii_lowercase();
    let s = ct.subtype().unwrap_or("").to_ascii_lowercase();
    let kind = match (t.as_str(), s.as_str()) {
        ("multipart", "report") => "multipart/report",
        ("message", "delivery-status") => "message/delivery-status",
        ("message", "global-delivery-status") => "message/global-delivery-status",
        ("message", "disposition-notification") => "message/disposition-notification",
        ("message", "global-disposition-notification") => "message/global-disposition-notification",
        ("message", "feedback-report") => "message/feedback-report",
        // A calendar client's accept or decline of an invitation. The bot's
        // own entries are published (nothing to answer), but a client may
        // answer anyway, and "accepted" must never read as 賛成.
        ("text", "calendar") => {
            let method = ct.attribute("method").unwrap_or("").to_ascii_uppercase();
            if !matches!(method.as_str(), "REPLY" | "COUNTER" | "DECLINECOUNTER") {
                return None;
            }
            return Some(format!("text/calendar (method={method})"));
        }
        _ => return None,
    };
    Some(kind.to_string())
}

fn automated_reading(mut r: Reading, why: String) -> Reading {
    r.automated = true;
    r.vote = Vote::None;
    r.evidence = None;
    r.answers.clear();
    r.reason = format!("Automated mail is never counted: {why}.");
    r.automated_reason = Some(why);
    r
}

static ANSWER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:[-*・•]\s*)?[\[【(<「]?\s*(b-\d{4}-\d{3,6})(?-u:\b)\s*[\]】)>」]?\s*(?:について(?:は)?|は|[:=>→\-])?\s*(.+?)\s*$")
        .expect("static regex")
});

/// Decides the vote from the own words: per-ballot answer lines first, then the rest.
fn decide(r: &mut Reading) {
    let mut answers: Vec<BallotAnswer> = Vec::new();
    let mut rest = String::new();
    for line in r.own_words.lines() {
        let found = ANSWER_LINE.captures(line).and_then(|c| {
            let b: BallotRef = c.get(1)?.as_str().parse().ok()?;
            let words = c.get(2)?.as_str();
            // "B-2026-007 と B-2026-008 に賛成" is one answer for two ballots, not a line.
            if !BallotRef::find_all(words).is_empty() {
                return None;
            }
            let a = classify::analyse(words);
            a.decided.then_some((b, a.classification.vote))
        });
        match found {
            Some((ballot, vote)) => {
                let evidence = line.trim().to_string();
                match answers.iter_mut().find(|a| a.ballot == ballot) {
                    Some(a) if a.vote != vote => {
                        a.vote = Vote::Unclear;
                        a.evidence = format!("{} / {}", a.evidence, evidence);
                    }
                    Some(_) => {}
                    None => answers.push(BallotAnswer {
                        ballot,
                        vote,
                        evidence,
                    }),
                }
            }
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    let main = classify::analyse(&rest);
    for a in &answers {
        if !r.ballots.contains(&a.ballot) {
            r.ballots.push(a.ballot);
        }
    }

    let c = main.classification;
    // The rest of the reply may take the answer lines back: a position of its own that
    // differs ("B-2026-007 賛成" then "反対です。"), or a condition or doubt
    // ("ただし、予算が確保されることが条件です。"). Then no answer line counts.
    let lines = || {
        answers
            .iter()
            .map(|a| a.evidence.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let taken_back = if answers.is_empty() {
        None
    } else if main.decided && answers.iter().any(|a| a.vote != c.vote) {
        let said = c.evidence.clone().unwrap_or_default();
        Some((
            said.clone(),
            format!(
                "The answer lines \"{}\" are contradicted by the rest of the reply, which says {} (\"{said}\").",
                lines(),
                c.vote
            ),
        ))
    } else {
        main.qualifier.as_ref().map(|(text, why)| {
            (
                text.clone(),
                format!(
                    "The answer lines \"{}\" are {why} by \"{text}\" elsewhere in the reply, so none of them is counted as it stands.",
                    lines()
                ),
            )
        })
    };
    if let Some((said, reason)) = taken_back {
        let evidence = format!("{} / {said}", lines());
        for a in &mut answers {
            a.vote = Vote::Unclear;
        }
        r.vote = Vote::Unclear;
        r.evidence = Some(evidence);
        r.reason = reason;
        r.answers = answers;
        return;
    }
    let (vote, evidence, reason) = match answers.as_slice() {
        [] => {
            let own_refs = BallotRef::find_all(&r.own_words);
            let subject: String = r.subject.as_deref().unwrap_or("").nfkc().collect();
            let subject_refs = BallotRef::find_all(&subject);
            let names = |v: &[BallotRef]| {
                v.iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if c.vote.position().is_none() {
                (c.vote, c.evidence, c.reason)
            } else if own_refs.len() >= 2 {
                (
                    Vote::Unclear,
                    c.evidence,
                    format!(
                        "The reply names several ballots ({}) but gives one answer without saying which ballot it is for.",
                        names(&own_refs)
                    ),
                )
            } else if let (Some(named), Some(b)) = (own_refs.first(), r.ballot) {
                if *named != b {
                    (
                        Vote::Unclear,
                        c.evidence,
                        format!("The reply is about {b} but its answer names {named}."),
                    )
                } else {
                    (c.vote, c.evidence, c.reason)
                }
            } else if subject_refs.len() >= 2 {
                (
                    Vote::Unclear,
                    c.evidence,
                    format!(
                        "The subject names several ballots ({}) and the reply gives one answer without saying which ballot it is for.",
                        names(&subject_refs)
                    ),
                )
            } else {
                (c.vote, c.evidence, c.reason)
            }
        }
        [a] => {
            if r.ballot.is_some_and(|b| b != a.ballot) {
                (
                    Vote::Unclear,
                    Some(a.evidence.clone()),
                    format!(
                        "The reply is about {} but its answer line is for {}; see answers.",
                        r.ballot.map(|b| b.to_string()).unwrap_or_default(),
                        a.ballot
                    ),
                )
            } else {
                (
                    a.vote,
                    Some(a.evidence.clone()),
                    format!(
                        "The answer line \"{}\" reads as {} for {}.",
                        a.evidence, a.vote, a.ballot
                    ),
                )
            }
        }
        many => (
            Vote::Unclear,
            Some(
                many.iter()
                    .map(|a| a.evidence.as_str())
                    .collect::<Vec<_>>()
                    .join(" / "),
            ),
            format!(
                "The reply answers several ballots ({}); see answers.",
                many.iter()
                    .map(|a| format!("{} {}", a.ballot, a.vote))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    r.vote = vote;
    r.evidence = evidence;
    r.reason = reason;
    r.answers = answers;
}

/// The first `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_clients_answer_to_the_deadline_entry_is_automated() {
        let raw = "From: Taro <taro@example.co.jp>\r\nSubject: Accepted: [B-2026-007] 回答期限\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n承諾しました。賛成\r\n--b\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n--b--\r\n";
        let r = read_message(raw.as_bytes(), &ReadOptions::default());
        assert!(r.automated, "{r:?}");
        assert_eq!(r.vote, Vote::None);
        assert!(r
            .automated_reason
            .unwrap()
            .contains("text/calendar (method=REPLY)"));
    }

    fn read(raw: &str) -> Reading {
        read_message(raw.as_bytes(), &ReadOptions::default())
    }

    #[test]
    fn work_shared_among_the_cores_comes_back_in_the_order_of_its_items() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = on_every_core(&items, |n| n * 2);
        assert_eq!(doubled, (0..1000).map(|n| n * 2).collect::<Vec<_>>());
        assert!(on_every_core(&[] as &[u32], |n| *n).is_empty());
    }

    const HEAD: &str = "From: \"山田 太郎\" <Taro@Example.co.jp>\r\nSubject: Re: [B-2026-007] 新規会員\r\nMessage-ID: <abc@example.co.jp>\r\nIn-Reply-To: <b-2026-007.r2.announce@ballot.example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";

    #[test]
    fn a_plain_reply_gives_its_ballot_round_and_vote() {
        let r = read(&format!(
            "{HEAD}賛成します。\r\n\r\n> 賛成・反対・棄権のいずれかを\r\n"
        ));
        assert_eq!(r.vote, Vote::Yes);
        assert_eq!(r.ballot.unwrap().to_string(), "B-2026-007");
        assert_eq!(r.round, Some(2));
        assert_eq!(r.message_id.as_deref(), Some("abc@example.co.jp"));
        assert_eq!(r.from.as_ref().unwrap().as_str(), "taro@example.co.jp");
        assert_eq!(r.from_name.as_deref(), Some("山田 太郎"));
        assert!(!r.automated);
    }

    #[test]
    fn per_ballot_answer_lines_fill_answers_and_make_the_vote_unclear() {
        let r = read(&format!(
            "{HEAD}B-2026-007 賛成\r\n[B-2026-008] 反対\r\nB-2026-009: 棄権\r\n"
        ));
        assert_eq!(r.vote, Vote::Unclear);
        assert_eq!(r.answers.len(), 3);
        assert_eq!(r.answers[1].vote, Vote::No);
        assert_eq!(r.ballots.len(), 3);
        assert!(r.reason.contains("several ballots"));
    }

    #[test]
    fn a_single_answer_line_for_the_ballot_gives_the_vote() {
        let r = read(&format!("{HEAD}B-2026-007 反対\r\n"));
        assert_eq!(r.vote, Vote::No);
        assert_eq!(r.answers.len(), 1);
    }

    #[test]
    fn a_condition_elsewhere_in_the_reply_makes_an_answer_line_unclear() {
        let r = read(&format!(
            "{HEAD}B-2026-007 賛成\r\nただし、予算が確保されることが条件です。\r\n"
        ));
        assert_eq!(r.vote, Vote::Unclear, "{}", r.reason);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].vote, Vote::Unclear);
        assert!(r.reason.contains("made conditional"), "{}", r.reason);
    }

    #[test]
    fn a_doubt_or_a_position_beside_several_answer_lines_makes_every_line_unclear() {
        for rest in [
            "ただし、予算が確保されることが条件です。",
            "いずれもまだ迷っています。",
            "反対です。",
            "Yes, when the budget passes.",
        ] {
            let r = read(&format!(
                "{HEAD}B-2026-007 賛成\r\nB-2026-008 賛成\r\n{rest}\r\n"
            ));
            assert_eq!(r.answers.len(), 2, "{rest}");
            assert!(
                r.answers.iter().all(|a| a.vote == Vote::Unclear),
                "{rest}: {:?}",
                r.answers
            );
        }
    }

    #[test]
    fn greetings_beside_answer_lines_leave_them_as_they_are() {
        let r = read(&format!(
            "{HEAD}お疲れ様です。\r\nB-2026-007 賛成\r\nB-2026-008 反対\r\nご不明な点がございましたらご連絡ください。\r\nよろしくお願いいたします。\r\n"
        ));
        assert_eq!(r.answers[0].vote, Vote::Yes);
        assert_eq!(r.answers[1].vote, Vote::No);
        let r = read(&format!("{HEAD}B-2026-007 賛成\r\n賛成です。\r\n"));
        assert_eq!(r.vote, Vote::Yes, "{}", r.reason);
    }

    #[test]
    fn one_position_naming_two_ballots_is_unclear() {
        let r = read(&format!(
            "{HEAD}B-2026-007 と B-2026-008 について賛成します。\r\n"
        ));
        assert_eq!(r.vote, Vote::Unclear);
    }

    #[test]
    fn a_copied_subject_line_is_not_an_answer_line() {
        let r = read(&format!(
            "{HEAD}[B-2026-007] 新規会員 株式会社サンプルの加盟承認について\r\n賛成します。\r\n"
        ));
        assert_eq!(r.vote, Vote::Yes);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let r = read_message(b"\x00\x01\x02 no headers here", &ReadOptions::default());
        assert!(r.malformed.is_some());
        assert_eq!(r.vote, Vote::None);
        assert!(read_message(b"", &ReadOptions::default())
            .malformed
            .is_some());
    }

    #[test]
    fn an_oversized_message_is_read_by_its_headers_only() {
        let opts = ReadOptions {
            max_message_bytes: 100,
            ..ReadOptions::default()
        };
        let r = read_message(
            format!("{HEAD}賛成します。{}", "x".repeat(200)).as_bytes(),
            &opts,
        );
        assert_eq!(r.vote, Vote::Unclear);
        assert_eq!(r.ballot.unwrap().to_string(), "B-2026-007");
        assert!(r.reason.contains("only its headers"));
    }

    #[test]
    fn the_first_part_of_an_oversized_message_reads_as_the_whole_one_does() {
        let opts = ReadOptions {
            max_message_bytes: 300,
            ..ReadOptions::default()
        };
        let whole = format!("{HEAD}賛成します。\r\n{}", "x".repeat(400));
        let whole = whole.as_bytes();
        let full = read_message(whole, &opts);
        // What an IMAP fetch cut at the limit gives, with the size the server lists.
        let part = read_message_of_size(&whole[..300], whole.len(), &opts);
        assert_eq!(part.vote, Vote::Unclear);
        assert_eq!(part.reason, full.reason);
        assert!(part.reason.contains("only its headers"), "{}", part.reason);
        assert_eq!(part.ballot, full.ballot);
        let size = whole.len();
        assert_eq!(
            part.oversized,
            Some(Oversized {
                size,
                limit: 300,
                kept: 300
            })
        );
        assert_eq!(full.oversized.map(|o| o.kept), Some(size));
        assert!(
            part.notes
                .iter()
                .any(|n| n == "only its first 300 bytes were fetched and kept"),
            "{:?}",
            part.notes
        );
        // Under the limit, the size changes nothing.
        let small = format!("{HEAD}賛成します。\r\n");
        let r = read_message_of_size(small.as_bytes(), small.len(), &opts);
        assert_eq!(r.vote, Vote::Yes);
        assert!(r.oversized.is_none());
    }

    #[test]
    fn own_words_past_the_character_limit_make_the_reading_unclear_with_a_note() {
        let opts = ReadOptions {
            max_text_chars: 1_000,
            ..ReadOptions::default()
        };
        // A yes, a long explanation, and past the limit the member changes their mind.
        let long = format!(
            "{HEAD}賛成します。\r\n{}やはり反対します。\r\n",
            "経緯を説明します。\r\n".repeat(200)
        );
        let r = read_message(long.as_bytes(), &opts);
        assert_eq!(r.vote, Vote::Unclear, "{}", r.reason);
        assert!(
            r.reason.contains("run past the 1000 characters"),
            "{}",
            r.reason
        );
        assert!(
            r.notes.iter().any(|n| n.contains(
                "longer than 1000 characters; only the first 1000 were read, and the own words run past them"
            )),
            "{:?}",
            r.notes
        );
        // A long quote below own words that end before the limit changes nothing.
        let quoted = format!(
            "{HEAD}賛成します。\r\n\r\n{}\r\n{}",
            "##- この行より上にご回答ください / Please reply above this line -##",
            "> 賛成・反対・棄権のいずれかをお書きください。\r\n".repeat(200)
        );
        let r = read_message(quoted.as_bytes(), &opts);
        assert_eq!(r.vote, Vote::Yes, "{}", r.reason);
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("and the own words end before them")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn the_text_is_read_up_to_two_hundred_thousand_characters() {
        let long = format!("{HEAD}賛成します。\r\n{}", "あ".repeat(200_000));
        let r = read(&long);
        assert_eq!(r.vote, Vote::Unclear, "{}", r.reason);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("the text is longer than 200000 characters")),
            "{:?}",
            r.notes
        );
        assert_eq!(r.own_words.chars().count(), 200_000);
    }

    #[test]
    fn mail_from_an_own_address_is_automated_and_not_counted() {
        let opts = ReadOptions {
            own_addresses: vec![Address::parse("taro@example.co.jp").unwrap()],
            ..ReadOptions::default()
        };
        let r = read_message(format!("{HEAD}賛成します。").as_bytes(), &opts);
        assert!(r.automated);
        assert_eq!(r.vote, Vote::None);
    }

    #[test]
    fn a_message_forwarded_inside_a_forwarded_message_is_read() {
        // Found by the property test: mail-parser's debug assertions fire on this shape.
        let raw = "From: a@example.jp\r\nSubject: Re: [B-2026-007] x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n賛成します。\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: c@example.jp\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner2\r\nFrom: d@example.jp\r\nContent-Type: text/plain\r\n\r\n反対\r\n--b--\r\n";
        let r = read(raw);
        assert!(r.malformed.is_none(), "{:?}", r.malformed);
        assert_eq!(r.vote, Vote::Yes);
    }

    #[test]
    fn the_round_prefers_the_ballot_found() {
        let irt = vec!["x@y".to_string()];
        let refs = vec![
            "b-2026-007.r1.announce@x".to_string(),
            "b-2026-008.r3.announce@x".to_string(),
        ];
        let b = "B-2026-007".parse().ok();
        assert_eq!(find_round(&irt, &refs, b), Some(1));
        assert_eq!(find_round(&irt, &refs, None), Some(3));
    }
}
