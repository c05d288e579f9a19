//! One transaction's worth of ingest: what it has loaded, and what it will write.
//!
//! A backlog is recorded hundreds of messages per transaction. Asking SQLite one
//! question or writing one row at a time costs a round trip to sqlx's worker
//! thread each (about 10 µs on the development machine, and a reply needed
//! fifteen), more than reading the reply itself. So `Work` keeps what the
//! transaction has loaded (ballots, what the batch's messages may duplicate) and
//! stages what it writes (messages, votes, mails, audit events), which `flush`
//! writes with a few multi-row statements.
//!
//! Nothing can read around the staging: every question the ingest asks about
//! those tables is a method here that answers from the database and the staged
//! rows together, and the raw connection is only handed out (`conn`) after a
//! flush. The transaction holds SQLite's write lock (`BEGIN IMMEDIATE`), so no
//! one else writes meanwhile. The audit chain is computed at the flush, in the
//! order the events were staged, exactly as appending them one by one would.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::ballot::{Ballot, VoteRecord, VoteStatus};
use crate::disposition::{same_sender, Disposition};
use crate::domain::{BallotRef, OrgId, Position};
use crate::store::events::{self, Event};
use crate::store::{
    parse_ts, statement_chunks, ts, LoadedBallots, NewMessage, NewOutboxMail, Store, StoreError,
};

/// The expression `messages_by_hash_key` indexes (migration 0008): the first 12
/// hex digits (48 bits) of the content hash, a quarter of the index the whole
/// hash made. Its pages stay in the batch's page cache; the whole hash's, written
/// at random places, did not past a few tens of thousands of messages.
const HASH_KEY: &str = "substr(content_hash, 1, 12)";

/// `HASH_KEY` of `hash`, computed here (SQLite's substr counts characters).
fn hash_key(hash: &str) -> String {
    hash.chars().take(12).collect()
}

/// What an earlier message with the same Message-ID or bytes looks like.
#[derive(Debug, Clone)]
struct Copy {
    id: i64,
    internal_date: DateTime<Utc>,
    disposition: Disposition,
    message_id: Option<String>,
    content_hash: String,
    /// The author the bot acted on (`store::duplicates`), as written.
    sender: Option<String>,
}

/// What the earlier messages sharing a new message's Message-ID or bytes make of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Earlier {
    /// The original it duplicates: its row and INTERNALDATE.
    pub original: Option<(i64, DateTime<Utc>)>,
    /// An earlier message from another sender with the same Message-ID, which
    /// the bot used (`store::counts_as_original`): not the same message, but
    /// worth a note on the new one.
    pub clash: Option<i64>,
}

/// A message to write.
struct StagedMessage {
    id: i64,
    source: String,
    source_key: String,
    message_id: Option<String>,
    content_hash: String,
    internal_date: DateTime<Utc>,
    processed_at: DateTime<Utc>,
    from_addr: Option<String>,
    subject: Option<String>,
    raw: Vec<u8>,
    size: usize,
    ballot_id: Option<i64>,
    disposition: Disposition,
    reason: String,
    reading_json: Option<String>,
    verification_json: Option<String>,
}

/// A vote to write.
struct StagedVote {
    id: i64,
    ballot: BallotRef,
    ballot_id: i64,
    record: VoteRecord,
    message_row: i64,
    receipt_id: Option<String>,
    recorded_at: DateTime<Utc>,
}

/// An audit event to append; one about a queued mail only if the mail was queued
/// (its Message-ID was not in the outbox already).
struct StagedEvent {
    at: DateTime<Utc>,
    event: Event,
    if_queued: Option<String>,
}

