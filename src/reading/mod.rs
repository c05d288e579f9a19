//! Reading a reply: who sent it, which ballot it answers, and what the member said.
//! (Interim reader; the full reader replaces this module.)

use serde::Serialize;

use crate::domain::{Address, BallotRef, Vote};

/// Markers of the line above which members write their answer.
pub const REPLY_MARKERS: &[&str] = &["この行より上にご回答ください", "reply above this line"];

/// Limits and context for reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub own_addresses: Vec<Address>,
    pub max_message_bytes: usize,
    pub max_parts: usize,
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

/// An answer to one of several ballots.
#[derive(Debug, Clone, Serialize)]
pub struct BallotAnswer {
    pub ballot: BallotRef,
    pub vote: Vote,
    pub evidence: String,
}

/// How a message reads.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    pub message_id: Option<String>,
    pub from: Option<Address>,
    pub from_name: Option<String>,
    pub reply_to: Option<Address>,
    pub subject: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub ballot: Option<BallotRef>,
    pub ballots: Vec<BallotRef>,
    pub round: Option<u32>,
    pub vote: Vote,
    pub answers: Vec<BallotAnswer>,
    pub automated: bool,
    pub automated_reason: Option<String>,
    pub evidence: Option<String>,
    pub reason: String,
    pub own_words: String,
    #[serde(skip)]
    pub text: String,
    pub malformed: Option<String>,
}

/// Reads a raw message.
pub fn read_message(raw: &[u8], opts: &ReadOptions) -> Reading {
    let mut r = Reading {
        message_id: None,
        from: None,
        from_name: None,
        reply_to: None,
        subject: None,
        in_reply_to: vec![],
        references: vec![],
        ballot: None,
        ballots: vec![],
        round: None,
        vote: Vote::None,
        answers: vec![],
        automated: false,
        automated_reason: None,
        evidence: None,
        reason: String::new(),
        own_words: String::new(),
        text: String::new(),
        malformed: None,
    };
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        r.malformed = Some("the bytes are not an email message".into());
        r.reason = "The message could not be parsed.".into();
        return r;
    };
    r.message_id = msg.message_id().map(str::to_string);
    if let Some(a) = msg.from().and_then(|a| a.first()) {
        r.from = a.address().and_then(|s| Address::parse(s).ok());
        r.from_name = a.name().map(str::to_string);
    }
    r.subject = msg.subject().map(str::to_string);
    let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|s| s.to_string()).collect(),
            _ => vec![],
        }
    };
    r.in_reply_to = ids(msg.in_reply_to());
    r.references = ids(msg.references());
    let auto = msg
        .header_raw("Auto-Submitted")
        .map(|v| !v.trim().eq_ignore_ascii_case("no"))
        .unwrap_or(false);
    if auto
        || r.from
            .as_ref()
            .is_some_and(|f| opts.own_addresses.contains(f))
    {
        r.automated = true;
        r.automated_reason = Some("auto-submitted or from the bot".into());
    }
    for text in std::iter::once(r.subject.clone().unwrap_or_default())
        .chain(r.in_reply_to.iter().cloned())
        .chain(r.references.iter().cloned())
    {
        for b in BallotRef::find_all(&text) {
            if !r.ballots.contains(&b) {
                r.ballots.push(b);
            }
        }
        if r.round.is_none() {
            if let Some(pos) = text.find(".r") {
                let digits: String = text[pos + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if text.starts_with('b') {
                    r.round = digits.parse().ok();
                }
            }
        }
    }
    r.ballot = r.ballots.first().copied();
    r.text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let mut own = String::new();
    for line in r.text.lines() {
        let l = line.trim();
        if REPLY_MARKERS.iter().any(|m| l.to_lowercase().contains(m))
            || l.starts_with("-- ")
            || l == "--"
        {
            break;
        }
        if l.starts_with('>')
            || l.starts_with('＞')
            || (l.ends_with(':') && (l.contains("wrote") || l.contains("書きました")))
        {
            continue;
        }
        own.push_str(l);
        own.push('\n');
    }
    r.own_words = own.trim().to_string();
    if r.automated {
        r.reason = "Automated mail is never counted.".into();
        return r;
    }
    let c = classify(&r.own_words);
    r.vote = c.vote;
    r.evidence = c.evidence;
    r.reason = c.reason;
    r
}

/// The outcome of classifying a member's own words.
#[derive(Debug, Clone)]
pub struct Classification {
    pub vote: Vote,
    pub evidence: Option<String>,
    pub reason: String,
}

/// Classifies the member's own words.
pub fn classify(own_words: &str) -> Classification {
    let words = [
        ("賛成", Vote::Yes),
        ("反対", Vote::No),
        ("棄権", Vote::Abstain),
        ("一任", Vote::Delegate),
    ];
    let mut found: Vec<(Vote, &str)> = Vec::new();
    for line in own_words.lines() {
        for (w, v) in words {
            if line.contains(w) && !found.iter().any(|(f, _)| *f == v) {
                found.push((v, line));
            }
        }
    }
    match found.as_slice() {
        [] => Classification {
            vote: Vote::None,
            evidence: None,
            reason: "No position was stated.".into(),
        },
        [(v, line)]
            if !line.contains("できません")
                && !line.contains("しかね")
                && !line.contains("条件") =>
        {
            Classification {
                vote: *v,
                evidence: Some(line.to_string()),
                reason: format!("The member wrote {}.", v.as_str()),
            }
        }
        _ => Classification {
            vote: Vote::Unclear,
            evidence: found.first().map(|(_, l)| l.to_string()),
            reason: "More than one position, or a qualified one.".into(),
        },
    }
}
