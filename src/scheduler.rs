//! Time-driven work: closing rounds at their deadline (and opening re-ballots),
//! then sending what the outbox holds. One `tick` is one pass; the daemon runs
//! it every few seconds and `mail-ballot tick` runs it once (cron, tests).
//!
//! A round closes only once the mailbox has been read past its deadline (plus a
//! grace for clock differences between this machine and the mail server), so a
//! 賛成 delivered a second before the deadline is always counted even when the
//! reader and the scheduler run at different moments.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tracing::{info, warn};

use crate::admin;
use crate::app::{App, AppError};
use crate::ballot::rules::{settled, EarlyClose, VoteChanges};
use crate::ballot::{Ballot, Next, State, VoteRecord};
use crate::domain::BallotRef;
use crate::meetings;
use crate::outbox::transport::Transport;
use crate::outbox::worker::{self, StepReport};
use crate::store::events::{self, Event};
use crate::store::StoreError;

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
    /// Reminders queued: (ballot, organisations reminded).
    pub reminded: Vec<(BallotRef, usize)>,
    /// The meeting whose digest was queued to the secretariat.
    pub digest_for: Option<NaiveDate>,
    pub outbox: StepReport,
}

/// Closes due rounds (and, where a profile allows, rounds already decided),
/// sends due reminders, queues the digest before a meeting, then sends due
/// mail when a transport is given.
pub async fn tick(app: &App, transport: Option<&dyn Transport>) -> Result<TickReport, AppError> {
    let now = app.now();
    let mut report = TickReport::default();
    let synced = app.store.synced_at(&app.source_name()).await?;
    for r in app.store.ballots_in_state(State::Open).await? {
        let Some(b) = app.store.load_ballot(r).await? else {
            continue;
        };
        let round = b.current_round();
        if b.is_due(now) {
            if synced.is_none_or(|s| s < round.deadline + close_grace()) {
                warn!(ballot = %r, "past its deadline, waiting for the mailbox to be read past it");
                report.waiting.push(r);
                continue;
            }
            let (_, closed) = admin::close(app, r, "scheduler", now).await?;
            report
                .closed
                .push((r, closed.round, describe(&closed.next)));
            continue;
        }
        let votes = app.store.votes(r).await?;
        if let Some(why) = early_close(&b, &votes, synced, now) {
            let (_, closed) = admin::close(app, r, &format!("scheduler ({why})"), now).await?;
            report
                .closed
                .push((r, closed.round, describe(&closed.next)));
            continue;
        }
        let n = remind(app, &b, &votes, synced, now).await?;
        if n > 0 {
            report.reminded.push((r, n));
        }
    }
    report.digest_for = scheduled_digest(app, now).await?;
    if let Some(t) = transport {
        // Everything due, a batch at a time: after an outage the backlog goes
        // out in one tick (each batch's mail is marked before the next is read,
        // so no row is handled twice and the loop ends).
        let opts = app.outbox_options().await?;
        loop {
            let step = worker::step(&app.store, t, now, &opts).await?;
            let handled = step.sent + step.deferred + step.refused + step.confirmed + step.held;
            report.outbox.sent += step.sent;
            report.outbox.deferred += step.deferred;
            report.outbox.refused += step.refused;
            report.outbox.confirmed += step.confirmed;
            report.outbox.held += step.held;
            if i64::try_from(handled).unwrap_or(i64::MAX) < opts.limit {
                break;
            }
        }
    }
    if !report.closed.is_empty() {
        info!(closed = report.closed.len(), "rounds closed");
    }
    Ok(report)
}

fn describe(next: &Next) -> String {
    match next {
        Next::Final(o) => o.as_str().to_string(),
        Next::Reballot { round, .. } => format!("reballot (round {round})"),
    }
}

/// Why the current round may close before its deadline, if it may: only where
/// the profile allows it, and only on a freshly read mailbox.
fn early_close(
    b: &Ballot,
    votes: &[VoteRecord],
    synced: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if b.profile.early_close == EarlyClose::Never
        || synced.is_none_or(|s| s + Duration::minutes(5) < now)
    {
        return None;
    }
    let round = b.current_round().number;
    let counts = b.counts(votes, round);
    match b.profile.early_close {
        EarlyClose::Never => None,
        // Every member having answered settles nothing while answers may still
        // change (`Profile::validate` refuses the combination; a ballot stored
        // before that check is guarded here).
        EarlyClose::AllAnswered => (counts.answered() == counts.eligible
            && b.profile.vote_changes == VoteChanges::Closed)
            .then_some("every member answered and answers are final"),
        EarlyClose::Decided => {
            let counted = b.positions(votes, round);
            let chair = b.chair.as_ref().and_then(|c| counted.get(c).copied());
            settled(&b.profile, counts, chair).map(|_| "no further answer can change the outcome")
        }
    }
}

