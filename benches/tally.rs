//! How long tallying a ballot of 1,000 voters takes: whose answer stands for
//! each organisation (3,000 answers: everyone changed their mind twice, some
//! answers late, some disputed) and the rule's arithmetic on the counts. This
//! is what closing a round, `show` and `replay` do for every round.

use chrono::{DateTime, Duration, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mail_ballot::ballot::rules::{shipped, tally_for_ballot};
use mail_ballot::ballot::{Ballot, Opening, VoteRecord, VoteStatus};
use mail_ballot::domain::{BallotRef, OrgId, Position};
use mail_ballot::roster::Roster;

const VOTERS: usize = 1000;

fn ballot() -> (Ballot, Vec<VoteRecord>) {
    let mut text = String::new();
    for i in 1..=VOTERS {
        text.push_str(&format!(
            "[[organisations]]\nid = \"org{i:04}\"\nname = \"会員{i}\"\nrepresentative = \"rep{i}@org{i}.example\"\n\n"
        ));
    }
    let roster = Roster::from_toml(&text).unwrap();
    let profile = shipped()
        .into_iter()
        .find(|p| p.name == "isogj-email")
        .unwrap();
    let opened: DateTime<Utc> = "2026-11-20T00:00:00Z".parse().unwrap();
    let b = Ballot::open(
        Opening {
            reference: BallotRef::new(2026, 7).unwrap(),
            title: "予算承認".into(),
            motion: "予算案を承認する。".into(),
            kind: None,
            profile,
            roster,
            deadline: opened + Duration::days(7),
            opened_by: "bench".into(),
            chair: None,
        },
        opened,
    )
    .unwrap();
    let positions = [Position::Yes, Position::No, Position::Abstain];
    let mut votes = Vec::with_capacity(VOTERS * 3);
    for pass in 0..3 {
        for i in 1..=VOTERS {
            let seq = (pass * VOTERS + i) as i64;
            votes.push(VoteRecord {
                org: OrgId::parse(&format!("org{i:04}")).unwrap(),
                position: positions[(i + pass) % 3],
                cast_at: opened + Duration::hours(1 + seq),
                seq,
                round: 1,
                status: if seq % 97 == 0 {
                    VoteStatus::Late
                } else {
                    VoteStatus::Valid
                },
                voter: format!("rep{i}@org{i}.example"),
                message_id: Some(format!("m{seq}@org{i}.example")),
                disputed: seq % 101 == 0,
            });
        }
    }
    (b, votes)
}

fn tally(c: &mut Criterion) {
    let (b, votes) = ballot();
    c.bench_function("tally a ballot of 1,000 voters (3,000 answers)", |bench| {
        bench.iter(|| {
            let counts = b.counts(black_box(&votes), 1);
            tally_for_ballot(&b.profile, counts, None).unwrap()
        })
    });
}

criterion_group!(benches, tally);
criterion_main!(benches);
