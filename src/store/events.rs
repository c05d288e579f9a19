//! The audit trail: an append-only, hash-chained log of everything that happened.
//!
//! Each event's hash covers the previous event's hash and its own fields, so
//! editing, deleting or reordering any row breaks every later link; `verify`
//! walks the chain and names the first broken one. Events are appended in the
//! same transaction as the change they describe.
//!
//! A chain cut at its end still links, so the last event is also kept in
//! `audit_head`, written with every append: a head naming an event that is gone
//! shows the cut, and an event appended after a cut leaves a gap in the ids.
//! (Whoever can write the database can rewrite the head too; `audit verify`
//! therefore also checks the other tables against the events that recorded them.)

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Row, SqliteConnection};

use super::{parse_ts, ts, Store, StoreError};
use crate::domain::BallotRef;

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened: `message_received`, `vote_recorded`, `ballot_opened`, ...
    pub kind: &'static str,
    pub ballot: Option<BallotRef>,
    /// Who caused it: `daemon`, `cli`, `mail:<address>`.
    pub actor: String,
    /// The facts, as JSON.
    pub detail: serde_json::Value,
}

impl Event {
    /// An event with details built from any serialisable value.
    pub fn new(
        kind: &'static str,
        ballot: Option<BallotRef>,
        actor: impl Into<String>,
        detail: impl Serialize,
    ) -> Self {
        Event {
            kind,
            ballot,
            actor: actor.into(),
            detail: serde_json::to_value(detail).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub ballot: Option<String>,
    pub actor: String,
    pub detail: serde_json::Value,
}

fn link(
    prev: &str,
    id: i64,
    at: &str,
    kind: &str,
    ballot: Option<&str>,
    actor: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &id.to_string(),
        at,
        kind,
        ballot.unwrap_or(""),
        actor,
        detail,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an event inside the caller's transaction.
pub async fn append(
    conn: &mut SqliteConnection,
    at: DateTime<Utc>,
    e: &Event,
) -> Result<(), StoreError> {
    append_all(conn, &[(at, e.clone())]).await
}

/// Appends events in order inside the caller's transaction: the same chain as
/// appending them one by one, with a few statements however many there are.
pub async fn append_all(
    conn: &mut SqliteConnection,
    all: &[(DateTime<Utc>, Event)],
) -> Result<(), StoreError> {
    if all.is_empty() {
        return Ok(());
    }
    // The head first: after events were cut from the end, the next one still
    // follows the last that was recorded, so the gap shows.
    let last = match sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE one = 1")
        .fetch_optional(&mut *conn)
        .await?
    {
        Some(r) => Some(r),
        None => {
            sqlx::query("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let (mut prev_id, mut prev_hash) = match last {
        Some(r) => (r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?),
        None => (0, GENESIS.to_string()),
    };
    // (id, at, kind, ballot, actor, detail, prev_hash, hash)
    let mut rows = Vec::with_capacity(all.len());
    for (at, e) in all {
        let id = prev_id + 1;
        let at = ts(*at);
        let ballot = e.ballot.map(|b| b.to_string());
        let detail = serde_json::to_string(&e.detail)?;
        let hash = link(
            &prev_hash,
            id,
            &at,
            e.kind,
            ballot.as_deref(),
            &e.actor,
            &detail,
        );
        rows.push((
            id,
            at,
            e.kind,
            ballot,
            e.actor.as_str(),
            detail,
            prev_hash,
            hash.clone(),
        ));
        prev_id = id;
        prev_hash = hash;
    }
    for chunk in super::statement_chunks(&rows) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO events (id, at, kind, ballot, actor, detail_json, prev_hash, hash) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.0)
                .push_bind(&r.1)
                .push_bind(r.2)
                .push_bind(&r.3)
                .push_bind(r.4)
                .push_bind(&r.5)
                .push_bind(&r.6)
                .push_bind(&r.7);
        });
        q.build().execute(&mut *conn).await?;
    }
    sqlx::query(
        "INSERT INTO audit_head (one, last_id, last_hash, checks_from) VALUES (1, ?1, ?2, 0)
         ON CONFLICT (one) DO UPDATE SET last_id = ?1, last_hash = ?2",
    )
    .bind(prev_id)
    .bind(&prev_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The hash an event keeps of a column whose value is large (a verification
/// report, an incident's evidence, a roster) or an address (a sender, a voter):
/// enough for `audit verify` to notice an edit without a copy of the value in
/// every event. (It hides nothing from whoever can guess the value; the events
/// sit in the same owner-only database as the values themselves.) SHA-256 of
/// the text, hex.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The same for a list of values (a mail's recipients): each item is
/// length-prefixed, so `["a,b"]` and `["a", "b"]` differ, and the hash does not
/// depend on how the list was written as JSON.
pub fn digest_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut h = Sha256::new();
    for item in items {
        let item = item.as_ref();
        h.update((item.len() as u64).to_be_bytes());
        h.update(item.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The time of each event of `kind` as stored, by event id: for rows whose own
/// time is the time their event was appended (an incident), without holding
/// every event's time in memory.
pub async fn times_of(
    store: &Store,
    kind: &str,
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    let rows = sqlx::query("SELECT id, at FROM events WHERE kind = ?")
        .bind(kind)
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The last event id before the events that carry the newer evidence (content
/// hashes, mail_sent): 0 for a database created with them.
pub async fn checks_from(store: &Store) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT checks_from FROM audit_head WHERE one = 1")
            .fetch_optional(store.pool())
            .await?
            .unwrap_or(0),
    )
}

/// The trail's recorded head: the last event's number and hash.
pub async fn head(store: &Store) -> Result<Option<(i64, String)>, StoreError> {
    let row = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE one = 1")
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: i64,
    /// The first event whose link does not hold, and why.
    pub first_broken: Option<(i64, String)>,
    /// Set when the recorded head is not the last event: the end of the chain was cut.
    pub truncated: Option<String>,
}

/// Walks the whole chain, then compares its end with the recorded head.
pub async fn verify(store: &Store) -> Result<Verification, StoreError> {
    let (events, first_broken, last) = walk(store).await?;
    let head = sqlx::query("SELECT last_id, last_hash FROM audit_head WHERE one = 1")
        .fetch_optional(store.pool())
        .await?
        .map(|r| Ok::<_, StoreError>((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
        .transpose()?;
    let truncated = match (head, last) {
        (None, None) => None,
        (None, Some((id, _))) => Some(format!(
            "no head is recorded, yet the trail holds events up to {id}"
        )),
        (Some((hid, _)), None) => Some(format!(
            "the head names event {hid}, but the trail is empty: every event was removed"
        )),
        (Some((hid, hhash)), Some((id, hash))) if hid != id || hhash != hash => {
            Some(if hid > id {
                format!("the head names event {hid}, but the trail ends at event {id}: the events after it were removed")
            } else {
                format!("the trail ends at event {id}, but the head names event {hid} with another hash")
            })
        }
        _ => None,
    };
    Ok(Verification {
        events,
        first_broken,
        truncated,
    })
}

/// The link check, and the last event's (id, hash).
#[allow(clippy::type_complexity)]
async fn walk(
    store: &Store,
) -> Result<(i64, Option<(i64, String)>, Option<(i64, String)>), StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, kind, ballot, actor, detail_json, prev_hash, hash FROM events ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    let n = rows.len() as i64;
    let last = rows
        .last()
        .map(|r| Ok::<_, StoreError>((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(7)?)))
        .transpose()?;
    let mut prev = GENESIS.to_string();
    for (expected_id, r) in (1i64..).zip(rows.iter()) {
        let id: i64 = r.try_get(0)?;
        let stored_prev: String = r.try_get(6)?;
        let stored_hash: String = r.try_get(7)?;
        let broken = |why: String| Ok((n, Some((id, why)), last.clone()));
        if id != expected_id {
            return broken(format!("event {expected_id} is missing"));
        }
        if stored_prev != prev {
            return broken("its link to the previous event does not match".into());
        }
        let h = link(
            &prev,
            id,
            &r.try_get::<String, _>(1)?,
            &r.try_get::<String, _>(2)?,
            r.try_get::<Option<String>, _>(3)?.as_deref(),
            &r.try_get::<String, _>(4)?,
            &r.try_get::<String, _>(5)?,
        );
        if h != stored_hash {
            return broken("its content does not match its hash (the row was edited)".into());
        }
        prev = stored_hash;
    }
    Ok((n, None, last))
}

/// The events about one ballot, oldest first.
pub async fn for_ballot(store: &Store, ballot: BallotRef) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, kind, ballot, actor, detail_json FROM events WHERE ballot = ? ORDER BY id",
    )
    .bind(ballot.to_string())
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredEvent {
                id: r.try_get(0)?,
                at: parse_ts(&r.try_get::<String, _>(1)?)?,
                kind: r.try_get(2)?,
                ballot: r.try_get(3)?,
                actor: r.try_get(4)?,
                detail: serde_json::from_str(&r.try_get::<String, _>(5)?)?,
            })
        })
        .collect()
}

/// Writes the trail again as an older version would have written it, for tests
/// of how `audit verify` reads old records: `edit` may change each event's
/// details, or drop the event by returning false; the rest are numbered and
/// linked again, and the head moved to the new end.
#[cfg(test)]
pub(crate) async fn rewrite_for_test(
    store: &Store,
    mut edit: impl FnMut(&str, &mut serde_json::Value) -> bool,
) -> Result<(), StoreError> {
    let rows = sqlx::query("SELECT at, kind, ballot, actor, detail_json FROM events ORDER BY id")
        .fetch_all(store.pool())
        .await?;
    let mut tx = store.begin().await?;
    sqlx::query("DELETE FROM events").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM audit_head")
        .execute(&mut *tx)
        .await?;
    let (mut id, mut prev) = (0i64, GENESIS.to_string());
    for r in &rows {
        let (at, kind): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let (ballot, actor): (Option<String>, String) = (r.try_get(2)?, r.try_get(3)?);
        let mut detail: serde_json::Value = serde_json::from_str(&r.try_get::<String, _>(4)?)?;
        if !edit(&kind, &mut detail) {
            continue;
        }
        id += 1;
        let detail = serde_json::to_string(&detail)?;
        let hash = link(&prev, id, &at, &kind, ballot.as_deref(), &actor, &detail);
        sqlx::query(
            "INSERT INTO events (id, at, kind, ballot, actor, detail_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(&at)
        .bind(&kind)
        .bind(&ballot)
        .bind(&actor)
        .bind(&detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        prev = hash;
    }
    sqlx::query(
        "INSERT INTO audit_head (one, last_id, last_hash, checks_from) VALUES (1, ?, ?, 0)",
    )
    .bind(id)
    .bind(&prev)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::tests::utc;

    #[test]
    fn a_list_digest_keeps_the_items_apart() {
        assert_ne!(digest_list(&["a,b"]), digest_list(&["a", "b"]));
        assert_ne!(digest_list(&["ab"]), digest_list(&["a", "b"]));
        assert_ne!(digest_list(&["a", "b"]), digest_list(&["b", "a"]));
    }

    async fn store_with_events(n: usize) -> Store {
        let s = Store::memory().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        for i in 0..n {
            append(
                &mut tx,
                utc("2026-11-22T00:00:00Z"),
                &Event::new("test", None, "cli", serde_json::json!({ "i": i })),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        s
    }

    #[tokio::test]
    async fn an_untouched_chain_verifies() {
        let s = store_with_events(5).await;
        assert_eq!(
            verify(&s).await.unwrap(),
            Verification {
                events: 5,
                first_broken: None,
                truncated: None,
            }
        );
    }

    #[tokio::test]
    async fn events_cut_from_the_end_are_reported_by_the_head() {
        let s = store_with_events(5).await;
        sqlx::query("DELETE FROM events WHERE id > 3")
            .execute(s.pool())
            .await
            .unwrap();
        let v = verify(&s).await.unwrap();
        assert_eq!(v.first_broken, None, "what is left still links");
        assert_eq!(
            v.truncated.as_deref(),
            Some("the head names event 5, but the trail ends at event 3: the events after it were removed")
        );
        // An event appended after the cut follows the head, so the gap shows too.
        let mut tx = s.begin().await.unwrap();
        append(
            &mut tx,
            utc("2026-11-22T00:00:00Z"),
            &Event::new("test", None, "cli", serde_json::json!({})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let v = verify(&s).await.unwrap();
        assert_eq!(v.first_broken, Some((6, "event 4 is missing".to_string())));
    }

    #[tokio::test]
    async fn an_edited_row_is_named_as_the_first_broken_link() {
        let s = store_with_events(5).await;
        sqlx::query("UPDATE events SET detail_json = '{\"i\":99}' WHERE id = 3")
            .execute(s.pool())
            .await
            .unwrap();
        let v = verify(&s).await.unwrap();
        assert_eq!(v.first_broken.map(|(id, _)| id), Some(3));
    }

    #[tokio::test]
    async fn a_deleted_row_breaks_the_chain() {
        let s = store_with_events(5).await;
        sqlx::query("DELETE FROM events WHERE id = 2")
            .execute(s.pool())
            .await
            .unwrap();
        let v = verify(&s).await.unwrap();
        assert_eq!(v.first_broken.map(|(id, _)| id), Some(3));
    }
}
