//! A database that fails under the running daemon: a full disk heals without a
//! restart once there is room again, and loses and doubles nothing; a database
//! that cannot be written at all stops the daemon, loudly and within `[storage]
//! give_up_after_secs`, so that its supervisor starts it again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::committee::{member, reply, Client, Committee, BOT, WAIT};

/// A tmpfs of `size` mounted on a directory for as long as it lives (we run as
/// root): a disk small enough to fill. Unmounted when dropped, also when a test fails.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cannot mount a tmpfs on {}",
            dir.display()
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Takes every free byte with a file of its own, whose path it returns.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        // `write` takes what fits; the first that takes nothing fails with ENOSPC.
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds a file there: detach it now, free it later.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Files made immutable (`chattr +i`) for as long as it lives; made mutable
/// again when dropped, or the test's directory could not be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[PathBuf]) -> Immutable {
        for f in files {
            assert!(f.exists(), "{}", f.display());
            let status = Command::new("chattr").arg("+i").arg(f).status().unwrap();
            assert!(status.success(), "chattr +i {}", f.display());
        }
        Immutable(files.to_vec())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(f).status();
        }
    }
}

/// The daemon, killed when dropped (a failed assertion must not leave it running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One number the database answers, read the way `sqlite3` would, beside the daemon.
async fn count(db: &Path, sql: &str) -> i64 {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true);
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    sqlx::Connection::close(conn).await.ok();
    n
}

