//! A committee on a real mail stack: members with mailboxes, the bot, the chair,
//! the secretariat, the committee list, and a mail-ballot configuration pointing
//! at the stack. Tests drive the real `mail-ballot` binary as an admin would,
//! and play the members by sending mail over SMTP.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::harness::{MailStack, ServerCert, StoredMessage};

pub const BOT: &str = "bot@committee.test";
pub const LIST: &str = "steering@committee.test";
pub const CHAIR: &str = "chair@committee.test";
pub const SECRETARIAT: &str = "secretariat@committee.test";
pub const CSIRT: &str = "csirt@committee.test";
/// The personal-ballot token key every test's daemon gets from the environment.
pub const TOKEN_KEY: &str = "6d61696c2d62616c6c6f742074657374206b6579";

/// A verification policy that accepts only personal-ballot tokens.
pub const VERIFY_BY_TOKEN: &str = r#"
[verification]
accept = ["token"]
token_secret_env = "MAIL_BALLOT_TOKEN_KEY"
"#;

/// The address inside `<…>` of a header, or the whole value.
pub fn address(header: &str) -> String {
    match (header.find('<'), header.find('>')) {
        (Some(a), Some(b)) if a < b => header[a + 1..b].to_string(),
        _ => header.trim().to_string(),
    }
}

/// How long a test waits for mail to arrive before failing with the servers' logs.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Committee {
    pub stack: MailStack,
    pub members: Vec<String>,
    pub config: PathBuf,
}

/// Member `i` (1-based): `rep{i}@org{i}.test`.
pub fn member(i: usize) -> String {
    format!("rep{i}@org{i}.test")
}

impl Committee {
    /// `n` member organisations, each with one representative.
    pub async fn start(n: usize) -> Committee {
        Self::start_with(n, "").await
    }

    /// The same, with extra configuration appended (e.g. a [[profiles]] entry).
    pub async fn start_with(n: usize, extra: &str) -> Committee {
        Self::start_on(n, None, plain_servers, extra).await
    }

    /// `n` members on a TLS stack whose servers present a certificate of kind `cert`;
    /// `servers` writes the `[mailbox]` and `[outgoing]` tables (after their `kind`
    /// line) for that stack.
    pub async fn start_tls(
        n: usize,
        cert: ServerCert,
        servers: impl FnOnce(&MailStack) -> (String, String),
        extra: &str,
    ) -> Committee {
        Self::start_on(n, Some(cert), servers, extra).await
    }

    /// `n` members on a stack with TLS (`cert`) or without (None); `servers` writes the
    /// `[mailbox]` and `[outgoing]` tables (after their `kind` line) for that stack.
    pub async fn start_on(
        n: usize,
        cert: Option<ServerCert>,
        servers: impl FnOnce(&MailStack) -> (String, String),
        extra: &str,
    ) -> Committee {
        let members: Vec<String> = (1..=n).map(member).collect();
        let mut users: Vec<&str> = members.iter().map(String::as_str).collect();
        users.extend([BOT, CHAIR, SECRETARIAT, CSIRT]);
        let mut list: Vec<&str> = members.iter().map(String::as_str).collect();
        list.push(BOT);
        let stack = match cert {
            None => MailStack::start(&users, &[(LIST, &list)]).await,
            Some(cert) => MailStack::start_tls(&users, &[(LIST, &list)], cert).await,
        };
        let dir = stack.dir().join("mail-ballot");
        std::fs::create_dir_all(&dir).unwrap();
        let mut roster = String::new();
        for (i, m) in members.iter().enumerate() {
            roster.push_str(&format!(
                "[[organisations]]\nid = \"org{:02}\"\nname = \"会員{}株式会社\"\nrepresentative = \"{m}\"\n\n",
                i + 1,
                i + 1
            ));
        }
        std::fs::write(dir.join("roster.toml"), roster).unwrap();
        let (mailbox, outgoing) = servers(&stack);
        let config = format!(
            r#"
[organisation]
name = "テスト協議会 運営委員会"

[addresses]
bot = "{BOT}"
bot_name = "テスト協議会 メール審議"
list = "{LIST}"
secretariat = ["{SECRETARIAT}"]
admins = ["{CHAIR}"]
security_contact = ["{CSIRT}"]

[mailbox]
kind = "imap"
{mailbox}

[outgoing]
kind = "smtp"
{outgoing}

[storage]
database = "ballots.sqlite"

[roster]
file = "roster.toml"

[logging]
level = "info"
{extra}
"#
        );
        let path = dir.join("mail-ballot.toml");
        std::fs::write(&path, config).unwrap();
        Committee {
            stack,
            members,
            config: path,
        }
    }

