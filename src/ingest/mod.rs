//! The journey of one message: mailbox → reading → ballot → store → outbox.
//!
//! `process` reads the message (a pure function), decides what it means for
//! the ballot it names (pure functions of the ballot and its recorded answers),
//! and records everything in ONE transaction: the raw message, its disposition
//! and reason, any vote, any mail it causes, its audit events and the mailbox
//! cursor. Either all of it is stored or none of it is, so a crash at any moment
//! neither loses the message nor counts it twice.
//!
//! Nothing that arrives is lost: malformed mail, auto-replies, duplicates,
//! strangers' mail are all stored with the reason they were not counted.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use tracing::{debug, error, info, warn};

use crate::admin;
use crate::app::{App, AppError};
use crate::ballot::{Answer, AnswerFate, Ballot, State, VoteRecord, VoteStatus};
use crate::disposition::Disposition;
use crate::domain::{Address, BallotRef, Vote};
use crate::mailbox::{Batch, Fetched, MailSource, MailboxError};
use crate::outbox::compose::{Answering, Member, NotOpenWhy, Recorded};
use crate::outbox::Mail;
use crate::reading::{self, Reading};
use crate::roster::Membership;
use crate::security::{self, Incident};
use crate::store::events::{self, Event};
use crate::store::staging::StagedBatch;
use crate::store::{Cursor, NewMessage, Store, StoreError};
use crate::verify;
use crate::verify::dkim::StaticDkim;
use crate::verify::policy::{Context as VerifyContext, TokenSubject, Verification};

/// The result of processing one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub disposition: Disposition,
    pub ballot: Option<BallotRef>,
    /// True when the message had already been recorded and nothing was done.
    pub skipped: bool,
}

/// The hex SHA-256 of the raw bytes.
pub fn content_hash(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// What a message will do, decided before anything is written.
struct Plan {
    disposition: Disposition,
    reason: String,
    ballot: Option<BallotRef>,
    /// Votes to record, each with the Message-ID of its receipt.
    votes: Vec<(BallotRef, VoteRecord, Option<String>)>,
    mails: Vec<Mail>,
    incidents: Vec<Incident>,
    /// Votes (rows) this message disputes.
    disputes: Vec<i64>,
    /// Further audit events, appended after the message's and its votes'.
    events: Vec<Event>,
}

impl Plan {
    fn only(
        disposition: Disposition,
        ballot: Option<BallotRef>,
        reason: impl Into<String>,
    ) -> Plan {
        Plan {
            disposition,
            reason: reason.into(),
            ballot,
            votes: vec![],
            mails: vec![],
            incidents: vec![],
            disputes: vec![],
            events: vec![],
        }
    }
}

/// A message made ready outside the transaction: read (pure), hashed and, when a
/// policy is configured, its sender verified (which may wait on DNS).
struct Prepared<'f> {
    f: &'f Fetched,
    reading: Reading,
    hash: String,
    verification: Option<Verification>,
}

/// Reads every message of a batch, on every core when there are enough to share:
/// reading is pure and is most of the work of a backlog.
fn read_batch(msgs: &[Fetched], opts: &reading::ReadOptions) -> Vec<(Reading, String)> {
    // block_in_place needs a multi-threaded runtime (unit tests run on one thread).
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if !multi {
        return msgs.iter().map(|f| read_one(f, opts)).collect();
    }
    tokio::task::block_in_place(|| read_all(msgs, opts))
}

fn read_one(f: &Fetched, opts: &reading::ReadOptions) -> (Reading, String) {
    (
        reading::read_message_of_size(&f.raw, f.size, opts),
        content_hash(&f.raw),
    )
}

/// Reads `msgs` on every core (a blocking call: run it where blocking is allowed).
fn read_all(msgs: &[Fetched], opts: &reading::ReadOptions) -> Vec<(Reading, String)> {
    reading::on_every_core(msgs, |f| read_one(f, opts))
}

/// Reads and verifies `msgs`. Stops at the first message whose verification must
/// wait (a DNS server that did not answer): the ones before it are returned with
/// the reason to stop.
async fn prepare<'f>(
    app: &App,
    msgs: &'f [Fetched],
    read: Option<Vec<(Reading, String)>>,
    now: DateTime<Utc>,
) -> Result<(Vec<Prepared<'f>>, Option<AppError>), AppError> {
    // Read already when the batch was fetched ahead.
    let read = match read {
        Some(r) if r.len() == msgs.len() => r,
        _ => read_batch(msgs, &app.read_options),
    };
    // The personal ballots a token may answer: loaded once for the whole batch.
    let candidates = match &app.verifier {
        Some(_) => {
            app.store
                .recent_ballots(now - chrono::Duration::days(60))
                .await?
        }
        None => Vec::new(),
    };
    let mut out = Vec::with_capacity(msgs.len());
    for (f, (reading, hash)) in msgs.iter().zip(read) {
        let verification = verify_sender(app, &reading, &f.raw, &candidates).await;
        if let Some(v) = &verification {
            // A DNS server that did not answer is not the sender's fault: read the
            // message again later, for an hour, before deciding without DKIM.
            if v.retry_later() && now - f.internal_date < chrono::Duration::hours(1) {
                let why =
                    AppError::Deferred(format!("sender verification must wait: {}", v.summary()));
                return Ok((out, Some(why)));
            }
        }
        out.push(Prepared {
            f,
            reading,
            hash,
            verification,
        });
    }
    Ok((out, None))
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
async fn record_batch<'p>(
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
    let mut work = StagedBatch::new(&mut tx).with_ballots(ballots);
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
    work.preload(source, &keys, &ids, &hashes, &senders, since)
        .await?;
    let preloaded = clock.elapsed();
    let mut done = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.iter().enumerate() {
        match record_one(app, &mut work, source, p, now).await {
            Ok(processed) => done.push((p.f, processed)),
            // The database failed: not the message's fault. Roll back, read again later.
            Err(e @ AppError::Store(_)) => return Err(e),
            Err(e) => return Ok(Run::FailedAt(i, e)),
        }
    }
    let planned = clock.elapsed();
    work.flush().await?;
    let (ballot_loads, flushes) = (work.ballot_loads, work.flushes);
    // Taken before `conn`, which forgets them. A ballot this batch changed was
    // forgotten and loaded again after the change, so these are as committed.
    let ballots = work.take_ballots();
    let conn = work.conn().await?;
    if let Some(c) = prepared.iter().rev().find_map(|p| cursor(p.f)) {
        Store::save_cursor(conn, source, c).await?;
    }
    let generation = Store::ballot_generation(conn).await?;
    drop(work);
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

/// Everything one message does, inside the caller's transaction: its raw bytes,
/// disposition and reason, votes, mails, incidents and audit events.
async fn record_one(
    app: &App,
    tx: &mut StagedBatch<'_>,
    source: &str,
    p: &Prepared<'_>,
    now: DateTime<Utc>,
) -> Result<Processed, AppError> {
    let (reading, f, hash) = (&p.reading, p.f, p.hash.as_str());
    let verification = p.verification.as_ref();
    if tx.seen_key(source, &f.key) {
        return Ok(Processed {
            disposition: Disposition::Duplicate,
            ballot: None,
            skipped: true,
        });
    }

    let answering = Answering {
        message_id: reading.message_id.as_deref(),
        content_hash: hash,
    };
    let mut plan = plan(app, tx, reading, f, hash, &answering, verification).await?;

    // An admin's request opens its ballot, and the secretariat's answer to a
    // digest records the meeting's confirmation, inside this same transaction.
    if plan.disposition == Disposition::AdminOpened {
        let conn = tx.conn().await?;
        plan = admin_open(app, conn, reading, verification, &answering, now).await?;
    } else if plan.disposition == Disposition::Ratification {
        let conn = tx.conn().await?;
        plan = ratification(app, conn, reading, verification, f, &answering, now).await?;
    }
    if !leaves_ballots_alone(plan.disposition) {
        tx.forget_ballots();
    }

    // A flood from one sender is reported once, when it crosses the limit. The
    // bot's own copies of what it sent are no flood: a ballot's personal mails
    // alone come back by the dozen within a minute.
    let own = |a: &Address| app.read_options.own_addresses.contains(a);
    if let Some(from) = reading.from.as_ref().filter(|a| !own(a)) {
        let before =
            tx.messages_from_since(from.as_str(), f.internal_date - chrono::Duration::hours(1));
        if before == i64::from(app.config.limits.messages_per_sender_per_hour) {
            plan.incidents.push(Incident {
                kind: security::Kind::Burst,
                ballot: plan.ballot,
                summary: format!(
                    "more than {} messages from one sender within an hour",
                    app.config.limits.messages_per_sender_per_hour
                ),
                evidence: evidence(reading, f, verification),
            });
        }
    }

    let reading_json = serde_json::to_string(reading).ok();
    let verification_json = verification.and_then(|v| serde_json::to_string(v).ok());
    let row = tx
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
                ballot: plan.ballot,
                disposition: plan.disposition,
                reason: &plan.reason,
                reading_json: reading_json.as_deref(),
                verification_json: verification_json.as_deref(),
            },
            author_of(reading, verification)
                .as_ref()
                .map(Address::as_str),
        )
        .await?;
    tx.event(
        now,
        Event::new(
            "message_received",
            plan.ballot,
            "daemon",
            serde_json::json!({
                "message": row,
                "message_id": reading.message_id,
                "content_hash": hash,
                "internal_date": f.internal_date,
                "disposition": plan.disposition,
                "reason": plan.reason,
                "verification": verification.map(|v| v.summary()),
                "from_addr_hash": reading.from.as_ref().map(|a| events::digest(a.as_str())),
                "verification_hash": verification_json.as_deref().map(events::digest),
            }),
        ),
    );
    for (b, mut v, receipt) in plan.votes {
        v.seq = row;
        tx.vote(b, &v, row, receipt.as_deref(), now).await?;
        tx.event(
            now,
            Event::new(
                "vote_recorded",
                Some(b),
                "daemon",
                serde_json::json!({ "message": row, "round": v.round, "org": v.org, "position": v.position, "status": v.status, "cast_at": v.cast_at, "voter_hash": events::digest(&v.voter), "receipt_id": receipt }),
            ),
        );
    }
    for e in plan.events {
        tx.event(now, e);
    }
    for m in &plan.mails {
        let (row, event) = app.outbox_row(m, "daemon", now)?;
        tx.mail(row, event, now);
    }
    // Disputes and incidents are rare and write by themselves.
    for vote in &plan.disputes {
        let conn = tx.conn().await?;
        if Store::open_dispute(conn, *vote, row, now).await? {
            events::append(
                conn,
                now,
                &Event::new(
                    "vote_disputed",
                    plan.ballot,
                    "daemon",
                    serde_json::json!({ "vote": vote, "message": row }),
                ),
            )
            .await?;
        }
    }
    for incident in &plan.incidents {
        security::report_in(app, tx.conn().await?, incident, Some(row), now).await?;
    }
    Ok(Processed {
        disposition: plan.disposition,
        ballot: plan.ballot,
        skipped: false,
    })
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

/// Runs the configured sender verification on a message people wrote; a token
/// may answer any round of `candidates`.
async fn verify_sender(
    app: &App,
    reading: &Reading,
    raw: &[u8],
    candidates: &[Ballot],
) -> Option<Verification> {
    let v = app.verifier.as_ref()?;
    if reading.automated || reading.malformed.is_some() {
        return None;
    }
    let mut verification = verify_message(v, &app.config, candidates, raw).await;
    // Waiting for DNS stops the whole mailbox, so only mail that may count or act
    // (a member's, an admin's, the secretariat's) is worth it; anyone else's is
    // decided now, without DKIM.
    if verification.retry_later() && !worth_waiting_for(app, candidates, &verification) {
        verification.not_waited = true;
    }
    Some(verification)
}
/// Whether the author of a message whose DKIM check met a silent DNS server is
/// someone whose mail the ingest waits for: a voter of the roster (now, or of a
/// recent ballot's copy), an admin or the secretariat.
fn worth_waiting_for(app: &App, candidates: &[crate::ballot::Ballot], v: &Verification) -> bool {
    let Some(a) = v.author.as_ref() else {
        return false;
    };
    let voter = |m: Option<Membership<'_>>| matches!(m, Some(Membership::Voter(_)));
    app.config.is_admin(a)
        || app.config.is_secretariat(a)
        || voter(app.config.roster.lookup(a))
        || candidates.iter().any(|b| voter(b.roster.lookup(a)))
}