/// What the transaction has loaded and staged.
pub struct Work<'c> {
    conn: &'c mut SqliteConnection,
    ballots: LoadedBallots,
    ballot_ids: HashMap<BallotRef, Option<i64>>,
    /// Mailbox keys recorded (in the database when preloaded, or by this transaction).
    keys: HashSet<(String, String)>,
    /// Every message of the database or this transaction with a Message-ID or
    /// content hash of the batch, in id order, and where each hash and
    /// Message-ID occurs among them.
    copies: Vec<Copy>,
    by_hash: HashMap<String, Vec<usize>>,
    by_message_id: HashMap<String, Vec<usize>>,
    /// When each sender's messages arrived (for bursts), from `since` on.
    senders: HashMap<String, Vec<DateTime<Utc>>>,
    senders_since: Option<DateTime<Utc>>,
    messages: Vec<StagedMessage>,
    votes: Vec<StagedVote>,
    mails: Vec<(NewOutboxMail, DateTime<Utc>)>,
    events: Vec<StagedEvent>,
    next_message: Option<i64>,
    next_vote: Option<i64>,
    /// How often a ballot was loaded and the staging flushed: the stage-time log
    /// reports them (docs/BENCHMARKS.md).
    pub ballot_loads: u32,
    pub flushes: u32,
}