/// The reminder due at `now` for a round open from `opened` to `deadline`,
/// among the configured offsets before the deadline: the latest whose moment
/// has passed. An earlier one whose moment was missed (the daemon was not
/// running) is never sent after it, so nobody gets two reminders at once; and
/// none goes out within the first hour of the round, when the announcement
/// has only just arrived.
pub fn due_reminder(
    offsets: &[Duration],
    opened: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if now >= deadline {
        return None;
    }
    let latest = offsets
        .iter()
        .copied()
        .filter(|before| deadline - *before <= now)
        .min()?;
    (deadline - latest >= opened + Duration::hours(1)).then_some(latest)
}

/// Queues the reminder due for `b` (`due_reminder`): one personal mail to the
/// representative of every organisation with no counted answer. Only once the
/// mailbox was read past its moment, so nobody whose answer is still unread is
/// reminded. A batch goes out once per round, offset and deadline.
async fn remind(
    app: &App,
    b: &Ballot,
    votes: &[VoteRecord],
    synced: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let round = b.current_round();
    let mut sent = 0;
    let due = due_reminder(
        &app.config.schedule.reminders,
        round.opened_at,
        round.deadline,
        now,
    );
    for before in due.iter() {
        let moment = round.deadline - *before;
        if synced.is_none_or(|s| s < moment) {
            continue;
        }
        let batch = format!(
            "{}.r{}.reminder.{}.{}h.",
            b.reference.msgid_prefix(),
            round.number,
            round.deadline.timestamp(),
            before.num_hours()
        );
        if app.store.outbox_has_prefix(&batch).await? {
            continue;
        }
        let composer = app.composer();
        let mut tx = app.store.begin().await?;
        let missing = b.not_answered(votes, round.number);
        if missing.is_empty() {
            continue;
        }
        for org in &missing {
            let mut mail = composer.reminder(b, org, *before, now)?;
            // A reply to the reminder proves itself like one to the personal ballot.
            if let Some(personal) = app.personal_reply_to(b, org) {
                mail.reply_to = Some(personal);
            }
            app.enqueue(&mut tx, &mail, "scheduler", now).await?;
        }
        events::append(
            &mut tx,
            now,
            &Event::new(
                "reminders_sent",
                Some(b.reference),
                "scheduler",
                serde_json::json!({ "round": round.number, "before_hours": before.num_hours(), "organisations": missing.len() }),
            ),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        sent += missing.len();
    }
    Ok(sent)
}

/// Queues the ratification digest when the next meeting's digest is due, once
/// per meeting, and only when something awaits confirmation.
async fn scheduled_digest(app: &App, now: DateTime<Utc>) -> Result<Option<NaiveDate>, AppError> {
    let schedule = &app.config.schedule;
    let today = now
        .with_timezone(&app.config.organisation.time_zone)
        .date_naive();
    let added = app.store.added_meetings().await?;
    let Some(m) = meetings::next(schedule, &added, today) else {
        return Ok(None);
    };
    if today < meetings::digest_due(schedule, m.date) || app.store.digest_sent_for(m.date).await? {
        return Ok(None);
    }
    if app.store.pending_ratification().await?.is_empty() {
        return Ok(None);
    }
    admin::digest(app, Some(m.date), true, "schedule", now).await?;
    info!(meeting = %m.date, "ratification digest queued");
    Ok(Some(m.date))
}

/// The next moment a tick has something to do: the earliest deadline (plus the
/// grace) of an open ballot. The reader wakes for it so the mailbox is read past it.
pub async fn next_due(app: &App) -> Result<Option<DateTime<Utc>>, AppError> {
    let mut next = None;
    for r in app.store.ballots_in_state(State::Open).await? {
        if let Some(b) = app.store.load_ballot(r).await? {
            let d = b.current_round().deadline + close_grace();
            next = Some(next.map_or(d, |n: DateTime<Utc>| n.min(d)));
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
        assert!(
            result
                .message_id
                .starts_with(&format!("{}.r1.result.", r.msgid_prefix())),
            "{}",
            result.message_id
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

#[cfg(test)]
mod schedule_tests {
    use super::*;
    use crate::admin::OpenRequest;
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};

    async fn open(t: &TestApp, title: &str) -> BallotRef {
        let req = OpenRequest {
            title: title.into(),
            motion: "本文".into(),
            kind: None,
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        admin::open(&t.app, &req, "cli", t.app.now())
            .await
            .unwrap()
            .reference
    }

    async fn vote(t: &TestApp, r: BallotRef, org: usize, body: &str, at: &str) {
        let raw = reply(
            &format!("rep{org}@org{org}.example"),
            &format!("Re: [{r}]"),
            body,
            &format!("v{org}-{at}@x"),
            None,
        );
        process(
            &t.app,
            &t.app.source_name(),
            &fetched(&format!("{r}{org}{at}"), raw, at),
            None,
            t.app.now(),
        )
        .await
        .unwrap();
    }

    async fn synced_now(t: &TestApp) {
        t.app
            .store
            .mark_synced(&t.app.source_name(), t.app.now())
            .await
            .unwrap();
    }

    async fn reminders(t: &TestApp) -> Vec<Vec<String>> {
        t.app
            .store
            .outbox(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "reminder")
            .map(|m| m.recipients)
            .collect()
    }

    #[tokio::test]
    async fn reminders_go_to_those_who_have_not_answered_once_per_offset() {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let r = open(&t, "予算").await;
        vote(&t, r, 1, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, r, 2, "反対", "2026-11-23T00:00:00Z").await;
        // Deadline 11/29 08:00Z; the 48 h reminder is due 11/27 08:00Z.
        t.set_now("2026-11-27T09:00:00Z");
        synced_now(&t).await;
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.reminded, [(r, 2)]);
        assert_eq!(
            reminders(&t).await,
            [
                vec!["rep3@org3.example".to_string()],
                vec!["rep4@org4.example".to_string()]
            ]
        );
        assert!(
            tick(&t.app, None).await.unwrap().reminded.is_empty(),
            "not twice"
        );
        // Org 3 answers; at the 24 h reminder only org 4 is reminded.
        vote(&t, r, 3, "棄権", "2026-11-27T10:00:00Z").await;
        t.set_now("2026-11-28T09:00:00Z");
        synced_now(&t).await;
        assert_eq!(tick(&t.app, None).await.unwrap().reminded, [(r, 1)]);
        assert_eq!(
            reminders(&t).await.last().unwrap(),
            &vec!["rep4@org4.example".to_string()]
        );
    }

    #[tokio::test]
    async fn no_reminder_goes_out_before_the_mailbox_was_read_past_its_moment() {
        let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
        open(&t, "予算").await;
        t.set_now("2026-11-27T09:00:00Z");
        t.app
            .store
            .mark_synced(
                &t.app.source_name(),
                crate::testkit::at("2026-11-27T07:00:00Z"),
            )
            .await
            .unwrap();
        assert!(tick(&t.app, None).await.unwrap().reminded.is_empty());
    }

    #[test]
    fn only_the_latest_passed_reminder_is_due_and_none_in_the_rounds_first_hour() {
        let at = crate::testkit::at;
        let offsets = [Duration::hours(48), Duration::hours(24)];
        let (opened, deadline) = (at("2026-11-22T00:00:00Z"), at("2026-11-29T08:00:00Z"));
        let due = |now: &str| due_reminder(&offsets, opened, deadline, at(now));
        assert_eq!(due("2026-11-27T07:59:59Z"), None);
        assert_eq!(due("2026-11-27T08:00:00Z"), Some(Duration::hours(48)));
        // Both moments passed (the daemon was down across them): the later only.
        assert_eq!(due("2026-11-28T09:00:00Z"), Some(Duration::hours(24)));
        assert_eq!(due("2026-11-29T08:00:00Z"), None, "the deadline has passed");
        // A round opened exactly 48 h before its deadline: its 48 h moment is
        // its opening, and no member is reminded of what just arrived.
        let opened = deadline - Duration::hours(48);
        assert_eq!(due_reminder(&offsets, opened, deadline, opened), None);
        assert_eq!(
            due_reminder(&offsets, opened, deadline, opened + Duration::seconds(1)),
            None
        );
        assert_eq!(
            due_reminder(&offsets, opened, deadline, deadline - Duration::hours(24)),
            Some(Duration::hours(24))
        );
    }

    #[tokio::test]
    async fn after_a_gap_across_two_reminder_moments_each_member_gets_one_reminder() {
        let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
        let r = open(&t, "予算").await;
        // Nothing ran from before the 48 h moment until after the 24 h one.
        t.set_now("2026-11-28T09:00:00Z");
        synced_now(&t).await;
        assert_eq!(tick(&t.app, None).await.unwrap().reminded, [(r, 2)]);
        t.set_now("2026-11-28T09:05:00Z");
        synced_now(&t).await;
        assert!(tick(&t.app, None).await.unwrap().reminded.is_empty());
        assert_eq!(reminders(&t).await.len(), 2, "one each, not one per offset");
    }

    #[tokio::test]
    async fn a_ballot_opened_48_hours_before_its_deadline_reminds_nobody_at_its_opening() {
        let t = TestApp::new(2, "2026-11-27T08:00:00.900Z").await;
        let req = OpenRequest {
            title: "予算".into(),
            motion: "本文".into(),
            kind: None,
            deadline: Some("48h".parse().unwrap()),
        };
        admin::open(&t.app, &req, "cli", t.app.now()).await.unwrap();
        t.set_now("2026-11-27T08:00:02Z");
        synced_now(&t).await;
        assert!(tick(&t.app, None).await.unwrap().reminded.is_empty());
        assert!(reminders(&t).await.is_empty());
    }

    #[tokio::test]
    async fn a_ballot_opened_inside_a_reminder_window_gets_only_the_later_reminder() {
        let t = TestApp::new(2, "2026-11-28T00:00:00Z").await;
        open(&t, "予算").await; // 32 h before its deadline: the 48 h reminder never applies
        t.set_now("2026-11-28T09:00:00Z");
        synced_now(&t).await;
        let rep = tick(&t.app, None).await.unwrap();
        assert_eq!(rep.reminded.len(), 1);
        let ids: Vec<String> = t
            .app
            .store
            .outbox(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "reminder")
            .map(|m| m.message_id)
            .collect();
        assert!(ids.iter().all(|id| id.contains(".24h.")), "{ids:?}");
    }

    const EARLY: &str = r#"
[[profiles]]
name = "isogj-email"
clause = "test: early close when decided"
quorum = "at least 1/2 of members"
threshold = "more than 1/2 of present"
early_close = "decided"
vote_changes = "closed"
"#;

    const ALL_ANSWERED: &str = r#"
[[profiles]]
name = "isogj-email"
clause = "test: early close when everyone answered"
quorum = "at least 1/2 of members"
threshold = "more than 1/2 of present"
early_close = "all_answered"
vote_changes = "closed"
"#;

    #[tokio::test]
    async fn a_profile_that_allows_it_closes_as_soon_as_no_answer_can_change_the_outcome() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", EARLY).await;
        let r = open(&t, "予算").await;
        vote(&t, r, 1, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, r, 2, "賛成", "2026-11-23T00:00:00Z").await;
        t.set_now("2026-11-23T01:00:00Z");
        synced_now(&t).await;
        assert!(
            tick(&t.app, None).await.unwrap().closed.is_empty(),
            "2 of 4: a third and fourth no would reject"
        );
        vote(&t, r, 3, "賛成", "2026-11-23T02:00:00Z").await;
        t.set_now("2026-11-23T03:00:00Z");
        synced_now(&t).await;
        assert_eq!(
            tick(&t.app, None).await.unwrap().closed,
            [(r, 1, "approved".to_string())]
        );
    }

    #[tokio::test]
    async fn where_answers_are_final_the_round_closes_once_every_member_has_answered() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", ALL_ANSWERED).await;
        let r = open(&t, "予算").await;
        for org in 1..=3 {
            vote(&t, r, org, "賛成", "2026-11-23T00:00:00Z").await;
        }
        t.set_now("2026-11-23T01:00:00Z");
        synced_now(&t).await;
        assert!(
            tick(&t.app, None).await.unwrap().closed.is_empty(),
            "three of four answered: the fourth has not"
        );
        // A change of answer does not count: the first one is final.
        vote(&t, r, 1, "反対", "2026-11-23T01:30:00Z").await;
        vote(&t, r, 4, "反対", "2026-11-23T02:00:00Z").await;
        t.set_now("2026-11-23T03:00:00Z");
        synced_now(&t).await;
        assert_eq!(
            tick(&t.app, None).await.unwrap().closed,
            [(r, 1, "approved".to_string())],
            "3 yes (org01's first answer) and 1 no of 4"
        );
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        let tally = b.rounds[0].tally.as_ref().unwrap();
        assert_eq!((tally.counts.yes, tally.counts.no), (3, 1));
        assert!(b.rounds[0].closed_at.unwrap() < b.rounds[0].deadline);
        let receipt = t
            .app
            .store
            .outbox(Some(r))
            .await
            .unwrap()
            .into_iter()
            .filter(|m| {
                m.kind == "receipt" && m.recipients.contains(&"rep1@org1.example".to_string())
            })
            .count();
        assert_eq!(
            receipt, 2,
            "the changed answer is acknowledged as recorded only"
        );
        let changed: (String, String) = sqlx::query_as(
            "SELECT disposition, reason FROM messages WHERE message_id = 'v1-2026-11-23T01:30:00Z@x'",
        )
        .fetch_one(t.app.store.pool())
        .await
        .unwrap();
        assert_eq!(changed.0, "not_counted", "{}", changed.1);
        assert!(changed.1.contains("first answer final"), "{}", changed.1);
    }

    #[tokio::test]
    async fn a_stored_ballot_whose_answers_may_still_change_does_not_close_early() {
        // A ballot stored before the configuration check refused `decided`
        // without final answers: every member answering yes settles nothing,
        // since any of them may still switch to 反対 before the deadline.
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", EARLY).await;
        let r = open(&t, "予算").await;
        // Stored as it was then: without the vote_changes key.
        sqlx::query(
            "UPDATE ballots SET profile_json = json_remove(profile_json, '$.vote_changes')",
        )
        .execute(t.app.store.pool())
        .await
        .unwrap();
        let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.profile.early_close, EarlyClose::Decided);
        assert_eq!(b.profile.vote_changes, VoteChanges::UntilDeadline);
        for org in 1..=4 {
            vote(&t, r, org, "賛成", "2026-11-23T00:00:00Z").await;
        }
        t.set_now("2026-11-23T01:00:00Z");
        synced_now(&t).await;
        assert!(tick(&t.app, None).await.unwrap().closed.is_empty());
    }

    #[tokio::test]
    async fn the_isogj_rule_never_closes_early() {
        let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
        let r = open(&t, "予算").await;
        for org in 1..=4 {
            vote(&t, r, org, "賛成", "2026-11-23T00:00:00Z").await;
        }
        t.set_now("2026-11-23T01:00:00Z");
        synced_now(&t).await;
        assert!(
            tick(&t.app, None).await.unwrap().closed.is_empty(),
            "members may change their answer until the deadline"
        );
    }

    #[tokio::test]
    async fn the_digest_goes_to_the_secretariat_once_the_configured_days_before_the_meeting() {
        let t = TestApp::with(
            2,
            "2026-11-22T01:00:00Z",
            "[meetings]\ndates = [\"2026-12-10\"]\ndigest_days_before = 7\n",
        )
        .await;
        let r = open(&t, "予算").await;
        vote(&t, r, 1, "賛成", "2026-11-23T00:00:00Z").await;
        t.set_now("2026-11-29T09:00:00Z");
        synced_now(&t).await;
        tick(&t.app, None).await.unwrap(); // closes the ballot
        t.set_now("2026-12-02T09:00:00Z"); // 12/2 JST: one day early
        assert_eq!(tick(&t.app, None).await.unwrap().digest_for, None);
        t.set_now("2026-12-03T00:30:00Z"); // 12/3 09:30 JST
        let due = tick(&t.app, None).await.unwrap().digest_for;
        assert_eq!(due.map(|d| d.to_string()).as_deref(), Some("2026-12-10"));
        assert_eq!(
            tick(&t.app, None).await.unwrap().digest_for,
            None,
            "once per meeting"
        );
        let digests: Vec<_> = t
            .app
            .store
            .outbox(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "digest")
            .collect();
        assert_eq!(digests.len(), 1);
        assert_eq!(digests[0].recipients, ["support@committee.example"]);
    }
}
