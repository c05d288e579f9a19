//! `audit verify`, `replay`, `incidents`: whether the record holds (the hash
//! chain, the rows it recorded, every result recomputed from the raw messages),
//! and the security incidents it holds; `backup`, a copy of it that verifies.

use anyhow::anyhow;

use crate::app::App;

use crate::stdout::println;

/// `audit verify`: the chain links, and every row matches the event that recorded it.
pub(super) async fn verify(app: &App) -> anyhow::Result<()> {
    verify_store(&app.store).await
}

/// `backup FILE`: an online copy of the database, then `audit verify` on the
/// copy (not on the live database, which goes on changing), so a backup that
/// says it is good has been checked as it was written.
pub(super) async fn backup(app: &App, file: &std::path::Path) -> anyhow::Result<()> {
    app.store
        .backup_into(file)
        .await
        .map_err(|e| anyhow!("cannot write the backup: {e} ({})", file.display()))?;
    let copy = crate::store::Store::open(file)
        .await
        .map_err(|e| anyhow!("the backup does not open: {e} ({})", file.display()))?;
    println!("backup written to {}", file.display());
    verify_store(&copy).await
}

async fn verify_store(store: &crate::store::Store) -> anyhow::Result<()> {
    let rep = crate::audit::verify(store).await?;
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
    Ok(())
}

/// `replay`: every answer, tally and outcome recomputed from the stored messages.
pub(super) async fn replay(app: &App) -> anyhow::Result<()> {
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
    Ok(())
}

/// `incidents`: newest first.
pub(super) async fn incidents(app: &App) -> anyhow::Result<()> {
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
    Ok(())
}
