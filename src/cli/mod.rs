//! The command line: one subcommand per thing an admin does. Handlers are thin:
//! they load the configuration, call `admin`, `ingest` or `scheduler`, and
//! print. Every failure reaches the user as one sentence (main prints it) and a
//! non-zero exit.

mod args;
mod check;
mod parse;
mod show;
pub(crate) mod stdout;

pub use args::{AuditCommand, Cli, Command, DisputeCommand, MeetingCommand, RulesCommand};
pub use parse::one_line;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use chrono::Utc;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::admin::{self, OpenRequest, Selection};
use crate::app::{fixed_clock, system_clock, App, AppError, Clock};
use crate::config::{Config, LogFormat};
use crate::{daemon, ingest, mailbox, outbox, scheduler};
use stdout::{print, println};

/// Whether `poll` and `tick` print their summary: never with --quiet, always
/// on a terminal, and under cron only when something happened (cron mails the
/// admin whatever a job prints).
fn speak(quiet: bool, something_happened: bool) -> bool {
    !quiet && (something_happened || std::io::stdout().is_terminal())
}

fn init_logging(config: Option<&Config>, daemon: bool) {
    let level = match (config, daemon) {
        (Some(c), true) => c.logging.level.clone(),
        _ => "warn".to_string(),
    };
    let filter =
        EnvFilter::try_from_env("MAIL_BALLOT_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let json = config.is_some_and(|c| c.logging.format == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a journal or log file would
        // get escape codes in every line.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = if json {
        builder.json().finish().with(libraries_quiet()).try_init()
    } else {
        builder.finish().with(libraries_quiet()).try_init()
    };
}

/// Our own lines at whatever level is asked for; every library's at warn and
/// above only, whatever the configuration or MAIL_BALLOT_LOG says, even by
/// name (`async_imap=trace`): a second filter that every line must pass too.
/// Below warn the libraries write what goes over the wire and into the
/// database: async-imap each IMAP command (LOGIN with the password) and each
/// response (whole messages: addresses, bodies, reply tokens), sqlx its
/// statements, rustls its handshakes. Our own debug lines say what happened
/// without such data (README, "Privacy and integrity").
fn libraries_quiet() -> Targets {
    Targets::new()
        .with_target("mail_ballot", LevelFilter::TRACE)
        .with_default(LevelFilter::WARN)
}

fn user_error(e: AppError) -> anyhow::Error {
    if e.is_user_error() {
        anyhow!("{e}")
    } else {
        tracing::error!(error = %e, "internal error");
        anyhow!("internal error: {e}")
    }
}

async fn app(cli: &Cli, config: Config) -> anyhow::Result<App> {
    let clock: Clock = match cli.now {
        Some(t) => fixed_clock(t),
        None => system_clock(),
    };
    App::open(config, clock).await.map_err(user_error)
}

fn actor(cli: &Cli) -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    match cli.now {
        Some(t) => format!("cli:{user} (clock set to {})", t.to_rfc3339()),
        None => format!("cli:{user}"),
    }
}

