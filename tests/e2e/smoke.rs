//! Proof that the harness gives tests a real, working mail system: list expansion, IMAP
//! read-back with INTERNALDATE, IDLE, isolation between parallel stacks, fault injection,
//! and byte-exact transport of non-ASCII mail.
//!
//! If one of these fails, every other e2e failure is suspect: fix these first.

use std::time::Duration;

use chrono::DateTime;

use crate::harness::MailStack;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.net";
const BOT: &str = "ballot-bot@ballots.example.org";
const LIST: &str = "committee@lists.example.org";
const MEMBERS: &[&str] = &[ALICE, BOB, BOT];

/// Generous for a loaded CI machine; a delivery normally takes milliseconds.
const DELIVERY: Duration = Duration::from_secs(20);

async fn committee_stack() -> MailStack {
    MailStack::start(&[ALICE, BOB, BOT], &[(LIST, MEMBERS)]).await
}

fn plain_message(subject: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: Alice <{ALICE}>\r\n\
         To: {LIST}\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n\
         Message-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         I vote yes.\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_sent_to_the_committee_list_reaches_every_member_and_the_bot() {
    let stack = committee_stack().await;
    let raw = plain_message("Ballot 7: budget", "list-1@example.org");

    stack.send(ALICE, &[LIST], &raw).await;

    for member in MEMBERS {
        let inbox = stack.wait_for_messages(member, 1, DELIVERY).await;
        assert_eq!(inbox.len(), 1, "{member} got exactly one copy");
        let message = &inbox[0];
        assert_eq!(
            message.header("subject").as_deref(),
            Some("Ballot 7: budget")
        );
        assert_eq!(message.header("To").as_deref(), Some(LIST));
        assert_eq!(message.without_trace_headers(), &raw[..], "{member}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_appended_with_an_internaldate_is_read_back_with_that_internaldate() {
    let stack = committee_stack().await;
    let late = DateTime::parse_from_rfc3339("2026-03-01T23:59:59+01:00").unwrap();
    let raw = plain_message("Late vote", "late-1@example.org");

    stack.append(BOT, &raw, Some(late)).await;
    stack
        .append(BOT, &plain_message("Now", "now-1@example.org"), None)
        .await;

    let inbox = stack.messages(BOT).await;
    assert_eq!(inbox.len(), 2);
    // Dovecot keeps the instant, not the offset (maildir stores it as the file's mtime),
    // so the comparison is of instants, which is what DateTime's == does.
    assert_eq!(inbox[0].internal_date, late);
    assert_eq!(inbox[0].raw, raw, "APPEND stores the bytes as given");
    assert!(inbox[1].uid > inbox[0].uid, "UIDs grow in APPEND order");
    let age = chrono::Utc::now().signed_duration_since(inbox[1].internal_date);
    assert!(age.num_minutes().abs() < 5, "no date means now, got {age}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_server_advertises_idle() {
    let stack = committee_stack().await;
    let mut session = stack.login(BOT).await;

    let capabilities = session.capabilities().await.expect("CAPABILITY");

    assert!(capabilities.has_str("IDLE"));
    assert!(capabilities.has_str("UIDPLUS"));
    session.logout().await.expect("LOGOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_run_side_by_side_without_seeing_each_others_mail() {
    let (first, second) = tokio::join!(committee_stack(), committee_stack());
    assert_ne!(first.dir(), second.dir());
    let ports = |s: &MailStack| [s.imap_port(), s.smtp_port(), s.lmtp_port()];
    for port in ports(&first) {
        assert!(!ports(&second).contains(&port), "port {port} is shared");
    }

    first
        .send(
            ALICE,
            &[BOB],
            &plain_message("To the first", "first@example.org"),
        )
        .await;
    second
        .send(
            ALICE,
            &[BOB],
            &plain_message("To the second", "second@example.org"),
        )
        .await;

    for (stack, subject) in [(&first, "To the first"), (&second, "To the second")] {
        let inbox = stack.wait_for_messages(BOB, 1, DELIVERY).await;
        let subjects: Vec<_> = inbox.iter().filter_map(|m| m.header("Subject")).collect();
        assert_eq!(subjects, [subject]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postfix_refuses_submissions_and_starting_it_again_accepts_them() {
    let mut stack = committee_stack().await;

    stack.stop_postfix().await;
    let refused = stack
        .try_send(
            ALICE,
            &[BOT],
            &plain_message("While down", "down@example.org"),
        )
        .await;
    stack.start_postfix().await;
    stack
        .send(
            ALICE,
            &[BOT],
            &plain_message("After restart", "up@example.org"),
        )
        .await;

    assert!(
        refused.is_err(),
        "submission while Postfix is stopped was accepted"
    );
    let inbox = stack.wait_for_messages(BOT, 1, DELIVERY).await;
    assert_eq!(inbox[0].header("Subject").as_deref(), Some("After restart"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_dovecot_drops_imap_sessions_and_mail_still_arrives() {
    let mut stack = committee_stack().await;
    let mut session = stack.login(BOT).await;
    session.noop().await.expect("NOOP before the restart");

    stack.restart_dovecot().await;
    stack
        .send(
            ALICE,
            &[LIST],
            &plain_message("After Dovecot restart", "dc@example.org"),
        )
        .await;

    assert!(session.noop().await.is_err(), "the old session survived");
    let inbox = stack.wait_for_messages(BOT, 1, DELIVERY).await;
    assert_eq!(inbox.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iso_2022_jp_and_8bit_utf8_bodies_arrive_byte_for_byte() {
    let stack = committee_stack().await;
    let (japanese, _, unmappable) =
        encoding_rs::ISO_2022_JP.encode("投票: 議案3に賛成します。\r\n");
    assert!(!unmappable);
    let mut iso_2022_jp = format!(
        "From: {ALICE}\r\nTo: {LIST}\r\nSubject: =?ISO-2022-JP?B?GyRCRWpJPBsoQg==?=\r\n\
         Date: Tue, 03 Mar 2026 10:00:00 +0900\r\nMessage-ID: <jp@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n"
    )
    .into_bytes();
    iso_2022_jp.extend_from_slice(&japanese);
    // Dot-stuffing, trailing blanks and bare 8-bit bytes are where transports go wrong.
    let utf8 = format!(
        "From: {ALICE}\r\nTo: {LIST}\r\nSubject: Abstimmung über Punkt 3\r\n\
         Date: Tue, 03 Mar 2026 10:00:00 +0100\r\nMessage-ID: <utf8@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Ich stimme für den Antrag. Ja — 是. 👍\r\n\
         .a line that starts with a dot\r\n\
         .\r\n\
         trailing blanks   \r\n"
    )
    .into_bytes();

    stack.send(ALICE, &[LIST], &iso_2022_jp).await;
    stack.send(ALICE, &[LIST], &utf8).await;

    let inbox = stack.wait_for_messages(BOB, 2, DELIVERY).await;
    let by_id = |id: &str| {
        inbox
            .iter()
            .find(|m| m.header("Message-ID").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(
        by_id("<jp@example.org>").without_trace_headers(),
        &iso_2022_jp[..]
    );
    assert_eq!(
        by_id("<utf8@example.org>").without_trace_headers(),
        &utf8[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_for_an_unknown_address_of_a_known_domain_is_refused_at_rcpt() {
    let stack = committee_stack().await;

    let refused = stack
        .try_send(
            ALICE,
            &["nobody@example.org"],
            &plain_message("Lost", "lost@example.org"),
        )
        .await;

    let error = format!(
        "{:#}",
        refused.expect_err("an unknown mailbox was accepted")
    );
    assert!(error.contains("550"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_straight_into_a_maildir_is_seen_over_imap() {
    let stack = committee_stack().await;
    let raw = plain_message("Seeded", "seeded@example.org");

    // Maildir delivery is "write to tmp/, rename into new/", so Dovecot never sees half a file.
    let maildir = stack.maildir(BOT);
    let name = "1772528400.M1P1.seeded";
    std::fs::write(maildir.join("tmp").join(name), &raw).unwrap();
    std::fs::rename(
        maildir.join("tmp").join(name),
        maildir.join("new").join(name),
    )
    .unwrap();

    let inbox = stack.wait_for_messages(BOT, 1, DELIVERY).await;
    assert_eq!(inbox[0].raw, raw);
}
