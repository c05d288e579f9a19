//! The tamper table: each column that decides who gets what and who counted
//! what, edited with plain SQL on a record built the normal way (a ballot under
//! token verification, a counted answer with its receipt, a forged one with its
//! incident, mail sent, refused and waiting), and the sentence in which `audit
//! verify` names the table, the row and the column.

use super::*;
use crate::admin::{self, OpenRequest};
use crate::domain::{Address, BallotRef};
use crate::ingest::process;
use crate::outbox::transport::{MemoryTransport, TransportError};
use crate::outbox::worker::{step, StepOptions};
use crate::testkit::{addressed_to, fetched, reply, TestApp};
use crate::verify::policy::Method;

/// The record the cases edit. Its rows: messages #1 (org01's answer through its
/// personal reply address: counted, votes row #1, a receipt waiting in the
/// outbox) and #2 (a forged answer in org02's name: not counted, incidents row
/// #1, its report and org02's notice refused by the server); the announcement
/// and the personal ballots sent.
async fn record() -> (TestApp, BallotRef) {
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    t.verify_with(&[Method::Token, Method::Dkim]);
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
    let transport = MemoryTransport::default();
    let opts = StepOptions::new(1000, None);
    step(&t.app.store, &transport, t.app.now(), &opts)
        .await
        .unwrap();
    let src = t.app.source_name();
    let subject = format!("Re: [{r}]");
    let counted = addressed_to(
        reply("rep1@org1.example", &subject, "賛成", "yes@org1", None),
        &t.token_address(r, 1, "org01"),
    );
    let forged = reply("rep2@org2.example", &subject, "反対", "forged@x", None);
    t.set_now("2026-11-23T01:00:00Z");
    for (key, raw) in [("1", counted), ("2", forged)] {
        let f = fetched(key, raw, "2026-11-23T01:00:00Z");
        process(&t.app, &src, &f, None, t.app.now()).await.unwrap();
    }
    let receipt: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE kind = 'receipt'")
        .fetch_one(t.app.store.pool())
        .await
        .unwrap();
    t.app
        .store
        .defer(receipt, t.app.now() + chrono::Duration::days(1))
        .await
        .unwrap();
    *transport.fail.lock().unwrap() = Some(TransportError::Permanent("550 no such user".into()));
    step(&t.app.store, &transport, t.app.now(), &opts)
        .await
        .unwrap();
    (t, r)
}

/// `audit verify` after `sql`, run on a fresh copy of the record.
async fn verify_after(sql: &str) -> AuditReport {
    let (t, _) = record().await;
    sqlx::query(sql).execute(t.app.store.pool()).await.unwrap();
    verify(&t.app.store).await.unwrap()
}

