//! The ballot lifecycle through real Dovecot and Postfix: announcement to the
//! list, replies in UTF-8 and ISO-2022-JP, receipts, the result at the deadline,
//! a re-ballot, a late answer, the digest and ratification; and the daemon
//! answering a reply by itself.

use chrono::{Duration, Utc};

use crate::committee::{
    member, reply, subject_of, text_of, Client, Committee, BOT, CHAIR, LIST, SECRETARIAT, WAIT,
};

fn year() -> String {
    Utc::now().format("%Y").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_goes_from_announcement_to_ratification_through_real_servers() {
    let c = Committee::start(5).await;
    let r = format!("B-{}-001", year());
    let prefix = format!("b-{}-001.r1.", year());
    let out = c.cli(
        &[
            "open",
            "--title",
            "新規会員の加盟承認",
            "--body",
            "株式会社サンプルの加盟を承認する。",
            "--deadline",
            "48h",
        ],
        None,
    );
    assert!(out.contains(&format!("opened {r}")), "{out}");

    // The announcement reaches every member through the list.
    let mut announcement = None;
    for m in &c.members {
        let a = c.wait_for_id(m, &format!("{prefix}announce.")).await;
        assert!(
            subject_of(&a).contains(&format!("[{r}]")),
            "{}",
            subject_of(&a)
        );
        assert_eq!(
            a.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        assert!(a.header("Reply-To").unwrap().contains(BOT));
        let text = text_of(&a);
        assert!(text.contains("この行より上にご回答ください"), "{text}");
        assert!(
            text.contains("(火)")
                || text.contains("(水)")
                || text.contains("(木)")
                || text.contains("(金)")
                || text.contains("(土)")
                || text.contains("(日)")
                || text.contains("(月)")
        );
        assert!(text.contains("JST"), "{text}");
        announcement = Some(a);
    }
    let a = announcement.unwrap();

    // Four members answer: UTF-8 and ISO-2022-JP, quoting the whole ballot.
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成します。",
            Client::Thunderbird,
            "r1@org1.test",
        ),
    )
    .await;
    c.send(
        &member(2),
        &reply(
            &a,
            &member(2),
            "賛成いたします。",
            Client::OutlookJis,
            "r2@org2.test",
        ),
    )
    .await;
    c.send(
        &member(3),
        &reply(
            &a,
            &member(3),
            "反対します。理由：賛成するには資料が不足しています。",
            Client::Thunderbird,
            "r3@org3.test",
        ),
    )
    .await;
    c.send(
        &member(4),
        &reply(
            &a,
            &member(4),
            "異議ありません。",
            Client::OutlookJis,
            "r4@org4.test",
        ),
    )
    .await;
    c.stack.wait_for_messages(BOT, 5, WAIT).await; // the announcement's list copy and four replies

    let out = c.cli(&["poll"], None);
    assert!(out.contains("read 5 new message(s)"), "{out}");
    assert!(
        out.contains("vote 4") && out.contains("automated 1"),
        "{out}"
    );
    c.cli(&["tick"], None);

    // Each voter gets a receipt threaded under their reply, repeating what was recorded.
    for (i, id, word) in [
        (1, "r1@org1.test", "賛成"),
        (2, "r2@org2.test", "賛成"),
        (3, "r3@org3.test", "反対"),
    ] {
        let receipt = c
            .wait_for_id(&member(i), &format!("{prefix}receipt."))
            .await;
        assert_eq!(
            receipt.header("In-Reply-To").as_deref(),
            Some(format!("<{id}>").as_str())
        );
        assert_eq!(
            receipt.header("Auto-Submitted").as_deref(),
            Some("auto-replied")
        );
        assert!(
            text_of(&receipt).contains(&format!("回答　　: {word}")),
            "{}",
            text_of(&receipt)
        );
    }
    let v = c.show(&r);
    let counts = &v["current"]["counts"];
    assert_eq!(
        (
            counts["yes"].as_u64(),
            counts["no"].as_u64(),
            counts["abstain"].as_u64()
        ),
        (Some(3), Some(1), Some(0))
    );

    // A poll after the deadline, then the tick: the result goes to the list.
    let after = Utc::now() + Duration::hours(49);
    c.cli(&["poll"], Some(after));
    let out = c.cli(&["tick"], Some(after));
    assert!(out.contains("round 1 closed: approved"), "{out}");
    let result = c.wait_for_id(&member(5), &format!("{prefix}result.")).await;
    let text = text_of(&result);
    assert!(text.contains("結果: 承認"), "{text}");
    assert!(text.contains("4 × 2 = 8 ≥ 1 × 5 = 5"), "{text}");
    assert!(text.contains("会員5株式会社: 未回答"), "{text}");

    // The digest lands in the secretariat's mailbox; the meeting confirms.
    c.cli(
        &["digest", "--send", "--meeting", "2026-12-10"],
        Some(after + Duration::hours(1)),
    );
    let digest = c.wait_for_id(SECRETARIAT, "digest.").await;
    let text = text_of(&digest);
    assert!(
        subject_of(&digest).contains("メール審議 1件"),
        "{}",
        subject_of(&digest)
    );
    assert!(
        text.contains(&format!("[{r}] 新規会員の加盟承認")) && text.contains("結果: 承認"),
        "{text}"
    );
    let out = c.cli(
        &["ratify", "--meeting", "2026-12-10", "--all"],
        Some(after + Duration::days(3)),
    );
    assert!(out.contains(&r), "{out}");
    let v = c.show(&r);
    assert_eq!(v["ratification"]["status"], "confirmed");
    assert_eq!(v["ratification"]["meeting"], "2026-12-10");
    c.assert_record_holds();
}

