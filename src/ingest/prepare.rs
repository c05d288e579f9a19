//! Making a batch ready outside its transaction: each message read (pure, on
//! every core when there are enough to share), hashed, and its sender verified
//! when a policy is configured, which may wait on DNS.

use chrono::{DateTime, Utc};

use crate::app::{App, AppError, Verifier};
use crate::ballot::Ballot;
use crate::config::Config;
use crate::domain::Address;
use crate::mailbox::Fetched;
use crate::reading::{self, Reading};
use crate::roster::Membership;
use crate::verify;
use crate::verify::dkim::StaticDkim;
use crate::verify::policy::{Context as VerifyContext, TokenSubject, Verification};

pub use crate::disposition::content_hash;

/// A message made ready outside the transaction: read (pure), hashed and, when a
/// policy is configured, its sender verified (which may wait on DNS).
pub(super) struct Prepared<'f> {
    pub f: &'f Fetched,
    pub reading: Reading,
    pub hash: String,
    pub verification: Option<Verification>,
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

pub(super) fn read_one(f: &Fetched, opts: &reading::ReadOptions) -> (Reading, String) {
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
pub(super) async fn prepare<'f>(
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
fn worth_waiting_for(app: &App, candidates: &[Ballot], v: &Verification) -> bool {
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
    v: &Verifier,
    config: &Config,
    candidates: &[Ballot],
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