/// An I/O error's reason without the OS error number ("No such file or directory").
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow!("{e}"))
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Demo { dir } => {
            init_logging(None, false);
            return crate::demo::run(dir.clone()).await;
        }
        Command::Inspect { json, files } => {
            init_logging(None, false);
            return inspect(&cli, *json, files).await;
        }
        Command::CheckConfig => {
            init_logging(None, false);
            return check::run(&cli.config, cli.now.unwrap_or_else(Utc::now));
        }
        Command::Rules { command } => {
            init_logging(None, false);
            // Rules need no database: the configured profiles when a configuration
            // is given or present, the shipped ones otherwise.
            let profiles = if cli.config_given || cli.config.exists() {
                load_config(&cli.config)?.profiles
            } else {
                crate::ballot::rules::ProfileSet::with_shipped(vec![]).map_err(|e| anyhow!(e))?
            };
            return rules(&profiles, command);
        }
        _ => {}
    }
    let config = load_config(&cli.config)?;
    init_logging(Some(&config), matches!(cli.command, Command::Run));
    let app = app(&cli, config).await?;
    let who = actor(&cli);
    let now = app.now();
    match &cli.command {
        Command::Run => {
            check::templates_render(&app.config).map_err(|e| anyhow!("{e}"))?;
            let source = mailbox::from_config(&app.config);
            let transport = app.transport().map_err(user_error)?;
            let shutdown = daemon::shutdown_on_signals();
            // The reason goes to stderr as a plain line too (main), whatever
            // the log's format: it is what the supervisor's journal shows.
            daemon::run(Arc::new(app), source, transport, shutdown)
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        Command::Open {
            title,
            body_file,
            body,
            deadline,
            kind,
        } => {
            let motion = match (body_file, body) {
                (Some(f), _) => std::fs::read_to_string(f).map_err(|e| {
                    anyhow!(
                        "cannot read the motion's text: {} (--body-file {})",
                        io_reason(&e),
                        f.display()
                    )
                })?,
                (None, Some(b)) => b.clone(),
                (None, None) => {
                    return Err(anyhow!(
                        "give the motion's text with --body-file FILE or --body TEXT"
                    ))
                }
            };
            let req = OpenRequest {
                title: title.clone(),
                motion,
                kind: kind.clone(),
                deadline: deadline.clone(),
            };
            let b = admin::open(&app, &req, &who, now)
                .await
                .map_err(user_error)?;
            println!(
                "opened {} \"{}\"; deadline {}; announcement queued to {}",
                b.reference,
                b.title,
                app.composer().when(b.current_round().deadline),
                app.config.addresses.list
            );
            send_now(&app).await;
        }
        Command::List { json } => show::list(&app, *json).await?,
        Command::Show { reference, json } => show::show(&app, *reference, *json).await?,
        Command::Close { reference, no_poll } => {
            if !no_poll {
                let mut src = mailbox::from_config(&app.config);
                ingest::poll(&app, src.as_mut()).await.map_err(|e| {
                    anyhow!("{e}; to close with only the answers already read, add --no-poll")
                })?;
                src.close().await;
            }
            let (b, closed) = admin::close(&app, *reference, &who, now)
                .await
                .map_err(user_error)?;
            println!(
                "closed round {} of {}: {} (valid: {}, approved: {}); result queued to {}",
                closed.round,
                b.reference,
                closed.tally.outcome.as_str(),
                closed.tally.valid,
                closed.tally.approved,
                app.config.addresses.list
            );
            if let crate::ballot::Next::Reballot { round, deadline } = closed.next {
                println!(
                    "round {round} opened (re-deliberation request), deadline {}",
                    app.composer().when(deadline)
                );
            }
            send_now(&app).await;
        }
        Command::Extend {
            reference,
            deadline,
        } => {
            let b = admin::extend(&app, *reference, deadline, &who, now)
                .await
                .map_err(user_error)?;
            println!(
                "{}: deadline of round {} is now {}; announcement queued",
                b.reference,
                b.current_round().number,
                app.composer().when(b.current_round().deadline)
            );
            send_now(&app).await;
        }
        Command::Cancel { reference, reason } => {
            let b = admin::cancel(&app, *reference, reason, &who, now)
                .await
                .map_err(user_error)?;
            println!("{} cancelled; announcement queued", b.reference);
            send_now(&app).await;
        }
        Command::Poll { quiet } => {
            let mut src = mailbox::from_config(&app.config);
            let r = ingest::poll(&app, src.as_mut())
                .await
                .map_err(|e| anyhow!("{e}"))?;
            src.close().await;
            if speak(*quiet, r.processed > 0) {
                let detail: Vec<String> = r
                    .by_disposition
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                println!(
                    "read {} new message(s){}",
                    r.processed,
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", detail.join(", "))
                    }
                );
            }
        }
        Command::Tick { quiet } => {
            let transport = app.transport().map_err(user_error)?;
            let r = scheduler::tick(&app, Some(transport.as_ref()))
                .await
                .map_err(user_error)?;
            let mut lines = Vec::new();
            for (b, round, what) in &r.closed {
                lines.push(format!("{b}: round {round} closed: {what}"));
            }
            for (b, n) in &r.reminded {
                lines.push(format!(
                    "{b}: reminders sent to {n} organisation(s) that have not answered"
                ));
            }
            if let Some(m) = r.digest_for {
                lines.push(format!(
                    "digest for the meeting of {m} queued to the secretariat"
                ));
            }
            for b in &r.waiting {
                lines.push(format!("{b}: past its deadline; waiting for the mailbox to be read past it (run `poll`)"));
            }
            let o = &r.outbox;
            let mailed = o.sent + o.deferred + o.refused + o.confirmed > 0;
            if speak(*quiet, mailed) {
                lines.push(format!(
                    "mail: {} sent, {} waiting for the relay, {} refused",
                    o.sent, o.deferred, o.refused
                ));
            }
            if speak(*quiet, !lines.is_empty()) {
                for l in lines {
                    println!("{l}");
                }
            }
        }
        Command::Digest { send, meeting } => {
            let meeting = meeting
                .as_deref()
                .map(crate::store::parse_date)
                .transpose()
                .map_err(|e| anyhow!("--meeting: {e}"))?;
            let (mail, refs) = admin::digest(&app, meeting, *send, &who, now)
                .await
                .map_err(user_error)?;
            println!("Subject: {}\n\n{}", mail.subject, mail.body);
            if *send {
                eprintln!(
                    "digest of {} resolution(s) queued to {}",
                    refs.len(),
                    app.config
                        .addresses
                        .secretariat
                        .iter()
                        .map(|a| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                send_now(&app).await;
            }
        }
        Command::Ratify {
            meeting,
            all,
            overturned,
            note,
            references,
        } => {
            let meeting =
                crate::store::parse_date(meeting).map_err(|e| anyhow!("--meeting: {e}"))?;
            let which = if *all {
                Selection::All
            } else if references.is_empty() {
                return Err(anyhow!("name the references decided on, or give --all"));
            } else {
                Selection::These(references.clone())
            };
            let decision = match (overturned, note) {
                (true, Some(n)) => admin::Decision::Overturned(n.clone()),
                _ => admin::Decision::Confirmed,
            };
            let done = admin::ratify(&app, meeting, &which, &decision, &who, now)
                .await
                .map_err(user_error)?;
            let list: Vec<String> = done.iter().map(|r| r.to_string()).collect();
            let what = if *overturned {
                "overturned"
            } else {
                "confirmed"
            };
            println!("{what} at the meeting of {meeting}: {}", list.join(", "));
        }
        Command::Meeting { command } => match command {
            MeetingCommand::Add { date, note } => {
                let d = crate::store::parse_date(date).map_err(|e| anyhow!("{e}"))?;
                let today = now
                    .with_timezone(&app.config.organisation.time_zone)
                    .date_naive();
                if d < today {
                    return Err(anyhow!("the meeting date {d} is in the past"));
                }
                let added = admin::add_meeting(&app, d, note.as_deref(), &who, now)
                    .await
                    .map_err(user_error)?;
                let due = crate::meetings::digest_due(&app.config.schedule, d);
                if added {
                    println!("meeting {d} added; its digest goes to the secretariat on {due}");
                } else {
                    println!("meeting {d} was already on the calendar");
                }
            }
            MeetingCommand::List => {
                let today = now
                    .with_timezone(&app.config.organisation.time_zone)
                    .date_naive();
                let added = app.store.added_meetings().await?;
                let cal = crate::meetings::calendar(
                    &app.config.schedule,
                    &added,
                    today,
                    today + chrono::Duration::days(400),
                );
                if cal.is_empty() {
                    println!("no meetings on the calendar: add one with `mail-ballot meeting add YYYY-MM-DD`, or set [meetings] in the configuration");
                }
                for m in cal {
                    let sent = app.store.digest_sent_for(m.date).await?;
                    println!(
                        "{}  {:<10}  digest due {}{}",
                        m.date,
                        serde_json::to_value(m.source)?.as_str().unwrap_or(""),
                        crate::meetings::digest_due(&app.config.schedule, m.date),
                        if sent { " (sent)" } else { "" }
                    );
                }
            }
        },
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let rep = crate::audit::verify(&app.store).await?;
            for p in &rep.problems {
                println!("difference: {p}");
            }
            let rows: Vec<String> = rep.rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
            match (&rep.chain.first_broken, &rep.chain.truncated) {
                (Some((id, why)), _) => {
                    return Err(anyhow!(
                        "the audit trail is broken at event {id} of {}: {why}",
                        rep.chain.events
                    ))
                }
                (None, Some(why)) => return Err(anyhow!("the audit trail was cut: {why}")),
                (None, None) if !rep.problems.is_empty() => {
                    return Err(anyhow!(
                        "the audit trail links, but {} row(s) differ from what it recorded",
                        rep.problems.len()
                    ))
                }
                (None, None) => println!(
                    "audit trail intact: {} events, every link holds; {} match the trail",
                    rep.chain.events,
                    rows.join(", ")
                ),
            }
        }
        Command::Replay => {
            let started = std::time::Instant::now();
            let r = crate::audit::replay(&app.store, &app.config, &app.read_options).await?;
            println!(
                "replayed {} messages over {} ballots: {} answers in {:.1} s",
                r.messages,
                r.ballots,
                r.votes,
                started.elapsed().as_secs_f64()
            );
            if r.differences.is_empty() {
                println!("every recorded result matches the messages");
            } else {
                for d in &r.differences {
                    println!("difference: {d}");
                }
                return Err(anyhow!(
                    "{} difference(s) between the record and the messages",
                    r.differences.len()
                ));
            }
        }
        Command::Dispute { command } => match command {
            DisputeCommand::List { reference } => {
                let list = app.store.disputes(*reference).await?;
                if list.is_empty() {
                    println!("no disputes");
                }
                for d in list {
                    println!(
                        "#{} {} round {} {} {} ({}): {}{}{}",
                        d.id,
                        d.ballot,
                        d.round,
                        d.org,
                        d.position.as_str(),
                        d.vote_message_id.as_deref().unwrap_or("-"),
                        d.state,
                        d.resolved_by
                            .map(|b| format!(" by {b}"))
                            .unwrap_or_default(),
                        d.note.map(|n| format!(": {n}")).unwrap_or_default(),
                    );
                }
            }
            DisputeCommand::Resolve {
                reference,
                org,
                upheld,
                dismissed: _,
                note,
            } => {
                let org = crate::domain::OrgId::parse(org).map_err(|e| anyhow!("--org: {e}"))?;
                let d = admin::resolve_dispute(
                    &app,
                    *reference,
                    &org,
                    *upheld,
                    note.as_deref(),
                    &who,
                    now,
                )
                .await
                .map_err(user_error)?;
                println!(
                    "{reference}: {} dispute(s) of {org} {}; the vote {}",
                    d.resolved,
                    if *upheld { "upheld" } else { "dismissed" },
                    if *upheld {
                        "does not count"
                    } else {
                        "counts again"
                    }
                );
                for (round, was, with) in &d.changed {
                    println!(
                        "round {round} is closed: its recorded result counted yes {} no {} abstain {}; with this decision the answers give yes {} no {} abstain {}. The recorded result stands until the meeting that confirms it decides (see `ratify --overturned`).",
                        was.yes, was.no, was.abstain, with.yes, with.no, with.abstain
                    );
                }
            }
        },
        Command::Incidents => {
            let list = app.store.incidents().await?;
            if list.is_empty() {
                println!("no incidents");
            }
            for (id, at, kind, ballot, summary) in list {
                println!(
                    "#{id} {} {kind}{}: {summary}",
                    at.format("%Y-%m-%d %H:%M:%SZ"),
                    ballot.map(|b| format!(" {b}")).unwrap_or_default()
                );
            }
        }
        Command::Rules { .. } => unreachable!("handled above"),
        Command::Demo { .. } | Command::Inspect { .. } | Command::CheckConfig => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

fn rules(
    profiles: &crate::ballot::rules::ProfileSet,
    command: &RulesCommand,
) -> anyhow::Result<()> {
    use crate::ballot::rules::{tally, Counts};
    match command {
        RulesCommand::List => {
            for p in profiles.all() {
                println!(
                    "{}  ({})",
                    p.name,
                    if p.clause.is_empty() {
                        "configured"
                    } else {
                        &p.clause
                    }
                );
                println!(
                    "  quorum: {}; threshold: {}; delegation: {:?}; tie: {:?}; rounds: {}; vote changes: {:?}; early close: {:?}",
                    p.quorum, p.threshold, p.delegation, p.tie, p.rounds, p.vote_changes, p.early_close
                );
                println!("  {}", p.describe_en());
                println!("  {}", p.describe_ja());
            }
            Ok(())
        }
        RulesCommand::Check {
            profile,
            eligible,
            yes,
            no,
            abstain,
            delegate,
            chair,
            json,
        } => {
            let p = profiles.get(profile).ok_or_else(|| {
                anyhow!(
                    "there is no profile `{profile}` (known: {})",
                    profiles.names().join(", ")
                )
            })?;
            let chair = chair
                .as_deref()
                .map(|c| c.parse::<crate::domain::Position>())
                .transpose()
                .map_err(|e| anyhow!(e))?;
            let counts = Counts {
                eligible: *eligible,
                yes: *yes,
                no: *no,
                abstain: *abstain,
                delegate: *delegate,
            };
            let t = match tally(p, counts, chair) {
                Ok(t) => t,
                Err(e) => {
                    let message = match &e {
                        crate::ballot::rules::TallyError::ChairNeeded(_) => {
                            format!("{e} with --chair yes or --chair no")
                        }
                        e => e.to_string(),
                    };
                    if *json {
                        // A tie only needs the chair once the deliberation is
                        // valid; otherwise validity is unknown with the numbers.
                        let valid = matches!(e, crate::ballot::rules::TallyError::ChairNeeded(_))
                            .then_some(true);
                        println!(
                            "{}",
                            serde_json::json!({
                                "profile": p.name,
                                "clause": p.clause,
                                "valid": valid,
                                "approved": null,
                                "outcome": null,
                                "counts": counts,
                                "error": message,
                            })
                        );
                    }
                    return Err(anyhow!(message));
                }
            };
            if *json {
                println!(
                    "{}",
                    serde_json::json!({
                        "profile": p.name,
                        "clause": p.clause,
                        "valid": t.valid,
                        "approved": t.approved,
                        "outcome": t.outcome.as_str(),
                        "tie": t.tie,
                        "counts": t.counts,
                        "present": t.present,
                        "base": t.base,
                        "in_favour": t.in_favour,
                        "working": t.working,
                    })
                );
            } else {
                println!("{} ({})", p.name, p.clause);
                for line in &t.working {
                    println!("  {line}");
                }
                println!("outcome: {} ({})", t.outcome.as_str(), t.outcome.label_ja());
            }
            Ok(())
        }
    }
}

/// After a command queued mail, try to send it at once; if the relay is down the
/// daemon (or the next `tick`) retries.
async fn send_now(app: &App) {
    let transport = match app.transport() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mail stays queued: {e}");
            return;
        }
    };
    let opts = match app.outbox_options().await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mail stays queued: {e}");
            return;
        }
    };
    match outbox::worker::step(&app.store, transport.as_ref(), app.now(), &opts).await {
        Ok(r) if r.deferred > 0 || r.refused > 0 => eprintln!(
            "mail: {} sent, {} waiting for the relay (the daemon retries), {} refused",
            r.sent, r.deferred, r.refused
        ),
        Ok(_) => {}
        Err(e) => eprintln!("mail stays queued: {e}"),
    }
}