// Dovecot stamps a message appended with a future INTERNALDATE with the present,
// so tests that need answers dated inside a window open the ballot in the past
// (`--now`) and append the answers with past dates, which the server keeps.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_that_is_not_valid_is_sent_again_as_round_two() {
    let c = Committee::start(5).await;
    let now = Utc::now();
    let t0 = now - Duration::days(12);
    let opened = c.cli(
        &[
            "open",
            "--title",
            "規約改定",
            "--body",
            "運営規約を改定する。",
            "--deadline",
            "48h",
        ],
        Some(t0),
    );
    let r = opened.split_whitespace().nth(1).unwrap().to_string();
    let year = &r[2..6];
    let a = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.announce."))
        .await;
    for i in 1..=2 {
        let at = (t0 + Duration::days(1)).fixed_offset();
        c.stack
            .append(
                BOT,
                &reply(
                    &a,
                    &member(i),
                    "賛成",
                    Client::Thunderbird,
                    &format!("x{i}@org{i}.test"),
                ),
                Some(at),
            )
            .await;
    }

    let after = t0 + Duration::hours(49);
    c.cli(&["poll"], Some(after));
    let out = c.cli(&["tick"], Some(after));
    assert!(out.contains("round 1 closed: reballot (round 2)"), "{out}");

    // The result (not valid) and the round-2 announcement (再審要請) reach the list.
    let result = c
        .wait_for_id(&member(3), &format!("b-{year}-001.r1.result."))
        .await;
    assert!(
        subject_of(&result).contains("不成立"),
        "{}",
        subject_of(&result)
    );
    let a2 = c
        .wait_for_id(&member(3), &format!("b-{year}-001.r2.announce."))
        .await;
    assert!(subject_of(&a2).contains("再審要請"), "{}", subject_of(&a2));
    assert!(a2
        .header("References")
        .unwrap()
        .contains(&format!("b-{year}-001.r1.announce.")));

    // Three answer inside round 2; the round is now valid. Round 1's answers do not carry over.
    for i in 1..=3 {
        let at = (after + Duration::days(1)).fixed_offset();
        let answer = if i == 3 { "反対" } else { "賛成" };
        c.stack
            .append(
                BOT,
                &reply(
                    &a2,
                    &member(i),
                    answer,
                    Client::Thunderbird,
                    &format!("y{i}@org{i}.test"),
                ),
                Some(at),
            )
            .await;
    }
    c.cli(&["poll"], Some(now));
    let out = c.cli(&["tick"], Some(now));
    assert!(
        out.contains("round 2 closed: approved"),
        "{out}\n{:#}",
        c.show(&r)["messages"]
    );
    let v = c.show(&r);
    assert_eq!(v["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(v["rounds"][0]["tally"]["outcome"], "not_valid");
    assert_eq!(v["rounds"][1]["tally"]["counts"]["yes"], 2);
    assert_eq!(v["rounds"][1]["tally"]["counts"]["no"], 1);
    assert_eq!(v["outcome"], "approved");
    c.assert_record_holds();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_the_server_received_after_the_deadline_is_recorded_and_the_member_told() {
    let c = Committee::start(3).await;
    let t0 = Utc::now() - Duration::days(3);
    let r = c.open_budget(Some(t0));
    let prefix = format!("b-{}-001.r1.", &r[2..6]);
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}announce."))
        .await;
    // Sent now over SMTP: the server receives it a day after the deadline.
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成です。",
            Client::Thunderbird,
            "late@org1.test",
        ),
    )
    .await;
    c.stack.wait_for_messages(BOT, 2, WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(out.contains("late 1"), "{out}");
    c.cli(&["tick"], None);
    let told = c
        .wait_for_id(&member(1), &format!("{prefix}not_open."))
        .await;
    assert!(text_of(&told).contains("回答期限"), "{}", text_of(&told));
    let v = c.show(&r);
    assert_eq!(v["votes"][0]["state"], "late");
    assert_eq!(v["rounds"][0]["tally"]["counts"]["yes"], 0);
    // Nobody answered in time: round 1 is not valid and the question goes out again.
    assert_eq!(v["rounds"][0]["tally"]["outcome"], "not_valid");
    assert_eq!(v["current"]["round"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chair_opens_a_ballot_by_mail_and_the_daemon_answers_a_reply_by_itself() {
    let c = Committee::start(3).await;
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);

    let open = format!(
        "From: 議長 <{CHAIR}>\r\nTo: <{BOT}>\r\nSubject: [ballot:open] =?UTF-8?B?5LqI566X5om/6KqN?=\r\nMessage-ID: <open-1@committee.test>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n締切: 3d@17:00\r\n\r\n令和9年度予算案を承認する。\r\n\r\n-- \r\n議長\r\n",
        Utc::now().to_rfc2822()
    );
    c.stack.send(CHAIR, &[BOT], open.as_bytes()).await;

    let prefix = format!("b-{}-001.r1.", year());
    let confirmation = c.wait_for_id(CHAIR, &format!("{prefix}opened.")).await;
    assert!(text_of(&confirmation).contains(&format!("B-{}-001", year())));
    let a = c
        .wait_for_id(&member(2), &format!("{prefix}announce."))
        .await;
    assert!(subject_of(&a).contains("予算承認"), "{}", subject_of(&a));
    assert!(text_of(&a).contains("令和9年度予算案を承認する。"));

    // IDLE: the reply is read and acknowledged with no poll from outside.
    c.send(
        &member(2),
        &reply(
            &a,
            &member(2),
            "賛成です。",
            Client::OutlookJis,
            "d2@org2.test",
        ),
    )
    .await;
    let receipt = c
        .wait_for_id(&member(2), &format!("{prefix}receipt."))
        .await;
    assert!(text_of(&receipt).contains("賛成"));

    daemon.kill().unwrap();
    daemon.wait().unwrap();
    // Members-only information stays out of the log at info level.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("message recorded"), "{logged}");
    for secret in [member(2).as_str(), "賛成", "予算", CHAIR, LIST] {
        assert!(
            !logged.contains(secret),
            "the log shows `{secret}`:\n{logged}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_writes_jokyo_gets_its_own_organisations_answers_by_mail() {
    let c = Committee::start(3).await;
    let r = c.open_budget(None);
    let a = c.announcement(&r, 1).await;
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成です。",
            Client::Thunderbird,
            "yes@org1.test",
        ),
    )
    .await;
    c.send(
        &member(2),
        &reply(
            &a,
            &member(2),
            "反対します。",
            Client::Thunderbird,
            "no@org2.test",
        ),
    )
    .await;
    // A new mail from a phone: subject and body 状況, nothing else.
    let ask = format!(
        "From: <{m}>\r\nTo: <{BOT}>\r\nSubject: =?UTF-8?B?54q25rOB?=\r\nMessage-ID: <ask@org1.test>\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n状況\r\n",
        Utc::now().to_rfc2822(),
        m = member(1)
    );
    c.send(&member(1), ask.as_bytes()).await;
    c.stack.wait_for_messages(BOT, 3, WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(out.contains("status_query 1"), "{out}");
    c.cli(&["tick"], None);
    let status = c.wait_for_id(&member(1), "status.").await;
    let text = text_of(&status);
    assert!(text.contains(&format!("[{r}]")), "{text}");
    assert!(text.contains("記録されている回答: 賛成"), "{text}");
    // Only its own organisation's: member 2's 反対 is not in it.
    assert!(!text.contains("反対（"), "{text}");
    assert!(status
        .header("In-Reply-To")
        .unwrap()
        .contains("ask@org1.test"));
    c.assert_record_holds();
}
