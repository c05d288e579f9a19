//! Holes an attacker found (issue 17), closed and held shut on the real mail
//! stack: a planted copy never stops the bot's mail, a borrowed Message-ID
//! never drops a member's vote, and a reply that answers several ballots
//! counts in each or says why not.

use chrono::{Duration, Utc};

use crate::committee::{
    address, member, reply, Client, Committee, BOT, CHAIR, SECRETARIAT, VERIFY_BY_TOKEN,
};

/// `show REF --json`'s outbox row of the first mail of `kind`.
fn outbox_row(c: &Committee, r: &str, kind: &str) -> serde_json::Value {
    let v = c.show(r);
    v["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the outbox: {:#}", v["outbox"]))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_message_with_the_id_of_an_interrupted_mail_never_stops_it_being_sent() {
    let mut c = Committee::start(3).await;
    let t0 = Utc::now();
    // The relay is down when the ballot opens: the announcement's send begins
    // and fails, and the outbox cannot tell whether it got through.
    c.stack.stop_postfix().await;
    let r = c.open_budget(Some(t0));
    let announce = outbox_row(&c, &r, "announce");
    assert!(announce["sent_at"].is_null(), "{announce:#}");
    let id = announce["message_id"].as_str().unwrap().to_string();
    // The ID carries the installation's tag: nothing to predict it from.
    let prefix = format!("{}.r1.announce.", r.to_lowercase());
    let tag = id.strip_prefix(&prefix).unwrap().split('@').next().unwrap();
    assert_eq!(tag.len(), 16, "{id}");

    // Whoever learns the ID anyway plants copies of "the bot's mail" in its
    // mailbox: one from a stranger, one forging the bot's own From.
    for (from, n) in [("mallory@evil.test", 1), (BOT, 2)] {
        let decoy = format!(
            "From: <{from}>\r\nTo: <steering@committee.test>\r\nSubject: [{r}] 予算承認\r\nMessage-ID: <{id}>\r\nAuto-Submitted: auto-generated\r\nDate: {}\r\n\r\ndecoy {n}\r\n",
            t0.to_rfc2822()
        );
        c.stack
            .append(
                BOT,
                decoy.as_bytes(),
                Some((t0 + Duration::seconds(20)).fixed_offset()),
            )
            .await;
    }
    c.stack.start_postfix().await;
    // The reader records both; a minute and more later the outbox looks for
    // its copy, finds none of its own, and sends the announcement again.
    c.cli(&["poll"], Some(t0 + Duration::minutes(2)));
    c.cli(&["tick"], Some(t0 + Duration::minutes(3)));
    let got = c.wait_for_id(&member(1), &prefix).await;
    assert_eq!(got.header("Message-ID").unwrap().trim(), format!("<{id}>"));
    let announce = outbox_row(&c, &r, "announce");
    assert!(!announce["sent_at"].is_null(), "{announce:#}");
    c.assert_record_holds();
}

/// Opens a ballot at `at`; returns its reference.
fn open(c: &Committee, title: &str, at: chrono::DateTime<Utc>) -> String {
    let opened = c.cli(
        &[
            "open",
            "--title",
            title,
            "--body",
            "議案を承認する。",
            "--deadline",
            "48h",
        ],
        Some(at),
    );
    opened.split_whitespace().nth(1).unwrap().to_string()
}

