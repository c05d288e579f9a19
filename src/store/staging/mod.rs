//! A batch of messages staged inside its transaction: what the ingest has
//! loaded for them, and what it will write.
//!
//! A backlog is recorded hundreds of messages per transaction. Asking SQLite one
//! question or writing one row at a time costs a round trip to sqlx's worker
//! thread each (about 10 µs on the development machine, and a reply needed
//! fifteen), more than reading the reply itself. So `StagedBatch` keeps what the
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

mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::ballot::{Ballot, VoteRecord};
use crate::disposition::{Copies, Copy, Earlier};
use crate::domain::{BallotRef, OrgId, Position};
use crate::store::events::Event;
use crate::store::{
    parse_ts, statement_chunks, ts, LoadedBallots, NewOutboxMail, SentDigest, Store, StoreError,
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
    disposition: crate::disposition::Disposition,
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
pub struct StagedBatch<'c> {
    conn: &'c mut SqliteConnection,
    ballots: LoadedBallots,
    ballot_ids: HashMap<BallotRef, Option<i64>>,
    /// Mailbox keys recorded (in the database when preloaded, or by this transaction).
    keys: HashSet<(String, String)>,
    /// Every message of the database or this transaction with a Message-ID or
    /// content hash of the batch.
    copies: Copies,
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

impl<'c> StagedBatch<'c> {
    /// A batch staged inside the transaction `conn`.
    pub fn new(conn: &'c mut SqliteConnection) -> Self {
        StagedBatch {
            conn,
            ballots: HashMap::new(),
            ballot_ids: HashMap::new(),
            keys: HashSet::new(),
            copies: Copies::default(),
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
    /// this batch may be asked about afterwards (`seen_key`, `earlier`,
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
        // only shares the key is loaded too, but `earlier` finds copies by
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
        for c in copies {
            self.copies.add(c);
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

    /// True when the mailbox item `key` is already recorded.
    pub fn seen_key(&self, source: &str, key: &str) -> bool {
        self.keys.contains(&(source.to_string(), key.to_string()))
    }

    /// What the earlier messages with this Message-ID or these bytes make of
    /// a message from `sender`, by the one duplicate rule (`Copies::earlier`).
    pub fn earlier(
        &self,
        message_id: Option<&str>,
        content_hash: &str,
        sender: Option<&str>,
    ) -> Earlier {
        self.copies.earlier(message_id, content_hash, sender)
    }

    /// How many messages `from` sent that arrived at or after `since`.
    pub fn messages_from_since(&self, from: &str, since: DateTime<Utc>) -> i64 {
        debug_assert!(self.senders_since.is_some_and(|s| s <= since));
        self.senders
            .get(from)
            .map_or(0, |times| times.iter().filter(|t| **t >= since).count()) as i64
    }

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

    /// The ballots open now (opened in this batch too, since opening writes
    /// through the batch's connection), in the order they were opened.
    pub async fn open_ballots(&mut self) -> Result<Vec<Arc<Ballot>>, StoreError> {
        let refs = sqlx::query_scalar::<_, String>(
            "SELECT reference FROM ballots WHERE state = 'open' ORDER BY id",
        )
        .fetch_all(&mut *self.conn)
        .await?;
        let mut open = Vec::with_capacity(refs.len());
        for r in refs {
            let r: BallotRef = r.parse().map_err(StoreError::Corrupt)?;
            if let Some(b) = self.ballot(r).await? {
                open.push(b);
            }
        }
        Ok(open)
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

    /// The digest sent with Message-ID `id` (digests are never staged).
    pub async fn digest(&mut self, id: &str) -> Result<Option<SentDigest>, StoreError> {
        Store::digest_by_message_id(self.conn, id).await
    }

    /// The meetings added by hand (never staged).
    pub async fn added_meetings(&mut self) -> Result<Vec<NaiveDate>, StoreError> {
        Store::added_meetings_tx(self.conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disposition::Disposition;
    use crate::store::NewMessage;

    fn utc(t: &str) -> DateTime<Utc> {
        crate::ballot::tests::utc(t)
    }

    /// A database holding one vote message, `abc@x` with hash `hash`.
    async fn one_message_recorded(hash: &str) -> (Store, i64) {
        let store = Store::memory().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let m = NewMessage {
            source: "test",
            source_key: "1",
            message_id: Some("abc@x"),
            content_hash: hash,
            internal_date: utc("2026-11-22T00:00:00Z"),
            processed_at: utc("2026-11-22T00:00:00Z"),
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
        (store, id)
    }

    #[tokio::test]
    async fn a_recorded_copy_is_found_by_message_id_or_whole_hash_never_by_the_index_key_alone() {
        let stored = "0123456789ab".to_string() + &"c".repeat(52);
        let (store, id) = one_message_recorded(&stored).await;
        // Same first 12 digits (the index key), different hash.
        let other = "0123456789ab".to_string() + &"d".repeat(52);
        let since = utc("2026-11-21T00:00:00Z");
        let mut conn = store.pool().acquire().await.unwrap();
        let mut batch = StagedBatch::new(&mut conn);
        batch
            .preload(
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
            original(batch.earlier(Some("abc@x"), &other, rep1)),
            Some(id)
        );
        assert_eq!(original(batch.earlier(None, &stored, rep1)), Some(id));
        assert_eq!(original(batch.earlier(Some("new@x"), &other, rep1)), None);
        assert_eq!(original(batch.earlier(None, &other, rep1)), None);
    }

    #[tokio::test]
    async fn another_senders_message_with_the_same_message_id_is_a_clash_not_a_duplicate() {
        let stored = "a".repeat(64);
        let (store, id) = one_message_recorded(&stored).await;
        let mine = "b".repeat(64);
        let since = utc("2026-11-21T00:00:00Z");
        let mut conn = store.pool().acquire().await.unwrap();
        let mut batch = StagedBatch::new(&mut conn);
        batch
            .preload("test", &[], &["abc@x"], &[&mine], &[], since)
            .await
            .unwrap();
        // org2's message borrowing org1's Message-ID is judged on its own.
        let e = batch.earlier(Some("abc@x"), &mine, Some("rep2@org2.example"));
        assert_eq!(
            e,
            Earlier {
                original: None,
                clash: Some(id)
            }
        );
        // Nor is a message without a sender anybody's copy.
        assert_eq!(batch.earlier(Some("abc@x"), &mine, None).original, None);
        // The very same bytes are the same delivery, whoever it claims to be from.
        assert_eq!(
            batch
                .earlier(Some("abc@x"), &stored, Some("rep2@org2.example"))
                .original
                .map(|d| d.0),
            Some(id)
        );
    }
}
