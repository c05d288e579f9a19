//! What `check-config` renders: every template, through the same methods
//! that write the real mail, with sample ballots made from the configured
//! roster (`ballots`). The golden tests below pin what the shipped templates
//! send.

mod ballots;

use chrono::{DateTime, Utc};
use serde_json::json;

pub(super) use ballots::SampleBallots;

use super::{Answering, Composer, Member, NotOpenWhy, Recorded};
use crate::domain::{BallotRef, Position};
use crate::outbox::templates::TemplateError;
use crate::outbox::Mail;
use crate::reading::silence::Silence;

/// One sample mail for `check-config`: its name and the mail, or why its
/// template failed.
pub type Sample = (&'static str, Result<Mail, TemplateError>);

impl Composer<'_> {
    /// Renders every template with sample data made from this configuration's
    /// roster: what `check-config` runs, and what the golden tests pin.
    pub fn samples(&self, now: DateTime<Utc>) -> Result<Vec<Sample>, String> {
        let s = SampleBallots::new(self.config, now).map_err(|e| {
            format!(
                "the templates cannot be checked: no sample ballot can be opened and closed under the default profile `{}` ({e})",
                self.config.ballots.default_profile
            )
        })?;
        let member = Member {
            org: s.org(),
            voter: &s.org().representative,
        };
        let answering = Answering {
            message_id: Some("sample-reply@member.example"),
            content_hash: "0",
        };
        Ok(vec![
            ("announce", self.announce(&s.open, false)),
            (
                "announce (list copy beside personal mails)",
                self.announce(&s.open, true),
            ),
            ("announce (round 2)", self.announce(&s.reballot, false)),
            (
                "announce (personal)",
                self.personal_announce(&s.open, s.org(), s.org().representative.clone()),
            ),
            (
                "unverified",
                self.unverified(
                    Some(s.org()),
                    Some(&s.open),
                    &s.org().representative,
                    "failed: no token, dkim none, no trusted Authentication-Results",
                    now,
                    &answering,
                ),
            ),
            (
                "unverified (an admin)",
                self.unverified(
                    None,
                    None,
                    &self.config.addresses.admins[0],
                    "failed: dkim fail, no trusted Authentication-Results",
                    now,
                    &answering,
                ),
            ),
            (
                "incident",
                self.incident(
                    1,
                    &crate::incident::Incident {
                        kind: crate::incident::Kind::VerificationFailed,
                        ballot: Some(s.open.reference),
                        summary: "a vote that failed sender verification".into(),
                        evidence: json!({ "message_id": "sample@member.example", "verification": "failed: no token" }),
                    },
                    Some(s.open.current_round().number),
                    now,
                ),
            ),
            (
                "alert",
                self.alert(
                    "mailbox",
                    &["the mailbox has not been read for 20 minutes (last error: cannot connect to imap.example.jp:993: connection refused)".to_string()],
                    false,
                    12,
                    now,
                ),
            ),
            ("alert (all clear)", self.alert("mailbox", &[], true, 12, now)),
            (
                "disputed",
                self.disputed(&s.open, s.org(), 1, Position::Yes, now, &answering),
            ),
            (
                "dispute_decided (upheld after the round closed)",
                self.dispute_decided(
                    &s.closed,
                    s.org(),
                    true,
                    Some("電話でご本人に確認しました。"),
                    &[1],
                    now,
                ),
            ),
            (
                "dispute_decided (dismissed)",
                self.dispute_decided(&s.open, s.org(), false, None, &[], now),
            ),
            (
                "receipt",
                self.receipt(
                    &s.open,
                    member,
                    Recorded {
                        position: Position::Yes,
                        received_at: now,
                        evidence: "賛成します。",
                        superseded: Some(Position::No),
                    },
                    &answering,
                ),
            ),
            (
                "receipt (first answer final)",
                self.receipt(
                    &s.final_answers,
                    member,
                    Recorded {
                        position: Position::No,
                        received_at: now,
                        evidence: "反対",
                        superseded: Some(Position::Yes),
                    },
                    &answering,
                ),
            ),
            (
                "not_open",
                self.not_open(&s.open, member, NotOpenWhy::Late, now, &answering),
            ),
            (
                "not_open (other round)",
                self.not_open(&s.reballot, member, NotOpenWhy::OtherRound(1), now, &answering),
            ),
            (
                "not_verified",
                self.not_verified(
                    &s.open,
                    member,
                    Position::Yes,
                    BallotRef::new(s.open.reference.year(), s.open.reference.number() + 1)
                        .unwrap_or(s.open.reference),
                    now,
                    &answering,
                ),
            ),
            (
                "unclear",
                self.unclear(
                    &s.open,
                    member,
                    "条件付きで賛成します。",
                    "A conditional answer is not counted.",
                    false,
                    &answering,
                ),
            ),
            (
                "unclear (too large)",
                self.too_large(&s.open, member, 12_740_000, 10 * 1024 * 1024, &answering),
            ),
            (
                "status",
                self.status(
                    s.org(),
                    &s.org().representative,
                    &[
                        (&s.open, s.votes.first()),
                        (&s.final_answers, None),
                    ],
                    now,
                    &answering,
                ),
            ),
            (
                "status (nothing open)",
                self.status(s.org(), &s.org().representative, &[], now, &answering),
            ),
            (
                "no_answer",
                self.no_answer(
                    &s.open,
                    member,
                    "資料が見当たりません。送っていただけますか。",
                    Silence::Question,
                    &answering,
                ),
            ),
            (
                "no_answer (subject only)",
                self.no_answer(&s.open, member, "", Silence::SubjectOnly, &answering),
            ),
            (
                "no_answer (tentative)",
                self.no_answer(&s.open, member, "賛成？", Silence::Tentative, &answering),
            ),
            (
                "unknown_ballot",
                self.unknown_ballot(s.open.reference, member, "Re: [B-2026-999] ?", &answering),
            ),
            ("result", self.result(&s.closed, &s.closed_round, &s.votes)),
            (
                "result (not valid)",
                self.result(&s.reballot, &s.reballot_round, &[]),
            ),
            (
                "result (not valid after the last round)",
                self.result(&s.not_valid, &s.not_valid_round, &s.not_valid_votes),
            ),
            ("extended", self.extended(&s.open, now)),
            ("cancelled", self.cancelled(&s.cancelled)),
            (
                "digest",
                self.digest(
                    &[
                        (s.closed.clone(), s.votes.clone()),
                        (s.not_valid.clone(), s.not_valid_votes.clone()),
                        (s.delegated.clone(), s.delegated_votes.clone()),
                    ],
                    now.date_naive().succ_opt(),
                    now,
                ),
            ),
            (
                "reminder",
                self.reminder(
                    &s.open,
                    s.org(),
                    chrono::Duration::hours(24),
                    now + chrono::Duration::days(6),
                ),
            ),
            (
                "ratified",
                self.ratified(
                    &self.config.addresses.secretariat[0],
                    now.date_naive().succ_opt(),
                    std::slice::from_ref(&s.closed),
                    &[s.reballot.reference],
                    false,
                    &answering,
                ),
            ),
            (
                "ratified (no meeting on the calendar)",
                self.ratified(
                    &self.config.addresses.admins[0],
                    None,
                    &[],
                    &[s.closed.reference],
                    true,
                    &answering,
                ),
            ),
            (
                "opened",
                self.opened(&s.open, &self.config.addresses.admins[0], &answering),
            ),
            (
                "admin_error",
                self.admin_error(
                    &self.config.addresses.admins[0],
                    "[ballot:open] ?",
                    "the deadline is in the past",
                    &answering,
                ),
            ),
        ])
    }
}

