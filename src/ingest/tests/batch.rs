//! Batches: a backlog recorded in one transaction leaves the same record as
//! one message per transaction, and a batch sees ballots changed since the one
//! before it.

use futures::future::BoxFuture;
use sqlx::Row;

use super::*;
use crate::mailbox::{Batch, MailSource, MailboxError};

#[tokio::test]
async fn a_deadline_extended_between_batches_is_seen_by_the_next_batch() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let vote = |from: &str, id: &str| reply(from, &subject(r), "賛成\n", id, None);
    // This batch loads the ballot, and the next one may reuse it...
    let p = feed(
        &t,
        "1",
        vote("rep1@org1.example", "a@org1"),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Vote);
    let mut conn = t.app.store.pool().acquire().await.unwrap();
    let generation = Store::ballot_generation(&mut conn).await.unwrap();
    drop(conn);
    assert!(
        t.app.store.cached_ballots(generation).contains_key(&r),
        "kept for the next batch"
    );
    // ...unless a ballot changed meanwhile, here from another connection.
    let later = "2026-12-02 17:00".parse().unwrap();
    admin::extend(&t.app, r, &later, "cli", t.app.now())
        .await
        .unwrap();
    // After the old deadline (2026-11-29 17:00 JST), before the new one.
    let p = feed(
        &t,
        "2",
        vote("rep2@org2.example", "b@org2"),
        "2026-11-30T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Vote);
}

/// A mailbox in memory, handing out at most `max` messages per batch.
struct Memory(Vec<Fetched>);

impl MailSource for Memory {
    fn fetch<'a>(
        &'a mut self,
        cursor: Option<crate::store::Cursor>,
        max: usize,
    ) -> BoxFuture<'a, Result<Batch, MailboxError>> {
        let after = cursor.map_or(0, |c| c.last_uid);
        let rest: Vec<Fetched> = self
            .0
            .iter()
            .filter(|m| m.uid.is_some_and(|u| u > after))
            .cloned()
            .collect();
        let messages: Vec<Fetched> = rest.iter().take(max).cloned().collect();
        let more = rest.len() > messages.len();
        Box::pin(async move {
            Ok(Batch {
                uidvalidity: 7,
                scanned_to: messages.last().and_then(|m| m.uid).unwrap_or(after),
                pending: 0,
                messages,
                more,
            })
        })
    }
    fn committed<'a>(&'a mut self, _: &'a Fetched) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async { Ok(()) })
    }
    fn wait<'a>(&'a mut self, _: std::time::Duration) -> BoxFuture<'a, Result<(), MailboxError>> {
        Box::pin(async { Ok(()) })
    }
    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Everything a backlog leaves in the record, row by row.
async fn record(t: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT id, source_key, message_id, content_hash, internal_date, from_addr, ballot_id, disposition, reason, hex(raw) FROM messages ORDER BY id",
        "SELECT id, ballot_id, round, org_id, position, voter, cast_at, message_row, status, receipt_id, message_id FROM votes ORDER BY id",
        "SELECT message_id, kind, ballot_id, recipients_json, hex(raw), created_at FROM outbox ORDER BY message_id",
        "SELECT id, at, kind, ballot, actor, detail_json, prev_hash, hash FROM events ORDER BY id",
        "SELECT kind, ballot_id, message_row, summary FROM incidents ORDER BY id",
        "SELECT last_id, last_hash FROM audit_head",
    ] {
        let rows = sqlx::query(sql).fetch_all(t.app.store.pool()).await.unwrap();
        for r in rows {
            let cols: Vec<String> = (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| r.try_get::<Option<i64>, _>(i).ok().flatten().map(|n| n.to_string()))
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect();
            out.push(cols.join(" | "));
        }
    }
    out
}

