//! Checking the record: the hash chain of events (`audit verify`), and every
//! tally recomputed from the raw messages kept in the database (`replay`).
//!
//! Replay does not trust the votes table: it reads every stored message again
//! with the same reader, applies the same decisions (`Ballot::answer`, on the
//! ballot as it stood when the message was processed) and the same duplicate
//! rule, and compares what it gets with what was recorded: each round's tally,
//! and each organisation's counted answer. An edited vote, a lost one or one
//! counted twice shows up as a difference.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::ballot::{Answer, AnswerFate, Ballot, VoteRecord, VoteStatus};
use crate::config::Config;
use crate::domain::{BallotRef, Position};
use crate::ingest::content_hash;
use crate::reading::{read_message, ReadOptions, Reading};
use crate::store::{parse_ts, Store, StoreError};
use crate::verify::policy::Verification;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub messages: usize,
    pub ballots: usize,
    pub votes: usize,
    /// One sentence per difference; empty when the record holds.
    pub differences: Vec<String>,
}

struct Stored {
    id: i64,
    internal_date: DateTime<Utc>,
    processed_at: DateTime<Utc>,
    disposition: String,
    raw: Vec<u8>,
    verification: Option<Verification>,
}

const PAGE: i64 = 2000;

/// Reads a page of messages on every core: reading is pure and dominates replay.
fn read_all(page: &[Stored], opts: &ReadOptions) -> Vec<Reading> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = page.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = page
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .map(|m| read_message(&m.raw, opts))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Recomputes every tally from the stored raw messages and compares.
pub async fn replay(
    store: &Store,
    config: &Config,
    opts: &ReadOptions,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut ballots: HashMap<BallotRef, Ballot> = HashMap::new();
    for s in store.list_ballots().await? {
        if let Some(b) = store.load_ballot(s.reference).await? {
            ballots.insert(s.reference, b);
        }
    }
    report.ballots = ballots.len();
    let mut recomputed: HashMap<BallotRef, Vec<VoteRecord>> = HashMap::new();
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut seen_hashes: HashSet<String> = HashSet::new();
    let prefix = config.ballots.open_subject_prefix.to_lowercase();
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT id, internal_date, processed_at, disposition, raw, verification_json FROM messages WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        let page = rows
            .iter()
            .map(|r| {
                Ok(Stored {
                    id: r.try_get(0)?,
                    internal_date: parse_ts(&r.try_get::<String, _>(1)?)?,
                    processed_at: parse_ts(&r.try_get::<String, _>(2)?)?,
                    disposition: r.try_get(3)?,
                    raw: r.try_get(4)?,
                    verification: r
                        .try_get::<Option<String>, _>(5)?
                        .map(|j| serde_json::from_str::<Verification>(&j))
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        after = page.last().map(|m| m.id).unwrap_or(after);
        let readings = tokio::task::block_in_place(|| read_all(&page, opts));
        for (m, reading) in page.iter().zip(readings) {
            report.messages += 1;
            let hash = content_hash(&m.raw);
            // The same duplicate rule as ingest: a Message-ID or bytes seen before.
            let dup = reading
                .message_id
                .as_ref()
                .is_some_and(|id| seen_ids.contains(id))
                || seen_hashes.contains(&hash);
            seen_hashes.insert(hash);
            if m.disposition == "error" {
                report.differences.push(format!(
                    "message #{} could not be processed when it arrived; it was not counted",
                    m.id
                ));
                continue;
            }
            if let Some(id) = &reading.message_id {
                seen_ids.insert(id.clone());
            }
            if dup || reading.malformed.is_some() || reading.automated {
                continue;
            }
            // Sender verification is not run again (keys and DNS change): the
            // verification recorded with the message decides, as it did then.
            let from = match &m.verification {
                Some(v) if v.enforced && !v.passed => continue,
                Some(v) => v.author.as_ref().or(reading.from.as_ref()),
                None => reading.from.as_ref(),
            };
            let Some(from) = from else { continue };
            let subject = reading
                .subject
                .as_deref()
                .unwrap_or("")
                .trim()
                .to_lowercase();
            if config.is_admin(from) && subject.starts_with(&prefix) {
                continue;
            }
            if m.disposition == "ratification" || m.disposition == "dispute" {
                continue;
            }
            let token = m
                .verification
                .as_ref()
                .filter(|v| v.method == Some(crate::verify::policy::Method::Token))
                .and_then(|v| v.token.as_ref());
            let answers: Vec<(BallotRef, crate::domain::Vote)> = if reading.answers.is_empty() {
                reading
                    .ballot
                    .map(|b| (b, reading.vote))
                    .into_iter()
                    .collect()
            } else {
                reading.answers.iter().map(|a| (a.ballot, a.vote)).collect()
            };
            for (r, vote) in answers {
                let Some(b) = ballots.get(&r) else { continue };
                let then = b.as_of(m.processed_at);
                if let Answer::Position {
                    org,
                    position,
                    fate,
                } = then.answer(from, vote, m.internal_date)
                {
                    let (round, status) = match fate {
                        AnswerFate::Count { round } => {
                            let named = if Some(r) == reading.ballot {
                                reading.round
                            } else {
                                None
                            };
                            if crate::ingest::answers_elsewhere(named, token, r, round).is_some() {
                                continue;
                            }
                            (round, VoteStatus::Valid)
                        }
                        AnswerFate::Late { round } => (round, VoteStatus::Late),
                        AnswerFate::Cancelled | AnswerFate::Early => continue,
                    };
                    report.votes += 1;
                    recomputed.entry(r).or_default().push(VoteRecord {
                        org: org.id.clone(),
                        position,
                        cast_at: m.internal_date,
                        seq: m.id,
                        round,
                        status,
                        voter: from.to_string(),
                        message_id: reading.message_id.clone(),
                        disputed: false,
                    });
                }
            }
        }
    }
    let mut refs: Vec<&BallotRef> = ballots.keys().collect();
    refs.sort();
    for r in refs {
        let b = &ballots[r];
        let recorded = store.votes(*r).await?;
        let mut again = recomputed.remove(r).unwrap_or_default();
        // Disputes are people's decisions, not readings: the recomputed vote of
        // a message takes the dispute recorded on it.
        for v in &mut again {
            v.disputed = recorded
                .iter()
                .any(|x| x.seq == v.seq && x.org == v.org && x.disputed);
        }
        compare(b, &recorded, &again, &mut report.differences);
    }
    Ok(report)
}

fn compare(b: &Ballot, recorded: &[VoteRecord], again: &[VoteRecord], out: &mut Vec<String>) {
    let r = b.reference;
    for round in &b.rounds {
        let n = round.number;
        let want = b.positions(again, n);
        let have = b.positions(recorded, n);
        if want != have {
            let orgs: std::collections::BTreeSet<_> = want.keys().chain(have.keys()).collect();
            for o in orgs {
                let (w, h) = (want.get(o), have.get(o));
                if w != h {
                    out.push(format!(
                        "{r} round {n}: {o} is recorded as {} but the messages say {}",
                        name(h),
                        name(w)
                    ));
                }
            }
        }
        if let Some(t) = &round.tally {
            let c = b.counts(again, n);
            if c != t.counts {
                out.push(format!(
                    "{r} round {n}: the recorded result counted yes {} no {} abstain {} delegate {}, the messages give yes {} no {} abstain {} delegate {}",
                    t.counts.yes, t.counts.no, t.counts.abstain, t.counts.delegate, c.yes, c.no, c.abstain, c.delegate
                ));
            }
        }
    }
    let late = |v: &[VoteRecord]| -> BTreeMap<(u32, String), usize> {
        let mut m = BTreeMap::new();
        for x in v.iter().filter(|x| x.status == VoteStatus::Late) {
            *m.entry((x.round, x.org.to_string())).or_default() += 1;
        }
        m
    };
    if late(recorded) != late(again) {
        out.push(format!(
            "{r}: the late answers recorded differ from those in the messages"
        ));
    }
    if recorded.len() != again.len() {
        out.push(format!(
            "{r}: {} answers are recorded but the messages hold {}",
            recorded.len(),
            again.len()
        ));
    }
}

fn name(p: Option<&Position>) -> &'static str {
    p.map(|p| p.as_str()).unwrap_or("no answer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{self, OpenRequest};
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};

    async fn ballot_with_votes() -> (TestApp, BallotRef) {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let req = OpenRequest {
            title: "予算".into(),
            motion: "予算案".into(),
            kind: None,
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        let r = admin::open(&t.app, &req, "cli", t.app.now())
            .await
            .unwrap()
            .reference;
        let src = t.app.source_name();
        for (i, (org, body, at)) in [
            (1, "賛成", "2026-11-23T00:00:00Z"),
            (2, "反対", "2026-11-23T00:00:00Z"),
            (2, "賛成します。", "2026-11-24T00:00:00Z"),
            (3, "棄権", "2026-11-24T00:00:00Z"),
            (4, "賛成", "2026-11-30T00:00:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            let raw = reply(
                &format!("rep{org}@org{org}.example"),
                &format!("Re: [{r}]"),
                body,
                &format!("m{i}@x"),
                None,
            );
            t.set_now(at);
            if i == 4 {
                t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
                crate::scheduler::tick(&t.app, None).await.unwrap();
            }
            process(
                &t.app,
                &src,
                &fetched(&format!("k{i}"), raw, at),
                None,
                t.app.now(),
            )
            .await
            .unwrap();
        }
        (t, r)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_of_an_untouched_record_finds_no_difference() {
        let (t, r) = ballot_with_votes().await;
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.outcome.map(|o| o.as_str()), Some("approved"));
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
        assert_eq!(rep.votes, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_finds_a_vote_edited_in_the_database() {
        let (t, _) = ballot_with_votes().await;
        sqlx::query("UPDATE votes SET position = 'no' WHERE org_id = 'org01'")
            .execute(t.app.store.pool())
            .await
            .unwrap();
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert!(
            rep.differences
                .iter()
                .any(|d| d.contains("org01 is recorded as no but the messages say yes")),
            "{:?}",
            rep.differences
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_finds_a_deleted_vote_and_a_result_that_does_not_match() {
        let (t, _) = ballot_with_votes().await;
        sqlx::query("DELETE FROM votes WHERE org_id = 'org03'")
            .execute(t.app.store.pool())
            .await
            .unwrap();
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert!(
            rep.differences
                .iter()
                .any(|d| d.contains("org03 is recorded as no answer but the messages say abstain")),
            "{:?}",
            rep.differences
        );
    }
}