#[cfg(test)]
mod golden {
    //! Golden files pin what the shipped templates send. A change shows as a diff
    //! in review; `UPDATE_GOLDEN=1 cargo test --lib golden` rewrites them, and a
    //! mismatch writes the actual text next to the expected one (`.actual`).
    use super::*;
    use crate::language::Language;
    use crate::outbox::templates::Templates;
    use crate::outbox::MessageIdKey;
    use crate::testkit::{at, config};

    fn check(lang: Language) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, lang).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(lang.as_str());
        std::fs::create_dir_all(&root).unwrap();
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let mut failures = Vec::new();
        for (name, mail) in composer.samples(at("2026-11-24T01:00:00Z")).unwrap() {
            let mail = mail.unwrap();
            let actual = format!(
                "Message-ID: <{}>\nTo: {}\nSubject: {}\n\n{}",
                mail.message_id,
                mail.to
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                mail.subject,
                mail.body
            );
            let stem = name.replace([' ', '(', ')'], "_");
            let mut files = vec![(root.join(format!("{stem}.txt")), actual.clone())];
            if let Some(h) = &mail.html {
                files.push((root.join(format!("{stem}.html")), h.clone()));
            }
            for a in &mail.attachments {
                files.push((
                    root.join(format!(
                        "{stem}.{}",
                        a.filename.rsplit('.').next().unwrap_or("bin")
                    )),
                    String::from_utf8_lossy(&a.bytes).into_owned(),
                ));
            }
            for (file, actual) in files {
                if update {
                    std::fs::write(&file, &actual).unwrap();
                    continue;
                }
                let expected = std::fs::read_to_string(&file).unwrap_or_default();
                if expected != actual {
                    let mut side = file.clone().into_os_string();
                    side.push(".actual");
                    std::fs::write(side, &actual).unwrap();
                    failures.push(file.display().to_string());
                }
            }
        }
        assert!(
            failures.is_empty(),
            "templates differ from their golden files (see .actual beside them): {failures:?}"
        );
    }

    #[test]
    fn no_japanese_mail_speaks_english_arithmetic_mixes_honorifics_or_terms_for_n() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::Ja).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        for (name, mail) in composer.samples(at("2026-11-24T01:00:00Z")).unwrap() {
            let body = mail.unwrap().body;
            for word in [
                " iff ",
                "valid",
                "approved",
                "eligible",
                "全委員数",
                "承認されず",
            ] {
                assert!(!body.contains(word), "{name} says {word:?}:\n{body}");
            }
            for line in body.lines() {
                assert!(
                    !(line.contains("御中") && line.contains("様")),
                    "{name} joins 御中 and 様: {line}"
                );
                assert!(
                    !line.contains("@") || !line.trim_end().ends_with('様'),
                    "{name}: 様 after an address: {line}"
                );
            }
        }
    }

    #[test]
    fn every_mail_about_a_ballot_carries_its_tag_and_reference_and_round() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::Ja).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        for (name, mail) in composer.samples(at("2026-11-24T01:00:00Z")).unwrap() {
            let mail = mail.unwrap();
            let Some(b) = mail.ballot else { continue };
            let prefix = format!("{}.r", b.msgid_prefix());
            assert!(
                mail.message_id.starts_with(&prefix),
                "{name}: {}",
                mail.message_id
            );
            assert!(
                mail.subject.contains(&format!("[{b}]")),
                "{name}: {}",
                mail.subject
            );
        }
    }

    #[test]
    fn the_shipped_japanese_templates_match_their_golden_files() {
        check(Language::Ja);
    }

    #[test]
    fn the_shipped_english_templates_match_their_golden_files() {
        check(Language::En);
    }
}
