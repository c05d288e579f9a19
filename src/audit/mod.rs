//! Checking the record: `verify` holds the tables to the hash-chained audit
//! trail (and the trail to its head); `replay` reads every stored message
//! again and decides it again with the ingest's own decision, then compares
//! the answers, tallies and outcomes with what was recorded.

mod replay;
mod verify;

pub use replay::{replay, ReplayReport};
pub use verify::{verify, AuditReport};

/// Rows read at a time from the large tables (messages, outbox, incidents).
const PAGE: i64 = 2000;

/// A ballot of four organisations answered five times (org02 changing its
/// mind, org04 after the deadline) and closed: the record both checks start
/// from.
#[cfg(test)]
pub(crate) async fn ballot_with_votes() -> (crate::testkit::TestApp, crate::domain::BallotRef) {
    use crate::admin::{self, OpenRequest};
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};
    let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
    let req = OpenRequest {
        title: "予算".into(),
        motion: "予算案".into(),
        kind: None,
        deadline: Some("2026-11-29 17:00".parse().unwrap()),
    };
    let r = admin::open(&t.app, &req, "cli", t.app.now())
        .await
        .unwrap()
        .reference;
    let src = t.app.source_name();
    for (i, (org, body, at)) in [
        (1, "賛成", "2026-11-23T00:00:00Z"),
        (2, "反対", "2026-11-23T00:00:00Z"),
        (2, "賛成します。", "2026-11-24T00:00:00Z"),
        (3, "棄権", "2026-11-24T00:00:00Z"),
        (4, "賛成", "2026-11-30T00:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let raw = reply(
            &format!("rep{org}@org{org}.example"),
            &format!("Re: [{r}]"),
            body,
            &format!("m{i}@x"),
            None,
        );
        t.set_now(at);
        if i == 4 {
            t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
            crate::scheduler::tick(&t.app, None).await.unwrap();
        }
        process(
            &t.app,
            &src,
            &fetched(&format!("k{i}"), raw, at),
            None,
            t.app.now(),
        )
        .await
        .unwrap();
    }
    (t, r)
}