/// Sender verification of `raw` under the configured policy; a personal-ballot
/// token may answer any round of `candidates` (shared with `inspect`).
pub async fn verify_message(
    v: &crate::app::Verifier,
    config: &crate::config::Config,
    candidates: &[crate::ballot::Ballot],
    raw: &[u8],
) -> Verification {
    let subjects = |author: &Address| -> Vec<TokenSubject> {
        let mut out = Vec::new();
        for b in candidates {
            if let Some(Membership::Voter(org)) = b.roster.lookup(author) {
                for r in &b.rounds {
                    out.push(TokenSubject {
                        ballot: b.reference,
                        round: r.number,
                        org: org.id.clone(),
                    });
                }
            }
        }
        out
    };
    let ctx = VerifyContext {
        policy: &v.policy,
        token_key: v.token_key.as_ref(),
        bot: &config.addresses.bot,
        list: Some(&config.addresses.list),
        token_subjects: &subjects,
    };
    match &v.dkim {
        Some(d) => verify::check(raw, &ctx, d).await,
        None => verify::check(raw, &ctx, &StaticDkim(vec![])).await,
    }
}

/// What an incident report shows of a message.
fn evidence(
    reading: &Reading,
    f: &Fetched,
    verification: Option<&Verification>,
) -> serde_json::Value {
    serde_json::json!({
        "message_id": reading.message_id,
        "from": reading.from.as_ref().map(|a| a.as_str()),
        "subject": reading.subject,
        "received": f.internal_date,
        "mailbox_key": f.key,
        "verification": verification.map(|v| v.summary()),
        "checks": verification.map(|v| &v.checks),
        "headers": security::evidence_headers(&f.raw),
    })
}

#[allow(clippy::too_many_arguments)]
async fn plan(
    app: &App,
    tx: &mut StagedBatch<'_>,
    reading: &Reading,
    f: &Fetched,
    hash: &str,
    answering: &Answering<'_>,
    verification: Option<&Verification>,
) -> Result<Plan, AppError> {
    if let Some(why) = &reading.malformed {
        return Ok(Plan::only(Disposition::Malformed, None, why.clone()));
    }
    let sender = author_of(reading, verification);
    let earlier = tx.earlier(
        reading.message_id.as_deref(),
        hash,
        sender.as_ref().map(Address::as_str),
    );
    if let Some((first, first_at)) = earlier.original {
        let mut p = Plan::only(
            Disposition::Duplicate,
            reading.ballot,
            format!("the same Message-ID or content was already processed (message #{first}); not counted again"),
        );
        // A copy through the list arrives within minutes of the original; one
        // that comes back an hour or more later is being replayed.
        if f.internal_date - first_at >= chrono::Duration::hours(1) && !reading.automated {
            p.incidents.push(Incident {
                kind: security::Kind::Replay,
                ballot: reading.ballot,
                summary: format!("a message already processed (#{first}) was delivered again"),
                evidence: evidence(reading, f, verification),
            });
        }
        return Ok(p);
    }
    let mut p = judge(app, tx, reading, f, answering, verification).await?;
    if let Some(other) = earlier.clash {
        // Not the same message: judged on its own, and the record says so.
        p.reason.push_str(&format!(
            "; its Message-ID is also that of message #{other} from another sender, judged on its own"
        ));
    }
    Ok(p)
}

/// What a message that is not a copy of an earlier one does.
async fn judge(
    app: &App,
    tx: &mut StagedBatch<'_>,
    reading: &Reading,
    f: &Fetched,
    answering: &Answering<'_>,
    verification: Option<&Verification>,
) -> Result<Plan, AppError> {
    if reading.automated {
        return Ok(Plan::only(
            Disposition::Automated,
            reading.ballot,
            reading
                .automated_reason
                .clone()
                .unwrap_or_else(|| "automated mail is never counted or answered".into()),
        ));
    }
    if let Some(v) = verification.filter(|v| v.enforced && !v.passed) {
        return unverified(app, tx, reading, f, v, answering).await;
    }
    let author = author_of(reading, verification);
    let Some(from) = author.as_ref() else {
        return Ok(Plan::only(
            Disposition::Malformed,
            reading.ballot,
            "the message has no usable From address",
        ));
    };
    let prefix = app.config.ballots.open_subject_prefix.to_lowercase();
    let subject = reading.subject.as_deref().unwrap_or("").trim();
    if app.config.is_admin(from) && subject.to_lowercase().starts_with(&prefix) {
        return Ok(Plan::only(
            Disposition::AdminOpened,
            None,
            "an admin asked to open a ballot",
        ));
    }
    if (app.config.is_secretariat(from) || app.config.is_admin(from))
        && answered_digest(tx.conn().await?, reading, app.config.message_id_domain())
            .await?
            .is_some()
    {
        return Ok(Plan::only(
            Disposition::Ratification,
            None,
            "the secretariat answered a digest",
        ));
    }
    if let Some(p) = dispute(app, tx, reading, from, f, answering, verification).await? {
        return Ok(p);
    }
    if !reading.answers.is_empty() {
        let mut merged = Plan::only(
            Disposition::Several,
            reading.answers.first().map(|a| a.ballot),
            "",
        );
        let mut reasons = Vec::new();
        for a in &reading.answers {
            let named = Named {
                round: if Some(a.ballot) == reading.ballot {
                    reading.round
                } else {
                    None
                },
                token: token_subject(verification),
                several: reading.answers.len() > 1,
                verification,
            };
            let part = answer(
                app,
                tx,
                reading,
                from,
                a.ballot,
                a.vote,
                Some(&a.evidence),
                f,
                answering,
                &named,
            )
            .await?;
            reasons.push(format!(
                "{}: {} ({})",
                a.ballot,
                part.disposition.as_str(),
                part.reason
            ));
            merged.votes.extend(part.votes);
            merged.mails.extend(part.mails);
            merged.events.extend(part.events);
            // One incident of a kind per message, however many answers it holds.
            for i in part.incidents {
                if !merged.incidents.iter().any(|x| x.kind == i.kind) {
                    merged.incidents.push(i);
                }
            }
        }
        merged.reason = reasons.join("; ");
        return Ok(merged);
    }
    match reading.ballot {
        None => Ok(Plan::only(
            Disposition::NoBallot,
            None,
            "the message names no ballot",
        )),
        Some(r) => {
            let named = Named {
                round: reading.round,
                token: token_subject(verification),
                several: false,
                verification,
            };
            answer(
                app,
                tx,
                reading,
                from,
                r,
                reading.vote,
                reading.evidence.as_deref(),
                f,
                answering,
                &named,
            )
            .await
        }
    }
}

/// A message that failed sender verification: recorded, not counted; the
/// member it claims to be from is told at their registered addresses (once an
/// hour at most: a flood of forgeries is one warning), and the security contact
/// receives an incident report (merged in a flood, see `security`).
async fn unverified(
    app: &App,
    tx: &mut StagedBatch<'_>,
    reading: &Reading,
    f: &Fetched,
    v: &Verification,
    answering: &Answering<'_>,
) -> Result<Plan, AppError> {
    let claimed = v
        .list
        .as_ref()
        .and_then(|l| l.claimed.clone())
        .or_else(|| v.author.clone())
        .or_else(|| reading.from.clone());
    let ballot = match reading.ballot {
        Some(r) => tx.ballot(r).await?,
        None => None,
    };
    let mut p = Plan::only(
        Disposition::Unverified,
        ballot.as_ref().map(|b| b.reference),
        format!("sender verification {}; not counted", v.summary()),
    );
    let Some(claimed) = claimed else { return Ok(p) };
    let roster = ballot
        .as_ref()
        .map(|b| &b.roster)
        .unwrap_or(&app.config.roster);
    let member = match roster.lookup(&claimed) {
        Some(Membership::Voter(org)) => Some(org),
        _ => None,
    };
    let official = app.config.is_admin(&claimed) || app.config.is_secretariat(&claimed);
    if member.is_none() && !official {
        // A stranger's unverifiable mail is only noise: recorded, nothing else.
        return Ok(p);
    }
    if let Some(org) = member {
        let to: Vec<String> = org.addresses().map(|a| a.to_string()).collect();
        let since = app.now() - chrono::Duration::hours(1);
        if tx.queued_to_since("unverified", &to, since).await? {
            p.reason
                .push_str("; the organisation was already told within the hour");
        } else {
            let mail = app.composer().unverified(
                org,
                ballot.as_deref(),
                &claimed,
                &v.summary(),
                f.internal_date,
                answering,
            )?;
            p.mails.push(match &ballot {
                Some(b) => with_personal_reply_to(app, b, org, mail),
                None => mail,
            });
        }
    }
    p.incidents.push(Incident {
        kind: security::Kind::VerificationFailed,
        ballot: p.ballot,
        summary: if member.is_some() {
            "a message in a member's name failed sender verification".into()
        } else {
            "a message in an admin's name failed sender verification".into()
        },
        evidence: evidence(reading, f, Some(v)),
    });
    Ok(p)
}

/// The ballot and round a message says it answers: the round of our mail it
/// replies to, and the personal ballot mail whose token verified it.
struct Named<'a> {
    round: Option<u32>,
    token: Option<&'a TokenSubject>,
    /// One answer of a reply that answers several ballots.
    several: bool,
    /// For the evidence of an incident.
    verification: Option<&'a Verification>,
}

/// Whom a message is from: the author verification settled on (the list's
/// rewritten From resolved through a trusted header), else the From header. The
/// same address decides who may act and is answered.
fn author_of(reading: &Reading, verification: Option<&Verification>) -> Option<Address> {
    verification
        .and_then(|v| v.author.clone())
        .or_else(|| reading.from.clone())
}

/// `vote_superseded` when `new` (not yet stored) changes which answer of its
/// organisation counts in its round: the one counted until now stops counting,
/// or, when `new` is dated before it, `new` itself never counts. Either way one
/// answer gives way to another, and the trail says which (`message` null: the
/// message being recorded).
fn superseded_event(
    b: &crate::ballot::Ballot,
    votes: &[VoteRecord],
    new: &VoteRecord,
) -> Option<Event> {
    let before = b.counted_votes(votes, new.round).get(&new.org).copied()?;
    // Arrival order: the new message gets a row after every stored one.
    let incoming = VoteRecord {
        seq: i64::MAX,
        ..new.clone()
    };
    let mut all = votes.to_vec();
    all.push(incoming);
    let wins = b
        .counted_votes(&all, new.round)
        .get(&new.org)
        .is_some_and(|v| v.seq == i64::MAX);
    let side = |v: &VoteRecord, stored: bool| {
        serde_json::json!({
            "message": stored.then_some(v.seq),
            "message_id": v.message_id,
            "position": v.position,
            "cast_at": v.cast_at,
        })
    };
    let (superseded, by) = if wins {
        (side(before, true), side(new, false))
    } else {
        (side(new, false), side(before, true))
    };
    Some(Event::new(
        "vote_superseded",
        Some(b.reference),
        "daemon",
        serde_json::json!({ "round": new.round, "org": new.org, "superseded": superseded, "by": by }),
    ))
}

/// A personal mail about `b` for `org`, with the organisation's `bot+TOKEN@`
/// Reply-To when the policy uses tokens: an answer to a receipt, a reminder or a
/// notice then proves itself like one to the personal ballot, and a dispute
/// (身に覚えがない) of a receipt can verify under a token-only policy.
fn with_personal_reply_to(
    app: &App,
    b: &crate::ballot::Ballot,
    org: &crate::roster::Organisation,
    mut mail: Mail,
) -> Mail {
    if let Some(a) = app.personal_reply_to(b, org) {
        mail.reply_to = Some(a);
    }
    mail
}

fn token_subject(v: Option<&Verification>) -> Option<&TokenSubject> {
    v.filter(|v| v.method == Some(crate::verify::policy::Method::Token))
        .and_then(|v| v.token.as_ref())
}

/// Why an answer belongs to another ballot or round than the one it would count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// It replies to (or its token is for) the mail of this other round.
    Round(u32),
    /// Its personal reply token is for another ballot.
    Ballot(BallotRef),
}

impl Mismatch {
    fn reason(&self, round: u32) -> String {
        match self {
            Mismatch::Round(n) => {
                format!("the reply answers round {n} but round {round} is open; not counted")
            }
            Mismatch::Ballot(b) => {
                format!("the personal reply address belongs to {b}; not counted")
            }
        }
    }
}

/// Whether an answer that would count in `round` of `ballot` says it answers
/// something else: the round of the mail it replies to, or the ballot and round
/// of the personal reply address (token) it was sent to. Shared by the ingest
/// and `replay`.
pub fn answers_elsewhere(
    named_round: Option<u32>,
    token: Option<&TokenSubject>,
    ballot: BallotRef,
    round: u32,
) -> Option<Mismatch> {
    match token {
        Some(t) if t.ballot != ballot => Some(Mismatch::Ballot(t.ballot)),
        Some(t) if t.round != round => Some(Mismatch::Round(t.round)),
        _ => named_round.filter(|n| *n != round).map(Mismatch::Round),
    }
}

/// Where an answer that would count in a round belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// It counts here.
    Here,
    /// It answers another ballot or round (`answers_elsewhere`).
    Elsewhere(Mismatch),
    /// One answer of a reply to several ballots, sent to the personal reply
    /// address of `token_ballot`: the token speaks for that ballot only, and
    /// nothing else verified this answer. Not a replay; the member is asked to
    /// answer this ballot again.
    Unverified { token_ballot: BallotRef },
}

