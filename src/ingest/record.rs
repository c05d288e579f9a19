//! Recording a batch: one transaction for its messages (a failure the bot
//! causes gets one of its own), and in it, for each message, what its decision
//! needs loaded (`load`), the decision (`decide`), its action carried out
//! (`act`), its mails rendered (`render`) and everything written: the raw
//! message, its disposition and reason, votes, mails, incidents and audit
//! events, staged in the store's `StagedBatch` and written at the end.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use tracing::{debug, error, info};

use crate::app::{App, AppError};
use crate::disposition::Disposition;
use crate::domain::{Address, BallotRef};
use crate::mailbox::Fetched;
use crate::outbox::Mail;
use crate::security::{self, Incident};
use crate::store::events::{self, Event};
use crate::store::staging::StagedBatch;
use crate::store::{Cursor, NewMessage, Store, StoreError};

use super::decide::{decide, Decision, Supersession};
use super::facts::author_of;
use super::prepare::{content_hash, prepare, Prepared};
use super::{act, incidents, load, render};

/// The result of processing one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub disposition: Disposition,
    pub ballot: Option<BallotRef>,
    /// True when the message had already been recorded and nothing was done.
    pub skipped: bool,
}

/// Processes one fetched message in one transaction. `cursor` is where the
/// mailbox cursor moves once this message is recorded. (`poll` records many
/// messages per transaction; this is the same work for one.)
#[tracing::instrument(skip_all, fields(key = %f.key))]
pub async fn process(
    app: &App,
    source: &str,
    f: &Fetched,
    cursor: Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Processed, AppError> {
    let (prepared, deferred) = prepare(app, std::slice::from_ref(f), None, now).await?;
    if let Some(e) = deferred {
        return Err(e);
    }
    let mut done = record_batch(app, source, &prepared, |_| cursor, now).await?;
    Ok(done.pop().expect("one message in, one out").1)
}

/// Records `prepared` in as few transactions as possible: normally one, whose
/// commit carries every message's effects and the cursor past the last of them.
/// A message the bot fails to handle (not a database failure) is recorded as an
/// error in a transaction of its own, so it neither blocks the mailbox nor takes
/// the others down with it. A database failure rolls back what is not committed
/// and is returned: those messages are read again at the next pass.
pub(super) async fn record_batch<'p>(
    app: &App,
    source: &str,
    prepared: &'p [Prepared<'p>],
    cursor: impl Fn(&Fetched) -> Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Vec<(&'p Fetched, Processed)>, AppError> {
    let mut conn = app.store.batch_connection().await?;
    let result = record_batch_on(app, &mut conn, source, prepared, cursor, now).await;
    let ended = Store::end_batch(&mut conn).await;
    crate::memory::release_freed();
    // The batch's own failure says more than the one after it.
    let done = result?;
    ended?;
    Ok(done)
}

async fn record_batch_on<'p>(
    app: &App,
    conn: &mut SqliteConnection,
    source: &str,
    prepared: &'p [Prepared<'p>],
    cursor: impl Fn(&Fetched) -> Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Vec<(&'p Fetched, Processed)>, AppError> {
    let mut out = Vec::with_capacity(prepared.len());
    let mut rest = prepared;
    while !rest.is_empty() {
        let (done, failed) = match record_run(app, conn, source, rest, &cursor, now).await? {
            Run::All(done) => (done, None),
            Run::FailedAt(i, e) => {
                // Start again without the message that failed: what came before it
                // is recorded, then the failure, then the rest.
                let done = match i {
                    0 => Vec::new(),
                    _ => match record_run(app, conn, source, &rest[..i], &cursor, now).await? {
                        Run::All(done) => done,
                        Run::FailedAt(_, e) => return Err(e),
                    },
                };
                (done, Some((i, e)))
            }
        };
        out.extend(done);
        match failed {
            None => break,
            Some((i, e)) => {
                let p = &rest[i];
                error!(error = %e, "could not handle a message; recording it as an error and going on");
                let processed =
                    record_failure(conn, source, p.f, cursor(p.f), now, &e.detail()).await?;
                out.push((p.f, processed));
                rest = &rest[i + 1..];
            }
        }
    }
    Ok(out)
}

