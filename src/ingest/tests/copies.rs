//! Copies of one message: delivered twice, through the list with From
//! rewritten, under a borrowed Message-ID, read again after a UIDVALIDITY reset.

use super::*;

#[tokio::test]
async fn the_same_message_delivered_twice_is_counted_once() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let raw = reply(
        "rep1@org1.example",
        &subject(r),
        "賛成\n",
        "same@org1",
        None,
    );
    feed(&t, "1", raw.clone(), "2026-11-23T01:00:00Z").await;
    // The copy via the list has an extra header but the same Message-ID.
    let mut copy = b"List-Id: <steering.committee.example>\r\n".to_vec();
    copy.extend_from_slice(&raw);
    let p = feed(&t, "2", copy, "2026-11-23T01:00:01Z").await;
    assert_eq!(p.disposition, Disposition::Duplicate);
    assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
    assert_eq!(mails(&t, "receipt").await.len(), 1);
}

#[tokio::test]
async fn a_mailbox_item_seen_before_is_skipped_without_a_new_record() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let raw = reply("rep1@org1.example", &subject(r), "賛成\n", "x@org1", None);
    feed(&t, "k", raw.clone(), "2026-11-23T01:00:00Z").await;
    let p = feed(&t, "k", raw, "2026-11-23T01:00:00Z").await;
    assert!(p.skipped);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(t.app.store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// The list's copy of a reply-all: From rewritten to the list, the same Message-ID.
fn via_list(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap().replacen(
        "From: Member <rep1@org1.example>",
        "List-Id: <steering.committee.example>\r\nFrom: \"Member via steering\" <steering@committee.example>",
        1,
    );
    assert!(text.contains("via steering"));
    text.into_bytes()
}

#[tokio::test]
async fn a_list_copy_recorded_as_non_member_does_not_swallow_the_members_direct_copy() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let direct = reply(
        "rep1@org1.example",
        &subject(r),
        "賛成\n",
        "both@org1",
        None,
    );
    let p = feed(&t, "1", via_list(&direct), "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::NonMember);
    let p = feed(&t, "2", direct.clone(), "2026-11-23T01:00:01Z").await;
    assert_eq!(p.disposition, Disposition::Vote);
    assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
    assert_eq!(mails(&t, "receipt").await.len(), 1);
    // A further copy meets the one that was used, and stops there.
    let mut again = b"X-Redelivered: yes\r\n".to_vec();
    again.extend_from_slice(&direct);
    let p = feed(&t, "3", again, "2026-11-23T01:00:02Z").await;
    assert_eq!(p.disposition, Disposition::Duplicate);
    assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
    assert_eq!(mails(&t, "receipt").await.len(), 1);
}

#[tokio::test]
async fn a_used_direct_copy_and_the_later_list_copy_with_from_rewritten_count_once() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let direct = reply(
        "rep1@org1.example",
        &subject(r),
        "反対\n",
        "first@org1",
        None,
    );
    let p = feed(&t, "1", direct.clone(), "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Vote);
    // Without a trusted header naming the member, the list's copy is from
    // the list: not the member's message, so judged on its own (a
    // non-member's, neither counted nor answered), with the clash noted.
    let p = feed(&t, "2", via_list(&direct), "2026-11-23T01:00:01Z").await;
    assert_eq!(p.disposition, Disposition::NonMember);
    let reason = t
        .app
        .store
        .messages_for(r)
        .await
        .unwrap()
        .last()
        .unwrap()
        .reason
        .clone();
    assert!(reason.contains("also that of message #"), "{reason}");
    assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
    assert_eq!(mails(&t, "receipt").await.len(), 1);
}

#[tokio::test]
async fn a_message_borrowing_a_members_message_id_never_swallows_the_members_vote() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    // org2 writes first, with the Message-ID org1's client will use.
    let borrowed = reply(
        "rep2@org2.example",
        &subject(r),
        "反対\n",
        "next@org1",
        None,
    );
    let p = feed(&t, "1", borrowed, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Vote);
    let genuine = reply(
        "rep1@org1.example",
        &subject(r),
        "賛成\n",
        "next@org1",
        None,
    );
    let p = feed(&t, "2", genuine, "2026-11-23T01:00:01Z").await;
    assert_eq!(p.disposition, Disposition::Vote, "org1's answer counts");
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(votes.len(), 2);
    assert!(votes.iter().any(|v| v.org.as_str() == "org01"), "{votes:?}");
    assert_eq!(
        mails(&t, "receipt").await.len(),
        2,
        "and org1 gets its receipt"
    );
    assert!(t.app.store.incidents().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_copy_naming_no_ballot_does_not_block_a_copy_that_names_one() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    // A list that rewrites the subject loses the reference of the first copy.
    let munged = reply(
        "rep1@org1.example",
        "Re: [steering:0042] 新規会員の加盟承認",
        "賛成\n",
        "munged@org1",
        None,
    );
    let p = feed(&t, "1", munged, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::NoBallot);
    let direct = reply(
        "rep1@org1.example",
        &subject(r),
        "賛成\n",
        "munged@org1",
        None,
    );
    let p = feed(&t, "2", direct, "2026-11-23T01:00:01Z").await;
    assert_eq!(p.disposition, Disposition::Vote);
    assert_eq!(t.app.store.votes(r).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_bytes_read_again_are_a_duplicate_whatever_the_first_copy_was() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let stranger = reply(
        "someone@else.example",
        &subject(r),
        "賛成\n",
        "s@else",
        None,
    );
    let p = feed(&t, "1", stranger.clone(), "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::NonMember);
    // The same delivery under a new mailbox key (a UIDVALIDITY reset).
    let p = feed(&t, "2", stranger, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Duplicate);
}
