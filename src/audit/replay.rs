//! `audit replay`: every answer, tally and outcome recomputed from the raw
//! messages kept in the database, and compared with the record.
//!
//! Replay does not trust the votes table: it reads every stored message again
//! with the same reader and decides it again with the ingest's own decision
//! (`ingest::decide`), on facts rebuilt from the record: each ballot as it
//! stood when the message was processed (by the order of the trail), the
//! organisation's earlier answers as replay recomputed them, its own index of
//! earlier copies (the one duplicate rule, `disposition::Copies`), the
//! verification recorded with the message (keys and DNS change, so it is not
//! run again), and the receipt a dispute names or the digest an official
//! answers as the record holds them. There is one copy of the order of the
//! decision and of the duplicate rule. What only mail and incidents depend on
//! (an earlier warning of a forgery within the hour, a sender's burst) is not
//! rebuilt, and an action a decision asks for (opening a ballot, recording a
//! meeting's confirmation) is not carried out again: neither records an answer.
//!
//! The answers the decisions give are compared with what was recorded: each
//! organisation's counted answer, each round's counts and decision (valid,
//! approved, outcome, tie, made again by `Ballot::tally_round`), and each
//! ballot's outcome. An edited vote, a lost one, one counted twice, or a result
//! edited while its counts were left alone shows up as a difference.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ballot::rules::{Outcome, Tally};
use crate::ballot::{Ballot, Changes, Ratification, VoteRecord, VoteStatus};
use crate::config::Config;
use crate::disposition::content_hash;
use crate::disposition::{Copies, Copy, Disposition};
use crate::domain::{Address, BallotRef, OrgId, Position};
use crate::ingest::decide::{decide, says_not_mine};
use crate::ingest::facts::{
    answers_given, author_of, is_official, named_ballots, named_digests, named_receipt,
    would_count_in, DigestFacts, Facts, ReceiptVote,
};
use crate::reading::{read_message_of_size, ReadOptions, Reading};
use crate::store::audit::ReplayMessage;
use crate::store::{Store, StoreError};

use super::PAGE;

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub messages: usize,
    pub ballots: usize,
    pub votes: usize,
    /// One sentence per difference; empty when the record holds.
    pub differences: Vec<String>,
}

/// A page of stored messages and their readings (and content hashes), in order.
type ReadPage = (Vec<ReplayMessage>, Vec<(Reading, String)>);

/// The order in which messages and ballot changes happened, from the trail.
/// Replay needs the ballot as it stood when each message was processed; times
/// can tie (a poll and a tick in the same second, or under a fixed clock), the
/// order of the events cannot.
#[derive(Default)]
struct Order {
    /// The event that recorded each message row.
    message: HashMap<i64, i64>,
    /// Per ballot: (round, event id) of rounds opened after the first, and closed.
    opened: HashMap<String, Vec<(u32, i64)>>,
    closed: HashMap<String, Vec<(u32, i64)>>,
    /// Per ballot: the event that closed or cancelled it.
    ended: HashMap<String, i64>,
}

impl Order {
    async fn load(store: &Store) -> Result<Order, StoreError> {
        let mut o = Order::default();
        store
            .order_events(|e| {
                let round = e.round.and_then(|n| u32::try_from(n).ok());
                match (e.kind.as_str(), e.ballot, round) {
                    ("message_received" | "message_failed", _, _) => {
                        if let Some(m) = e.message {
                            o.message.insert(m, e.id);
                        }
                    }
                    ("round_opened", Some(b), Some(n)) => {
                        o.opened.entry(b).or_default().push((n, e.id))
                    }
                    ("round_closed", Some(b), Some(n)) => {
                        o.closed.entry(b).or_default().push((n, e.id))
                    }
                    ("ballot_closed" | "ballot_cancelled", Some(b), _) => {
                        o.ended.entry(b).or_insert(e.id);
                    }
                    _ => {}
                }
            })
            .await?;
        Ok(o)
    }

