//! `mail-ballot demo`: a complete scenario on embedded defaults, with nothing to
//! install. A 17-member committee (ISOG-J's size), SQLite in a folder, a Maildir
//! as the bot's mailbox and outgoing mail written as files. The demo plays the
//! members (it writes their replies into the Maildir, as a mail server would)
//! and moves the clock; everything else is the real program: the same reader,
//! ballot rules, store, outbox and scheduler the daemon runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};

use crate::admin::{self, OpenRequest};
use crate::app::{App, AppError};
use crate::ballot::deadline::format_deadline;
use crate::config::Config;
use crate::domain::BallotRef;
use crate::ingest;
use crate::language::Language;
use crate::mailbox::maildir::MaildirSource;
use crate::outbox::transport::FileTransport;
use crate::scheduler;
use crate::stdout::println;

const CONFIG: &str = include_str!("../config/mail-ballot.toml");
const ROSTER: &str = include_str!("../config/roster.toml");

struct Demo {
    app: App,
    clock: Arc<Mutex<DateTime<Utc>>>,
    mail: PathBuf,
    sent: FileTransport,
    sent_dir: PathBuf,
    delivered: usize,
}

fn e(err: AppError) -> anyhow::Error {
    anyhow!("{err}")
}

impl Demo {
    fn now(&self) -> DateTime<Utc> {
        *self.clock.lock().expect("not poisoned")
    }

    fn at(&self, jst: &str) -> anyhow::Result<()> {
        let t = DateTime::parse_from_str(&format!("{jst} +0900"), "%Y-%m-%d %H:%M %z")
            .map_err(|e| anyhow!("demo time {jst}: {e}"))?
            .with_timezone(&Utc);
        *self.clock.lock().expect("not poisoned") = t;
        println!(
            "\n── {} ──",
            format_deadline(t, self.app.config.organisation.time_zone, Language::Ja)
        );
        Ok(())
    }

    /// A member's mail arrives in the bot's Maildir now.
    fn deliver(&mut self, raw: Vec<u8>) -> anyhow::Result<()> {
        self.delivered += 1;
        let name = format!(
            "{}.demo{:04}.mail-ballot",
            self.now().timestamp(),
            self.delivered
        );
        MaildirSource::deliver(&self.mail, &name, &raw, self.now())?;
        Ok(())
    }

    async fn poll(&self) -> anyhow::Result<()> {
        let mut src = MaildirSource::new(self.mail.clone());
        let r = ingest::poll(&self.app, &mut src)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let detail: Vec<String> = r
            .by_disposition
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        if r.processed == 0 {
            println!("  the bot read the mailbox: no new mail");
        } else {
            println!(
                "  the bot read {} message(s): {}",
                r.processed,
                detail.join(", ")
            );
        }
        Ok(())
    }

    async fn tick(&self) -> anyhow::Result<()> {
        let r = scheduler::tick(&self.app, Some(&self.sent))
            .await
            .map_err(e)?;
        for (b, round, what) in &r.closed {
            println!("  {b}: round {round} closed → {what}");
            // What the record says now, not what the scenario expects: a
            // round that was not valid has a successor only if the rule and
            // the round cap opened one.
            if let Some(ballot) = self.app.store.load_ballot(*b).await? {
                let now = ballot.current_round();
                if now.number > *round {
                    println!(
                        "  {b}: round {} opened by itself (再審要請), deadline {}",
                        now.number,
                        format_deadline(
                            now.deadline,
                            self.app.config.organisation.time_zone,
                            Language::Ja
                        )
                    );
                }
            }
        }
        if r.outbox.sent > 0 {
            println!(
                "  {} mail(s) sent (written to {})",
                r.outbox.sent,
                self.sent_dir.display()
            );
        }
        Ok(())
    }

    /// The Message-ID of the round's announcement, as the bot wrote it.
    fn announcement(&self, r: BallotRef, round: u32) -> String {
        crate::outbox::message_id(
            self.app.store.message_id_key(),
            Some((r, round)),
            "announce",
            None,
            self.app.config.message_id_domain(),
        )
    }

