//! Fault injection: 2,000 replies delivered while the daemon is killed with
//! SIGKILL at random moments and restarted, Dovecot restarted while the daemon
//! idles in IDLE, and Postfix stopped for a while. The final tally must equal
//! a clean count of the same replies, no reply may be lost or counted twice,
//! and every receipt must reach its member exactly once (by Message-ID).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::committee::{member, reply, Client, Committee, BOT, WAIT};

const ORGS: usize = 100;
const WAVES: usize = 20;

/// The answer organisation `i` gives in wave `w`: every organisation changes
/// its mind over and over, so only the last answer may count.
fn answer(w: usize, i: usize) -> (&'static str, &'static str) {
    match (w * 7 + i) % 3 {
        0 => ("賛成します。", "yes"),
        1 => ("反対します。", "no"),
        _ => ("棄権します。", "abstain"),
    }
}

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// How many members' replies the database holds (read directly: `show` prints
/// thousands of rows, and the daemon is the one reading the mailbox).
async fn recorded(c: &Committee) -> usize {
    let db = c.config.parent().unwrap().join("ballots.sqlite");
    if !db.exists() {
        return 0;
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true);
    let Ok(mut conn) = sqlx::ConnectOptions::connect(&opts).await else {
        return 0;
    };
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE message_id LIKE 'f%'")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0);
    sqlx::Connection::close(conn).await.ok();
    n as usize
}

async fn wait_recorded(c: &Committee, n: usize, why: &str) {
    let deadline = Instant::now() + WAIT * 4;
    loop {
        let got = recorded(c).await;
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: only {got} of {n} replies recorded\n{}",
            c.stack.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_replies_survive_kills_a_dovecot_restart_and_a_postfix_outage() {
    let mut c = Committee::start(ORGS).await;
    let r = c.open_budget(None);
    let year = &r[2..6];
    let a = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.announce."))
        .await;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("fault schedule seed: {seed}");
    let mut rng = Lcg(seed);
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);
    let mut kills = 0;
    let kill = |d: &mut std::process::Child, kills: &mut usize| {
        d.kill().unwrap(); // SIGKILL: no chance to tidy up
        d.wait().unwrap();
        *kills += 1;
    };

    let mut in_bot = 1; // the announcement's copy through the list
    let mut ids = BTreeSet::new();
    let mut last: BTreeMap<usize, &str> = BTreeMap::new();
    let started = Instant::now();
    for w in 0..WAVES {
        println!(
            "wave {w} at {:.1} s, {} recorded",
            started.elapsed().as_secs_f64(),
            recorded(&c).await
        );
        if w == 8 {
            // Let the daemon catch up and settle into IDLE, then take Dovecot away
            // under it. The same daemon process must reconnect and read on.
            wait_recorded(&c, ids.len(), "before the Dovecot restart").await;
            tokio::time::sleep(Duration::from_millis(800)).await;
            c.stack.restart_dovecot().await;
        }
        // Each wave is delivered before the next is sent, so the server's order is
        // the order of the answers.
        for i in 1..=ORGS {
            let (text, position) = answer(w, i);
            let id = format!("f{w}-{i}@org{i}.test");
            c.send(
                &member(i),
                &reply(&a, &member(i), text, Client::Thunderbird, &id),
            )
            .await;
            ids.insert(id);
            last.insert(i, position);
            in_bot += 1;
        }
        if w == 8 {
            wait_recorded(&c, ids.len(), "after the Dovecot restart, without a kill").await;
        } else {
            tokio::time::sleep(Duration::from_millis(rng.next(0, 300))).await;
            kill(&mut daemon, &mut kills);
            daemon = c.daemon(&log);
        }
        c.stack.wait_for_messages(BOT, in_bot, WAIT).await;
        if w == 14 {
            // Postfix goes away while receipts are being sent: they wait in the
            // outbox, and a kill in the middle of the outage changes nothing.
            c.stack.stop_postfix().await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            kill(&mut daemon, &mut kills);
            daemon = c.daemon(&log);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            c.stack.start_postfix().await;
        }
        tokio::time::sleep(Duration::from_millis(rng.next(50, 600))).await;
        kill(&mut daemon, &mut kills);
        daemon = c.daemon(&log);
    }
    println!("all sent at {:.1} s", started.elapsed().as_secs_f64());
    wait_recorded(&c, ids.len(), "at the end").await;
    println!("all recorded at {:.1} s", started.elapsed().as_secs_f64());
    kill(&mut daemon, &mut kills);
    println!("{kills} kills");
    assert!(kills >= 20, "only {kills} kills");

    // Mail the outage or a kill held back: run the clock past the retry backoff
    // and the claim of an interrupted send, reading the bot's own copies.
    //
    // The worker trusts a read of the mailbox made a minute (`settle`) after an
    // interrupted send to show that send's copy, if it got through: true of a
    // relay in real time, not of a clock moved 20 minutes ahead right after the
    // last kill, while Postfix may still be delivering what the killed daemon
    // handed it. So let the queue drain first, as a minute of real time would.
    c.stack.wait_for_empty_queue(WAIT).await;
    let later = chrono::Utc::now() + chrono::Duration::minutes(20);
    for _ in 0..3 {
        c.cli(&["poll"], Some(later));
        c.cli(&["tick"], Some(later));
    }

    println!("outbox flushed at {:.1} s", started.elapsed().as_secs_f64());
    // No reply lost or recorded twice; only each organisation's last answer counts.
    let v = c.show(&r);
    let replies: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_id"].as_str().map(str::to_string))
        .filter(|id| id.starts_with('f'))
        .collect();
    assert_eq!(
        replies.len(),
        ids.len(),
        "every reply recorded exactly once"
    );
    assert_eq!(
        replies.into_iter().collect::<BTreeSet<_>>(),
        ids,
        "no reply lost"
    );
    assert_eq!(
        v["votes"].as_array().unwrap().len(),
        ids.len(),
        "no vote recorded twice"
    );
    let counts = &v["current"]["counts"];
    for p in ["yes", "no", "abstain"] {
        let want = last.values().filter(|x| **x == p).count() as u64;
        assert_eq!(counts[p].as_u64(), Some(want), "{p}: {counts}");
    }
    for row in v["current"]["answers"].as_array().unwrap() {
        let org: usize = row["org"].as_str().unwrap()[3..].parse().unwrap();
        assert_eq!(row["position"], last[&org], "org {org}");
    }
    // A clean count of the same stored messages gives the same result.
    let out = c.cli(&["replay"], None);
    assert!(out.contains("every recorded result matches"), "{out}");

    // Every receipt reached its member exactly once.
    let outbox = v["outbox"].as_array().unwrap();
    assert!(
        outbox.iter().all(|m| !m["sent_at"].is_null()),
        "mail left unsent: {:#?}",
        outbox
            .iter()
            .filter(|m| m["sent_at"].is_null())
            .collect::<Vec<_>>()
    );
    for i in 1..=ORGS {
        let got = c.stack.wait_for_messages(&member(i), 1 + WAVES, WAIT).await;
        // Each receipt as (Message-ID, the Postfix queue id of its submission). The bot
        // sending a mail twice gives two queue ids for one Message-ID; Postfix itself
        // delivering one queued mail twice (its LMTP client was stopped between
        // Dovecot's save and its own bookkeeping, at the outage) repeats the queue id.
        // Only the first is the bot's to prevent; the second is the mail system's
        // at-least-once delivery, which members' clients collapse by Message-ID.
        let receipts: Vec<(String, String)> = got
            .iter()
            .filter_map(|m| Some((m.header("Message-ID")?, submission_id(m))))
            .filter(|(id, _)| id.contains(".receipt."))
            .collect();
        assert!(
            receipts.iter().all(|(_, q)| !q.is_empty()),
            "member {i}: a receipt without our Postfix's Received header: {receipts:?}"
        );
        let submissions: BTreeSet<&(String, String)> = receipts.iter().collect();
        let distinct: BTreeSet<&String> = receipts.iter().map(|(id, _)| id).collect();
        assert_eq!(
            distinct.len(),
            WAVES,
            "member {i} got {} distinct receipts: {receipts:?}",
            distinct.len()
        );
        assert_eq!(
            submissions.len(),
            WAVES,
            "member {i}: the bot submitted a receipt twice: {receipts:?}"
        );
        let queued: BTreeSet<String> = outbox
            .iter()
            .filter(|m| m["kind"] == "receipt" && m["recipients"][0] == member(i))
            .map(|m| format!("<{}>", m["message_id"].as_str().unwrap()))
            .collect();
        assert_eq!(
            distinct.into_iter().cloned().collect::<BTreeSet<_>>(),
            queued,
            "member {i}"
        );
    }
}

/// The queue id Postfix gave the submission of `m`: from the Received header its
/// smtpd wrote (`by mx.mail-ballot.test (Postfix) with ESMTP id 4F2A1B...`).
fn submission_id(m: &crate::harness::StoredMessage) -> String {
    m.headers("Received")
        .iter()
        .find(|r| r.contains("(Postfix)"))
        .and_then(|r| r.split(" id ").nth(1))
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == ';').next())
        .unwrap_or("")
        .to_string()
}

