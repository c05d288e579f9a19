//! `list` and `show`: what the secretariat sees of ballots.

use anyhow::anyhow;
use serde_json::json;

use crate::app::App;
use crate::ballot::{Ballot, Ratification, VoteRecord, VoteStatus};
use crate::disposition::Disposition;
use crate::domain::BallotRef;
use crate::store::events;

use crate::stdout::println;

fn ratification_str(r: &Ratification) -> String {
    match r {
        Ratification::Pending => "pending".into(),
        Ratification::Confirmed { meeting, .. } => format!("confirmed {meeting}"),
        Ratification::Overturned { meeting, .. } => format!("overturned {meeting}"),
    }
}

/// One line per ballot.
pub async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let all = app.store.list_ballots().await?;
    if json {
        let v: Vec<_> = all
            .iter()
            .map(|b| {
                json!({
                    "reference": b.reference.to_string(),
                    "title": b.title,
                    "state": b.state.as_str(),
                    "round": b.round,
                    "deadline": b.deadline,
                    "outcome": b.outcome,
                    "ratification": b.ratification,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("no ballots yet");
        return Ok(());
    }
    println!(
        "{:<12} {:<9} {:>5}  {:<28} {:<10} {:<22} title",
        "reference", "state", "round", "deadline", "outcome", "ratification"
    );
    for b in all {
        let ratification = if b.state == crate::ballot::State::Closed {
            ratification_str(&b.ratification)
        } else {
            "-".into()
        };
        println!(
            "{:<12} {:<9} {:>5}  {:<28} {:<10} {:<22} {}",
            b.reference.to_string(),
            b.state.as_str(),
            b.round,
            app.composer().when(b.deadline),
            b.outcome.as_deref().unwrap_or("-"),
            ratification,
            b.title
        );
    }
    Ok(())
}

fn vote_json(b: &Ballot, votes: &[VoteRecord], v: &VoteRecord) -> serde_json::Value {
    let counted = b.counted_votes(votes, v.round);
    let is_counted = counted.get(&v.org).is_some_and(|c| c.seq == v.seq);
    let state = match v.status {
        VoteStatus::Late => "late",
        VoteStatus::Valid if v.disputed => "disputed",
        VoteStatus::Valid if is_counted => "counted",
        VoteStatus::Valid => "superseded",
    };
    json!({
        "round": v.round,
        "org": v.org.as_str(),
        "position": v.position.as_str(),
        "cast_at": v.cast_at,
        "voter": v.voter,
        "message_id": v.message_id,
        "state": state,
    })
}

/// Everything about one ballot.
pub async fn show(app: &App, r: BallotRef, as_json: bool) -> anyhow::Result<()> {
    let b = app
        .store
        .load_ballot(r)
        .await?
        .ok_or_else(|| anyhow!("there is no ballot {r}"))?;
    let votes = app.store.votes(r).await?;
    let round = b.current_round().number;
    let counts = b.counts(&votes, round);
    let composer = app.composer();
    let table = composer.answer_table(&b, &votes, round);
    let history = events::for_ballot(&app.store, r).await?;
    let messages = app.store.messages_for(r).await?;
    let outbox = app.store.outbox(Some(r)).await?;
    let votes_json: Vec<_> = votes.iter().map(|v| vote_json(&b, &votes, v)).collect();
    let disputes = app.store.disputes(Some(r)).await?;
    let verification = |m: &crate::store::StoredMessage| -> Option<String> {
        let v: crate::verify::policy::Verification =
            serde_json::from_str(m.verification_json.as_deref()?).ok()?;
        Some(v.summary())
    };
    if as_json {
        let v = json!({
            "reference": b.reference.to_string(),
            "title": b.title,
            "motion": b.motion,
            "kind": b.kind,
            "profile": b.profile,
            "state": b.state.as_str(),
            "outcome": b.outcome,
            "ratification": b.ratification,
            "opened_at": b.opened_at,
            "opened_by": b.opened_by,
            "closed_at": b.closed_at,
            "cancel_reason": b.cancel_reason,
            "eligible": b.roster.eligible(),
            "rounds": b.rounds,
            "current": {
                "round": round,
                "counts": counts,
                "answers": table,
            },
            "votes": votes_json,
            "messages": messages.iter().map(|m| json!({
                "id": m.id, "message_id": m.message_id, "received": m.internal_date, "from": m.from_addr,
                "subject": m.subject, "disposition": m.disposition, "reason": m.reason,
                "verification": m.verification_json.as_deref().and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()),
                "verification_summary": verification(m),
            })).collect::<Vec<_>>(),
            "disputes": disputes.iter().map(|d| json!({
                "id": d.id, "round": d.round, "org": d.org.as_str(), "position": d.position.as_str(),
                "vote_message_id": d.vote_message_id, "opened_at": d.opened_at, "state": d.state,
                "resolved_at": d.resolved_at, "resolved_by": d.resolved_by, "note": d.note,
            })).collect::<Vec<_>>(),
            "outbox": outbox.iter().map(|m| json!({
                "kind": m.kind, "message_id": m.message_id, "recipients": m.recipients, "created_at": m.created_at,
                "sent_at": m.sent_at, "failed_at": m.failed_at, "attempts": m.attempts, "last_error": m.last_error,
            })).collect::<Vec<_>>(),
            "history": history,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{} {}", b.reference, b.title);
    println!(
        "  state: {}{}",
        b.state.as_str(),
        b.outcome
            .map(|o| format!(" ({})", o.as_str()))
            .unwrap_or_default()
    );
    if b.state == crate::ballot::State::Closed {
        println!("  ratification: {}", ratification_str(&b.ratification));
    }
    if let Some(reason) = &b.cancel_reason {
        println!("  cancelled: {reason}");
    }
    println!(
        "  rule: {} ({}) — {}",
        b.profile.name,
        b.profile.clause,
        b.profile.describe_en()
    );
    if let Some(k) = &b.kind {
        println!("  kind: {k}");
    }
    println!("  opened {} by {}", composer.when(b.opened_at), b.opened_by);
    for rd in &b.rounds {
        let t = rd
            .tally
            .as_ref()
            .map(|t| {
                format!(
                    "; {} (replies {}/{}, yes {}, no {}, abstain {})",
                    t.outcome.as_str(),
                    t.present,
                    t.counts.eligible,
                    t.counts.yes,
                    t.counts.no,
                    t.counts.abstain
                )
            })
            .unwrap_or_else(|| "; open".into());
        println!(
            "  round {}: deadline {}{}",
            rd.number,
            composer.when(rd.deadline),
            t
        );
    }
    println!(
        "  round {round} now: N={} answered={} (yes {}, no {}, abstain {}, delegate {})",
        counts.eligible,
        counts.answered(),
        counts.yes,
        counts.no,
        counts.abstain,
        counts.delegate
    );
    println!("  answers:");
    for row in &table {
        println!(
            "    {:<24} {}{}",
            row["name"].as_str().unwrap_or(""),
            row["answer"].as_str().unwrap_or(""),
            row["at"]
                .as_str()
                .map(|a| format!("  ({a})"))
                .unwrap_or_default()
        );
    }
    if !votes.is_empty() {
        println!("  every answer received:");
        for v in &votes_json {
            println!(
                "    round {} {:<10} {:<9} {} {}",
                v["round"],
                v["org"].as_str().unwrap_or(""),
                v["position"].as_str().unwrap_or(""),
                v["cast_at"].as_str().unwrap_or(""),
                v["state"].as_str().unwrap_or("")
            );
        }
    }
    if !disputes.is_empty() {
        println!("  disputes (身に覚えがない):");
        for d in &disputes {
            println!(
                "    #{} round {} {} {}: {}{}",
                d.id,
                d.round,
                d.org,
                d.position.as_str(),
                d.state,
                d.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
    }
    if messages.iter().any(|m| m.verification_json.is_some()) {
        println!("  sender verification:");
        for m in &messages {
            if let Some(v) = verification(m) {
                println!("    #{} {}: {v}", m.id, m.disposition);
            }
        }
    }
    let others: Vec<_> = messages
        .iter()
        .filter(|m| m.disposition != Disposition::Vote)
        .collect();
    if !others.is_empty() {
        println!("  other mail about it:");
        for m in others {
            println!(
                "    #{} {} {}: {}",
                m.id,
                m.internal_date.format("%Y-%m-%d %H:%M:%SZ"),
                m.disposition,
                m.reason
            );
        }
    }
    let unsent = outbox.iter().filter(|m| m.sent_at.is_none()).count();
    println!(
        "  mail: {} sent, {} not yet sent",
        outbox.len() - unsent,
        unsent
    );
    for m in outbox.iter().filter(|m| m.sent_at.is_none()) {
        println!(
            "    {} {} attempts {}{}",
            m.kind,
            m.message_id,
            m.attempts,
            m.last_error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    println!("  history:");
    for e in &history {
        println!(
            "    {} {} ({})",
            e.at.format("%Y-%m-%d %H:%M:%SZ"),
            e.kind,
            e.actor
        );
    }
    Ok(())
}
