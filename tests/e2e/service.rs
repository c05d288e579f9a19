//! The daemon as a service supervisor sees it: one per database, and a
//! SIGTERM that stops it cleanly (exit 0) without losing a reply.

use std::process::Child;
use std::time::{Duration, Instant};

use crate::committee::{member, reply, Client, Committee, BOT, WAIT};

/// Kills the daemon when a test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for `child` to exit, at most `limit`.
fn exited(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_one_database_is_refused_naming_the_first() {
    let c = Committee::start(2).await;
    let log = c.stack.dir().join("daemon.log");
    let mut first = Running(c.daemon(&log));
    // The first has started once it has read the mailbox (its lock is taken
    // before anything else).
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first daemon runs"
    );
    let second = c.try_cli(&["run"], None);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("another mail-ballot daemon is running on this database")
            && err.contains(&format!("pid {}", first.0.id())),
        "{err}"
    );
    // Commands still work beside it.
    let out = c.cli(&["list"], None);
    assert!(!out.contains("error"), "{out}");
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first one goes on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_stops_cleanly_and_loses_nothing() {
    const ORGS: usize = 30;
    let c = Committee::start_with(ORGS, "[limits]\nmessages_per_transaction = 5\n").await;
    let r = c.open_budget(None);
    let a = c.announcement(&r, 1).await;
    for i in 1..=ORGS {
        let id = format!("burst{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(&a, &member(i), "賛成します。", Client::Thunderbird, &id),
        )
        .await;
    }
    // The announcement's list copy and every reply are in the bot's mailbox.
    c.stack.wait_for_messages(BOT, ORGS + 1, WAIT).await;

    let log = c.stack.dir().join("daemon.log");
    let mut daemon = Running(c.daemon(&log));
    // Let it start on the backlog, then ask it to stop.
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = exited(&mut daemon.0, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the daemon did not stop within 30 s of SIGTERM"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit {status}\n{text}");
    assert!(text.contains("mail-ballot stopped"), "{text}");
    assert!(!text.contains("ERROR"), "{text}");

    // What it had not read yet is read by the next start; nothing twice.
    c.cli(&["poll"], None);
    let v = c.show(&r);
    let votes = v["votes"].as_array().unwrap();
    assert_eq!(votes.len(), ORGS, "{votes:#?}");
    c.assert_record_holds();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_manager_hears_ready_watchdog_pings_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let c = Committee::start(2).await;
    let socket = c.stack.dir().join("notify.sock");
    let listener = UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = Running(c.daemon_with_env(
        &log,
        &[
            ("NOTIFY_SOCKET", socket.to_str().unwrap()),
            // Every 2 s: the scheduler pings at least every second.
            ("WATCHDOG_USEC", "2000000"),
        ],
    ));
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = listener
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification: {e}"));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.starts_with("READY=1\nSTATUS="), "{first}");
    let started = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        assert_eq!(next(), "WATCHDOG=1");
        pings += 1;
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "pings come well within the interval"
    );
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) };
    let mut last = next();
    while last == "WATCHDOG=1" {
        last = next();
    }
    assert_eq!(last, "STOPPING=1");
    let status = exited(&mut daemon.0, Duration::from_secs(20)).expect("stopped");
    assert!(status.success(), "{status}");
}

