//! The daemon's IMAP reader against a real Dovecot, seen from outside: it
//! leaves every flag as it found it, survives a UIDVALIDITY change without
//! counting anything twice, without IDLE still picks a reply up within its
//! poll interval, reads mail that came while it read a backlog right after,
//! and keeps a reply over the size limit cut, with its size, and uncounted.

use std::time::{Duration, Instant};

use futures::TryStreamExt;

use crate::committee::{member, reply, text_of, Client, Committee, BOT, WAIT};

/// Opens a ballot, has members 1 and 2 answer, reads them and sends the
/// receipts; then reads the bot's own copies too. Returns the reference.
async fn a_ballot_with_two_answers_read(c: &Committee) -> String {
    let r = c.open_budget(None);
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}announce."))
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
    let r = c.open_budget(None);
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(3), &format!("{prefix}announce."))
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

/// The reader opens the folder once for a backlog and reads it batch after
/// batch up to the UIDNEXT that EXAMINE reported (`ImapSource::selected`), so
/// mail that arrives meanwhile lies past the end of the backlog. It must still
/// be read at once: the wait after the last batch sees that the folder moved
/// and returns without waiting out its timeout, and the next fetch examines
/// the folder again and finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_that_arrives_while_a_backlog_is_read_is_read_right_after_it() {
    use mail_ballot::config::{Auth, ImapConfig, Login, Security};
    use mail_ballot::mailbox::{imap::ImapSource, MailSource};
    use mail_ballot::secret::SecretRef;
    use mail_ballot::store::Cursor;
    use mail_ballot::tls::Trust;

    let c = Committee::start(2).await;
    let note = |i: usize| {
        format!(
            "From: {m}\r\nTo: {BOT}\r\nSubject: note {i}\r\nMessage-ID: <note{i}@org1.test>\r\n\
             Date: Thu, 03 Dec 2026 10:00:00 +0900\r\n\r\nnote {i}\r\n",
            m = member(1)
        )
        .into_bytes()
    };
    for i in 1..=6 {
        c.send(&member(1), &note(i)).await;
    }
    c.stack.wait_for_messages(BOT, 6, WAIT).await;

    // A variable of this test's own: the tests share one process environment.
    let env = "MAIL_BALLOT_E2E_BACKLOG_PASSWORD";
    std::env::set_var(env, c.stack.password(BOT));
    let cfg = ImapConfig {
        host: "127.0.0.1".into(),
        port: c.stack.imap_port(),
        security: Security::Plain,
        trust: Trust::public(),
        login: Login {
            user: BOT.into(),
            auth: Auth::Password(SecretRef::Env(env.into())),
        },
        folder: "INBOX".into(),
        idle: true,
        poll_interval: Duration::from_secs(2),
        timeout: Duration::from_secs(15),
    };
    let mut source = ImapSource::new(cfg, 1 << 20);
    let subjects = |b: &mail_ballot::mailbox::Batch| -> Vec<String> {
        b.messages
            .iter()
            .map(|m| {
                let raw = String::from_utf8_lossy(&m.raw);
                raw.lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                    .unwrap()
            })
            .collect()
    };

    let first = source.fetch(None, 2).await.unwrap();
    assert_eq!(first.messages.len(), 2);
    assert!(first.more);
    // Two more arrive while the backlog is being read.
    for i in 7..=8 {
        c.send(&member(1), &note(i)).await;
    }
    c.stack.wait_for_messages(BOT, 8, WAIT).await;

    let mut read = subjects(&first);
    let mut cursor = Cursor {
        uidvalidity: first.uidvalidity,
        last_uid: first.scanned_to,
    };
    loop {
        let b = source.fetch(Some(cursor), 2).await.unwrap();
        read.extend(subjects(&b));
        cursor.last_uid = b.scanned_to;
        if !b.more {
            break;
        }
    }
    // The backlog ends where its EXAMINE said (no EXAMINE per batch). Postfix
    // may deliver the six in any order; UIDs follow delivery.
    read.sort();
    let notes = |r: std::ops::RangeInclusive<usize>| -> Vec<String> {
        r.map(|i| format!("note {i}")).collect()
    };
    assert_eq!(read, notes(1..=6));

    let timeout = Duration::from_secs(60);
    let waited = Instant::now();
    source.wait(timeout).await.unwrap();
    assert!(
        waited.elapsed() < timeout / 2,
        "the wait did not notice the mail that came during the backlog ({:?})",
        waited.elapsed()
    );
    let after = source.fetch(Some(cursor), 10).await.unwrap();
    let mut late = subjects(&after);
    late.sort();
    assert_eq!(late, notes(7..=8));
    assert!(!after.more);
    source.close().await;
}

