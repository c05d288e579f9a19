//! Members' answers: counted, replaced, late, unclear, cut, or from someone
//! without a vote.

use super::*;

#[tokio::test]
async fn a_yes_is_counted_and_the_receipt_goes_to_every_registered_address() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply(
            "alt1@org1.example",
            &subject(r),
            "賛成します。\n",
            "m1@org1",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Vote);
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(b.counts(&votes, 1).yes, 1);
    let receipts = mails(&t, "receipt").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        receipts[0].recipients,
        ["rep1@org1.example", "alt1@org1.example"]
    );
    assert!(receipts[0]
        .message_id
        .starts_with(&format!("{}.r1.receipt.", r.msgid_prefix())));
}

#[tokio::test]
async fn a_later_answer_replaces_an_earlier_one_and_both_are_kept() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    feed(
        &t,
        "1",
        reply("rep2@org2.example", &subject(r), "賛成\n", "a@org2", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    feed(
        &t,
        "2",
        reply(
            "rep2@org2.example",
            &subject(r),
            "反対します\n",
            "b@org2",
            None,
        ),
        "2026-11-24T01:00:00Z",
    )
    .await;
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(votes.len(), 2);
    let c = b.counts(&votes, 1);
    assert_eq!((c.yes, c.no), (0, 1));
    let last = mails(&t, "receipt").await.pop().unwrap();
    let text = String::from_utf8_lossy(&last.raw).to_string();
    let parsed = mail_parser::MessageParser::default()
        .parse(text.as_bytes())
        .unwrap();
    assert!(
        parsed.body_text(0).unwrap().contains("置き換え"),
        "the receipt says the earlier answer was replaced"
    );
}

#[tokio::test]
async fn a_reply_after_the_deadline_is_recorded_and_the_member_told_it_was_not_counted() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            &subject(r),
            "賛成\n",
            "late@org1",
            None,
        ),
        "2026-11-29T08:00:01Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Late);
    let b = t.app.store.load_ballot(r).await.unwrap().unwrap();
    let votes = t.app.store.votes(r).await.unwrap();
    assert_eq!(votes.len(), 1, "kept");
    assert_eq!(b.counts(&votes, 1).answered(), 0, "not counted");
    assert_eq!(mails(&t, "not_open").await.len(), 1);
}

#[tokio::test]
async fn strangers_and_observers_are_recorded_never_counted_never_answered() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply(
            "someone@else.example",
            &subject(r),
            "賛成\n",
            "s@else",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::NonMember);
    let p = feed(
        &t,
        "2",
        reply("obs@gov.example", &subject(r), "賛成\n", "o@gov", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::NonVoting);
    assert!(t.app.store.votes(r).await.unwrap().is_empty());
    assert_eq!(
        t.app.store.outbox(None).await.unwrap().len(),
        1,
        "only the announcement"
    );
}

#[tokio::test]
async fn the_ballot_is_found_from_in_reply_to_when_the_subject_lost_its_reference() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let irt = format!("{}.r1.announce@committee.example", r.msgid_prefix());
    let p = feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            "Re: 新規会員",
            "賛成です\n",
            "i@org1",
            Some(&irt),
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Vote);
    assert_eq!(p.ballot, Some(r));
}

#[tokio::test]
async fn an_unclear_answer_is_not_counted_and_the_member_is_asked() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            &subject(r),
            "賛成です。いや、反対です。\n",
            "u@org1",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Unclear);
    assert!(t.app.store.votes(r).await.unwrap().is_empty());
    assert_eq!(mails(&t, "unclear").await.len(), 1);
}

#[tokio::test]
async fn a_reply_the_mailbox_cut_is_kept_with_its_size_not_counted_and_the_member_told() {
    let t = TestApp::with(
        3,
        "2026-11-22T01:00:00Z",
        "[limits]\nmax_message_bytes = 65536\n",
    )
    .await;
    let r = open_ballot(&t).await;
    let body = format!("賛成します。\n\n{}", "資料を添付します。\n".repeat(8_000));
    let whole = reply("rep1@org1.example", &subject(r), &body, "big@org1", None);
    // What the IMAP mailbox hands over: the first 64 KiB, and the listed size.
    let mut f = fetched("1", whole[..65_536].to_vec(), "2026-11-23T01:00:00Z");
    f.size = whole.len();
    let p = process(&t.app, SRC, &f, None, t.app.now()).await.unwrap();
    assert_eq!(p.disposition, Disposition::Unclear);
    assert!(t.app.store.votes(r).await.unwrap().is_empty());
    let (size, kept, reason): (i64, i64, String) =
        sqlx::query_as("SELECT size, length(raw), reason FROM messages")
            .fetch_one(t.app.store.pool())
            .await
            .unwrap();
    assert_eq!((size as usize, kept), (whole.len(), 65_536));
    assert!(reason.contains("only its headers were read"), "{reason}");
    let told = mails(&t, "unclear").await;
    assert_eq!(told.len(), 1);
    let parsed = mail_parser::MessageParser::default()
        .parse(&told[0].raw)
        .unwrap();
    let body = parsed.body_text(0).unwrap();
    assert!(
        body.contains(&format!("メールが {} KB あり", whole.len().div_ceil(1024)))
            && body.contains("（64 KB まで）"),
        "{body}"
    );
}

#[tokio::test]
async fn a_delegation_under_a_rule_without_one_is_asked_about_not_counted() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply(
            "rep1@org1.example",
            &subject(r),
            "議長一任します。\n",
            "d@org1",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::Unclear);
    assert_eq!(mails(&t, "unclear").await.len(), 1);
}

