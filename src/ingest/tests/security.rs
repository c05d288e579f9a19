//! Sender verification, personal reply tokens, answers to another round or
//! ballot, disputes (身に覚えがない) and floods.

use super::*;
use crate::app::AppError;
use crate::domain::Address;
use crate::verify::policy::Verification;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_vote_is_not_counted_and_the_member_and_security_contact_are_told() {
    use crate::verify::policy::Method;
    let mut t = TestApp::with(3, "2026-11-22T01:00:00Z", "").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Token, Method::Dkim]);
    let r = open_ballot(&t).await;
    assert_eq!(
        mails(&t, "personal").await.len(),
        3,
        "one personal ballot per organisation"
    );
    let p = feed(
        &t,
        "1",
        reply("rep1@org1.example", &subject(r), "賛成\n", "forged@x", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Unverified);
    let votes = t.app.store.votes(r).await.unwrap();
    assert!(votes.is_empty(), "{votes:?}");
    let told = mails(&t, "unverified").await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].recipients,
        ["rep1@org1.example", "alt1@org1.example"]
    );
    let incidents = mails(&t, "incident").await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].recipients, ["csirt@committee.example"]);
    assert_eq!(
        t.app.store.incidents().await.unwrap()[0].2,
        "verification_failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_the_personal_ballot_counts_and_one_to_another_round_does_not() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    with_verifier(&mut t, &[Method::Token]);
    let r = open_ballot(&t).await;
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    let org1 = b
        .roster
        .organisation(&crate::domain::OrgId::parse("org01").unwrap())
        .unwrap();
    assert_eq!(
        t.app.personal_reply_to(&b, org1).unwrap().to_string(),
        token_address(&t, r, 1, "org01"),
        "reminders carry the same personal reply address"
    );
    let good = to(
        reply("rep1@org1.example", &subject(r), "賛成\n", "ok@org1", None),
        &token_address(&t, r, 1, "org01"),
    );
    assert_eq!(
        feed(&t, "1", good, "2026-11-23T01:00:00Z")
            .await
            .disposition,
        Disposition::Vote
    );
    // org2's token used by org2 but for a round that is not open.
    let stale = to(
        reply("rep2@org2.example", &subject(r), "賛成\n", "old@org2", None),
        &token_address(&t, r, 2, "org02"),
    );
    let p = feed(&t, "2", stale, "2026-11-23T02:00:00Z").await;
    assert_eq!(
        p.disposition,
        Disposition::Unverified,
        "a token for a round that does not exist verifies nothing"
    );
    // org1's token used from org2's address does not verify org2.
    let borrowed = to(
        reply("rep2@org2.example", &subject(r), "反対\n", "b@org2", None),
        &token_address(&t, r, 1, "org01"),
    );
    assert_eq!(
        feed(&t, "3", borrowed, "2026-11-23T03:00:00Z")
            .await
            .disposition,
        Disposition::Unverified
    );
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(votes.len(), 1);
    let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
        .await
        .unwrap();
    assert_eq!(rep.differences, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_the_first_rounds_mail_is_not_counted_in_the_second() {
    let t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    // Nobody answers round 1: the rule calls for a re-ballot (再審要請).
    t.set_now("2026-11-29T08:01:00Z");
    let (b, _) = admin::close(&t.app, r, "cli", t.app.now()).await.unwrap();
    assert_eq!(b.current_round().number, 2);
    let round1 = format!(
        "{}.r1.announce@{}",
        r.msgid_prefix(),
        t.app.config.message_id_domain()
    );
    let p = feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "late@org1",
            Some(&round1),
        ),
        "2026-11-29T09:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::NotCounted);
    assert!(t.app.store.votes(r).await.unwrap().is_empty());
    let told = mails(&t, "not_open").await;
    assert_eq!(told.len(), 1);
    let body = text(&told[0]);
    assert!(body.contains("第1回のご案内への返信"), "{body}");
    let round2 = format!(
        "{}.r2.announce@{}",
        r.msgid_prefix(),
        t.app.config.message_id_domain()
    );
    let p = feed(
        &t,
        "2",
        reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "new@org1",
            Some(&round2),
        ),
        "2026-11-29T09:05:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Vote);
    let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
        .await
        .unwrap();
    assert_eq!(rep.differences, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disputed_vote_stops_counting_until_an_admin_decides() {
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    let r = open_ballot(&t).await;
    feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            &subject(r),
            "反対\n",
            "real@org1",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    feed(
        &t,
        "2",
        reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "forged@org1",
            None,
        ),
        "2026-11-23T02:00:00Z",
    )
    .await;
    let receipt = mails(&t, "receipt").await.pop().unwrap();
    let receipt_subject = mail_parser::MessageParser::default()
        .parse(&receipt.raw)
        .unwrap()
        .subject()
        .unwrap()
        .to_string();
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert_eq!(b.counts(&t.app.store.votes(r).await.unwrap(), 1).yes, 1);

    // Someone who is not org1 cannot dispute org1's vote.
    let stranger = reply(
        "rep2@org2.example",
        &format!("Re: {receipt_subject}"),
        "身に覚えがない\n",
        "s@org2",
        Some(&receipt.message_id),
    );
    assert_ne!(
        feed(&t, "3", stranger, "2026-11-23T03:00:00Z")
            .await
            .disposition,
        Disposition::Dispute
    );

    let alt = reply(
        "alt1@org1.example",
        &format!("Re: {receipt_subject}"),
        "身に覚えがありません。\n",
        "d@org1",
        Some(&receipt.message_id),
    );
    assert_eq!(
        feed(&t, "4", alt, "2026-11-23T04:00:00Z").await.disposition,
        Disposition::Dispute
    );
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(votes.len(), 2, "the disputed vote is kept");
    let counts = b.counts(&votes, 1);
    assert_eq!(
        (counts.yes, counts.no),
        (0, 1),
        "the earlier genuine answer counts again"
    );
    assert_eq!(
        mails(&t, "disputed").await[0].recipients,
        ["rep1@org1.example", "alt1@org1.example"]
    );
    assert!(mails(&t, "incident")
        .await
        .iter()
        .any(|m| text(m).contains("dispute")));
    let d = t.app.store.disputes(Some(r)).await.unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].state, "open");

    // The admin dismisses it: the vote counts again.
    let org1 = crate::domain::OrgId::parse("org01").unwrap();
    let decided = admin::resolve_dispute(
        &t.app,
        r,
        &org1,
        false,
        Some("confirmed by phone"),
        "cli",
        t.app.now(),
    )
    .await
    .unwrap();
    assert_eq!(decided.resolved, 1);
    // The organisation hears the decision at all its registered addresses.
    let told = mails(&t, "dispute_decided").await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].recipients,
        ["rep1@org1.example", "alt1@org1.example"]
    );
    let said = text(&told[0]);
    assert!(said.contains("あらためて集計に含めます"), "{said}");
    assert!(said.contains("confirmed by phone"), "{said}");
    let counts = b.counts(&t.app.store.votes(r).await.unwrap(), 1);
    assert_eq!((counts.yes, counts.no), (1, 0));
    let rep = crate::audit::replay(&t.app.store, &t.app.config, &t.app.read_options)
        .await
        .unwrap();
    assert_eq!(rep.differences, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_mail_passes_the_same_verification_as_votes() {
    use crate::verify::policy::Method;
    use crate::verify::testing::Signer;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Dkim]);
    let signer = Signer::ed25519("committee.example", "sel1");
    signer.publish(t.app.verifier.as_ref().unwrap().dkim.as_ref().unwrap());
    let open = |id: &str| {
        reply(
            "chair@committee.example",
            "[ballot:open] 令和9年度予算の承認",
            "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
            id,
            None,
        )
    };
    // Unsigned: anyone could have written the chair's From.
    let p = feed(&t, "1", open("forged@x"), "2026-11-22T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Unverified);
    assert!(
        t.app.store.list_ballots().await.unwrap().is_empty(),
        "no ballot opened"
    );
    assert_eq!(mails(&t, "incident").await.len(), 1);
    // The chair hears that the request was not acted on, at the address claimed.
    let told = mails(&t, "unverified").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].recipients, ["chair@committee.example"]);
    assert!(
        text(&told[0]).contains("処理していません"),
        "{}",
        text(&told[0])
    );
    // A second forgery within the hour is recorded; the chair is not told again.
    feed(&t, "1b", open("forged2@x"), "2026-11-22T01:00:30Z").await;
    assert_eq!(mails(&t, "unverified").await.len(), 1);
    // Signed by the chair's domain: opened.
    let signed = signer.sign(&String::from_utf8(open("signed@committee")).unwrap());
    let p = feed(&t, "2", signed.into_bytes(), "2026-11-22T01:01:00Z").await;
    assert_eq!(p.disposition, Disposition::AdminOpened);
    assert_eq!(t.app.store.list_ballots().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_silent_dns_is_not_waited_for_but_a_members_is() {
    use crate::verify::policy::Method;
    use crate::verify::testing::Signer;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    with_verifier(&mut t, &[Method::Dkim]);
    let r = open_ballot(&t).await;
    // Signed with keys no DNS answers for: the check can only say temperror.
    let signed = |from: &str, domain: &str, id: &str| {
        let raw = reply(from, &subject(r), "賛成\n", id, None);
        Signer::ed25519(domain, "unpublished")
            .sign(&String::from_utf8(raw).unwrap())
            .into_bytes()
    };
    let stranger = signed("someone@elsewhere.example", "elsewhere.example", "s@x");
    let p = feed(&t, "1", stranger, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Unverified, "decided at once");
    let row = &t.app.store.messages_for(r).await.unwrap()[0];
    let v: Verification = serde_json::from_str(row.verification_json.as_deref().unwrap()).unwrap();
    assert!(v.summary().contains("not waited for"), "{}", v.summary());

    let member = signed("rep1@org1.example", "org1.example", "m@org1");
    let e = process(
        &t.app,
        SRC,
        &fetched("2", member, "2026-11-23T01:00:00Z"),
        None,
        t.app.now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AppError::Deferred(_)), "{e}");
    assert_eq!(
        t.app.store.messages_for(r).await.unwrap().len(),
        1,
        "the member's message is read again later, not recorded now"
    );
}

