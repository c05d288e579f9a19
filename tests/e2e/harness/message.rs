//! A message as read back over IMAP, with just enough header parsing for assertions.
//!
//! Deliberately not mail-parser: tests check what the daemon's parser sees, so the
//! harness reads headers its own, dumber way (unfold, match the name, keep the raw value).

use chrono::{DateTime, FixedOffset};

/// One message of an INBOX: UID, INTERNALDATE and the raw bytes (`BODY.PEEK[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub uid: u32,
    pub internal_date: DateTime<FixedOffset>,
    pub raw: Vec<u8>,
}

/// Headers added on the way in (Postfix's and Dovecot's trace), in front of what was sent.
const TRACE_HEADERS: [&str; 4] = ["return-path", "received", "delivered-to", "x-original-to"];

impl StoredMessage {
    /// The first header called `name` (any case): unfolded, leading whitespace trimmed, not
    /// decoded (an encoded-word stays `=?UTF-8?B?...?=`).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    /// Every header called `name` (any case), in order, unfolded and not decoded.
    pub fn headers(&self, name: &str) -> Vec<String> {
        fields(self.header_bytes())
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| unfold(value))
            .collect()
    }

    /// The header section, up to and including the blank line.
    pub fn header_bytes(&self) -> &[u8] {
        &self.raw[..self.raw.len() - self.body().len()]
    }

    /// Everything after the blank line that ends the header section.
    pub fn body(&self) -> &[u8] {
        let raw = &self.raw[..];
        for (i, window) in raw.windows(2).enumerate() {
            if window == b"\n\n" {
                return &raw[i + 2..];
            }
            if window == b"\n\r" && raw.get(i + 2) == Some(&b'\n') {
                return &raw[i + 3..];
            }
        }
        &[]
    }

    /// The message as it was submitted: the raw bytes without the trace headers
    /// (Return-Path, Received, Delivered-To, X-Original-To) that delivery put in front.
    pub fn without_trace_headers(&self) -> &[u8] {
        let mut rest = &self.raw[..];
        while let Some((name, len)) = first_field(rest) {
            if !TRACE_HEADERS
                .iter()
                .any(|t| t.as_bytes().eq_ignore_ascii_case(name))
            {
                break;
            }
            rest = &rest[len..];
        }
        rest
    }
}

/// The (name, raw value with folding) of each header field.
fn fields(mut header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (name, len) = first_field(header)?;
        let field = &header[..len];
        header = &header[len..];
        let value = &field[name.len() + 1..];
        Some((name, value))
    })
}

/// The name of the field at the start of `raw` and the length of the whole field
/// including its continuation lines; None at the blank line or on a malformed line.
fn first_field(raw: &[u8]) -> Option<(&[u8], usize)> {
    let colon = raw.iter().position(|&b| b == b':' || b == b'\n')?;
    if raw[colon] != b':' || colon == 0 {
        return None;
    }
    let mut end = 0;
    loop {
        let newline = raw[end..].iter().position(|&b| b == b'\n')?;
        end += newline + 1;
        if !matches!(raw.get(end), Some(b' ' | b'\t')) {
            return Some((&raw[..colon], end));
        }
    }
}

/// RFC 5322 unfolding: a line break followed by whitespace is just that whitespace.
fn unfold(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.replace("\r\n", "\n")
        .split('\n')
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
fn message(raw: &str) -> StoredMessage {
    StoredMessage {
        uid: 1,
        internal_date: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        raw: raw.as_bytes().to_vec(),
    }
}

#[test]
fn headers_are_found_in_any_case_and_unfolded() {
    let m = message("Subject: Vote\r\n on item 3\r\nsubject: second\r\n\r\nSubject: in body\r\n");
    assert_eq!(m.header("SUBJECT").as_deref(), Some("Vote on item 3"));
    assert_eq!(m.headers("subject"), ["Vote on item 3", "second"]);
    assert_eq!(m.header("From"), None);
    assert_eq!(m.body(), b"Subject: in body\r\n");
}

#[test]
fn trace_headers_added_by_delivery_are_stripped() {
    let m = message(
        "Return-Path: <a@x.test>\r\nReceived: from x\r\n\tby y\r\nSubject: s\r\nReceived: late\r\n\r\nb\r\n",
    );
    assert_eq!(
        m.without_trace_headers(),
        b"Subject: s\r\nReceived: late\r\n\r\nb\r\n"
    );
}
