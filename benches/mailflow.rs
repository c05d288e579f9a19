//! The end-to-end figures (`scripts/bench`): backlog throughput against the floor of a
//! bare fetch, latency from SMTP acceptance to a committed vote, memory, and replay.
//!
//! Everything runs against a private Dovecot and Postfix started by the e2e harness
//! (`tests/e2e/harness`), and the real `mail-ballot` binary, as an operator runs it:
//!
//! - **backlog**: N realistic messages (the reply corpus in every client shape and
//!   charset, votes for nine open ballots from 200 organisations, questions, list
//!   traffic, strangers, and the real bounces and auto-replies) are written straight
//!   into a Maildir (LMTP would take minutes), Dovecot indexes them, and then, in the
//!   same run: a bare `UID FETCH 1:* BODY.PEEK[]` by a minimal client (the floor), and a
//!   cold `mail-ballot poll` (fetch, store raw, read, verify, count, queue receipts);
//! - **latency**: the daemon idles in IDLE; 200 replies are submitted over SMTP one by
//!   one, each timed from Postfix's 250 after DATA to its row being visible in SQLite;
//! - **memory**: the daemon's RSS while idle (VmRSS, VmHWM), and the peak RSS of the
//!   100,000-message poll (wait4's ru_maxrss);
//! - **replay**: `mail-ballot replay` over the 100,000 stored messages.
//!
//! `cargo bench --bench mailflow` runs the full sizes and writes the table to
//! `target/bench/mailflow.md`; `-- --quick` runs a small backlog. Under `cargo test`
//! (no `--bench` argument) it runs a tiny version as a smoke test, so the benchmark
//! cannot rot unnoticed. Needs root (Postfix's master), like the e2e tests.

#[path = "../tests/e2e/harness/mod.rs"]
#[allow(unused_imports)]
mod harness;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use sqlx::ConnectOptions;

use harness::MailStack;

const BOT: &str = "bot@committee.test";
const LIST: &str = "steering@committee.test";
/// The bot and list of the second latency run (polling instead of IDLE).
const BOT2: &str = "bot2@committee.test";
const LIST2: &str = "steering2@committee.test";
const CHAIR: &str = "chair@committee.test";
const SECRETARIAT: &str = "secretariat@committee.test";
/// Organisations on the roster: votes come from all of them.
const ORGS: usize = 1000;
/// The first organisations have mailboxes and are the committee list: the
/// latency run's replies come from them, and its receipts go to them.
const WITH_MAILBOX: usize = 50;
/// Ballots open at once; the corpus names B-2026-007, so at least seven.
const BALLOTS: usize = 9;
/// The backlog's ballots opened at this instant (the corpus is dated 2026-11-24).
const OPENED: &str = "2026-11-20T00:00:00Z";

fn member(i: usize) -> String {
    format!("rep{i}@org{i}.test")
}