    /// What happened to `b` after message row `message` was recorded, by the
    /// trail. Without its event (a record older than the trail), by time.
    fn changes_after(
        &self,
        b: &Ballot,
        message: i64,
        processed_at: DateTime<Utc>,
    ) -> crate::ballot::Changes {
        let Some(&at) = self.message.get(&message) else {
            return b.changes_after(processed_at);
        };
        let key = b.reference.to_string();
        let later = |list: Option<&Vec<(u32, i64)>>| -> Vec<u32> {
            let mut v: Vec<u32> = list
                .into_iter()
                .flatten()
                .filter(|(_, e)| *e > at)
                .map(|(r, _)| *r)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        crate::ballot::Changes {
            opened: later(self.opened.get(&key)),
            closed: later(self.closed.get(&key)),
            ended: self.ended.get(&key).is_some_and(|e| *e > at),
        }
    }
}

/// What replay has rebuilt so far: the ballots (now, and as they stood), the
/// answers the decisions gave, and the copies seen.
struct Rebuilt<'s> {
    store: &'s Store,
    order: Order,
    ballots: HashMap<BallotRef, Arc<Ballot>>,
    /// Ballots as they stood, one copy per distinct state.
    thens: HashMap<(BallotRef, Changes), Arc<Ballot>>,
    /// Per ballot and organisation, the answers recomputed, in arrival order.
    answers: HashMap<BallotRef, HashMap<OrgId, Vec<VoteRecord>>>,
    copies: Copies,
    /// The meetings added by hand, read once if a confirmation asks.
    added_meetings: Option<Vec<chrono::NaiveDate>>,
}

impl Rebuilt<'_> {
    /// Ballot `r` as ingest saw it when it processed message `m`: copied only
    /// when something happened to it since, and then once per distinct state,
    /// not per message.
    fn then(&mut self, r: BallotRef, m: &ReplayMessage) -> Option<Arc<Ballot>> {
        let b = self.ballots.get(&r)?;
        let changes = self.order.changes_after(b, m.id, m.processed_at);
        if changes.is_empty() {
            return Some(b.clone());
        }
        Some(
            self.thens
                .entry((r, changes))
                .or_insert_with_key(|(_, c)| Arc::new(b.undone(c)))
                .clone(),
        )
    }

    /// The facts of message `m`, read as `reading` with content hash `hash`,
    /// rebuilt from the record and from what replay recomputed before it.
    async fn facts<'a>(
        &mut self,
        config: &'a Config,
        opts: &'a ReadOptions,
        m: &'a ReplayMessage,
        reading: &'a Reading,
        hash: &str,
    ) -> Result<Facts<'a>, StoreError> {
        let verification = m.verification.as_ref();
        let author = author_of(reading, verification);
        let earlier = self.copies.earlier(
            reading.message_id.as_deref(),
            hash,
            author.as_ref().map(Address::as_str),
        );
        let mut ballots = HashMap::new();
        for r in named_ballots(reading) {
            ballots.insert(r, self.then(r, m));
        }
        let mut answers = HashMap::new();
        if let Some(author) = &author {
            for (r, vote) in answers_given(reading) {
                let Some(Some(b)) = ballots.get(&r) else {
                    continue;
                };
                if let Some(org) = would_count_in(b, author, vote, m.internal_date) {
                    let earlier = self
                        .answers
                        .get(&r)
                        .and_then(|by_org| by_org.get(org))
                        .cloned()
                        .unwrap_or_default();
                    answers.insert(r, earlier);
                }
            }
        }
        let domain = config.message_id_domain();
        let mut receipt = None;
        if let Some(id) =
            named_receipt(reading, domain).filter(|_| says_not_mine(&reading.own_words))
        {
            let mut conn = self.store.pool().acquire().await?;
            if let Some((vote, r, round, org, position)) =
                Store::vote_by_receipt(&mut conn, id).await?
            {
                if let Entry::Vacant(e) = ballots.entry(r) {
                    e.insert(self.then(r, m));
                }
                receipt = Some(ReceiptVote {
                    receipt: id.to_string(),
                    vote,
                    ballot: r,
                    round,
                    org,
                    position,
                });
            }
        }
        let mut digest = None;
        if author.as_ref().is_some_and(|a| is_official(config, a)) {
            for id in named_digests(reading, domain) {
                let mut conn = self.store.pool().acquire().await?;
                if let Some(d) = Store::digest_by_message_id(&mut conn, id).await? {
                    digest = Some(self.digest_facts(d).await?);
                    break;
                }
            }
        }
        Ok(Facts {
            config,
            own_addresses: &opts.own_addresses,
            reading,
            verification,
            received: m.internal_date,
            earlier,
            ballots,
            answers,
            receipt,
            digest,
            told_within_hour: false,
            // A status query records no vote, and replay compares votes: what
            // the answer listed is in the mail it queued.
            status: Vec::new(),
            sent_in_the_hour: None,
        })
    }

    /// What a confirmation of digest `d` needs (its action is not carried out
    /// again: the ballots' state now is enough).
    async fn digest_facts(
        &mut self,
        d: crate::store::SentDigest,
    ) -> Result<DigestFacts, StoreError> {
        let added_meetings = match &self.added_meetings {
            Some(m) => m.clone(),
            None => {
                let m = self.store.added_meetings().await?;
                self.added_meetings = Some(m.clone());
                m
            }
        };
        let pending = d
            .ballots
            .iter()
            .filter(|r| {
                self.ballots
                    .get(r)
                    .is_some_and(|b| b.ratification == Ratification::Pending)
            })
            .copied()
            .collect();
        Ok(DigestFacts {
            digest: d,
            pending,
            added_meetings,
        })
    }
}

