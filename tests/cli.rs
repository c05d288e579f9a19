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
    assert!(!o.status.success());
    assert!(stderr(&o).contains("B-YYYY-NNN"), "{}", stderr(&o));
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
    assert!(s.contains("round 2 opened by itself"), "{s}");
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
    assert!(s.contains("2027-04-20  pattern"), "{s}");
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