    fn command(&self, args: &[&str], now: Option<DateTime<Utc>>) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mail-ballot"));
        c.arg("--config").arg(&self.config);
        if let Some(t) = now {
            c.arg("--now").arg(t.to_rfc3339());
        }
        c.args(args)
            .env("MAIL_BALLOT_IMAP_PASSWORD", self.stack.password(BOT))
            .env("MAIL_BALLOT_TOKEN_KEY", TOKEN_KEY)
            .env_remove("MAIL_BALLOT_LOG");
        c
    }

    /// Runs a command to completion; panics with its output when it fails.
    pub fn cli(&self, args: &[&str], now: Option<DateTime<Utc>>) -> String {
        let o = self.try_cli(args, now);
        assert!(
            o.status.success(),
            "mail-ballot {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs a command and returns whatever happened.
    pub fn try_cli(&self, args: &[&str], now: Option<DateTime<Utc>>) -> Output {
        self.command(args, now).output().unwrap()
    }

    /// Starts the daemon with extra environment variables; its log goes to `log`.
    pub fn daemon_with_env(&self, log: &std::path::Path, env: &[(&str, &str)]) -> Child {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        self.command(&["run"], None)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap()
    }

    /// Starts the daemon; its log goes to `log`.
    pub fn daemon(&self, log: &std::path::Path) -> Child {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        self.command(&["run"], None)
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .unwrap()
    }

    /// Opens the ballot most tests use, 予算承認 with a 48 h deadline, at `now`
    /// (the present when None); returns its reference (`B-2026-001`).
    pub fn open_budget(&self, now: Option<DateTime<Utc>>) -> String {
        let opened = self.cli(
            &[
                "open",
                "--title",
                "予算承認",
                "--body",
                "予算案を承認する。",
                "--deadline",
                "48h",
            ],
            now,
        );
        opened.split_whitespace().nth(1).unwrap().to_string()
    }

    /// The announcement of round 1 of `r` as member `i` received it.
    pub async fn announcement(&self, r: &str, i: usize) -> StoredMessage {
        self.wait_for_id(&member(i), &format!("{}.r1.announce.", r.to_lowercase()))
            .await
    }

    /// `show REF --json`.
    pub fn show(&self, r: &str) -> serde_json::Value {
        serde_json::from_str(&self.cli(&["show", r, "--json"], None)).unwrap()
    }

    /// The record holds: `replay` recomputes every recorded result from the raw
    /// messages, and `audit verify` finds the chain intact and every table in line
    /// with it.
    pub fn assert_record_holds(&self) {
        let out = self.cli(&["replay"], None);
        assert!(out.contains("every recorded result matches"), "{out}");
        let out = self.cli(&["audit", "verify"], None);
        assert!(out.contains("audit trail intact"), "{out}");
        assert!(out.contains("match the trail"), "{out}");
    }

    /// The announcement (or any message) in `user`'s mailbox whose Message-ID starts with `prefix`.
    pub async fn wait_for_id(&self, user: &str, prefix: &str) -> StoredMessage {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let found = self.stack.messages(user).await.into_iter().find(|m| {
                m.header("Message-ID")
                    .is_some_and(|id| id.trim_start_matches('<').starts_with(prefix))
            });
            if let Some(m) = found {
                return m;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "no message {prefix}… reached {user}\n{}",
                    self.stack.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a member's reply to `to` (the bot) over SMTP.
    pub async fn send(&self, from: &str, raw: &[u8]) {
        self.stack.send(from, &[BOT], raw).await;
    }
}

/// The `[mailbox]` and `[outgoing]` tables of a plain stack: plain text to its loopback
/// ports, which the configuration allows.
pub fn plain_servers(stack: &MailStack) -> (String, String) {
    (
        format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nuser = \"{BOT}\"\npassword_env = \"MAIL_BALLOT_IMAP_PASSWORD\"\nidle = true\npoll_interval_secs = 2\ntimeout_secs = 15",
            stack.imap_port()
        ),
        format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\ntimeout_secs = 15",
            stack.smtp_port()
        ),
    )
}

/// The decoded text body of a stored message.
pub fn text_of(m: &StoredMessage) -> String {
    mail_parser::MessageParser::default()
        .parse(&m.raw)
        .and_then(|p| p.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

/// The decoded subject.
pub fn subject_of(m: &StoredMessage) -> String {
    mail_parser::MessageParser::default()
        .parse(&m.raw)
        .and_then(|p| p.subject().map(str::to_string))
        .unwrap_or_default()
}

/// How a member's client writes the reply.
#[derive(Clone, Copy)]
pub enum Client {
    /// UTF-8, answer on top, the announcement quoted with `> ` under an attribution line.
    Thunderbird,
    /// ISO-2022-JP, answer on top, the announcement pasted without `>` under an Outlook header block.
    OutlookJis,
}

/// A reply to `announcement` as a member's client would write it.
pub fn reply(
    announcement: &StoredMessage,
    from: &str,
    answer: &str,
    client: Client,
    id: &str,
) -> Vec<u8> {
    let subject = format!("Re: {}", subject_of(announcement));
    let irt = announcement.header("Message-ID").unwrap();
    let quoted = text_of(announcement);
    let encoded_subject = format!("=?UTF-8?B?{}?=", base64(subject.as_bytes()));
    match client {
        Client::Thunderbird => {
            let body = format!(
                "{answer}\n\n2026/11/24 10:00, テスト協議会 メール審議 wrote:\n{}\n",
                quoted
                    .lines()
                    .map(|l| format!("> {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            format!(
                "From: Member <{from}>\r\nTo: <{BOT}>\r\nSubject: {encoded_subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {irt}\r\nReferences: {irt}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
                Utc::now().to_rfc2822(),
                body.replace('\n', "\r\n")
            )
            .into_bytes()
        }
        Client::OutlookJis => {
            let body = format!(
                "{answer}\r\n\r\n-----Original Message-----\r\nFrom: テスト協議会 メール審議 <{BOT}>\r\nSent: Tuesday, November 24, 2026 10:00 AM\r\nTo: {LIST}\r\nSubject: {}\r\n\r\n{}\r\n",
                subject_of(announcement),
                quoted.replace('\n', "\r\n")
            );
            let (jis, _, _) = encoding_rs::ISO_2022_JP.encode(&body);
            let mut raw = format!(
                "From: Member <{from}>\r\nTo: <{BOT}>\r\nSubject: {encoded_subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {irt}\r\nReferences: {irt}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"ISO-2022-JP\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
                Utc::now().to_rfc2822()
            )
            .into_bytes();
            raw.extend_from_slice(&jis);
            raw
        }
    }
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
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
