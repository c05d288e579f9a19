//! Only members vote, through real Dovecot and Postfix: a forged From is not
//! counted and the member and the security contact are told; a reply to the
//! personal ballot mail (Reply-To `bot+TOKEN@`) counts; the same reply delivered
//! again an hour later is not counted twice and is reported; a member who says
//! a recorded vote was not theirs (身に覚えがない) suspends it until an admin decides,
//! also under a token-only policy, by answering the receipt's personal Reply-To.

use chrono::{Duration, Utc};

use crate::committee::{
    address, member, reply, subject_of, text_of, Client, Committee, BOT, CSIRT, VERIFY_BY_TOKEN,
};
use crate::harness::StoredMessage;

/// Reads the mailbox until `show` lists `n` messages about the ballot that
/// people wrote (the bot's own copies of what it sent, recorded as automated,
/// arrive at their own pace and are not counted).
async fn poll_until(c: &Committee, r: &str, n: usize) -> serde_json::Value {
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    loop {
        c.cli(&["poll"], None);
        let v = c.show(r);
        let written = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["disposition"] != "automated")
            .count();
        if written >= n {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} message(s) about {r} were never read\n{:#}",
            n,
            v["messages"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn mail_of_kind(c: &Committee, user: &str, kind: &str) -> StoredMessage {
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    loop {
        let found = c.stack.messages(user).await.into_iter().find(|m| {
            m.header("Message-ID").is_some_and(|id| {
                id.contains(&format!(".{kind}."))
                    || id.trim_start_matches('<').starts_with(&format!("{kind}."))
            })
        });
        if let Some(m) = found {
            return m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {kind} mail reached {user}\n{}",
            c.stack.log_tail(30)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_vote_is_refused_a_personal_reply_counts_and_a_replay_is_reported() {
    let c = Committee::start_with(3, VERIFY_BY_TOKEN).await;
    let now = Utc::now();
    let t0 = now - Duration::hours(3);
    let r = c.open_budget(Some(t0));
    let year = &r[2..6];

    // Each organisation receives the ballot personally, with a Reply-To token.
    let personal = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.personal."))
        .await;
    let reply_to = address(&personal.header("Reply-To").unwrap());
    assert!(reply_to.starts_with("bot+"), "{reply_to}");
    assert!(
        text_of(&personal).contains("個別に"),
        "{}",
        text_of(&personal)
    );
    let list_copy = c
        .wait_for_id(&member(2), &format!("b-{year}-001.r1.announce."))
        .await;

    // Someone writes org02's address in From and answers through the list copy.
    let forged = reply(
        &list_copy,
        &member(2),
        "賛成",
        Client::Thunderbird,
        "forged@elsewhere.test",
    );
    c.stack
        .append(
            BOT,
            &forged,
            Some((t0 + Duration::minutes(5)).fixed_offset()),
        )
        .await;
    // org01 answers its personal mail: the token proves it.
    let genuine = String::from_utf8(reply(
        &personal,
        &member(1),
        "反対",
        Client::Thunderbird,
        "real@org1.test",
    ))
    .unwrap()
    .replace(&format!("To: <{BOT}>"), &format!("To: <{reply_to}>"))
    .into_bytes();
    c.stack
        .append(
            BOT,
            &genuine,
            Some((t0 + Duration::minutes(10)).fixed_offset()),
        )
        .await;

    let v = poll_until(&c, &r, 2).await;
    c.cli(&["tick"], None);
    let votes = v["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1, "{votes:#?}");
    assert_eq!(votes[0]["org"], "org01");
    assert_eq!(votes[0]["position"], "no");
    let messages = v["messages"].as_array().unwrap();
    let forged_row = messages
        .iter()
        .find(|m| m["message_id"] == "forged@elsewhere.test")
        .unwrap();
    assert_eq!(forged_row["disposition"], "unverified");
    assert!(
        forged_row["verification_summary"]
            .as_str()
            .unwrap()
            .starts_with("failed"),
        "{forged_row:#}"
    );
    let real_row = messages
        .iter()
        .find(|m| m["message_id"] == "real@org1.test")
        .unwrap();
    assert_eq!(real_row["disposition"], "vote");
    assert!(
        real_row["verification_summary"]
            .as_str()
            .unwrap()
            .starts_with("passed: token pass"),
        "{real_row:#}"
    );
    let shown = c.cli(&["show", &r], None);
    assert!(shown.contains("sender verification:"), "{shown}");

    // The real org02 hears of it at its registered address, and the security contact at once.
    let told = mail_of_kind(&c, &member(2), "unverified").await;
    assert!(
        text_of(&told).contains("集計していません"),
        "{}",
        text_of(&told)
    );
    let incident = mail_of_kind(&c, CSIRT, "incident").await;
    assert!(
        subject_of(&incident).contains("verification_failed")
            || text_of(&incident).contains("verification_failed"),
        "{}",
        text_of(&incident)
    );
    assert!(
        text_of(&incident).contains("forged@elsewhere.test"),
        "{}",
        text_of(&incident)
    );
    // The receipt of the counted vote goes to org01, not to the forger's From.
    mail_of_kind(&c, &member(1), "receipt").await;

    // The same reply delivered again (hours after the original's INTERNALDATE) is not counted twice.
    c.stack.send(&member(1), &[&reply_to], &genuine).await;
    let v = poll_until(&c, &r, 3).await;
    assert_eq!(v["votes"].as_array().unwrap().len(), 1);
    let again = v["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(again["disposition"], "duplicate", "{again:#}");
    let incidents = c.cli(&["incidents"], None);
    assert!(incidents.contains("replay"), "{incidents}");
    assert!(incidents.contains("verification_failed"), "{incidents}");
    // The replay's report quotes the message's headers, but never the live
    // token of org01's personal reply address.
    c.cli(&["tick"], None);
    let token = reply_to
        .strip_prefix("bot+")
        .and_then(|t| t.split('@').next())
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + crate::committee::WAIT;
    let reports = loop {
        let reports: Vec<StoredMessage> = c
            .stack
            .messages(CSIRT)
            .await
            .into_iter()
            .filter(|m| {
                m.header("Message-ID")
                    .is_some_and(|id| id.contains(".incident."))
            })
            .collect();
        if reports.len() >= 2 || std::time::Instant::now() > deadline {
            break reports;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(reports.len(), 2, "a verification failure and a replay");
    for m in &reports {
        let raw = String::from_utf8_lossy(&m.raw).to_lowercase();
        assert!(!raw.contains(&token), "{}", text_of(m));
    }
    assert!(
        reports
            .iter()
            .any(|m| text_of(m).contains("bot+…@committee.test")),
        "the replayed message's To, quoted without its token"
    );

    let out = c.cli(&["replay"], None);
    assert!(out.contains("every recorded result matches"), "{out}");
    let out = c.cli(&["audit", "verify"], None);
    assert!(out.contains("intact"), "{out}");

    // One edited row in the database breaks the chain there, and replay notices
    // a vote changed behind its back.
    let db = c.config.parent().unwrap().join("ballots.sqlite");
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    sqlx::query("UPDATE events SET actor = 'someone else' WHERE id = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE votes SET position = 'yes'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE messages SET raw = CAST('From: someone' AS BLOB) WHERE message_id = 'forged@elsewhere.test'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    let broken = c.try_cli(&["audit", "verify"], None);
    assert!(!broken.status.success());
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("broken at event 3"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    // The other tables are held to the trail too, and each edited row is named.
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(
        said.contains("round 1, org01): its position is `yes`, but event"),
        "{said}"
    );
    assert!(said.contains("its raw bytes no longer hash"), "{said}");
    let replayed = c.try_cli(&["replay"], None);
    assert!(!replayed.status.success());
    assert!(
        String::from_utf8_lossy(&replayed.stdout)
            .contains("org01 is recorded as yes but the messages say no"),
        "{}",
        String::from_utf8_lossy(&replayed.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_disputes_a_vote_in_its_name_and_an_admin_decides() {
    let c = Committee::start(3).await;
    let now = Utc::now();
    let t0 = now - Duration::hours(3);
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
    // No verification configured: a forger's 賛成 in org01's name counts at first…
    let forged = reply(
        &a,
        &member(1),
        "賛成",
        Client::OutlookJis,
        "forged@org1.test",
    );
    c.stack
        .append(
            BOT,
            &forged,
            Some((t0 + Duration::minutes(5)).fixed_offset()),
        )
        .await;
    poll_until(&c, &r, 1).await;
    c.cli(&["tick"], None);
    assert_eq!(c.show(&r)["current"]["counts"]["yes"], 1);

    // …but the receipt goes to org01's registered address, and org01 says 身に覚えがない.
    let receipt = mail_of_kind(&c, &member(1), "receipt").await;
    assert!(
        text_of(&receipt).contains("身に覚えがない"),
        "{}",
        text_of(&receipt)
    );
    let dispute = reply(
        &receipt,
        &member(1),
        "この回答は身に覚えがありません。",
        Client::Thunderbird,
        "dispute@org1.test",
    );
    c.stack.send(&member(1), &[BOT], &dispute).await;
    let v = poll_until(&c, &r, 2).await;
    c.cli(&["tick"], None);
    assert_eq!(
        v["current"]["counts"]["yes"], 0,
        "a disputed vote does not count"
    );
    assert_eq!(v["votes"][0]["state"], "disputed");
    assert_eq!(v["disputes"][0]["state"], "open");
    assert_eq!(v["votes"].as_array().unwrap().len(), 1, "the vote is kept");
    let ack = mail_of_kind(&c, &member(1), "disputed").await;
    assert!(
        text_of(&ack).contains("管理者が判断するまで"),
        "{}",
        text_of(&ack)
    );
    let incident = mail_of_kind(&c, CSIRT, "incident").await;
    assert!(
        text_of(&incident).contains("dispute"),
        "{}",
        text_of(&incident)
    );

    // The admin finds (by telephone) that the vote was org01's after all.
    let out = c.cli(
        &[
            "dispute",
            "resolve",
            &r,
            "--org",
            "org01",
            "--dismissed",
            "--note",
            "電話で本人確認",
        ],
        None,
    );
    assert!(out.contains("counts again"), "{out}");
    let v = c.show(&r);
    assert_eq!(v["current"]["counts"]["yes"], 1);
    assert_eq!(v["disputes"][0]["state"], "dismissed");
    assert_eq!(v["disputes"][0]["note"], "電話で本人確認");
    let out = c.cli(&["dispute", "list"], None);
    assert!(out.contains("dismissed"), "{out}");
    let refused = c.try_cli(
        &["dispute", "resolve", &r, "--org", "org01", "--upheld"],
        None,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no open dispute"));
    let out = c.cli(&["replay"], None);
    assert!(out.contains("every recorded result matches"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_token_policy_a_member_disputes_through_the_receipt_and_an_admin_upholds_it() {
    let c = Committee::start_with(3, VERIFY_BY_TOKEN).await;
    let t0 = Utc::now() - Duration::hours(3);
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
    let personal = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.personal."))
        .await;
    let token_address = address(&personal.header("Reply-To").unwrap());

    // Someone who saw org01's personal mail (a forward) answers it in org01's name.
    let leaked = String::from_utf8(reply(
        &personal,
        &member(1),
        "賛成",
        Client::Thunderbird,
        "leak@elsewhere.test",
    ))
    .unwrap()
    .replace(&format!("To: <{BOT}>"), &format!("To: <{token_address}>"))
    .into_bytes();
    c.stack
        .append(
            BOT,
            &leaked,
            Some((t0 + Duration::minutes(5)).fixed_offset()),
        )
        .await;
    poll_until(&c, &r, 1).await;
    c.cli(&["tick"], None);
    assert_eq!(c.show(&r)["current"]["counts"]["yes"], 1);

    // The receipt reaches org01 with its personal reply address, so answering it
    // proves the answer came from someone who received it.
    let receipt = mail_of_kind(&c, &member(1), "receipt").await;
    assert_eq!(address(&receipt.header("Reply-To").unwrap()), token_address);
    let dispute = reply(
        &receipt,
        &member(1),
        "この回答は身に覚えがありません。",
        Client::Thunderbird,
        "dispute@org1.test",
    );
    c.stack.send(&member(1), &[&token_address], &dispute).await;
    let v = poll_until(&c, &r, 2).await;
    c.cli(&["tick"], None);
    let row = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "dispute@org1.test")
        .unwrap()
        .clone();
    assert_eq!(row["disposition"], "dispute", "{row:#}");
    assert!(
        row["verification_summary"]
            .as_str()
            .unwrap()
            .starts_with("passed: token pass"),
        "{row:#}"
    );
    assert_eq!(
        v["current"]["counts"]["yes"], 0,
        "a disputed vote does not count"
    );
    assert_eq!(v["disputes"][0]["state"], "open");
    let ack = mail_of_kind(&c, &member(1), "disputed").await;
    assert_eq!(address(&ack.header("Reply-To").unwrap()), token_address);
    let incident = mail_of_kind(&c, CSIRT, "incident").await;
    assert!(
        text_of(&incident).contains("dispute"),
        "{}",
        text_of(&incident)
    );

    // The admin confirms with org01 that the vote was not theirs.
    let out = c.cli(
        &[
            "dispute",
            "resolve",
            &r,
            "--org",
            "org01",
            "--upheld",
            "--note",
            "本人に確認",
        ],
        None,
    );
    assert!(out.contains("upheld"), "{out}");
    let v = c.show(&r);
    assert_eq!(v["disputes"][0]["state"], "upheld");
    assert_eq!(v["current"]["counts"]["yes"], 0);
    c.assert_record_holds();
}
