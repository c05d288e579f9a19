//! The daemon's own health, kept for `status` and the alerts: each part's
//! last error and since when it fails, whether the admins were alerted, and a
//! summary of the outbox.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{parse_opt_ts, ts, Store, StoreError};

/// One part of the daemon that fails on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub component: String,
    /// Since when it has been failing without a success; None when it works.
    pub failing_since: Option<DateTime<Utc>>,
    /// Its last error, with when it happened.
    pub error: Option<String>,
    pub error_at: Option<DateTime<Utc>>,
    /// Whether the admins were told and not yet told the all-clear.
    pub alerting: bool,
    pub alerted_at: Option<DateTime<Utc>>,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxSummary {
    /// Mails not sent yet (and not refused for good).
    pub queued: i64,
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Of those, the ones whose last attempt failed.
    pub failing: i64,
    /// When the oldest failing one was queued.
    pub failing_since: Option<DateTime<Utc>>,
    /// Refused for good by the server (kept with the reason).
    pub refused: i64,
}

impl Store {
    /// A failure of `component` at `now`, with the error's text (no address:
    /// callers pass the redacted Display).
    pub async fn record_failure(
        &self,
        component: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO health (component, failing_since, error, error_at) VALUES (?1, ?2, ?3, ?2)
             ON CONFLICT (component) DO UPDATE SET
               failing_since = COALESCE(failing_since, excluded.failing_since),
               error = excluded.error, error_at = excluded.error_at",
        )
        .bind(component)
        .bind(ts(now))
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `component` works: its outage, if any, is over (its last error kept).
    /// Writes only when it was failing.
    pub async fn record_ok(&self, component: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE health SET failing_since = NULL WHERE component = ? AND failing_since IS NOT NULL",
        )
        .bind(component)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether the admins are being alerted about `component`, and since when.
    pub async fn set_alerting(
        &self,
        component: &str,
        alerting: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        Self::set_alerting_in(&mut conn, component, alerting, now).await
    }

    /// The same, inside the caller's transaction (with the alert it queues).
    pub async fn set_alerting_in(
        conn: &mut sqlx::SqliteConnection,
        component: &str,
        alerting: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO health (component, alerting, alerted_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (component) DO UPDATE SET alerting = excluded.alerting,
               alerted_at = CASE WHEN excluded.alerting = 1 THEN excluded.alerted_at ELSE alerted_at END",
        )
        .bind(component)
        .bind(alerting)
        .bind(ts(now))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Every component's health.
    pub async fn health(&self) -> Result<Vec<Health>, StoreError> {
        let rows = sqlx::query(
            "SELECT component, failing_since, error, error_at, alerting, alerted_at FROM health ORDER BY component",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Health {
                    component: r.try_get(0)?,
                    failing_since: parse_opt_ts(r.try_get(1)?)?,
                    error: r.try_get(2)?,
                    error_at: parse_opt_ts(r.try_get(3)?)?,
                    alerting: r.try_get::<i64, _>(4)? != 0,
                    alerted_at: parse_opt_ts(r.try_get(5)?)?,
                })
            })
            .collect()
    }

    /// How many messages were recorded with each disposition, ever.
    pub async fn disposition_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT disposition, COUNT(*) FROM messages GROUP BY disposition ORDER BY disposition",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// How many answers were recorded as valid (counted when recorded), ever.
    pub async fn valid_votes(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM votes WHERE status = 'valid'")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The outbox at a glance.
    pub async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        let r = sqlx::query(
            "SELECT
               COUNT(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
               MIN(created_at) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
               COUNT(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL AND last_error IS NOT NULL),
               MIN(created_at) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL AND last_error IS NOT NULL),
               COUNT(*) FILTER (WHERE failed_at IS NOT NULL)
             FROM outbox",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(OutboxSummary {
            queued: r.try_get(0)?,
            oldest_queued_at: parse_opt_ts(r.try_get(1)?)?,
            failing: r.try_get(2)?,
            failing_since: parse_opt_ts(r.try_get(3)?)?,
            refused: r.try_get(4)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::tests::utc;

    #[tokio::test]
    async fn a_failing_component_keeps_when_it_began_until_it_works_again() {
        let s = Store::memory().await.unwrap();
        s.record_failure("mailbox", "connection refused", utc("2026-12-04T01:00:00Z"))
            .await
            .unwrap();
        s.record_failure("mailbox", "timed out", utc("2026-12-04T01:05:00Z"))
            .await
            .unwrap();
        let h = &s.health().await.unwrap()[0];
        assert_eq!(h.failing_since, Some(utc("2026-12-04T01:00:00Z")));
        assert_eq!(h.error.as_deref(), Some("timed out"));
        assert_eq!(h.error_at, Some(utc("2026-12-04T01:05:00Z")));
        s.record_ok("mailbox").await.unwrap();
        let h = &s.health().await.unwrap()[0];
        assert_eq!(h.failing_since, None);
        assert_eq!(
            h.error.as_deref(),
            Some("timed out"),
            "the last error is kept"
        );
        s.set_alerting("mailbox", true, utc("2026-12-04T01:20:00Z"))
            .await
            .unwrap();
        s.set_alerting("mailbox", false, utc("2026-12-04T02:00:00Z"))
            .await
            .unwrap();
        let h = &s.health().await.unwrap()[0];
        assert!(!h.alerting);
        assert_eq!(h.alerted_at, Some(utc("2026-12-04T01:20:00Z")));
    }
}
