//! `inspect`: how the daemon would read given messages (.eml files), with no
//! database or configuration needed; with a configuration, also who the sender
//! is, whether they verify, and where the named ballot stands.

use std::path::PathBuf;

use anyhow::anyhow;
use chrono::Utc;

use super::args::Cli;
use super::shared::load_config;
use crate::stdout::{print, println};

/// `inspect`: the daemon's own reading of each file; with an explicit --config,
/// also who the sender is on the roster and where the named ballot stands.
pub(super) async fn inspect(cli: &Cli, json: bool, files: &[PathBuf]) -> anyhow::Result<()> {
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
