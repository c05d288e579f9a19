//! The command line as an admin meets it: the shipped configuration checks
//! clean, the demo runs, and every kind of bad input gets one sentence and a
//! non-zero exit. (Mail flow through real servers is tested in tests/e2e.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mail-ballot"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .env_remove("MAIL_BALLOT_CONFIG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A copy of the shipped configuration in a temporary folder.
fn shipped_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    for f in ["mail-ballot.toml", "roster.toml"] {
        std::fs::copy(
            repo().join("config").join(f),
            dir.path().join("config").join(f),
        )
        .unwrap();
    }
    dir
}

fn assert_one_sentence_error(o: &Output, must_contain: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(must_contain),
        "expected `{must_contain}` in: {err}"
    );
}

#[test]
fn the_shipped_configuration_checks_clean() {
    let o = run(&["check-config"], &repo());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("17 voting organisations"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).trim_end().ends_with("OK"));
}

#[test]
fn the_shipped_configuration_decides_a_withdrawal_recommendation_by_two_thirds_of_all_members() {
    let c = mail_ballot::config::Config::load(&repo().join("config/mail-ballot.toml")).unwrap();
    assert_eq!(
        c.profile_for_kind(Some("退会勧告")).unwrap().name,
        "two-thirds-of-members"
    );
    assert_eq!(c.profile_for_kind(None).unwrap().name, "isogj-email");
}

/// The shipped configuration with the commented block that starts at the line
/// `first` uncommented (up to the next blank line), minus the live lines `drop`.
fn uncommented(first: &str, drop: &[&str]) -> tempfile::TempDir {
    let dir = shipped_copy();
    let path = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut inside = false;
    let mut dropping = false;
    for line in text.lines() {
        if line.starts_with(first) {
            inside = true;
        }
        if inside && line.trim().is_empty() {
            inside = false;
        }
        if drop.iter().any(|d| line.starts_with(d)) {
            // A dropped line that opens an array drops it to its closing line.
            dropping = line.trim_end().ends_with('[');
            continue;
        }
        if dropping {
            dropping = line.trim() != "]";
            continue;
        }
        match line.strip_prefix("# ") {
            Some(rest) if inside => out.push_str(rest),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    assert_ne!(out, text, "`{first}` is in the shipped configuration");
    std::fs::write(&path, out).unwrap();
    dir
}

#[test]
fn the_commented_profile_example_names_every_key_correctly() {
    let dir = uncommented("# [[profiles]]", &[]);
    let o = run(&["check-config"], dir.path());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(dir.path().join("config/mail-ballot.toml")).unwrap();
    for key in [
        "name",
        "clause",
        "quorum",
        "threshold",
        "abstentions_present",
        "delegation",
        "tie",
        "rounds",
        "reballot_deadline",
        "carry_over",
        "min_open_hours",
        "vote_changes",
        "early_close",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} = "))),
            "the example shows `{key}`"
        );
    }
}

#[test]
fn the_commented_nca_kinds_configure_an_nca_committee() {
    let dir = uncommented(
        "#   default_profile = ",
        &["default_profile = ", "kinds = ["],
    );
    let o = run(&["check-config"], dir.path());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let c = mail_ballot::config::Config::load(&dir.path().join("config/mail-ballot.toml")).unwrap();
    assert_eq!(c.ballots.default_profile, "nca-steering");
    assert_eq!(
        c.profile_for_kind(Some("総会の議決")).unwrap().name,
        "nca-general-assembly-email"
    );
    assert_eq!(
        c.profile_for_kind(Some("退会勧告")).unwrap().name,
        "two-thirds-of-members"
    );
}

#[test]
fn the_commented_imap_and_smtp_examples_configure_a_real_mailbox_and_relay() {
    use mail_ballot::config::{Auth, MailboxConfig, OutgoingConfig, Security};
    use mail_ballot::secret::SecretRef;
    let dir = uncommented(
        "#   kind = \"imap\"",
        &["kind = \"maildir\"", "path = \"../var/mail\""],
    );
    let p = dir.path().join("config/mail-ballot.toml");
    let c = mail_ballot::config::Config::load(&p).unwrap();
    let MailboxConfig::Imap(i) = &c.mailbox else {
        panic!("{:?}", c.mailbox)
    };
    assert_eq!((i.host.as_str(), i.port), ("imap.isog-j.example", 993));
    assert_eq!(i.security, Security::Tls);
    assert!(i.trust.public_roots && i.trust.ca_file.is_none());
    assert_eq!(
        i.login.auth,
        Auth::Password(SecretRef::Env("MAIL_BALLOT_IMAP_PASSWORD".into()))
    );
    // The lines for the other places a password may be kept, and for a private
    // CA, are comments still: each is a key the loader knows.
    let text = std::fs::read_to_string(&p).unwrap();
    for key in [
        "password_file",
        "password_credential",
        "ca_file",
        "public_roots",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("# {key} = "))),
            "the example shows `{key}`"
        );
    }

    let dir = uncommented(
        "#   kind = \"smtp\"",
        &["kind = \"file\"", "path = \"../var/sent\""],
    );
    let c = mail_ballot::config::Config::load(&dir.path().join("config/mail-ballot.toml")).unwrap();
    let OutgoingConfig::Smtp(s) = &c.outgoing else {
        panic!("{:?}", c.outgoing)
    };
    assert_eq!((s.port, s.security), (587, Security::Starttls));
    assert_eq!(s.login.as_ref().unwrap().user, "ballot@isog-j.example");
}

