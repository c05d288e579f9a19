//! Killing the daemon at any moment loses nothing and counts nothing twice.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::committee::{member, reply, Client, Committee, BOT, WAIT};

/// Members' replies recorded for the ballot (their Message-IDs start with `w`;
/// the bot's own copies of what it sent are recorded too, and not counted here).
fn replies_recorded(show: &serde_json::Value) -> usize {
    show["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["message_id"]
                .as_str()
                .is_some_and(|id| id.starts_with('w'))
        })
        .count()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemon_between_messages_and_mid_batch_loses_and_doubles_nothing() {
    const ORGS: usize = 40;
    // Small transactions, so that kills land between commits as well as inside one.
    let c = Committee::start_with(ORGS, "[limits]\nmessages_per_transaction = 10\n").await;
    let r = c.open_budget(None);
    let year = &r[2..6];
    let a = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.announce."))
        .await;

    // Three waves, each delivered before the next is sent, so the servers' order is the
    // order of the answers: everyone 賛成, everyone 反対, then every third back to 賛成.
    let mut sent = 1; // the announcement's copy through the list
    let mut ids = BTreeSet::new();
    for (wave, answer) in [
        (1, "賛成します。"),
        (2, "反対に変更します。"),
        (3, "やはり賛成します。"),
    ] {
        for i in 1..=ORGS {
            if wave == 3 && !i.is_multiple_of(3) {
                continue;
            }
            let id = format!("w{wave}-{i}@org{i}.test");
            c.send(
                &member(i),
                &reply(&a, &member(i), answer, Client::Thunderbird, &id),
            )
            .await;
            ids.insert(id);
            sent += 1;
        }
        c.stack.wait_for_messages(BOT, sent, WAIT).await;
    }

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("kill schedule seed: {seed}");
    let mut rng = Lcg(seed);
    let log = c.stack.dir().join("daemon.log");
    let (mut kills, mut mid_run) = (0, 0);
    loop {
        let mut daemon = c.daemon(&log);
        // Kills come a little later each time (with some jitter): the first
        // ones land before the daemon has started reading, a later one while
        // it reads the backlog, however fast this machine reads it.
        let delay = 20 + 15 * kills + rng.next(0, 15);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        daemon.kill().unwrap(); // SIGKILL: no chance to tidy up
        daemon.wait().unwrap();
        kills += 1;
        let recorded = replies_recorded(&c.show(&r));
        if recorded == ids.len() && kills >= 5 {
            break;
        }
        if recorded > 0 && recorded < ids.len() {
            mid_run += 1;
        }
        assert!(
            kills < 200,
            "the daemon never finished ({recorded} of {} replies recorded after {kills} kills)",
            ids.len()
        );
    }
    println!("{kills} kills, {mid_run} of them with the backlog partly read");
    assert!(
        mid_run >= 1,
        "no kill landed while the backlog was being read; the test proved nothing"
    );

    // A clean pass finds no reply left unread (only the bot's copies of mail it
    // sent just before the last kill), then finishes sending. A send the kill
    // interrupted keeps its claim for 5 minutes and then waits until the mailbox
    // has been read a minute past it: run the clock on past both, once what the
    // killed daemon handed Postfix has been delivered (a minute of real time would
    // see to that; a clock moved ahead does not).
    c.stack.wait_for_empty_queue(WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(!out.contains("vote"), "a reply was left unread: {out}");
    let later = chrono::Utc::now() + chrono::Duration::minutes(7);
    for _ in 0..3 {
        c.cli(&["poll"], Some(later));
        c.cli(&["tick"], Some(later));
    }

    // Every receipt reached its member exactly once, however the sender was killed.
    for i in 1..=ORGS {
        let expected = if i.is_multiple_of(3) { 3 } else { 2 };
        let got = c
            .stack
            .wait_for_messages(&member(i), 1 + expected, WAIT)
            .await;
        let receipts: Vec<String> = got
            .iter()
            .filter_map(|m| m.header("Message-ID"))
            .filter(|id| id.contains(".receipt."))
            .collect();
        let distinct: BTreeSet<&String> = receipts.iter().collect();
        assert_eq!(
            receipts.len(),
            expected,
            "member {i} got receipts {receipts:?}"
        );
        assert_eq!(
            distinct.len(),
            expected,
            "member {i} got a receipt twice: {receipts:?}"
        );
    }

    let v = c.show(&r);
    let replies: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_id"].as_str().map(str::to_string))
        .filter(|id| id.starts_with('w'))
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
    let expected_yes = (1..=ORGS).filter(|i| i.is_multiple_of(3)).count() as u64;
    assert_eq!(counts["yes"].as_u64(), Some(expected_yes));
    assert_eq!(counts["no"].as_u64(), Some(ORGS as u64 - expected_yes));
    // The cursor and the database agree: every reply processed in order of arrival.
    for row in v["current"]["answers"].as_array().unwrap() {
        let org: usize = row["org"].as_str().unwrap()[3..].parse().unwrap();
        let want = if org.is_multiple_of(3) { "yes" } else { "no" };
        assert_eq!(row["position"], want, "org {org}");
    }
    // Killed forty-odd times, the record still holds together.
    c.assert_record_holds();
}
