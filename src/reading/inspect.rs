//! What `mail-ballot inspect` prints for one message: the same reading the daemon would
//! count, as JSON for scripts or as text for a person checking a doubtful vote.

use serde_json::{json, Value};

use super::Reading;

/// One JSON object per message. Always has `file`, `message_id`, `from`, `ballot`,
/// `vote`, `automated`, `evidence` and `reason`; the rest helps a person see why.
pub fn inspect_json(file: &str, r: &Reading) -> Value {
    json!({
        "file": file,
        "message_id": r.message_id,
        "from": r.from.as_ref().map(|a| a.as_str()),
        "from_name": r.from_name,
        "subject": r.subject,
        "ballot": r.ballot.map(|b| b.to_string()),
        "ballots": r.ballots.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        "round": r.round,
        "vote": r.vote.as_str(),
        "answers": r.answers.iter().map(|a| json!({
            "ballot": a.ballot.to_string(),
            "vote": a.vote.as_str(),
            "evidence": a.evidence,
        })).collect::<Vec<_>>(),
        "automated": r.automated,
        "automated_reason": r.automated_reason,
        "evidence": r.evidence,
        "reason": r.reason,
        "own_words": r.own_words,
        "malformed": r.malformed,
        "notes": r.notes,
        "oversized": r.oversized,
    })
}

/// A readable explanation, several lines, ending with a newline.
pub fn inspect_text(file: &str, r: &Reading) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("  {label:<10} {value}\n"));
    };
    let none = "-".to_string();
    let header = format!("{file}\n");
    line("vote:", r.vote.as_str());
    line("reason:", &r.reason);
    line(
        "evidence:",
        &r.evidence
            .as_ref()
            .map(|e| format!("「{e}」"))
            .unwrap_or(none.clone()),
    );
    let ballot = match (r.ballot, r.round) {
        (Some(b), Some(n)) => format!("{b} (round {n})"),
        (Some(b), None) => b.to_string(),
        (None, _) => none.clone(),
    };
    line("ballot:", &ballot);
    if r.ballots.len() > 1 {
        let all: Vec<String> = r.ballots.iter().map(|b| b.to_string()).collect();
        line("ballots:", &all.join(", "));
    }
    for a in &r.answers {
        line(
            "answer:",
            &format!("{} {} 「{}」", a.ballot, a.vote, a.evidence),
        );
    }
    let from = match (&r.from_name, &r.from) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (None, Some(a)) => a.to_string(),
        (Some(n), None) => n.clone(),
        (None, None) => none.clone(),
    };
    line("from:", &from);
    line("subject:", r.subject.as_deref().unwrap_or("-"));
    line("message-id:", r.message_id.as_deref().unwrap_or("-"));
    line(
        "automated:",
        &match &r.automated_reason {
            Some(why) => format!("yes: {why}"),
            None => "no".into(),
        },
    );
    if let Some(m) = &r.malformed {
        line("malformed:", m);
    }
    for n in &r.notes {
        line("note:", n);
    }
    let mut text = header + &out;
    text.push_str("  own words:\n");
    if r.own_words.is_empty() {
        text.push_str("    (none)\n");
    }
    for l in r.own_words.lines().take(40) {
        text.push_str("    | ");
        text.push_str(l);
        text.push('\n');
    }
    if r.own_words.lines().count() > 40 {
        text.push_str("    | …\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{read_message, ReadOptions};

    const RAW: &[u8] = b"From: Taro <taro@example.jp>\r\nSubject: Re: [B-2026-007] x\r\nMessage-ID: <m1@example.jp>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xe8\xb3\x9b\xe6\x88\x90\xe3\x81\xa7\xe3\x81\x99\xe3\x80\x82\r\n";

    #[test]
    fn the_json_has_the_fields_scripts_rely_on() {
        let r = read_message(RAW, &ReadOptions::default());
        let v = inspect_json("a.eml", &r);
        assert_eq!(v["file"], "a.eml");
        assert_eq!(v["message_id"], "m1@example.jp");
        assert_eq!(v["from"], "taro@example.jp");
        assert_eq!(v["ballot"], "B-2026-007");
        assert_eq!(v["vote"], "yes");
        assert_eq!(v["automated"], false);
        assert_eq!(v["evidence"], "賛成です。");
        assert!(v["reason"].as_str().unwrap().ends_with('.'));
    }

    #[test]
    fn the_text_explains_the_vote_and_shows_the_own_words() {
        let r = read_message(RAW, &ReadOptions::default());
        let t = inspect_text("a.eml", &r);
        assert!(t.starts_with("a.eml\n"));
        assert!(t.contains("vote:"));
        assert!(t.contains("| 賛成です。"));
    }
}
