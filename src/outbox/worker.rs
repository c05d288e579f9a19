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
    /// An interrupted send found delivered (its copy is in the bot's mailbox).
    pub confirmed: usize,
    /// Waiting: for the mailbox to show whether an interrupted send got through,
    /// or for an address's hourly allowance.
    pub held: usize,
}

/// What a step needs to know besides the outbox.
#[derive(Debug, Clone, Copy)]
pub struct StepOptions {
    /// Mails to look at per step.
    pub limit: i64,
    /// At most this many mails to one address per hour.
    pub per_address_per_hour: u32,
    /// The instant up to which the bot's mailbox has been read (for self-copies).
    pub synced_at: Option<DateTime<Utc>>,
}

impl StepOptions {
    /// Limits from the configuration, for a step at `now`.
    pub fn new(per_address_per_hour: u32, synced_at: Option<DateTime<Utc>>) -> Self {
        Self {
            limit: 100,
            per_address_per_hour,
            synced_at,
        }
    }
}

/// How long after an interrupted send the bot's copy is given to arrive before
/// the mail is taken as not delivered and sent again.
pub fn settle() -> Duration {
    Duration::seconds(60)
}

/// How long to wait for the mailbox to be read before sending an interrupted
/// mail again anyway (the reader is down: at least once beats never).
pub fn give_up() -> Duration {
    Duration::hours(1)
}

/// How long a sender's claim on a mail lasts: five minutes, and always a
/// minute longer than the transport's longest send, so no other sender takes
/// over a mail that is still being sent.
pub fn lease(transport: &dyn Transport) -> Duration {
    let longest = Duration::from_std(transport.max_send_time()).unwrap_or(Duration::hours(1));
    Duration::minutes(5).max(longest + Duration::minutes(1))
}

/// How long to wait before the next attempt: 30 s doubling to at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 7) as u32;
    Duration::seconds((30i64 << exp).min(3600))
}

/// Whether mail of `kind` goes out regardless of the hourly allowance per
/// address: incident reports and alerts, whose flood control is their own.
pub fn bypasses_allowance(kind: &str) -> bool {
    // Alerts to the admins have their own rate (`[alerts] repeat_after`).
    kind == "incident" || kind == "alert"
}

/// Whether a stored message is the bot's own copy of the mail `sent`: From the
/// bot's address, and the same body as the bytes the bot sent (servers add
/// headers on the way, never change the body; line ends may be rewritten).
///
/// A Message-ID alone proves nothing: anyone can write one, and before the
/// IDs carried the installation's tag they could be predicted, so a stranger
/// could plant a decoy that made an interrupted send look delivered. The body
/// of what the bot sent (with its tokens and details) is known only to the
/// bot and the mail's recipients.
pub fn is_own_copy(sent: &[u8], bot: &str, from: Option<&str>, stored: &[u8]) -> bool {
    from.is_some_and(|f| f.eq_ignore_ascii_case(bot)) && body(sent) == body(stored)
}

/// The body of a raw message, with line ends as LF and no trailing blank lines.
fn body(raw: &[u8]) -> Vec<u8> {
    let start = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| memchr::memmem::find(raw, sep).map(|i| i + sep.len()))
        .min();
    let Some(start) = start else {
        return Vec::new();
    };
    let mut out: Vec<u8> = raw[start..]
        .iter()
        .copied()
        .filter(|c| *c != b'\r')
        .collect();
    while out.last().is_some_and(|c| c.is_ascii_whitespace()) {
        out.pop();
    }
    out
}