/// Where an answer to `ballot` that would count in `round` belongs. A reply
/// that answers several ballots (`several`) carries at most one ballot's
/// token; its other answers count where the author is verified without it
/// (`verified_without_token`: another accepted method passed, or the policy
/// does not enforce). Shared by the ingest and `replay`.
pub fn place_answer(
    named_round: Option<u32>,
    token: Option<&TokenSubject>,
    ballot: BallotRef,
    round: u32,
    several: bool,
    verified_without_token: bool,
) -> Placement {
    match answers_elsewhere(named_round, token, ballot, round) {
        None => Placement::Here,
        Some(Mismatch::Ballot(token_ballot)) if several => {
            if !verified_without_token {
                return Placement::Unverified { token_ballot };
            }
            match answers_elsewhere(named_round, None, ballot, round) {
                None => Placement::Here,
                Some(m) => Placement::Elsewhere(m),
            }
        }
        Some(m) => Placement::Elsewhere(m),
    }
}

/// Words that say a recorded vote was not the member's own.
const DISPUTE_WORDS: &[&str] = &[
    "身に覚えがな",
    "身に覚えはな",
    "身に覚えがありません",
    "心当たりがな",
    "心当たりはな",
    "心当たりがありません",
    "送っていません",
    "送っていない",
    "送信していません",
    "送信していない",
    "not mine",
    "not my vote",
    "did not send",
    "didn't send",
    "never sent",
];

/// True when `own_words` say the vote was not theirs.
pub fn says_not_mine(own_words: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let text: String = own_words
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .replace('\u{2019}', "'");
    DISPUTE_WORDS.iter().any(|w| text.contains(w))
}

/// A reply to one of our receipts saying the vote was not theirs (身に覚えがない):
/// the vote is disputed, stops counting until an admin decides, the
/// organisation is told at its registered addresses and the security contact
/// receives an incident report. Only a registered address of the organisation
/// whose vote it is may dispute it, and a dispute verified by a personal reply
/// address must use one of that ballot (the receipt's own, under a token-only
/// policy); anything else is read as usual.
async fn dispute(
    app: &App,
    tx: &mut StagedBatch<'_>,
    reading: &Reading,
    from: &Address,
    f: &Fetched,
    answering: &Answering<'_>,
    verification: Option<&Verification>,
) -> Result<Option<Plan>, AppError> {
    let suffix = format!("@{}", app.config.message_id_domain());
    let receipt = reading
        .in_reply_to
        .iter()
        .chain(reading.references.iter().rev())
        .find(|id| id.contains(".receipt.") && id.ends_with(&suffix));
    let Some(receipt) = receipt else {
        return Ok(None);
    };
    if !says_not_mine(&reading.own_words) {
        return Ok(None);
    }
    let Some((vote, r, round, org_id, position)) = tx.vote_by_receipt(receipt).await? else {
        return Ok(None);
    };
    let Some(b) = tx.ballot(r).await? else {
        return Ok(None);
    };
    let Some(org) = b.roster.organisation(&org_id) else {
        return Ok(None);
    };
    if !org.addresses().any(|a| a == from) {
        return Ok(None);
    }
    if token_subject(verification).is_some_and(|t| t.ballot != r || t.org != org.id) {
        return Ok(None);
    }
    let mut p = Plan::only(
        Disposition::Dispute,
        Some(r),
        format!("the organisation says its vote in round {round} was not its own; the vote is suspended until an admin decides"),
    );
    p.disputes.push(vote);
    let ack = app
        .composer()
        .disputed(&b, org, round, position, f.internal_date, answering)?;
    p.mails.push(with_personal_reply_to(app, &b, org, ack));
    p.incidents.push(Incident {
        kind: security::Kind::Dispute,
        ballot: Some(r),
        summary: format!("an organisation disputes the vote recorded in its name (round {round})"),
        evidence: serde_json::json!({
            "org": org.id,
            "receipt": receipt,
            "dispute": evidence(reading, f, verification),
        }),
    });
    Ok(Some(p))
}

/// A member's answer to ballot `r`.
#[allow(clippy::too_many_arguments)]
async fn answer(
    app: &App,
    tx: &mut StagedBatch<'_>,
    reading: &Reading,
    from: &Address,
    r: BallotRef,
    vote: Vote,
    evidence: Option<&str>,
    f: &Fetched,
    answering: &Answering<'_>,
    named: &Named<'_>,
) -> Result<Plan, AppError> {
    let composer = app.composer();
    let Some(b) = tx.ballot(r).await? else {
        let mut p = Plan::only(
            Disposition::UnknownBallot,
            None,
            format!("{r} does not exist"),
        );
        // Only members are answered: a stranger's mail never makes the bot write.
        if let Some(Membership::Voter(org)) = app.config.roster.lookup(from) {
            let member = Member { org, voter: from };
            p.mails.push(composer.unknown_ballot(
                r,
                member,
                reading.subject.as_deref().unwrap_or(""),
                answering,
            )?);
        }
        return Ok(p);
    };
    let (org, position, fate) = match b.answer(from, vote, f.internal_date) {
        Answer::NonMember => {
            return Ok(Plan::only(
                Disposition::NonMember,
                Some(r),
                "the sender is not on this ballot's roster; recorded and ignored",
            ))
        }
        Answer::NonVoting(p) => {
            return Ok(Plan::only(
                Disposition::NonVoting,
                Some(r),
                format!(
                    "the sender takes part as {} without a vote; recorded and ignored",
                    p.role.as_str()
                ),
            ))
        }
        Answer::NoAnswer(_) => {
            return Ok(Plan::only(
                Disposition::NoAnswer,
                Some(r),
                reading.reason.clone(),
            ))
        }
        Answer::Unclear { org, delegation } => {
            let reason = if delegation {
                format!(
                    "the rule {} does not define 一任 (delegation); please answer 賛成, 反対 or 棄権",
                    b.profile.name
                )
            } else {
                reading.reason.clone()
            };
            let mut p = Plan::only(Disposition::Unclear, Some(r), reason.clone());
            if b.state == State::Open {
                let member = Member { org, voter: from };
                // Too large to read: the member is told so, and how large it was.
                let mail = match reading.oversized {
                    Some(o) => composer.too_large(&b, member, o.size, o.limit, answering)?,
                    None => composer.unclear(
                        &b,
                        member,
                        &reading.own_words,
                        &reason,
                        delegation,
                        answering,
                    )?,
                };
                p.mails.push(with_personal_reply_to(app, &b, org, mail));
            }
            return Ok(p);
        }
        Answer::Position {
            org,
            position,
            fate,
        } => (org, position, fate),
    };
    let member = Member { org, voter: from };
    let evidence = evidence.unwrap_or(position.label_ja()).to_string();
    let record = |round: u32, status: VoteStatus| VoteRecord {
        org: org.id.clone(),
        position,
        cast_at: f.internal_date,
        seq: 0,
        round,
        status,
        voter: from.to_string(),
        message_id: reading.message_id.clone(),
        disputed: false,
    };
    // A reply counts only in the ballot and round it answers: an old answer
    // sent again, or a personal reply address used for another round, is
    // recorded but never counted again (the member is asked to answer anew).
    if let AnswerFate::Count { round } = fate {
        let verified = named
            .verification
            .is_none_or(Verification::verified_without_token);
        let placement = place_answer(named.round, named.token, r, round, named.several, verified);
        if let Placement::Unverified { token_ballot } = placement {
            let mut p = Plan::only(
                Disposition::NotCounted,
                Some(r),
                format!(
                    "one answer of a reply to several ballots, sent to the personal reply address of {token_ballot}, which verifies only that ballot; nothing else verified it; not counted"
                ),
            );
            let mail = composer.not_verified(
                &b,
                member,
                position,
                token_ballot,
                f.internal_date,
                answering,
            )?;
            p.mails.push(with_personal_reply_to(app, &b, org, mail));
            return Ok(p);
        }
        if let Placement::Elsewhere(m) = placement {
            let mut p = Plan::only(Disposition::NotCounted, Some(r), m.reason(round));
            if let Mismatch::Round(n) = m {
                let mail = composer.not_open(
                    &b,
                    member,
                    NotOpenWhy::OtherRound(n),
                    f.internal_date,
                    answering,
                )?;
                p.mails.push(with_personal_reply_to(app, &b, org, mail));
            }
            // A personal reply address is a credential for one ballot and round:
            // used for another, it is being replayed (or an old mail answered),
            // which the security contact hears of.
            if let Some(t) = named.token.filter(|t| t.ballot != r || t.round != round) {
                p.incidents.push(Incident {
                    kind: security::Kind::Replay,
                    ballot: Some(r),
                    summary: format!(
                        "the personal reply address of {} round {} was used to answer {r} round {round}",
                        t.ballot, t.round
                    ),
                    evidence: self::evidence(reading, f, named.verification),
                });
            }
            return Ok(p);
        }
    }
    let mut p = match fate {
        AnswerFate::Count { round } => {
            // This organisation's answers only: whose answer stands is decided per
            // organisation, and a ballot may hold thousands of answers.
            let votes = tx.org_votes(r, &org.id).await?;
            let previous = b.positions(&votes, round).get(&org.id).copied();
            debug!(ballot = %r, round, position = position.as_str(), "vote counted");
            // Under a rule whose first answer is final, a later one is kept on
            // record (the receipt says which answer stands) and never counts.
            let first_stands = b.profile.vote_changes == crate::ballot::rules::VoteChanges::Closed;
            let mut p = match previous {
                Some(kept) if first_stands => Plan::only(
                    Disposition::NotCounted,
                    Some(r),
                    format!(
                        "the rule makes the first answer final: {} stands in round {round}; not counted",
                        kept.as_str()
                    ),
                ),
                _ => Plan::only(
                    Disposition::Vote,
                    Some(r),
                    format!("counted in round {round}"),
                ),
            };
            let recorded = Recorded {
                position,
                received_at: f.internal_date,
                evidence: &evidence,
                superseded: previous,
            };
            let receipt = composer.receipt(&b, member, recorded, answering)?;
            let new = record(round, VoteStatus::Valid);
            if let Some(e) = superseded_event(&b, &votes, &new) {
                p.events.push(e);
            }
            p.votes.push((r, new, Some(receipt.message_id.clone())));
            p.mails.push(receipt);
            p
        }
        AnswerFate::Late { round } => {
            let mut p = Plan::only(
                Disposition::Late,
                Some(r),
                format!("arrived after the deadline of round {round}; not counted"),
            );
            p.votes.push((r, record(round, VoteStatus::Late), None));
            p.mails.push(composer.not_open(
                &b,
                member,
                NotOpenWhy::Late,
                f.internal_date,
                answering,
            )?);
            p
        }
        AnswerFate::Cancelled => {
            let mut p = Plan::only(
                Disposition::NotCounted,
                Some(r),
                "the ballot was cancelled; not counted",
            );
            p.mails.push(composer.not_open(
                &b,
                member,
                NotOpenWhy::Cancelled,
                f.internal_date,
                answering,
            )?);
            p
        }
        AnswerFate::Early => {
            let mut p = Plan::only(
                Disposition::NotCounted,
                Some(r),
                "dated before the ballot opened; not counted",
            );
            p.mails.push(composer.not_open(
                &b,
                member,
                NotOpenWhy::Early,
                f.internal_date,
                answering,
            )?);
            p
        }
    };
    // The receipt and every notice are personal mails: each carries the
    // organisation's reply address.
    p.mails = p
        .mails
        .into_iter()
        .map(|m| with_personal_reply_to(app, &b, org, m))
        .collect();
    p.ballot = Some(r);
    Ok(p)
}

/// An admin's request to open a ballot. The admin answered is the author that
/// verification settled on (plan() checked it is an admin), never the raw From,
/// which a list that rewrites From would have turned into the list itself.
async fn admin_open(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    verification: Option<&Verification>,
    answering: &Answering<'_>,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let from = &author_of(reading, verification).expect("checked by plan()");
    let subject = reading.subject.as_deref().unwrap_or("").trim();
    let prefix_len = app.config.ballots.open_subject_prefix.len();
    // The prefix matched case-insensitively on an ASCII-lower-cased copy; slicing by its
    // byte length is safe only when the subject starts with the same bytes' length.
    let rest = subject.get(prefix_len..).unwrap_or("");
    let actor = format!("mail:{from}");
    let composer = app.composer();
    let refuse = |error: String| -> Result<Plan, AppError> {
        let mut p = Plan::only(Disposition::AdminRejected, None, error.clone());
        p.mails
            .push(composer.admin_error(from, subject, &error, answering)?);
        Ok(p)
    };
    let req = match admin::parse_open_mail(rest, &reading.text) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    match admin::open_in(app, tx, &req, &actor, now).await {
        Ok(b) => {
            let mut p = Plan::only(
                Disposition::AdminOpened,
                Some(b.reference),
                format!("opened {}", b.reference),
            );
            p.mails.push(composer.opened(&b, from, answering)?);
            Ok(p)
        }
        Err(e) if e.is_user_error() => refuse(e.to_string()),
        Err(e) => Err(e),
    }
}

