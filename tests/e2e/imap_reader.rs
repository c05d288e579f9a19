//! The daemon's IMAP reader against a real Dovecot, seen from outside: it
//! leaves every flag as it found it, survives a UIDVALIDITY change without
//! counting anything twice, and without IDLE still picks a reply up within its
//! poll interval.

use std::time::{Duration, Instant};

use futures::TryStreamExt;

use crate::committee::{member, reply, Client, Committee, BOT, WAIT};

/// Opens a ballot, has members 1 and 2 answer, reads them and sends the
/// receipts; then reads the bot's own copies too. Returns the reference.
async fn a_ballot_with_two_answers_read(c: &Committee) -> String {
    let out = c.cli(
        &[
            "open",
            "--title",
            "予算承認",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "48h",
        ],
        None,
    );
    let r = out.split_whitespace().nth(1).unwrap().to_string();
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}announce@"))
        .await;
    for (i, answer) in [(1, "賛成します。"), (2, "反対します。")] {
        let id = format!("u{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(&a, &member(i), answer, Client::Thunderbird, &id),
        )
        .await;
    }
    // The announcement (the bot is on the list; Postfix delivers it one copy) and two replies.
    c.stack.wait_for_messages(BOT, 3, WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(out.contains("vote 2"), "{out}");
    c.cli(&["tick"], None);
    for i in 1..=2 {
        c.wait_for_id(&member(i), &format!("{prefix}receipt."))
            .await;
    }
    // The bot's copies of the two receipts.
    c.stack.wait_for_messages(BOT, 5, WAIT).await;
    c.cli(&["poll"], None);
    r
}

/// (UIDVALIDITY, UID and flags of every message) of the bot's INBOX, read-only.
async fn bot_flags(c: &Committee) -> (u32, Vec<(u32, Vec<String>)>) {
    let mut s = c.stack.login(BOT).await;
    let mb = s.examine("INBOX").await.unwrap();
    let fetches: Vec<_> = s
        .uid_fetch("1:*", "(UID FLAGS)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: Vec<(u32, Vec<String>)> = fetches
        .iter()
        .map(|f| {
            (
                f.uid.unwrap(),
                f.flags().map(|fl| format!("{fl:?}")).collect(),
            )
        })
        .collect();
    out.sort();
    let _ = s.logout().await;
    (mb.uid_validity.unwrap(), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_mailbox_leaves_every_message_unseen() {
    let c = Committee::start(3).await;
    a_ballot_with_two_answers_read(&c).await;
    let (_, flags) = bot_flags(&c).await;
    assert!(flags.len() >= 5, "{flags:?}");
    for (uid, f) in &flags {
        assert!(
            !f.iter().any(|x| x == "Seen"),
            "message {uid} is flagged {f:?} after the bot read it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_uidvalidity_reads_everything_again_and_counts_nothing_twice() {
    let c = Committee::start(3).await;
    let r = a_ballot_with_two_answers_read(&c).await;
    let before = c.show(&r);
    let (old_validity, flags) = bot_flags(&c).await;
    let in_mailbox = flags.len();

    // Dovecot forgets the folder's UIDs: the uid list and indexes go, so it
    // numbers the messages afresh under a new UIDVALIDITY (as after a restore
    // or a migration to another server).
    let maildir = c.stack.maildir(BOT);
    for e in std::fs::read_dir(&maildir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "dovecot-uidlist" || name.starts_with("dovecot.index") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let (new_validity, again) = bot_flags(&c).await;
    assert_ne!(old_validity, new_validity, "Dovecot kept its UIDVALIDITY");
    assert_eq!(again.len(), in_mailbox);

    let out = c.cli(&["poll"], None);
    assert!(
        out.contains(&format!(
            "read {in_mailbox} new message(s): duplicate {in_mailbox}"
        )),
        "every message is read again and recognised: {out}"
    );
    let out = c.cli(&["tick"], None);
    assert!(!out.contains("sent"), "nothing is sent again: {out}");
    let after = c.show(&r);
    assert_eq!(after["votes"], before["votes"]);
    assert_eq!(after["current"]["counts"], before["current"]["counts"]);
    assert_eq!(
        after["outbox"].as_array().unwrap().len(),
        before["outbox"].as_array().unwrap().len(),
        "no receipt is written twice"
    );
    assert_eq!(after["current"]["counts"]["yes"], 1);
    assert_eq!(after["current"]["counts"]["no"], 1);
    // A second pass finds nothing new under the new UIDVALIDITY.
    let out = c.cli(&["poll"], None);
    assert_eq!(out, "", "{out}");
    let out = c.cli(&["replay"], None);
    assert!(out.contains("every recorded result matches"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idle_the_daemon_picks_a_reply_up_within_its_poll_interval() {
    let c = Committee::start(3).await;
    let config =
        std::fs::read_to_string(&c.config)
            .unwrap()
            .replacen("idle = true", "idle = false", 1);
    assert!(config.contains("idle = false") && config.contains("poll_interval_secs = 2"));
    std::fs::write(&c.config, config).unwrap();
    let out = c.cli(
        &[
            "open",
            "--title",
            "予算承認",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "48h",
        ],
        None,
    );
    let r = out.split_whitespace().nth(1).unwrap().to_string();
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(3), &format!("{prefix}announce@"))
        .await;
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);
    // Let the daemon connect and read what is there, then answer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = Instant::now();
    c.send(
        &member(3),
        &reply(
            &a,
            &member(3),
            "賛成です。",
            Client::Thunderbird,
            "p3@org3.test",
        ),
    )
    .await;
    c.wait_for_id(&member(3), &format!("{prefix}receipt."))
        .await;
    let took = sent.elapsed();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("connected to the IMAP server") && logged.contains("idle=false"),
        "{logged}"
    );
    // Two-second polls, a scheduler pass and delivery: well inside ten seconds.
    assert!(took < Duration::from_secs(10), "the receipt took {took:?}");
    assert_eq!(c.show(&r)["current"]["counts"]["yes"], 1);
}
