//! The outbox worker: one `step` sends what is due. The daemon's loop only
//! schedules steps; tests call `step` directly.
//!
//! A mail is marked sent only after the server accepted it. A crash between the
//! two sends it again with the same Message-ID (at least once, never lost);
//! mail clients and the bot itself treat a repeated Message-ID as one message.

use chrono::{DateTime, Duration, Utc};
use tracing::{debug, warn};

use super::transport::{Transport, TransportError};
use crate::store::{Store, StoreError};

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub sent: usize,
    /// Failed for now; will be retried.
    pub deferred: usize,
    /// Refused for good; kept in the outbox with the reason.
    pub refused: usize,
}

/// How long to wait before the next attempt: 30 s doubling to at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 7) as u32;
    Duration::seconds((30i64 << exp).min(3600))
}

/// Sends every mail due at `now` (at most `limit`). Stops early when the server
/// is down: the rest would fail the same way and only delay the next step.
pub async fn step(
    store: &Store,
    transport: &dyn Transport,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<StepReport, StoreError> {
    let mut report = StepReport::default();
    for mail in store.due_mail(now, limit).await? {
        if !store.claim(mail.id, now, Duration::minutes(5)).await? {
            continue;
        }
        match transport.send(&mail).await {
            Ok(()) => {
                store.mark_sent(mail.id, now).await?;
                debug!(outbox = mail.id, kind = %mail.kind, "sent");
                report.sent += 1;
            }
            Err(TransportError::Permanent(e)) => {
                warn!(outbox = mail.id, kind = %mail.kind, error = %e, "the server refused a mail for good");
                store.mark_refused(mail.id, &e, now).await?;
                report.refused += 1;
            }
            Err(TransportError::Transient(e)) => {
                let next = now + backoff(mail.attempts);
                warn!(outbox = mail.id, kind = %mail.kind, error = %e, retry_at = %next, "sending failed; will retry");
                store.mark_failed(mail.id, &e, next).await?;
                report.deferred += 1;
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::tests::utc;
    use crate::outbox::transport::MemoryTransport;
    use crate::store::NewOutboxMail;

    async fn store_with(n: usize) -> Store {
        let s = Store::memory().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        for i in 0..n {
            let m = NewOutboxMail {
                message_id: format!("m{i}@x"),
                kind: "test".into(),
                ballot: None,
                envelope_from: "bot@x.example".into(),
                recipients: vec!["a@x.example".into()],
                raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            };
            Store::enqueue(&mut tx, &m, utc("2026-11-22T00:00:00Z"))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        s
    }

    #[tokio::test]
    async fn due_mail_is_sent_once() {
        let s = store_with(3).await;
        let t = MemoryTransport::default();
        let now = utc("2026-11-22T00:00:01Z");
        assert_eq!(step(&s, &t, now, 10).await.unwrap().sent, 3);
        assert_eq!(step(&s, &t, now, 10).await.unwrap().sent, 0);
        assert_eq!(t.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn while_the_server_is_down_mail_waits_and_is_sent_after_the_backoff() {
        let s = store_with(2).await;
        let t = MemoryTransport::default();
        *t.fail.lock().unwrap() = Some(TransportError::Transient("connection refused".into()));
        let now = utc("2026-11-22T00:00:01Z");
        let r = step(&s, &t, now, 10).await.unwrap();
        assert_eq!(
            r,
            StepReport {
                sent: 0,
                deferred: 1,
                refused: 0
            }
        );
        *t.fail.lock().unwrap() = None;
        // The failed one waits for its backoff; the other was never tried and goes now.
        assert_eq!(step(&s, &t, now, 10).await.unwrap().sent, 1);
        assert_eq!(
            step(&s, &t, now + Duration::seconds(31), 10)
                .await
                .unwrap()
                .sent,
            1
        );
        let all = s.outbox(None).await.unwrap();
        assert!(all.iter().all(|m| m.sent_at.is_some()));
        assert_eq!(all[0].attempts, 2);
    }

    #[tokio::test]
    async fn a_refused_mail_is_kept_and_not_retried() {
        let s = store_with(1).await;
        let t = MemoryTransport::default();
        *t.fail.lock().unwrap() = Some(TransportError::Permanent("550 no such user".into()));
        let now = utc("2026-11-22T00:00:01Z");
        assert_eq!(step(&s, &t, now, 10).await.unwrap().refused, 1);
        *t.fail.lock().unwrap() = None;
        assert_eq!(
            step(&s, &t, now + Duration::days(1), 10)
                .await
                .unwrap()
                .sent,
            0
        );
        let m = &s.outbox(None).await.unwrap()[0];
        assert!(m.failed_at.is_some());
        assert_eq!(m.last_error.as_deref(), Some("550 no such user"));
    }

    #[tokio::test]
    async fn a_mail_claimed_by_another_sender_is_not_sent_again() {
        let s = store_with(1).await;
        let t = MemoryTransport::default();
        let now = utc("2026-11-22T00:00:01Z");
        let id = s.due_mail(now, 1).await.unwrap()[0].id;
        assert!(s.claim(id, now, Duration::minutes(5)).await.unwrap());
        assert_eq!(step(&s, &t, now, 10).await.unwrap().sent, 0);
        assert!(t.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(60));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }
}
