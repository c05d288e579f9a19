//! `dispute list`, `dispute resolve`: votes a member said were not theirs
//! (身に覚えがない), and the secretariat's decision on each.

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::admin;
use crate::app::App;

use super::args::DisputeCommand;
use super::shared::user_error;
use crate::stdout::println;

/// Runs a `dispute` command.
pub(super) async fn run(
    app: &App,
    command: &DisputeCommand,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match command {
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
            let d =
                admin::resolve_dispute(app, *reference, &org, *upheld, note.as_deref(), who, now)
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
    }
    Ok(())
}