/// The display name of the From of `m`.
fn from_name(m: &crate::harness::StoredMessage) -> String {
    mail_parser::MessageParser::default()
        .parse(&m.raw)
        .and_then(|p| {
            p.from()
                .and_then(|f| f.first())
                .and_then(|a| a.name().map(str::to_string))
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_takes_a_valid_configuration_and_keeps_the_running_one_when_the_new_is_broken() {
    let c = Committee::start(3).await;
    let r = c.open_budget(None);
    let prefix = r.to_lowercase();
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}.r1.announce."))
        .await;
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = Running(c.daemon(&log));
    let hup = |d: &Running| {
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(d.0.id() as libc::pid_t, libc::SIGHUP) };
    };
    let wait_log = |what: &str, n: usize| {
        let until = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.matches(what).count() >= n {
                return text;
            }
            assert!(
                Instant::now() < until,
                "the log never said {what:?}\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_log("mail-ballot running", 1);

    // A new bot name: the receipts the daemon sends from now on carry it.
    let original = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(
        &c.config,
        original.replace(
            "bot_name = \"テスト協議会 メール審議\"",
            "bot_name = \"新しい名前\"",
        ),
    )
    .unwrap();
    hup(&daemon);
    wait_log("configuration reloaded", 1);
    c.send(
        &member(1),
        &reply(&a, &member(1), "賛成", Client::Thunderbird, "r1@org1.test"),
    )
    .await;
    let receipt = c
        .wait_for_id(&member(1), &format!("{prefix}.r1.receipt."))
        .await;
    assert_eq!(from_name(&receipt), "新しい名前");

    // A broken one is refused, the reason logged, and the daemon goes on.
    std::fs::write(&c.config, format!("{original}\n[no_such_section]\n")).unwrap();
    hup(&daemon);
    let text = wait_log("the new configuration is refused", 1);
    assert!(text.contains("no_such_section"), "{text}");
    c.send(
        &member(2),
        &reply(&a, &member(2), "反対", Client::Thunderbird, "r2@org2.test"),
    )
    .await;
    let receipt = c
        .wait_for_id(&member(2), &format!("{prefix}.r1.receipt."))
        .await;
    assert_eq!(
        from_name(&receipt),
        "新しい名前",
        "still the last good configuration"
    );
    assert!(daemon.0.try_wait().unwrap().is_none(), "still running");
    // SAFETY: as above.
    unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) };
    assert!(exited(&mut daemon.0, Duration::from_secs(20))
        .unwrap()
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_daemon_records_a_burst_verifies() {
    const ORGS: usize = 30;
    let c = Committee::start_with(ORGS, "[limits]\nmessages_per_transaction = 5\n").await;
    let r = c.open_budget(None);
    let a = c.announcement(&r, 1).await;
    let log = c.stack.dir().join("daemon.log");
    let _daemon = Running(c.daemon(&log));
    for i in 1..=ORGS {
        let id = format!("b{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(&a, &member(i), "賛成", Client::Thunderbird, &id),
        )
        .await;
    }
    // While the daemon reads and answers them.
    let copy = c.stack.dir().join("backups/ballots-1.sqlite");
    let out = c.cli(&["backup", copy.to_str().unwrap()], None);
    assert!(
        out.contains("backup written to") && out.contains("audit trail intact"),
        "{out}"
    );
    // Never over an existing file.
    let again = c.try_cli(&["backup", copy.to_str().unwrap()], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_down_past_the_limit_is_alerted_once_reported_critical_and_cleared_once() {
    let mut c = Committee::start_with(2, "[alerts]\nmailbox_stale_after = \"1m\"\n").await;
    let log = c.stack.dir().join("daemon.log");
    let _daemon = Running(c.daemon(&log));
    // Fine while it reads.
    std::thread::sleep(Duration::from_secs(2));
    let ok = c.try_cli(&["status"], None);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("daemon:     running (pid"));

    c.stack.stop_dovecot().await;
    // Past the limit (and the daemon's first minute), status is critical and
    // says why.
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        let o = c.try_cli(&["status", "--json"], None);
        if o.status.code() == Some(2) {
            break serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();
        }
        assert!(
            Instant::now() < until,
            "never critical: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(status["severity"], "critical");
    let finding = status["findings"][0]["what"].as_str().unwrap();
    assert!(
        finding.starts_with("the mailbox has not been read for"),
        "{finding}"
    );
    assert!(
        status["mailbox"]["last_error"].as_str().is_some(),
        "{status:#}"
    );
    // The alert has been queued; give the scheduler a pass to hand it over.
    std::thread::sleep(Duration::from_secs(12));
    c.stack.start_dovecot().await;

    // The admins get one alert, then one all-clear once the mailbox is read.
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let ids = alert_ids(&c).await;
        if ids.iter().any(|id| id.contains(".clear.")) {
            assert_eq!(
                ids.iter().filter(|id| id.contains(".alert.")).count(),
                1,
                "{ids:?}"
            );
            assert_eq!(
                ids.iter().filter(|id| id.contains(".clear.")).count(),
                1,
                "{ids:?}"
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "no all-clear: {ids:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ok = c.try_cli(&["status"], None);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

/// The Message-IDs of the mailbox alerts in the chair's mailbox.
async fn alert_ids(c: &Committee) -> Vec<String> {
    c.stack
        .messages(crate::committee::CHAIR)
        .await
        .into_iter()
        .filter_map(|m| m.header("Message-ID"))
        .filter(|id| id.contains("alert.mailbox."))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_metrics_and_health_where_http_listen_says() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Committee::start_with(2, &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    let log = c.stack.dir().join("daemon.log");
    let _daemon = Running(c.daemon(&log));
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let until = Instant::now() + WAIT;
    let metrics = loop {
        match get("/metrics") {
            Some(m) if m.contains("mail_ballot_mailbox_last_read_timestamp_seconds") => break m,
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(200)),
            other => panic!(
                "no metrics: {other:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    };
    assert!(metrics.contains("mail_ballot_health 0"), "{metrics}");
    let health = get("/healthz").unwrap();
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
}
