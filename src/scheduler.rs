//! Time-driven work: closing rounds at their deadline (and opening re-ballots),
//! then sending what the outbox holds. One `tick` is one pass; the daemon runs
//! it every few seconds and `mail-ballot tick` runs it once (cron, tests).
//!
//! A round closes only once the mailbox has been read past its deadline (plus a
//! grace for clock differences between this machine and the mail server), so a
//! 賛成 delivered a second before the deadline is always counted even when the
//! reader and the scheduler run at different moments.

use chrono::Duration;
use tracing::{info, warn};

use crate::admin;
use crate::app::{App, AppError};
use crate::ballot::{Next, State};
use crate::domain::BallotRef;
use crate::outbox::transport::Transport;
use crate::outbox::worker::{self, StepReport};

/// How far past a deadline the mailbox must have been read before the round closes.
pub fn close_grace() -> Duration {
    Duration::seconds(30)
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Rounds closed: (ballot, round, outcome or "reballot").
    pub closed: Vec<(BallotRef, u32, String)>,
    /// Ballots past their deadline whose mailbox has not been read far enough yet.
    pub waiting: Vec<BallotRef>,
    pub outbox: StepReport,
}

/// Closes due rounds, then sends due mail when a transport is given.
pub async fn tick(app: &App, transport: Option<&dyn Transport>) -> Result<TickReport, AppError> {
    let now = app.now();
    let mut report = TickReport::default();
    let synced = app.store.synced_at(&app.source_name()).await?;
    for r in app.store.ballots_in_state(State::Open).await? {
        let Some(b) = app.store.load_ballot(r).await? else {
            continue;
        };
        if !b.is_due(now) {
            continue;
        }
        let deadline = b.current_round().deadline;
        if synced.is_none_or(|s| s < deadline + close_grace()) {
            warn!(ballot = %r, "past its deadline, waiting for the mailbox to be read past it");
            report.waiting.push(r);
            continue;
        }
        let (_, closed) = admin::close(app, r, "scheduler", now).await?;
        let what = match closed.next {
            Next::Final(o) => o.as_str().to_string(),
            Next::Reballot { round, .. } => format!("reballot (round {round})"),
        };
        report.closed.push((r, closed.round, what));
    }
    if let Some(t) = transport {
        report.outbox = worker::step(&app.store, t, now, 100).await?;
    }
    if !report.closed.is_empty() {
        info!(closed = report.closed.len(), "deadlines reached");
    }
    Ok(report)
}

/// The next moment a tick has something to do: the earliest deadline (plus the
/// grace) of an open ballot. The reader wakes for it so the mailbox is read past it.
pub async fn next_due(app: &App) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    let mut next = None;
    for r in app.store.ballots_in_state(State::Open).await? {
        if let Some(b) = app.store.load_ballot(r).await? {
            let d = b.current_round().deadline + close_grace();
            next = Some(next.map_or(d, |n: chrono::DateTime<chrono::Utc>| n.min(d)));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::OpenRequest;
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};

    async fn open(t: &TestApp) -> BallotRef {
        let req = OpenRequest {
            title: "規約改定".into(),
            motion: "運営規約を改定する。".into(),
            kind: None,
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        admin::open(&t.app, &req, "cli", t.app.now())
            .await
            .unwrap()
            .reference
    }

    async fn vote(t: &TestApp, org: usize, body: &str, at: &str) {
        let raw = reply(
            &format!("rep{org}@org{org}.example"),
            "Re: [B-2026-001] 規約改定",
            body,
            &format!("v{org}-{at}@x"),
            None,
        );
        process(
            &t.app,
            &t.app.source_name(),
            &fetched(&format!("{org}{at}"), raw, at),
            None,
            t.app.now(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_round_waits_until_the_mailbox_was_read_past_its_deadline() {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let r = open(&t).await;
        t.set_now("2026-11-29T08:10:00Z");
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.waiting, [r]);
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.closed.len(), 1);
    }

    #[tokio::test]
    async fn a_valid_ballot_closes_with_its_result_sent_to_the_list() {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let r = open(&t).await;
        vote(&t, 1, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, 2, "賛成", "2026-11-23T00:00:00Z").await;
        t.set_now("2026-11-29T08:01:00Z");
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.closed, [(r, 1, "approved".to_string())]);
        let result = t
            .app
            .store
            .outbox(Some(r))
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.kind == "result")
            .unwrap();
        assert_eq!(result.recipients, ["steering@committee.example"]);
        assert_eq!(
            result.message_id,
            format!("{}.r1.result@committee.example", r.msgid_prefix())
        );
    }

    #[tokio::test]
    async fn a_ballot_that_is_not_valid_goes_to_round_two_and_then_ends_as_not_valid() {
        let t = TestApp::new(17, "2026-11-22T01:00:00Z").await;
        let r = open(&t).await;
        for org in 1..=8 {
            vote(&t, org, "賛成", "2026-11-23T00:00:00Z").await;
        }
        t.set_now("2026-11-29T08:01:00Z");
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.closed, [(r, 1, "reballot (round 2)".to_string())]);
        let announces: Vec<_> = t
            .app
            .store
            .outbox(Some(r))
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "announce")
            .collect();
        assert_eq!(announces.len(), 2);
        assert!(announces[1]
            .message_id
            .starts_with(&format!("{}.r2.announce", r.msgid_prefix())));
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        // 5d@17:00 from Sun 11/29 17:01 JST → Fri 12/4 17:00 JST.
        assert_eq!(
            b.current_round().deadline,
            crate::testkit::at("2026-12-04T08:00:00Z")
        );
        t.set_now("2026-12-04T08:01:00Z");
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.closed, [(r, 2, "not_valid".to_string())]);
        assert_eq!(t.app.store.pending_ratification().await.unwrap().len(), 1);
    }
}
