//! Deadlines that fit Japan, reminders, the digest before the meeting, and a
//! 確認済 reply, through real Dovecot and Postfix.
//!
//! The ballot runs in the past (Dovecot keeps past INTERNALDATEs but stamps
//! future ones with the present): opened on Friday 2025-11-21, before the
//! substitute holiday of Monday 2025-11-24.

use chrono::{DateTime, Utc};
use mail_parser::MimeHeaders;

use crate::committee::{
    member, reply, subject_of, text_of, Client, Committee, BOT, SECRETARIAT, WAIT,
};

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friday_ballot_skips_the_holiday_reminds_the_silent_and_is_confirmed_by_the_secretariats_reply(
) {
    let c = Committee::start_with(
        4,
        "[meetings]\ndates = [\"2025-12-10\"]\ndigest_days_before = 7\n",
    )
    .await;
    let opened = c.cli(
        &[
            "open",
            "--title",
            "新規会員の加盟承認",
            "--body",
            "株式会社サンプルの加盟を承認する。",
            "--deadline",
            "5bd@17:00",
        ],
        Some(jst("2025-11-21T10:00:00")),
    );
    // Sat 22, Sun 23, Mon 24 (振替休日 for 勤労感謝の日) skipped: 25, 26, 27, 28, then Mon 1 Dec.
    assert!(opened.contains("2025年12月1日(月) 17:00 (JST)"), "{opened}");
    let r = "B-2025-001";
    let a = c.wait_for_id(&member(1), "b-2025-001.r1.announce.").await;
    assert!(
        text_of(&a).contains("2025年12月1日(月) 17:00"),
        "{}",
        text_of(&a)
    );

    // Two members answer on Tuesday 25th (as the server dated it).
    for i in [1, 2] {
        let raw = reply(
            &a,
            &member(i),
            "賛成します。",
            Client::Thunderbird,
            &format!("s{i}@org{i}.test"),
        );
        c.stack
            .append(BOT, &raw, Some(jst("2025-11-25T11:00:00").fixed_offset()))
            .await;
    }

    // Saturday 29th, 18:00: past the 48-hour reminder (17:00). Only 3 and 4 are reminded.
    let sat = jst("2025-11-29T18:00:00");
    c.cli(&["poll"], Some(sat));
    let out = c.cli(&["tick"], Some(sat));
    assert!(out.contains("reminders sent to 2"), "{out}");
    for i in [3, 4] {
        let m = c.wait_for_id(&member(i), "b-2025-001.r1.reminder.").await;
        assert!(subject_of(&m).contains("リマインド"), "{}", subject_of(&m));
        assert_eq!(m.header("To").as_deref(), Some(member(i).as_str()));
    }
    // A wrong reminder could still be on its way: let Postfix deliver
    // everything it holds before looking for what did not arrive.
    c.stack.wait_for_empty_queue(WAIT).await;
    let mut reminded: Vec<Vec<String>> = c.show(r)["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "reminder")
        .map(|m| {
            m["recipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    reminded.sort();
    assert_eq!(
        reminded,
        [vec![member(3)], vec![member(4)]],
        "the bot queued reminders for 3 and 4 only"
    );
    for i in [1, 2] {
        let got = c.stack.messages(&member(i)).await;
        assert!(
            !got.iter().any(|m| m
                .header("Message-ID")
                .is_some_and(|id| id.contains(".reminder."))),
            "member {i} answered and must not be reminded"
        );
    }

    // The deadline passes; then, seven days before the meeting, the digest goes out.
    let after = jst("2025-12-01T17:05:00");
    c.cli(&["poll"], Some(after));
    let out = c.cli(&["tick"], Some(after));
    assert!(out.contains("round 1 closed: approved"), "{out}");
    let out = c.cli(&["tick"], Some(jst("2025-12-02T10:00:00")));
    assert!(!out.contains("digest"), "not yet due: {out}");
    let out = c.cli(&["tick"], Some(jst("2025-12-03T10:00:00")));
    assert!(
        out.contains("digest for the meeting of 2025-12-10 queued"),
        "{out}"
    );
    let digest = c.wait_for_id(SECRETARIAT, "digest.").await;
    assert!(
        subject_of(&digest).contains("令和7年12月10日(水)"),
        "{}",
        subject_of(&digest)
    );
    let parsed = mail_parser::MessageParser::default()
        .parse(&digest.raw)
        .unwrap();
    assert!(
        parsed.body_html(0).unwrap().contains("<table"),
        "an HTML part"
    );
    let csv = parsed.attachments().next().expect("a CSV attachment");
    assert!(csv.attachment_name().unwrap().ends_with(".csv"));
    assert!(String::from_utf8_lossy(csv.contents()).contains("B-2025-001,新規会員の加盟承認"));

    // The secretariat answers the digest: 確認済.
    let id = digest.header("Message-ID").unwrap();
    let answer = format!(
        "From: 事務局 <{SECRETARIAT}>\r\nTo: <{BOT}>\r\nSubject: Re: confirm\r\nMessage-ID: <conf-1@committee.test>\r\nIn-Reply-To: {id}\r\nReferences: {id}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n12月10日の運営委員会で確認済です。\r\n",
        Utc::now().to_rfc2822()
    );
    c.stack.send(SECRETARIAT, &[BOT], answer.as_bytes()).await;
    c.stack.wait_for_messages(BOT, 5, WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(out.contains("ratification 1"), "{out}");
    c.cli(&["tick"], None);
    let ack = c.wait_for_id(SECRETARIAT, "ratified.").await;
    assert!(text_of(&ack).contains("B-2025-001"), "{}", text_of(&ack));
    let v = c.show(r);
    assert_eq!(v["ratification"]["status"], "confirmed");
    assert_eq!(v["ratification"]["meeting"], "2025-12-10");
}
