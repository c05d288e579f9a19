//! What `audit verify` and `audit replay` read: the rows as they are, with
//! the columns the audit holds to the trail kept as the database has them
//! (text, not parsed), so that an edited value is reported, not refused.

use futures::TryStreamExt;
use sqlx::Row;

use super::{parse_ts, Store, StoreError};
use crate::disposition::Disposition;
use crate::verify::policy::Verification;

/// An audit event, its detail as recorded (JSON).
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub ballot: Option<String>,
    pub detail_json: String,
}

/// An event that orders messages and ballot changes (`audit replay`): only the
/// fields it needs, taken out of the detail by SQLite.
#[derive(Debug, Clone)]
pub struct OrderEvent {
    pub id: i64,
    pub kind: String,
    pub ballot: Option<String>,
    /// The detail's `message` (`message_received`, `message_failed`).
    pub message: Option<i64>,
    /// The detail's `round`.
    pub round: Option<i64>,
}

/// A messages row, for `audit verify`.
#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: i64,
    pub content_hash: String,
    pub raw: Vec<u8>,
    pub message_id: Option<String>,
    pub disposition: String,
    pub from_addr: Option<String>,
    pub verification_json: Option<String>,
    pub internal_date: String,
}

/// A votes row with its ballot's reference, for `audit verify`.
#[derive(Debug, Clone)]
pub struct VoteRow {
    pub id: i64,
    pub ballot: String,
    pub message_row: i64,
    pub org: String,
    pub round: i64,
    pub position: String,
    pub status: String,
    pub cast_at: String,
    pub voter: String,
    pub receipt_id: Option<String>,
    pub message_id: Option<String>,
}

/// An outbox row, for `audit verify`.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub raw: Vec<u8>,
    pub sent_at: Option<String>,
    pub failed_at: Option<String>,
    pub recipients_json: String,
    pub envelope_from: String,
}

/// A ballots row, for `audit verify`.
#[derive(Debug, Clone)]
pub struct BallotRow {
    pub reference: String,
    pub title: String,
    pub state: String,
    pub outcome: Option<String>,
    pub ratification_json: String,
    pub motion: String,
    pub profile_json: String,
    pub roster_json: String,
    pub chair: Option<String>,
}

/// A rounds row with its ballot's reference, for `audit verify`.
#[derive(Debug, Clone)]
pub struct RoundRow {
    pub ballot: String,
    pub number: i64,
    pub tally_json: Option<String>,
    pub opened_at: String,
    pub deadline: String,
}

/// A disputes row with its ballot and organisation, for `audit verify`.
#[derive(Debug, Clone)]
pub struct DisputeAuditRow {
    pub id: i64,
    pub vote: i64,
    pub state: String,
    pub ballot: String,
    pub org: String,
}

/// A stored message as `audit replay` reads it again.
#[derive(Debug, Clone)]
pub struct ReplayMessage {
    pub id: i64,
    pub internal_date: chrono::DateTime<chrono::Utc>,
    pub processed_at: chrono::DateTime<chrono::Utc>,
    pub disposition: Disposition,
    pub raw: Vec<u8>,
    /// The whole message's size: more than `raw` holds when the mailbox cut it.
    pub size: usize,
    /// The sender verification recorded with it, when a policy was configured.
    pub verification: Option<Verification>,
}

impl Store {
    /// Every audit event, in order.
    pub async fn all_events(&self) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query("SELECT id, kind, ballot, detail_json FROM events ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    ballot: r.try_get(2)?,
                    detail_json: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Calls `each` with every event that orders messages and ballot changes,
    /// in order. Streamed, with only the two fields used taken out by SQLite: a
    /// trail holds an event per message, and a replay of 100,000 would
    /// otherwise hold them all (and their JSON) at once.
    pub async fn order_events(&self, mut each: impl FnMut(OrderEvent)) -> Result<(), StoreError> {
        let mut rows = sqlx::query(
            "SELECT id, kind, ballot,
                    json_extract(detail_json, '$.message'), json_extract(detail_json, '$.round')
             FROM events WHERE kind IN
             ('message_received', 'message_failed', 'round_opened', 'round_closed', 'ballot_closed', 'ballot_cancelled')
             ORDER BY id",
        )
        .fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            // json_extract gives NULL (or text) where the field is missing or not a number.
            let int = |i: usize| r.try_get::<Option<i64>, _>(i).ok().flatten();
            each(OrderEvent {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                ballot: r.try_get(2)?,
                message: int(3),
                round: int(4),
            });
        }
        Ok(())
    }