/// After each of several Dovecot restarts during IDLE, with no mail in between,
/// the daemon is reading again within seconds. A reconnect that finds nothing new
/// goes straight back to IDLE and never finishes a step; if only a finished step
/// ended the outage, every restart would double the pause before the next
/// reconnect (1, 2, 4, 8, 16 s ...), and after a few the daemon would read its
/// mail long after the server was back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reads_again_soon_after_every_dovecot_restart() {
    const RESTARTS: usize = 5;
    // Generous for a loaded machine: a restart costs a pause of 1 s, and 2 s more
    // while Dovecot is still coming back.
    const SOON: Duration = Duration::from_secs(10);
    let mut c = Committee::start(1).await;
    let r = c.open_budget(None);
    let a = c
        .wait_for_id(&member(1), &format!("b-{}-001.r1.announce.", &r[2..6]))
        .await;
    let log = c.stack.dir().join("daemon.log");
    let connections = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("connected to the IMAP server")
            .count()
    };
    let mut daemon = c.daemon(&log);
    let mut back = Instant::now();
    for k in 0..=RESTARTS {
        // Connected (its first read, or its read after restart k) and idling.
        while connections() <= k {
            assert!(
                back.elapsed() < SOON,
                "restart {k}: the daemon did not read the mailbox within {SOON:?} of Dovecot being back\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "restart {k}: read again {:?} after Dovecot was back",
            back.elapsed()
        );
        if k == RESTARTS {
            break;
        }
        // In IDLE for longer than the pause that brought it back.
        tokio::time::sleep(Duration::from_secs(5)).await;
        c.stack.restart_dovecot().await;
        back = Instant::now();
    }
    // And it reads what comes (straight into the mailbox: no Postfix retry times).
    let raw = reply(
        &a,
        &member(1),
        "賛成します。",
        Client::Thunderbird,
        "f-1@org1.test",
    );
    c.stack.append(BOT, &raw, None).await;
    let sent = Instant::now();
    while recorded(&c).await == 0 {
        assert!(sent.elapsed() < SOON, "the reply was not read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