/// Waits until `sql` counts at least `n`, failing with the daemon's log.
async fn wait_count(db: &Path, sql: &str, n: i64, within: Duration, log: &Path) {
    let deadline = Instant::now() + within;
    loop {
        let got = count(db, sql).await;
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {got}, not {n}, after {within:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the daemon's log holds `text` at least `n` times.
async fn wait_logged(log: &Path, text: &str, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        if logged.matches(text).count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{text}` not logged {n} times within {within:?}:\n{logged}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every member answers `a`: against where `against(i)`, for otherwise; the
/// Message-IDs are `{wave}{i}@org{i}.test`.
async fn send_wave(
    c: &Committee,
    a: &crate::harness::StoredMessage,
    wave: char,
    against: impl Fn(usize) -> bool,
) {
    for i in 1..=c.members.len() {
        let answer = if against(i) {
            "反対します。"
        } else {
            "賛成します。"
        };
        let id = format!("{wave}{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(a, &member(i), answer, Client::Thunderbird, &id),
        )
        .await;
    }
}

/// How many receipts `user` got, once there are at least `n`.
async fn receipts(c: &Committee, user: &str, n: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = c
            .stack
            .messages(user)
            .await
            .iter()
            .filter_map(|m| m.header("Message-ID"))
            .filter(|id| id.contains(".receipt."))
            .count();
        if got >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{got} receipt(s), not {n}, reached {user}\n{}",
            c.stack.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_daemon_heals_once_there_is_room_and_every_vote_counts_once() {
    const ORGS: usize = 6;
    let c = Committee::start(ORGS).await;
    let dir = c.config.parent().unwrap().to_path_buf();
    let disk = Tmpfs::mount(&dir.join("db"), "16m");
    let config = std::fs::read_to_string(&c.config).unwrap().replacen(
        "database = \"ballots.sqlite\"",
        "database = \"db/ballots.sqlite\"",
        1,
    );
    std::fs::write(&c.config, config).unwrap();
    let db = dir.join("db/ballots.sqlite");

    let r = c.open_budget(None);
    let year = &r[2..6];
    let a = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.announce."))
        .await;
    let in_bot = c.stack.messages(BOT).await.len();

    let log = c.stack.dir().join("daemon.log");
    let mut daemon = Running(c.daemon(&log));
    // The daemon has read its mailbox to the end (the announcement's copies) and waits.
    wait_count(
        &db,
        "SELECT COUNT(*) FROM cursors WHERE synced_at IS NOT NULL",
        1,
        WAIT,
        &log,
    )
    .await;

    // The disk fills up; the members answer meanwhile.
    let filler = disk.fill();
    send_wave(&c, &a, 'd', |i| i % 2 == 0).await;
    c.stack.wait_for_messages(BOT, in_bot + ORGS, WAIT).await;
    // Each attempt to record them fails, and the reader tries again (after 1, 2, 4 s).
    wait_logged(&log, "database or disk is full", 4, WAIT).await;
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "the daemon stopped at a short outage"
    );

    // Room again: the same daemon records every reply, and answers each.
    std::fs::remove_file(filler).unwrap();
    let replies =
        |wave: char| format!("SELECT COUNT(*) FROM messages WHERE message_id LIKE '{wave}%'");
    wait_count(&db, &replies('d'), ORGS as i64, WAIT * 3, &log).await;
    for i in 1..=ORGS {
        assert_eq!(receipts(&c, &member(i), 1).await, 1, "member {i}");
    }

    // And goes on as if nothing had happened: every member changes their answer,
    // and no database error follows. A connection a failed write had left inside
    // its transaction refused every later one, whichever worker the pool gave it to.
    let healed = std::fs::read_to_string(&log).unwrap().len();
    send_wave(&c, &a, 'e', |i| i % 2 == 1).await;
    wait_count(&db, &replies('e'), ORGS as i64, WAIT, &log).await;
    for i in 1..=ORGS {
        assert_eq!(receipts(&c, &member(i), 2).await, 2, "member {i}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged[healed..].contains("ERROR"),
        "a database error after the disk had room again:\n{logged}"
    );
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "healed without a restart"
    );
    drop(daemon);

    let v = c.show(&r);
    let mut ids: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["message_id"].as_str())
        .filter(|id| id.starts_with('d') || id.starts_with('e'))
        .collect();
    ids.sort_unstable();
    let mut want: Vec<String> = ['d', 'e']
        .iter()
        .flat_map(|w| (1..=ORGS).map(move |i| format!("{w}{i}@org{i}.test")))
        .collect();
    want.sort_unstable();
    assert_eq!(ids, want, "every reply recorded once");
    assert_eq!(
        v["votes"].as_array().unwrap().len(),
        2 * ORGS,
        "each vote once"
    );
    for row in v["current"]["answers"].as_array().unwrap() {
        let org: usize = row["org"].as_str().unwrap()[3..].parse().unwrap();
        let want = if org % 2 == 1 { "no" } else { "yes" };
        assert_eq!(row["position"], want, "org {org}: the later answer counts");
    }
    c.assert_record_holds();
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_written_stops_the_daemon_loudly_within_the_bound() {
    const LIMIT: Duration = Duration::from_secs(8);
    let c = Committee::start(3).await;
    let config = std::fs::read_to_string(&c.config).unwrap().replacen(
        "database = \"ballots.sqlite\"",
        &format!(
            "database = \"ballots.sqlite\"\ngive_up_after_secs = {}",
            LIMIT.as_secs()
        ),
        1,
    );
    std::fs::write(&c.config, config).unwrap();
    let dir = c.config.parent().unwrap().to_path_buf();
    let db = dir.join("ballots.sqlite");

    let r = c.open_budget(None);
    let year = &r[2..6];
    let a = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.announce."))
        .await;
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = Running(c.daemon(&log));
    wait_count(
        &db,
        "SELECT COUNT(*) FROM cursors WHERE synced_at IS NOT NULL",
        1,
        WAIT,
        &log,
    )
    .await;

    // No failure can come before this instant, so none starts the bound earlier.
    let locked_at = Instant::now();
    // Nothing can be written any more. In WAL mode a commit writes to the -wal
    // file (the database file itself only at a checkpoint), so both are locked.
    let locked = Immutable::set(&[db.clone(), dir.join("ballots.sqlite-wal")]);
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成します。",
            Client::Thunderbird,
            "i1@org1.test",
        ),
    )
    .await;
    let status = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            locked_at.elapsed() < LIMIT + Duration::from_secs(20),
            "the daemon is still running {:?} after the database was locked:\n{}",
            locked_at.elapsed(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "{status}\n{logged}");
    assert!(
        locked_at.elapsed() >= LIMIT,
        "gave up after {:?}, before the failures had lasted {LIMIT:?}:\n{logged}",
        locked_at.elapsed()
    );
    // Said twice: in the log, and as a plain line a supervisor's journal shows
    // whatever the log's format.
    assert!(
        logged.contains("ERROR giving up on the database"),
        "{logged}"
    );
    let plain = logged
        .lines()
        .find(|l| l.starts_with("error: the database has failed for "))
        .unwrap_or_else(|| panic!("no plain line on stderr:\n{logged}"));
    assert!(plain.contains("database error"), "{plain}");
    assert!(
        plain.ends_with("stopping so that the supervisor starts mail-ballot again"),
        "{plain}"
    );

    // The supervisor starts it again once the files can be written: nothing lost.
    drop(locked);
    let daemon = Running(c.daemon(&log));
    let replies = "SELECT COUNT(*) FROM messages WHERE message_id = 'i1@org1.test'";
    wait_count(&db, replies, 1, WAIT, &log).await;
    assert_eq!(receipts(&c, &member(1), 1).await, 1);
    drop(daemon);
    let v = c.show(&r);
    assert_eq!(v["votes"].as_array().unwrap().len(), 1, "{:#}", v["votes"]);
    c.assert_record_holds();
}
