//! Outgoing mail: what the bot says (`compose`, from `templates`), how it is
//! queued (in the database, in the same transaction as the change that causes
//! it) and how it leaves (`worker` through a `transport`).
//!
//! Every mail carries a Message-ID fixed when it is queued, beginning with the
//! ballot's lower-case reference and round (`<b-2026-007.r1.receipt.…@domain>`),
//! so a retry after a failure sends the very same message, and a member's reply
//! to it finds its ballot even if the subject was rewritten.

pub mod compose;
pub mod templates;
pub mod transport;
pub mod worker;

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

pub use crate::domain::MessageIdKey;
use crate::domain::{Address, BallotRef};
use crate::store::NewOutboxMail;

/// RFC 3834: how the bot's mail was produced, so other robots do not answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSubmitted {
    /// Announcements, results, digests: `auto-generated`.
    Generated,
    /// Receipts and other answers to a member's mail: `auto-replied`.
    Replied,
}

impl AutoSubmitted {
    fn header(&self) -> &'static str {
        match self {
            AutoSubmitted::Generated => "auto-generated",
            AutoSubmitted::Replied => "auto-replied",
        }
    }
}

/// A mail the bot is about to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// What it is (`announce`, `receipt`, ...), for the outbox and the audit trail.
    pub kind: &'static str,
    pub ballot: Option<BallotRef>,
    /// Without angle brackets.
    pub message_id: String,
    pub to: Vec<Address>,
    pub subject: String,
    pub body: String,
    /// The Message-ID this answers, without angle brackets.
    pub in_reply_to: Option<String>,
    /// The thread, without angle brackets.
    pub references: Vec<String>,
    pub auto: AutoSubmitted,
    /// Where replies should go (the bot, for mail sent to the list).
    pub reply_to: Option<Address>,
    /// An HTML alternative to the text body.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A file sent with a mail (the digest's CSV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A mail that could not be built (an address lettre refuses, say). Its
/// Display, which reaches the logs, shows no address; [`BuildError::detail`]
/// has the whole text for the database.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the {kind} mail: {}", redact_addresses(.message))]
pub struct BuildError {
    pub kind: &'static str,
    pub message: String,
}

impl BuildError {
    /// The whole text, addresses included: for the record an admin reads
    /// (`show`), never for a log line.
    pub fn detail(&self) -> String {
        format!("cannot build the {} mail: {}", self.kind, self.message)
    }
}

/// `text` with every mail address (with its angle brackets, if any; any run
/// of characters holding an `@`, so malformed ones too) replaced by
/// `<address>`. Error texts from lettre and from SMTP servers quote the
/// recipient (`550 5.1.1 <rep@org.example>: Recipient address rejected`);
/// logs must not carry a member's address.
pub fn redact_addresses(text: &str) -> std::borrow::Cow<'_, str> {
    static ADDRESS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"<?[^\s<>"(),;:\[\]]*@[^\s<>"(),;:\[\]]*>?"#).expect("a valid pattern")
    });
    ADDRESS.replace_all(text, "<address>")
}

/// Builds a Message-ID (without brackets):
/// `b-2026-007.r1.receipt.1a2b.<tag>@domain`, where the tag is keyed by the
/// installation's secret ([`MessageIdKey`]). Readers find the ballot and round
/// by the prefix, so the tag goes last.
pub fn message_id(
    key: &MessageIdKey,
    ballot: Option<(BallotRef, u32)>,
    kind: &str,
    unique: Option<&str>,
    domain: &str,
) -> String {
    let mut s = match ballot {
        Some((b, round)) => format!("{}.r{round}.{kind}", b.msgid_prefix()),
        None => kind.to_string(),
    };
    if let Some(u) = unique {
        s.push('.');
        s.push_str(u);
    }
    let tag = key.tag(&s);
    s.push('.');
    s.push_str(&tag);
    s.push('@');
    s.push_str(domain);
    s
}

impl Mail {
    /// A MIME boundary derived from the Message-ID, so that the same mail is always the same
    /// bytes (lettre's are random): a replayed or re-rendered batch then leaves the same
    /// record. `=_` cannot occur in base64 or quoted-printable text, so no part can contain it.
    fn boundary(&self, part: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(self.message_id.as_bytes())
            .chain_update(b"\0")
            .chain_update(part.as_bytes())
            .finalize();
        format!("=_{part}_{}", hex::encode(&digest[..12]))
    }

