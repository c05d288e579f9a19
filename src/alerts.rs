//! Alerts by mail: the daemon tells the admins of a fault that lasts (what
//! `status` calls critical: the mailbox unread past `[alerts]
//! mailbox_stale_after`, mail failing to send past `mail_failing_after`, a
//! round past its deadline that cannot close past `round_waiting_after`),
//! again every `repeat_after` while it lasts, and once when it is over.
//!
//! Which fault is being alerted is kept in the database (`health.alerting`),
//! so a restart neither repeats an alert nor forgets an all-clear. An alert
//! about sending mail waits in the outbox like any mail and leaves when the
//! relay takes mail again, just before its all-clear. A database that fails
//! cannot be told by mail: the daemon says so on stderr and stops
//! (`[storage] give_up_after_secs`).

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::app::{App, AppError};
use crate::status::{gather, Fault, Severity};
use crate::store::StoreError;

/// What one check did: the faults alerted and the ones cleared.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AlertReport {
    pub alerted: Vec<Fault>,
    pub cleared: Vec<Fault>,
}

/// Looks at the daemon's health at `now` and queues the alerts and
/// all-clears due. A daemon that started at `running_since` gives itself
/// `mailbox_stale_after` to read the mailbox (after a stop, the record says it
/// has not been read for as long as the daemon was down) before it alerts.
pub async fn check(
    app: &App,
    now: DateTime<Utc>,
    running_since: DateTime<Utc>,
) -> Result<AlertReport, AppError> {
    let mut report = AlertReport::default();
    let limits = app.config.alerts;
    if !limits.mail
        || app.config.addresses.admins.is_empty()
        || now - running_since < limits.mailbox_stale_after
    {
        return Ok(report);
    }
    let status = gather(app, now).await?;
    let health = app.store.health().await?;
    for fault in [Fault::Mailbox, Fault::Outgoing, Fault::Rounds] {
        let findings: Vec<String> = status
            .findings
            .iter()
            .filter(|f| f.fault == fault && f.severity == Severity::Critical)
            .map(|f| f.what.clone())
            .collect();
        let state = health.iter().find(|h| h.component == fault.as_str());
        let alerting = state.is_some_and(|h| h.alerting);
        let last = state.and_then(|h| h.alerted_at);
        let repeat_hours = limits.repeat_after.num_hours().max(1);
        if !findings.is_empty() {
            if alerting && last.is_some_and(|t| now - t < limits.repeat_after) {
                continue;
            }
            warn!(fault = fault.as_str(), "alerting the admins");
            queue(app, fault, &findings, false, repeat_hours, now).await?;
            report.alerted.push(fault);
        } else if alerting {
            info!(fault = fault.as_str(), "telling the admins it is over");
            queue(app, fault, &[], true, repeat_hours, now).await?;
            report.cleared.push(fault);
        }
    }
    Ok(report)
}

/// Queues the alert (or all-clear) and records that the admins were told, in
/// one transaction.
async fn queue(
    app: &App,
    fault: Fault,
    findings: &[String],
    cleared: bool,
    repeat_hours: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mail = app
        .composer()
        .alert(fault.as_str(), findings, cleared, repeat_hours, now)?;
    let mut tx = app.store.begin().await?;
    app.enqueue(&mut tx, &mail, "daemon", now).await?;
    crate::store::Store::set_alerting_in(&mut tx, fault.as_str(), !cleared, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{at, TestApp};

    async fn alerts(t: &TestApp) -> Vec<(Vec<String>, String)> {
        t.app
            .store
            .outbox(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "alert")
            .map(|m| (m.recipients, m.message_id))
            .collect()
    }

    #[tokio::test]
    async fn a_mailbox_unread_too_long_is_alerted_once_then_cleared_once() {
        let t = TestApp::new(2, "2026-12-04T10:00:00Z").await;
        let started = at("2026-12-04T09:00:00Z");
        let source = t.app.source_name();
        t.app
            .store
            .mark_synced(&source, at("2026-12-04T09:30:00Z"))
            .await
            .unwrap();
        // Ten minutes into the daemon's run: it is given time to read first.
        let r = check(&t.app, at("2026-12-04T09:10:00Z"), started)
            .await
            .unwrap();
        assert_eq!(r, AlertReport::default());
        let r = check(&t.app, t.app.now(), started).await.unwrap();
        assert_eq!(r.alerted, [Fault::Mailbox]);
        let sent = alerts(&t).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, ["chair@committee.example"]);
        assert!(
            sent[0].1.starts_with("alert.mailbox.alert."),
            "{}",
            sent[0].1
        );
        // Still stale a minute later: no second mail before repeat_after.
        let later = at("2026-12-04T10:01:00Z");
        assert_eq!(
            check(&t.app, later, started).await.unwrap(),
            AlertReport::default()
        );
        // Read again: one all-clear, then quiet.
        t.app.store.mark_synced(&source, later).await.unwrap();
        let r = check(&t.app, later, started).await.unwrap();
        assert_eq!(r.cleared, [Fault::Mailbox]);
        assert_eq!(
            check(&t.app, later, started).await.unwrap(),
            AlertReport::default()
        );
        let sent = alerts(&t).await;
        assert_eq!(sent.len(), 2);
        assert!(
            sent[1].1.starts_with("alert.mailbox.clear."),
            "{}",
            sent[1].1
        );
        // Twelve hours of a fault that lasts: reminded again.
        let t2 = at("2026-12-05T00:00:00Z");
        assert_eq!(
            check(&t.app, t2, started).await.unwrap().alerted,
            [Fault::Mailbox]
        );
        let t3 = at("2026-12-05T12:00:01Z");
        assert_eq!(
            check(&t.app, t3, started).await.unwrap().alerted,
            [Fault::Mailbox]
        );
    }
}