/// How big a run is.
struct Sizes {
    backlogs: Vec<usize>,
    latency_replies: usize,
    /// Written to target/bench/mailflow.md (full runs only).
    record: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|a| a == "--bench");
    let sizes = if !benching {
        Sizes {
            backlogs: vec![300],
            latency_replies: 5,
            record: false,
        }
    } else if args.iter().any(|a| a == "--quick") {
        // MAILFLOW_N=10000 picks another size for a quick look.
        let n = std::env::var("MAILFLOW_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000);
        Sizes {
            backlogs: vec![n],
            latency_replies: std::env::var("MAILFLOW_LATENCY")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(50),
            record: false,
        }
    } else {
        Sizes {
            backlogs: vec![10_000, 100_000],
            latency_replies: 200,
            record: true,
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let table = rt.block_on(run(&sizes));
    print!("{table}");
    if sizes.record {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
        fs::create_dir_all(&dir).expect("target/bench");
        let file = dir.join("mailflow.md");
        fs::write(&file, &table).expect("write the table");
        println!("\nwritten to {}", file.display());
    }
}

/// One row of the table.
struct Row {
    what: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

impl Row {
    fn new(what: impl Into<String>, figure: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            figure: figure.into(),
            target: String::new(),
            met: None,
        }
    }
    fn target(mut self, target: &str, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }
}

async fn run(sizes: &Sizes) -> String {
    let members: Vec<String> = (1..=WITH_MAILBOX).map(member).collect();
    let inboxes: Vec<String> = sizes
        .backlogs
        .iter()
        .map(|n| format!("backlog{n}@committee.test"))
        .collect();
    let mut users: Vec<&str> = members.iter().map(String::as_str).collect();
    users.extend([BOT, BOT2, CHAIR, SECRETARIAT]);
    users.extend(inboxes.iter().map(String::as_str));
    let mut list: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut list2 = list.clone();
    list.push(BOT);
    list2.push(BOT2);
    let started = Instant::now();
    let stack = MailStack::start(&users, &[(LIST, &list), (LIST2, &list2)]).await;
    let work = stack.dir().join("bench");
    fs::create_dir_all(&work).unwrap();
    // The backlog: a hosted deployment's worth of organisations. The latency
    // run: a committee the size of ISOG-J's, whose members have mailboxes.
    write_roster(&work, "roster.toml", ORGS);
    write_roster(&work, "committee.toml", WITH_MAILBOX);
    let corpus = Corpus::load();
    let mut rows = Vec::new();
    let mut last_db = None;

    for (n, inbox) in sizes.backlogs.iter().zip(&inboxes) {
        let n = *n;
        let t = Instant::now();
        let bytes = corpus.write_maildir(&stack.maildir(inbox), n);
        eprintln!(
            "[{:>6.1} s] {n} messages ({:.1} MB) written in {:.1} s",
            started.elapsed().as_secs_f64(),
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let password = stack.password(inbox);
        // Dovecot indexes the folder on first access; neither side is charged for it.
        let t = Instant::now();
        let warm = bare_fetch(stack.imap_port(), inbox, &password, "(UID RFC822.SIZE)");
        assert_eq!(warm.messages, n, "Dovecot sees every message written");
        eprintln!(
            "[{:>6.1} s] indexed by Dovecot in {:.1} s",
            started.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        // The floor: the same bytes by a client that does nothing with them. Three
        // runs, the median kept: the first also warms the page cache.
        let mut floors: Vec<Fetch> = (0..3)
            .map(|_| bare_fetch(stack.imap_port(), inbox, &password, "BODY.PEEK[]"))
            .collect();
        floors.sort_by(|a, b| a.secs.total_cmp(&b.secs));
        let floor = floors.swap_remove(1);
        assert_eq!(floor.messages, n);

        let db = work.join(format!("backlog{n}.sqlite"));
        let config = write_config(
            &work,
            &format!("backlog{n}"),
            &Mailbox::Imap {
                port: stack.imap_port(),
                user: inbox,
                bot: BOT,
                list: LIST,
                how: "idle = true",
            },
            &Outgoing::Files,
            &db,
            "roster.toml",
        );
        let opened: DateTime<Utc> = OPENED.parse().unwrap();
        for b in 1..=BALLOTS {
            cli(
                &config,
                &password,
                Some(opened),
                &open_args(b, "2027-01-29 17:00"),
            );
        }
        let poll = timed_run(profiled(
            cli_command(&config, &password, None, &["poll"]),
            &format!("poll-{n}"),
        ));
        assert!(poll.ok, "mail-ballot poll failed:\n{}", poll.stderr);
        if std::env::var_os("MAILFLOW_STDERR").is_some() {
            eprintln!("{}", poll.stderr);
        }
        let stored = scalar(&db, "SELECT COUNT(*) FROM messages").await;
        assert_eq!(stored as usize, n, "every message recorded once");
        let mix = mix(&db).await;
        let rate = n as f64 / poll.secs;
        let floor_rate = n as f64 / floor.secs;
        let ratio = poll.secs / floor.secs;
        eprintln!(
            "[{:>6.1} s] backlog {n}: poll {:.2} s ({rate:.0}/s, {:.2} s CPU), floor {:.2} s ({floor_rate:.0}/s), {mix}",
            started.elapsed().as_secs_f64(),
            poll.secs,
            poll.cpu_secs,
            floor.secs
        );
        let label = thousands(n);
        rows.push(Row::new(
            format!("backlog {label}: the messages"),
            format!("{:.1} MB; {mix}", floor.bytes as f64 / 1e6),
        ));
        rows.push(Row::new(
            format!("backlog {label}: bare fetch (floor)"),
            format!("{:.2} s, {floor_rate:.0} msg/s", floor.secs),
        ));
        rows.push(
            Row::new(
                format!("backlog {label}: `mail-ballot poll`, end to end"),
                format!("{:.2} s, {rate:.0} msg/s", poll.secs),
            )
            .target("≥ 10,000 msg/s", rate >= 10_000.0),
        );
        rows.push(
            Row::new(
                format!("backlog {label}: poll / floor"),
                format!("{ratio:.2}×"),
            )
            .target("≤ 3×", ratio <= 3.0),
        );
        rows.push(
            Row::new(
                format!("backlog {label}: peak RSS of poll"),
                mib(poll.max_rss_kib),
            )
            .target("< 64 MiB (at 100,000)", poll.max_rss_kib < 64 * 1024),
        );
        if let Some(keep) = std::env::var_os("MAILFLOW_KEEP") {
            keep_backlog(Path::new(&keep), &work, &config, &db).await;
        }
        last_db = Some((n, config, password));
    }

    if let Some((n, config, password)) = &last_db {
        let replay = timed_run(profiled(
            cli_command(config, password, None, &["replay"]),
            &format!("replay-{n}"),
        ));
        assert!(replay.ok, "mail-ballot replay failed:\n{}", replay.stderr);
        assert!(
            replay.stdout.contains("every recorded result matches"),
            "replay found differences:\n{}",
            replay.stdout
        );
        eprintln!(
            "[{:>6.1} s] replay of {n}: {:.2} s, {} peak",
            started.elapsed().as_secs_f64(),
            replay.secs,
            mib(replay.max_rss_kib)
        );
        rows.push(
            Row::new(
                format!("replay of {} stored messages", thousands(*n)),
                format!("{:.2} s ({} peak)", replay.secs, mib(replay.max_rss_kib)),
            )
            .target("< 10 s (at 100,000)", replay.secs < 10.0),
        );
    }

    // MAILFLOW_LATENCY=0 (with --quick) leaves the latency runs out: a backlog A/B.
    if sizes.latency_replies == 0 {
        return table(&rows);
    }
    let idle = Waiting {
        bot: BOT,
        list: LIST,
        how: "idle = true",
        label: "IDLE",
    };
    rows.extend(latency(&stack, &work, sizes.latency_replies, started, &idle).await);
    let polling = Waiting {
        bot: BOT2,
        list: LIST2,
        how: "idle = false\npoll_interval_secs = 0.1",
        label: "polling every 0.1 s",
    };
    rows.extend(latency(&stack, &work, sizes.latency_replies, started, &polling).await);
    table(&rows)
}

/// How the daemon of a latency run waits for mail, with a bot and list of its own.
struct Waiting {
    bot: &'static str,
    list: &'static str,
    /// The [mailbox] lines that say how.
    how: &'static str,
    label: &'static str,
}

/// The daemon waiting for mail as `w` says, and `count` replies submitted one
/// by one. The rows about memory come from the IDLE run only.
async fn latency(
    stack: &MailStack,
    work: &Path,
    count: usize,
    started: Instant,
    w: &Waiting,
) -> Vec<Row> {
    let password = stack.password(w.bot);
    let name = format!("latency-{}", w.bot.split('@').next().unwrap());
    let db = work.join(format!("{name}.sqlite"));
    let log_path = work.join(format!("{name}.log"));
    let config = write_config(
        work,
        &name,
        &Mailbox::Imap {
            port: stack.imap_port(),
            user: w.bot,
            bot: w.bot,
            list: w.list,
            how: w.how,
        },
        &Outgoing::Smtp {
            port: stack.smtp_port(),
        },
        &db,
        "committee.toml",
    );
    let opened = Utc::now() - chrono::Duration::hours(1);
    let out = cli(&config, &password, Some(opened), &open_args(1, "30d"));
    let reference = out.split_whitespace().nth(1).unwrap().to_string();
    let announce: String = sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE kind = 'announce' ORDER BY id LIMIT 1",
    )
    .fetch_one(&mut connect(&db).await)
    .await
    .unwrap();

    let log = fs::File::create(&log_path).unwrap();
    let mut daemon = cli_command(&config, &password, None, &["run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // Settled: the list's copy of the announcement read, and the daemon back in IDLE.
    let mut conn = connect(&db).await;
    let settled = wait_until(Duration::from_secs(30), || async {
        scalar_on(&mut connect(&db).await, "SELECT COUNT(*) FROM messages").await >= 1
    })
    .await;
    assert!(
        settled,
        "the daemon did not read the announcement's copy within 30 s:\n{}\n{}",
        fs::read_to_string(&log_path).unwrap_or_default(),
        stack.log_tail(20)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = proc_status(daemon.id());
    eprintln!(
        "[{:>6.1} s] daemon idle: RSS {}, peak {}",
        started.elapsed().as_secs_f64(),
        mib(idle.rss_kib),
        mib(idle.hwm_kib)
    );

    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let org = i % WITH_MAILBOX + 1;
        let id = format!("lat{i}@org{org}.test");
        let raw = latency_reply(&reference, &announce, &member(org), w.bot, &id, i);
        let accepted = submit_timed(stack.smtp_port(), &member(org), w.bot, &raw);
        let deadline = accepted + Duration::from_secs(30);
        loop {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE message_id = ?")
                .bind(&id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            if n > 0 {
                times.push(accepted.elapsed());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "reply {i} was not committed within 30 s\n{}",
                fs::read_to_string(&log_path).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Members do not reply in the same millisecond; let the receipt go out.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = proc_status(daemon.id());
    // SIGTERM: the daemon stops cleanly.
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let _ = daemon.wait();
    let mut sorted = times.clone();
    sorted.sort();
    let pct = |p: usize| sorted[(sorted.len() * p / 100).min(sorted.len() - 1)];
    let (p50, p99, max) = (pct(50), pct(99), *sorted.last().unwrap());
    eprintln!(
        "[{:>6.1} s] latency ({}) over {count}: p50 {} p99 {} max {}",
        started.elapsed().as_secs_f64(),
        w.label,
        ms(p50),
        ms(p99),
        ms(max)
    );
    let mut rows = vec![
        Row::new(
            format!(
                "latency, {}, {count} replies: SMTP 250 → vote committed, p50",
                w.label
            ),
            ms(p50),
        )
        .target("< 100 ms", p50 < Duration::from_millis(100)),
        Row::new(format!("latency, {}: p99", w.label), ms(p99))
            .target("< 500 ms", p99 < Duration::from_millis(500)),
        Row::new(format!("latency, {}: max", w.label), ms(max)),
    ];
    if w.how.contains("idle = true") {
        rows.extend([
            Row::new("daemon idle (in IDLE): RSS", mib(idle.rss_kib))
                .target("< 15 MiB", idle.rss_kib < 15 * 1024),
            Row::new("daemon idle: peak RSS since start", mib(idle.hwm_kib)),
            Row::new(
                "daemon after the latency run: RSS (peak)",
                format!("{} ({})", mib(after.rss_kib), mib(after.hwm_kib)),
            ),
        ]);
    }
    rows
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let version = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "# mail-ballot end-to-end benchmark\n\n{} UTC; {cores} cores ({cpu}); Dovecot {}; Postfix {}\n",
        Utc::now().format("%Y-%m-%d %H:%M"),
        version("dovecot", "--version"),
        version("postconf", "-dh").lines().next().unwrap_or(""),
    );
    let _ = writeln!(out, "| measure | figure | target | met |");
    let _ = writeln!(out, "|---|---|---|---|");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(out, "| {} | {} | {} | {met} |", r.what, r.figure, r.target);
    }
    out
}

// ---- the messages ------------------------------------------------------------

/// The shapes messages are made from: the reply corpus and the real automated mail.
struct Corpus {
    replies: Vec<Vec<u8>>,
    automated: Vec<Vec<u8>>,
}

impl Corpus {
    fn load() -> Corpus {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let read = |dir: &str| -> Vec<Vec<u8>> {
            let mut files: Vec<PathBuf> = fs::read_dir(root.join(dir))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect();
            files.sort();
            files.iter().map(|p| fs::read(p).unwrap()).collect()
        };
        Corpus {
            replies: read("replies"),
            automated: read("automated"),
        }
    }

    /// Message `n` of a backlog: 80 % replies (every client, charset and position
    /// of the corpus, from the roster's organisations, to the nine ballots), 10 %
    /// bounces and auto-replies, 5 % list traffic naming no ballot, 5 % replies from
    /// strangers.
    fn message(&self, n: usize) -> Vec<u8> {
        let id = format!("<bench{n}@mailflow.test>");
        let org = (n * 31 + 7) % ORGS + 1;
        match n % 20 {
            0 | 1 => {
                let raw = &self.automated[(n / 20) % self.automated.len()];
                rewrite_headers(raw, &id, None, None)
            }
            2 => format!(
                "From: Member {org} <{}>\r\nTo: {LIST}\r\nSubject: 次回会議の日程について\r\nMessage-ID: {id}\r\nDate: Tue, 24 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n皆様\r\n\r\n次回の運営委員会は12月10日の予定です。\r\n資料は追ってお送りします。\r\n",
                member(org)
            )
            .into_bytes(),
            3 => {
                let raw = &self.replies[(n / 20 * 7) % self.replies.len()];
                rewrite_headers(raw, &id, None, None)
            }
            _ => {
                let raw = &self.replies[(n * 7) % self.replies.len()];
                let ballot = n % BALLOTS + 1;
                rewrite_headers(raw, &id, Some(&member(org)), Some(ballot))
            }
        }
    }

    /// Writes `n` messages into `maildir`'s cur/ (as a delivery agent would, minus
    /// the fsyncs), dated an hour after the ballots opened and on over nine days.
    /// Returns the bytes written.
    fn write_maildir(&self, maildir: &Path, n: usize) -> usize {
        let cur = maildir.join("cur");
        let opened: DateTime<Utc> = OPENED.parse().unwrap();
        let start = opened.timestamp() + 3600;
        let span = 9 * 86_400;
        let mut bytes = 0;
        for i in 0..n {
            let raw = self.message(i);
            bytes += raw.len();
            let at = start + (i as i64 * span) / n as i64;
            let name = format!("{at}.M{i}P1.mailflow,S={}:2,", raw.len());
            let path = cur.join(name);
            fs::write(&path, &raw).unwrap();
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(at as u64);
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(when))
                .unwrap();
        }
        bytes
    }
}

/// Rewrites the header section of a corpus message: a fresh Message-ID, the sender
/// (the address in From, when given), the bot's address, and the ballot named in
/// plain-text headers. Encoded subjects keep B-2026-007, which is open too.
fn rewrite_headers(raw: &[u8], id: &str, from: Option<&str>, ballot: Option<usize>) -> Vec<u8> {
    let split = find(raw, b"\r\n\r\n")
        .map(|i| i + 2)
        .or_else(|| find(raw, b"\n\n").map(|i| i + 1))
        .unwrap_or(raw.len());
    let (head, body) = raw.split_at(split);
    let text = String::from_utf8_lossy(head);
    let crlf = text.contains("\r\n");
    let mut lines: Vec<String> = Vec::new();
    let mut saw_id = false;
    let mut in_from = false;
    // Inside a header written anew: its continuation lines go too.
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let l = line.trim_end_matches(['\r', '\n']);
        let continuation = l.starts_with([' ', '\t']);
        if !continuation {
            in_from = false;
        }
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("message-id:") {
            saw_id = true;
            lines.push(format!("Message-ID: {id}"));
            skipping = true;
            continue;
        }
        // A reply names its ballot in the subject, often encoded: written anew
        // (as Gmail encodes it) so that the answers spread over every ballot.
        if let (Some(k), true) = (ballot, lower.starts_with("subject:")) {
            let subject = format!("Re: [B-2026-{k:03}] 議案 {k} について");
            lines.push(format!(
                "Subject: =?UTF-8?B?{}?=",
                base64(subject.as_bytes())
            ));
            skipping = true;
            continue;
        }
        if continuation && skipping {
            continue;
        }
        skipping = false;
        let mut l = l.replace("ballot@ballot.example.org", BOT);
        if let Some(k) = ballot {
            l = l
                .replace("B-2026-007", &format!("B-2026-{k:03}"))
                .replace("b-2026-007", &format!("b-2026-{k:03}"));
        }
        if lower.starts_with("from:") {
            in_from = true;
        }
        if let (true, Some(addr)) = (in_from, from) {
            if let (Some(a), Some(b)) = (l.rfind('<'), l.rfind('>')) {
                if a < b {
                    l = format!("{}<{addr}>{}", &l[..a], &l[b + 1..]);
                }
            } else if lower.starts_with("from:") && l.contains('@') {
                l = format!("From: {addr}");
            }
        }
        lines.push(l);
    }
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if !saw_id {
        out.push_str(&format!("Message-ID: {id}{eol}"));
    }
    for l in lines {
        if l.is_empty() {
            continue;
        }
        out.push_str(&l);
        out.push_str(eol);
    }
    out.push_str(eol);
    let mut bytes = out.into_bytes();
    // The header split consumed the blank line; the body follows it.
    let body = if body.starts_with(b"\r\n") {
        &body[2..]
    } else if body.starts_with(b"\n") {
        &body[1..]
    } else {
        body
    };
    bytes.extend_from_slice(body);
    bytes
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A Thunderbird-style reply for the latency run: UTF-8, the answer on top.
fn latency_reply(
    reference: &str,
    announce: &str,
    from: &str,
    bot: &str,
    id: &str,
    i: usize,
) -> Vec<u8> {
    let answer = ["賛成します。", "反対します。", "棄権します。"][i % 3];
    format!(
        "From: Member <{from}>\r\nTo: <{bot}>\r\nSubject: Re: [{reference}] 予算承認\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{announce}>\r\nReferences: <{announce}>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{answer}\r\n\r\n2026/11/24 10:00, メール審議 wrote:\r\n> 予算案を承認することについて、賛成・反対・棄権でご回答ください。\r\n",
        Utc::now().to_rfc2822()
    )
    .into_bytes()
}

// ---- configuration and the binary ---------------------------------------------------

/// A roster of `n` organisations, `rep{i}@org{i}.test` each, and an observer.
fn write_roster(dir: &Path, file: &str, n: usize) {
    let mut roster = String::new();
    for i in 1..=n {
        let _ = write!(
            roster,
            "[[organisations]]\nid = \"org{i:03}\"\nname = \"会員{i}株式会社\"\nrepresentative = \"{}\"\n\n",
            member(i)
        );
    }
    roster.push_str(
        "[[participants]]\nname = \"オブザーバー\"\naddress = \"observer@committee.test\"\nrole = \"observer\"\n",
    );
    fs::write(dir.join(file), roster).unwrap();
}

enum Mailbox<'a> {
    Imap {
        port: u16,
        user: &'a str,
        /// The bot's address and the committee list.
        bot: &'a str,
        list: &'a str,
        /// How it waits: the `idle` and `poll_interval_secs` lines.
        how: &'a str,
    },
}

enum Outgoing {
    Smtp { port: u16 },
    Files,
}

fn write_config(
    dir: &Path,
    name: &str,
    mailbox: &Mailbox,
    outgoing: &Outgoing,
    db: &Path,
    roster: &str,
) -> PathBuf {
    let Mailbox::Imap {
        port,
        user,
        bot,
        list,
        how,
    } = mailbox;
    let outgoing = match outgoing {
        Outgoing::Smtp { port } => format!(
            "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\ntimeout_secs = 15"
        ),
        Outgoing::Files => format!("kind = \"file\"\npath = \"sent-{name}\""),
    };
    let config = format!(
        r#"
[organisation]
name = "ベンチマーク協議会 運営委員会"

[addresses]
bot = "{bot}"
bot_name = "ベンチマーク メール審議"
list = "{list}"
secretariat = ["{SECRETARIAT}"]
admins = ["{CHAIR}"]

[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
user = "{user}"
password_env = "MAIL_BALLOT_IMAP_PASSWORD"
{how}
timeout_secs = 60

[outgoing]
{outgoing}

[storage]
database = "{}"

[roster]
file = "{roster}"

[logging]
level = "warn"
"#,
        db.display()
    );
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, config).unwrap();
    path
}

fn open_args(b: usize, deadline: &str) -> Vec<String> {
    vec![
        "open".into(),
        "--title".into(),
        format!("議案 {b}"),
        "--body".into(),
        format!("議案 {b} を承認する。"),
        "--deadline".into(),
        deadline.into(),
    ]
}

fn cli_command<S: AsRef<str>>(
    config: &Path,
    password: &str,
    now: Option<DateTime<Utc>>,
    args: &[S],
) -> Command {
    // MAILFLOW_BIN measures another build of the same source (another profile).
    let bin = std::env::var_os("MAILFLOW_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_mail-ballot").into());
    let mut c = Command::new(bin);
    c.arg("--config").arg(config);
    if let Some(t) = now {
        c.arg("--now").arg(t.to_rfc3339());
    }
    c.args(args.iter().map(AsRef::as_ref))
        .env("MAIL_BALLOT_IMAP_PASSWORD", password);
    // MAILFLOW_LOG=debug (with MAILFLOW_STDERR) shows each batch's stage times.
    match std::env::var_os("MAILFLOW_LOG") {
        Some(level) => c.env("MAIL_BALLOT_LOG", level),
        None => c.env_remove("MAIL_BALLOT_LOG"),
    };
    c
}

fn cli<S: AsRef<str>>(
    config: &Path,
    password: &str,
    now: Option<DateTime<Utc>>,
    args: &[S],
) -> String {
    let o = cli_command(config, password, now, args).output().unwrap();
    assert!(
        o.status.success(),
        "mail-ballot failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Copies a backlog's database, config and roster to `keep` (MAILFLOW_KEEP=DIR), so
/// that `replay` or `report` can be profiled again without loading the backlog anew:
/// `mail-ballot --config DIR/NAME.toml replay` (any MAIL_BALLOT_IMAP_PASSWORD).
async fn keep_backlog(keep: &Path, work: &Path, config: &Path, db: &Path) {
    fs::create_dir_all(keep).unwrap();
    let kept_db = keep.join(db.file_name().unwrap());
    // One file, the WAL folded in, by SQLite itself.
    let _ = fs::remove_file(&kept_db);
    sqlx::query("VACUUM INTO ?")
        .bind(kept_db.display().to_string())
        .execute(&mut connect(db).await)
        .await
        .unwrap();
    let text = fs::read_to_string(config)
        .unwrap()
        .replace(&db.display().to_string(), &kept_db.display().to_string());
    fs::write(keep.join(config.file_name().unwrap()), text).unwrap();
    fs::copy(work.join("roster.toml"), keep.join("roster.toml")).unwrap();
    eprintln!("kept in {}", keep.display());
}

/// `command` under `perf record -g` when `MAILFLOW_PERF` is set to 1 or to a prefix
/// of NAME (`poll`, `replay`); the profile goes to target/bench/NAME.perf (read it
/// with `perf report -i`). Otherwise `command` itself.
fn profiled(command: Command, name: &str) -> Command {
    match std::env::var("MAILFLOW_PERF") {
        Ok(v) if v == "1" || name.starts_with(v.as_str()) => {}
        _ => return command,
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    fs::create_dir_all(&dir).unwrap();
    let mut perf = Command::new("perf");
    perf.args(["record", "-g", "--call-graph", "dwarf", "-F", "999", "-o"])
        .arg(dir.join(format!("{name}.perf")))
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => perf.env(k, v),
            None => perf.env_remove(k),
        };
    }
    perf
}

/// A finished run of the binary.
struct Run {
    ok: bool,
    secs: f64,
    /// CPU seconds, user + system, of the process and its threads.
    cpu_secs: f64,
    max_rss_kib: i64,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end: wall time, and the peak RSS the kernel recorded for it.
fn timed_run(mut command: Command) -> Run {
    let out_path = std::env::temp_dir().join(format!("mailflow-{}.out", std::process::id()));
    let err_path = out_path.with_extension("err");
    let t = Instant::now();
    // Reaped by wait4 below, which also reports the peak RSS that Child::wait hides.
    #[allow(clippy::zombie_processes)]
    let child: Child = command
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(pid, child.id() as i32, "wait4");
    let run = Run {
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        secs,
        cpu_secs: (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) as f64
            + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) as f64 / 1e6,
        max_rss_kib: usage.ru_maxrss,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    let _ = fs::remove_file(out_path);
    let _ = fs::remove_file(err_path);
    run
}

struct ProcStatus {
    rss_kib: i64,
    hwm_kib: i64,
}

fn proc_status(pid: u32) -> ProcStatus {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    ProcStatus {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

// ---- the database, read beside the daemon ---------------------------------------

async fn connect(db: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .unwrap()
}

async fn scalar(db: &Path, sql: &str) -> i64 {
    scalar_on(&mut connect(db).await, sql).await
}

async fn scalar_on(conn: &mut sqlx::SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap_or(0)
}

/// What became of the backlog's messages, e.g. "vote 61 %, automated 10 %, ...".
async fn mix(db: &Path) -> String {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT disposition, COUNT(*) FROM messages GROUP BY disposition ORDER BY 2 DESC",
    )
    .fetch_all(&mut connect(db).await)
    .await
    .unwrap();
    let total: i64 = rows.iter().map(|r| r.1).sum();
    rows.iter()
        .map(|(d, c)| format!("{d} {:.0} %", *c as f64 * 100.0 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Polls `f` until it holds (true) or `limit` passes (false).
async fn wait_until<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

// ---- the minimal clients --------------------------------------------------------

/// What a bare fetch got.
struct Fetch {
    messages: usize,
    bytes: usize,
    secs: f64,
}

/// The floor: LOGIN, EXAMINE, one `UID FETCH 1:* <items>`, reading every literal and
/// doing nothing with it. Only the FETCH is timed.
fn bare_fetch(port: u16, user: &str, password: &str, items: &str) -> Fetch {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::new();
    let mut command = |tag: &str, cmd: &str, r: &mut BufReader<TcpStream>| -> (usize, usize) {
        w.write_all(format!("{tag} {cmd}\r\n").as_bytes()).unwrap();
        let (mut fetches, mut bytes) = (0, 0);
        loop {
            line.clear();
            r.read_until(b'\n', &mut line).unwrap();
            assert!(!line.is_empty(), "the server closed the connection");
            if line.starts_with(b"* ") && find(&line, b" FETCH ").is_some() {
                fetches += 1;
            }
            // A literal `{n}` ends the line; its bytes follow, then the line goes on.
            while let Some(n) = literal_len(&line) {
                let mut buf = vec![0; n];
                r.read_exact(&mut buf).unwrap();
                bytes += n;
                line.clear();
                r.read_until(b'\n', &mut line).unwrap();
            }
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                assert!(
                    line[tag.len() + 1..].starts_with(b"OK"),
                    "{cmd}: {}",
                    String::from_utf8_lossy(&line)
                );
                return (fetches, bytes);
            }
        }
    };
    let mut greeting = Vec::new();
    r.read_until(b'\n', &mut greeting).unwrap();
    command("a1", &format!("LOGIN \"{user}\" \"{password}\""), &mut r);
    command("a2", "EXAMINE INBOX", &mut r);
    let t = Instant::now();
    let (messages, bytes) = command("a3", &format!("UID FETCH 1:* {items}"), &mut r);
    let secs = t.elapsed().as_secs_f64();
    command("a4", "LOGOUT", &mut r);
    Fetch {
        messages,
        bytes,
        secs,
    }
}

/// `n` when `line` ends with the literal announcement `{n}\r\n`.
fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// Submits `raw` over SMTP and returns the instant Postfix answered 250 to the data.
fn submit_timed(port: u16, from: &str, to: &str, raw: &[u8]) -> Instant {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let expect = |r: &mut BufReader<TcpStream>, code: &str| loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "SMTP: expected {code}, got {line}");
        if line.as_bytes().get(3) != Some(&b'-') {
            return;
        }
    };
    expect(&mut r, "220");
    for (cmd, code) in [
        ("EHLO bench.mail-ballot.test".to_string(), "250"),
        (format!("MAIL FROM:<{from}> BODY=8BITMIME"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        expect(&mut r, code);
    }
    // Our replies hold no line starting with a dot: no stuffing needed.
    w.write_all(raw).unwrap();
    w.write_all(b".\r\n").unwrap();
    expect(&mut r, "250");
    let accepted = Instant::now();
    let _ = w.write_all(b"QUIT\r\n");
    accepted
}

// ---- formatting -------------------------------------------------------------------

fn mib(kib: i64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
