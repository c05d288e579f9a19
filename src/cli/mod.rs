//! The command line: one subcommand per thing an admin does. This file only
//! dispatches; the arguments are in `args`, and each group of commands has its
//! file: `ballot` (open, close, extend, cancel), `show` (list, show), `mail`
//! (run, poll, tick), `ratify` (digest, ratify, meeting), `rules`, `dispute`,
//! `audit` (audit verify, replay, incidents, backup), `status`, `inspect`, `check`
//! (check-config).
//! Handlers are thin: they load the configuration, call `admin`, `ingest` or
//! `scheduler`, and print. Every failure reaches the user as one sentence (main
//! prints it) and a non-zero exit.

mod args;
mod audit;
mod ballot;
mod check;
mod dispute;
mod inspect;
mod logging;
mod mail;
mod parse;
mod ratify;
mod rules;
mod shared;
mod show;
mod status;

pub use args::{
    AuditCommand, Cli, Command, DisputeCommand, MeetingCommand, OpenArgs, RatifyArgs, RulesCommand,
};
pub use parse::one_line;

use chrono::Utc;

use logging::init_logging;
use shared::{actor, load_config, open_app};

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // These need no database, and some not even a configuration.
    match &cli.command {
        Command::Demo { dir } => {
            init_logging(None, false);
            return crate::demo::run(dir.clone()).await;
        }
        Command::Inspect { json, files } => {
            init_logging(None, false);
            return inspect::inspect(&cli, *json, files).await;
        }
        Command::CheckConfig => {
            init_logging(None, false);
            return check::run(&cli.config, cli.now.unwrap_or_else(Utc::now));
        }
        Command::Rules { command } => {
            init_logging(None, false);
            return rules::run(&cli, command);
        }
        _ => {}
    }
    let config = load_config(&cli.config)?;
    init_logging(Some(&config), matches!(cli.command, Command::Run));
    let app = open_app(&cli, config).await?;
    let who = actor(&cli);
    let now = app.now();
    match &cli.command {
        Command::Run => mail::run(&cli, app).await,
        Command::Poll { quiet } => mail::poll(&app, *quiet).await,
        Command::Tick { quiet } => mail::tick(&app, *quiet).await,
        Command::Open(args) => ballot::open(&app, args, &who, now).await,
        Command::Close { reference, no_poll } => {
            ballot::close(&app, *reference, *no_poll, &who, now).await
        }
        Command::Extend {
            reference,
            deadline,
        } => ballot::extend(&app, *reference, deadline, &who, now).await,
        Command::Cancel { reference, reason } => {
            ballot::cancel(&app, *reference, reason, &who, now).await
        }
        Command::List { json } => show::list(&app, *json).await,
        Command::Show { reference, json } => show::show(&app, *reference, *json).await,
        Command::Digest { send, meeting } => {
            ratify::digest(&app, meeting.as_deref(), *send, &who, now).await
        }
        Command::Ratify(args) => ratify::ratify(&app, args, &who, now).await,
        Command::Meeting { command } => ratify::meeting(&app, command, &who, now).await,
        Command::Dispute { command } => dispute::run(&app, command, &who, now).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit::verify(&app).await,
        Command::Replay => audit::replay(&app).await,
        Command::Incidents => audit::incidents(&app).await,
        Command::Backup { file } => audit::backup(&app, file).await,
        Command::Status { json } => status::status(&app, *json).await,
        Command::Demo { .. }
        | Command::Inspect { .. }
        | Command::CheckConfig
        | Command::Rules { .. } => {
            unreachable!("handled above")
        }
    }
}
