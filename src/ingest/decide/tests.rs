//! The decision on hand-made facts: no database, no templates, no clock.
//! (The ingest's tests drive the same decision through `process`.)

use std::collections::HashMap;

use super::*;
use crate::ballot::tests::{ballot, utc, vote};
use crate::config::Config;
use crate::disposition::Earlier;
use crate::reading::{read_message, ReadOptions, Reading};
use crate::testkit::reply;

/// The unit tests' configuration (3 organisations), with `extra` appended.
fn config(extra: &str) -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (crate::testkit::config(dir.path(), 3, extra), dir)
}

fn read(from: &str, body: &str) -> Reading {
    read_message(
        &reply(from, "Re: [B-2026-007] 加盟承認", body, "m@org1", None),
        &ReadOptions::default(),
    )
}

/// Facts about `reading`, received on 2026-11-23, naming ballot B-2026-007 of
/// three organisations, with nothing else known.
fn facts<'a>(config: &'a Config, reading: &'a Reading) -> Facts<'a> {
    let b = ballot(3);
    Facts {
        config,
        own_addresses: &[],
        reading,
        verification: None,
        received: utc("2026-11-23T01:00:00Z"),
        earlier: Earlier::default(),
        ballots: HashMap::from([(b.reference, Some(Arc::new(b)))]),
        answers: HashMap::new(),
        receipt: None,
        digest: None,
        told_within_hour: false,
        status: Vec::new(),
        sent_in_the_hour: Some(0),
    }
}

#[test]
fn a_members_answer_counts_and_its_receipt_is_the_mail_of_its_vote() {
    let (config, _dir) = config("");
    let reading = read("rep1@org1.example", "賛成します。\n");
    let d = decide(&facts(&config, &reading));
    assert_eq!(d.disposition, Disposition::Vote);
    assert_eq!(d.reason, "counted in round 1");
    assert_eq!(d.votes.len(), 1);
    assert_eq!(d.votes[0].record.position, Position::Yes);
    let receipt = d.votes[0].receipt.expect("a receipt");
    assert!(matches!(
        &d.mails[receipt],
        Notice::Receipt {
            superseded: None,
            ..
        }
    ));
    assert!(d.superseded.is_empty() && d.alerts.is_empty() && !d.burst);
}

#[test]
fn a_later_answer_gives_way_to_none_but_replaces_the_one_counted_until_now() {
    let (config, _dir) = config("");
    let reading = read("rep1@org1.example", "反対します。\n");
    let mut f = facts(&config, &reading);
    let r = BallotRef::new(2026, 7).unwrap();
    f.answers.insert(
        r,
        vec![vote(1, Position::Yes, "2026-11-22T05:00:00Z", 4, 1)],
    );
    let d = decide(&f);
    assert_eq!(d.disposition, Disposition::Vote);
    assert_eq!(d.superseded.len(), 1);
    assert!(d.superseded[0].new_wins);
    assert_eq!(d.superseded[0].stored.seq, 4);
    assert!(matches!(
        &d.mails[0],
        Notice::Receipt {
            superseded: Some(Position::Yes),
            ..
        }
    ));
}

#[test]
fn a_copy_of_a_used_message_is_a_duplicate_and_an_hour_later_a_replay() {
    let (config, _dir) = config("");
    let reading = read("rep1@org1.example", "賛成\n");
    let mut f = facts(&config, &reading);
    f.earlier.original = Some((5, utc("2026-11-23T00:59:00Z")));
    let d = decide(&f);
    assert_eq!(d.disposition, Disposition::Duplicate);
    assert!(d.votes.is_empty() && d.mails.is_empty() && d.alerts.is_empty());
    f.earlier.original = Some((5, utc("2026-11-22T23:00:00Z")));
    let d = decide(&f);
    assert_eq!(d.alerts.len(), 1);
    assert_eq!(d.alerts[0].kind, Kind::Replay);
}

#[test]
fn the_message_that_reaches_the_hourly_limit_is_the_burst_and_the_bots_own_never_are() {
    let (config, _dir) = config("[limits]\nmessages_per_sender_per_hour = 3\n");
    let reading = read("rep1@org1.example", "賛成\n");
    let mut f = facts(&config, &reading);
    let burst = |f: &Facts<'_>| decide(f).burst;
    f.sent_in_the_hour = Some(2);
    assert!(!burst(&f));
    f.sent_in_the_hour = Some(3);
    assert!(burst(&f));
    f.sent_in_the_hour = Some(4);
    assert!(!burst(&f), "reported once, when it crosses the limit");
    let own = [Address::parse("rep1@org1.example").unwrap()];
    f.sent_in_the_hour = Some(3);
    f.own_addresses = &own;
    assert!(!burst(&f));
}

#[test]
fn an_admins_request_is_an_action_and_one_the_bot_cannot_read_a_refusal() {
    let (config, _dir) = config("");
    let ask = |body: &str| {
        read_message(
            &reply(
                "chair@committee.example",
                "[ballot:open] 予算承認",
                body,
                "open@c",
                None,
            ),
            &ReadOptions::default(),
        )
    };
    let reading = ask("締切: 2026-11-29 17:00\n\n予算案を承認する。\n");
    let d = decide(&facts(&config, &reading));
    assert_eq!(d.disposition, Disposition::AdminOpened);
    assert!(matches!(d.action, Some(Action::Open { .. })));
    assert!(d.mails.is_empty(), "the mail waits for what the action did");
    let reading = ask("");
    let d = decide(&facts(&config, &reading));
    assert_eq!(d.disposition, Disposition::AdminRejected);
    assert!(d.action.is_none());
    assert!(matches!(d.mails[..], [Notice::AdminError { .. }]));
}
