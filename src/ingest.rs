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
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;
use tracing::{debug, error, info, warn};

use crate::admin;
use crate::app::{App, AppError};
use crate::ballot::{Answer, AnswerFate, State, VoteRecord, VoteStatus};
use crate::domain::{Address, BallotRef, Vote};
use crate::mailbox::{Fetched, MailSource, MailboxError};
use crate::outbox::compose::{Answering, Member, NotOpenWhy, Recorded};
use crate::outbox::Mail;
use crate::reading::{self, Reading};
use crate::roster::Membership;
use crate::store::events::{self, Event};
use crate::store::{Cursor, NewMessage, Store, StoreError};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A position, counted (until superseded by a later one from the same organisation).
    Vote,
    /// A position that arrived after the deadline: recorded, not counted.
    Late,
    /// A position that cannot count: the ballot was cancelled, or the message is dated before it opened.
    NotCounted,
    /// An answer that could not be read with confidence: the member was asked again.
    Unclear,
    /// A member's mail with no position (a question, an acknowledgement).
    NoAnswer,
    /// Answers to several ballots, each handled on its own.
    Several,
    /// An auto-reply, bounce, report, or the bot's own mail.
    Automated,
    /// The same Message-ID or bytes were already processed.
    Duplicate,
    /// Not a readable message.
    Malformed,
    /// Names no ballot (ordinary list traffic).
    NoBallot,
    /// Names a ballot that does not exist.
    UnknownBallot,
    /// From an address not on the ballot's roster.
    NonMember,
    /// From an observer, adviser or fellow: no vote.
    NonVoting,
    /// An admin's mail that opened a ballot.
    AdminOpened,
    /// An admin's mail that could not be acted on (the admin was told why).
    AdminRejected,
    /// The secretariat's reply to a digest, recording what the meeting confirmed.
    Ratification,
    /// The bot failed to handle it (recorded so that it does not block the mailbox).
    Error,
}

impl Disposition {
    /// The machine name stored in the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Disposition::Vote => "vote",
            Disposition::Late => "late",
            Disposition::NotCounted => "not_counted",
            Disposition::Unclear => "unclear",
            Disposition::NoAnswer => "no_answer",
            Disposition::Several => "several",
            Disposition::Automated => "automated",
            Disposition::Duplicate => "duplicate",
            Disposition::Malformed => "malformed",
            Disposition::NoBallot => "no_ballot",
            Disposition::UnknownBallot => "unknown_ballot",
            Disposition::NonMember => "non_member",
            Disposition::NonVoting => "non_voting",
            Disposition::AdminOpened => "admin_opened",
            Disposition::AdminRejected => "admin_rejected",
            Disposition::Ratification => "ratification",
            Disposition::Error => "error",
        }
    }
}

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
    votes: Vec<(BallotRef, VoteRecord)>,
    mails: Vec<Mail>,
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
        }
    }
}