    /// At most `limit` messages rows after row `after`, in order.
    pub async fn messages_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, content_hash, raw, message_id, disposition, from_addr, verification_json, internal_date
             FROM messages WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    id: r.try_get(0)?,
                    content_hash: r.try_get(1)?,
                    raw: r.try_get(2)?,
                    message_id: r.try_get(3)?,
                    disposition: r.try_get(4)?,
                    from_addr: r.try_get(5)?,
                    verification_json: r.try_get(6)?,
                    internal_date: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// At most `limit` stored messages after row `after`, in arrival order,
    /// as replay reads them again.
    pub async fn replay_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ReplayMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, internal_date, processed_at, disposition, raw, verification_json, size FROM messages WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReplayMessage {
                    id: r.try_get(0)?,
                    internal_date: parse_ts(&r.try_get::<String, _>(1)?)?,
                    processed_at: parse_ts(&r.try_get::<String, _>(2)?)?,
                    disposition: r.try_get::<&str, _>(3)?.parse()?,
                    raw: r.try_get(4)?,
                    verification: r
                        .try_get::<Option<String>, _>(5)?
                        .map(|j| serde_json::from_str::<Verification>(&j))
                        .transpose()?,
                    size: usize::try_from(r.try_get::<i64, _>(6)?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Every votes row, in order.
    pub async fn vote_rows(&self) -> Result<Vec<VoteRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.id, b.reference, v.message_row, v.org_id, v.round, v.position, v.status, v.cast_at,
                    v.voter, v.receipt_id, v.message_id
             FROM votes v JOIN ballots b ON b.id = v.ballot_id ORDER BY v.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VoteRow {
                    id: r.try_get(0)?,
                    ballot: r.try_get(1)?,
                    message_row: r.try_get(2)?,
                    org: r.try_get(3)?,
                    round: r.try_get(4)?,
                    position: r.try_get(5)?,
                    status: r.try_get(6)?,
                    cast_at: r.try_get(7)?,
                    voter: r.try_get(8)?,
                    receipt_id: r.try_get(9)?,
                    message_id: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// At most `limit` outbox rows after row `after`, in order.
    pub async fn outbox_page(&self, after: i64, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, message_id, kind, raw, sent_at, failed_at, recipients_json, envelope_from
             FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRow {
                    id: r.try_get(0)?,
                    message_id: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    raw: r.try_get(3)?,
                    sent_at: r.try_get(4)?,
                    failed_at: r.try_get(5)?,
                    recipients_json: r.try_get(6)?,
                    envelope_from: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Every ballots row, in order.
    pub async fn ballot_rows(&self) -> Result<Vec<BallotRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT reference, title, state, outcome, ratification_json, motion, profile_json, roster_json, chair
             FROM ballots ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BallotRow {
                    reference: r.try_get(0)?,
                    title: r.try_get(1)?,
                    state: r.try_get(2)?,
                    outcome: r.try_get(3)?,
                    ratification_json: r.try_get(4)?,
                    motion: r.try_get(5)?,
                    profile_json: r.try_get(6)?,
                    roster_json: r.try_get(7)?,
                    chair: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Every rounds row, by ballot and number.
    pub async fn round_rows(&self) -> Result<Vec<RoundRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.reference, r.number, r.tally_json, r.opened_at, r.deadline FROM rounds r
             JOIN ballots b ON b.id = r.ballot_id ORDER BY b.id, r.number",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RoundRow {
                    ballot: r.try_get(0)?,
                    number: r.try_get(1)?,
                    tally_json: r.try_get(2)?,
                    opened_at: r.try_get(3)?,
                    deadline: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Every disputes row, in order.
    pub async fn dispute_rows(&self) -> Result<Vec<DisputeAuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.vote_id, d.state, b.reference, v.org_id FROM disputes d
             JOIN votes v ON v.id = d.vote_id JOIN ballots b ON b.id = d.ballot_id ORDER BY d.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DisputeAuditRow {
                    id: r.try_get(0)?,
                    vote: r.try_get(1)?,
                    state: r.try_get(2)?,
                    ballot: r.try_get(3)?,
                    org: r.try_get(4)?,
                })
            })
            .collect()
    }
}