/// Recomputes every tally from the stored raw messages and compares.
pub async fn replay(
    store: &Store,
    config: &Config,
    opts: &ReadOptions,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    let mut ballots: HashMap<BallotRef, Arc<Ballot>> = HashMap::new();
    for s in store.list_ballots().await? {
        if let Some(b) = store.load_ballot(s.reference).await? {
            ballots.insert(s.reference, Arc::new(b));
        }
    }
    report.ballots = ballots.len();
    let mut rebuilt = Rebuilt {
        store,
        order: Order::load(store).await?,
        ballots,
        thens: HashMap::new(),
        answers: HashMap::new(),
        copies: Copies::default(),
        added_meetings: None,
    };
    // Three stages overlap, so both cores stay busy: the next page is fetched
    // while this one is read (on every core), and it is read while this one is
    // decided (in order, here). At most two pages are held.
    let opts_shared = std::sync::Arc::new(opts.clone());
    let mut reading: Option<tokio::task::JoinHandle<ReadPage>> = None;
    let mut after = 0i64;
    let mut exhausted = false;
    loop {
        let next = if exhausted {
            Vec::new()
        } else {
            store.replay_page(after, PAGE).await?
        };
        exhausted = next.is_empty();
        let read = match reading.take() {
            Some(h) => Some(h.await.map_err(|e| match e.try_into_panic() {
                Ok(p) => std::panic::resume_unwind(p),
                Err(e) => StoreError::Corrupt(format!("replay stopped while reading: {e}")),
            })?),
            None => None,
        };
        if let Some(last) = next.last() {
            after = last.id;
            let opts = opts_shared.clone();
            // Reading dominates replay: on every core.
            reading = Some(tokio::task::spawn_blocking(move || {
                let readings = crate::reading::on_every_core(&next, |m| {
                    // Read as the ingest read it: a cut message by its whole size.
                    (
                        read_message_of_size(&m.raw, m.size, &opts),
                        content_hash(&m.raw),
                    )
                });
                (next, readings)
            }));
        }
        let Some((page, readings)) = read else {
            if reading.is_none() {
                break;
            }
            continue;
        };
        for (m, (reading, hash)) in page.iter().zip(readings) {
            report.messages += 1;
            // A failure of the bot's own decided nothing, and it is never the
            // original of a later copy.
            let decision = match m.disposition {
                Disposition::Error => {
                    report.differences.push(format!(
                        "message #{} could not be processed when it arrived; it was not counted",
                        m.id
                    ));
                    None
                }
                _ => {
                    let facts = rebuilt.facts(config, opts, m, &reading, &hash).await?;
                    Some(decide(&facts))
                }
            };
            // Every message is a copy later ones may duplicate, by what the
            // record says became of it, as the ingest's staging adds them.
            rebuilt.copies.add(Copy {
                id: m.id,
                internal_date: m.internal_date,
                disposition: m.disposition,
                message_id: reading.message_id.clone(),
                content_hash: hash,
                sender: author_of(&reading, m.verification.as_ref()).map(|a| a.to_string()),
            });
            let Some(decision) = decision else {
                continue;
            };
            for v in decision.votes {
                report.votes += 1;
                let record = VoteRecord {
                    seq: m.id,
                    ..v.record
                };
                rebuilt
                    .answers
                    .entry(v.ballot)
                    .or_default()
                    .entry(record.org.clone())
                    .or_default()
                    .push(record);
            }
        }
    }
    let mut refs: Vec<&BallotRef> = rebuilt.ballots.keys().collect();
    refs.sort();
    for r in refs {
        let b = &rebuilt.ballots[r];
        let recorded = store.votes(*r).await?;
        let mut again: Vec<VoteRecord> = rebuilt
            .answers
            .remove(r)
            .unwrap_or_default()
            .into_values()
            .flatten()
            .collect();
        again.sort_by_key(|v| v.seq);
        // Disputes are people's decisions, not readings: the recomputed vote of
        // a message takes the dispute recorded on it.
        let disputed: HashSet<(i64, &OrgId)> = recorded
            .iter()
            .filter(|x| x.disputed)
            .map(|x| (x.seq, &x.org))
            .collect();
        for v in &mut again {
            v.disputed = disputed.contains(&(v.seq, &v.org));
        }
        compare(b, &recorded, &again, &mut report.differences);
    }
    Ok(report)
}