/// A backlog touching every path the staging answers for.
fn backlog() -> Vec<Fetched> {
    let subject = "Re: [B-2026-001] 新規会員の加盟承認";
    let member = |i: usize| format!("rep{i}@org{i}.example");
    let mut raws: Vec<Vec<u8>> = vec![
        reply(&member(1), subject, "賛成します。", "a1@x", None),
        reply(&member(2), subject, "反対です。", "a2@x", None),
        // The same org changes its mind within the batch.
        reply(&member(1), subject, "やはり反対します。", "a3@x", None),
        // The same message delivered twice.
        reply(&member(2), subject, "反対です。", "a2@x", None),
        reply(
            &member(3),
            subject,
            "どうしようか迷っています。",
            "a4@x",
            None,
        ),
        reply("stranger@else.example", subject, "賛成", "a5@x", None),
        reply(&member(3), subject, "棄権します。", "a6@x", None),
    ];
    // A list copy first (From rewritten), then the member's own copy.
    let direct = reply(&member(4), subject, "賛成", "a7@x", None);
    let listed = String::from_utf8(direct.clone())
        .unwrap()
        .replacen(
            "From: Member <rep4@org4.example>",
            "List-Id: <steering.committee.example>\r\nFrom: \"Member via steering\" <steering@committee.example>",
            1,
        )
        .into_bytes();
    raws.push(listed);
    raws.push(direct);
    // An admin opens a second ballot by mail; a member answers it at once.
    raws.push(reply(
        "chair@committee.example",
        "[ballot:open] 予算承認",
        "締切: 2026-11-29 17:00\n\n予算案を承認する。\n",
        "open@x",
        None,
    ));
    raws.push(reply(
        &member(2),
        "Re: [B-2026-002] 予算承認",
        "賛成",
        "b1@x",
        None,
    ));
    // One sender past the burst limit (3 an hour in this test).
    for i in 0..5 {
        raws.push(reply(
            &member(5),
            subject,
            "賛成",
            &format!("burst{i}@x"),
            None,
        ));
    }
    raws.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let mut f = fetched(&format!("uid:7:{}", i + 1), raw, "2026-11-23T01:00:00Z");
            f.internal_date += chrono::Duration::seconds(i as i64);
            f.uid = Some(i as u32 + 1);
            f
        })
        .collect()
}

async fn run(per_transaction: usize) -> Vec<String> {
    let t = TestApp::with(
        6,
        "2026-11-22T01:00:00Z",
        &format!("[limits]\nmessages_per_sender_per_hour = 3\nmessages_per_transaction = {per_transaction}\n"),
    )
    .await;
    let req = OpenRequest {
        title: "新規会員の加盟承認".into(),
        motion: "株式会社サンプルの加盟を承認する。".into(),
        kind: None,
        deadline: Some("2026-11-29 17:00".parse().unwrap()),
    };
    admin::open(&t.app, &req, "cli", t.app.now()).await.unwrap();
    t.set_now("2026-11-23T02:00:00Z");
    let report = poll(&t.app, &mut Memory(backlog())).await.unwrap();
    assert_eq!(report.processed + report.skipped, backlog().len());
    record(&t).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_recorded_in_one_transaction_leaves_the_same_record_as_one_per_message() {
    let one_by_one = run(1).await;
    let batched = run(500).await;
    // The backlog did what it should: every path was taken.
    let all = one_by_one.join("\n");
    for d in [
        "| vote |",
        "| duplicate |",
        "| unclear |",
        "| non_member |",
        "| admin_opened |",
    ] {
        assert!(all.contains(d), "no {d} in the record:\n{all}");
    }
    assert!(all.contains("vote_superseded"), "{all}");
    assert!(all.contains("burst"), "{all}");
    assert_eq!(batched.len(), one_by_one.len());
    for (b, o) in batched.iter().zip(&one_by_one) {
        assert_eq!(b, o);
    }
}

#[tokio::test]
async fn a_reader_asked_to_stop_finishes_the_batch_in_hand_and_reads_the_rest_next_time() {
    let t = TestApp::with(
        6,
        "2026-11-22T01:00:00Z",
        "[limits]\nmessages_per_transaction = 4\n",
    )
    .await;
    let req = OpenRequest {
        title: "新規会員の加盟承認".into(),
        motion: "株式会社サンプルの加盟を承認する。".into(),
        kind: None,
        deadline: Some("2026-11-29 17:00".parse().unwrap()),
    };
    admin::open(&t.app, &req, "cli", t.app.now()).await.unwrap();
    t.set_now("2026-11-23T02:00:00Z");
    let stop = tokio_util::sync::CancellationToken::new();
    stop.cancel();
    let mut mailbox = Memory(backlog());
    let first = crate::ingest::poll_until(&t.app, &mut mailbox, &stop)
        .await
        .unwrap();
    assert_eq!(
        first.processed + first.skipped,
        4,
        "one whole batch, committed"
    );
    let rest = poll(&t.app, &mut mailbox).await.unwrap();
    assert_eq!(
        first.processed + first.skipped + rest.processed + rest.skipped,
        backlog().len()
    );
}