    /// A reply as a member's client writes it: the answer on top, the
    /// announcement quoted below (which itself is full of 賛成, 反対 and 棄権).
    fn reply(
        &self,
        org: usize,
        from: &str,
        r: BallotRef,
        round: u32,
        answer: &str,
        style: Style,
    ) -> Vec<u8> {
        let b = &self.app.config.roster.organisations[org - 1];
        let irt = self.announcement(r, round);
        let quoted = "##- この行より上にご回答ください / Please reply above this line -##\n\n各位\n\n下記の議案について、メールでの審議をお願いいたします。\n■ 回答方法: 賛成 / 反対 / 棄権 のいずれかをお書きください。";
        let date = self
            .now()
            .with_timezone(&self.app.config.organisation.time_zone)
            .to_rfc2822();
        let id = format!(
            "demo-{}-{}-{}@{}",
            r.msgid_prefix(),
            org,
            self.delivered,
            from.split('@').nth(1).unwrap_or("x")
        );
        let body = match style {
            Style::Thunderbird => format!(
                "{answer}\n\n2026/11/24 10:00, 投票係 wrote:\n{}\n",
                quoted.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
            ),
            Style::Outlook => format!(
                "{answer}\n\n{}\n\n-----Original Message-----\nFrom: 投票係 <ballot@isog-j.example>\nSent: Tuesday, November 24, 2026 10:00 AM\nSubject: [{r}] 【メール審議】\n\n{quoted}\n",
                b.name
            ),
        };
        format!(
            "From: {} <{from}>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [{r}] 【メール審議】\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{irt}>\r\nReferences: <{irt}>\r\nDate: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            b.name,
            body.replace('\n', "\r\n")
        )
        .into_bytes()
    }

