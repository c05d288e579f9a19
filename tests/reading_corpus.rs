//! Every reply fixture in tests/fixtures/replies, read with LF and with CRLF line
//! endings, must give exactly the vote in expected.toml.
//!
//! The bar is zero wrong-direction readings: a yes read as no, a position read where a
//! person reads none, a position read where a person would ask again. A fixture a person
//! reads as a position but the reader finds unclear is a miss; misses are allowed only
//! when expected.toml lists them as `known_miss` with a reason.

use std::collections::BTreeSet;
use std::path::Path;

use mail_ballot::domain::{Address, Vote};
use mail_ballot::reading::inspect::inspect_text;
use mail_ballot::reading::{read_message, ReadOptions, Reading};
use serde::Deserialize;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/replies");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    fixture: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    file: String,
    vote: String,
    #[serde(default)]
    automated: bool,
    ballot: String,
    answers: Option<usize>,
    /// The vote of each per-ballot answer line, in order.
    answer_votes: Option<Vec<String>>,
    known_miss: Option<String>,
    /// The decoded Subject, exactly: a broken header decoder fails here even when
    /// the ballot is found some other way.
    subject: String,
    /// The deciding text, exactly.
    evidence: Option<String>,
    /// Excerpts the decoded body must hold (NEC row 13, mislabelled charsets).
    #[serde(default)]
    text_contains: Vec<String>,
}

fn options() -> ReadOptions {
    ReadOptions {
        own_addresses: vec![Address::parse("ballot@ballot.example.org").unwrap()],
        ..ReadOptions::default()
    }
}

fn with_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn with_crlf(raw: &[u8]) -> Vec<u8> {
    let lf = with_lf(raw);
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &b in &lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// How a reading differs from the expected one, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    WrongDirection,
    Wrong,
    UnlistedMiss,
    KnownMiss,
    Right,
}

fn judge(f: &Fixture, r: &Reading) -> (Outcome, String) {
    let expected: Vote = f.vote.parse().expect("vote in expected.toml");
    let mut problems = Vec::new();
    let vote_outcome = if r.vote == expected {
        Outcome::Right
    } else if r.vote.position().is_some() {
        // A position read where a person reads another position, none, or "ask again".
        Outcome::WrongDirection
    } else if expected.position().is_some() && r.vote == Vote::Unclear {
        if f.known_miss.is_some() {
            Outcome::KnownMiss
        } else {
            Outcome::UnlistedMiss
        }
    } else {
        Outcome::Wrong
    };
    if vote_outcome != Outcome::Right {
        problems.push(format!("vote {} (expected {})", r.vote, f.vote));
    }
    let mut outcome = vote_outcome;
    if f.known_miss.is_some() && vote_outcome == Outcome::Right {
        // A stale entry would hide the next regression of this fixture.
        problems.push("listed as a known miss but read right: remove known_miss".into());
        outcome = Outcome::Wrong;
    }
    if r.subject.as_deref() != Some(f.subject.as_str()) {
        problems.push(format!(
            "subject {:?} (expected {:?})",
            r.subject, f.subject
        ));
        outcome = outcome.min(Outcome::Wrong);
    }
    if let Some(e) = &f.evidence {
        if r.evidence.as_deref() != Some(e.as_str()) {
            problems.push(format!("evidence {:?} (expected {e:?})", r.evidence));
            outcome = outcome.min(Outcome::Wrong);
        }
    }
    for t in &f.text_contains {
        if !r.text.contains(t.as_str()) {
            problems.push(format!("decoded text lacks {t:?}"));
            outcome = outcome.min(Outcome::Wrong);
        }
    }
    if r.automated != f.automated {
        problems.push(format!(
            "automated {} (expected {})",
            r.automated, f.automated
        ));
        outcome = outcome.min(Outcome::Wrong);
    }
    let ballot = r.ballot.map_or("none".to_string(), |b| b.to_string());
    if ballot != f.ballot {
        problems.push(format!("ballot {ballot} (expected {})", f.ballot));
        outcome = outcome.min(Outcome::Wrong);
    }
    if let Some(n) = f.answers {
        if r.answers.len() != n {
            problems.push(format!("{} answers (expected {n})", r.answers.len()));
            outcome = outcome.min(Outcome::Wrong);
        }
    }
    if let Some(votes) = &f.answer_votes {
        let got: Vec<&str> = r.answers.iter().map(|a| a.vote.as_str()).collect();
        if got != votes.iter().map(String::as_str).collect::<Vec<_>>() {
            problems.push(format!("answer votes {got:?} (expected {votes:?})"));
            let expected: Vec<Vote> = votes.iter().map(|v| v.parse().expect("vote")).collect();
            let wrong_way = r
                .answers
                .iter()
                .zip(&expected)
                .any(|(a, e)| a.vote != *e && a.vote.position().is_some());
            outcome = outcome.min(if wrong_way {
                Outcome::WrongDirection
            } else {
                Outcome::Wrong
            });
        }
    }
    if let Some(m) = &r.malformed {
        problems.push(format!("malformed: {m}"));
        outcome = outcome.min(Outcome::Wrong);
    }
    (outcome, problems.join("; "))
}

#[test]
fn every_reply_fixture_is_read_as_expected_with_lf_and_crlf() {
    let expected: Expected = toml::from_str(
        &std::fs::read_to_string(Path::new(DIR).join("expected.toml")).expect("expected.toml"),
    )
    .expect("expected.toml parses");

    let on_disk: BTreeSet<String> = std::fs::read_dir(DIR)
        .expect("fixture directory")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().to_string();
            name.ends_with(".eml").then_some(name)
        })
        .collect();
    let listed: BTreeSet<String> = expected.fixture.iter().map(|f| f.file.clone()).collect();
    assert_eq!(
        on_disk, listed,
        "every .eml must have exactly one entry in expected.toml"
    );
    assert!(listed.len() >= 220, "only {} fixtures", listed.len());

    let opts = options();
    let mut report = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for f in &expected.fixture {
        let raw = std::fs::read(Path::new(DIR).join(&f.file)).expect("fixture");
        for (ending, bytes) in [("LF", with_lf(&raw)), ("CRLF", with_crlf(&raw))] {
            let r = read_message(&bytes, &opts);
            let (outcome, problems) = judge(f, &r);
            *counts.entry(format!("{outcome:?}")).or_insert(0) += 1;
            if outcome < Outcome::KnownMiss {
                report.push(format!(
                    "{outcome:?} [{ending}] {}: {problems}\n{}",
                    f.file,
                    inspect_text(&f.file, &r)
                ));
            }
        }
    }
    let known: Vec<&str> = expected
        .fixture
        .iter()
        .filter(|f| f.known_miss.is_some())
        .map(|f| f.file.as_str())
        .collect();
    println!(
        "{} fixtures x 2 line endings: {counts:?}; known misses: {known:?}",
        listed.len()
    );
    assert!(report.is_empty(), "{}", report.join("\n"));
}