fn reply_to_of(m: &crate::store::OutboxMail) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
    parsed
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_token_policy_a_receipt_carries_the_token_and_a_dispute_of_it_verifies() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Token]);
    let r = open_ballot(&t).await;
    let personal = token_address(&t, r, 1, "org01");
    // Someone who saw org01's personal reply address votes with it.
    let leaked = to(
        reply("alt1@org1.example", &subject(r), "賛成\n", "leak@x", None),
        &personal,
    );
    assert_eq!(
        feed(&t, "1", leaked, "2026-11-23T01:00:00Z")
            .await
            .disposition,
        Disposition::Vote
    );
    let receipt = mails(&t, "receipt").await.pop().unwrap();
    assert_eq!(reply_to_of(&receipt).as_deref(), Some(personal.as_str()));

    // The representative's 身に覚えがない to the bot's plain address proves nothing…
    let plain = reply(
        "rep1@org1.example",
        "Re: 回答を受け付けました",
        "身に覚えがありません。\n",
        "d1@org1",
        Some(&receipt.message_id),
    );
    assert_eq!(
        feed(&t, "2", plain.clone(), "2026-11-23T02:00:00Z")
            .await
            .disposition,
        Disposition::Unverified
    );
    // …but answering the receipt (its Reply-To) does: the vote is disputed.
    let answered = String::from_utf8(plain)
        .unwrap()
        .replace("<d1@org1>", "<d2@org1>")
        .into_bytes();
    let p = feed(&t, "3", to(answered, &personal), "2026-11-23T02:05:00Z").await;
    assert_eq!(p.disposition, Disposition::Dispute);
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    assert_eq!(b.counts(&t.app.store.votes(r).await.unwrap(), 1).yes, 0);
    let ack = mails(&t, "disputed").await.pop().unwrap();
    assert_eq!(reply_to_of(&ack).as_deref(), Some(personal.as_str()));
    // The notices and the unverified warning carry it too.
    let told = mails(&t, "unverified").await.pop().unwrap();
    assert_eq!(reply_to_of(&told).as_deref(), Some(personal.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_an_earlier_rounds_personal_mail_is_answered_and_raises_no_incident() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(4, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Token]);
    let r = open_ballot(&t).await;
    t.set_now("2026-11-29T08:01:00Z");
    let (b, _) = admin::close(&t.app, r, "cli", t.app.now()).await.unwrap();
    assert_eq!(b.current_round().number, 2);
    // org01's reply to its round-1 personal mail, sent during round 2.
    let old = to(
        reply("rep1@org1.example", &subject(r), "賛成\n", "old@org1", None),
        &token_address(&t, r, 1, "org01"),
    );
    let p = feed(&t, "1", old, "2026-11-29T09:00:00Z").await;
    assert_eq!(p.disposition, Disposition::NotCounted);
    assert!(t.app.store.votes(r).await.unwrap().is_empty());
    // A member answering the old mail late: nothing for the security contact.
    let incidents = t.app.store.incidents().await.unwrap();
    assert!(incidents.is_empty(), "{incidents:?}");
    assert!(mails(&t, "incident").await.is_empty());
    // The member is asked to answer round 2, at its round-2 reply address.
    let asked = mails(&t, "not_open").await.pop().unwrap();
    assert_eq!(
        reply_to_of(&asked).as_deref(),
        Some(token_address(&t, r, 2, "org01").as_str())
    );
    // A reply through the round-2 address counts, with no incident.
    let new = to(
        reply("rep1@org1.example", &subject(r), "賛成\n", "new@org1", None),
        &token_address(&t, r, 2, "org01"),
    );
    assert_eq!(
        feed(&t, "2", new, "2026-11-29T09:05:00Z").await.disposition,
        Disposition::Vote
    );
    assert!(t.app.store.incidents().await.unwrap().is_empty());
}