/// Sends every mail due at `now`. Stops early when the server is down: the rest
/// would fail the same way and only delay the next step.
///
/// A mail whose previous attempt began but never finished (the process died,
/// or the connection broke after the data went out) may already be delivered.
/// With self-copies, the worker waits until the bot's mailbox has been read past
/// that attempt: if the copy is there the mail is marked sent, otherwise it is
/// sent again. So each mail is delivered once, however the sender was stopped.
pub async fn step(
    store: &Store,
    transport: &dyn Transport,
    now: DateTime<Utc>,
    opts: &StepOptions,
) -> Result<StepReport, StoreError> {
    let mut report = StepReport::default();
    let due = store.due_mail(now, opts.limit).await?;
    if due.is_empty() {
        return Ok(report);
    }
    let mut recent = store.sent_to_since(now - Duration::hours(1)).await?;
    for mail in due {
        if let Some(since) = mail.sending_since {
            if transport.self_copies() {
                let copies = store.messages_with_id(&mail.message_id).await?;
                if copies.iter().any(|(from, raw)| {
                    is_own_copy(&mail.raw, &mail.envelope_from, from.as_deref(), raw)
                }) {
                    store.mark_sent(mail.id, now).await?;
                    debug!(outbox = mail.id, kind = %mail.kind, "an interrupted send had got through");
                    report.confirmed += 1;
                    continue;
                }
                let settled = opts.synced_at.is_some_and(|s| s >= since + settle());
                if !settled && now < since + give_up() {
                    store.defer(mail.id, now + Duration::seconds(15)).await?;
                    report.held += 1;
                    continue;
                }
            }
        }
        // The hourly allowance per address: a fault or a flood of replies must
        // not turn the bot into a mail cannon. Incident reports go at once
        // ("without delay", seeds/003): their own flood control merges a flood
        // of incidents into one report (`security`), so they are never held.
        let cap = opts.per_address_per_hour as usize;
        let full = if bypasses_allowance(&mail.kind) {
            None
        } else {
            mail.recipients
                .iter()
                .filter_map(|r| recent.get(&r.to_lowercase()))
                .filter(|times| times.len() >= cap)
                .map(|times| times[times.len() - cap] + Duration::hours(1))
                .max()
        };
        if let Some(until) = full {
            warn!(outbox = mail.id, kind = %mail.kind, until = %until, "hourly allowance reached for a recipient; held");
            store.defer(mail.id, until).await?;
            report.held += 1;
            continue;
        }
        if !store.claim(mail.id, now, lease(transport)).await? {
            continue;
        }
        match transport.send(&mail).await {
            Ok(()) => {
                store.mark_sent(mail.id, now).await?;
                for r in &mail.recipients {
                    recent.entry(r.to_lowercase()).or_default().push(now);
                }
                debug!(outbox = mail.id, kind = %mail.kind, "sent");
                report.sent += 1;
            }
            // The log gets the redacted Display (servers quote recipients);
            // the row keeps the whole text for `show`.
            Err(e @ TransportError::Permanent(_)) => {
                warn!(outbox = mail.id, kind = %mail.kind, error = %e, "the server refused a mail for good");
                store.mark_refused(mail.id, e.detail(), now).await?;
                report.refused += 1;
            }
            // A connection that could not be made safe sent nothing: the
            // mail waits like any other, and the log says what to set.
            Err(e @ (TransportError::Transient(_) | TransportError::Tls(_))) => {
                let next = now + backoff(mail.attempts);
                warn!(outbox = mail.id, kind = %mail.kind, error = %e, retry_at = %next, "sending failed; will retry");
                store.mark_failed(mail.id, e.detail(), next).await?;
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

    fn opts() -> StepOptions {
        StepOptions::new(30, None)
    }

    async fn store_with(n: usize) -> Store {
        store_with_kind(n, "test").await
    }

    async fn store_with_kind(n: usize, kind: &str) -> Store {
        let s = Store::memory().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        for i in 0..n {
            let m = NewOutboxMail {
                message_id: format!("m{i}@x"),
                kind: kind.into(),
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
        assert_eq!(step(&s, &t, now, &opts()).await.unwrap().sent, 3);
        assert_eq!(step(&s, &t, now, &opts()).await.unwrap().sent, 0);
        assert_eq!(t.sent.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn while_the_server_is_down_mail_waits_and_is_sent_after_the_backoff() {
        let s = store_with(2).await;
        let t = MemoryTransport::default();
        *t.fail.lock().unwrap() = Some(TransportError::Transient("connection refused".into()));
        let now = utc("2026-11-22T00:00:01Z");
        let r = step(&s, &t, now, &opts()).await.unwrap();
        assert_eq!(
            r,
            StepReport {
                deferred: 1,
                ..StepReport::default()
            }
        );
        *t.fail.lock().unwrap() = None;
        // The failed one waits for its backoff; the other was never tried and goes now.
        assert_eq!(step(&s, &t, now, &opts()).await.unwrap().sent, 1);
        assert_eq!(
            step(&s, &t, now + Duration::seconds(31), &opts())
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
        assert_eq!(step(&s, &t, now, &opts()).await.unwrap().refused, 1);
        *t.fail.lock().unwrap() = None;
        assert_eq!(
            step(&s, &t, now + Duration::days(1), &opts())
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
        assert_eq!(step(&s, &t, now, &opts()).await.unwrap().sent, 0);
        assert!(t.sent.lock().unwrap().is_empty());
    }

    /// The bot's copy of the mail `store_with` queued, as the mailbox gives it:
    /// the bytes sent, under the headers the servers added.
    fn genuine_copy() -> Vec<u8> {
        b"Return-Path: <bot@x.example>\r\nDelivered-To: bot@x.example\r\nReceived: from localhost\r\nSubject: x\r\n\r\nx\r\n".to_vec()
    }

    async fn record_copy(s: &Store, message_id: &str) {
        record_message(s, message_id, "bot@x.example", &genuine_copy()).await
    }

    async fn record_message(s: &Store, message_id: &str, from: &str, raw: &[u8]) {
        let mut tx = s.begin().await.unwrap();
        Store::insert_message(
            &mut tx,
            &crate::store::NewMessage {
                source: "imap",
                source_key: &crate::disposition::content_hash(raw),
                message_id: Some(message_id),
                content_hash: &crate::disposition::content_hash(raw),
                internal_date: utc("2026-11-22T00:00:02Z"),
                processed_at: utc("2026-11-22T00:00:02Z"),
                from_addr: Some(from),
                subject: None,
                raw,
                size: raw.len(),
                ballot: None,
                disposition: crate::disposition::Disposition::Automated,
                reason: "the bot's own mail",
                reading_json: None,
                verification_json: None,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// A send that began and never finished: the claim is taken, then the process dies.
    async fn interrupted(s: &Store) -> i64 {
        let t0 = utc("2026-11-22T00:00:01Z");
        let id = s.due_mail(t0, 1).await.unwrap()[0].id;
        assert!(s.claim(id, t0, Duration::minutes(5)).await.unwrap());
        id
    }

    #[tokio::test]
    async fn an_interrupted_send_whose_copy_reached_the_bot_is_marked_sent_not_sent_again() {
        let s = store_with(1).await;
        interrupted(&s).await;
        record_copy(&s, "m0@x").await;
        let t = MemoryTransport {
            self_copy: true,
            ..MemoryTransport::default()
        };
        let later = utc("2026-11-22T00:10:00Z");
        let r = step(&s, &t, later, &StepOptions::new(30, Some(later)))
            .await
            .unwrap();
        assert_eq!(r.confirmed, 1);
        assert!(t.sent.lock().unwrap().is_empty(), "not sent twice");
        assert!(s.outbox(None).await.unwrap()[0].sent_at.is_some());
    }

    #[tokio::test]
    async fn a_planted_message_with_the_same_message_id_never_passes_for_the_bots_copy() {
        let s = store_with(1).await;
        interrupted(&s).await;
        // A stranger's decoy, and one that forges the bot's From but cannot
        // know what the bot wrote.
        record_message(&s, "m0@x", "mallory@evil.example", &genuine_copy()).await;
        record_message(
            &s,
            "m0@x",
            "bot@x.example",
            b"From: bot@x.example\r\nSubject: x\r\n\r\nsomething else\r\n",
        )
        .await;
        let t = MemoryTransport {
            self_copy: true,
            ..MemoryTransport::default()
        };
        let later = utc("2026-11-22T00:10:00Z");
        let r = step(&s, &t, later, &StepOptions::new(30, Some(later)))
            .await
            .unwrap();
        assert_eq!(r.confirmed, 0);
        assert_eq!(r.sent, 1, "the interrupted mail is sent again");
        assert_eq!(t.sent.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_own_copy_is_recognised_whatever_the_servers_did_to_headers_and_line_ends() {
        let sent = b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nline 1\r\nline 2\r\n";
        let stored = b"Received: by mx\nSubject: x\nMessage-ID: <a@b>\n\nline 1\nline 2\n\n";
        assert!(is_own_copy(
            sent,
            "Bot@X.example",
            Some("bot@x.example"),
            stored
        ));
        assert!(!is_own_copy(sent, "bot@x.example", None, stored));
        assert!(!is_own_copy(
            sent,
            "bot@x.example",
            Some("bot@x.example"),
            b"Subject: x\r\n\r\nline 1\r\n"
        ));
    }

    #[tokio::test]
    async fn an_interrupted_send_is_held_until_the_mailbox_shows_whether_it_arrived() {
        let s = store_with(1).await;
        interrupted(&s).await;
        let t = MemoryTransport {
            self_copy: true,
            ..MemoryTransport::default()
        };
        let later = utc("2026-11-22T00:10:00Z");
        // The mailbox was last read before the attempt had time to arrive: hold.
        let r = step(
            &s,
            &t,
            later,
            &StepOptions::new(30, Some(utc("2026-11-22T00:00:30Z"))),
        )
        .await
        .unwrap();
        assert_eq!(r.held, 1);
        assert!(t.sent.lock().unwrap().is_empty());
        // Read well past it, and no copy: the attempt never got through; send it.
        let r = step(
            &s,
            &t,
            later + Duration::minutes(1),
            &StepOptions::new(30, Some(later)),
        )
        .await
        .unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(t.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn without_self_copies_an_interrupted_send_is_sent_again_at_least_once() {
        let s = store_with(1).await;
        interrupted(&s).await;
        let t = MemoryTransport::default();
        let r = step(&s, &t, utc("2026-11-22T00:10:00Z"), &opts())
            .await
            .unwrap();
        assert_eq!(r.sent, 1);
    }

    #[tokio::test]
    async fn mail_to_one_address_beyond_the_hourly_allowance_waits() {
        let s = store_with(5).await;
        let t = MemoryTransport::default();
        let now = utc("2026-11-22T00:00:01Z");
        let r = step(&s, &t, now, &StepOptions::new(3, None)).await.unwrap();
        assert_eq!((r.sent, r.held), (3, 2));
        assert_eq!(
            step(
                &s,
                &t,
                now + Duration::minutes(30),
                &StepOptions::new(3, None)
            )
            .await
            .unwrap()
            .sent,
            0
        );
        assert_eq!(
            step(
                &s,
                &t,
                now + Duration::minutes(61),
                &StepOptions::new(3, None)
            )
            .await
            .unwrap()
            .sent,
            2
        );
    }

    #[tokio::test]
    async fn incident_reports_go_at_once_past_the_hourly_allowance() {
        let s = store_with_kind(5, "incident").await;
        let t = MemoryTransport::default();
        let now = utc("2026-11-22T00:00:01Z");
        let r = step(&s, &t, now, &StepOptions::new(3, None)).await.unwrap();
        assert_eq!((r.sent, r.held), (5, 0));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(30));
        assert_eq!(backoff(1), Duration::seconds(60));
        assert_eq!(backoff(20), Duration::seconds(3600));
    }

    #[tokio::test]
    async fn a_send_that_timed_out_stays_an_interrupted_send() {
        use crate::outbox::transport::tests::{smtp_to, stalling_server};
        let s = store_with(1).await;
        let t = smtp_to(stalling_server().await, 1, true);
        let now = utc("2026-11-22T00:00:01Z");
        let r = step(&s, &t, now, &opts()).await.unwrap();
        assert_eq!(r.deferred, 1, "{r:?}");
        let row = &s.outbox(None).await.unwrap()[0];
        assert_eq!(
            row.sending_since,
            Some(now),
            "the attempt began and its outcome is unknown"
        );
        assert!(row.sent_at.is_none() && row.failed_at.is_none());
        assert!(
            row.last_error
                .as_deref()
                .unwrap_or("")
                .contains("did not finish"),
            "{:?}",
            row.last_error
        );
        // Its retry first waits for the bot's copy, as after a crash mid-send.
        let later = now + backoff(0) + Duration::seconds(1);
        let r = step(&s, &t, later, &opts()).await.unwrap();
        assert_eq!(r.held, 1, "{r:?}");
    }

    #[tokio::test]
    async fn the_claim_outlasts_the_longest_send() {
        use crate::outbox::transport::tests::smtp_to;
        assert_eq!(lease(&MemoryTransport::default()), Duration::minutes(5));
        assert_eq!(lease(&smtp_to(25, 60, false)), Duration::minutes(5));
        let slow = smtp_to(25, 600, false);
        assert!(lease(&slow) > Duration::seconds(600), "{:?}", lease(&slow));
    }
}