enum Run<'p> {
    All(Vec<(&'p Fetched, Processed)>),
    /// Message `i` could not be handled; nothing was committed.
    FailedAt(usize, AppError),
}

/// One transaction over `prepared`.
async fn record_run<'p>(
    app: &App,
    conn: &mut SqliteConnection,
    source: &str,
    prepared: &'p [Prepared<'p>],
    cursor: &impl Fn(&Fetched) -> Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Run<'p>, AppError> {
    // Stage times, at debug level: where a backlog's time goes (docs/BENCHMARKS.md).
    let clock = std::time::Instant::now();
    let mut tx = Store::begin_on(conn).await?;
    // The ballots the batch before loaded, when no one has changed one since.
    let generation = Store::ballot_generation(&mut tx).await?;
    let ballots = app.store.cached_ballots(generation);
    let mut batch = StagedBatch::new(&mut tx).with_ballots(ballots);
    let keys: Vec<&str> = prepared.iter().map(|p| p.f.key.as_str()).collect();
    let ids: Vec<&str> = prepared
        .iter()
        .filter_map(|p| p.reading.message_id.as_deref())
        .collect();
    let hashes: Vec<&str> = prepared.iter().map(|p| p.hash.as_str()).collect();
    let senders: Vec<&str> = prepared
        .iter()
        .filter_map(|p| p.reading.from.as_ref().map(Address::as_str))
        .collect();
    let since = prepared
        .iter()
        .map(|p| p.f.internal_date)
        .min()
        .unwrap_or(now)
        - chrono::Duration::hours(1);
    batch
        .preload(source, &keys, &ids, &hashes, &senders, since)
        .await?;
    let preloaded = clock.elapsed();
    let mut done = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.iter().enumerate() {
        match record_one(app, &mut batch, source, p, now).await {
            Ok(processed) => done.push((p.f, processed)),
            // The database failed: not the message's fault. Roll back, read again later.
            Err(e @ AppError::Store(_)) => return Err(e),
            Err(e) => return Ok(Run::FailedAt(i, e)),
        }
    }
    let planned = clock.elapsed();
    batch.flush().await?;
    let (ballot_loads, flushes) = (batch.ballot_loads, batch.flushes);
    // Taken before `conn`, which forgets them. A ballot this batch changed was
    // forgotten and loaded again after the change, so these are as committed.
    let ballots = batch.take_ballots();
    let conn = batch.conn().await?;
    if let Some(c) = prepared.iter().rev().find_map(|p| cursor(p.f)) {
        Store::save_cursor(conn, source, c).await?;
    }
    let generation = Store::ballot_generation(conn).await?;
    drop(batch);
    let flushed = clock.elapsed();
    tx.commit().await.map_err(StoreError::from)?;
    // Only once committed: a batch rolled back may have loaded ballots as it
    // had changed them.
    app.store.keep_ballots(generation, ballots);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    debug!(
        messages = prepared.len(),
        preload_ms = ms(preloaded),
        plan_ms = ms(planned - preloaded),
        flush_ms = ms(flushed - planned),
        commit_ms = ms(clock.elapsed() - flushed),
        ballot_loads,
        flushes,
        "batch committed"
    );
    for (_, p) in &done {
        if !p.skipped {
            info!(
                disposition = p.disposition.as_str(),
                ballot = p.ballot.map(|b| b.to_string()),
                "message recorded"
            );
        }
    }
    Ok(Run::All(done))
}

/// Everything one message does, inside the caller's transaction.
async fn record_one(
    app: &App,
    batch: &mut StagedBatch<'_>,
    source: &str,
    p: &Prepared<'_>,
    now: DateTime<Utc>,
) -> Result<Processed, AppError> {
    if batch.seen_key(source, &p.f.key) {
        return Ok(Processed {
            disposition: Disposition::Duplicate,
            ballot: None,
            skipped: true,
        });
    }
    let mut decision = {
        let facts = load::load(app, batch, p).await?;
        decide(&facts)
    };
    // An admin's request opens its ballot, and the secretariat's answer to a
    // digest records the meeting's confirmation, inside this same transaction.
    if let Some(action) = decision.action.take() {
        let done = act::carry_out(app, batch.conn().await?, action, now).await?;
        decision.settle(done);
    }
    if !leaves_ballots_alone(decision.disposition) {
        batch.forget_ballots();
    }
    let mails = render::render(app, &decision, p)?;
    let incidents = incidents::of(app, &decision, p);
    write(app, batch, source, p, &decision, &mails, &incidents, now).await?;
    Ok(Processed {
        disposition: decision.disposition,
        ballot: decision.ballot,
        skipped: false,
    })
}

