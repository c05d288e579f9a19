//! Real bounces and auto-replies (the sisimai set, copied into tests/fixtures/automated)
//! must all be recognised as automated and never yield a vote.

use std::collections::BTreeMap;
use std::path::Path;

use mail_ballot::domain::Vote;
use mail_ballot::reading::{read_message, ReadOptions};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/automated");

/// The shared corpus the copy was taken from, beside the repository when present.
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/automated");

/// The number of messages in the sisimai set we copied: a file lost or added by mistake
/// changes what this test proves.
const MESSAGES: usize = 101;

/// Every file of `dir` but our own README, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("readable file"))
        })
        .collect()
}

#[test]
fn every_real_bounce_and_auto_reply_is_automated_and_has_no_vote() {
    let all = files(Path::new(DIR));
    let messages: Vec<(&String, &Vec<u8>)> =
        all.iter().filter(|(n, _)| n.ends_with(".eml")).collect();
    assert_eq!(
        messages.len(),
        MESSAGES,
        "expected the {MESSAGES} sisimai messages in {DIR}"
    );

    let mut failures = Vec::new();
    for (name, raw) in &messages {
        let r = read_message(raw, &ReadOptions::default());
        if !r.automated || r.vote != Vote::None || r.malformed.is_some() {
            failures.push(format!(
                "{name}: automated={} vote={} malformed={:?} reason={}",
                r.automated, r.vote, r.malformed, r.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files were not read as automated mail without a vote:\n{}",
        failures.len(),
        messages.len(),
        failures.join("\n")
    );
}

#[test]
fn the_copy_is_identical_to_the_shared_corpus_when_that_is_present() {
    let shared = Path::new(SHARED);
    if !shared.is_dir() {
        // A checkout on its own (CI, a release tarball) has only the copy.
        eprintln!("{SHARED} is not present; nothing to compare");
        return;
    }
    let ours = files(Path::new(DIR));
    let theirs = files(shared);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs), "the same files, by name");
    let differ: Vec<&String> = ours
        .iter()
        .filter(|(n, bytes)| theirs.get(*n) != Some(bytes))
        .map(|(n, _)| n)
        .collect();
    assert!(
        differ.is_empty(),
        "files that differ from {SHARED}: {differ:?}"
    );
}
