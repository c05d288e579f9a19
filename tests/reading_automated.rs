//! Real bounces and auto-replies (the sisimai set, copied into tests/fixtures/automated)
//! must all be recognised as automated and never yield a vote.

use mail_ballot::domain::Vote;
use mail_ballot::reading::{read_message, ReadOptions};

#[test]
fn every_real_bounce_and_auto_reply_is_automated_and_has_no_vote() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/automated");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the automated corpus is in tests/fixtures/automated")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 100,
        "expected the 101 sisimai files, found {}",
        files.len()
    );

    let mut failures = Vec::new();
    for path in &files {
        let raw = std::fs::read(path).expect("readable fixture");
        let r = read_message(&raw, &ReadOptions::default());
        if !r.automated || r.vote != Vote::None || r.malformed.is_some() {
            failures.push(format!(
                "{}: automated={} vote={} malformed={:?} reason={}",
                path.file_name().unwrap().to_string_lossy(),
                r.automated,
                r.vote,
                r.malformed,
                r.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files were not read as automated mail without a vote:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
