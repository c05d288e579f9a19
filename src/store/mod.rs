//! The SQLite store: ballots, votes, every message read, the outbox, the mailbox
//! cursor and the audit trail.
//!
//! Queries are checked at run time (no database is needed to compile). Writes
//! that belong together take a `Tx` so the caller decides the transaction: one
//! message, its votes, its outbox rows and the cursor commit together or not at
//! all. The database file is created readable by its owner only: it holds the
//! roster, the votes and the raw mail, all members-only information.

pub mod audit;
mod backup;
mod health;
pub mod lock;
pub use health::{Health, OutboxSummary};
pub mod events;
pub mod staging;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use tracing::warn;

use crate::ballot::rules::Tally;
use crate::ballot::{Ballot, Ratification, Round, State, VoteRecord, VoteStatus};
use crate::disposition::Disposition;
use crate::domain::{BallotRef, MessageIdKey, OrgId, Position};

/// An open transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// A storage failure. These are internal errors: logged, never shown to members.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds data this version cannot read ({0})")]
    Corrupt(String),
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<crate::disposition::UnknownDisposition> for StoreError {
    fn from(e: crate::disposition::UnknownDisposition) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// The row counts a multi-row statement is built with, largest first.
const STATEMENT_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `rows` in chunks of the sizes of `STATEMENT_ROWS` only (500 rows: 256, 64 ×
/// 3, 16 × 3, 4), for multi-row INSERTs and `IN (…)` lists. sqlx caches each
/// distinct statement text, prepared, per connection (100 of them): with chunks
/// of whatever size a batch had, a backlog's varying batch sizes filled that
/// cache with statements of hundreds of rows, about 30 MB of prepared programs
/// (peak RSS at 100,000 messages 84 MiB, 54 MiB without caching them). Not
/// caching them cost 17 ms of parsing per batch; with five sizes the cache holds
/// at most five statements per query, and they are reused.
pub fn statement_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = STATEMENT_ROWS.into_iter().find(|n| *n <= rest.len())?;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// Formats a timestamp the way the database stores it (fixed width, UTC).
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads a stored timestamp.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{s}`: {e}")))
}

fn parse_opt_ts(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.as_deref().map(parse_ts).transpose()
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    ballots: Arc<Mutex<BallotCache>>,
    message_id_key: MessageIdKey,
}

/// Ballots a batch has loaded, by reference; `None` where no such ballot exists
/// (a reply may name one that was never opened).
pub type LoadedBallots = HashMap<BallotRef, Option<Arc<Ballot>>>;

/// Ballots as the last committed batch of messages left them, and the
/// `ballot_generation` (migration 0009) they were current at. Every write to
/// the ballot tables bumps it, so the next batch reuses them only when no one,
/// in this process or another, has changed a ballot since.
#[derive(Default)]
struct BallotCache {
    generation: i64,
    ballots: LoadedBallots,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// One message as read from the mailbox, about to be recorded.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub source: &'a str,
    pub source_key: &'a str,
    pub message_id: Option<&'a str>,
    pub content_hash: &'a str,
    pub internal_date: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    pub from_addr: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// The message as fetched: only its first part when the mailbox cut it.
    pub raw: &'a [u8],
    /// The whole message's size in bytes; more than `raw.len()` when it was cut.
    pub size: usize,
    pub ballot: Option<BallotRef>,
    pub disposition: Disposition,
    pub reason: &'a str,
    pub reading_json: Option<&'a str>,
    pub verification_json: Option<&'a str>,
}

/// A stored message, as `show` and `replay` read it.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: i64,
    pub source_key: String,
    pub message_id: Option<String>,
    pub internal_date: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    pub from_addr: Option<String>,
    pub subject: Option<String>,
    pub ballot: Option<String>,
    pub disposition: Disposition,
    pub reason: String,
    /// The sender verification recorded with it (JSON), when a policy is configured.
    pub verification_json: Option<String>,
}

/// A mail waiting in (or sent from) the outbox.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub ballot: Option<String>,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// When the last attempt began; set until the mail is known sent.
    pub sending_since: Option<DateTime<Utc>>,
}

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct NewOutboxMail {
    pub message_id: String,
    pub kind: String,
    pub ballot: Option<BallotRef>,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
}

/// The texts a ballot's rule and roster are stored as (`ballots.profile_json`
/// and `roster_json`), written once when it opens: its `ballot_opened` event
/// keeps their hashes, so that `audit verify` notices an edit of either.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub profile_json: String,
    pub roster_json: String,
}

impl Snapshot {
    /// The texts `insert_ballot` writes for `b`.
    pub fn of(b: &Ballot) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            profile_json: serde_json::to_string(&b.profile)?,
            roster_json: serde_json::to_string(&b.roster)?,
        })
    }
}

/// An incident as stored, for `audit verify`.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    pub id: i64,
    /// As stored: `audit verify` reports a time that does not parse rather than stop.
    pub at: String,
    pub kind: String,
    pub ballot: Option<String>,
    pub message_row: Option<i64>,
    pub summary: String,
    /// The evidence as stored (JSON text).
    pub detail_json: String,
    pub merged_into: Option<i64>,
}

/// Where reading a mailbox stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// A line of `list`.
#[derive(Debug, Clone)]
pub struct BallotSummary {
    pub reference: BallotRef,
    pub title: String,
    pub state: State,
    pub outcome: Option<String>,
    pub round: u32,
    pub deadline: DateTime<Utc>,
    pub ratification: Ratification,
}

/// How long a connection waits for another process's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects, waiting (up to `BUSY_TIMEOUT`) while another process holds a lock.
/// The first connection to a new database turns it to WAL mode, and that step
/// takes its lock without SQLite's busy handler: two processes opening a new
/// database together (the daemon's first start and an admin's command) made
/// one fail at once with "database is locked" (7 of 400 opens in a test that
/// opens fresh databases in pairs).
async fn connect_waiting(opts: SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match pool_options()
            .max_connections(4)
            .connect_with(opts.clone())
            .await
        {
            Err(sqlx::Error::Database(e))
                if is_busy(e.code().as_deref()) && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

/// The pool's settings: a connection goes back to the pool only outside any
/// transaction, and is closed otherwise (the pool opens a fresh one).
///
/// When a write fails with SQLITE_FULL or SQLITE_IOERR (a full disk, a failing
/// or read-only file), SQLite rolls the whole transaction back itself, in the
/// COMMIT as in a statement it cannot undo alone. sqlx still counts the
/// transaction open: its own ROLLBACK then fails ("no transaction is active")
/// and the count stays at one (sqlx-sqlite 0.8, `connection/worker.rs`). Reused,
/// that connection refused every later `BEGIN` ("attempted to call begin_with
/// at non-zero transaction depth"), long after the disk had room again.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().after_release(|conn, _| {
        Box::pin(async move {
            let clean = outside_transaction(conn).await?;
            if !clean {
                warn!("a database connection was left in a failed transaction; it is closed, not reused");
            }
            Ok(clean)
        })
    })
}

/// Whether both SQLite and sqlx see `conn` outside any transaction.
async fn outside_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    // Locking the handle goes through the connection's worker, after what was
    // sent to it before: the ROLLBACK a dropped transaction queued is done.
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the locked handle is an open connection that no other thread
    // uses while the lock is held; sqlite3_get_autocommit only reads a flag.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } != 0;
    drop(handle);
    Ok(autocommit && !sqlx::Connection::is_in_transaction(conn))
}

/// True for SQLITE_BUSY and its extended codes (the low byte is the primary code).
fn is_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

impl Store {
    /// Opens (creating if needed, owner-only) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        create_private(path)?;
        // A file made before (by an older version, a copy, a restore) may be
        // readable by others: it holds every vote and address.
        tighten(path)?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // A checkpoint every 10,000 pages (40 MB of WAL) instead of SQLite's
            // 1,000: a backlog's batch writes about 1,000 pages, most of them
            // the same index pages again, so every batch's commit also
            // checkpointed. 100,000 messages: 2,262–2,613 -> 2,895 msg/s.
            .pragma("wal_autocheckpoint", "10000")
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = connect_waiting(opts).await?;
        let store = Self::migrate(pool).await?;
        tighten(path)?;
        Ok(store)
    }

    /// A private in-memory database (unit tests). Its Message-ID key is fixed
    /// (all zeros), so two test stores write the same Message-IDs and tests can
    /// compare whole records; a database on disk draws its own.
    pub async fn memory() -> Result<Store, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to :memory: is a different database
        // (so one closed after a failed transaction takes the data with it;
        // only tests use this store).
        let pool = pool_options().max_connections(1).connect_with(opts).await?;
        let mut store = Self::migrate(pool).await?;
        let fixed = MessageIdKey::fixed(0);
        sqlx::query("UPDATE installation SET message_id_key = ? WHERE id = 1")
            .bind(fixed.to_hex())
            .execute(&store.pool)
            .await?;
        store.message_id_key = fixed;
        Ok(store)
    }

    async fn migrate(pool: SqlitePool) -> Result<Store, StoreError> {
        // One process at a time: the daemon's first start and an admin's
        // command may open a new database together, and both would see it
        // unmigrated (the second then fails on "table already exists"). Under
        // the exclusive lock the second waits (busy_timeout), then finds every
        // migration recorded; each migration is a savepoint inside.
        let mut tx = pool.begin_with("BEGIN EXCLUSIVE").await?;
        let conn: &mut SqliteConnection = &mut tx;
        sqlx::migrate!("./migrations").run_direct(conn).await?;
        let key: String =
            sqlx::query_scalar("SELECT message_id_key FROM installation WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?;
        tx.commit().await?;
        let message_id_key = MessageIdKey::from_hex(&key).ok_or_else(|| {
            StoreError::Corrupt("installation.message_id_key is not 64 hex digits".into())
        })?;
        Ok(Store {
            pool,
            ballots: Arc::default(),
            message_id_key,
        })
    }

    /// This installation's key for the bot's Message-IDs (migration 0010).
    pub fn message_id_key(&self) -> &MessageIdKey {
        &self.message_id_key
    }

    /// The database's ballot generation (migration 0009), as `conn` sees it.
    pub async fn ballot_generation(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT n FROM ballot_generation WHERE id = 1")
                .fetch_one(conn)
                .await?,
        )
    }

    /// The ballots a committed batch left at `generation`; none when that is
    /// not the generation they were kept at.
    pub fn cached_ballots(&self, generation: i64) -> LoadedBallots {
        let cache = self.ballots.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            cache.ballots.clone()
        } else {
            HashMap::new()
        }
    }

    /// Keeps `ballots`, loaded by a transaction that committed at `generation`.
    pub fn keep_ballots(&self, generation: i64, ballots: LoadedBallots) {
        let mut cache = self.ballots.lock().unwrap_or_else(|p| p.into_inner());
        *cache = BallotCache {
            generation,
            ballots,
        };
    }

    /// Starts a transaction. SQLite takes the write lock at the first write; the
    /// busy timeout makes concurrent writers (the daemon and an admin command) wait.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        // IMMEDIATE takes the write lock now: a deferred transaction that read
        // first could not upgrade to a writer once another connection had
        // committed (SQLITE_BUSY_SNAPSHOT), and busy_timeout would not help.
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Starts a transaction on `conn` (see `begin`).
    pub async fn begin_on(
        conn: &mut SqliteConnection,
    ) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        Ok(sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?)
    }

    /// A connection for recording one batch of messages, with a page cache that
    /// holds the batch's writes (hundreds of messages, thousands of pages: 8 MB).
    /// With SQLite's default 2 MB, those writes evicted every index page the
    /// batch's lookups need, and each lookup went back to the file. 16 MB was no
    /// faster at 100,000 messages (2,301 against 2,335 msg/s) and 7 MiB larger
    /// (peak RSS 62.6 against 55.6 MiB). Give it back with `end_batch`, which
    /// returns the memory.
    pub async fn batch_connection(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("PRAGMA cache_size = -8192")
            .execute(&mut *conn)
            .await?;
        Ok(conn)
    }

    /// The default page cache again, and its memory freed.
    pub async fn end_batch(conn: &mut SqliteConnection) -> Result<(), StoreError> {
        sqlx::query("PRAGMA cache_size = -2000")
            .execute(&mut *conn)
            .await?;
        sqlx::query("PRAGMA shrink_memory")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The pool, for read-only queries elsewhere in the crate.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    // ---- ballots ---------------------------------------------------------

    /// The next free number for a ballot opened in `year`.
    pub async fn next_ballot_number(
        conn: &mut SqliteConnection,
        year: u16,
    ) -> Result<u32, StoreError> {
        let n: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM ballots WHERE year = ?")
            .bind(i64::from(year))
            .fetch_one(&mut *conn)
            .await?;
        u32::try_from(n.unwrap_or(0) + 1).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Inserts a new ballot and its rounds.
    pub async fn insert_ballot(conn: &mut SqliteConnection, b: &Ballot) -> Result<(), StoreError> {
        let snapshot = Snapshot::of(b)?;
        sqlx::query(
            "INSERT INTO ballots (reference, year, number, title, motion, kind, profile_json, roster_json,
                 state, outcome, opened_at, opened_by, closed_at, cancel_reason, ratification_json, chair)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(b.reference.to_string())
        .bind(i64::from(b.reference.year()))
        .bind(i64::from(b.reference.number()))
        .bind(&b.title)
        .bind(&b.motion)
        .bind(&b.kind)
        .bind(&snapshot.profile_json)
        .bind(&snapshot.roster_json)
        .bind(b.state.as_str())
        .bind(b.outcome.map(|o| o.as_str()))
        .bind(ts(b.opened_at))
        .bind(&b.opened_by)
        .bind(b.closed_at.map(ts))
        .bind(&b.cancel_reason)
        .bind(serde_json::to_string(&b.ratification)?)
        .bind(b.chair.as_ref().map(|c| c.as_str().to_string()))
        .execute(&mut *conn)
        .await?;
        Self::save_rounds(conn, b).await
    }

    /// Saves a ballot's changed state and rounds. The title, motion, profile and
    /// roster never change after opening and are not rewritten.
    pub async fn save_ballot(conn: &mut SqliteConnection, b: &Ballot) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE ballots SET state = ?, outcome = ?, closed_at = ?, cancel_reason = ?, ratification_json = ?
             WHERE reference = ?",
        )
        .bind(b.state.as_str())
        .bind(b.outcome.map(|o| o.as_str()))
        .bind(b.closed_at.map(ts))
        .bind(&b.cancel_reason)
        .bind(serde_json::to_string(&b.ratification)?)
        .bind(b.reference.to_string())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!(
                "ballot {} is not stored",
                b.reference
            )));
        }
        Self::save_rounds(conn, b).await
    }

    async fn save_rounds(conn: &mut SqliteConnection, b: &Ballot) -> Result<(), StoreError> {
        let id = Self::ballot_id(conn, b.reference).await?;
        for r in &b.rounds {
            sqlx::query(
                "INSERT INTO rounds (ballot_id, number, opened_at, deadline, closed_at, tally_json)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (ballot_id, number) DO UPDATE SET
                    deadline = excluded.deadline, closed_at = excluded.closed_at, tally_json = excluded.tally_json",
            )
            .bind(id)
            .bind(i64::from(r.number))
            .bind(ts(r.opened_at))
            .bind(ts(r.deadline))
            .bind(r.closed_at.map(ts))
            .bind(r.tally.as_ref().map(serde_json::to_string).transpose()?)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn ballot_id(conn: &mut SqliteConnection, r: BallotRef) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM ballots WHERE reference = ?")
            .bind(r.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("ballot {r} is not stored")))
    }

    /// Loads a ballot inside a transaction (to change it).
    pub async fn load_ballot_tx(
        conn: &mut SqliteConnection,
        r: BallotRef,
    ) -> Result<Option<Ballot>, StoreError> {
        let row = sqlx::query("SELECT * FROM ballots WHERE reference = ?")
            .bind(r.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let rounds = sqlx::query("SELECT * FROM rounds WHERE ballot_id = ? ORDER BY number")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        Ok(Some(ballot_from_rows(&row, &rounds)?))
    }

    /// Loads a ballot.
    pub async fn load_ballot(&self, r: BallotRef) -> Result<Option<Ballot>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::load_ballot_tx(&mut conn, r).await
    }

    /// References of ballots in `state`, oldest first.
    pub async fn ballots_in_state(&self, state: State) -> Result<Vec<BallotRef>, StoreError> {
        let refs: Vec<String> =
            sqlx::query_scalar("SELECT reference FROM ballots WHERE state = ? ORDER BY id")
                .bind(state.as_str())
                .fetch_all(&self.pool)
                .await?;
        refs.iter()
            .map(|s| s.parse().map_err(StoreError::Corrupt))
            .collect()
    }

    /// Ballots still open, or closed or cancelled since `since`: those a
    /// personal-ballot token may still answer.
    pub async fn recent_ballots(&self, since: DateTime<Utc>) -> Result<Vec<Ballot>, StoreError> {
        let refs: Vec<String> = sqlx::query_scalar(
            "SELECT reference FROM ballots WHERE state = 'open' OR closed_at IS NULL OR closed_at >= ? ORDER BY id",
        )
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let r: BallotRef = r.parse().map_err(StoreError::Corrupt)?;
            if let Some(b) = self.load_ballot(r).await? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Every ballot, one line each, oldest first.
    pub async fn list_ballots(&self) -> Result<Vec<BallotSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.reference, b.title, b.state, b.outcome, b.ratification_json, r.number, r.deadline
             FROM ballots b JOIN rounds r ON r.ballot_id = b.id
             WHERE r.number = (SELECT MAX(number) FROM rounds WHERE ballot_id = b.id)
             ORDER BY b.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BallotSummary {
                    reference: row
                        .try_get::<String, _>("reference")?
                        .parse()
                        .map_err(StoreError::Corrupt)?,
                    title: row.try_get("title")?,
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                    outcome: row.try_get("outcome")?,
                    round: u32::try_from(row.try_get::<i64, _>("number")?).unwrap_or(0),
                    deadline: parse_ts(&row.try_get::<String, _>("deadline")?)?,
                    ratification: serde_json::from_str(
                        &row.try_get::<String, _>("ratification_json")?,
                    )?,
                })
            })
            .collect()
    }

    /// Closed ballots whose result no meeting has confirmed yet, in the order they closed.
    pub async fn pending_ratification(&self) -> Result<Vec<Ballot>, StoreError> {
        let refs: Vec<String> = sqlx::query_scalar(
            "SELECT reference FROM ballots
             WHERE state = 'closed' AND json_extract(ratification_json, '$.status') = 'pending'
             ORDER BY closed_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let r: BallotRef = r.parse().map_err(StoreError::Corrupt)?;
            if let Some(b) = self.load_ballot(r).await? {
                out.push(b);
            }
        }
        Ok(out)
    }

    // ---- votes -----------------------------------------------------------

    /// Records an answer.
    pub async fn insert_vote(
        conn: &mut SqliteConnection,
        ballot: BallotRef,
        v: &VoteRecord,
        message_row: i64,
        receipt_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let id = Self::ballot_id(conn, ballot).await?;
        let row = sqlx::query(
            "INSERT INTO votes (ballot_id, round, org_id, position, voter, cast_at, message_row, status, recorded_at, receipt_id, message_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(i64::from(v.round))
        .bind(v.org.as_str())
        .bind(v.position.as_str())
        .bind(&v.voter)
        .bind(ts(v.cast_at))
        .bind(message_row)
        .bind(v.status.as_str())
        .bind(ts(now))
        .bind(receipt_id)
        .bind(&v.message_id)
        .fetch_one(&mut *conn)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Every answer recorded for a ballot, in arrival order.
    pub async fn votes_tx(
        conn: &mut SqliteConnection,
        ballot: BallotRef,
    ) -> Result<Vec<VoteRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.*, v.message_id AS mid, d.state AS dispute FROM votes v
             JOIN ballots b ON b.id = v.ballot_id
             LEFT JOIN disputes d ON d.vote_id = v.id
             WHERE b.reference = ? ORDER BY v.message_row, v.id",
        )
        .bind(ballot.to_string())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(vote_from_row).collect()
    }

    /// Every answer `org` gave in a ballot, in arrival order (the same rows as
    /// `votes_tx`, for one organisation).
    pub async fn org_votes_tx(
        conn: &mut SqliteConnection,
        ballot: BallotRef,
        org: &OrgId,
    ) -> Result<Vec<VoteRecord>, StoreError> {
        let rows = sqlx::query(
            // Only the columns of votes_by_org_answers, which then answers alone.
            "SELECT v.id, v.org_id, v.position, v.cast_at, v.message_row, v.round, v.status,
                    v.voter, v.message_id AS mid, d.state AS dispute FROM votes v
             JOIN ballots b ON b.id = v.ballot_id
             LEFT JOIN disputes d ON d.vote_id = v.id
             WHERE b.reference = ? AND v.org_id = ? ORDER BY v.message_row, v.id",
        )
        .bind(ballot.to_string())
        .bind(org.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(vote_from_row).collect()
    }

    /// Every answer recorded for a ballot.
    pub async fn votes(&self, ballot: BallotRef) -> Result<Vec<VoteRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::votes_tx(&mut conn, ballot).await
    }

    // ---- messages --------------------------------------------------------

    /// The incident a new one of `kind` is merged into: the latest one mailed
    /// since `since`, when at least `burst` were mailed since then.
    pub async fn incident_to_merge_into(
        conn: &mut SqliteConnection,
        kind: &str,
        since: DateTime<Utc>,
        burst: u32,
    ) -> Result<Option<i64>, StoreError> {
        let (n, latest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(id) FROM incidents WHERE kind = ? AND at >= ? AND merged_into IS NULL",
        )
        .bind(kind)
        .bind(ts(since))
        .fetch_one(&mut *conn)
        .await?;
        Ok(latest.filter(|_| n >= i64::from(burst)))
    }

    /// Records a security incident; returns its id. `merged_into` is the incident
    /// whose report covers this one (it is then not mailed).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_incident(
        conn: &mut SqliteConnection,
        at: DateTime<Utc>,
        kind: &str,
        ballot: Option<BallotRef>,
        message_row: Option<i64>,
        summary: &str,
        detail: &serde_json::Value,
        merged_into: Option<i64>,
    ) -> Result<i64, StoreError> {
        let ballot_id = match ballot {
            Some(r) => {
                sqlx::query_scalar::<_, i64>("SELECT id FROM ballots WHERE reference = ?")
                    .bind(r.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        let row = sqlx::query(
            "INSERT INTO incidents (at, kind, ballot_id, message_row, summary, detail_json, merged_into) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(ts(at))
        .bind(kind)
        .bind(ballot_id)
        .bind(message_row)
        .bind(summary)
        .bind(serde_json::to_string(detail)?)
        .bind(merged_into)
        .fetch_one(&mut *conn)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Every incident, newest first: (id, at, kind, ballot, summary); the summary of
    /// one merged into another says so.
    pub async fn incidents(
        &self,
    ) -> Result<Vec<(i64, DateTime<Utc>, String, Option<String>, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.at, i.kind, b.reference,
                    i.summary || CASE WHEN i.merged_into IS NULL THEN ''
                        ELSE ' (merged into #' || i.merged_into || ', not mailed again)' END
             FROM incidents i LEFT JOIN ballots b ON b.id = i.ballot_id ORDER BY i.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    parse_ts(&r.try_get::<String, _>(1)?)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect()
    }

    /// The next `limit` incidents after the row `after`, in order (a flood leaves
    /// many, each with its evidence: read a page at a time).
    pub async fn incidents_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.at, i.kind, b.reference, i.message_row, i.summary, i.detail_json, i.merged_into
             FROM incidents i LEFT JOIN ballots b ON b.id = i.ballot_id WHERE i.id > ? ORDER BY i.id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IncidentRow {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    ballot: r.try_get(3)?,
                    message_row: r.try_get(4)?,
                    summary: r.try_get(5)?,
                    detail_json: r.try_get(6)?,
                    merged_into: r.try_get(7)?,
                })
            })
            .collect()
    }

    // ---- disputes ---------------------------------------------------------

    /// The vote a receipt acknowledged: (vote row, ballot, round, organisation, position).
    pub async fn vote_by_receipt(
        conn: &mut SqliteConnection,
        receipt_id: &str,
    ) -> Result<Option<(i64, BallotRef, u32, OrgId, Position)>, StoreError> {
        let row = sqlx::query(
            "SELECT v.id, b.reference, v.round, v.org_id, v.position FROM votes v JOIN ballots b ON b.id = v.ballot_id
             WHERE v.receipt_id = ? ORDER BY v.id LIMIT 1",
        )
        .bind(receipt_id)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get::<String, _>(1)?
                    .parse()
                    .map_err(StoreError::Corrupt)?,
                u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                OrgId::parse(&r.try_get::<String, _>(3)?).map_err(StoreError::Corrupt)?,
                r.try_get::<String, _>(4)?
                    .parse()
                    .map_err(StoreError::Corrupt)?,
            ))
        })
        .transpose()
    }

    /// Opens a dispute on a vote; false when the vote is already disputed
    /// (a second complaint adds nothing but is still kept as a message).
    pub async fn open_dispute(
        conn: &mut SqliteConnection,
        vote_id: i64,
        message_row: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO disputes (vote_id, ballot_id, opened_at, message_row, state)
             SELECT v.id, v.ballot_id, ?, ?, 'open' FROM votes v WHERE v.id = ?
             ON CONFLICT (vote_id) DO NOTHING",
        )
        .bind(ts(now))
        .bind(message_row)
        .bind(vote_id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disputes, newest first, of one ballot or of all.
    pub async fn disputes(&self, ballot: Option<BallotRef>) -> Result<Vec<DisputeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, b.reference, v.round, v.org_id, v.position, m.message_id AS vote_mid, d.opened_at, d.state,
                    d.resolved_at, d.resolved_by, d.note
             FROM disputes d JOIN votes v ON v.id = d.vote_id JOIN ballots b ON b.id = d.ballot_id
             JOIN messages m ON m.id = v.message_row
             WHERE ?1 IS NULL OR b.reference = ?1 ORDER BY d.id DESC",
        )
        .bind(ballot.map(|b| b.to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DisputeRow {
                    id: r.try_get(0)?,
                    ballot: r
                        .try_get::<String, _>(1)?
                        .parse()
                        .map_err(StoreError::Corrupt)?,
                    round: u32::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
                    org: OrgId::parse(&r.try_get::<String, _>(3)?).map_err(StoreError::Corrupt)?,
                    position: r
                        .try_get::<String, _>(4)?
                        .parse()
                        .map_err(StoreError::Corrupt)?,
                    vote_message_id: r.try_get(5)?,
                    opened_at: parse_ts(&r.try_get::<String, _>(6)?)?,
                    state: r.try_get(7)?,
                    resolved_at: parse_opt_ts(r.try_get(8)?)?,
                    resolved_by: r.try_get(9)?,
                    note: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// Decides every open dispute of `org` on `ballot`; returns how many.
    pub async fn resolve_disputes(
        conn: &mut SqliteConnection,
        ballot: BallotRef,
        org: &OrgId,
        upheld: bool,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE disputes SET state = ?, resolved_at = ?, resolved_by = ?, note = ?
             WHERE state = 'open' AND ballot_id = (SELECT id FROM ballots WHERE reference = ?)
               AND vote_id IN (SELECT id FROM votes WHERE org_id = ?)",
        )
        .bind(if upheld { "upheld" } else { "dismissed" })
        .bind(ts(now))
        .bind(by)
        .bind(note)
        .bind(ballot.to_string())
        .bind(org.as_str())
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }

    /// True when this mailbox item was already recorded (a Maildir file seen
    /// before, or an IMAP UID below a cursor that was rolled back).
    pub async fn source_key_seen(
        conn: &mut SqliteConnection,
        source: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE source = ? AND source_key = ?")
                .bind(source)
                .bind(key)
                .fetch_one(&mut *conn)
                .await?;
        Ok(n > 0)
    }

    /// Records a message (raw bytes included) and returns its row id.
    pub async fn insert_message(
        conn: &mut SqliteConnection,
        m: &NewMessage<'_>,
    ) -> Result<i64, StoreError> {
        let ballot_id = match m.ballot {
            Some(r) => {
                sqlx::query_scalar::<_, i64>("SELECT id FROM ballots WHERE reference = ?")
                    .bind(r.to_string())
                    .fetch_optional(&mut *conn)
                    .await?
            }
            None => None,
        };
        let row = sqlx::query(
            "INSERT INTO messages (source, source_key, message_id, content_hash, internal_date, processed_at,
                 from_addr, subject, size, raw, ballot_id, disposition, reason, reading_json, verification_json)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(m.source)
        .bind(m.source_key)
        .bind(m.message_id)
        .bind(m.content_hash)
        .bind(ts(m.internal_date))
        .bind(ts(m.processed_at))
        .bind(m.from_addr)
        .bind(m.subject)
        .bind(i64::try_from(m.size).unwrap_or(i64::MAX))
        .bind(m.raw)
        .bind(ballot_id)
        .bind(m.disposition.as_str())
        .bind(m.reason)
        .bind(m.reading_json)
        .bind(m.verification_json)
        .fetch_one(&mut *conn)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Messages about a ballot, in arrival order.
    pub async fn messages_for(&self, ballot: BallotRef) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.source_key, m.message_id, m.internal_date, m.processed_at, m.from_addr, m.subject,
                    b.reference, m.disposition, m.reason, m.verification_json
             FROM messages m JOIN ballots b ON b.id = m.ballot_id
             WHERE b.reference = ? ORDER BY m.id",
        )
        .bind(ballot.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The raw bytes of a stored message.
    pub async fn message_raw(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar("SELECT raw FROM messages WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// How many messages were recorded with each disposition.
    pub async fn message_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT disposition, COUNT(*) FROM messages GROUP BY disposition ORDER BY disposition",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    // ---- cursor ----------------------------------------------------------

    /// Where reading `source` stopped.
    pub async fn cursor(&self, source: &str) -> Result<Option<Cursor>, StoreError> {
        let row = sqlx::query("SELECT uidvalidity, last_uid FROM cursors WHERE source = ?")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Cursor {
                uidvalidity: u32::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                last_uid: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
            })
        })
        .transpose()
    }

    /// Moves the cursor, inside the message's transaction.
    pub async fn save_cursor(
        conn: &mut SqliteConnection,
        source: &str,
        c: Cursor,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (source, uidvalidity, last_uid) VALUES (?, ?, ?)
             ON CONFLICT (source) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
        )
        .bind(source)
        .bind(i64::from(c.uidvalidity))
        .bind(i64::from(c.last_uid))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Records that a pass which started at `at` read `source` to its end: every
    /// message delivered before `at` has been processed. Rounds close only up to
    /// this instant, so a vote delivered a second before the deadline is never
    /// missed because the scheduler ran before the reader.
    pub async fn mark_synced(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (source, uidvalidity, last_uid, synced_at) VALUES (?, 0, 0, ?)
             ON CONFLICT (source) DO UPDATE SET synced_at = MAX(COALESCE(synced_at, ''), excluded.synced_at)",
        )
        .bind(source)
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The instant up to which `source` is known to be read.
    pub async fn synced_at(&self, source: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let s: Option<Option<String>> =
            sqlx::query_scalar("SELECT synced_at FROM cursors WHERE source = ?")
                .bind(source)
                .fetch_optional(&self.pool)
                .await?;
        parse_opt_ts(s.flatten())
    }

    // ---- outbox ----------------------------------------------------------

    /// Queues a mail. A mail with the same Message-ID already queued is kept as
    /// it is (the same state change never sends twice); returns whether it was new.
    pub async fn enqueue(
        conn: &mut SqliteConnection,
        m: &NewOutboxMail,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ballot_id = match m.ballot {
            Some(r) => Some(Self::ballot_id(conn, r).await?),
            None => None,
        };
        let done = sqlx::query(
            "INSERT INTO outbox (message_id, kind, ballot_id, envelope_from, recipients_json, raw, created_at, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&m.message_id)
        .bind(&m.kind)
        .bind(ballot_id)
        .bind(&m.envelope_from)
        .bind(serde_json::to_string(&m.recipients)?)
        .bind(&m.raw)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Mails due for a (re)try at `now`, oldest first.
    pub async fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.*, b.reference FROM outbox o LEFT JOIN ballots b ON b.id = o.ballot_id
             WHERE o.sent_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= ? ORDER BY o.id LIMIT ?",
        )
        .bind(ts(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Every mail in the outbox (for `show`, tests and the demo), oldest first.
    pub async fn outbox(&self, ballot: Option<BallotRef>) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.*, b.reference FROM outbox o LEFT JOIN ballots b ON b.id = o.ballot_id
             WHERE ?1 IS NULL OR b.reference = ?1 ORDER BY o.id",
        )
        .bind(ballot.map(|b| b.to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Claims a due mail for one sender for `lease`: the daemon and a command run
    /// by an admin may both step the outbox, and only the one whose claim
    /// succeeds sends. A sender that dies mid-send leaves the claim to expire.
    pub async fn claim(
        &self,
        id: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?1, sending_since = ?3
             WHERE id = ?2 AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?3",
        )
        .bind(ts(now + lease))
        .bind(id)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// True when some queued mail's Message-ID starts with `prefix` (a batch of
    /// reminders already queued).
    pub async fn outbox_has_prefix(&self, prefix: &str) -> Result<bool, StoreError> {
        // A range on the unique index, not LIKE (Message-IDs may hold % and _):
        // every string starting with `prefix` sorts between it and `prefix` + U+FFFF.
        let upper = format!("{prefix}\u{ffff}");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE message_id >= ?1 AND message_id < ?2",
        )
        .bind(prefix)
        .bind(upper)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Every stored message with this Message-ID: its From address and bytes
    /// (the outbox looks for its own copy among them, `outbox::is_own_copy`).
    pub async fn messages_with_id(
        &self,
        message_id: &str,
    ) -> Result<Vec<(Option<String>, Vec<u8>)>, StoreError> {
        let rows =
            sqlx::query("SELECT from_addr, raw FROM messages WHERE message_id = ? ORDER BY id")
                .bind(message_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// True when some mail's last attempt began and its outcome is not known yet.
    pub async fn interrupted_sends(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND sending_since IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Puts a mail off until `until` without counting an attempt.
    pub async fn defer(&self, id: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET next_attempt_at = ? WHERE id = ?")
            .bind(ts(until))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// For each address, the times mail was sent to it since `since`, oldest first.
    pub async fn sent_to_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, Vec<DateTime<Utc>>>, StoreError> {
        let rows = sqlx::query(
            "SELECT recipients_json, sent_at FROM outbox WHERE sent_at >= ? ORDER BY sent_at",
        )
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
        for r in rows {
            let at = parse_ts(&r.try_get::<String, _>(1)?)?;
            for a in serde_json::from_str::<Vec<String>>(&r.try_get::<String, _>(0)?)? {
                out.entry(a.to_lowercase()).or_default().push(at);
            }
        }
        Ok(out)
    }

    /// Marks a mail sent, and records `mail_sent` in the audit trail in the same
    /// transaction (the worker only calls this; the trail is the store's business).
    /// A mail already marked is left as it is.
    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ? AND sent_at IS NULL",
        )
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            Self::append_mail_event(&mut tx, "mail_sent", id, None, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that the server refused a mail for good; it is kept, not retried,
    /// and `mail_refused` goes into the audit trail with the server's answer.
    pub async fn mark_refused(
        &self,
        id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, failed_at = ? WHERE id = ? AND failed_at IS NULL AND sent_at IS NULL",
        )
        .bind(error)
        .bind(ts(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            Self::append_mail_event(&mut tx, "mail_refused", id, Some(error), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn append_mail_event(
        conn: &mut SqliteConnection,
        kind: &'static str,
        id: i64,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "SELECT o.message_id, o.kind, o.recipients_json, b.reference FROM outbox o
             LEFT JOIN ballots b ON b.id = o.ballot_id WHERE o.id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let recipients: Vec<String> = serde_json::from_str(&r.try_get::<String, _>(2)?)?;
        let ballot = r
            .try_get::<Option<String>, _>(3)?
            .map(|b| b.parse::<BallotRef>().map_err(StoreError::Corrupt))
            .transpose()?;
        events::append(
            conn,
            now,
            &events::Event::new(
                kind,
                ballot,
                "outbox",
                serde_json::json!({
                    "outbox": id,
                    "message_id": r.try_get::<String, _>(0)?,
                    "kind": r.try_get::<String, _>(1)?,
                    "recipients": recipients.len(),
                    "error": error,
                }),
            ),
        )
        .await
    }

    /// True when a mail of `kind` to exactly `recipients` was queued since `since`
    /// (a notice already sent within the hour).
    pub async fn queued_to_since(
        conn: &mut SqliteConnection,
        kind: &str,
        recipients: &[String],
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE kind = ? AND recipients_json = ? AND created_at >= ?",
        )
        .bind(kind)
        .bind(serde_json::to_string(recipients)?)
        .bind(ts(since))
        .fetch_one(&mut *conn)
        .await?;
        Ok(n > 0)
    }

    /// Records a failed attempt and when to try again.
    pub async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?")
            .bind(error)
            .bind(ts(next_attempt))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A digest that went to the secretariat.
#[derive(Debug, Clone)]
pub struct SentDigest {
    pub message_id: String,
    pub meeting: Option<NaiveDate>,
    pub sent_at: DateTime<Utc>,
    pub ballots: Vec<BallotRef>,
}

impl Store {
    // ---- meetings and digests -------------------------------------------

    /// Adds a meeting date; false when it was already on the calendar.
    pub async fn add_meeting(
        conn: &mut SqliteConnection,
        date: NaiveDate,
        note: Option<&str>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO meetings (date, note, added_at, added_by) VALUES (?, ?, ?, ?) ON CONFLICT (date) DO NOTHING")
            .bind(date.to_string())
            .bind(note)
            .bind(ts(now))
            .bind(by)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Meetings added by command.
    pub async fn added_meetings(&self) -> Result<Vec<NaiveDate>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::added_meetings_tx(&mut conn).await
    }

    /// Meetings added by command, as `conn` sees them.
    pub async fn added_meetings_tx(
        conn: &mut SqliteConnection,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT date FROM meetings ORDER BY date")
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|s| parse_date(s).map_err(StoreError::Corrupt))
            .collect()
    }

    /// Records a digest sent, in the transaction that queues it.
    pub async fn record_digest(
        conn: &mut SqliteConnection,
        d: &SentDigest,
        trigger: &str,
    ) -> Result<(), StoreError> {
        let refs: Vec<String> = d.ballots.iter().map(|b| b.to_string()).collect();
        sqlx::query("INSERT INTO digests (message_id, meeting, sent_at, ballots_json, trigger) VALUES (?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING")
            .bind(&d.message_id)
            .bind(d.meeting.map(|m| m.to_string()))
            .bind(ts(d.sent_at))
            .bind(serde_json::to_string(&refs)?)
            .bind(trigger)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    fn digest_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<SentDigest, StoreError> {
        let refs: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("ballots_json")?)?;
        Ok(SentDigest {
            message_id: r.try_get("message_id")?,
            meeting: r
                .try_get::<Option<String>, _>("meeting")?
                .map(|m| parse_date(&m).map_err(StoreError::Corrupt))
                .transpose()?,
            sent_at: parse_ts(&r.try_get::<String, _>("sent_at")?)?,
            ballots: refs
                .iter()
                .map(|s| s.parse().map_err(StoreError::Corrupt))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The digest with this Message-ID.
    pub async fn digest_by_message_id(
        conn: &mut SqliteConnection,
        id: &str,
    ) -> Result<Option<SentDigest>, StoreError> {
        let row = sqlx::query("SELECT * FROM digests WHERE message_id = ?")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(Self::digest_from_row).transpose()
    }

    /// True when a digest for this meeting was already sent by the scheduler.
    pub async fn digest_sent_for(&self, meeting: NaiveDate) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM digests WHERE meeting = ? AND trigger = 'schedule'",
        )
        .bind(meeting.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Every digest sent, newest first.
    pub async fn digests(&self) -> Result<Vec<SentDigest>, StoreError> {
        let rows = sqlx::query("SELECT * FROM digests ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::digest_from_row).collect()
    }
}

/// Takes group and other permissions off the database and its WAL and
/// shared-memory files, where they are set.
fn tighten(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for f in files {
            let Ok(meta) = std::fs::metadata(&f) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|source| StoreError::Create {
                        path: f.display().to_string(),
                        source,
                    })?;
            }
        }
    }
    Ok(())
}

fn create_private(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Create {
                path: dir.display().to_string(),
                source,
            })?;
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn parse_state(s: &str) -> Result<State, StoreError> {
    match s {
        "open" => Ok(State::Open),
        "closed" => Ok(State::Closed),
        "cancelled" => Ok(State::Cancelled),
        other => Err(StoreError::Corrupt(format!("ballot state `{other}`"))),
    }
}

fn ballot_from_rows(
    row: &sqlx::sqlite::SqliteRow,
    rounds: &[sqlx::sqlite::SqliteRow],
) -> Result<Ballot, StoreError> {
    let outcome: Option<String> = row.try_get("outcome")?;
    let outcome = outcome
        .map(|o| serde_json::from_value(serde_json::Value::String(o)))
        .transpose()?;
    let rounds = rounds
        .iter()
        .map(|r| {
            let tally: Option<String> = r.try_get("tally_json")?;
            Ok(Round {
                number: u32::try_from(r.try_get::<i64, _>("number")?).unwrap_or(0),
                opened_at: parse_ts(&r.try_get::<String, _>("opened_at")?)?,
                deadline: parse_ts(&r.try_get::<String, _>("deadline")?)?,
                closed_at: parse_opt_ts(r.try_get("closed_at")?)?,
                tally: tally
                    .map(|t| serde_json::from_str::<Tally>(&t))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if rounds.is_empty() {
        return Err(StoreError::Corrupt("a ballot without rounds".into()));
    }
    Ok(Ballot {
        reference: row
            .try_get::<String, _>("reference")?
            .parse()
            .map_err(StoreError::Corrupt)?,
        title: row.try_get("title")?,
        motion: row.try_get("motion")?,
        kind: row.try_get("kind")?,
        profile: serde_json::from_str(&row.try_get::<String, _>("profile_json")?)?,
        roster: serde_json::from_str(&row.try_get::<String, _>("roster_json")?)?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        outcome,
        rounds,
        opened_at: parse_ts(&row.try_get::<String, _>("opened_at")?)?,
        opened_by: row.try_get("opened_by")?,
        closed_at: parse_opt_ts(row.try_get("closed_at")?)?,
        cancel_reason: row.try_get("cancel_reason")?,
        ratification: serde_json::from_str(&row.try_get::<String, _>("ratification_json")?)?,
        chair: row
            .try_get::<Option<String>, _>("chair")?
            .map(|c| OrgId::parse(&c).map_err(StoreError::Corrupt))
            .transpose()?,
    })
}

/// A dispute as `dispute list` shows it.
#[derive(Debug, Clone)]
pub struct DisputeRow {
    pub id: i64,
    pub ballot: BallotRef,
    pub round: u32,
    pub org: OrgId,
    pub position: Position,
    pub vote_message_id: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// open, upheld or dismissed.
    pub state: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
}

fn vote_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<VoteRecord, StoreError> {
    let status = match r.try_get::<String, _>("status")?.as_str() {
        "valid" => VoteStatus::Valid,
        "late" => VoteStatus::Late,
        other => return Err(StoreError::Corrupt(format!("vote status `{other}`"))),
    };
    Ok(VoteRecord {
        org: OrgId::parse(&r.try_get::<String, _>("org_id")?).map_err(StoreError::Corrupt)?,
        position: r
            .try_get::<String, _>("position")?
            .parse::<Position>()
            .map_err(StoreError::Corrupt)?,
        cast_at: parse_ts(&r.try_get::<String, _>("cast_at")?)?,
        seq: r.try_get("message_row")?,
        round: u32::try_from(r.try_get::<i64, _>("round")?).unwrap_or(0),
        status,
        voter: r.try_get("voter")?,
        message_id: r.try_get("mid")?,
        // An open dispute suspends the vote until an admin decides; an upheld
        // one (the member confirmed it was not theirs) removes it for good.
        disputed: matches!(
            r.try_get::<Option<String>, _>("dispute")?.as_deref(),
            Some("open" | "upheld")
        ),
    })
}

fn message_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredMessage, StoreError> {
    Ok(StoredMessage {
        id: r.try_get("id")?,
        source_key: r.try_get("source_key")?,
        message_id: r.try_get("message_id")?,
        internal_date: parse_ts(&r.try_get::<String, _>("internal_date")?)?,
        processed_at: parse_ts(&r.try_get::<String, _>("processed_at")?)?,
        from_addr: r.try_get("from_addr")?,
        subject: r.try_get("subject")?,
        ballot: r.try_get("reference")?,
        disposition: r
            .try_get::<&str, _>("disposition")?
            .parse::<Disposition>()?,
        reason: r.try_get("reason")?,
        verification_json: r.try_get("verification_json")?,
    })
}

fn outbox_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<OutboxMail, StoreError> {
    Ok(OutboxMail {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        kind: r.try_get("kind")?,
        ballot: r.try_get("reference")?,
        envelope_from: r.try_get("envelope_from")?,
        recipients: serde_json::from_str(&r.try_get::<String, _>("recipients_json")?)?,
        raw: r.try_get("raw")?,
        attempts: r.try_get("attempts")?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        sent_at: parse_opt_ts(r.try_get("sent_at")?)?,
        failed_at: parse_opt_ts(r.try_get("failed_at")?)?,
        sending_since: parse_opt_ts(r.try_get("sending_since")?)?,
        last_error: r.try_get("last_error")?,
    })
}

/// Parses a meeting date given as YYYY-MM-DD.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date of the form YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::tests::{ballot, utc, vote};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_opening_a_new_database_together_both_open_it() {
        // Before connect_waiting, 7 of these 400 opens failed with "database is locked".
        let dir = tempfile::tempdir().unwrap();
        for i in 0..200 {
            let p = dir.path().join(format!("db{i}.sqlite"));
            let (a, b) = tokio::join!(Store::open(&p), Store::open(&p));
            if let Err(e) = a.and(b) {
                panic!("database {i}: {e}");
            }
        }
    }

    #[test]
    fn busy_is_recognised_by_its_primary_code() {
        assert!(is_busy(Some("5")));
        assert!(is_busy(Some("517"))); // SQLITE_BUSY_SNAPSHOT
        assert!(!is_busy(Some("6"))); // SQLITE_LOCKED
        assert!(!is_busy(None));
    }

    #[test]
    fn statements_are_built_in_five_sizes_that_cover_every_row_once() {
        let mut sizes = std::collections::BTreeSet::new();
        for n in 0..=1_200usize {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            let joined: Vec<usize> = chunks.concat();
            assert_eq!(joined, rows, "{n} rows, in order, each once");
            sizes.extend(chunks.iter().map(|c| c.len()));
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            vec![1, 4, 16, 64, 256]
        );
        let rows = vec![0u8; 500];
        let sizes: Vec<usize> = statement_chunks(&rows).map(<[u8]>::len).collect();
        assert_eq!(sizes, vec![256, 64, 64, 64, 16, 16, 16, 4]);
    }

    #[tokio::test]
    async fn a_ballot_survives_a_round_trip_through_the_database() {
        let s = Store::memory().await.unwrap();
        let b = ballot(5);
        let mut tx = s.begin().await.unwrap();
        Store::insert_ballot(&mut tx, &b).await.unwrap();
        tx.commit().await.unwrap();
        let back = s.load_ballot(b.reference).await.unwrap().unwrap();
        assert_eq!(back, b);
    }

    /// A stored message that answers ballot `r`, with `key` as its mailbox key
    /// and content hash.
    fn vote_message(key: &str, r: BallotRef) -> NewMessage<'_> {
        NewMessage {
            source: "t",
            source_key: key,
            message_id: None,
            content_hash: key,
            internal_date: utc("2026-11-23T00:00:00Z"),
            processed_at: utc("2026-11-23T00:00:00Z"),
            from_addr: None,
            subject: None,
            raw: b"r",
            size: 1,
            ballot: Some(r),
            disposition: Disposition::Vote,
            reason: "r",
            reading_json: None,
            verification_json: None,
        }
    }

    /// Waits until no connection of `s` is between a caller and the pool: a
    /// connection is checked on its way back in a task of its own.
    async fn connections_returned(s: &Store) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.pool.num_idle() != s.pool.size() as usize {
            assert!(
                std::time::Instant::now() < deadline,
                "a connection never came back"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_whose_transaction_the_database_rolled_back_comes_back_clean() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db.sqlite")).await.unwrap();
        let r = ballot(2).reference;
        let mut tx = s.begin().await.unwrap();
        let first = NewMessage {
            ballot: None,
            ..vote_message("1", r)
        };
        Store::insert_message(&mut tx, &first).await.unwrap();
        // A database that may not grow fails the next write with SQLITE_FULL,
        // as a full disk does. Where that write cannot be undone alone (this
        // one; any COMMIT), SQLite rolls the whole transaction back itself.
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let cursor = Cursor {
            uidvalidity: 1,
            last_uid: 1,
        };
        let err = Store::save_cursor(&mut tx, &"m".repeat(1 << 20), cursor)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        drop(tx);
        connections_returned(&s).await;

        // Every later transaction works, on whichever connection the pool gives.
        for key in ["2", "3", "4", "5", "6"] {
            let mut tx = s
                .begin()
                .await
                .expect("a connection outside any transaction");
            let m = NewMessage {
                ballot: None,
                ..vote_message(key, r)
            };
            Store::insert_message(&mut tx, &m).await.unwrap();
            tx.commit().await.unwrap();
            connections_returned(&s).await;
        }
        let stored: i64 = s
            .message_counts()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            stored, 5,
            "the failed transaction left nothing, the others are there"
        );
    }

    #[tokio::test]
    async fn a_ballot_write_bumps_the_ballot_generation_and_a_vote_does_not() {
        let s = Store::memory().await.unwrap();
        let mut b = ballot(3);
        let mut tx = s.begin().await.unwrap();
        let g0 = Store::ballot_generation(&mut tx).await.unwrap();
        Store::insert_ballot(&mut tx, &b).await.unwrap();
        let g1 = Store::ballot_generation(&mut tx).await.unwrap();
        assert!(g1 > g0, "a new ballot and its round");
        let row = Store::insert_message(&mut tx, &vote_message("1", b.reference))
            .await
            .unwrap();
        let v = vote(1, Position::Yes, "2026-11-23T00:00:00Z", row, 1);
        let at = utc("2026-11-23T00:00:00Z");
        Store::insert_vote(&mut tx, b.reference, &v, row, None, at)
            .await
            .unwrap();
        // Answers must leave it alone, or a backlog would reload ballots every batch.
        assert_eq!(Store::ballot_generation(&mut tx).await.unwrap(), g1);
        b.cancel_reason = Some("取り下げ".into());
        Store::save_ballot(&mut tx, &b).await.unwrap();
        let g2 = Store::ballot_generation(&mut tx).await.unwrap();
        assert!(g2 > g1, "a changed ballot");
        tx.commit().await.unwrap();

        let kept = HashMap::from([(b.reference, Some(Arc::new(b.clone())))]);
        s.keep_ballots(g2, kept);
        assert_eq!(s.cached_ballots(g2).len(), 1);
        assert!(s.cached_ballots(g2 + 1).is_empty(), "changed since");
    }

    #[tokio::test]
    async fn ballot_numbers_count_up_within_a_year() {
        let s = Store::memory().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        assert_eq!(Store::next_ballot_number(&mut tx, 2026).await.unwrap(), 1);
        Store::insert_ballot(&mut tx, &ballot(2)).await.unwrap();
        assert_eq!(Store::next_ballot_number(&mut tx, 2026).await.unwrap(), 8);
        assert_eq!(Store::next_ballot_number(&mut tx, 2027).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn votes_are_kept_in_arrival_order_with_their_message() {
        let s = Store::memory().await.unwrap();
        let b = ballot(3);
        let mut tx = s.begin().await.unwrap();
        Store::insert_ballot(&mut tx, &b).await.unwrap();
        for (i, p) in [Position::Yes, Position::No].into_iter().enumerate() {
            let key = i.to_string();
            let m = NewMessage {
                message_id: Some("m@x"),
                ..vote_message(&key, b.reference)
            };
            let row = Store::insert_message(&mut tx, &m).await.unwrap();
            let mut v = vote(1, p, "2026-11-23T00:00:00Z", row, 1);
            v.message_id = Some("m@x".into());
            Store::insert_vote(
                &mut tx,
                b.reference,
                &v,
                row,
                None,
                utc("2026-11-23T00:00:00Z"),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let votes = s.votes(b.reference).await.unwrap();
        assert_eq!(votes.len(), 2);
        assert_eq!(b.positions(&votes, 1).values().next(), Some(&Position::No));
    }

    #[tokio::test]
    async fn the_same_outbox_message_id_is_queued_once() {
        let s = Store::memory().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        let m = NewOutboxMail {
            message_id: "b-2026-007.r1.announce@x".into(),
            kind: "announce".into(),
            ballot: None,
            envelope_from: "bot@x.example".into(),
            recipients: vec!["list@x.example".into()],
            raw: b"mail".to_vec(),
        };
        let now = utc("2026-11-22T00:00:00Z");
        assert!(Store::enqueue(&mut tx, &m, now).await.unwrap());
        assert!(!Store::enqueue(&mut tx, &m, now).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(s.due_mail(now, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_synced_watermark_only_moves_forward() {
        let s = Store::memory().await.unwrap();
        s.mark_synced("m", utc("2026-11-22T10:00:00Z"))
            .await
            .unwrap();
        s.mark_synced("m", utc("2026-11-22T09:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            s.synced_at("m").await.unwrap(),
            Some(utc("2026-11-22T10:00:00Z"))
        );
    }

    #[tokio::test]
    async fn each_database_draws_its_own_message_id_key_and_keeps_it_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.sqlite"), dir.path().join("b.sqlite"));
        let first = Store::open(&a).await.unwrap().message_id_key().clone();
        let other = Store::open(&b).await.unwrap().message_id_key().clone();
        assert_ne!(first, other, "two installations share no Message-ID");
        assert_ne!(first, MessageIdKey::fixed(0));
        // A restart (and a retry after it) writes the same Message-IDs.
        let again = Store::open(&a).await.unwrap().message_id_key().clone();
        assert_eq!(first, again);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/db.sqlite");
        Store::open(&p).await.unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[tokio::test]
    async fn an_existing_database_readable_by_others_is_made_owner_only_with_its_wal() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.sqlite");
        drop(Store::open(&p).await.unwrap());
        let wal = dir.path().join("db.sqlite-wal");
        let shm = dir.path().join("db.sqlite-shm");
        for f in [&p, &wal, &shm] {
            if !f.exists() {
                std::fs::write(f, b"").unwrap();
            }
        }
        for f in [&p, &wal, &shm] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let s = Store::open(&p).await.unwrap();
        assert!(
            s.list_ballots().await.unwrap().is_empty(),
            "still a working database"
        );
        for f in [&p, &wal, &shm] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_creating_the_database_at_once_both_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("db.sqlite");
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { Store::open(&p).await.map(|_| ()) })
            })
            .collect();
        for o in opens {
            o.await.unwrap().unwrap();
        }
    }
}
