//! `rules list`, `rules check`: the rule profiles in words, and the outcome of
//! counts given by hand with the arithmetic, for a secretary to verify a result.
//! No database: the configured profiles, or the shipped ones without a
//! configuration.

use anyhow::anyhow;

use crate::ballot::rules::{tally, Counts, ProfileSet, TallyError};

use super::args::{Cli, RulesCommand};
use super::shared::load_config;
use crate::stdout::println;

/// Runs a `rules` command.
pub(super) fn run(cli: &Cli, command: &RulesCommand) -> anyhow::Result<()> {
    // Rules need no database: the configured profiles when a configuration
    // is given or present, the shipped ones otherwise.
    let profiles = if cli.config_given || cli.config.exists() {
        load_config(&cli.config)?.profiles
    } else {
        ProfileSet::with_shipped(vec![]).map_err(|e| anyhow!(e))?
    };
    run_with(&profiles, command)
}

/// `rules list` and `rules check` under `profiles`.
fn run_with(profiles: &ProfileSet, command: &RulesCommand) -> anyhow::Result<()> {
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
                        TallyError::ChairNeeded(_) => {
                            format!("{e} with --chair yes or --chair no")
                        }
                        e => e.to_string(),
                    };
                    if *json {
                        // A tie only needs the chair once the deliberation is
                        // valid; otherwise validity is unknown with the numbers.
                        let valid = matches!(e, TallyError::ChairNeeded(_)).then_some(true);
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