    /// The same, encoded ISO-2022-JP as older Japanese clients still send it.
    fn reply_iso2022jp(&self, org: usize, r: BallotRef, answer: &str) -> Vec<u8> {
        let b = &self.app.config.roster.organisations[org - 1];
        let text = format!("{answer}\r\n\r\n{}\r\n", b.name);
        let (body, _, _) = encoding_rs::ISO_2022_JP.encode(&text);
        let irt = self.announcement(r, 1);
        let mut raw = format!(
            "From: <{}>\r\nTo: ballot@isog-j.example\r\nSubject: Re: [{r}]\r\nMessage-ID: <demo-jis-{org}@member.example>\r\nIn-Reply-To: <{irt}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
            b.representative
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        raw
    }

    fn rep(&self, org: usize) -> String {
        self.app.config.roster.organisations[org - 1]
            .representative
            .to_string()
    }
}

#[derive(Clone, Copy)]
enum Style {
    Thunderbird,
    Outlook,
}

fn demo_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let d = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "mail-ballot-demo-{}",
            Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    if d.join("config").exists() || d.join("var").exists() {
        return Err(anyhow!(
            "{} already holds a demo; give another --dir or remove it",
            d.display()
        ));
    }
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

/// Runs the scenario.
pub async fn run(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let root = demo_dir(dir)?;
    // The shipped example, as shipped: its paths (../var/...) land inside `root`.
    std::fs::create_dir_all(root.join("config"))?;
    std::fs::write(root.join("config/mail-ballot.toml"), CONFIG)?;
    std::fs::write(root.join("config/roster.toml"), ROSTER)?;
    let config = Config::load(&root.join("config/mail-ballot.toml")).map_err(|e| anyhow!("{e}"))?;
    let mail = match &config.mailbox {
        crate::config::MailboxConfig::Maildir { path } => path.clone(),
        _ => return Err(anyhow!("the shipped configuration must use a Maildir")),
    };
    let sent_dir = match &config.outgoing {
        crate::config::OutgoingConfig::File { path } => path.clone(),
        _ => {
            return Err(anyhow!(
                "the shipped configuration must write mail to files"
            ))
        }
    };
    let start = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+09:00")?.with_timezone(&Utc);
    let clock = Arc::new(Mutex::new(start));
    let c = clock.clone();
    let app = App::open(config, Arc::new(move || *c.lock().expect("not poisoned")))
        .await
        .map_err(e)?;
    let mut d = Demo {
        app,
        clock,
        sent: FileTransport::new(sent_dir.clone()),
        sent_dir,
        mail,
        delivered: 0,
    };
    println!("mail-ballot demo: {}", d.app.config.organisation.name);
    println!(
        "  {} member organisations (one vote each), {} observers/advisers without a vote",
        d.app.config.roster.eligible(),
        d.app.config.roster.participants.len()
    );
    println!(
        "  rule: {}",
        d.app
            .config
            .profiles
            .get("isogj-email")
            .map(|p| p.describe_en())
            .unwrap_or_default()
    );
    println!("  files: {}", root.display());

    scenario(&mut d).await?;

    println!("\nWhere to look:");
    println!(
        "  database:        {}",
        d.app.config.storage.database.display()
    );
    println!(
        "  bot's mailbox:   {} (the members' replies)",
        d.mail.display()
    );
    println!(
        "  mail sent:       {} ({} files)",
        d.sent_dir.display(),
        count_files(&d.sent_dir)
    );
    println!(
        "  try:             mail-ballot --config {} show B-2026-001",
        root.join("config/mail-ballot.toml").display()
    );
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

async fn scenario(d: &mut Demo) -> anyhow::Result<()> {
    // ── Ballot 1: approved ────────────────────────────────────────────────
    d.at("2026-11-24 10:00")?;
    let b1 = admin::open(
        &d.app,
        &OpenRequest {
            title: "新規会員 株式会社サンプルセキュリティの加盟承認".into(),
            motion: "株式会社サンプルセキュリティから入会の申し込みがありました。\n本協議会への加盟を承認することについて、ご審議をお願いします。".into(),
            kind: None,
            deadline: Some("2026-12-01 17:00".parse().map_err(|e: String| anyhow!(e))?),
        },
        "cli:chair",
        d.now(),
    )
    .await
    .map_err(e)?
    .reference;
    println!("  the chair opened {b1} with `mail-ballot open`; deadline 12/1 (火) 17:00");
    d.tick().await?;

    d.at("2026-11-24 15:30")?;
    for org in 1..=6 {
        let style = if org % 2 == 0 {
            Style::Outlook
        } else {
            Style::Thunderbird
        };
        let raw = d.reply(org, &d.rep(org), b1, 1, "賛成します。", style);
        d.deliver(raw)?;
    }
    let raw = d.reply(
        7,
        &d.rep(7),
        b1,
        1,
        "反対します。\n理由：財務状況の資料を確認してから判断したいためです。",
        Style::Outlook,
    );
    d.deliver(raw)?;
    let raw = d.reply_iso2022jp(8, b1, "賛成いたします。");
    d.deliver(raw)?;
    println!("  8 members replied (one in ISO-2022-JP, one 反対 with a reason that mentions 賛成-like words)");
    d.poll().await?;
    d.tick().await?;

    d.at("2026-11-26 11:00")?;
    let raw = d.reply(
        7,
        &d.rep(7),
        b1,
        1,
        "資料を確認しましたので、賛成に変更します。",
        Style::Thunderbird,
    );
    d.deliver(raw)?;
    let alt = d.app.config.roster.organisations[0]
        .alternates
        .first()
        .map(|a| a.to_string())
        .unwrap_or_else(|| d.rep(1));
    let raw = d.reply(
        1,
        &alt,
        b1,
        1,
        "賛成です（代理で回答します）。",
        Style::Thunderbird,
    );
    d.deliver(raw)?;
    for org in 9..=12 {
        let raw = d.reply(
            org,
            &d.rep(org),
            b1,
            1,
            "異議ありません。賛成します。",
            Style::Outlook,
        );
        d.deliver(raw)?;
    }
    let raw = d.reply(13, &d.rep(13), b1, 1, "棄権します。", Style::Thunderbird);
    d.deliver(raw)?;
    let raw = d.reply(
        14,
        &d.rep(14),
        b1,
        1,
        "条件付きで賛成します。",
        Style::Thunderbird,
    );
    d.deliver(raw)?;
    let observer = d.app.config.roster.participants[0].address.to_string();
    let mut obs = d.reply(15, &observer, b1, 1, "賛成です。", Style::Thunderbird);
    obs = String::from_utf8_lossy(&obs)
        .replacen(
            &format!(
                "From: {} <{}>",
                d.app.config.roster.organisations[14].name, observer
            ),
            &format!("From: <{observer}>"),
            1,
        )
        .into_bytes();
    d.deliver(obs)?;
    let raw = d.reply(
        16,
        "someone@outside.example",
        b1,
        1,
        "賛成",
        Style::Thunderbird,
    );
    d.deliver(raw)?;
    println!("  org 7 changed 反対 → 賛成; an alternate answered for org 1; org 14 answered conditionally;");
    println!("  an observer and an outsider replied too");
    d.poll().await?;
    d.tick().await?;

    // ── Ballot 2: opened by the chair's mail, rejected ──────────────────────
    d.at("2026-11-26 14:00")?;
    let chair = d.app.config.addresses.admins[0].to_string();
    let open_mail = format!(
        "From: 議長 <{chair}>\r\nTo: ballot@isog-j.example\r\nSubject: {} 運営規約 第5条の改定\r\nMessage-ID: <demo-open-2@isog-j.example>\r\nDate: Thu, 26 Nov 2026 14:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n締切: 2026-12-03 17:00\r\n\r\n運営規約 第5条（会議体）を別紙のとおり改定する。\r\n",
        d.app.config.ballots.open_subject_prefix
    );
    d.deliver(open_mail.into_bytes())?;
    println!("  the chair mailed the bot a request to open a ballot");
    d.poll().await?;
    let b2 = BallotRef::new(2026, 2).map_err(|e| anyhow!(e))?;
    d.tick().await?;

    d.at("2026-11-30 09:00")?;
    for org in 1..=11 {
        let answer = if org <= 4 {
            "賛成します。"
        } else {
            "反対です。改定案の再検討を求めます。"
        };
        let raw = d.reply(org, &d.rep(org), b2, 1, answer, Style::Thunderbird);
        d.deliver(raw)?;
    }
    println!("  11 members answered {b2}: 4 賛成, 7 反対");
    d.poll().await?;
    d.tick().await?;

    // ── Ballot 3: not valid, round 2 (再審要請), approved ─────────────────────
    let b3 = admin::open(
        &d.app,
        &OpenRequest {
            title: "脅威インテリジェンスWGの設置".into(),
            motion: "脅威インテリジェンスに関するワーキンググループを設置する。".into(),
            kind: None,
            deadline: Some("2026-12-02 17:00".parse().map_err(|e: String| anyhow!(e))?),
        },
        "cli:chair",
        d.now(),
    )
    .await
    .map_err(e)?
    .reference;
    println!("  the chair opened {b3}; deadline 12/2 (水) 17:00");
    d.tick().await?;
    d.at("2026-12-01 10:00")?;
    for org in 1..=6 {
        let raw = d.reply(org, &d.rep(org), b3, 1, "賛成", Style::Thunderbird);
        d.deliver(raw)?;
    }
    println!("  only 6 of 17 answered {b3}");
    d.poll().await?;

    // ── Deadlines ───────────────────────────────────────────────────────────
    d.at("2026-12-01 17:05")?;
    d.poll().await?;
    d.tick().await?;
    d.at("2026-12-01 18:00")?;
    let raw = d.reply(
        16,
        &d.rep(16),
        b1,
        1,
        "遅くなりましたが賛成します。",
        Style::Thunderbird,
    );
    d.deliver(raw)?;
    println!("  org 16 answered {b1} after its deadline");
    d.poll().await?;
    d.tick().await?;

    d.at("2026-12-02 17:05")?;
    d.poll().await?;
    d.tick().await?;

    d.at("2026-12-03 10:00")?;
    for org in 1..=10 {
        let answer = if org <= 8 {
            "賛成します。"
        } else {
            "反対します。"
        };
        let raw = d.reply(org, &d.rep(org), b3, 2, answer, Style::Outlook);
        d.deliver(raw)?;
    }
    println!("  10 members answered round 2 of {b3}");
    d.poll().await?;
    d.at("2026-12-03 17:05")?;
    d.poll().await?;
    d.tick().await?;
    d.at("2026-12-07 17:05")?;
    d.poll().await?;
    d.tick().await?;

    // ── The digest for the next committee meeting ───────────────────────────
    d.at("2026-12-08 09:00")?;
    let meeting = chrono::NaiveDate::from_ymd_opt(2026, 12, 10);
    let (mail, refs) = admin::digest(&d.app, meeting, true, "cli:secretariat", d.now())
        .await
        .map_err(e)?;
    d.tick().await?;
    println!(
        "  the ratification digest ({} resolutions) went to the secretariat:\n",
        refs.len()
    );
    println!("Subject: {}\n", mail.subject);
    for line in mail.body.lines() {
        println!("  {line}");
    }
    println!("\nResults:");
    for b in d.app.store.list_ballots().await? {
        println!(
            "  {} {:<10} round {}  {}",
            b.reference,
            b.outcome.as_deref().unwrap_or(b.state.as_str()),
            b.round,
            b.title
        );
    }
    Ok(())
}