/// Reads the mailbox until `show` lists `n` messages about the ballot whose
/// Message-IDs are among `ids` (the bot's own copies are listed too).
async fn poll_until(c: &Committee, r: &str, ids: &[&str], n: usize) -> serde_json::Value {
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    loop {
        c.cli(&["poll"], None);
        let v = c.show(r);
        let seen = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| ids.iter().any(|id| m["message_id"] == *id))
            .count();
        if seen >= n {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} message(s) about {r} were never read\n{:#}",
            v["messages"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_borrowing_a_members_message_id_never_drops_the_members_vote() {
    let c = Committee::start(3).await;
    let t0 = Utc::now() - Duration::hours(1);
    let r = open(&c, "予算承認", t0);
    let a = c.announcement(&r, 1).await;
    // org02 answers first, under the Message-ID org01's client will use (a
    // guessable one, or one seen on an earlier mail that org01 resends).
    let id = "reply-2026@org1.test";
    c.send(
        &member(2),
        &reply(&a, &member(2), "反対します。", Client::Thunderbird, id),
    )
    .await;
    c.stack
        .wait_for_messages(BOT, 2, crate::committee::WAIT)
        .await;
    c.send(
        &member(1),
        &reply(&a, &member(1), "賛成します。", Client::Thunderbird, id),
    )
    .await;
    let v = poll_until(&c, &r, &[id], 2).await;
    let votes = v["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 2, "{votes:#?}");
    assert!(
        votes
            .iter()
            .any(|v| v["org"] == "org01" && v["position"] == "yes"),
        "{votes:#?}"
    );
    let theirs = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_id"] == id)
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(theirs.len(), 2, "{theirs:#?}");
    assert!(
        theirs.iter().all(|m| m["disposition"] == "vote"),
        "{theirs:#?}"
    );
    assert!(
        theirs[1]["reason"]
            .as_str()
            .unwrap()
            .contains("from another sender"),
        "{theirs:#?}"
    );
    c.cli(&["tick"], None);
    // org01 receives the receipt of its own answer.
    let receipt = c
        .wait_for_id(&member(1), &format!("{}.r1.receipt.", r.to_lowercase()))
        .await;
    assert!(crate::committee::text_of(&receipt).contains("賛成"));
    // Two members' mail that share a Message-ID is no replay.
    let incidents = c.cli(&["incidents"], None);
    assert_eq!(incidents.trim(), "no incidents", "{incidents}");
    c.assert_record_holds();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_two_ballots_counts_where_it_is_verified_and_says_why_not_elsewhere() {
    let c = Committee::start_with(3, VERIFY_BY_TOKEN).await;
    let t0 = Utc::now() - Duration::hours(1);
    let r1 = open(&c, "予算承認", t0);
    let r2 = open(&c, "規約改定", t0);
    let personal = c
        .wait_for_id(&member(1), &format!("{}.r1.personal.", r1.to_lowercase()))
        .await;
    let reply_to = address(&personal.header("Reply-To").unwrap());
    // One reply to the first personal mail, answering both ballots.
    let both = String::from_utf8(reply(
        &personal,
        &member(1),
        &format!("{r1} 賛成\n{r2} 反対"),
        Client::Thunderbird,
        "both@org1.test",
    ))
    .unwrap()
    .replace(&format!("To: <{BOT}>"), &format!("To: <{reply_to}>"))
    .into_bytes();
    c.stack.send(&member(1), &[&reply_to], &both).await;
    let v1 = poll_until(&c, &r1, &["both@org1.test"], 1).await;
    c.cli(&["tick"], None);
    assert_eq!(
        v1["votes"].as_array().unwrap().len(),
        1,
        "{:#}",
        v1["votes"]
    );
    let v2 = c.show(&r2);
    assert!(
        v2["votes"].as_array().unwrap().is_empty(),
        "{:#}",
        v2["votes"]
    );

    // org01 is told, for r2, that its answer did not count and why, in a mail
    // whose reply address is r2's own; answering it counts.
    let told = c
        .wait_for_id(
            &member(1),
            &format!("{}.r1.not_verified.", r2.to_lowercase()),
        )
        .await;
    let text = crate::committee::text_of(&told);
    assert!(
        text.contains("集計されませんでした") && text.contains(&r1),
        "{text}"
    );
    let reply_to2 = address(&told.header("Reply-To").unwrap());
    assert_ne!(reply_to2, reply_to);
    let again = String::from_utf8(reply(
        &told,
        &member(1),
        "反対",
        Client::Thunderbird,
        "again@org1.test",
    ))
    .unwrap()
    .replace(&format!("To: <{BOT}>"), &format!("To: <{reply_to2}>"))
    .into_bytes();
    c.stack.send(&member(1), &[&reply_to2], &again).await;
    let v2 = poll_until(&c, &r2, &["again@org1.test"], 1).await;
    let votes = v2["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{votes:#?}");
    assert_eq!(votes[0]["position"], "no");
    // Nothing here was a replay: the security contact hears nothing.
    let incidents = c.cli(&["incidents"], None);
    assert_eq!(incidents.trim(), "no incidents", "{incidents}");
    c.assert_record_holds();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_reports_reach_the_security_contact_at_once_past_the_hourly_allowance() {
    let extra = format!("{VERIFY_BY_TOKEN}\n[limits]\nmails_per_address_per_hour = 1\n");
    let c = Committee::start_with(3, &extra).await;
    let t0 = Utc::now() - Duration::hours(1);
    let r = open(&c, "予算承認", t0);
    let a = c.announcement(&r, 3).await;
    // Two answers in members' names that no token verifies: two incidents.
    let mut ids = Vec::new();
    for i in [1, 2] {
        let id = format!("forged{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(&a, &member(i), "賛成", Client::Thunderbird, &id),
        )
        .await;
        ids.push(id);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    poll_until(&c, &r, &ids, 2).await;
    c.cli(&["tick"], None);
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    loop {
        let reports = c
            .stack
            .messages(crate::committee::CSIRT)
            .await
            .into_iter()
            .filter(|m| {
                m.header("Message-ID")
                    .is_some_and(|id| id.contains(".incident."))
            })
            .count();
        if reports == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{reports} of 2 incident reports arrived; the rest wait for the allowance\n{:#}",
            c.show(&r)["outbox"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Polls and ticks until a mail whose Message-ID starts with `prefix` beyond
/// the `seen` ones reaches `user`; returns it.
async fn next_mail(
    c: &Committee,
    user: &str,
    prefix: &str,
    seen: usize,
) -> crate::harness::StoredMessage {
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    loop {
        c.cli(&["poll"], None);
        c.cli(&["tick"], None);
        let found: Vec<_> = c
            .stack
            .messages(user)
            .await
            .into_iter()
            .filter(|m| {
                m.header("Message-ID")
                    .is_some_and(|id| id.trim_start_matches('<').starts_with(prefix))
            })
            .collect();
        if found.len() > seen {
            return found.into_iter().nth(seen).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new {prefix}… mail reached {user}\n{}",
            c.stack.log_tail(30)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The chair's reply to the digest `digest`, confirming everything.
fn chair_confirms(digest: &crate::harness::StoredMessage, id: &str) -> Vec<u8> {
    let irt = digest.header("Message-ID").unwrap();
    format!(
        "From: Chair <{CHAIR}>\r\nTo: <{BOT}>\r\nSubject: Re: confirmation\r\nMessage-ID: <{id}>\r\nIn-Reply-To: {irt}\r\nReferences: {irt}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n確認済\r\n",
        Utc::now().to_rfc2822()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_confirmation_by_mail_needs_a_meeting_on_the_calendar_and_the_secretariat_hears_of_it(
) {
    let c = Committee::start(3).await;
    let r = open(&c, "予算承認", Utc::now() - Duration::hours(1));
    let a = c.announcement(&r, 1).await;
    for i in [1, 2] {
        let id = format!("yes{i}@org{i}.test");
        c.send(
            &member(i),
            &reply(&a, &member(i), "賛成", Client::Thunderbird, &id),
        )
        .await;
    }
    c.stack
        .wait_for_messages(BOT, 3, crate::committee::WAIT)
        .await;
    c.cli(&["close", &r], None);
    // A digest sent without naming a meeting.
    c.cli(&["digest", "--send"], None);
    let digest = c.wait_for_id(SECRETARIAT, "digest.").await;

    // The chair answers it 確認済, but no meeting on the calendar was held since.
    c.stack
        .send(
            CHAIR,
            &[BOT],
            &chair_confirms(&digest, "conf1@committee.test"),
        )
        .await;
    let told = next_mail(&c, SECRETARIAT, "ratified.", 0).await;
    let text = crate::committee::text_of(&told);
    assert!(text.contains("記録しませんでした"), "{text}");
    assert_eq!(c.show(&r)["ratification"]["status"], "pending");

    // Once the meeting is on the calendar, the same answer records it there,
    // and the secretariat hears of it.
    let today = (Utc::now() + Duration::hours(9)).date_naive().to_string();
    c.cli(&["meeting", "add", &today], None);
    c.stack
        .send(
            CHAIR,
            &[BOT],
            &chair_confirms(&digest, "conf2@committee.test"),
        )
        .await;
    let told = next_mail(&c, SECRETARIAT, "ratified.", 1).await;
    let text = crate::committee::text_of(&told);
    assert!(text.contains("確認済みとして記録しました"), "{text}");
    let v = c.show(&r);
    assert_eq!(v["ratification"]["status"], "confirmed");
    assert_eq!(v["ratification"]["meeting"], today);
    c.assert_record_holds();
}