#[test]
fn a_misspelt_key_is_named_with_its_file_and_line() {
    let dir = shipped_copy();
    let p = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("time_zone = ", "timezone = ");
    std::fs::write(&p, text).unwrap();
    let o = run(&["check-config"], dir.path());
    assert_one_sentence_error(&o, "mail-ballot.toml: line");
    assert!(stderr(&o).contains("timezone"));
}

#[test]
fn a_missing_configuration_file_is_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["list"], dir.path());
    assert_one_sentence_error(
        &o,
        "cannot read the configuration file config/mail-ballot.toml",
    );
}

#[test]
fn an_unknown_reference_is_one_sentence() {
    let dir = shipped_copy();
    let o = run(&["show", "B-2026-042"], dir.path());
    assert_one_sentence_error(&o, "there is no ballot B-2026-042");
}

#[test]
fn a_malformed_reference_is_refused_by_the_command_line() {
    let dir = shipped_copy();
    let o = run(&["show", "2026-42"], dir.path());
    assert_one_sentence_error(
        &o,
        "`2026-42` is not a ballot reference of the form B-YYYY-NNN",
    );
}

#[test]
fn a_bad_deadline_on_the_command_line_is_one_line_saying_what_and_where() {
    let dir = shipped_copy();
    let o = run(
        &[
            "open",
            "--title",
            "予算",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "2026-13-45",
        ],
        dir.path(),
    );
    assert_one_sentence_error(&o, "`2026-13-45` is not a deadline");
    assert!(
        stderr(&o).trim_end().ends_with("(--deadline)"),
        "{}",
        stderr(&o)
    );
    // Nothing was opened.
    let o = run(&["list", "--json"], dir.path());
    assert_eq!(stdout(&o).trim(), "[]");
}

#[test]
fn a_missing_argument_or_an_unknown_one_is_one_line_naming_the_command() {
    let dir = shipped_copy();
    let o = run(&["open", "--body", "予算案"], dir.path());
    assert_one_sentence_error(&o, "--title");
    assert!(
        stderr(&o).contains("mail-ballot open --help"),
        "{}",
        stderr(&o)
    );
    let o = run(&["open", "--title", "x", "--frobnicate"], dir.path());
    assert_one_sentence_error(&o, "'--frobnicate'");
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-email",
            "--eligible",
            "many",
        ],
        dir.path(),
    );
    assert_one_sentence_error(&o, "invalid value `many`");
    assert!(stderr(&o).contains("(--eligible)"), "{}", stderr(&o));
    // Help is not an error.
    let o = run(&["open", "--help"], dir.path());
    assert!(o.status.success());
    assert!(stdout(&o).contains("--body-file"), "{}", stdout(&o));
}