#[tokio::test]
async fn garbage_bytes_are_recorded_with_a_reason_and_nothing_else_happens() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let p = feed(&t, "1", vec![0xff, 0x00, 0x13], "2026-11-23T01:00:00Z").await;
    assert!(matches!(
        p.disposition,
        Disposition::Malformed | Disposition::NoBallot
    ));
    assert!(t.app.store.outbox(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_bots_own_announcement_coming_back_through_the_list_is_automated() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    open_ballot(&t).await;
    let raw = t.app.store.outbox(None).await.unwrap()[0].raw.clone();
    let p = feed(&t, "1", raw, "2026-11-22T01:00:05Z").await;
    assert_eq!(p.disposition, Disposition::Automated);
    assert_eq!(t.app.store.outbox(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_member_whose_mail_holds_no_answer_is_told_so_and_what_to_do() {
    let cases = [
        (
            None,
            "資料が見当たりません。送っていただけますか。\n",
            "事務局（support@committee.example）",
        ),
        (
            Some("Re: [B-2026-001] 賛成"),
            "",
            "件名の回答は読み取りません",
        ),
        (None, "賛成？\n", "確かな回答として数えていません"),
        (None, "さんせい\n", "確かな回答として数えていません"),
        (None, "\n", "本文に何も書かれていませんでした"),
    ];
    for (subj, body, says) in cases {
        let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
        let r = open_ballot(&t).await;
        let s = subj.map(str::to_string).unwrap_or_else(|| subject(r));
        let p = feed(
            &t,
            "1",
            reply("rep2@org2.example", &s, body, "a@org2", None),
            "2026-11-23T01:00:00Z",
        )
        .await;
        // Nothing is counted; the member hears why.
        assert_eq!(p.disposition, Disposition::NoAnswer, "{body}");
        assert!(t.app.store.votes(r).await.unwrap().is_empty());
        let told = mails(&t, "no_answer").await;
        assert_eq!(told.len(), 1, "{body}");
        assert_eq!(told[0].recipients, ["rep2@org2.example"]);
        let text = text(&told[0]);
        assert!(text.contains(says), "{body}: {text}");
        assert!(
            text.contains("本文のいちばん上に「賛成」「反対」「棄権」"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_mail_without_an_answer_after_the_ballot_closed_gets_no_mail() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    crate::admin::cancel(&t.app, r, "取り下げ", "cli", t.app.now())
        .await
        .unwrap();
    let p = feed(
        &t,
        "1",
        reply(
            "rep2@org2.example",
            &subject(r),
            "ありがとうございました。\n",
            "a@org2",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::NoAnswer);
    assert!(mails(&t, "no_answer").await.is_empty());
}

#[tokio::test]
async fn a_member_asking_for_its_status_hears_its_own_answers_in_every_open_ballot() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let first = open_ballot(&t).await;
    let second = open_ballot(&t).await;
    feed(
        &t,
        "1",
        reply(
            "rep2@org2.example",
            &subject(first),
            "賛成\n",
            "a@org2",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    feed(
        &t,
        "2",
        reply(
            "rep3@org3.example",
            &subject(second),
            "反対\n",
            "a@org3",
            None,
        ),
        "2026-11-23T02:00:00Z",
    )
    .await;
    // A new mail, no ballot named: 状況.
    let p = feed(
        &t,
        "3",
        reply("rep2@org2.example", "状況", "状況\n", "q@org2", None),
        "2026-11-23T03:00:00Z",
    )
    .await;
    assert_eq!(p.disposition, Disposition::StatusQuery);
    let told = mails(&t, "status").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].recipients, ["rep2@org2.example"]);
    let text = text(&told[0]);
    // Its own answer in the first ballot, none in the second: org3's 反対 is not shown.
    let part = |r: BallotRef| {
        let at = text.find(&format!("[{r}]")).unwrap();
        text[at..].split("\n\n").next().unwrap().to_string()
    };
    assert!(part(first).contains("記録されている回答: 賛成"), "{text}");
    assert!(
        part(second).contains("記録されている回答: 未回答"),
        "{text}"
    );
    assert!(!text.contains("反対（"), "{text}");
    // Nothing was counted by asking.
    assert_eq!(t.app.store.votes(first).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_status_query_in_a_strangers_name_or_with_more_words_is_not_one() {
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    open_ballot(&t).await;
    let p = feed(
        &t,
        "1",
        reply("someone@elsewhere.example", "状況", "状況\n", "s@x", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_ne!(p.disposition, Disposition::StatusQuery);
    let p = feed(
        &t,
        "2",
        reply(
            "rep2@org2.example",
            "状況",
            "状況について相談させてください。\n",
            "c@org2",
            None,
        ),
        "2026-11-23T01:00:00Z",
    )
    .await;
    assert_ne!(p.disposition, Disposition::StatusQuery);
    assert!(mails(&t, "status").await.is_empty());
}

#[tokio::test]
async fn the_receipt_carries_the_hash_of_the_motion_the_announcement_printed() {
    use sha2::{Digest, Sha256};
    let t = TestApp::new(3, "2026-11-22T01:00:00Z").await;
    let r = open_ballot(&t).await;
    feed(
        &t,
        "1",
        reply("rep1@org1.example", &subject(r), "賛成\n", "m@org1", None),
        "2026-11-23T01:00:00Z",
    )
    .await;
    // Computed here from the motion as it was asked, not by the code under test.
    let expected = hex::encode(Sha256::digest(
        "株式会社サンプルの加盟を承認する。".as_bytes(),
    ));
    let short = &expected[..16];
    let receipt = text(&mails(&t, "receipt").await[0]);
    assert!(receipt.contains(short), "{receipt}");
    let announce = text(&mails(&t, "announce").await[0]);
    assert!(announce.contains(short), "{announce}");
}