/// Asserts that the one edit made is named, in one sentence containing `needle`.
fn names(rep: &AuditReport, needle: &str) {
    assert!(
        rep.problems.len() == 1 && rep.problems[0].contains(needle),
        "not one problem naming `{needle}` in {:#?}",
        rep.problems
    );
    assert!(!rep.intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_the_cases_edit_verifies_untouched_and_holds_the_rows_they_name() {
    let (t, _) = record().await;
    let rep = verify(&t.app.store).await.unwrap();
    assert!(rep.intact(), "{rep:#?}");
    let pool = t.app.store.pool();
    let outbox: Vec<(i64, String, bool, bool)> = sqlx::query_as(
        "SELECT id, kind, sent_at IS NOT NULL, failed_at IS NOT NULL FROM outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let outbox: Vec<(i64, &str, bool, bool)> = outbox
        .iter()
        .map(|(id, k, s, f)| (*id, k.as_str(), *s, *f))
        .collect();
    assert_eq!(
        outbox,
        [
            (1, "announce", true, false),
            (2, "personal", true, false),
            (3, "personal", true, false),
            (4, "personal", true, false),
            (5, "receipt", false, false),
            (6, "unverified", false, true),
            (7, "incident", false, true),
        ]
    );
    let messages: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, disposition FROM messages ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(
        messages,
        [(1, "vote".to_string()), (2, "unverified".to_string())]
    );
    let incidents: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, kind, message_row FROM incidents ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(incidents, [(1, "verification_failed".to_string(), 2)]);
    let votes: Vec<(i64, i64, bool)> =
        sqlx::query_as("SELECT id, message_row, receipt_id IS NOT NULL FROM votes ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(votes, [(1, 1, true)]);
}

// messages: who the message is from, and how that was verified.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_message_sender_is_named() {
    names(
        &verify_after("UPDATE messages SET from_addr = 'rep3@org3.example' WHERE id = 2").await,
        "messages row #2: its sender (from_addr) differs from the one event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_verification_report_is_named() {
    names(
        &verify_after(
            "UPDATE messages SET verification_json = replace(verification_json, '\"passed\":false', '\"passed\":true') WHERE id = 2",
        )
        .await,
        "messages row #2: its verification report differs from the one event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_message_internaldate_is_named() {
    names(
        &verify_after(
            "UPDATE messages SET internal_date = '2026-11-30T00:00:00.000000Z' WHERE id = 1",
        )
        .await,
        "messages row #1: its INTERNALDATE differs from the one event",
    );
}

// votes: who answered, and which receipt a dispute of it must answer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_voter_is_named() {
    names(
        &verify_after("UPDATE votes SET voter = 'alt1@org1.example' WHERE id = 1").await,
        "votes row #1 (B-2026-001 round 1, org01): its voter differs from the one event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_vote_receipt_is_named() {
    names(
        &verify_after(
            "UPDATE votes SET receipt_id = 'b-2026-001.r1.receipt.000000000000@committee.example' WHERE id = 1",
        )
        .await,
        "votes row #1 (B-2026-001 round 1, org01): its receipt differs from the one event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_vote_message_id_is_named() {
    names(
        &verify_after("UPDATE votes SET message_id = 'forged@x' WHERE id = 1").await,
        "votes row #1 (B-2026-001 round 1, org01): its Message-ID differs from the one event 10 recorded for messages row #1",
    );
}

// outbox: to whom a mail goes, from whom, and whether it is still to go.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_outbox_recipient_is_named() {
    names(
        &verify_after(
            "UPDATE outbox SET recipients_json = '[\"mallory@evil.example\"]' WHERE id = 5",
        )
        .await,
        "outbox row #5 (receipt): its recipients differ from those event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_recipient_added_beside_the_others_is_named() {
    names(
        &verify_after(
            "UPDATE outbox SET recipients_json = json_insert(recipients_json, '$[#]', 'mallory@evil.example') WHERE id = 5",
        )
        .await,
        "outbox row #5 (receipt): its recipients differ from those event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_outbox_envelope_sender_is_named() {
    names(
        &verify_after("UPDATE outbox SET envelope_from = 'mallory@evil.example' WHERE id = 5")
            .await,
        "outbox row #5 (receipt): its envelope sender differs from the one event",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_mail_marked_refused_is_named() {
    names(
        &verify_after("UPDATE outbox SET failed_at = created_at WHERE id = 5").await,
        "outbox row #5 (receipt) is marked refused, but no mail_refused event records it",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mail_marked_waiting_again_is_named() {
    names(
        &verify_after("UPDATE outbox SET failed_at = NULL WHERE id = 7").await,
        "recorded outbox row #7 as refused, but the row says it was not",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_outbox_row_is_named() {
    let rep = verify_after("DELETE FROM outbox WHERE id = 5").await;
    names(&rep, "event 12 queued mail `b-2026-001.r1.receipt.");
    names(&rep, "(receipt), which the outbox table no longer holds");
}

// incidents: what was reported, about which message, and whether it was mailed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_kind_is_named() {
    names(
        &verify_after("UPDATE incidents SET kind = 'burst' WHERE id = 1").await,
        "incidents row #1: its kind is `burst`, but event 15 recorded `verification_failed`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_summary_is_named() {
    names(
        &verify_after("UPDATE incidents SET summary = 'nothing happened' WHERE id = 1").await,
        "incidents row #1 (verification_failed): its summary differs from the one event 15",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_ballot_is_named() {
    names(
        &verify_after("UPDATE incidents SET ballot_id = NULL WHERE id = 1").await,
        "incidents row #1 (verification_failed): its ballot is `none`, but event 15 recorded `B-2026-001`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_message_is_named() {
    names(
        &verify_after("UPDATE incidents SET message_row = 1 WHERE id = 1").await,
        "incidents row #1 (verification_failed): its message is `#1`, but event 15 recorded `#2`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_merge_is_named() {
    names(
        &verify_after("UPDATE incidents SET merged_into = 1 WHERE id = 1").await,
        "incidents row #1 (verification_failed): its merged_into is `#1`, but event 15 recorded `none`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_incident_evidence_is_named() {
    names(
        &verify_after("UPDATE incidents SET detail_json = '{}' WHERE id = 1").await,
        "incidents row #1 (verification_failed): its evidence differs from the one event 15",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_incident_time_is_named() {
    names(
        &verify_after("UPDATE incidents SET at = '2026-11-20T00:00:00.000000Z' WHERE id = 1").await,
        "incidents row #1 (verification_failed): its time differs from that of event 15",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_incident_is_named() {
    names(
        &verify_after("DELETE FROM incidents WHERE id = 1").await,
        "event 15 recorded incident #1, which the incidents table no longer holds",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_added_behind_the_trails_back_is_named() {
    names(
        &verify_after(
            "INSERT INTO incidents (at, kind, message_row, summary, detail_json) VALUES ('2026-11-23T01:00:00.000000Z', 'burst', 1, 'x', '{}')",
        )
        .await,
        "incidents row #2 (burst) has no incident event",
    );
}

// ballots and rounds: who may answer, under which rule, until when.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_roster_is_named() {
    names(
        &verify_after(
            "UPDATE ballots SET roster_json = replace(roster_json, 'alt1@org1.example', 'mallory@evil.example')",
        )
        .await,
        "ballots row B-2026-001: its roster differs from the one event 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_rule_profile_is_named() {
    names(
        &verify_after("UPDATE ballots SET profile_json = json_set(profile_json, '$.rounds', 9)")
            .await,
        "ballots row B-2026-001: its rule profile differs from the one event 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_chair_is_named() {
    names(
        &verify_after("UPDATE ballots SET chair = 'org01'").await,
        "ballots row B-2026-001: its chair is `org01`, but event 1 recorded `none`",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_motion_is_named() {
    names(
        &verify_after("UPDATE ballots SET motion = '予算案（修正）'").await,
        "ballots row B-2026-001: its motion differs from the one event 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_round_deadline_is_named() {
    names(
        &verify_after("UPDATE rounds SET deadline = '2026-12-31T08:00:00.000000Z'").await,
        "rounds row B-2026-001 round 1: its deadline is 2026-12-31T08:00:00Z, but event 1 recorded 2026-11-29T08:00:00Z",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_round_opening_is_named() {
    names(
        &verify_after("UPDATE rounds SET opened_at = '2026-11-24T00:00:00.000000Z'").await,
        "rounds row B-2026-001 round 1: its opening is 2026-11-24T00:00:00Z, but event 1 recorded 2026-11-22T01:00:00Z",
    );
}

// Older records: their events lack the fields above.

/// The fields of events that records written before them lack.
const ADDED: &[&str] = &[
    "from_addr_hash",
    "verification_hash",
    "voter_hash",
    "receipt_id",
    "recipients_hash",
    "envelope_from",
    "evidence_hash",
    "motion_hash",
    "profile_hash",
    "roster_hash",
    "chair",
    "opened_at",
];

fn strip(detail: &mut serde_json::Value, keys: &[&str]) {
    if let Some(map) = detail.as_object_mut() {
        for k in keys {
            map.remove(*k);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_record_written_before_these_fields_were_recorded_verifies() {
    let (t, _) = record().await;
    // As the oldest versions wrote it: none of the fields above, no content
    // hashes, no mail_sent or mail_refused, incidents without their message.
    events::rewrite_for_test(&t.app.store, |kind, detail| {
        strip(detail, ADDED);
        strip(detail, &["content_hash"]);
        if kind == "incident" {
            strip(detail, &["message", "merged_into"]);
        }
        !matches!(kind, "mail_sent" | "mail_refused")
    })
    .await
    .unwrap();
    sqlx::query("UPDATE audit_head SET checks_from = last_id")
        .execute(t.app.store.pool())
        .await
        .unwrap();
    let rep = verify(&t.app.store).await.unwrap();
    assert!(rep.intact(), "{rep:#?}");
    assert_eq!(rep.rows["outbox"], 7);
    assert_eq!(rep.rows["incidents"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_recorded_after_an_upgrade_are_held_to_the_new_fields_and_older_rows_are_not() {
    let (t, _) = record().await;
    // Events 1-11 (the opening, the personal ballots, message #1 and its vote)
    // as a version before these fields wrote them; the rest as this one does.
    let mut n = 0;
    events::rewrite_for_test(&t.app.store, |_, detail| {
        n += 1;
        if n <= 11 {
            strip(detail, ADDED);
        }
        true
    })
    .await
    .unwrap();
    assert!(verify(&t.app.store).await.unwrap().intact());
    for sql in [
        "UPDATE messages SET from_addr = 'rep3@org3.example'",
        "UPDATE votes SET voter = 'alt1@org1.example'",
        "UPDATE outbox SET recipients_json = '[\"mallory@evil.example\"]' WHERE id IN (2, 5)",
    ] {
        sqlx::query(sql).execute(t.app.store.pool()).await.unwrap();
    }
    // Message #1, its vote and personal ballot #2 were recorded without them:
    // nothing to hold their sender, voter and recipients to (message #1's raw
    // bytes, hashed since before, still hold its true sender for replay).
    let rep = verify(&t.app.store).await.unwrap();
    assert_eq!(
        rep.problems,
        [
            "messages row #2: its sender (from_addr) differs from the one event 13 recorded",
            "outbox row #5 (receipt): its recipients differ from those event 12 recorded when it was queued",
        ]
    );
}

// A round's window over a ballot's life: extended, then a re-ballot.

/// A ballot whose first round was extended, found not valid, and re-balloted;
/// the second round extended too.
async fn reballoted() -> TestApp {
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
    let later = "2026-12-01 17:00".parse().unwrap();
    admin::extend(&t.app, r, &later, "cli", t.app.now())
        .await
        .unwrap();
    t.set_now("2026-12-02T00:00:00Z");
    let src = t.app.source_name();
    t.app.store.mark_synced(&src, t.app.now()).await.unwrap();
    crate::scheduler::tick(&t.app, None).await.unwrap();
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert_eq!(b.rounds.len(), 2, "no answer: not valid, a second round");
    let later = "2026-12-20 17:00".parse().unwrap();
    admin::extend(&t.app, r, &later, "cli", t.app.now())
        .await
        .unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_extended_and_re_balloted_verifies_untouched() {
    let t = reballoted().await;
    let rep = verify(&t.app.store).await.unwrap();
    assert!(rep.intact(), "{rep:#?}");
    assert_eq!(rep.rows["rounds"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_deadline_moved_back_is_named() {
    let t = reballoted().await;
    sqlx::query("UPDATE rounds SET deadline = '2026-11-29T08:00:00.000000Z' WHERE number = 1")
        .execute(t.app.store.pool())
        .await
        .unwrap();
    names(
        &verify(&t.app.store).await.unwrap(),
        "rounds row B-2026-001 round 1: its deadline is 2026-11-29T08:00:00Z, but event 3 recorded 2026-12-01T08:00:00Z",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_re_ballot_window_is_named() {
    let t = reballoted().await;
    sqlx::query(
        "UPDATE rounds SET opened_at = '2026-12-03T00:00:00.000000Z', deadline = '2026-12-10T08:00:00.000000Z' WHERE number = 2",
    )
    .execute(t.app.store.pool())
    .await
    .unwrap();
    let rep = verify(&t.app.store).await.unwrap();
    let round_opened =
        "rounds row B-2026-001 round 2: its opening is 2026-12-03T00:00:00Z, but event";
    let extended = "rounds row B-2026-001 round 2: its deadline is 2026-12-10T08:00:00Z, but event";
    assert_eq!(rep.problems.len(), 2, "{:#?}", rep.problems);
    assert!(
        rep.problems[0].starts_with(round_opened),
        "{:#?}",
        rep.problems
    );
    assert!(rep.problems[1].starts_with(extended), "{:#?}", rep.problems);
    assert!(
        rep.problems[1].ends_with("recorded 2026-12-20T08:00:00Z"),
        "{:#?}",
        rep.problems
    );
}