/// A member's 賛成 padded past `max_message_bytes`: the reader fetches only the
/// first part, and that part must not be read as if it were the whole reply. It
/// is recorded as cut (its true size kept, fewer bytes stored), read by its
/// headers only and not counted, the member is told it was too large, `inspect`
/// on the whole message reads it the same way, and replay agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_over_the_size_limit_is_kept_cut_with_its_size_and_not_counted() {
    const LIMIT: usize = 65_536;
    let c = Committee::start_with(2, &format!("\n[limits]\nmax_message_bytes = {LIMIT}\n")).await;
    let r = c.open_budget(None);
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}announce."))
        .await;
    let mut big = reply(
        &a,
        &member(1),
        "賛成します。",
        Client::Thunderbird,
        "big@org1.test",
    );
    big.extend("添付資料の本文です。\r\n".repeat(6_000).as_bytes());
    assert!(big.len() > 2 * LIMIT);
    c.send(&member(1), &big).await;
    // The announcement's copy through the list, and the reply.
    let inbox = c.stack.wait_for_messages(BOT, 2, WAIT).await;
    let stored = inbox
        .iter()
        .find(|m| m.header("Message-ID").as_deref() == Some("<big@org1.test>"))
        .expect("the reply in the bot's mailbox");
    c.cli(&["poll"], None);
    c.cli(&["tick"], None);

    let v = c.show(&r);
    assert!(
        v["votes"].as_array().unwrap().is_empty(),
        "{:#}",
        v["votes"]
    );
    let row = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "big@org1.test")
        .expect("the reply recorded")
        .clone();
    assert_eq!(row["disposition"], "unclear", "{row:#}");
    let reason = row["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("only its headers were read"), "{reason}");

    // The record keeps the server's size and says the stored bytes are the first part.
    let db = c.config.parent().unwrap().join("ballots.sqlite");
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true);
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let (size, kept, reading): (i64, i64, String) = sqlx::query_as(
        "SELECT size, length(raw), reading_json FROM messages WHERE message_id = 'big@org1.test'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    sqlx::Connection::close(conn).await.ok();
    assert_eq!(size as usize, stored.raw.len(), "the size Dovecot reports");
    assert_eq!(kept as usize, LIMIT);
    assert!(
        reading.contains(&format!(
            "only its first {LIMIT} bytes were fetched and kept"
        )),
        "{reading}"
    );

    // The member hears that it was too large, in words they can act on.
    let told = c
        .wait_for_id(&member(1), &format!("{prefix}unclear."))
        .await;
    let text = text_of(&told);
    assert!(
        text.contains(&format!(
            "メールが {} KB あり",
            stored.raw.len().div_ceil(1024)
        )) && text.contains("（64 KB まで）"),
        "{text}"
    );

    // `inspect` on the whole message reads it exactly so.
    let file = c.stack.dir().join("big.eml");
    std::fs::write(&file, &stored.raw).unwrap();
    let out = c.cli(&["inspect", "--json", file.to_str().unwrap()], None);
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["vote"], "unclear", "{seen:#}");
    assert_eq!(seen["reason"], reason.as_str());
    assert_eq!(seen["oversized"]["size"], size);
    c.assert_record_holds();
}