impl<'c> Work<'c> {
    /// Work inside the transaction `conn`.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        Work {
            conn,
            ballots: HashMap::new(),
            ballot_ids: HashMap::new(),
            keys: HashSet::new(),
            copies: Vec::new(),
            by_hash: HashMap::new(),
            by_message_id: HashMap::new(),
            senders: HashMap::new(),
            senders_since: None,
            messages: Vec::new(),
            votes: Vec::new(),
            mails: Vec::new(),
            events: Vec::new(),
            next_message: None,
            next_vote: None,
            ballot_loads: 0,
            flushes: 0,
        }
    }

    /// Loads, in a few queries, what the batch's messages will ask about: which
    /// of their mailbox keys are recorded, the earlier copies of each (same
    /// Message-ID or bytes), and their senders' recent messages. Only messages of
    /// this batch may be asked about afterwards (`seen_key`, `duplicate_of`,
    /// `messages_from_since` rely on it).
    pub async fn preload(
        &mut self,
        source: &str,
        keys: &[&str],
        message_ids: &[&str],
        hashes: &[&str],
        senders: &[&str],
        since: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in statement_chunks(keys) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT source_key FROM messages WHERE source = ");
            q.push_bind(source).push(" AND source_key IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(*k);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.conn).await? {
                self.keys.insert((source.to_string(), r.try_get(0)?));
            }
        }
        let mut copies: HashMap<i64, Copy> = HashMap::new();
        // Hashes are looked up by their index key (migration 0008). A row that
        // only shares the key is loaded too, but `duplicate_of` finds copies by
        // the whole hash, so it is never taken for one.
        let hash_keys: Vec<String> = hashes.iter().map(|h| hash_key(h)).collect();
        let hash_keys: Vec<&str> = hash_keys.iter().map(String::as_str).collect();
        for (column, values) in [
            (HASH_KEY, hash_keys.as_slice()),
            ("message_id", message_ids),
        ] {
            for chunk in statement_chunks(values) {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "SELECT id, internal_date, disposition, message_id, content_hash, COALESCE(json_extract(verification_json, '$.author'), from_addr) FROM messages WHERE ",
                );
                q.push(column).push(" IN (");
                let mut sep = q.separated(", ");
                for v in chunk {
                    sep.push_bind(*v);
                }
                q.push(")");
                for r in q.build().fetch_all(&mut *self.conn).await? {
                    let id: i64 = r.try_get(0)?;
                    copies.entry(id).or_insert(Copy {
                        id,
                        internal_date: parse_ts(&r.try_get::<String, _>(1)?)?,
                        disposition: r.try_get::<&str, _>(2)?.parse()?,
                        message_id: r.try_get(3)?,
                        content_hash: r.try_get(4)?,
                        sender: r.try_get(5)?,
                    });
                }
            }
        }
        let mut copies: Vec<Copy> = copies.into_values().collect();
        copies.sort_by_key(|c| c.id);
        self.copies.clear();
        self.by_hash.clear();
        self.by_message_id.clear();
        for c in copies {
            self.add_copy(c);
        }
        self.senders.clear();
        for chunk in statement_chunks(senders) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT from_addr, internal_date FROM messages WHERE internal_date >= ",
            );
            q.push_bind(ts(since)).push(" AND from_addr IN (");
            let mut sep = q.separated(", ");
            for s in chunk {
                sep.push_bind(*s);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.conn).await? {
                self.senders
                    .entry(r.try_get(0)?)
                    .or_default()
                    .push(parse_ts(&r.try_get::<String, _>(1)?)?);
            }
        }
        self.senders_since = Some(since);
        Ok(())
    }

    /// The connection, for work that writes by itself (opening a ballot, a
    /// meeting's confirmation, a dispute, an incident): everything staged is
    /// written first, so it sees all of it.
    pub async fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.flushes += 1;
        self.flush().await?;
        // What it writes may change ballots, and its rows take ids of their own.
        self.ballots.clear();
        self.next_message = None;
        self.next_vote = None;
        Ok(&mut *self.conn)
    }

    /// Ballot `r` as this transaction sees it (ballots are never staged).
    pub async fn ballot(&mut self, r: BallotRef) -> Result<Option<Arc<Ballot>>, StoreError> {
        if let Some(b) = self.ballots.get(&r) {
            return Ok(b.clone());
        }
        self.ballot_loads += 1;
        let b = Store::load_ballot_tx(self.conn, r).await?.map(Arc::new);
        self.ballots.insert(r, b.clone());
        Ok(b)
    }

    /// Starts from ballots loaded before, still current (`Store::cached_ballots`).
    pub fn with_ballots(mut self, ballots: LoadedBallots) -> Self {
        self.ballots = ballots;
        self
    }

    /// The ballots loaded since the last change to one, for `Store::keep_ballots`.
    pub fn take_ballots(&mut self) -> LoadedBallots {
        std::mem::take(&mut self.ballots)
    }

    /// Forgets the ballots loaded: a message changed one.
    pub fn forget_ballots(&mut self) {
        self.ballots.clear();
    }

    async fn ballot_id(&mut self, r: BallotRef) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.ballot_ids.get(&r) {
            return Ok(*id);
        }
        let id = sqlx::query_scalar::<_, i64>("SELECT id FROM ballots WHERE reference = ?")
            .bind(r.to_string())
            .fetch_optional(&mut *self.conn)
            .await?;
        // A ballot that does not exist yet may be opened later in this
        // transaction: remember only the ones found.
        if id.is_some() {
            self.ballot_ids.insert(r, id);
        }
        Ok(id)
    }

    // ---- questions about messages ---------------------------------------------

    /// True when the mailbox item `key` is already recorded.
    pub fn seen_key(&self, source: &str, key: &str) -> bool {
        self.keys.contains(&(source.to_string(), key.to_string()))
    }

    fn add_copy(&mut self, c: Copy) {
        let i = self.copies.len();
        self.by_hash
            .entry(c.content_hash.clone())
            .or_default()
            .push(i);
        if let Some(id) = &c.message_id {
            self.by_message_id.entry(id.clone()).or_default().push(i);
        }
        self.copies.push(c);
    }

    /// What the earlier messages with this Message-ID or these bytes make of
    /// a message from `sender`, by the ingest's one rule (`store::duplicates`).
    pub fn earlier(
        &self,
        message_id: Option<&str>,
        content_hash: &str,
        sender: Option<&str>,
    ) -> Earlier {
        let none = Vec::new();
        let by_hash = self.by_hash.get(content_hash).unwrap_or(&none);
        let by_id = message_id
            .and_then(|id| self.by_message_id.get(id))
            .unwrap_or(&none);
        // Copies are in id order; so are both lists: take the first that counts.
        let mut candidates: Vec<usize> = by_hash.iter().chain(by_id).copied().collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut earlier = Earlier::default();
        for c in candidates.into_iter().map(|i| &self.copies[i]) {
            let same_bytes = c.content_hash == content_hash;
            let same_sender = same_sender(c.sender.as_deref(), sender);
            if c.disposition.duplicates(same_bytes, same_sender) {
                earlier.original = Some((c.id, c.internal_date));
                break;
            }
            if earlier.clash.is_none() && c.disposition.counts_as_original(same_bytes) {
                earlier.clash = Some(c.id);
            }
        }
        earlier
    }

    /// How many messages `from` sent that arrived at or after `since`.
    pub fn messages_from_since(&self, from: &str, since: DateTime<Utc>) -> i64 {
        debug_assert!(self.senders_since.is_some_and(|s| s <= since));
        self.senders
            .get(from)
            .map_or(0, |times| times.iter().filter(|t| **t >= since).count()) as i64
    }

    // ---- questions about votes and mail ------------------------------------------

    /// Every answer `org` gave in ballot `r`, recorded or staged, in arrival order.
    pub async fn org_votes(
        &mut self,
        r: BallotRef,
        org: &OrgId,
    ) -> Result<Vec<VoteRecord>, StoreError> {
        let mut votes = Store::org_votes_tx(self.conn, r, org).await?;
        votes.extend(
            self.votes
                .iter()
                .filter(|v| v.ballot == r && &v.record.org == org)
                .map(|v| v.record.clone()),
        );
        Ok(votes)
    }

    /// The vote a receipt acknowledged: (vote row, ballot, round, organisation, position).
    pub async fn vote_by_receipt(
        &mut self,
        receipt_id: &str,
    ) -> Result<Option<(i64, BallotRef, u32, OrgId, Position)>, StoreError> {
        if let Some(found) = Store::vote_by_receipt(self.conn, receipt_id).await? {
            return Ok(Some(found));
        }
        Ok(self
            .votes
            .iter()
            .find(|v| v.receipt_id.as_deref() == Some(receipt_id))
            .map(|v| {
                (
                    v.id,
                    v.ballot,
                    v.record.round,
                    v.record.org.clone(),
                    v.record.position,
                )
            }))
    }

    /// True when a mail of `kind` to exactly `recipients` was queued since `since`.
    pub async fn queued_to_since(
        &mut self,
        kind: &str,
        recipients: &[String],
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self
            .mails
            .iter()
            .any(|(m, at)| m.kind == kind && m.recipients == recipients && *at >= since)
        {
            return Ok(true);
        }
        Store::queued_to_since(self.conn, kind, recipients, since).await
    }

    // ---- what the transaction writes ---------------------------------------------

    /// Stages a message; returns the row id it will have.
    /// Stages message `m`, whose author the bot settled on is `sender`
    /// (verification's, else the From header); returns its row id.
    pub async fn message(
        &mut self,
        m: &NewMessage<'_>,
        sender: Option<&str>,
    ) -> Result<i64, StoreError> {
        let id = match self.next_message {
            Some(id) => id,
            None => {
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM messages")
                    .fetch_one(&mut *self.conn)
                    .await?
            }
        };
        self.next_message = Some(id + 1);
        let ballot_id = match m.ballot {
            Some(r) => self.ballot_id(r).await?,
            None => None,
        };
        self.keys
            .insert((m.source.to_string(), m.source_key.to_string()));
        self.add_copy(Copy {
            id,
            internal_date: m.internal_date,
            disposition: m.disposition,
            message_id: m.message_id.map(str::to_string),
            content_hash: m.content_hash.to_string(),
            sender: sender.map(str::to_string),
        });
        if let Some(from) = m.from_addr {
            self.senders
                .entry(from.to_string())
                .or_default()
                .push(m.internal_date);
        }
        self.messages.push(StagedMessage {
            id,
            source: m.source.to_string(),
            source_key: m.source_key.to_string(),
            message_id: m.message_id.map(str::to_string),
            content_hash: m.content_hash.to_string(),
            internal_date: m.internal_date,
            processed_at: m.processed_at,
            from_addr: m.from_addr.map(str::to_string),
            subject: m.subject.map(str::to_string),
            raw: m.raw.to_vec(),
            size: m.size,
            ballot_id,
            disposition: m.disposition,
            reason: m.reason.to_string(),
            reading_json: m.reading_json.map(str::to_string),
            verification_json: m.verification_json.map(str::to_string),
        });
        Ok(id)
    }

    /// Stages a vote of message `message_row`; returns its row id.
    pub async fn vote(
        &mut self,
        ballot: BallotRef,
        v: &VoteRecord,
        message_row: i64,
        receipt_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let ballot_id = self.ballot_id(ballot).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("a vote for {ballot}, which does not exist"))
        })?;
        let id = match self.next_vote {
            Some(id) => id,
            None => {
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM votes")
                    .fetch_one(&mut *self.conn)
                    .await?
            }
        };
        self.next_vote = Some(id + 1);
        self.votes.push(StagedVote {
            id,
            ballot,
            ballot_id,
            record: v.clone(),
            message_row,
            receipt_id: receipt_id.map(str::to_string),
            recorded_at: now,
        });
        Ok(id)
    }

    /// Stages an audit event.
    pub fn event(&mut self, at: DateTime<Utc>, event: Event) {
        self.events.push(StagedEvent {
            at,
            event,
            if_queued: None,
        });
    }

    /// Stages a mail for the outbox and its `mail_queued` event, which is kept
    /// only if the mail is new (a mail with that Message-ID is queued once).
    pub fn mail(&mut self, row: NewOutboxMail, event: Event, now: DateTime<Utc>) {
        self.events.push(StagedEvent {
            at: now,
            event,
            if_queued: Some(row.message_id.clone()),
        });
        self.mails.push((row, now));
    }

    /// Writes everything staged, in this order: messages, votes, mails, events.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let messages = std::mem::take(&mut self.messages);
        for chunk in statement_chunks(&messages) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (id, source, source_key, message_id, content_hash, internal_date, processed_at,
                 from_addr, subject, size, raw, ballot_id, disposition, reason, reading_json, verification_json) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(m.id)
                    .push_bind(&m.source)
                    .push_bind(&m.source_key)
                    .push_bind(&m.message_id)
                    .push_bind(&m.content_hash)
                    .push_bind(ts(m.internal_date))
                    .push_bind(ts(m.processed_at))
                    .push_bind(&m.from_addr)
                    .push_bind(&m.subject)
                    .push_bind(i64::try_from(m.size).unwrap_or(i64::MAX))
                    .push_bind(&m.raw)
                    .push_bind(m.ballot_id)
                    .push_bind(m.disposition.as_str())
                    .push_bind(&m.reason)
                    .push_bind(&m.reading_json)
                    .push_bind(&m.verification_json);
            });
            q.build().execute(&mut *self.conn).await?;
        }

        let votes = std::mem::take(&mut self.votes);
        for chunk in statement_chunks(&votes) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO votes (id, ballot_id, round, org_id, position, voter, cast_at, message_row, status, recorded_at, receipt_id, message_id) ",
            );
            q.push_values(chunk, |mut b, v| {
                b.push_bind(v.id)
                    .push_bind(v.ballot_id)
                    .push_bind(i64::from(v.record.round))
                    .push_bind(v.record.org.as_str())
                    .push_bind(v.record.position.as_str())
                    .push_bind(&v.record.voter)
                    .push_bind(ts(v.record.cast_at))
                    .push_bind(v.message_row)
                    .push_bind(match v.record.status {
                        VoteStatus::Valid => "valid",
                        VoteStatus::Late => "late",
                    })
                    .push_bind(ts(v.recorded_at))
                    .push_bind(&v.receipt_id)
                    .push_bind(&v.record.message_id);
            });
            q.build().execute(&mut *self.conn).await?;
        }

        // A mail is queued once per Message-ID: drop the ones already in the outbox
        // (or staged twice), and with them their mail_queued events.
        let mails = std::mem::take(&mut self.mails);
        let mut queued: HashSet<String> = HashSet::new();
        let mut existing: HashSet<String> = HashSet::new();
        for chunk in statement_chunks(&mails) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT message_id FROM outbox WHERE message_id IN (");
            let mut sep = q.separated(", ");
            for (m, _) in chunk {
                sep.push_bind(&m.message_id);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.conn).await? {
                existing.insert(r.try_get(0)?);
            }
        }
        let mut new_mails = Vec::with_capacity(mails.len());
        for (m, at) in &mails {
            if !existing.contains(&m.message_id) && queued.insert(m.message_id.clone()) {
                let ballot_id = match m.ballot {
                    Some(r) => self.ballot_id(r).await?,
                    None => None,
                };
                new_mails.push((m, *at, ballot_id));
            }
        }
        for chunk in statement_chunks(&new_mails) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO outbox (message_id, kind, ballot_id, envelope_from, recipients_json, raw, created_at, next_attempt_at) ",
            );
            let mut recipients = Vec::with_capacity(chunk.len());
            for (m, _, _) in chunk {
                recipients.push(serde_json::to_string(&m.recipients)?);
            }
            q.push_values(
                chunk.iter().zip(&recipients),
                |mut b, ((m, at, ballot_id), r)| {
                    b.push_bind(&m.message_id)
                        .push_bind(&m.kind)
                        .push_bind(*ballot_id)
                        .push_bind(&m.envelope_from)
                        .push_bind(r)
                        .push_bind(&m.raw)
                        .push_bind(ts(*at))
                        .push_bind(ts(*at));
                },
            );
            q.build().execute(&mut *self.conn).await?;
        }

        let staged = std::mem::take(&mut self.events);
        let mut kept = Vec::with_capacity(staged.len());
        let mut announced: HashSet<String> = HashSet::new();
        for e in staged {
            match &e.if_queued {
                Some(id) if !queued.contains(id) || !announced.insert(id.clone()) => {}
                _ => kept.push((e.at, e.event)),
            }
        }
        events::append_all(&mut *self.conn, &kept).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{self, OpenRequest};
    use crate::ingest::poll;
    use crate::mailbox::{Batch, Fetched, MailSource, MailboxError};
    use crate::testkit::{fetched, reply, TestApp};
    use futures::future::BoxFuture;

    /// Work over a database holding one vote message, `abc@x` with hash `hash`.
    async fn one_message_recorded(t: &TestApp, hash: &str) -> i64 {
        let mut tx = t.app.store.begin().await.unwrap();
        let m = NewMessage {
            source: "test",
            source_key: "1",
            message_id: Some("abc@x"),
            content_hash: hash,
            internal_date: crate::ballot::tests::utc("2026-11-22T00:00:00Z"),
            processed_at: crate::ballot::tests::utc("2026-11-22T00:00:00Z"),
            from_addr: Some("Rep1@org1.example"),
            subject: None,
            raw: b"raw",
            size: 3,
            ballot: None,
            disposition: Disposition::Vote,
            reason: "r",
            reading_json: None,
            verification_json: None,
        };
        let id = Store::insert_message(&mut tx, &m).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    #[tokio::test]
    async fn a_recorded_copy_is_found_by_message_id_or_whole_hash_never_by_the_index_key_alone() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let stored = "0123456789ab".to_string() + &"c".repeat(52);
        let id = one_message_recorded(&t, &stored).await;
        // Same first 12 digits (the index key), different hash.
        let other = "0123456789ab".to_string() + &"d".repeat(52);
        let since = crate::ballot::tests::utc("2026-11-21T00:00:00Z");
        let mut conn = t.app.store.pool().acquire().await.unwrap();
        let mut work = Work::new(&mut conn);
        work.preload(
            "test",
            &[],
            &["abc@x", "new@x"],
            &[&stored, &other],
            &[],
            since,
        )
        .await
        .unwrap();
        let rep1 = Some("rep1@org1.example");
        let original = |e: Earlier| e.original.map(|d| d.0);
        assert_eq!(
            original(work.earlier(Some("abc@x"), &other, rep1)),
            Some(id)
        );
        assert_eq!(original(work.earlier(None, &stored, rep1)), Some(id));
        assert_eq!(original(work.earlier(Some("new@x"), &other, rep1)), None);
        assert_eq!(original(work.earlier(None, &other, rep1)), None);
    }

    #[tokio::test]
    async fn another_senders_message_with_the_same_message_id_is_a_clash_not_a_duplicate() {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let stored = "a".repeat(64);
        let id = one_message_recorded(&t, &stored).await;
        let mine = "b".repeat(64);
        let since = crate::ballot::tests::utc("2026-11-21T00:00:00Z");
        let mut conn = t.app.store.pool().acquire().await.unwrap();
        let mut work = Work::new(&mut conn);
        work.preload("test", &[], &["abc@x"], &[&mine], &[], since)
            .await
            .unwrap();
        // org2's message borrowing org1's Message-ID is judged on its own.
        let e = work.earlier(Some("abc@x"), &mine, Some("rep2@org2.example"));
        assert_eq!(
            e,
            Earlier {
                original: None,
                clash: Some(id)
            }
        );
        // Nor is a message without a sender anybody's copy.
        assert_eq!(work.earlier(Some("abc@x"), &mine, None).original, None);
        // The very same bytes are the same delivery, whoever it claims to be from.
        assert_eq!(
            work.earlier(Some("abc@x"), &stored, Some("rep2@org2.example"))
                .original
                .map(|d| d.0),
            Some(id)
        );
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