#[test]
fn a_missing_body_file_is_one_line_with_the_reason() {
    let dir = shipped_copy();
    let o = run(
        &["open", "--title", "予算", "--body-file", "missing.txt"],
        dir.path(),
    );
    assert_one_sentence_error(
        &o,
        "cannot read the motion's text: No such file or directory",
    );
    assert!(
        stderr(&o).trim_end().ends_with("(--body-file missing.txt)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn poll_and_tick_print_nothing_under_cron_when_nothing_happened() {
    let dir = shipped_copy();
    let d = dir.path();
    for cmd in [["poll"], ["tick"]] {
        let o = run(&cmd, d);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "", "{cmd:?} printed under cron");
        assert_eq!(stderr(&o), "", "{cmd:?} printed under cron");
    }
}

#[test]
fn poll_and_tick_say_what_happened_unless_quiet() {
    let dir = shipped_copy();
    let d = dir.path();
    let o = run(
        &[
            "--now",
            "2026-11-20T00:00:00Z",
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "2d",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // A stranger's mail in the bot's Maildir.
    let new = d.join("var/mail/new");
    std::fs::create_dir_all(&new).unwrap();
    let stranger = "From: <someone@outside.example>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [B-2026-001] x\r\nMessage-ID: <s1@outside.example>\r\nDate: Fri, 20 Nov 2026 10:00:00 +0900\r\n\r\n賛成\r\n";
    std::fs::write(new.join("1.s1.test"), stranger).unwrap();
    std::fs::write(new.join("2.s2.test"), stranger.replace("s1@", "s2@")).unwrap();

    let o = run(&["--now", "2026-11-20T02:00:00Z", "poll", "--quiet"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    std::fs::write(new.join("3.s3.test"), stranger.replace("s1@", "s3@")).unwrap();
    let o = run(&["--now", "2026-11-23T00:00:00Z", "poll"], d);
    assert!(
        stdout(&o).contains("read 1 new message(s): non_member 1"),
        "{}",
        stdout(&o)
    );

    // The deadline passed: tick closes round 1 and says so; --quiet closes round 2 silently.
    let o = run(&["--now", "2026-11-23T00:01:00Z", "tick"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("B-2026-001: round 1 closed") && stdout(&o).contains("mail: "),
        "{}",
        stdout(&o)
    );
    run(&["--now", "2026-12-20T00:00:00Z", "poll", "-q"], d);
    let o = run(&["--now", "2026-12-20T00:01:00Z", "tick", "--quiet"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let o = run(&["show", "B-2026-001", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "closed", "the quiet tick did its work: {v:#}");
}

#[test]
fn a_deadline_in_the_past_is_one_sentence() {
    let dir = shipped_copy();
    let o = run(
        &[
            "open",
            "--title",
            "予算",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "2020-01-01 17:00",
        ],
        dir.path(),
    );
    assert_one_sentence_error(&o, "not in the future");
}

#[test]
fn an_unreachable_server_is_one_sentence() {
    let dir = shipped_copy();
    let p = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "kind = \"maildir\"\npath = \"../var/mail\"",
        "kind = \"imap\"\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"plain\"\nuser = \"bot\"\npassword_env = \"MB_TEST_UNUSED\"\ntimeout_secs = 5",
    );
    std::fs::write(&p, text).unwrap();
    let o = bin()
        .args(["poll"])
        .current_dir(dir.path())
        .env("MB_TEST_UNUSED", "x")
        .env_remove("MAIL_BALLOT_CONFIG")
        .output()
        .unwrap();
    assert_one_sentence_error(&o, "cannot connect to 127.0.0.1:1");
}

#[test]
fn a_ballot_opened_on_the_command_line_can_be_listed_shown_extended_and_cancelled() {
    let dir = shipped_copy();
    let d = dir.path();
    let o = run(
        &[
            "open",
            "--title",
            "予算承認",
            "--body",
            "令和9年度予算案を承認する。",
            "--deadline",
            "7d@17:00",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let year = chrono::Utc::now().format("%Y").to_string();
    let r = format!("B-{year}-001");
    assert!(
        stdout(&o).contains(&format!("opened {r}")),
        "{}",
        stdout(&o)
    );
    // The announcement was written by the file transport.
    let sent: Vec<_> = std::fs::read_dir(d.join("var/sent")).unwrap().collect();
    assert_eq!(sent.len(), 1);

    let o = run(&["list"], d);
    assert!(
        stdout(&o).contains(&r) && stdout(&o).contains("open"),
        "{}",
        stdout(&o)
    );

    let o = run(&["extend", &r, "--deadline", "14d@17:00"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["extend", &r, "--deadline", "2d@17:00"], d);
    assert_one_sentence_error(&o, "can only be extended");

    let o = run(&["cancel", &r, "--reason", "議案の取り下げ"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["show", &r, "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "cancelled");
    assert_eq!(v["cancel_reason"], "議案の取り下げ");
    let kinds: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"ballot_opened")
            && kinds.contains(&"deadline_extended")
            && kinds.contains(&"ballot_cancelled")
    );

    let o = run(&["cancel", &r, "--reason", "again"], d);
    assert_one_sentence_error(&o, "is cancelled, not open");
}

#[test]
fn ratify_without_anything_pending_says_so() {
    let dir = shipped_copy();
    let o = run(&["ratify", "--meeting", "2026-12-10", "--all"], dir.path());
    assert_one_sentence_error(&o, "no email resolution is waiting");
}

#[test]
fn the_demo_runs_a_whole_scenario_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let o = bin().args(["demo", "--dir"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s = stdout(&o);
    assert!(s.contains("B-2026-001 approved"), "{s}");
    assert!(s.contains("B-2026-002 rejected"), "{s}");
    assert!(s.contains("B-2026-003 approved   round 2"), "{s}");
    // Round 2 is reported from what the scheduler did, and the record agrees.
    assert!(s.contains("B-2026-003: round 2 opened by itself"), "{s}");
    let o = run(
        &[
            "--config",
            out.join("config/mail-ballot.toml").to_str().unwrap(),
            "list",
            "--json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b3 = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["reference"] == "B-2026-003")
        .expect("B-2026-003 in the demo's database");
    assert_eq!(b3["round"], 2, "{b3:#}");
    assert_eq!(b3["outcome"], "approved", "{b3:#}");
    assert!(s.contains("1 late"), "{s}");
    assert!(
        s.contains("1 non_member") && s.contains("1 non_voting"),
        "{s}"
    );
    assert!(s.contains("ratification digest (3 resolutions)"), "{s}");
    // The digest went to the secretariat as a file.
    let digest = std::fs::read_dir(out.join("var/sent"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("digest."))
        .expect("a digest file");
    let raw = std::fs::read(digest.path()).unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("support@isog-j.example"));
    // A second demo into the same folder is refused rather than mixed in.
    let o = bin().args(["demo", "--dir"]).arg(&out).output().unwrap();
    assert!(!o.status.success());
}

#[test]
fn rules_check_prints_the_arithmetic_and_json_for_a_secretary_to_verify() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-email",
            "--eligible",
            "17",
            "--yes",
            "4",
            "--no",
            "4",
            "--abstain",
            "1",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("9 × 2 = 18 ≥ 1 × 17 = 17"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("outcome: rejected"), "{}", stdout(&o));
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "nca-steering",
            "--eligible",
            "9",
            "--yes",
            "3",
            "--no",
            "3",
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            v["valid"].as_bool(),
            v["approved"].as_bool(),
            v["outcome"].as_str()
        ),
        (Some(true), Some(true), Some("approved"))
    );
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-email",
            "--eligible",
            "10",
            "--yes",
            "2",
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "not_valid");
}

#[test]
fn a_tie_the_chair_breaks_asks_for_the_chairs_position() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-meeting",
            "--eligible",
            "10",
            "--yes",
            "3",
            "--no",
            "3",
        ],
        dir.path(),
    );
    assert_one_sentence_error(&o, "--chair yes or --chair no");
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-meeting",
            "--eligible",
            "10",
            "--yes",
            "3",
            "--no",
            "3",
            "--chair",
            "yes",
        ],
        dir.path(),
    );
    assert!(stdout(&o).contains("outcome: approved"), "{}", stdout(&o));
}

#[test]
fn rules_check_json_answers_in_json_when_the_numbers_cannot_be_tallied() {
    let dir = tempfile::tempdir().unwrap();
    let json_of = |o: &Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
    };
    // A tie the chair breaks, without the chair's position.
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-meeting",
            "--eligible",
            "10",
            "--yes",
            "3",
            "--no",
            "3",
            "--json",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    let v = json_of(&o);
    assert_eq!(v["valid"], true);
    assert!(v["approved"].is_null() && v["outcome"].is_null(), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("--chair yes or --chair no"),
        "{v}"
    );
    assert_one_sentence_error(&o, "chair");
    // A delegation under a rule without one.
    let o = run(
        &[
            "rules",
            "check",
            "--profile",
            "isogj-email",
            "--eligible",
            "10",
            "--yes",
            "5",
            "--delegate",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    let v = json_of(&o);
    assert!(
        v["valid"].is_null() && v["approved"].is_null() && v["outcome"].is_null(),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("一任"), "{v}");
}

#[test]
fn an_unknown_profile_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &["rules", "check", "--profile", "isog", "--eligible", "10"],
        dir.path(),
    );
    assert_one_sentence_error(&o, "isogj-email");
}

#[test]
fn meetings_added_by_command_join_the_pattern_and_show_when_their_digest_is_due() {
    let dir = shipped_copy();
    let o = run(
        &[
            "--now",
            "2026-11-22T00:00:00Z",
            "meeting",
            "add",
            "2026-12-10",
        ],
        dir.path(),
    );
    assert!(
        stdout(&o).contains("its digest goes to the secretariat on 2026-12-03"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(
        &["--now", "2026-11-22T00:00:00Z", "meeting", "list"],
        dir.path(),
    );
    let s = stdout(&o);
    assert!(s.contains("2026-12-10  added"), "{s}");
    assert!(
        !s.contains("2026-12-01"),
        "the added date replaces the pattern's December date: {s}"
    );
    assert!(s.contains("2027-04-21  pattern"), "{s}");
    let o = run(
        &[
            "--now",
            "2026-11-22T00:00:00Z",
            "meeting",
            "add",
            "2026-01-10",
        ],
        dir.path(),
    );
    assert_one_sentence_error(&o, "in the past");
}

#[test]
fn a_meeting_can_record_that_it_overturned_a_resolution() {
    let dir = shipped_copy();
    let d = dir.path();
    let o = run(
        &[
            "--now",
            "2026-11-20T00:00:00Z",
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "2d",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Nobody answered: round 1 is not valid, round 2 opens; closing it ends as 不成立.
    run(
        &[
            "--now",
            "2026-11-23T00:00:00Z",
            "close",
            "B-2026-001",
            "--no-poll",
        ],
        d,
    );
    run(
        &[
            "--now",
            "2026-11-24T00:00:00Z",
            "close",
            "B-2026-001",
            "--no-poll",
        ],
        d,
    );
    let o = run(
        &[
            "ratify",
            "--meeting",
            "2026-12-10",
            "--overturned",
            "B-2026-001",
        ],
        d,
    );
    assert!(!o.status.success(), "--overturned needs --note");
    let o = run(
        &[
            "ratify",
            "--meeting",
            "2026-12-10",
            "--overturned",
            "--note",
            "議事録 第3号議案",
            "B-2026-001",
        ],
        d,
    );
    assert!(
        stdout(&o).contains("overturned at the meeting of 2026-12-10"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(&["show", "B-2026-001", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ratification"]["status"], "overturned");
    assert_eq!(v["ratification"]["note"], "議事録 第3号議案");
}

#[test]
fn a_verification_policy_whose_token_key_is_missing_is_one_sentence() {
    let dir = shipped_copy();
    let p = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "[mailbox]\n",
        "[verification]\naccept = [\"token\"]\ntoken_secret_env = \"MAIL_BALLOT_TEST_NO_SUCH_KEY\"\n\n[mailbox]\n",
    );
    std::fs::write(&p, text).unwrap();
    let o = run(&["list"], dir.path());
    assert_one_sentence_error(&o, "token_secret_env");
    assert!(
        stderr(&o).contains("MAIL_BALLOT_TEST_NO_SUCH_KEY"),
        "{}",
        stderr(&o)
    );
    // With the key set, the same configuration works.
    let o = bin()
        .args(["list"])
        .current_dir(dir.path())
        .env(
            "MAIL_BALLOT_TEST_NO_SUCH_KEY",
            "00112233445566778899aabbccddeeff",
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn check_config_warns_when_anyone_could_vote_in_a_members_name() {
    let o = run(&["check-config"], &repo());
    assert!(
        stdout(&o).contains("warning: no [verification]"),
        "{}",
        stdout(&o)
    );
}

/// The shipped configuration with `table` put before `[mailbox]`.
fn shipped_with(table: &str) -> tempfile::TempDir {
    let dir = shipped_copy();
    let p = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("[mailbox]\n", &format!("{table}\n[mailbox]\n"));
    std::fs::write(&p, text).unwrap();
    dir
}

#[test]
fn check_config_warns_that_admin_mail_cannot_verify_under_tokens_alone() {
    let dir = shipped_with(
        "[verification]\naccept = [\"token\"]\ntoken_secret_env = \"MAIL_BALLOT_TEST_KEY\"\n",
    );
    let o = bin()
        .args(["check-config"])
        .current_dir(dir.path())
        .env("MAIL_BALLOT_TEST_KEY", "00112233445566778899aabbccddeeff")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("warning: [verification] accepts only \"token\", which admins and the secretariat never receive"),
        "{}",
        stdout(&o)
    );
    let dir = shipped_with(
        "[verification]\naccept = [\"token\", \"authres\"]\nauthserv_id = \"mx.isog-j.example\"\ntoken_secret_env = \"MAIL_BALLOT_TEST_KEY\"\n",
    );
    let o = bin()
        .args(["check-config"])
        .current_dir(dir.path())
        .env("MAIL_BALLOT_TEST_KEY", "00112233445566778899aabbccddeeff")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("accepts only"), "{}", stdout(&o));
}

#[test]
fn inspect_with_a_configuration_reports_the_sender_verification_the_daemon_would_make() {
    let dir = shipped_with(
        "[verification]\naccept = [\"authres\"]\nauthserv_id = \"mx.isog-j.example\"\n",
    );
    let body = "From: Taro <rep@member01.example>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [B-2026-001] vote\r\nMessage-ID: <v1@member01.example>\r\n\r\n賛成します。\r\n";
    let ours = format!(
        "Received: from mx.isog-j.example by imap.isog-j.example with LMTP\r\nAuthentication-Results: mx.isog-j.example; dkim=pass header.d=member01.example\r\nReceived: from mail.member01.example (mail.member01.example [192.0.2.1]) by mx.isog-j.example (Postfix) with ESMTPS\r\n{body}"
    );
    // The same result written by the sender, under our MX's Received header.
    let forged = format!(
        "Received: from evil.example (evil.example [203.0.113.5]) by mx.isog-j.example (Postfix) with ESMTP\r\nAuthentication-Results: mx.isog-j.example; dkim=pass header.d=member01.example\r\n{body}"
    );
    std::fs::write(dir.path().join("ours.eml"), ours).unwrap();
    std::fs::write(dir.path().join("forged.eml"), forged).unwrap();
    let o = run(
        &[
            "--config",
            "config/mail-ballot.toml",
            "inspect",
            "--json",
            "ours.eml",
            "forged.eml",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["member"]["organisation"], "member01");
    assert_eq!(
        lines[0]["verified"],
        "passed: Authentication-Results pass (dkim=pass header.d=member01.example)"
    );
    assert_eq!(lines[0]["verification"]["checks"][2]["result"], "pass");
    assert_eq!(
        lines[1]["verified"],
        "failed: no trusted Authentication-Results"
    );
    assert!(
        lines[1]["verification"]["checks"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("1 other instance ignored"),
        "{}",
        lines[1]
    );
    // The text form says the same, for a person checking a doubtful vote.
    let o = run(
        &[
            "--config",
            "config/mail-ballot.toml",
            "inspect",
            "forged.eml",
        ],
        dir.path(),
    );
    assert!(
        stdout(&o).contains("verified:  \"failed: no trusted Authentication-Results\""),
        "{}",
        stdout(&o)
    );
}

#[test]
fn the_annotated_verification_table_uncommented_is_a_working_policy() {
    let shipped = std::fs::read_to_string(repo().join("config/mail-ballot.toml")).unwrap();
    let table: String = shipped
        .lines()
        .skip_while(|l| *l != "# [verification]")
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect();
    assert!(table.contains("mx_hosts"), "{table}");
    let dir = shipped_with(&table);
    let o = bin()
        .args(["check-config"])
        .current_dir(dir.path())
        .env("MAIL_BALLOT_TOKEN_KEY", "00112233445566778899aabbccddeeff")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("verification: token, dkim, authres (required)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn max_rounds_in_ballots_caps_the_default_rule() {
    let dir = shipped_copy();
    let d = dir.path();
    let p = d.join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("max_rounds = 2", "max_rounds = 1");
    std::fs::write(&p, text).unwrap();
    let o = run(
        &[
            "--now",
            "2026-11-20T00:00:00Z",
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "2d",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Nobody answered: not valid, and with one round allowed there is no re-ballot.
    let o = run(
        &[
            "--now",
            "2026-11-23T00:00:00Z",
            "close",
            "B-2026-001",
            "--no-poll",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("round 2 opened"), "{}", stdout(&o));
    let o = run(&["show", "B-2026-001", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "closed", "{v:#}");
    assert_eq!(v["rounds"].as_array().unwrap().len(), 1, "{v:#}");
}

/// A member's plain reply to `r`, as a file in the bot's Maildir.
fn deliver_reply(d: &Path, name: &str, from: &str, r: &str, answer: &str) {
    let new = d.join("var/mail/new");
    std::fs::create_dir_all(&new).unwrap();
    let raw = format!(
        "From: <{from}>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [{r}] 予算\r\nMessage-ID: <{name}@member.example>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{answer}\r\n"
    );
    std::fs::write(new.join(format!("1.{name}.test")), raw).unwrap();
}

#[test]
fn an_open_ballot_keeps_the_roster_it_opened_with_when_the_roster_is_edited() {
    let dir = shipped_copy();
    let d = dir.path();
    let o = run(
        &[
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "7d@17:00",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = stdout(&o).split_whitespace().nth(1).unwrap().to_string();
    let orgs = |v: &serde_json::Value| -> Vec<String> {
        v["current"]["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["org"].as_str().unwrap().to_string())
            .collect()
    };
    let o = run(&["show", &r, "--json"], d);
    let before: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(before["eligible"], 17);

    // The secretariat removes member17 and adds member18.
    let p = d.join("config/roster.toml");
    let roster = std::fs::read_to_string(&p).unwrap();
    let start = roster.find("[[organisations]]\nid = \"member17\"").unwrap();
    let end = start + roster[start..].find("[[participants]]").unwrap();
    let edited = format!(
        "{}[[organisations]]\nid = \"member18\"\nname = \"シグマ新規会員株式会社\"\nrepresentative = \"rep@member18.example\"\n\n{}",
        &roster[..start],
        &roster[end..]
    );
    std::fs::write(&p, edited).unwrap();
    let o = run(&["check-config"], d);
    assert!(
        stdout(&o).contains("17 voting organisations"),
        "{}",
        stdout(&o)
    );

    let o = run(&["show", &r, "--json"], d);
    let after: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(after["eligible"], 17, "N is the ballot's, not the file's");
    assert_eq!(orgs(&after), orgs(&before));
    assert!(orgs(&after).contains(&"member17".to_string()));
    assert!(!orgs(&after).contains(&"member18".to_string()));

    // The removed organisation still votes in this ballot; the added one does not.
    deliver_reply(d, "removed", "rep@member17.example", &r, "賛成");
    deliver_reply(d, "added", "rep@member18.example", &r, "賛成");
    let o = run(&["poll"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["show", &r, "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let votes = v["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{votes:#?}");
    assert_eq!(votes[0]["org"], "member17");
    assert_eq!(v["current"]["counts"]["yes"], 1);
    let added = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "added@member.example")
        .unwrap();
    assert_eq!(added["disposition"], "non_member", "{added:#}");
}

#[test]
fn templates_edited_in_the_folder_the_configuration_names_are_used_without_recompiling() {
    // As shipped, run from the repository: the repository's templates/.
    let o = run(&["check-config"], &repo());
    assert!(
        stdout(&o).contains("(from templates where present)"),
        "{}",
        stdout(&o)
    );
    // A copy with the same layout and one edited template.
    let dir = shipped_copy();
    let d = dir.path();
    let o = run(&["check-config"], d);
    assert!(
        stdout(&o).contains("the shipped texts: the folder"),
        "{}",
        stdout(&o)
    );
    std::fs::create_dir_all(d.join("templates/ja")).unwrap();
    let shipped = std::fs::read_to_string(repo().join("templates/ja/announce.txt")).unwrap();
    let edited = shipped.replacen("\n\n", "\n\n【編集済みの文面】\n", 1);
    assert_ne!(edited, shipped);
    std::fs::write(d.join("templates/ja/announce.txt"), edited).unwrap();
    let o = run(&["check-config"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        &[
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "7d@17:00",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let sent: Vec<_> = std::fs::read_dir(d.join("var/sent"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(sent.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&sent[0])
        .unwrap();
    assert!(
        parsed.body_text(0).unwrap().contains("【編集済みの文面】"),
        "{}",
        parsed.body_text(0).unwrap()
    );
}

// ---- inspect ---------------------------------------------------------------------

/// Reply fixtures from the corpus, by name.
fn reply(name: &str) -> PathBuf {
    repo().join("tests/fixtures/replies").join(name)
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn inspect_json_without_a_configuration_gives_one_line_per_file_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "yes-outlook-ja-iso2022jp.eml",
        "no-becky-top-sjis.eml",
        "automated-oof-ja.eml",
        "unclear-conditional-maniaeba.eml",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| reply(f).display().to_string())
        .collect();
    let mut args = vec!["inspect", "--json"];
    args.extend(paths.iter().map(String::as_str));
    // Run where no configuration exists: inspect needs none.
    let o = run(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), files.len(), "{}", stdout(&o));

    let yes = &lines[0];
    assert_eq!(yes["file"], paths[0]);
    assert_eq!(yes["message_id"], header_id(&reply(files[0])));
    assert!(yes["from"].as_str().unwrap().ends_with(".co.jp"));
    assert_eq!(yes["ballot"], "B-2026-007");
    assert_eq!(yes["vote"], "yes");
    assert_eq!(yes["automated"], false);
    assert_eq!(yes["evidence"], "本件、賛成いたします。");
    assert!(yes["reason"].as_str().unwrap().ends_with('.'));
    assert_eq!(yes["answers"], serde_json::json!([]));

    assert_eq!(lines[1]["vote"], "no");
    assert_eq!(lines[2]["vote"], "none");
    assert_eq!(lines[2]["automated"], true);
    assert_eq!(lines[2]["evidence"], serde_json::Value::Null);
    assert_eq!(lines[3]["vote"], "unclear");
    for l in &lines {
        for field in [
            "file",
            "message_id",
            "from",
            "ballot",
            "vote",
            "automated",
            "evidence",
            "reason",
            "answers",
        ] {
            assert!(l.get(field).is_some(), "{field} missing in {l}");
        }
        // Without a configuration there is no roster or database to consult.
        assert!(l.get("member").is_none() && l.get("ballot_state").is_none());
    }
}

/// The Message-ID written in a fixture, without its brackets.
fn header_id(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let line = text
        .lines()
        .find(|l| l.starts_with("Message-ID:"))
        .expect("a Message-ID");
    line["Message-ID:".len()..]
        .trim()
        .trim_matches(['<', '>'])
        .to_string()
}

#[test]
fn inspect_json_shows_each_answer_of_a_reply_that_answers_several_ballots() {
    let dir = tempfile::tempdir().unwrap();
    let path = reply("unclear-multi-ballot-lines.eml");
    let o = run(&["inspect", "--json", path.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    let v = &lines[0];
    assert_eq!(v["vote"], "unclear");
    assert_eq!(
        v["answers"],
        serde_json::json!([
            {"ballot": "B-2026-007", "vote": "yes", "evidence": "B-2026-007 賛成"},
            {"ballot": "B-2026-008", "vote": "no", "evidence": "[B-2026-008] 反対"},
            {"ballot": "B-2026-009", "vote": "abstain", "evidence": "B-2026-009: 棄権"},
        ])
    );
    assert_eq!(
        v["ballots"],
        serde_json::json!(["B-2026-007", "B-2026-008", "B-2026-009"])
    );
}

#[test]
fn inspect_json_gives_an_error_object_for_a_file_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = reply("yes-outlook-ja-iso2022jp.eml");
    let missing = dir.path().join("missing.eml");
    let o = run(
        &[
            "inspect",
            "--json",
            missing.to_str().unwrap(),
            good.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 2, "{}", stdout(&o));
    assert_eq!(lines[0]["file"], missing.display().to_string());
    assert!(lines[0]["error"].as_str().unwrap().contains("cannot read"));
    assert_eq!(lines[1]["vote"], "yes");
}

#[test]
fn inspect_with_a_configuration_reads_with_the_daemons_options() {
    let dir = shipped_copy();
    let d = dir.path();
    // The daemon's limit from the configuration (the smallest it accepts).
    let cfg = d.join("config/mail-ballot.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[limits]\nmax_message_bytes = 65536\n");
    std::fs::write(&cfg, text).unwrap();

    let big = d.join("big.eml");
    let mut raw = b"From: member@example.jp\r\nSubject: Re: [B-2026-007] x\r\nMessage-ID: <big@example.jp>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    raw.extend_from_slice("賛成します。\r\n".as_bytes());
    raw.extend(std::iter::repeat_n(b'x', 70_000));
    std::fs::write(&big, raw).unwrap();
    let own = d.join("own.eml");
    std::fs::write(
        &own,
        "From: ballot@isog-j.example\r\nSubject: [B-2026-007] x\r\nMessage-ID: <own@example.jp>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n賛成\r\n",
    )
    .unwrap();

    let files = [big.to_str().unwrap(), own.to_str().unwrap()];
    let mut without = vec!["inspect", "--json"];
    without.extend(files);
    let o = run(&without, d);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain = json_lines(&o);
    assert_eq!(plain[0]["vote"], "yes", "no limit of its own: read in full");
    assert_eq!(plain[1]["automated"], false);

    let mut with = vec!["--config", "config/mail-ballot.toml", "inspect", "--json"];
    with.extend(files);
    let o = run(&with, d);
    assert!(o.status.success(), "{}", stderr(&o));
    let daemon = json_lines(&o);
    assert_eq!(daemon[0]["vote"], "unclear", "{}", daemon[0]);
    assert!(daemon[0]["reason"]
        .as_str()
        .unwrap()
        .contains("only its headers"));
    assert_eq!(daemon[1]["automated"], true, "the bot's own address");
    assert!(daemon[0].get("member").is_some());
}

#[test]
fn check_config_and_its_samples_accept_a_profile_that_keeps_rounds_open_ten_days() {
    let dir = shipped_with(
        "[[profiles]]\nname = \"isogj-email\"\nclause = \"ISOG-J 運営規約 5 (2) メールでの審議\"\nquorum = \"at least 1/2 of members\"\nthreshold = \"more than 1/2 of present\"\nrounds = 2\nreballot_deadline = \"14d@17:00\"\nmin_open_hours = 240\n",
    );
    let p = dir.path().join("config/mail-ballot.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace(
            "default_deadline = \"7d@17:00\"",
            "default_deadline = \"14d@17:00\"",
        )
        .replace(
            "reballot_deadline = \"5d@17:00\"",
            "reballot_deadline = \"14d@17:00\"",
        );
    std::fs::write(&p, text).unwrap();
    let o = run(&["check-config"], dir.path());
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// Runs a command whose stdout is a pipe nobody reads any more, as `show | head`
/// leaves it once `head` has exited: every write to it fails with EPIPE.
fn run_into_a_closed_pipe(args: &[&str], cwd: &Path) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    bin()
        .args(args)
        .current_dir(cwd)
        .env_remove("MAIL_BALLOT_CONFIG")
        .stdout(writer)
        .output()
        .unwrap()
}

#[test]
fn every_command_that_prints_ends_quietly_when_its_reader_has_gone() {
    use std::os::unix::process::ExitStatusExt;
    let dir = shipped_copy();
    let d = dir.path();
    let reply = reply("yes-outlook-ja-iso2022jp.eml");
    let reply = reply.to_str().unwrap();
    let demo = d.join("demo");
    let demo = demo.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["--help"],
        &["--version"],
        &["check-config"],
        &[
            "--now",
            "2026-11-20T00:00:00Z",
            "open",
            "--title",
            "予算",
            "--body",
            "予算案",
            "--deadline",
            "2d",
        ],
        &["list"],
        &["list", "--json"],
        &["show", "B-2026-001"],
        &["show", "B-2026-001", "--json"],
        &[
            "--now",
            "2026-11-20T00:00:00Z",
            "extend",
            "B-2026-001",
            "--deadline",
            "3d",
        ],
        &["--now", "2026-11-20T02:00:00Z", "poll"],
        &["--now", "2026-11-24T00:00:00Z", "tick"],
        &[
            "--now",
            "2026-11-24T00:00:00Z",
            "close",
            "B-2026-001",
            "--no-poll",
        ],
        &[
            "--now",
            "2026-11-24T00:00:00Z",
            "cancel",
            "B-2026-001",
            "--reason",
            "取り下げ",
        ],
        &["digest"],
        &["meeting", "add", "2099-12-10"],
        &["meeting", "list"],
        &["rules", "list"],
        &[
            "rules",
            "check",
            "--profile",
            "isogj-email",
            "--eligible",
            "17",
            "--yes",
            "9",
        ],
        &["replay"],
        &["audit", "verify"],
        &["incidents"],
        &["dispute", "list"],
        &["inspect", reply],
        &["inspect", "--json", reply],
        &["demo", "--dir", demo],
    ];
    // A stranger's mail, so that `poll` has something to say.
    let new = d.join("var/mail/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(
        new.join("1.s1.test"),
        "From: <someone@outside.example>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [B-2026-001] x\r\nMessage-ID: <s1@outside.example>\r\n\r\n賛成\r\n",
    )
    .unwrap();
    for args in commands {
        let o = run_into_a_closed_pipe(args, d);
        assert!(
            !stderr(&o).contains("panicked"),
            "{args:?} panicked: {}",
            stderr(&o)
        );
        assert!(
            o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
            "{args:?} ended {:?}: {}",
            o.status,
            stderr(&o)
        );
    }
    // The commands did their work to the end, mail included: the announcement, the
    // extension, the result and the cancellation left as files.
    let sent = std::fs::read_dir(d.join("var/sent")).unwrap().count();
    assert!(sent >= 4, "only {sent} mail(s) written");
    let o = run(&["show", "B-2026-001", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "cancelled", "{v:#}");
}

/// Every option and argument of `command` and its subcommands that --help
/// shows without a line saying what it is for, as "open --kind".
fn options_without_help(command: &clap::Command, path: &str) -> Vec<String> {
    let mut missing: Vec<String> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_help().is_none())
        .filter(|a| !["help", "version"].contains(&a.get_id().as_str()))
        .map(|a| match a.get_long() {
            Some(long) => format!("{path} --{long}"),
            None => format!("{path} <{}>", a.get_id()),
        })
        .collect();
    for sub in command.get_subcommands() {
        let path = format!("{path} {}", sub.get_name()).trim().to_string();
        missing.extend(options_without_help(sub, &path));
    }
    missing
}

#[test]
fn every_option_and_argument_says_in_help_what_it_is_for() {
    use clap::CommandFactory;
    let missing = options_without_help(&mail_ballot::cli::Cli::command(), "");
    assert!(missing.is_empty(), "no help text: {}", missing.join(", "));
}

#[test]
fn rules_check_help_says_where_to_see_the_profile_names() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["rules", "check", "--help"], dir.path());
    assert!(o.status.success());
    let help = stdout(&o);
    let profile = help
        .lines()
        .find(|l| l.trim_start().starts_with("--profile"))
        .unwrap_or_default();
    assert!(profile.contains("rules list"), "{help}");
}