fn compare(b: &Ballot, recorded: &[VoteRecord], again: &[VoteRecord], out: &mut Vec<String>) {
    let r = b.reference;
    let mut final_outcome = None;
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
            let decided = compare_decision(b, n, t, again, c == t.counts, out);
            if b.rounds.last().is_some_and(|last| last.number == n) {
                final_outcome = decided;
            }
        }
    }
    // The ballot's outcome is its last round's: an outcome edited on the ballot
    // alone shows here.
    if let (Some(have), Some(want)) = (b.outcome, final_outcome) {
        if have != want {
            out.push(format!(
                "{r}: its outcome is recorded as {}, but the messages give {}",
                have.as_str(),
                want.as_str()
            ));
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

/// The decision round `n` recorded, made again from the recomputed answers with
/// the same rule (`Ballot::tally_round`), so that a result whose validity or
/// outcome was edited while its counts were left alone shows. Returns the
/// outcome the messages give. `same_counts`: the numbers that follow from the
/// counts (present, base, in favour) are compared only when the counts agree,
/// since a difference in the counts was reported already. The working lines are
/// prose that later versions may word differently, and are not compared.
fn compare_decision(
    b: &Ballot,
    n: u32,
    recorded: &Tally,
    again: &[VoteRecord],
    same_counts: bool,
    out: &mut Vec<String>,
) -> Option<Outcome> {
    let r = b.reference;
    let t = match b.tally_round(again, n) {
        Ok((_, t)) => t,
        Err(e) => {
            out.push(format!(
                "{r} round {n}: a result is recorded, but the messages cannot be tallied again: {e}"
            ));
            return None;
        }
    };
    let mut fields = vec![
        ("valid", recorded.valid.to_string(), t.valid.to_string()),
        (
            "approved",
            recorded.approved.to_string(),
            t.approved.to_string(),
        ),
        (
            "outcome",
            recorded.outcome.as_str().into(),
            t.outcome.as_str().into(),
        ),
        ("tie", recorded.tie.to_string(), t.tie.to_string()),
    ];
    if same_counts {
        fields.extend([
            (
                "present",
                recorded.present.to_string(),
                t.present.to_string(),
            ),
            ("base", recorded.base.to_string(), t.base.to_string()),
            (
                "in favour",
                recorded.in_favour.to_string(),
                t.in_favour.to_string(),
            ),
            ("profile", recorded.profile.clone(), t.profile.clone()),
        ]);
    }
    for (what, have, want) in fields {
        if have != want {
            out.push(format!(
                "{r} round {n}: the recorded result says {what} `{have}`, but the messages give `{want}`"
            ));
        }
    }
    Some(t.outcome)
}

fn name(p: Option<&Position>) -> &'static str {
    p.map(|p| p.as_str()).unwrap_or("no answer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{self, OpenRequest};
    use crate::audit::ballot_with_votes;
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_of_a_ballot_decided_in_its_second_round_finds_no_difference() {
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
        let answer = |i: usize, org: usize, at: &str| {
            let raw = reply(
                &format!("rep{org}@org{org}.example"),
                &format!("Re: [{r}]"),
                "賛成",
                &format!("two{i}@x"),
                None,
            );
            fetched(&format!("two{i}"), raw, at)
        };
        // One answer of four: not valid, and a second round opens.
        t.set_now("2026-11-23T00:00:00Z");
        let f = answer(0, 1, "2026-11-23T00:00:00Z");
        process(&t.app, &src, &f, None, t.app.now()).await.unwrap();
        t.set_now("2026-11-30T00:00:00Z");
        t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
        crate::scheduler::tick(&t.app, None).await.unwrap();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.rounds.len(), 2, "{b:?}");
        let second = b.rounds[1].deadline;
        for (i, org) in [(1, 1), (2, 2), (3, 3)] {
            let at = (b.rounds[1].opened_at + chrono::Duration::hours(1)).to_rfc3339();
            t.set_now(&at);
            process(&t.app, &src, &answer(i, org, &at), None, t.app.now())
                .await
                .unwrap();
        }
        let after = (second + chrono::Duration::hours(1)).to_rfc3339();
        t.set_now(&after);
        t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
        crate::scheduler::tick(&t.app, None).await.unwrap();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.outcome.map(|o| o.as_str()), Some("approved"));
        assert_eq!(
            b.rounds[0].tally.as_ref().unwrap().outcome.as_str(),
            "not_valid"
        );
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
        assert_eq!(rep.votes, 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_finds_a_round_outcome_edited_while_its_counts_were_left_alone() {
        let (t, _) = ballot_with_votes().await;
        sqlx::query(
            "UPDATE rounds SET tally_json = replace(replace(tally_json,
                 '\"approved\":true', '\"approved\":false'), '\"outcome\":\"approved\"', '\"outcome\":\"rejected\"')",
        )
        .execute(t.app.store.pool())
        .await
        .unwrap();
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(
            rep.differences,
            [
                "B-2026-001 round 1: the recorded result says approved `false`, but the messages give `true`",
                "B-2026-001 round 1: the recorded result says outcome `rejected`, but the messages give `approved`",
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_finds_a_round_edited_to_not_valid_while_its_counts_were_left_alone() {
        let (t, _) = ballot_with_votes().await;
        sqlx::query("UPDATE rounds SET tally_json = replace(tally_json, '\"valid\":true', '\"valid\":false')")
            .execute(t.app.store.pool())
            .await
            .unwrap();
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(
            rep.differences,
            ["B-2026-001 round 1: the recorded result says valid `false`, but the messages give `true`"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_finds_a_ballot_outcome_edited_in_the_database() {
        let (t, _) = ballot_with_votes().await;
        sqlx::query("UPDATE ballots SET outcome = 'not_valid'")
            .execute(t.app.store.pool())
            .await
            .unwrap();
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(
            rep.differences,
            ["B-2026-001: its outcome is recorded as not_valid, but the messages give approved"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vote_read_in_the_same_instant_the_round_closed_is_replayed_in_the_order_it_happened()
    {
        // A fixed clock (or a poll and a tick in the same second): the reply was
        // read, then the round closed, at one and the same time.
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
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
        t.set_now("2026-11-29T09:00:00Z");
        let src = t.app.source_name();
        for (i, org) in [1, 2].into_iter().enumerate() {
            let raw = reply(
                &format!("rep{org}@org{org}.example"),
                &format!("Re: [{r}]"),
                "賛成",
                &format!("s{i}@x"),
                None,
            );
            let f = fetched(&format!("s{i}"), raw, "2026-11-28T00:00:00Z");
            process(&t.app, &src, &f, None, t.app.now()).await.unwrap();
        }
        t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
        crate::scheduler::tick(&t.app, None).await.unwrap();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.rounds[0].tally.as_ref().unwrap().counts.yes, 2);
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
    }

    /// The ballot above, with every mail sent but the last, which the server refuses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_counts_a_direct_copy_that_followed_an_unused_list_copy_as_the_ingest_did() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
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
        let direct = reply(
            "rep1@org1.example",
            &format!("Re: [{r}]"),
            "賛成",
            "both@org1",
            None,
        );
        // The list's copy of a reply-all arrives first, From rewritten: not used.
        let listed = String::from_utf8(direct.clone())
            .unwrap()
            .replacen(
                "From: Member <rep1@org1.example>",
                "List-Id: <steering.committee.example>\r\nFrom: \"Member via steering\" <steering@committee.example>",
                1,
            )
            .into_bytes();
        assert_ne!(listed, direct);
        for (key, raw) in [("1", listed), ("2", direct)] {
            let f = fetched(key, raw, "2026-11-23T01:00:00Z");
            process(&t.app, &src, &f, None, t.app.now()).await.unwrap();
        }
        assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
        let rep = replay(&t.app.store, &t.app.config, &t.app.read_options)
            .await
            .unwrap();
        assert_eq!(rep.differences, Vec::<String>::new());
        assert_eq!(rep.votes, 1);
    }
}
