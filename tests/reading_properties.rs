//! Reading never panics and stays within its limits, whatever the bytes: arbitrary
//! bytes, generated MIME trees (nested multiparts, nested messages, random charset labels
//! and transfer encodings, huge headers), and real fixtures with random damage.
//!
//! Every case is also timed. The bound is generous on purpose (a debug build on a busy
//! 2-core machine reads a case in milliseconds): it is there to catch a blow-up, such as
//! a quadratic scan or a parser building every one of 100,000 parts, not to measure speed.

use std::time::{Duration, Instant};

use mail_ballot::reading::{read_message, ReadOptions, Reading, INTERNAL_ERROR};
use proptest::prelude::*;

/// Far above any real case; a pathological one takes seconds to minutes.
const BOUND: Duration = Duration::from_secs(2);

/// Reads `raw`, failing the case when reading takes longer than [`BOUND`].
fn read_bounded(raw: &[u8], opts: &ReadOptions) -> Result<Reading, TestCaseError> {
    let started = Instant::now();
    let r = read_message(raw, opts);
    let took = started.elapsed();
    prop_assert!(took < BOUND, "reading {} bytes took {took:?}", raw.len());
    Ok(r)
}

fn options() -> ReadOptions {
    ReadOptions {
        max_text_chars: 300,
        max_parts: 12,
        max_message_bytes: 64 * 1024,
        ..ReadOptions::default()
    }
}

fn check(r: &Reading, opts: &ReadOptions) -> Result<(), TestCaseError> {
    prop_assert!(
        r.malformed
            .as_deref()
            .is_none_or(|m| !m.starts_with(INTERNAL_ERROR)),
        "reading failed internally: {:?}",
        r.malformed
    );
    prop_assert!(r.own_words.chars().count() <= opts.max_text_chars);
    prop_assert!(r.text.chars().count() <= opts.max_text_chars);
    prop_assert!(!r.reason.is_empty());
    if r.automated || r.malformed.is_some() {
        prop_assert!(r.vote.position().is_none());
    }
    Ok(())
}

const LABELS: &[&str] = &[
    "utf-8",
    "UTF8",
    "iso-2022-jp",
    "ISO-2022-JP-2",
    "cp50220",
    "shift_jis",
    "Windows-31J",
    "cp932",
    "x-sjis",
    "euc-jp",
    "us-ascii",
    "iso-8859-1",
    "utf-16",
    "x-unknown",
    "",
    "\"utf-8\"",
    "koi8-r",
    "gb18030",
    "replacement",
];
const CTES: &[&str] = &[
    "7bit",
    "8bit",
    "base64",
    "quoted-printable",
    "binary",
    "x-uuencode",
    "",
];
const TYPES: &[&str] = &[
    "text/plain",
    "text/html",
    "application/pdf",
    "message/delivery-status",
    "text/rfc822-headers",
    "image/png",
    "text/enriched",
    "message/disposition-notification",
];

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        ctype: usize,
        label: usize,
        cte: usize,
        attachment: bool,
        body: Vec<u8>,
    },
    Multi {
        subtype: usize,
        children: Vec<Node>,
    },
    Message(Box<Node>),
}

fn leaf() -> impl Strategy<Value = Node> {
    (
        0..TYPES.len(),
        0..LABELS.len(),
        0..CTES.len(),
        any::<bool>(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            "[賛成反対棄権一任 >\\-=\n\r①㈱ｱa-zA-Z0-9=?<>/]{0,200}".prop_map(|s| s.into_bytes()),
        ],
    )
        .prop_map(|(ctype, label, cte, attachment, body)| Node::Leaf {
            ctype,
            label,
            cte,
            attachment,
            body,
        })
}

fn tree() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            (0..4usize, prop::collection::vec(inner.clone(), 0..5))
                .prop_map(|(subtype, children)| Node::Multi { subtype, children }),
            inner.prop_map(|n| Node::Message(Box::new(n))),
        ]
    })
}