/// org01's reply answering two open ballots at once, `B-… 賛成` / `B-… 反対`,
/// sent to the personal reply address of the first.
fn two_ballot_reply(t: &TestApp, r1: BallotRef, r2: BallotRef, id: &str) -> Vec<u8> {
    to(
        reply(
            "rep1@org1.example",
            &format!("Re: [{r1}] 【メール審議】新規会員の加盟承認"),
            &format!("{r1} 賛成\n{r2} 反対\n"),
            id,
            None,
        ),
        &token_address(t, r1, 1, "org01"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_ballot_reply_at_one_ballots_token_counts_there_and_asks_again_for_the_other() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Token]);
    let (r1, r2) = (open_ballot(&t).await, open_ballot(&t).await);
    let raw = two_ballot_reply(&t, r1, r2, "both@org1");
    let p = feed(&t, "1", raw, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Several);
    assert_eq!(t.app.store.votes(r1).await.unwrap().len(), 1);
    assert!(t.app.store.votes(r2).await.unwrap().is_empty());
    // Told, at r2's own reply address, that its answer did not count and why;
    // nobody is told of a replay that did not happen.
    let told = mails(&t, "not_verified").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].ballot.as_deref(), Some(r2.to_string().as_str()));
    assert_eq!(
        reply_to_of(&told[0]).as_deref(),
        Some(token_address(&t, r2, 1, "org01").as_str())
    );
    assert!(t.app.store.incidents().await.unwrap().is_empty());
    assert!(mails(&t, "incident").await.is_empty());
    let reason = t.app.store.messages_for(r1).await.unwrap()[0]
        .reason
        .clone();
    assert!(reason.contains("verifies only that ballot"), "{reason}");
    // Answering that mail counts.
    let again = to(
        reply(
            "rep1@org1.example",
            &subject(r2),
            "反対\n",
            "again@org1",
            None,
        ),
        &token_address(&t, r2, 1, "org01"),
    );
    let p = feed(&t, "2", again, "2026-11-23T01:05:00Z").await;
    assert_eq!(p.disposition, Disposition::Vote);
    assert_eq!(t.app.store.votes(r2).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_ballot_reply_verified_by_our_servers_results_counts_in_both_ballots() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    with_verifier(&mut t, &[Method::Token, Method::Authres]);
    let (r1, r2) = (open_ballot(&t).await, open_ballot(&t).await);
    let raw = two_ballot_reply(&t, r1, r2, "both@org1");
    let raw = [
        b"Authentication-Results: mx.committee.example; dkim=pass header.d=org1.example\r\nReceived: from mail.org1.example by mx.committee.example\r\n"
            .as_slice(),
        &raw,
    ]
    .concat();
    let p = feed(&t, "1", raw, "2026-11-23T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::Several);
    let record = t.app.store.messages_for(r1).await.unwrap();
    assert_eq!(t.app.store.votes(r1).await.unwrap().len(), 1, "{record:?}");
    assert_eq!(t.app.store.votes(r2).await.unwrap().len(), 1, "{record:?}");
    assert!(mails(&t, "not_verified").await.is_empty());
    assert!(t.app.store.incidents().await.unwrap().is_empty());
    assert_eq!(mails(&t, "receipt").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_mail_through_a_list_that_rewrites_from_is_answered_at_the_admins_address() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    with_verifier(&mut t, &[Method::Authres]);
    t.app.verifier.as_mut().unwrap().policy.trusted_list_headers = vec!["X-Original-From".into()];
    let raw = String::from_utf8(reply(
        "steering@committee.example",
        "[ballot:open] 令和9年度予算の承認",
        "締切: 2026-12-04 17:00\n\n令和9年度予算案を承認する。\n",
        "open@committee",
        None,
    ))
    .unwrap()
    .replace("From: Member <steering@committee.example>", "From: \"Chair via Steering\" <steering@committee.example>\r\nX-Original-From: chair@committee.example");
    let raw = format!("Authentication-Results: mx.committee.example; dkim=pass header.d=committee.example\r\nReceived: from lists.committee.example by mx.committee.example\r\n{raw}");
    let p = feed(&t, "1", raw.into_bytes(), "2026-11-22T01:00:00Z").await;
    assert_eq!(p.disposition, Disposition::AdminOpened);
    let opened = mails(&t, "opened").await;
    assert_eq!(opened[0].recipients, ["chair@committee.example"]);
    let events = crate::store::events::for_ballot(&t.app.store, p.ballot.unwrap())
        .await
        .unwrap();
    assert_eq!(events[0].actor, "mail:chair@committee.example");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_forgeries_warns_the_member_once_an_hour_and_mails_the_contact_a_few_times() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    t.app.config.addresses.security_contact =
        vec![Address::parse("csirt@committee.example").unwrap()];
    t.app.config.limits.messages_per_sender_per_hour = 3;
    with_verifier(&mut t, &[Method::Dkim]);
    let r = open_ballot(&t).await;
    t.set_now("2026-11-23T01:00:00Z");
    for i in 0..10 {
        let forged = reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            &format!("forged{i}@x"),
            None,
        );
        let p = feed(&t, &i.to_string(), forged, "2026-11-23T01:00:00Z").await;
        assert_eq!(p.disposition, Disposition::Unverified);
    }
    assert_eq!(
        t.app.store.messages_for(r).await.unwrap().len(),
        10,
        "every message recorded"
    );
    assert_eq!(
        mails(&t, "unverified").await.len(),
        1,
        "one warning per hour"
    );
    let incidents = t.app.store.incidents().await.unwrap();
    let failed: Vec<_> = incidents
        .iter()
        .filter(|i| i.2 == "verification_failed")
        .collect();
    assert_eq!(failed.len(), 10, "every message is an incident on record");
    let merged = failed
        .iter()
        .filter(|i| i.4.contains("merged into #"))
        .count();
    assert_eq!(merged, 7);
    assert!(incidents.iter().any(|i| i.2 == "burst"));
    // Three verification failures and the burst are mailed; the rest are not.
    assert_eq!(mails(&t, "incident").await.len(), 4);
    // An hour later the member is warned again.
    t.set_now("2026-11-23T02:30:00Z");
    let again = reply(
        "rep1@org1.example",
        &subject(r),
        "賛成\n",
        "forged-late@x",
        None,
    );
    feed(&t, "late", again, "2026-11-23T02:30:00Z").await;
    assert_eq!(mails(&t, "unverified").await.len(), 2);
    assert_eq!(mails(&t, "incident").await.len(), 5);
}

#[tokio::test]
async fn under_a_token_policy_the_list_copy_asks_members_to_answer_their_personal_mail() {
    use crate::verify::policy::Method;
    let mut t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    with_verifier(&mut t, &[Method::Token]);
    open_ballot(&t).await;
    let copy = mails(&t, "announce").await;
    let personal = mails(&t, "personal").await;
    assert_eq!((copy.len(), personal.len()), (1, 3));
    let copy = text(&copy[0]);
    assert!(copy.contains("個別のメールに返信してください"), "{copy}");
    assert!(!copy.contains("このメールに返信し、"), "{copy}");
    // The personal copies still say: reply to this mail.
    assert!(text(&personal[0]).contains("このメールに返信し、"));
}
