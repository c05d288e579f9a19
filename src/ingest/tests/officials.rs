//! Admin and secretariat mail: opening a ballot by mail, and a reply to a
//! digest recording what a meeting confirmed.

use super::*;

#[tokio::test]
async fn an_admin_opens_a_ballot_by_mail_and_is_told_its_reference() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let raw = reply(
        "chair@committee.example",
        "[ballot:open] 令和9年度予算の承認",
        "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
        "open@committee",
        None,
    );
    let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::AdminOpened);
    let r = p.ballot.unwrap();
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert_eq!(b.title, "令和9年度予算の承認");
    assert_eq!(b.opened_by, "mail:chair@committee.example");
    assert_eq!(mails(&t, "announce").await.len(), 1);
    assert_eq!(
        mails(&t, "opened").await[0].recipients,
        ["chair@committee.example"]
    );
}

#[tokio::test]
async fn an_admin_mail_with_a_past_deadline_is_refused_with_the_reason() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let raw = reply(
        "chair@committee.example",
        "[ballot:open] 予算",
        "締切: 2026-11-01 17:00\n\n予算案\n",
        "o2@c",
        None,
    );
    let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::AdminRejected);
    assert!(t.app.store.list_ballots().await.unwrap().is_empty());
    assert_eq!(mails(&t, "admin_error").await.len(), 1);
}

#[tokio::test]
async fn the_open_prefix_from_someone_who_is_not_an_admin_opens_nothing() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let raw = reply(
        "rep1@org1.example",
        "[ballot:open] 予算",
        "予算案\n",
        "o3@c",
        None,
    );
    let p = feed(&t, "1", raw, "2026-11-22T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::NoBallot);
    assert!(t.app.store.list_ballots().await.unwrap().is_empty());
}

/// A closed ballot of `t` and a digest of it sent by an admin at
/// 2026-11-30T00:00Z without naming a meeting.
async fn digest_without_a_meeting(t: &TestApp) -> (BallotRef, String) {
    let r = open_ballot(t).await;
    feed(
        t,
        "v1",
        reply("rep1@org1.example", &subject(r), "賛成\n", "v1@o", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    t.set_now("2026-11-29T09:00:00Z");
    admin::close(&t.app, r, "test", t.app.now()).await.unwrap();
    t.set_now("2026-11-30T00:00:00Z");
    let (mail, _) = admin::digest(&t.app, None, true, "cli", t.app.now())
        .await
        .unwrap();
    (r, mail.message_id)
}

#[tokio::test]
async fn a_confirmation_with_no_meeting_on_the_calendar_records_nothing_and_says_why() {
    let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
    let (r, digest) = digest_without_a_meeting(&t).await;
    // An admin answers the digest a few days later; no meeting was held.
    let answer = reply(
        "chair@committee.example",
        "Re: 確認事項",
        "確認済\n",
        "conf@c",
        Some(&digest),
    );
    let p = feed(&t, "c1", answer, "2026-12-02T06:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Ratification);
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert_eq!(b.ratification, crate::ballot::Ratification::Pending);
    // The admin and the secretariat both hear that nothing was recorded.
    let told = mails(&t, "ratified").await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].recipients,
        ["chair@committee.example", "support@committee.example"]
    );
    let body = mail_parser::MessageParser::default()
        .parse(&told[0].raw)
        .and_then(|m| m.body_text(0).map(|b| b.into_owned()))
        .unwrap();
    assert!(body.contains("mail-ballot meeting add"), "{body}");
}

#[tokio::test]
async fn a_confirmation_is_recorded_at_the_meeting_held_since_the_digest_and_the_secretariat_told()
{
    let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
    let (r, digest) = digest_without_a_meeting(&t).await;
    admin::add_meeting(
        &t.app,
        "2026-12-01".parse().unwrap(),
        None,
        "cli",
        t.app.now(),
    )
    .await
    .unwrap();
    let answer = reply(
        "chair@committee.example",
        "Re: 確認事項",
        "確認済\n",
        "conf@c",
        Some(&digest),
    );
    feed(&t, "c1", answer, "2026-12-02T06:00:00Z").await;
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert!(
        matches!(b.ratification, crate::ballot::Ratification::Confirmed { meeting, .. } if meeting.to_string() == "2026-12-01"),
        "{:?}",
        b.ratification
    );
    let told = mails(&t, "ratified").await;
    assert_eq!(
        told[0].recipients,
        ["chair@committee.example", "support@committee.example"]
    );
}

#[tokio::test]
async fn the_secretariats_reply_to_the_digest_confirms_the_resolutions_it_listed() {
    let t = TestApp::new(2, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    for (i, org) in [1, 2].iter().enumerate() {
        feed(
            &t,
            &format!("v{i}"),
            reply(
                &format!("rep{org}@org{org}.example"),
                &subject(r),
                "賛成\n",
                &format!("v{i}@o"),
                None,
            ),
            "2026-11-23T01:00:00Z",
        )
        .await;
    }
    t.set_now("2026-11-29T09:00:00Z");
    admin::close(&t.app, r, "test", t.app.now()).await.unwrap();
    let (mail, refs) = admin::digest(
        &t.app,
        crate::store::parse_date("2026-12-10").ok(),
        true,
        "schedule",
        t.app.now(),
    )
    .await
    .unwrap();
    assert_eq!(refs, [r]);
    let answer = reply(
        "support@committee.example",
        "Re: 確認事項",
        "確認済です。\n",
        "conf@committee",
        Some(&mail.message_id),
    );
    let p = feed(&t, "c1", answer, "2026-12-10T06:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Ratification);
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert!(
        matches!(b.ratification, crate::ballot::Ratification::Confirmed { meeting, .. } if meeting.to_string() == "2026-12-10")
    );
    assert_eq!(mails(&t, "ratified").await.len(), 1);
    assert!(t.app.store.pending_ratification().await.unwrap().is_empty());
}