/// Stages (or, for the rare disputes and incidents, writes) what `decision`
/// recorded about message `p`, with its rendered `mails` and `incidents`.
#[allow(clippy::too_many_arguments)]
async fn write(
    app: &App,
    batch: &mut StagedBatch<'_>,
    source: &str,
    p: &Prepared<'_>,
    decision: &Decision,
    mails: &[Mail],
    incidents: &[Incident],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (reading, f, hash) = (&p.reading, p.f, p.hash.as_str());
    let verification = p.verification.as_ref();
    let reading_json = serde_json::to_string(reading).ok();
    let verification_json = verification.and_then(|v| serde_json::to_string(v).ok());
    let row = batch
        .message(
            &NewMessage {
                source,
                source_key: &f.key,
                message_id: reading.message_id.as_deref(),
                content_hash: hash,
                internal_date: f.internal_date,
                processed_at: now,
                from_addr: reading.from.as_ref().map(Address::as_str),
                subject: reading.subject.as_deref(),
                raw: &f.raw,
                size: f.size,
                ballot: decision.ballot,
                disposition: decision.disposition,
                reason: &decision.reason,
                reading_json: reading_json.as_deref(),
                verification_json: verification_json.as_deref(),
            },
            author_of(reading, verification)
                .as_ref()
                .map(Address::as_str),
        )
        .await?;
    batch.event(
        now,
        Event::new(
            "message_received",
            decision.ballot,
            "daemon",
            serde_json::json!({
                "message": row,
                "message_id": reading.message_id,
                "content_hash": hash,
                "internal_date": f.internal_date,
                "disposition": decision.disposition,
                "reason": decision.reason,
                "verification": verification.map(|v| v.summary()),
                "from_addr_hash": reading.from.as_ref().map(|a| events::digest(a.as_str())),
                "verification_hash": verification_json.as_deref().map(events::digest),
            }),
        ),
    );
    for v in &decision.votes {
        let mut record = v.record.clone();
        record.seq = row;
        let receipt = v.receipt.map(|i| mails[i].message_id.as_str());
        batch.vote(v.ballot, &record, row, receipt, now).await?;
        debug!(ballot = %v.ballot, round = record.round, position = record.position.as_str(), "vote recorded");
        batch.event(
            now,
            Event::new(
                "vote_recorded",
                Some(v.ballot),
                "daemon",
                serde_json::json!({ "message": row, "round": record.round, "org": record.org, "position": record.position, "status": record.status, "cast_at": record.cast_at, "voter_hash": events::digest(&record.voter), "receipt_id": receipt }),
            ),
        );
    }
    for s in &decision.superseded {
        batch.event(now, superseded_event(s));
    }
    for m in mails {
        let (row, event) = app.outbox_row(m, "daemon", now)?;
        batch.mail(row, event, now);
    }
    // Disputes and incidents are rare and write by themselves.
    for vote in &decision.disputes {
        let conn = batch.conn().await?;
        if Store::open_dispute(conn, *vote, row, now).await? {
            events::append(
                conn,
                now,
                &Event::new(
                    "vote_disputed",
                    decision.ballot,
                    "daemon",
                    serde_json::json!({ "vote": vote, "message": row }),
                ),
            )
            .await?;
        }
    }
    for incident in incidents {
        security::report_in(app, batch.conn().await?, incident, Some(row), now).await?;
    }
    Ok(())
}

/// `vote_superseded`: one answer gives way to another, and the trail says
/// which (`message` null: the message being recorded).
fn superseded_event(s: &Supersession) -> Event {
    let side = |v: &crate::ballot::VoteRecord, stored: bool| {
        serde_json::json!({
            "message": stored.then_some(v.seq),
            "message_id": v.message_id,
            "position": v.position,
            "cast_at": v.cast_at,
        })
    };
    let (superseded, by) = if s.new_wins {
        (side(&s.stored, true), side(&s.new, false))
    } else {
        (side(&s.new, false), side(&s.stored, true))
    };
    Event::new(
        "vote_superseded",
        Some(s.ballot),
        "daemon",
        serde_json::json!({ "round": s.new.round, "org": s.new.org, "superseded": superseded, "by": by }),
    )
}

/// True when a message with this disposition changed no ballot, round or
/// ratification: what `StagedBatch` has loaded stays true.
fn leaves_ballots_alone(d: Disposition) -> bool {
    !matches!(
        d,
        Disposition::AdminOpened
            | Disposition::AdminRejected
            | Disposition::Ratification
            | Disposition::Dispute
            | Disposition::Error
    )
}

async fn record_failure(
    conn: &mut SqliteConnection,
    source: &str,
    f: &Fetched,
    cursor: Option<Cursor>,
    now: DateTime<Utc>,
    why: &str,
) -> Result<Processed, AppError> {
    let hash = content_hash(&f.raw);
    let mut tx = Store::begin_on(conn).await?;
    let row = Store::insert_message(
        &mut tx,
        &NewMessage {
            source,
            source_key: &f.key,
            message_id: None,
            content_hash: &hash,
            internal_date: f.internal_date,
            processed_at: now,
            from_addr: None,
            subject: None,
            raw: &f.raw,
            size: f.size,
            ballot: None,
            disposition: Disposition::Error,
            reason: why,
            reading_json: None,
            verification_json: None,
        },
    )
    .await?;
    events::append(
        &mut tx,
        now,
        &Event::new(
            "message_failed",
            None,
            "daemon",
            serde_json::json!({ "message": row, "content_hash": hash, "error": why }),
        ),
    )
    .await?;
    if let Some(c) = cursor {
        Store::save_cursor(&mut tx, source, c).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Processed {
        disposition: Disposition::Error,
        ballot: None,
        skipped: false,
    })
}