/// The digest a message answers, found from In-Reply-To and References.
async fn answered_digest(
    tx: &mut SqliteConnection,
    reading: &Reading,
    domain: &str,
) -> Result<Option<crate::store::SentDigest>, AppError> {
    let suffix = format!("@{domain}");
    for id in reading
        .in_reply_to
        .iter()
        .chain(reading.references.iter().rev())
    {
        if id.starts_with("digest.") && id.ends_with(&suffix) {
            if let Some(d) = Store::digest_by_message_id(tx, id).await? {
                return Ok(Some(d));
            }
        }
    }
    Ok(None)
}

/// What a reply to a digest confirms: the references it names (of those the
/// digest listed), or all of them when it says 確認済 / confirmed. A negated
/// statement (確認済ではありません, 未確認, not confirmed) confirms nothing.
///
/// Negation is judged per reference, not for the whole reply: within a line,
/// each named reference takes the verdict of the first 確認済-like or negating
/// word after it (Japanese puts it after: "001 確認済、002 未確認"), else of the
/// last one before it ("Confirmed: B-2026-001"), else it is a bare listing and
/// confirmed. A reply that names no listed reference confirms everything if it
/// says 確認済 without negating anything. One that names only exclusions ("確認済。
/// ただし B-2026-002 は未確認") confirms the rest when it also says 確認済 outside
/// those lines. A resolution's own outcome (否決) is not a negation.
pub fn confirmed_by(own_words: &str, listed: &[BallotRef]) -> Option<Vec<BallotRef>> {
    use unicode_normalization::UnicodeNormalization;
    static REF: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = REF.get_or_init(|| {
        regex::Regex::new(r"(?-u:\b)b-[0-9]{4}-[0-9]{3,6}(?-u:\b)").expect("static regex")
    });
    // Longest first, negations before the affirmations they contain.
    const NEGATIVE: &[&str] = &[
        "確認済みではありません",
        "確認済ではありません",
        "確認済みではない",
        "確認済ではない",
        "確認していません",
        "確認されていません",
        "確認されませんでした",
        "確認できませんでした",
        "not confirmed",
        "unconfirmed",
        "ではありません",
        "ではない",
        "未確認",
        "されませんでした",
        "できませんでした",
    ];
    const POSITIVE: &[&str] = &[
        "確認済",
        "確認しました",
        "確認されました",
        "承認されました",
        "confirmed",
    ];
    let text: String = own_words.nfkc().collect::<String>().to_lowercase();
    let mut named: Vec<(BallotRef, bool)> = Vec::new();
    let mut general_yes = false;
    let mut general_no = false;
    for line in text.lines() {
        // (byte offset, true for 確認済, false for a negation)
        let mut marks: Vec<(usize, bool)> = Vec::new();
        let mut i = 0;
        while i < line.len() {
            let rest = &line[i..];
            if let Some(w) = NEGATIVE.iter().find(|w| rest.starts_with(**w)) {
                marks.push((i, false));
                i += w.len();
            } else if let Some(w) = POSITIVE.iter().find(|w| rest.starts_with(**w)) {
                marks.push((i, true));
                i += w.len();
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        let refs: Vec<(usize, BallotRef)> = re
            .find_iter(line)
            .filter_map(|m| Some((m.end(), m.as_str().to_uppercase().parse().ok()?)))
            .filter(|(_, r)| listed.contains(r))
            .collect();
        if refs.is_empty() {
            general_yes |= marks.iter().any(|(_, yes)| *yes);
            general_no |= marks.iter().any(|(_, yes)| !*yes);
            continue;
        }
        for (end, r) in refs {
            let verdict = marks
                .iter()
                .find(|(at, _)| *at >= end)
                .or_else(|| marks.iter().rev().find(|(at, _)| *at < end))
                .is_none_or(|(_, yes)| *yes);
            named.retain(|(n, _)| *n != r);
            named.push((r, verdict));
        }
    }
    if named.is_empty() {
        return (general_yes && !general_no).then(|| listed.to_vec());
    }
    let confirmed: Vec<BallotRef> = if named.iter().any(|(_, yes)| *yes) {
        named
            .iter()
            .filter(|(_, yes)| *yes)
            .map(|(r, _)| *r)
            .collect()
    } else if general_yes && !general_no {
        listed
            .iter()
            .filter(|r| !named.iter().any(|(n, _)| n == *r))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    (!confirmed.is_empty()).then_some(confirmed)
}

/// The secretariat's answer to a digest; answered, like admin mail, at the
/// verified author's address.
async fn ratification(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    verification: Option<&Verification>,
    f: &Fetched,
    answering: &Answering<'_>,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let from = &author_of(reading, verification).expect("checked by plan()");
    let digest = answered_digest(tx, reading, app.config.message_id_domain())
        .await?
        .expect("checked by plan()");
    // A resolution is confirmed at a meeting: the one the digest was sent for
    // (an admin or the schedule named it), else the latest on the calendar
    // held between the digest and this reply. Never at a date no meeting was
    // held (the reply's own date, say), which no minutes would show.
    let replied_on = f
        .internal_date
        .with_timezone(&app.config.organisation.time_zone)
        .date_naive();
    let schedule = &app.config.schedule;
    let meeting = match digest.meeting {
        Some(m) => Some(m),
        None => {
            let added = Store::added_meetings_tx(tx).await?;
            let sent_on = digest
                .sent_at
                .with_timezone(&app.config.organisation.time_zone)
                .date_naive();
            crate::meetings::calendar(schedule, &added, sent_on, replied_on)
                .last()
                .map(|m| m.date)
        }
    };
    let Some(meeting) = meeting else {
        let mut p = Plan::only(
            Disposition::Ratification,
            None,
            "a reply to a digest, but no meeting on the calendar to record it at; nothing confirmed, the secretariat was told",
        );
        let pending = digest.ballots.clone();
        p.mails.push(
            app.composer()
                .ratified(from, None, &[], &pending, true, answering)?,
        );
        return Ok(p);
    };
    let mut still_pending = Vec::new();
    let mut wanted = Vec::new();
    for r in &digest.ballots {
        if let Some(b) = Store::load_ballot_tx(tx, *r).await? {
            if b.ratification == crate::ballot::Ratification::Pending {
                still_pending.push(*r);
            }
        }
    }
    if let Some(refs) = confirmed_by(&reading.own_words, &digest.ballots) {
        wanted = refs
            .into_iter()
            .filter(|r| still_pending.contains(r))
            .collect();
    }
    let confirmed = admin::ratify_in(
        tx,
        &wanted,
        meeting,
        &admin::Decision::Confirmed,
        &format!("mail:{from}"),
        now,
    )
    .await?;
    still_pending.retain(|r| !wanted.contains(r));
    let reason = if confirmed.is_empty() {
        "a reply to the digest that confirms nothing; the secretariat was told how to confirm"
            .to_string()
    } else {
        let refs: Vec<String> = wanted.iter().map(|r| r.to_string()).collect();
        format!("confirmed at the meeting of {meeting}: {}", refs.join(", "))
    };
    let mut p = Plan::only(Disposition::Ratification, None, reason);
    p.mails.push(app.composer().ratified(
        from,
        Some(meeting),
        &confirmed,
        &still_pending,
        false,
        answering,
    )?);
    Ok(p)
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

/// What a pass over the mailbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    pub processed: usize,
    pub skipped: usize,
    pub counted: usize,
    pub by_disposition: std::collections::BTreeMap<&'static str, usize>,
}

/// A pass failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    Mailbox(#[from] MailboxError),
    #[error("{0}")]
    App(#[from] AppError),
}

impl PollError {
    /// True when the database failed, not the mailbox.
    pub fn is_database(&self) -> bool {
        matches!(self, PollError::App(a) if a.is_database())
    }
}

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> Self {
        PollError::App(AppError::Store(e))
    }
}

/// Shows how far a long read has got, on a terminal only (cron stays quiet).
struct Progress {
    on: bool,
    last: Option<std::time::Instant>,
    shown: bool,
}

impl Progress {
    fn new(on: bool) -> Self {
        Progress {
            on,
            last: None,
            shown: false,
        }
    }

    /// At most once a second; the first after a second of work.
    fn show(&mut self, done: usize, pending: usize) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        let last = *self.last.get_or_insert(now);
        if now.duration_since(last) < std::time::Duration::from_secs(1) {
            return;
        }
        self.last = Some(now);
        self.shown = true;
        if pending > 0 {
            eprint!("\r{done} of about {} messages read", done + pending);
        } else {
            eprint!("\r{done} messages read");
        }
    }

    fn finish(&self, done: usize) {
        if self.shown {
            eprintln!("\r{done} messages read{}", " ".repeat(24));
        }
    }
}

/// A batch fetched (and read) while the one before it was recorded: when its
/// fetch began, the cursor it was fetched after, and what came back.
type ReadAhead = (
    DateTime<Utc>,
    Option<Cursor>,
    Result<(Batch, Vec<(Reading, String)>), MailboxError>,
);

/// Reads the mailbox to its end, processing every new message, a batch per
/// transaction. On a terminal the count is shown as it goes; under cron it stays
/// quiet.
pub async fn poll(app: &App, src: &mut dyn MailSource) -> Result<PollReport, PollError> {
    let name = app.source_name();
    let mut report = PollReport::default();
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let max = app.config.limits.messages_per_transaction;
    // A batch read ahead while the one before it was recorded, and when its
    // fetch began: the mailbox is read to its end as of that instant.
    let mut ahead: Option<ReadAhead> = None;
    loop {
        // A batch, recorded in one transaction: its size bounds memory however
        // large the backlog (the mailbox also caps its bytes) and spreads one
        // commit's fsync over many messages.
        let (started, cursor, batch, read) = match ahead.take() {
            Some((at, cursor, fetched)) => {
                let (batch, read) = fetched?;
                (at, cursor, batch, Some(read))
            }
            None => {
                let started = app.now();
                let cursor = app.store.cursor(&name).await?;
                (started, cursor, src.fetch(cursor, max).await?, None)
            }
        };
        let now = app.now();
        let clock = std::time::Instant::now();
        let (prepared, deferred) = prepare(app, &batch.messages, read, now).await?;
        debug!(
            messages = batch.messages.len(),
            prepare_ms = clock.elapsed().as_secs_f64() * 1e3,
            "batch prepared"
        );
        let uidvalidity = batch.uidvalidity;
        let at = |f: &Fetched| {
            f.uid.map(|uid| Cursor {
                uidvalidity,
                last_uid: uid,
            })
        };
        // Reading the next batch from the server while this one is recorded
        // keeps both the network and the database busy. Only a source whose
        // cursor is the UID can: a Maildir hands out what is still in new/.
        let read_ahead = batch.more && deferred.is_none() && src.reads_ahead();
        let done = if read_ahead {
            let next_cursor = Some(Cursor {
                uidvalidity,
                last_uid: batch.scanned_to,
            });
            let fetch_started = app.now();
            let opts = app.read_options.clone();
            let fetch_and_read = async {
                let clock = std::time::Instant::now();
                let next = src.fetch(next_cursor, max).await?;
                let fetched = clock.elapsed();
                // Reading is pure and most of a backlog's work: on the other core,
                // while this batch is recorded (one thread: recording has the first).
                let read = tokio::task::spawn_blocking(move || {
                    let read = next.messages.iter().map(|f| read_one(f, &opts)).collect();
                    (next, read)
                })
                .await
                .map_err(|e| match e.try_into_panic() {
                    Ok(p) => std::panic::resume_unwind(p),
                    Err(e) => MailboxError::Io(std::io::Error::other(e)),
                });
                debug!(
                    fetch_ms = fetched.as_secs_f64() * 1e3,
                    read_ms = (clock.elapsed() - fetched).as_secs_f64() * 1e3,
                    "next batch fetched and read"
                );
                read
            };
            let (done, next) =
                tokio::join!(record_batch(app, &name, &prepared, at, now), fetch_and_read);
            ahead = Some((fetch_started, next_cursor, next));
            done?
        } else {
            record_batch(app, &name, &prepared, at, now).await?
        };
        for (f, p) in &done {
            src.committed(f).await?;
            if p.skipped {
                report.skipped += 1;
            } else {
                report.processed += 1;
                *report
                    .by_disposition
                    .entry(p.disposition.as_str())
                    .or_default() += 1;
                if p.disposition == Disposition::Vote {
                    report.counted += 1;
                }
            }
        }
        if let Some(e) = deferred {
            progress.finish(report.processed);
            return Err(e.into());
        }
        // UIDs with no message left (expunged): move past them too.
        let last_uid = batch
            .messages
            .iter()
            .filter_map(|m| m.uid)
            .max()
            .or(cursor
                .filter(|c| c.uidvalidity == batch.uidvalidity)
                .map(|c| c.last_uid))
            .unwrap_or(0);
        if batch.uidvalidity != 0 && batch.scanned_to > last_uid {
            let mut tx = app.store.begin().await?;
            Store::save_cursor(
                &mut tx,
                &name,
                Cursor {
                    uidvalidity: batch.uidvalidity,
                    last_uid: batch.scanned_to,
                },
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        progress.show(report.processed + report.skipped, batch.pending);
        if !batch.more {
            app.store.mark_synced(&name, started).await?;
            break;
        }
    }
    progress.finish(report.processed + report.skipped);
    if report.processed > 0 {
        info!(
            processed = report.processed,
            counted = report.counted,
            "mailbox read"
        );
    } else {
        debug!("no new mail");
    }
    Ok(report)
}

/// Logs a mailbox failure at the right level.
pub fn log_poll_error(e: &PollError) {
    match e {
        PollError::Mailbox(m) => warn!(error = %m, "cannot read the mailbox; will retry"),
        PollError::App(a) => error!(error = %a, "processing mail failed; will retry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{self, OpenRequest};
    use crate::testkit::{fetched, reply, TestApp};
    use futures::future::BoxFuture;
    use sqlx::Row;

    const SRC: &str = "test";

    async fn open_ballot(t: &TestApp) -> BallotRef {
        let req = OpenRequest {
            title: "新規会員の加盟承認".into(),
            motion: "株式会社サンプルの加盟を承認する。".into(),
            kind: None,
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        admin::open(&t.app, &req, "cli", t.app.now())
            .await
            .unwrap()
            .reference
    }

    async fn feed(t: &TestApp, key: &str, raw: Vec<u8>, at: &str) -> Processed {
        process(&t.app, SRC, &fetched(key, raw, at), None, t.app.now())
            .await
            .unwrap()
    }

    fn subject(r: BallotRef) -> String {
        format!("Re: [{r}] 【メール審議】新規会員の加盟承認")
    }

    async fn mails(t: &TestApp, kind: &str) -> Vec<crate::store::OutboxMail> {
        t.app
            .store
            .outbox(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == kind)
            .collect()
    }

    #[tokio::test]
    async fn a_yes_is_counted_and_the_receipt_goes_to_every_registered_address() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let p = feed(
            &t,
            "1",
            reply(
                "alt1@org1.example",
                &subject(r),
                "賛成します。\n",
                "m1@org1",
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Vote);
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(b.counts(&votes, 1).yes, 1);
        let receipts = mails(&t, "receipt").await;
        assert_eq!(receipts.len(), 1);
        assert_eq!(
            receipts[0].recipients,
            ["rep1@org1.example", "alt1@org1.example"]
        );
        assert!(receipts[0]
            .message_id
            .starts_with(&format!("{}.r1.receipt.", r.msgid_prefix())));
    }

    #[tokio::test]
    async fn a_deadline_extended_between_batches_is_seen_by_the_next_batch() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let vote = |from: &str, id: &str| reply(from, &subject(r), "賛成\n", id, None);
        // This batch loads the ballot, and the next one may reuse it...
        let p = feed(
            &t,
            "1",
            vote("rep1@org1.example", "a@org1"),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Vote);
        let mut conn = t.app.store.pool().acquire().await.unwrap();
        let generation = Store::ballot_generation(&mut conn).await.unwrap();
        drop(conn);
        assert!(
            t.app.store.cached_ballots(generation).contains_key(&r),
            "kept for the next batch"
        );
        // ...unless a ballot changed meanwhile, here from another connection.
        let later = "2026-12-02 17:00".parse().unwrap();
        admin::extend(&t.app, r, &later, "cli", t.app.now())
            .await
            .unwrap();
        // After the old deadline (2026-11-29 17:00 JST), before the new one.
        let p = feed(
            &t,
            "2",
            vote("rep2@org2.example", "b@org2"),
            "2026-11-30T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Vote);
    }

    #[tokio::test]
    async fn a_later_answer_replaces_an_earlier_one_and_both_are_kept() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        feed(
            &t,
            "1",
            reply("rep2@org2.example", &subject(r), "賛成\n", "a@org2", None),
            "2026-11-23T01:00:00Z",
        )
        .await;
        feed(
            &t,
            "2",
            reply(
                "rep2@org2.example",
                &subject(r),
                "反対します\n",
                "b@org2",
                None,
            ),
            "2026-11-24T01:00:00Z",
        )
        .await;
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(votes.len(), 2);
        let c = b.counts(&votes, 1);
        assert_eq!((c.yes, c.no), (0, 1));
        let last = mails(&t, "receipt").await.pop().unwrap();
        let text = String::from_utf8_lossy(&last.raw).to_string();
        let parsed = mail_parser::MessageParser::default()
            .parse(text.as_bytes())
            .unwrap();
        assert!(
            parsed.body_text(0).unwrap().contains("置き換え"),
            "the receipt says the earlier answer was replaced"
        );
    }

    #[tokio::test]
    async fn a_reply_after_the_deadline_is_recorded_and_the_member_told_it_was_not_counted() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let p = feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                &subject(r),
                "賛成\n",
                "late@org1",
                None,
            ),
            "2026-11-29T08:00:01Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Late);
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(votes.len(), 1, "kept");
        assert_eq!(b.counts(&votes, 1).answered(), 0, "not counted");
        assert_eq!(mails(&t, "not_open").await.len(), 1);
    }

    #[tokio::test]
    async fn the_same_message_delivered_twice_is_counted_once() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let raw = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "same@org1",
            None,
        );
        feed(&t, "1", raw.clone(), "2026-11-23T01:00:00Z").await;
        // The copy via the list has an extra header but the same Message-ID.
        let mut copy = b"List-Id: <steering.committee.example>\r\n".to_vec();
        copy.extend_from_slice(&raw);
        let p = feed(&t, "2", copy, "2026-11-23T01:00:01Z").await;
        assert_eq!(p.disposition, Disposition::Duplicate);
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
        assert_eq!(mails(&t, "receipt").await.len(), 1);
    }

    #[tokio::test]
    async fn a_mailbox_item_seen_before_is_skipped_without_a_new_record() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let raw = reply("rep1@org1.example", &subject(r), "賛成\n", "x@org1", None);
        feed(&t, "k", raw.clone(), "2026-11-23T01:00:00Z").await;
        let p = feed(&t, "k", raw, "2026-11-23T01:00:00Z").await;
        assert!(p.skipped);
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(t.app.store.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn strangers_and_observers_are_recorded_never_counted_never_answered() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let p = feed(
            &t,
            "1",
            reply(
                "someone@else.example",
                &subject(r),
                "賛成\n",
                "s@else",
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::NonMember);
        let p = feed(
            &t,
            "2",
            reply("obs@gov.example", &subject(r), "賛成\n", "o@gov", None),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::NonVoting);
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        assert_eq!(
            t.app.store.outbox(None).await.unwrap().len(),
            1,
            "only the announcement"
        );
    }

    #[tokio::test]
    async fn the_ballot_is_found_from_in_reply_to_when_the_subject_lost_its_reference() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let irt = format!("{}.r1.announce@committee.example", r.msgid_prefix());
        let p = feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                "Re: 新規会員",
                "賛成です\n",
                "i@org1",
                Some(&irt),
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Vote);
        assert_eq!(p.ballot, Some(r));
    }

    #[tokio::test]
    async fn an_unclear_answer_is_not_counted_and_the_member_is_asked() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let p = feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                &subject(r),
                "賛成です。いや、反対です。\n",
                "u@org1",
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Unclear);
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        assert_eq!(mails(&t, "unclear").await.len(), 1);
    }

    #[tokio::test]
    async fn a_reply_the_mailbox_cut_is_kept_with_its_size_not_counted_and_the_member_told() {
        let t = TestApp::with(
            3,
            "2026-11-22T01:00:00Z",
            "[limits]\nmax_message_bytes = 65536\n",
        )
        .await;
        let r = open_ballot(&t).await;
        let body = format!("賛成します。\n\n{}", "資料を添付します。\n".repeat(8_000));
        let whole = reply("rep1@org1.example", &subject(r), &body, "big@org1", None);
        // What the IMAP mailbox hands over: the first 64 KiB, and the listed size.
        let mut f = fetched("1", whole[..65_536].to_vec(), "2026-11-23T01:00:00Z");
        f.size = whole.len();
        let p = process(&t.app, SRC, &f, None, t.app.now()).await.unwrap();
        assert_eq!(p.disposition, Disposition::Unclear);
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        let (size, kept, reason): (i64, i64, String) =
            sqlx::query_as("SELECT size, length(raw), reason FROM messages")
                .fetch_one(t.app.store.pool())
                .await
                .unwrap();
        assert_eq!((size as usize, kept), (whole.len(), 65_536));
        assert!(reason.contains("only its headers were read"), "{reason}");
        let told = mails(&t, "unclear").await;
        assert_eq!(told.len(), 1);
        let parsed = mail_parser::MessageParser::default()
            .parse(&told[0].raw)
            .unwrap();
        let body = parsed.body_text(0).unwrap();
        assert!(
            body.contains(&format!("メールが {} KB あり", whole.len().div_ceil(1024)))
                && body.contains("（64 KB まで）"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_delegation_under_a_rule_without_one_is_asked_about_not_counted() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let p = feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                &subject(r),
                "議長一任します。\n",
                "d@org1",
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Unclear);
        assert_eq!(mails(&t, "unclear").await.len(), 1);
    }

    #[tokio::test]
    async fn garbage_bytes_are_recorded_with_a_reason_and_nothing_else_happens() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let p = feed(&t, "1", vec![0xff, 0x00, 0x13], "2026-11-23T01:00:00Z").await;
        assert!(matches!(
            p.disposition,
            Disposition::Malformed | Disposition::NoBallot
        ));
        assert!(t.app.store.outbox(None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_admin_opens_a_ballot_by_mail_and_is_told_its_reference() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let raw = reply(
            "chair@committee.example",
            "[ballot:open] 令和9年度予算の承認",
            "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
            "open@committee",
            None,
        );
        let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::AdminOpened);
        let r = p.ballot.unwrap();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.title, "令和9年度予算の承認");
        assert_eq!(b.opened_by, "mail:chair@committee.example");
        assert_eq!(mails(&t, "announce").await.len(), 1);
        assert_eq!(
            mails(&t, "opened").await[0].recipients,
            ["chair@committee.example"]
        );
    }

    #[tokio::test]
    async fn an_admin_mail_with_a_past_deadline_is_refused_with_the_reason() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let raw = reply(
            "chair@committee.example",
            "[ballot:open] 予算",
            "締切: 2026-11-01 17:00\n\n予算案\n",
            "o2@c",
            None,
        );
        let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::AdminRejected);
        assert!(t.app.store.list_ballots().await.unwrap().is_empty());
        assert_eq!(mails(&t, "admin_error").await.len(), 1);
    }

    #[tokio::test]
    async fn the_open_prefix_from_someone_who_is_not_an_admin_opens_nothing() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let raw = reply(
            "rep1@org1.example",
            "[ballot:open] 予算",
            "予算案\n",
            "o3@c",
            None,
        );
        let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::NoBallot);
        assert!(t.app.store.list_ballots().await.unwrap().is_empty());
    }

    #[test]
    fn a_digest_reply_confirms_what_it_says() {
        let a = BallotRef::new(2026, 1).unwrap();
        let b = BallotRef::new(2026, 2).unwrap();
        let listed = [a, b];
        assert_eq!(confirmed_by("確認済です。", &listed), Some(vec![a, b]));
        assert_eq!(
            confirmed_by("Confirmed at today's meeting.", &listed),
            Some(vec![a, b])
        );
        assert_eq!(
            confirmed_by("B-2026-002 は確認しました", &listed),
            Some(vec![b])
        );
        assert_eq!(confirmed_by("確認済ではありません", &listed), None);
        assert_eq!(confirmed_by("B-2026-001 は未確認です", &listed), None);
        assert_eq!(confirmed_by("資料を拝見しました", &listed), None);
        assert_eq!(
            confirmed_by("B-2026-009 確認済", &listed),
            Some(vec![a, b]),
            "an unlisted reference is ignored"
        );
    }

    #[test]
    fn a_digest_reply_is_read_reference_by_reference() {
        let a = BallotRef::new(2026, 1).unwrap();
        let b = BallotRef::new(2026, 2).unwrap();
        let c = BallotRef::new(2026, 3).unwrap();
        let listed = [a, b, c];
        // A resolution's outcome is not a negation of the confirmation.
        assert_eq!(
            confirmed_by("B-2026-003（否決）確認済", &listed),
            Some(vec![c])
        );
        assert_eq!(
            confirmed_by("B-2026-001 確認済、B-2026-002 未確認", &listed),
            Some(vec![a])
        );
        assert_eq!(
            confirmed_by(
                "B-2026-001 は確認済ではありません\nB-2026-002 確認済",
                &listed
            ),
            Some(vec![b])
        );
        // One per line, as the digest asks: a bare listing confirms.
        assert_eq!(
            confirmed_by("B-2026-001\nB-2026-003\n", &listed),
            Some(vec![a, c])
        );
        assert_eq!(
            confirmed_by("Confirmed: B-2026-002, B-2026-003", &listed),
            Some(vec![b, c])
        );
        assert_eq!(confirmed_by("Not confirmed: B-2026-002", &listed), None);
        assert_eq!(
            confirmed_by("B-2026-001、B-2026-002 は未確認です", &listed),
            None,
            "a negation after two references covers both"
        );
        // Only exclusions named, and 確認済 said on its own: the rest.
        assert_eq!(
            confirmed_by("確認済です。\nただし B-2026-002 は未確認です。", &listed),
            Some(vec![a, c])
        );
        // A negated whole reply still confirms nothing.
        assert_eq!(confirmed_by("確認済ではありません", &listed), None);
        assert_eq!(confirmed_by("まだ確認されていません", &listed), None);
        assert_eq!(
            confirmed_by("否決の議案も含め確認済です", &listed),
            Some(listed.to_vec())
        );
    }

    /// A closed ballot of `t` and a digest of it sent by an admin at
    /// 2026-11-30T00:00Z without naming a meeting.
    async fn digest_without_a_meeting(t: &TestApp) -> (BallotRef, String) {
        let r = open_ballot(t).await;
        feed(
            t,
            "v1",
            reply("rep1@org1.example", &subject(r), "賛成\n", "v1@o", None),
            "2026-11-23T01:00:00Z",
        )
        .await;
        t.set_now("2026-11-29T09:00:00Z");
        admin::close(&t.app, r, "test", t.app.now()).await.unwrap();
        t.set_now("2026-11-30T00:00:00Z");
        let (mail, _) = admin::digest(&t.app, None, true, "cli", t.app.now())
            .await
            .unwrap();
        (r, mail.message_id)
    }

    #[tokio::test]
    async fn a_confirmation_with_no_meeting_on_the_calendar_records_nothing_and_says_why() {
        let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
        let (r, digest) = digest_without_a_meeting(&t).await;
        // An admin answers the digest a few days later; no meeting was held.
        let answer = reply(
            "chair@committee.example",
            "Re: 確認事項",
            "確認済\n",
            "conf@c",
            Some(&digest),
        );
        let p = feed(&t, "c1", answer, "2026-12-02T06:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Ratification);
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.ratification, crate::ballot::Ratification::Pending);
        // The admin and the secretariat both hear that nothing was recorded.
        let told = mails(&t, "ratified").await;
        assert_eq!(told.len(), 1);
        assert_eq!(
            told[0].recipients,
            ["chair@committee.example", "support@committee.example"]
        );
        let body = mail_parser::MessageParser::default()
            .parse(&told[0].raw)
            .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
            .unwrap();
        assert!(body.contains("mail-ballot meeting add"), "{body}");
    }

    #[tokio::test]
    async fn a_confirmation_is_recorded_at_the_meeting_held_since_the_digest_and_the_secretariat_told(
    ) {
        let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
        let (r, digest) = digest_without_a_meeting(&t).await;
        admin::add_meeting(
            &t.app,
            "2026-12-01".parse().unwrap(),
            None,
            "cli",
            t.app.now(),
        )
        .await
        .unwrap();
        let answer = reply(
            "chair@committee.example",
            "Re: 確認事項",
            "確認済\n",
            "conf@c",
            Some(&digest),
        );
        feed(&t, "c1", answer, "2026-12-02T06:00:00Z").await;
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert!(
            matches!(b.ratification, crate::ballot::Ratification::Confirmed { meeting, .. } if meeting.to_string() == "2026-12-01"),
            "{:?}",
            b.ratification
        );
        let told = mails(&t, "ratified").await;
        assert_eq!(
            told[0].recipients,
            ["chair@committee.example", "support@committee.example"]
        );
    }

    #[tokio::test]
    async fn the_secretariats_reply_to_the_digest_confirms_the_resolutions_it_listed() {
        let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        for (i, org) in [1, 2].iter().enumerate() {
            feed(
                &t,
                &format!("v{i}"),
                reply(
                    &format!("rep{org}@org{org}.example"),
                    &subject(r),
                    "賛成\n",
                    &format!("v{i}@o"),
                    None,
                ),
                "2026-11-23T01:00:00Z",
            )
            .await;
        }
        t.set_now("2026-11-29T09:00:00Z");
        admin::close(&t.app, r, "test", t.app.now()).await.unwrap();
        let (mail, refs) = admin::digest(
            &t.app,
            crate::store::parse_date("2026-12-10").ok(),
            true,
            "schedule",
            t.app.now(),
        )
        .await
        .unwrap();
        assert_eq!(refs, [r]);
        let answer = reply(
            "support@committee.example",
            "Re: 確認事項",
            "確認済です。\n",
            "conf@committee",
            Some(&mail.message_id),
        );
        let p = feed(&t, "c1", answer, "2026-12-10T06:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Ratification);
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert!(
            matches!(b.ratification, crate::ballot::Ratification::Confirmed { meeting, .. } if meeting.to_string() == "2026-12-10")
        );
        assert_eq!(mails(&t, "ratified").await.len(), 1);
        assert!(t.app.store.pending_ratification().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_bots_own_announcement_coming_back_through_the_list_is_automated() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        open_ballot(&t).await;
        let raw = t.app.store.outbox(None).await.unwrap()[0].raw.clone();
        let p = feed(&t, "1", raw, "2026-11-22T01:00:05Z").await;
        assert_eq!(p.disposition, Disposition::Automated);
        assert_eq!(t.app.store.outbox(None).await.unwrap().len(), 1);
    }

    // ---- issue 5: verification, disputes, answers to another round ----------

    fn with_verifier(t: &mut TestApp, accept: &[crate::verify::policy::Method]) {
        use crate::app::Verifier;
        use crate::verify::policy::PolicyConfig;
        let dkim = crate::verify::dkim::DkimVerifier::offline().unwrap();
        t.app.verifier = Some(Verifier {
            policy: PolicyConfig {
                accept: accept.to_vec(),
                authserv_id: Some("mx.committee.example".into()),
                token_secret_env: Some("UNUSED".into()),
                ..PolicyConfig::default()
            },
            token_key: Some(
                crate::verify::token::TokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
                    .unwrap(),
            ),
            dkim: Some(dkim),
        });
    }

    fn text(m: &crate::store::OutboxMail) -> String {
        let parsed = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
        parsed.body_text(0).unwrap().to_string()
    }

    fn token_address(t: &TestApp, r: BallotRef, round: u32, org: &str) -> String {
        let v = t.app.verifier.as_ref().unwrap();
        let tok = crate::verify::token::token(
            v.token_key.as_ref().unwrap(),
            r,
            round,
            &crate::domain::OrgId::parse(org).unwrap(),
        );
        crate::verify::token::reply_address(&t.app.config.addresses.bot, &tok).to_string()
    }

    fn to(raw: Vec<u8>, addr: &str) -> Vec<u8> {
        String::from_utf8(raw)
            .unwrap()
            .replace("To: ballot@committee.example", &format!("To: {addr}"))
            .into_bytes()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_vote_is_not_counted_and_the_member_and_security_contact_are_told() {
        use crate::verify::policy::Method;
        let mut t = TestApp::with(3, "2026-11-22T01:00:00Z", "").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Token, Method::Dkim]);
        let r = open_ballot(&t).await;
        assert_eq!(
            mails(&t, "personal").await.len(),
            3,
            "one personal ballot per organisation"
        );
        let p = feed(
            &t,
            "1",
            reply("rep1@org1.example", &subject(r), "賛成\n", "forged@x", None),
            "2026-11-23T01:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Unverified);
        let votes = t.app.store.votes(r).await.unwrap();
        assert!(votes.is_empty(), "{votes:?}");
        let told = mails(&t, "unverified").await;
        assert_eq!(told.len(), 1);
        assert_eq!(
            told[0].recipients,
            ["rep1@org1.example", "alt1@org1.example"]
        );
        let incidents = mails(&t, "incident").await;
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].recipients, ["csirt@committee.example"]);
        assert_eq!(
            t.app.store.incidents().await.unwrap()[0].2,
            "verification_failed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_to_the_personal_ballot_counts_and_one_to_another_round_does_not() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        with_verifier(&mut t, &[Method::Token]);
        let r = open_ballot(&t).await;
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        let org1 = b
            .roster
            .organisation(&crate::domain::OrgId::parse("org01").unwrap())
            .unwrap();
        assert_eq!(
            t.app.personal_reply_to(&b, org1).unwrap().to_string(),
            token_address(&t, r, 1, "org01"),
            "reminders carry the same personal reply address"
        );
        let good = to(
            reply("rep1@org1.example", &subject(r), "賛成\n", "ok@org1", None),
            &token_address(&t, r, 1, "org01"),
        );
        assert_eq!(
            feed(&t, "1", good, "2026-11-23T01:00:00Z")
                .await
                .disposition,
            Disposition::Vote
        );
        // org2's token used by org2 but for a round that is not open.
        let stale = to(
            reply("rep2@org2.example", &subject(r), "賛成\n", "old@org2", None),
            &token_address(&t, r, 2, "org02"),
        );
        let p = feed(&t, "2", stale, "2026-11-23T02:00:00Z").await;
        assert_eq!(
            p.disposition,
            Disposition::Unverified,
            "a token for a round that does not exist verifies nothing"
        );
        // org1's token used from org2's address does not verify org2.
        let borrowed = to(
            reply("rep2@org2.example", &subject(r), "反対\n", "b@org2", None),
            &token_address(&t, r, 1, "org01"),
        );
        assert_eq!(
            feed(&t, "3", borrowed, "2026-11-23T03:00:00Z")
                .await
                .disposition,
            Disposition::Unverified
        );
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(votes.len(), 1);
        let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
    }

    #[test]
    fn an_answer_naming_another_round_or_ballot_is_placed_elsewhere() {
        let b1: BallotRef = "B-2026-001".parse().unwrap();
        let b2: BallotRef = "B-2026-002".parse().unwrap();
        let org = crate::domain::OrgId::parse("org1").unwrap();
        let tok = |ballot, round| TokenSubject {
            ballot,
            round,
            org: org.clone(),
        };
        assert_eq!(answers_elsewhere(None, None, b1, 2), None);
        assert_eq!(answers_elsewhere(Some(2), None, b1, 2), None);
        assert_eq!(
            answers_elsewhere(Some(1), None, b1, 2),
            Some(Mismatch::Round(1))
        );
        assert_eq!(
            answers_elsewhere(None, Some(&tok(b1, 1)), b1, 2),
            Some(Mismatch::Round(1))
        );
        assert_eq!(
            answers_elsewhere(Some(2), Some(&tok(b2, 2)), b1, 2),
            Some(Mismatch::Ballot(b2))
        );
        assert_eq!(answers_elsewhere(Some(2), Some(&tok(b1, 2)), b1, 2), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_to_the_first_rounds_mail_is_not_counted_in_the_second() {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        // Nobody answers round 1: the rule calls for a re-ballot (再審要請).
        t.set_now("2026-11-29T08:01:00Z");
        let (b, _) = admin::close(&t.app, r, "cli", t.app.now()).await.unwrap();
        assert_eq!(b.current_round().number, 2);
        let round1 = format!(
            "{}.r1.announce@{}",
            r.msgid_prefix(),
            t.app.config.message_id_domain()
        );
        let p = feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                &subject(r),
                "賛成\n",
                "late@org1",
                Some(&round1),
            ),
            "2026-11-29T09:00:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::NotCounted);
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        let told = mails(&t, "not_open").await;
        assert_eq!(told.len(), 1);
        let body = text(&told[0]);
        assert!(body.contains("第1回のご案内への返信"), "{body}");
        let round2 = format!(
            "{}.r2.announce@{}",
            r.msgid_prefix(),
            t.app.config.message_id_domain()
        );
        let p = feed(
            &t,
            "2",
            reply(
                "rep1@org1.example",
                &subject(r),
                "賛成\n",
                "new@org1",
                Some(&round2),
            ),
            "2026-11-29T09:05:00Z",
        )
        .await;
        assert_eq!(p.disposition, Disposition::Vote);
        let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
    }

    #[test]
    fn not_mine_is_read_in_japanese_and_english_but_not_in_a_plain_answer() {
        assert!(says_not_mine("この回答は身に覚えがないです。"));
        assert!(says_not_mine("身に覚えがありません"));
        assert!(says_not_mine("心当たりはない"));
        assert!(says_not_mine("This is NOT MINE."));
        assert!(says_not_mine("I didn\u{2019}t send this"));
        assert!(!says_not_mine("賛成します"));
        assert!(!says_not_mine("I did send it, 賛成"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disputed_vote_stops_counting_until_an_admin_decides() {
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        let r = open_ballot(&t).await;
        feed(
            &t,
            "1",
            reply(
                "rep1@org1.example",
                &subject(r),
                "反対\n",
                "real@org1",
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
        feed(
            &t,
            "2",
            reply(
                "rep1@org1.example",
                &subject(r),
                "賛成\n",
                "forged@org1",
                None,
            ),
            "2026-11-23T02:00:00Z",
        )
        .await;
        let receipt = mails(&t, "receipt").await.pop().unwrap();
        let receipt_subject = mail_parser::MessageParser::default()
            .parse(&receipt.raw)
            .unwrap()
            .subject()
            .unwrap()
            .to_string();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.counts(&t.app.store.votes(r).await.unwrap(), 1).yes, 1);

        // Someone who is not org1 cannot dispute org1's vote.
        let stranger = reply(
            "rep2@org2.example",
            &format!("Re: {receipt_subject}"),
            "身に覚えがない\n",
            "s@org2",
            Some(&receipt.message_id),
        );
        assert_ne!(
            feed(&t, "3", stranger, "2026-11-23T03:00:00Z")
                .await
                .disposition,
            Disposition::Dispute
        );

        let alt = reply(
            "alt1@org1.example",
            &format!("Re: {receipt_subject}"),
            "身に覚えがありません。\n",
            "d@org1",
            Some(&receipt.message_id),
        );
        assert_eq!(
            feed(&t, "4", alt, "2026-11-23T04:00:00Z").await.disposition,
            Disposition::Dispute
        );
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(votes.len(), 2, "the disputed vote is kept");
        let counts = b.counts(&votes, 1);
        assert_eq!(
            (counts.yes, counts.no),
            (0, 1),
            "the earlier genuine answer counts again"
        );
        assert_eq!(
            mails(&t, "disputed").await[0].recipients,
            ["rep1@org1.example", "alt1@org1.example"]
        );
        assert!(mails(&t, "incident")
            .await
            .iter()
            .any(|m| text(m).contains("dispute")));
        let d = t.app.store.disputes(Some(r)).await.unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].state, "open");

        // The admin dismisses it: the vote counts again.
        let mut tx = t.app.store.begin().await.unwrap();
        let org1 = crate::domain::OrgId::parse("org01").unwrap();
        assert_eq!(
            Store::resolve_disputes(
                &mut tx,
                r,
                &org1,
                false,
                "cli",
                Some("confirmed by phone"),
                t.app.now()
            )
            .await
            .unwrap(),
            1
        );
        tx.commit().await.unwrap();
        let counts = b.counts(&t.app.store.votes(r).await.unwrap(), 1);
        assert_eq!((counts.yes, counts.no), (1, 0));
        let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_mail_passes_the_same_verification_as_votes() {
        use crate::verify::policy::Method;
        use crate::verify::testing::Signer;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Dkim]);
        let signer = Signer::ed25519("committee.example", "sel1");
        signer.publish(t.app.verifier.as_ref().unwrap().dkim.as_ref().unwrap());
        let open = |id: &str| {
            reply(
                "chair@committee.example",
                "[ballot:open] 令和9年度予算の承認",
                "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
                id,
                None,
            )
        };
        // Unsigned: anyone could have written the chair's From.
        let p = feed(&t, "1", open("forged@x"), "2026-11-22T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Unverified);
        assert!(
            t.app.store.list_ballots().await.unwrap().is_empty(),
            "no ballot opened"
        );
        assert_eq!(mails(&t, "incident").await.len(), 1);
        // Signed by the chair's domain: opened.
        let signed = signer.sign(&String::from_utf8(open("signed@committee")).unwrap());
        let p = feed(&t, "2", signed.into_bytes(), "2026-11-22T01:01:00Z").await;
        assert_eq!(p.disposition, Disposition::AdminOpened);
        assert_eq!(t.app.store.list_ballots().await.unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_strangers_silent_dns_is_not_waited_for_but_a_members_is() {
        use crate::verify::policy::Method;
        use crate::verify::testing::Signer;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        with_verifier(&mut t, &[Method::Dkim]);
        let r = open_ballot(&t).await;
        // Signed with keys no DNS answers for: the check can only say temperror.
        let signed = |from: &str, domain: &str, id: &str| {
            let raw = reply(from, &subject(r), "賛成\n", id, None);
            Signer::ed25519(domain, "unpublished")
                .sign(&String::from_utf8(raw).unwrap())
                .into_bytes()
        };
        let stranger = signed("someone@elsewhere.example", "elsewhere.example", "s@x");
        let p = feed(&t, "1", stranger, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Unverified, "decided at once");
        let row = &t.app.store.messages_for(r).await.unwrap()[0];
        let v: Verification =
            serde_json::from_str(row.verification_json.as_deref().unwrap()).unwrap();
        assert!(v.summary().contains("not waited for"), "{}", v.summary());

        let member = signed("rep1@org1.example", "org1.example", "m@org1");
        let e = process(
            &t.app,
            SRC,
            &fetched("2", member, "2026-11-23T01:00:00Z"),
            None,
            t.app.now(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, AppError::Deferred(_)), "{e}");
        assert_eq!(
            t.app.store.messages_for(r).await.unwrap().len(),
            1,
            "the member's message is read again later, not recorded now"
        );
    }

    fn reply_to_of(m: &crate::store::OutboxMail) -> Option<String> {
        let parsed = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
        parsed
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_a_token_policy_a_receipt_carries_the_token_and_a_dispute_of_it_verifies() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Token]);
        let r = open_ballot(&t).await;
        let personal = token_address(&t, r, 1, "org01");
        // Someone who saw org01's personal reply address votes with it.
        let leaked = to(
            reply("alt1@org1.example", &subject(r), "賛成\n", "leak@x", None),
            &personal,
        );
        assert_eq!(
            feed(&t, "1", leaked, "2026-11-23T01:00:00Z")
                .await
                .disposition,
            Disposition::Vote
        );
        let receipt = mails(&t, "receipt").await.pop().unwrap();
        assert_eq!(reply_to_of(&receipt).as_deref(), Some(personal.as_str()));

        // The representative's 身に覚えがない to the bot's plain address proves nothing…
        let plain = reply(
            "rep1@org1.example",
            "Re: 回答を受け付けました",
            "身に覚えがありません。\n",
            "d1@org1",
            Some(&receipt.message_id),
        );
        assert_eq!(
            feed(&t, "2", plain.clone(), "2026-11-23T02:00:00Z")
                .await
                .disposition,
            Disposition::Unverified
        );
        // …but answering the receipt (its Reply-To) does: the vote is disputed.
        let answered = String::from_utf8(plain)
            .unwrap()
            .replace("<d1@org1>", "<d2@org1>")
            .into_bytes();
        let p = feed(&t, "3", to(answered, &personal), "2026-11-23T02:05:00Z").await;
        assert_eq!(p.disposition, Disposition::Dispute);
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.counts(&t.app.store.votes(r).await.unwrap(), 1).yes, 0);
        let ack = mails(&t, "disputed").await.pop().unwrap();
        assert_eq!(reply_to_of(&ack).as_deref(), Some(personal.as_str()));
        // The notices and the unverified warning carry it too.
        let told = mails(&t, "unverified").await.pop().unwrap();
        assert_eq!(reply_to_of(&told).as_deref(), Some(personal.as_str()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_of_another_round_is_reported_as_a_replay_once_per_message() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Token]);
        let r = open_ballot(&t).await;
        t.set_now("2026-11-29T08:01:00Z");
        let (b, _) = admin::close(&t.app, r, "cli", t.app.now()).await.unwrap();
        assert_eq!(b.current_round().number, 2);
        // org01's reply to its round-1 personal mail, sent during round 2.
        let old = to(
            reply("rep1@org1.example", &subject(r), "賛成\n", "old@org1", None),
            &token_address(&t, r, 1, "org01"),
        );
        let p = feed(&t, "1", old, "2026-11-29T09:00:00Z").await;
        assert_eq!(p.disposition, Disposition::NotCounted);
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        let incidents = t.app.store.incidents().await.unwrap();
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert_eq!(incidents[0].2, "replay");
        assert!(
            incidents[0].4.contains("round 1 was used to answer"),
            "{}",
            incidents[0].4
        );
        assert_eq!(mails(&t, "incident").await.len(), 1);
        // The member is asked to answer round 2, at its round-2 reply address.
        let asked = mails(&t, "not_open").await.pop().unwrap();
        assert_eq!(
            reply_to_of(&asked).as_deref(),
            Some(token_address(&t, r, 2, "org01").as_str())
        );
        // A reply through the round-2 address counts, with no incident.
        let new = to(
            reply("rep1@org1.example", &subject(r), "賛成\n", "new@org1", None),
            &token_address(&t, r, 2, "org01"),
        );
        assert_eq!(
            feed(&t, "2", new, "2026-11-29T09:05:00Z").await.disposition,
            Disposition::Vote
        );
        assert_eq!(t.app.store.incidents().await.unwrap().len(), 1);
    }

    /// org01's reply answering two open ballots at once, `B-… 賛成` / `B-… 反対`,
    /// sent to the personal reply address of the first.
    fn two_ballot_reply(t: &TestApp, r1: BallotRef, r2: BallotRef, id: &str) -> Vec<u8> {
        to(
            reply(
                "rep1@org1.example",
                &format!("Re: [{r1}] 【メール審議】新規会員の加盟承認"),
                &format!("{r1} 賛成\n{r2} 反対\n"),
                id,
                None,
            ),
            &token_address(t, r1, 1, "org01"),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_two_ballot_reply_at_one_ballots_token_counts_there_and_asks_again_for_the_other() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Token]);
        let (r1, r2) = (open_ballot(&t).await, open_ballot(&t).await);
        let raw = two_ballot_reply(&t, r1, r2, "both@org1");
        let p = feed(&t, "1", raw, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Several);
        assert_eq!(t.app.store.votes(r1).await.unwrap().len(), 1);
        assert!(t.app.store.votes(r2).await.unwrap().is_empty());
        // Told, at r2's own reply address, that its answer did not count and why;
        // nobody is told of a replay that did not happen.
        let told = mails(&t, "not_verified").await;
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].ballot.as_deref(), Some(r2.to_string().as_str()));
        assert_eq!(
            reply_to_of(&told[0]).as_deref(),
            Some(token_address(&t, r2, 1, "org01").as_str())
        );
        assert!(t.app.store.incidents().await.unwrap().is_empty());
        assert!(mails(&t, "incident").await.is_empty());
        let reason = t.app.store.messages_for(r1).await.unwrap()[0]
            .reason
            .clone();
        assert!(reason.contains("verifies only that ballot"), "{reason}");
        // Answering that mail counts.
        let again = to(
            reply(
                "rep1@org1.example",
                &subject(r2),
                "反対\n",
                "again@org1",
                None,
            ),
            &token_address(&t, r2, 1, "org01"),
        );
        let p = feed(&t, "2", again, "2026-11-23T01:05:00Z").await;
        assert_eq!(p.disposition, Disposition::Vote);
        assert_eq!(t.app.store.votes(r2).await.unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_two_ballot_reply_verified_by_our_servers_results_counts_in_both_ballots() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        with_verifier(&mut t, &[Method::Token, Method::Authres]);
        let (r1, r2) = (open_ballot(&t).await, open_ballot(&t).await);
        let raw = two_ballot_reply(&t, r1, r2, "both@org1");
        let raw = [
            b"Authentication-Results: mx.committee.example; dkim=pass header.d=org1.example\r\nReceived: from mail.org1.example by mx.committee.example\r\n"
                .as_slice(),
            &raw,
        ]
        .concat();
        let p = feed(&t, "1", raw, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Several);
        let record = t.app.store.messages_for(r1).await.unwrap();
        assert_eq!(t.app.store.votes(r1).await.unwrap().len(), 1, "{record:?}");
        assert_eq!(t.app.store.votes(r2).await.unwrap().len(), 1, "{record:?}");
        assert!(mails(&t, "not_verified").await.is_empty());
        assert!(t.app.store.incidents().await.unwrap().is_empty());
        assert_eq!(mails(&t, "receipt").await.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_mail_through_a_list_that_rewrites_from_is_answered_at_the_admins_address() {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        with_verifier(&mut t, &[Method::Authres]);
        t.app.verifier.as_mut().unwrap().policy.trusted_list_headers =
            vec!["X-Original-From".into()];
        let raw = String::from_utf8(reply(
            "steering@committee.example",
            "[ballot:open] 令和9年度予算の承認",
            "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
            "open@committee",
            None,
        ))
        .unwrap()
        .replace("From: Member <steering@committee.example>", "From: \"Chair via Steering\" <steering@committee.example>\r\nX-Original-From: chair@committee.example");
        let raw = format!("Authentication-Results: mx.committee.example; dkim=pass header.d=committee.example\r\nReceived: from lists.committee.example by mx.committee.example\r\n{raw}");
        let p = feed(&t, "1", raw.into_bytes(), "2026-11-22T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::AdminOpened);
        let opened = mails(&t, "opened").await;
        assert_eq!(opened[0].recipients, ["chair@committee.example"]);
        let events = crate::store::events::for_ballot(&t.app.store, p.ballot.unwrap())
            .await
            .unwrap();
        assert_eq!(events[0].actor, "mail:chair@committee.example");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_forgeries_warns_the_member_once_an_hour_and_mails_the_contact_a_few_times()
    {
        use crate::verify::policy::Method;
        let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        t.app.config.addresses.security_contact =
            vec![Address::parse("csirt@committee.example").unwrap()];
        t.app.config.limits.messages_per_sender_per_hour = 3;
        with_verifier(&mut t, &[Method::Dkim]);
        let r = open_ballot(&t).await;
        t.set_now("2026-11-23T01:00:00Z");
        for i in 0..10 {
            let forged = reply(
                "rep1@org1.example",
                &subject(r),
                "賛成\n",
                &format!("forged{i}@x"),
                None,
            );
            let p = feed(&t, &i.to_string(), forged, "2026-11-23T01:00:00Z").await;
            assert_eq!(p.disposition, Disposition::Unverified);
        }
        assert_eq!(
            t.app.store.messages_for(r).await.unwrap().len(),
            10,
            "every message recorded"
        );
        assert_eq!(
            mails(&t, "unverified").await.len(),
            1,
            "one warning per hour"
        );
        let incidents = t.app.store.incidents().await.unwrap();
        let failed: Vec<_> = incidents
            .iter()
            .filter(|i| i.2 == "verification_failed")
            .collect();
        assert_eq!(failed.len(), 10, "every message is an incident on record");
        let merged = failed
            .iter()
            .filter(|i| i.4.contains("merged into #"))
            .count();
        assert_eq!(merged, 7);
        assert!(incidents.iter().any(|i| i.2 == "burst"));
        // Three verification failures and the burst are mailed; the rest are not.
        assert_eq!(mails(&t, "incident").await.len(), 4);
        // An hour later the member is warned again.
        t.set_now("2026-11-23T02:30:00Z");
        let again = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "forged-late@x",
            None,
        );
        feed(&t, "late", again, "2026-11-23T02:30:00Z").await;
        assert_eq!(mails(&t, "unverified").await.len(), 2);
        assert_eq!(mails(&t, "incident").await.len(), 5);
    }

    /// The list's copy of a reply-all: From rewritten to the list, the same Message-ID.
    fn via_list(raw: &[u8]) -> Vec<u8> {
        let text = String::from_utf8(raw.to_vec()).unwrap().replacen(
            "From: Member <rep1@org1.example>",
            "List-Id: <steering.committee.example>\r\nFrom: \"Member via steering\" <steering@committee.example>",
            1,
        );
        assert!(text.contains("via steering"));
        text.into_bytes()
    }

    #[tokio::test]
    async fn a_list_copy_recorded_as_non_member_does_not_swallow_the_members_direct_copy() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let direct = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "both@org1",
            None,
        );
        let p = feed(&t, "1", via_list(&direct), "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::NonMember);
        let p = feed(&t, "2", direct.clone(), "2026-11-23T01:00:01Z").await;
        assert_eq!(p.disposition, Disposition::Vote);
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
        assert_eq!(mails(&t, "receipt").await.len(), 1);
        // A further copy meets the one that was used, and stops there.
        let mut again = b"X-Redelivered: yes\r\n".to_vec();
        again.extend_from_slice(&direct);
        let p = feed(&t, "3", again, "2026-11-23T01:00:02Z").await;
        assert_eq!(p.disposition, Disposition::Duplicate);
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
        assert_eq!(mails(&t, "receipt").await.len(), 1);
    }

    #[tokio::test]
    async fn a_used_direct_copy_and_the_later_list_copy_with_from_rewritten_count_once() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let direct = reply(
            "rep1@org1.example",
            &subject(r),
            "反対\n",
            "first@org1",
            None,
        );
        let p = feed(&t, "1", direct.clone(), "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Vote);
        // Without a trusted header naming the member, the list's copy is from
        // the list: not the member's message, so judged on its own (a
        // non-member's, neither counted nor answered), with the clash noted.
        let p = feed(&t, "2", via_list(&direct), "2026-11-23T01:00:01Z").await;
        assert_eq!(p.disposition, Disposition::NonMember);
        let reason = t
            .app
            .store
            .messages_for(r)
            .await
            .unwrap()
            .last()
            .unwrap()
            .reason
            .clone();
        assert!(reason.contains("also that of message #"), "{reason}");
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
        assert_eq!(mails(&t, "receipt").await.len(), 1);
    }

    #[tokio::test]
    async fn a_message_borrowing_a_members_message_id_never_swallows_the_members_vote() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        // org2 writes first, with the Message-ID org1's client will use.
        let borrowed = reply(
            "rep2@org2.example",
            &subject(r),
            "反対\n",
            "next@org1",
            None,
        );
        let p = feed(&t, "1", borrowed, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Vote);
        let genuine = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "next@org1",
            None,
        );
        let p = feed(&t, "2", genuine, "2026-11-23T01:00:01Z").await;
        assert_eq!(p.disposition, Disposition::Vote, "org1's answer counts");
        let votes = t.app.store.votes(r).await.unwrap();
        assert_eq!(votes.len(), 2);
        assert!(votes.iter().any(|v| v.org.as_str() == "org01"), "{votes:?}");
        assert_eq!(
            mails(&t, "receipt").await.len(),
            2,
            "and org1 gets its receipt"
        );
        assert!(t.app.store.incidents().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_copy_naming_no_ballot_does_not_block_a_copy_that_names_one() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        // A list that rewrites the subject loses the reference of the first copy.
        let munged = reply(
            "rep1@org1.example",
            "Re: [steering:0042] 新規会員の加盟承認",
            "賛成\n",
            "munged@org1",
            None,
        );
        let p = feed(&t, "1", munged, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::NoBallot);
        let direct = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "munged@org1",
            None,
        );
        let p = feed(&t, "2", direct, "2026-11-23T01:00:01Z").await;
        assert_eq!(p.disposition, Disposition::Vote);
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_same_bytes_read_again_are_a_duplicate_whatever_the_first_copy_was() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let stranger = reply(
            "someone@else.example",
            &subject(r),
            "賛成\n",
            "s@else",
            None,
        );
        let p = feed(&t, "1", stranger.clone(), "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::NonMember);
        // The same delivery under a new mailbox key (a UIDVALIDITY reset).
        let p = feed(&t, "2", stranger, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Duplicate);
    }

    /// A mailbox in memory, handing out at most `max` messages per batch.
    struct Memory(Vec<Fetched>);

    impl MailSource for Memory {
        fn fetch<'a>(
            &'a mut self,
            cursor: Option<crate::store::Cursor>,
            max: usize,
        ) -> BoxFuture<'a, Result<Batch, MailboxError>> {
            let after = cursor.map_or(0, |c| c.last_uid);
            let rest: Vec<Fetched> = self
                .0
                .iter()
                .filter(|m| m.uid.is_some_and(|u| u > after))
                .cloned()
                .collect();
            let messages: Vec<Fetched> = rest.iter().take(max).cloned().collect();
            let more = rest.len() > messages.len();
            Box::pin(async move {
                Ok(Batch {
                    uidvalidity: 7,
                    scanned_to: messages.last().and_then(|m| m.uid).unwrap_or(after),
                    pending: 0,
                    messages,
                    more,
                })
            })
        }
        fn committed<'a>(&'a mut self, _: &'a Fetched) -> BoxFuture<'a, Result<(), MailboxError>> {
            Box::pin(async { Ok(()) })
        }
        fn wait<'a>(
            &'a mut self,
            _: std::time::Duration,
        ) -> BoxFuture<'a, Result<(), MailboxError>> {
            Box::pin(async { Ok(()) })
        }
        fn close(&mut self) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    /// Everything a backlog leaves in the record, row by row.
    async fn record(t: &TestApp) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT id, source_key, message_id, content_hash, internal_date, from_addr, ballot_id, disposition, reason, hex(raw) FROM messages ORDER BY id",
            "SELECT id, ballot_id, round, org_id, position, voter, cast_at, message_row, status, receipt_id, message_id FROM votes ORDER BY id",
            "SELECT message_id, kind, ballot_id, recipients_json, hex(raw), created_at FROM outbox ORDER BY message_id",
            "SELECT id, at, kind, ballot, actor, detail_json, prev_hash, hash FROM events ORDER BY id",
            "SELECT kind, ballot_id, message_row, summary FROM incidents ORDER BY id",
            "SELECT last_id, last_hash FROM audit_head",
        ] {
            let rows = sqlx::query(sql).fetch_all(t.app.store.pool()).await.unwrap();
            for r in rows {
                let cols: Vec<String> = (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .ok()
                            .flatten()
                            .or_else(|| r.try_get::<Option<i64>, _>(i).ok().flatten().map(|n| n.to_string()))
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect();
                out.push(cols.join(" | "));
            }
        }
        out
    }

    /// A backlog touching every path the staging answers for.
    fn backlog() -> Vec<Fetched> {
        let subject = "Re: [B-2026-001] 新規会員の加盟承認";
        let member = |i: usize| format!("rep{i}@org{i}.example");
        let mut raws: Vec<Vec<u8>> = vec![
            reply(&member(1), subject, "賛成します。", "a1@x", None),
            reply(&member(2), subject, "反対です。", "a2@x", None),
            // The same org changes its mind within the batch.
            reply(&member(1), subject, "やはり反対します。", "a3@x", None),
            // The same message delivered twice.
            reply(&member(2), subject, "反対です。", "a2@x", None),
            reply(
                &member(3),
                subject,
                "どうしようか迷っています。",
                "a4@x",
                None,
            ),
            reply("stranger@else.example", subject, "賛成", "a5@x", None),
            reply(&member(3), subject, "棄権します。", "a6@x", None),
        ];
        // A list copy first (From rewritten), then the member's own copy.
        let direct = reply(&member(4), subject, "賛成", "a7@x", None);
        let listed = String::from_utf8(direct.clone())
            .unwrap()
            .replacen(
                "From: Member <rep4@org4.example>",
                "List-Id: <steering.committee.example>\r\nFrom: \"Member via steering\" <steering@committee.example>",
                1,
            )
            .into_bytes();
        raws.push(listed);
        raws.push(direct);
        // An admin opens a second ballot by mail; a member answers it at once.
        raws.push(reply(
            "chair@committee.example",
            "[ballot:open] 予算承認",
            "締切: 2026-11-29 17:00\n\n予算案を承認する。\n",
            "open@x",
            None,
        ));
        raws.push(reply(
            &member(2),
            "Re: [B-2026-002] 予算承認",
            "賛成",
            "b1@x",
            None,
        ));
        // One sender past the burst limit (3 an hour in this test).
        for i in 0..5 {
            raws.push(reply(
                &member(5),
                subject,
                "賛成",
                &format!("burst{i}@x"),
                None,
            ));
        }
        raws.into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let mut f = fetched(&format!("uid:7:{}", i + 1), raw, "2026-11-23T01:00:00Z");
                f.internal_date += chrono::Duration::seconds(i as i64);
                f.uid = Some(i as u32 + 1);
                f
            })
            .collect()
    }

    async fn run(per_transaction: usize) -> Vec<String> {
        let t = TestApp::with(
            6,
            "2026-11-22T01:00:00Z",
            &format!("[limits]\nmessages_per_sender_per_hour = 3\nmessages_per_transaction = {per_transaction}\n"),
        )
        .await;
        let req = OpenRequest {
            title: "新規会員の加盟承認".into(),
            motion: "株式会社サンプルの加盟を承認する。".into(),
            kind: None,
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        admin::open(&t.app, &req, "cli", t.app.now()).await.unwrap();
        t.set_now("2026-11-23T02:00:00Z");
        let report = poll(&t.app, &mut Memory(backlog())).await.unwrap();
        assert_eq!(report.processed + report.skipped, backlog().len());
        record(&t).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backlog_recorded_in_one_transaction_leaves_the_same_record_as_one_per_message() {
        let one_by_one = run(1).await;
        let batched = run(500).await;
        // The backlog did what it should: every path was taken.
        let all = one_by_one.join("\n");
        for d in [
            "| vote |",
            "| duplicate |",
            "| unclear |",
            "| non_member |",
            "| admin_opened |",
        ] {
            assert!(all.contains(d), "no {d} in the record:\n{all}");
        }
        assert!(all.contains("vote_superseded"), "{all}");
        assert!(all.contains("burst"), "{all}");
        assert_eq!(batched.len(), one_by_one.len());
        for (b, o) in batched.iter().zip(&one_by_one) {
            assert_eq!(b, o);
        }
    }
}