    /// The bytes to send, and the outbox row that holds them.
    pub fn to_outbox(
        &self,
        from: &Address,
        from_name: &str,
        now: DateTime<Utc>,
    ) -> Result<NewOutboxMail, BuildError> {
        let err = |message: String| BuildError {
            kind: self.kind,
            message,
        };
        let mailbox = |a: &Address, name: Option<String>| -> Result<Mailbox, BuildError> {
            let addr: lettre::Address = a.as_str().parse().map_err(|e| err(format!("{a}: {e}")))?;
            Ok(Mailbox::new(name, addr))
        };
        if self.to.is_empty() {
            return Err(err("it has no recipients".into()));
        }
        let mut b = lettre::Message::builder()
            .from(mailbox(from, Some(from_name.to_string()))?)
            .subject(self.subject.clone())
            .message_id(Some(format!("<{}>", self.message_id)))
            .date(SystemTime::from(now))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                self.auto.header().to_string(),
            ))
            // Ask Exchange and others not to send out-of-office notices back to the bot.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".to_string(),
            ));
        for t in &self.to {
            b = b.to(mailbox(t, None)?);
        }
        if let Some(r) = &self.reply_to {
            b = b.reply_to(mailbox(r, None)?);
        }
        if let Some(irt) = &self.in_reply_to {
            b = b.in_reply_to(format!("<{irt}>"));
        }
        if !self.references.is_empty() {
            let refs: Vec<String> = self.references.iter().map(|r| format!("<{r}>")).collect();
            b = b.references(refs.join(" "));
        }
        let msg = if self.html.is_none() && self.attachments.is_empty() {
            b.singlepart(SinglePart::plain(self.body.clone()))
        } else {
            let plain = SinglePart::plain(self.body.clone());
            let text: MultiPart = match &self.html {
                Some(h) => MultiPart::alternative()
                    .boundary(self.boundary("alternative"))
                    .singlepart(plain)
                    .singlepart(SinglePart::html(h.clone())),
                None => MultiPart::mixed()
                    .boundary(self.boundary("text"))
                    .singlepart(plain),
            };
            let mut mixed = MultiPart::mixed()
                .boundary(self.boundary("mixed"))
                .multipart(text);
            for a in &self.attachments {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|e| err(format!("{}: {e}", a.content_type)))?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.filename.clone()).body(a.bytes.clone(), ct),
                );
            }
            b.multipart(mixed)
        }
        .map_err(|e| err(e.to_string()))?;
        Ok(NewOutboxMail {
            message_id: self.message_id.clone(),
            kind: self.kind.to_string(),
            ballot: self.ballot,
            envelope_from: from.to_string(),
            recipients: self.to.iter().map(|a| a.to_string()).collect(),
            raw: msg.formatted(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_error_texts_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_addresses(
                "permanent error (550): 5.1.1 <ghost@org1.test>: Recipient address rejected"
            ),
            "permanent error (550): 5.1.1 <address>: Recipient address rejected"
        );
        assert_eq!(
            redact_addresses("recipient 代表@例え.jp: invalid, and x.y+z@a.example."),
            "recipient <address>: invalid, and <address>"
        );
        assert_eq!(
            redact_addresses("connection refused (os error 111)"),
            "connection refused (os error 111)"
        );
        let e = BuildError {
            kind: "receipt",
            message: "rep@org.example: invalid domain".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot build the receipt mail: <address>: invalid domain"
        );
        assert!(e.detail().contains("rep@org.example"));
    }

    fn mail() -> Mail {
        Mail {
            kind: "receipt",
            ballot: Some(BallotRef::new(2026, 7).unwrap()),
            message_id: message_id(
                &MessageIdKey::fixed(7),
                Some((BallotRef::new(2026, 7).unwrap(), 1)),
                "receipt",
                Some("ab12"),
                "committee.example",
            ),
            to: vec![Address::parse("taro@acme.example").unwrap()],
            subject: "[B-2026-007] 回答を受け付けました（賛成）".into(),
            body: "賛成を受け付けました。\n".into(),
            in_reply_to: Some("reply-1@acme.example".into()),
            references: vec![
                "b-2026-007.r1.announce@committee.example".into(),
                "reply-1@acme.example".into(),
            ],
            auto: AutoSubmitted::Replied,
            reply_to: None,
            html: None,
            attachments: vec![],
        }
    }

    #[test]
    fn a_mail_with_parts_is_the_same_bytes_each_time_it_is_built() {
        let from = Address::parse("ballot@committee.example").unwrap();
        let now = "2026-11-22T01:00:00Z".parse().unwrap();
        let with_parts = Mail {
            html: Some("<p>賛成を受け付けました。</p>".into()),
            attachments: vec![Attachment {
                filename: "B-2026-007.ics".into(),
                content_type: "text/calendar; charset=utf-8; method=PUBLISH".into(),
                bytes: b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".to_vec(),
            }],
            ..mail()
        };
        let raw = |m: &Mail| m.to_outbox(&from, "mail-ballot", now).unwrap().raw;
        let first = raw(&with_parts);
        assert_eq!(first, raw(&with_parts));
        let text = String::from_utf8(first).unwrap();
        for part in ["mixed", "alternative"] {
            assert!(text.contains(&format!("boundary=\"=_{part}_")), "{text}");
        }
        // Another mail, other boundaries.
        let other = Mail {
            message_id: "other@committee.example".into(),
            ..with_parts.clone()
        };
        let other = String::from_utf8(raw(&other)).unwrap();
        let boundary = |t: &str| t.split("boundary=\"").nth(1).unwrap()[..20].to_string();
        assert_ne!(boundary(&text), boundary(&other));
    }

    #[test]
    fn message_ids_begin_with_the_lower_case_reference_and_round() {
        let id = message_id(
            &MessageIdKey::fixed(7),
            Some((BallotRef::new(2026, 7).unwrap(), 2)),
            "announce",
            None,
            "x.example",
        );
        assert!(id.starts_with("b-2026-007.r2.announce."), "{id}");
        assert!(id.ends_with("@x.example"), "{id}");
    }

    #[test]
    fn message_ids_end_in_a_tag_that_only_the_installations_key_gives() {
        let id = |key: &MessageIdKey| {
            message_id(
                key,
                Some((BallotRef::new(2026, 1).unwrap(), 1)),
                "announce",
                None,
                "x.example",
            )
        };
        let (a, b) = (MessageIdKey::fixed(1), MessageIdKey::fixed(2));
        // Stable: a retry and a later reference find the same ID.
        assert_eq!(id(&a), id(&a));
        // Another installation (or a fresh database) writes another ID, and
        // nobody without the key can write this one in advance.
        assert_ne!(id(&a), id(&b));
        let tag = id(&a)
            .strip_prefix("b-2026-001.r1.announce.")
            .and_then(|rest| rest.strip_suffix("@x.example"))
            .map(str::to_string)
            .unwrap();
        assert_eq!(tag.len(), 16);
        assert!(tag.bytes().all(|c| c.is_ascii_hexdigit()), "{tag}");
        // The unique part is covered by the tag too.
        let tag_of = |id: String| {
            id.split_once('@')
                .unwrap()
                .0
                .rsplit_once('.')
                .unwrap()
                .1
                .to_string()
        };
        assert_ne!(
            tag_of(message_id(&a, None, "incident", Some("1"), "x.example")),
            tag_of(message_id(&a, None, "incident", Some("2"), "x.example"))
        );
        assert_eq!(format!("{a:?}"), "MessageIdKey(..)");
        assert_eq!(
            MessageIdKey::from_hex(&"07".repeat(32)),
            Some(MessageIdKey::fixed(7))
        );
        assert_eq!(MessageIdKey::from_hex("07"), None);
    }

    #[test]
    fn a_receipt_is_marked_auto_replied_and_threads_under_the_members_mail() {
        let row = mail()
            .to_outbox(
                &Address::parse("ballot@committee.example").unwrap(),
                "投票係",
                chrono::Utc::now(),
            )
            .unwrap();
        let raw = String::from_utf8(row.raw.clone()).unwrap();
        assert!(raw.contains("Auto-Submitted: auto-replied\r\n"), "{raw}");
        assert!(
            raw.contains(&format!("Message-ID: <{}>", mail().message_id)),
            "{raw}"
        );
        assert!(
            mail().message_id.starts_with("b-2026-007.r1.receipt.ab12."),
            "{}",
            mail().message_id
        );
        assert!(raw.contains("In-Reply-To: <reply-1@acme.example>"), "{raw}");
        let parsed = mail_parser::MessageParser::default()
            .parse(&row.raw)
            .unwrap();
        let refs: Vec<String> = parsed
            .references()
            .as_text_list()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            refs,
            [
                "b-2026-007.r1.announce@committee.example",
                "reply-1@acme.example"
            ]
        );
        assert_eq!(
            parsed.subject(),
            Some("[B-2026-007] 回答を受け付けました（賛成）")
        );
        assert_eq!(
            parsed.body_text(0).unwrap().trim(),
            "賛成を受け付けました。"
        );
        assert_eq!(row.recipients, vec!["taro@acme.example".to_string()]);
    }

    #[test]
    fn a_mail_without_recipients_is_refused() {
        let mut m = mail();
        m.to.clear();
        assert!(m
            .to_outbox(
                &Address::parse("ballot@committee.example").unwrap(),
                "x",
                chrono::Utc::now()
            )
            .is_err());
    }
}