/// `inspect`: the daemon's own reading of each file; with an explicit --config,
/// also who the sender is on the roster and where the named ballot stands.
async fn inspect(cli: &Cli, json: bool, files: &[PathBuf]) -> anyhow::Result<()> {
    let config = if cli.config_given {
        Some(load_config(&cli.config)?)
    } else {
        None
    };
    // Exactly the daemon's options under this configuration (App::with_store).
    let opts = match &config {
        Some(c) => crate::reading::ReadOptions::for_config(c),
        None => crate::reading::ReadOptions::default(),
    };
    let store = match &config {
        Some(c) if c.storage.database.exists() => {
            Some(crate::store::Store::open(&c.storage.database).await?)
        }
        _ => None,
    };
    // Sender verification as the daemon would run it (DKIM keys over DNS, the
    // token key from the environment), when the configuration has a policy.
    let verifier = match &config {
        Some(c) => crate::app::Verifier::from_config(c).map_err(|e| anyhow!("{e}"))?,
        None => None,
    };
    let candidates = match &store {
        Some(s) => {
            s.recent_ballots(Utc::now() - chrono::Duration::days(60))
                .await?
        }
        None => vec![],
    };
    let mut failed = 0;
    for f in files {
        let raw = match std::fs::read(f) {
            Ok(r) => r,
            Err(e) => {
                // A script reading the JSON lines still gets one object per file.
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "file": f.display().to_string(),
                            "error": format!("cannot read the file: {e}"),
                        })
                    );
                }
                eprintln!("mail-ballot: cannot read {}: {e}", f.display());
                failed += 1;
                continue;
            }
        };
        let r = crate::reading::read_message(&raw, &opts);
        let name = f.display().to_string();
        let mut extra = serde_json::Map::new();
        if let Some(c) = &config {
            let member = r.from.as_ref().and_then(|a| c.roster.lookup(a)).map(|m| match m {
                crate::roster::Membership::Voter(o) => serde_json::json!({ "organisation": o.id.as_str(), "name": o.name, "votes": true }),
                crate::roster::Membership::NonVoting(p) => serde_json::json!({ "role": p.role.as_str(), "name": p.name, "votes": false }),
            });
            extra.insert("member".into(), member.unwrap_or(serde_json::Value::Null));
        }
        if let (Some(v), Some(c)) = (&verifier, &config) {
            let checked = crate::ingest::verify_message(v, c, &candidates, &raw).await;
            extra.insert(
                "verified".into(),
                serde_json::Value::String(checked.summary()),
            );
            if json {
                extra.insert("verification".into(), serde_json::to_value(&checked)?);
            }
        }
        if let (Some(s), Some(b)) = (&store, r.ballot) {
            let state = s.load_ballot(b).await?.map(|b| {
                serde_json::json!({
                    "state": b.state.as_str(),
                    "round": b.current_round().number,
                    "deadline": b.current_round().deadline,
                })
            });
            extra.insert(
                "ballot_state".into(),
                state.unwrap_or(serde_json::Value::Null),
            );
        }
        if json {
            let mut v = crate::reading::inspect::inspect_json(&name, &r);
            if let serde_json::Value::Object(m) = &mut v {
                m.extend(extra);
            }
            println!("{v}");
        } else {
            print!("{}", crate::reading::inspect::inspect_text(&name, &r));
            for (k, v) in extra {
                println!("  {:<10} {v}", format!("{k}:"));
            }
        }
    }
    if failed > 0 {
        return Err(anyhow!("{failed} file(s) could not be read"));
    }
    Ok(())
}