fn render(node: &Node, depth: usize, out: &mut Vec<u8>) {
    match node {
        Node::Leaf {
            ctype,
            label,
            cte,
            attachment,
            body,
        } => {
            out.extend_from_slice(
                format!(
                    "Content-Type: {}; charset={}\r\n",
                    TYPES[*ctype], LABELS[*label]
                )
                .as_bytes(),
            );
            out.extend_from_slice(
                format!("Content-Transfer-Encoding: {}\r\n", CTES[*cte]).as_bytes(),
            );
            if *attachment {
                out.extend_from_slice(b"Content-Disposition: attachment; filename=\"a.txt\"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        Node::Multi { subtype, children } => {
            let sub = ["mixed", "alternative", "related", "report"][*subtype];
            let boundary = format!("b{depth}x{sub}");
            out.extend_from_slice(
                format!(
                    "Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\npreamble\r\n"
                )
                .as_bytes(),
            );
            for c in children {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                render(c, depth + 1, out);
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
        Node::Message(inner) => {
            out.extend_from_slice(
                b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: a@b.jp\r\n",
            );
            render(inner, depth + 1, out);
        }
    }
}

fn message(subject: &str, header_padding: usize, node: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"From: =?cp932?B?gqA=?= <member@example.jp>\r\n");
    out.extend_from_slice(format!("Subject: {subject}\r\n").as_bytes());
    out.extend_from_slice(b"In-Reply-To: <b-2026-007.r1.announce@ballot.example.org>\r\n");
    out.extend_from_slice(b"X-Long: ");
    for i in 0..header_padding {
        out.extend_from_slice(if i % 70 == 69 { b"\r\n x" } else { b"x" });
    }
    out.extend_from_slice(b"\r\nMIME-Version: 1.0\r\n");
    render(node, 0, &mut out);
    out
}

proptest! {
    // 256 cases each by default; set PROPTEST_CASES for a longer run.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let opts = options();
        check(&read_bounded(&bytes, &opts)?, &opts)?;
    }

    #[test]
    fn arbitrary_text_after_a_header_never_panics(body in "\\PC{0,2000}", subject in "\\PC{0,200}") {
        let raw = format!("Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}");
        let opts = options();
        check(&read_bounded(raw.as_bytes(), &opts)?, &opts)?;
    }

    #[test]
    fn generated_mime_trees_never_panic(
        node in tree(),
        subject in "(=\\?[a-z0-9_-]{0,12}\\?[BbQqX]\\?[A-Za-z0-9+/=_]{0,40}\\?= ?){0,4}[ -~]{0,40}",
        padding in prop_oneof![Just(0usize), 0..5000usize, Just(70_000usize)],
    ) {
        let raw = message(&subject, padding, &node);
        let opts = options();
        check(&read_bounded(&raw, &opts)?, &opts)?;
    }

    #[test]
    fn damaged_real_fixtures_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..20),
    ) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/replies");
        let mut files: Vec<_> = std::fs::read_dir(dir).unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        let mut raw = std::fs::read(index.get(&files)).unwrap();
        for (at, byte, op) in edits {
            if raw.is_empty() { break; }
            let i = at.index(raw.len());
            match op {
                0 => raw[i] = byte,
                1 => raw.insert(i, byte),
                _ => { raw.remove(i); }
            }
        }
        let opts = options();
        check(&read_bounded(&raw, &opts)?, &opts)?;
    }
}

#[test]
fn deeply_nested_multiparts_and_many_parts_stay_bounded() {
    let mut raw = String::from("From: a@b.jp\r\nSubject: x\r\n");
    for d in 0..200 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"n{d}\"\r\n\r\n--n{d}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\n賛成\r\n");
    let opts = ReadOptions::default();
    let r = read_message(raw.as_bytes(), &opts);
    assert!(r
        .malformed
        .as_deref()
        .is_none_or(|m| !m.starts_with(INTERNAL_ERROR)));

    let mut many = String::from(
        "From: a@b.jp\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n",
    );
    for _ in 0..5000 {
        many.push_str("--m\r\nContent-Type: text/plain\r\n\r\n反対\r\n");
    }
    many.push_str("--m--\r\n");
    let started = Instant::now();
    let r = read_message(many.as_bytes(), &opts);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(r.text.chars().count() <= opts.max_text_chars);
    // The cap applies before the parser sees the parts, not after it built them all.
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("more than 100 MIME parts")),
        "{:?}",
        r.notes
    );
}

#[test]
fn thousands_of_nested_messages_neither_overflow_the_stack_nor_take_long() {
    // Without the cap mail-parser nests one Message per level and a 900 KB message
    // overflows the stack: an abort no catch_unwind can turn into a reading.
    let mut raw = String::from("From: a@b.jp\r\nSubject: Re: [B-2026-007] x\r\n");
    for _ in 0..20_000 {
        raw.push_str("Content-Type: message/rfc822\r\n\r\nSubject: y\r\n");
    }
    raw.push_str("Content-Type: text/plain\r\n\r\n賛成\r\n");
    let opts = ReadOptions::default();
    let started = Instant::now();
    let r = read_message(raw.as_bytes(), &opts);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(r
        .malformed
        .as_deref()
        .is_none_or(|m| !m.starts_with(INTERNAL_ERROR)));
    assert!(r.vote.position().is_none(), "{}", r.reason);
}

#[test]
fn a_hundred_thousand_tiny_parts_are_not_all_parsed() {
    let mut raw = String::from(
        "From: a@b.jp\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n",
    );
    for _ in 0..100_000 {
        raw.push_str("--m\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    raw.push_str("--m--\r\n");
    let opts = ReadOptions::default();
    assert!(raw.len() < opts.max_message_bytes);
    let started = Instant::now();
    let r = read_message(raw.as_bytes(), &opts);
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("more than 100 MIME parts")));
}

#[test]
fn a_long_body_of_many_lines_is_read_in_bounded_time() {
    let mut raw = String::from("From: a@b.jp\r\nSubject: Re: [B-2026-007] x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for i in 0..60_000 {
        raw.push_str(if i % 3 == 0 {
            "2026年11月24日(火) 10:15 Bot <\r\n"
        } else {
            "賛成・反対・棄権 > \r\n"
        });
    }
    // 200,000 characters of own words (the cap) to classify, 1-2 s in a debug build:
    // the largest case here, so its bound is five times the others.
    let started = Instant::now();
    let r = read_message(raw.as_bytes(), &ReadOptions::default());
    assert!(
        started.elapsed() < 5 * BOUND,
        "took {:?}",
        started.elapsed()
    );
    assert!(r.own_words.chars().count() <= ReadOptions::default().max_text_chars);
}