/// Processes one fetched message in one transaction. `cursor` is where the
/// mailbox cursor moves once this message is recorded.
#[tracing::instrument(skip_all, fields(key = %f.key))]
pub async fn process(
    app: &App,
    source: &str,
    f: &Fetched,
    cursor: Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Processed, AppError> {
    match process_inner(app, source, f, cursor, now).await {
        Ok(p) => Ok(p),
        // A database failure is not the message's fault: stop, retry later.
        Err(e @ AppError::Store(_)) => Err(e),
        Err(e) => {
            error!(error = %e, "could not handle a message; recording it as an error and going on");
            record_failure(app, source, f, cursor, now, &e.to_string()).await
        }
    }
}

async fn process_inner(
    app: &App,
    source: &str,
    f: &Fetched,
    cursor: Option<Cursor>,
    now: DateTime<Utc>,
) -> Result<Processed, AppError> {
    let reading = reading::read_message(&f.raw, &app.read_options);
    let hash = content_hash(&f.raw);
    let mut tx = app.store.begin().await?;
    if Store::source_key_seen(&mut tx, source, &f.key).await? {
        if let Some(c) = cursor {
            Store::save_cursor(&mut tx, source, c).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(Processed {
            disposition: Disposition::Duplicate,
            ballot: None,
            skipped: true,
        });
    }

    let answering = Answering {
        message_id: reading.message_id.as_deref(),
        content_hash: &hash,
    };
    let mut plan = plan(app, &mut tx, &reading, f, &hash, &answering).await?;

    // An admin's request opens its ballot, and the secretariat's answer to a
    // digest records the meeting's confirmation, inside this same transaction.
    if plan.disposition == Disposition::AdminOpened {
        plan = admin_open(app, &mut tx, &reading, &answering, now).await?;
    } else if plan.disposition == Disposition::Ratification {
        plan = ratification(app, &mut tx, &reading, f, &answering, now).await?;
    }

    let reading_json = serde_json::to_string(&reading).ok();
    let row = Store::insert_message(
        &mut tx,
        &NewMessage {
            source,
            source_key: &f.key,
            message_id: reading.message_id.as_deref(),
            content_hash: &hash,
            internal_date: f.internal_date,
            processed_at: now,
            from_addr: reading.from.as_ref().map(Address::as_str),
            subject: reading.subject.as_deref(),
            raw: &f.raw,
            ballot: plan.ballot,
            disposition: plan.disposition.as_str(),
            reason: &plan.reason,
            reading_json: reading_json.as_deref(),
        },
    )
    .await?;
    events::append(
        &mut tx,
        now,
        &Event::new(
            "message_received",
            plan.ballot,
            "daemon",
            serde_json::json!({
                "message": row,
                "message_id": reading.message_id,
                "internal_date": f.internal_date,
                "disposition": plan.disposition,
                "reason": plan.reason,
            }),
        ),
    )
    .await?;
    for (b, mut v) in plan.votes {
        v.seq = row;
        Store::insert_vote(&mut tx, b, &v, row, now).await?;
        events::append(
            &mut tx,
            now,
            &Event::new(
                "vote_recorded",
                Some(b),
                "daemon",
                serde_json::json!({ "message": row, "round": v.round, "org": v.org, "position": v.position, "status": v.status, "cast_at": v.cast_at }),
            ),
        )
        .await?;
    }
    for m in &plan.mails {
        app.enqueue(&mut tx, m, "daemon", now).await?;
    }
    if let Some(c) = cursor {
        Store::save_cursor(&mut tx, source, c).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    info!(
        disposition = plan.disposition.as_str(),
        ballot = plan.ballot.map(|b| b.to_string()),
        "message recorded"
    );
    Ok(Processed {
        disposition: plan.disposition,
        ballot: plan.ballot,
        skipped: false,
    })
}

async fn plan(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    f: &Fetched,
    hash: &str,
    answering: &Answering<'_>,
) -> Result<Plan, AppError> {
    if let Some(why) = &reading.malformed {
        return Ok(Plan::only(Disposition::Malformed, None, why.clone()));
    }
    if let Some(first) = Store::find_duplicate(tx, reading.message_id.as_deref(), hash).await? {
        return Ok(Plan::only(
            Disposition::Duplicate,
            reading.ballot,
            format!("the same Message-ID or content was already processed (message #{first}); not counted again"),
        ));
    }
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
    let Some(from) = reading.from.as_ref() else {
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
        && answered_digest(tx, reading, app.config.message_id_domain())
            .await?
            .is_some()
    {
        return Ok(Plan::only(
            Disposition::Ratification,
            None,
            "the secretariat answered a digest",
        ));
    }
    if !reading.answers.is_empty() {
        let mut merged = Plan::only(
            Disposition::Several,
            reading.answers.first().map(|a| a.ballot),
            "",
        );
        let mut reasons = Vec::new();
        for a in &reading.answers {
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
            )
            .await
        }
    }
}

/// A member's answer to ballot `r`.
#[allow(clippy::too_many_arguments)]
async fn answer(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    from: &Address,
    r: BallotRef,
    vote: Vote,
    evidence: Option<&str>,
    f: &Fetched,
    answering: &Answering<'_>,
) -> Result<Plan, AppError> {
    let composer = app.composer();
    let Some(b) = Store::load_ballot_tx(tx, r).await? else {
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
                p.mails.push(composer.unclear(
                    &b,
                    member,
                    &reading.own_words,
                    &reason,
                    delegation,
                    answering,
                )?);
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
    };
    let mut p = match fate {
        AnswerFate::Count { round } => {
            let votes = Store::votes_tx(tx, r).await?;
            let previous = b.positions(&votes, round).get(&org.id).copied();
            debug!(ballot = %r, round, position = position.as_str(), "vote counted");
            let mut p = Plan::only(
                Disposition::Vote,
                Some(r),
                format!("counted in round {round}"),
            );
            p.votes.push((r, record(round, VoteStatus::Valid)));
            let recorded = Recorded {
                position,
                received_at: f.internal_date,
                evidence: &evidence,
                superseded: previous,
            };
            p.mails
                .push(composer.receipt(&b, member, recorded, answering)?);
            p
        }
        AnswerFate::Late { round } => {
            let mut p = Plan::only(
                Disposition::Late,
                Some(r),
                format!("arrived after the deadline of round {round}; not counted"),
            );
            p.votes.push((r, record(round, VoteStatus::Late)));
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
    p.ballot = Some(r);
    Ok(p)
}

async fn admin_open(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    answering: &Answering<'_>,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let from = reading.from.as_ref().expect("checked by plan()");
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
/// statement (確認済ではありません, not confirmed) confirms nothing.
pub fn confirmed_by(own_words: &str, listed: &[BallotRef]) -> Option<Vec<BallotRef>> {
    use unicode_normalization::UnicodeNormalization;
    let text: String = own_words.nfkc().collect::<String>().to_lowercase();
    let negated = [
        "ではありません",
        "ではない",
        "未確認",
        "されませんでした",
        "できませんでした",
        "not confirmed",
        "否決",
    ]
    .iter()
    .any(|n| text.contains(n));
    if negated {
        return None;
    }
    let named: Vec<BallotRef> = BallotRef::find_all(&text)
        .into_iter()
        .filter(|r| listed.contains(r))
        .collect();
    if !named.is_empty() {
        return Some(named);
    }
    let all = [
        "確認済",
        "確認しました",
        "確認されました",
        "承認されました",
        "confirmed",
    ]
    .iter()
    .any(|w| text.contains(w));
    all.then(|| listed.to_vec())
}

async fn ratification(
    app: &App,
    tx: &mut SqliteConnection,
    reading: &Reading,
    f: &Fetched,
    answering: &Answering<'_>,
    now: DateTime<Utc>,
) -> Result<Plan, AppError> {
    let from = reading.from.as_ref().expect("checked by plan()");
    let digest = answered_digest(tx, reading, app.config.message_id_domain())
        .await?
        .expect("checked by plan()");
    let meeting = digest.meeting.unwrap_or_else(|| {
        f.internal_date
            .with_timezone(&app.config.organisation.time_zone)
            .date_naive()
    });
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
        answering,
    )?);
    Ok(p)
}

async fn record_failure(
    app: &App,
    source: &str,
    f: &Fetched,
    cursor: Option<Cursor>,
    now: DateTime<Utc>,
    why: &str,
) -> Result<Processed, AppError> {
    let hash = content_hash(&f.raw);
    let mut tx = app.store.begin().await?;
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
            ballot: None,
            disposition: Disposition::Error.as_str(),
            reason: why,
            reading_json: None,
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
            serde_json::json!({ "message": row, "error": why }),
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

impl From<StoreError> for PollError {
    fn from(e: StoreError) -> Self {
        PollError::App(AppError::Store(e))
    }
}

/// Messages fetched per batch: bounds memory however large the backlog.
pub const BATCH: usize = 200;

/// Reads the mailbox to its end, processing every new message. On a terminal
/// the count is shown as it goes; under cron it stays quiet.
pub async fn poll(app: &App, src: &mut dyn MailSource) -> Result<PollReport, PollError> {
    let name = app.source_name();
    let mut report = PollReport::default();
    let show = std::io::stderr().is_terminal();
    let mut shown = 0;
    loop {
        let started = app.now();
        let cursor = app.store.cursor(&name).await?;
        let batch = src.fetch(cursor, BATCH).await?;
        let mut last_uid = cursor
            .filter(|c| c.uidvalidity == batch.uidvalidity)
            .map(|c| c.last_uid)
            .unwrap_or(0);
        for m in &batch.messages {
            let c = m.uid.map(|uid| Cursor {
                uidvalidity: batch.uidvalidity,
                last_uid: uid,
            });
            let p = process(app, &name, m, c, app.now()).await?;
            src.committed(m).await?;
            if let Some(uid) = m.uid {
                last_uid = uid;
            }
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
            if show && report.processed >= shown + 500 {
                shown = report.processed;
                eprint!("\r{} messages read", report.processed);
            }
        }
        // UIDs with no message left (expunged): move past them too.
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
        if !batch.more {
            app.store.mark_synced(&name, started).await?;
            break;
        }
    }
    if show && shown > 0 {
        eprintln!("\r{} messages read", report.processed);
    }
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
}
