//! What admins do: open, close, extend and cancel ballots, produce the digest,
//! record ratification. The command line and admin mail call the same functions,
//! so a ballot opened by mail is exactly a ballot opened by `mail-ballot open`.
//!
//! Each operation is one transaction: the ballot's change, its mails and its
//! audit events commit together.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sqlx::SqliteConnection;
use tracing::info;

use crate::app::{App, AppError};
use crate::ballot::deadline::DeadlineSpec;
use crate::ballot::{Ballot, Next, Opening, Ratification, RoundClosed, State};
use crate::domain::BallotRef;
use crate::outbox::Mail;
use crate::store::events::{self, Event};
use crate::store::{SentDigest, Snapshot, Store};

/// A request to open a ballot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub title: String,
    pub motion: String,
    pub kind: Option<String>,
    /// The configured default when absent.
    pub deadline: Option<DeadlineSpec>,
}

/// Opens a ballot inside `conn`'s transaction and queues its announcement.
pub async fn open_in(
    app: &App,
    conn: &mut SqliteConnection,
    req: &OpenRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ballot, AppError> {
    let profile = app
        .config
        .profile_for_kind(req.kind.as_deref())
        .map_err(AppError::Refused)?
        .clone();
    let spec = req
        .deadline
        .clone()
        .unwrap_or_else(|| app.config.ballots.default_deadline.clone());
    let tz = app.config.organisation.time_zone;
    let deadline = spec
        .resolve(now, tz, &app.config.schedule.calendar)
        .map_err(AppError::Refused)?;
    let year = u16::try_from(now.with_timezone(&tz).year())
        .map_err(|_| AppError::Refused("the year is out of range".into()))?;
    let number = Store::next_ballot_number(conn, year).await?;
    let reference = BallotRef::new(year, number).map_err(AppError::Refused)?;
    let ballot = Ballot::open(
        Opening {
            reference,
            title: req.title.clone(),
            motion: req.motion.clone(),
            kind: req.kind.clone(),
            profile,
            roster: app.config.roster.clone(),
            deadline,
            opened_by: actor.to_string(),
            chair: app.config.ballots.chair.clone(),
        },
        now,
    )?;
    Store::insert_ballot(conn, &ballot).await?;
    // Everything that decides who may answer, under which rule and until when,
    // so that `audit verify` notices an edit of it: the rule and the roster (as
    // the hashes of the texts stored), the chair who breaks a tie, the round's window.
    let snapshot = Snapshot::of(&ballot)?;
    events::append(
        conn,
        now,
        &Event::new(
            "ballot_opened",
            Some(reference),
            actor,
            serde_json::json!({
                "title": ballot.title,
                "motion_hash": ballot.motion_hash(),
                "kind": ballot.kind,
                "profile": ballot.profile.name,
                "profile_hash": events::digest(&snapshot.profile_json),
                "roster_hash": events::digest(&snapshot.roster_json),
                "chair": ballot.chair,
                "eligible": ballot.roster.eligible(),
                "opened_at": ballot.current_round().opened_at,
                "deadline": ballot.current_round().deadline,
            }),
        ),
    )
    .await?;
    for mail in app.announcements(&ballot)? {
        app.enqueue(conn, &mail, actor, now).await?;
    }
    info!(ballot = %reference, "ballot opened");
    Ok(ballot)
}

/// Opens a ballot in a transaction of its own.
pub async fn open(
    app: &App,
    req: &OpenRequest,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ballot, AppError> {
    let mut tx = app.store.begin().await?;
    let b = open_in(app, &mut tx, req, actor, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(b)
}

async fn load(conn: &mut SqliteConnection, r: BallotRef) -> Result<Ballot, AppError> {
    Store::load_ballot_tx(conn, r)
        .await?
        .ok_or(AppError::UnknownBallot(r))
}

/// Closes the current round of `r` at `now`, queues the result (and the next
/// round's announcement when the rule calls for a re-ballot).
pub async fn close_round_in(
    app: &App,
    conn: &mut SqliteConnection,
    r: BallotRef,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Ballot, RoundClosed), AppError> {
    let mut b = load(conn, r).await?;
    let votes = Store::votes_tx(conn, r).await?;
    let closed = b.close_round(
        &votes,
        now,
        app.config.organisation.time_zone,
        &app.config.schedule.calendar,
    )?;
    Store::save_ballot(conn, &b).await?;
    events::append(
        conn,
        now,
        &Event::new(
            "round_closed",
            Some(r),
            actor,
            serde_json::json!({
                "round": closed.round,
                "tally": closed.tally,
                "counted": closed.counted,
                "early": now < b.rounds[closed.round as usize - 1].deadline,
            }),
        ),
    )
    .await?;
    let composer = app.composer();
    let mut mails: Vec<Mail> = vec![composer.result(&b, &closed, &votes)?];
    match closed.next {
        Next::Reballot { round, deadline } => {
            events::append(
                conn,
                now,
                &Event::new(
                    "round_opened",
                    Some(r),
                    actor,
                    serde_json::json!({ "round": round, "opened_at": b.current_round().opened_at, "deadline": deadline }),
                ),
            )
            .await?;
            mails.extend(app.announcements(&b)?);
        }
        Next::Final(outcome) => {
            events::append(
                conn,
                now,
                &Event::new(
                    "ballot_closed",
                    Some(r),
                    actor,
                    serde_json::json!({ "outcome": outcome }),
                ),
            )
            .await?;
        }
    }
    for m in &mails {
        app.enqueue(conn, m, actor, now).await?;
    }
    info!(ballot = %r, round = closed.round, outcome = closed.tally.outcome.as_str(), "round closed");
    Ok((b, closed))
}

/// Closes the current round now (an admin's decision, before or after the deadline).
pub async fn close(
    app: &App,
    r: BallotRef,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Ballot, RoundClosed), AppError> {
    let mut tx = app.store.begin().await?;
    let out = close_round_in(app, &mut tx, r, actor, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(out)
}

/// Moves the current round's deadline later and announces it to the list.
pub async fn extend(
    app: &App,
    r: BallotRef,
    spec: &DeadlineSpec,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ballot, AppError> {
    let mut tx = app.store.begin().await?;
    let mut b = load(&mut tx, r).await?;
    let old = b.current_round().deadline;
    let new = spec
        .resolve(
            now,
            app.config.organisation.time_zone,
            &app.config.schedule.calendar,
        )
        .map_err(AppError::Refused)?;
    b.extend(new, now)?;
    Store::save_ballot(&mut tx, &b).await?;
    events::append(
        &mut tx,
        now,
        &Event::new(
            "deadline_extended",
            Some(r),
            actor,
            serde_json::json!({ "round": b.current_round().number, "from": old, "to": new }),
        ),
    )
    .await?;
    let mail = app.composer().extended(&b, old)?;
    app.enqueue(&mut tx, &mail, actor, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(b)
}

/// Cancels an open ballot (kept, never deleted) and tells the list.
pub async fn cancel(
    app: &App,
    r: BallotRef,
    reason: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Ballot, AppError> {
    if reason.trim().is_empty() {
        return Err(AppError::Refused(
            "a cancellation needs a reason (--reason)".into(),
        ));
    }
    let mut tx = app.store.begin().await?;
    let mut b = load(&mut tx, r).await?;
    b.cancel(reason.trim(), now)?;
    Store::save_ballot(&mut tx, &b).await?;
    events::append(
        &mut tx,
        now,
        &Event::new(
            "ballot_cancelled",
            Some(r),
            actor,
            serde_json::json!({ "reason": reason.trim() }),
        ),
    )
    .await?;
    let mail = app.composer().cancelled(&b)?;
    app.enqueue(&mut tx, &mail, actor, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(b)
}

/// The ratification digest of every closed, unconfirmed ballot; queued to the
/// secretariat when `send` is true, and remembered (with the references it
/// lists) so that a reply saying 確認済 knows what it confirms. `trigger` is
/// `schedule` for the digest sent before a meeting, else the admin who asked.
pub async fn digest(
    app: &App,
    meeting: Option<NaiveDate>,
    send: bool,
    trigger: &str,
    now: DateTime<Utc>,
) -> Result<(Mail, Vec<BallotRef>), AppError> {
    let pending = app.store.pending_ratification().await?;
    let mut items = Vec::with_capacity(pending.len());
    for b in pending {
        let votes = app.store.votes(b.reference).await?;
        items.push((b, votes));
    }
    let refs: Vec<BallotRef> = items.iter().map(|(b, _)| b.reference).collect();
    let mail = app.composer().digest(&items, meeting, now)?;
    if send {
        let mut tx = app.store.begin().await?;
        Store::record_digest(
            &mut tx,
            &SentDigest {
                message_id: mail.message_id.clone(),
                meeting,
                sent_at: now,
                ballots: refs.clone(),
            },
            trigger,
        )
        .await?;
        events::append(
            &mut tx,
            now,
            &Event::new(
                "digest_sent",
                None,
                trigger,
                serde_json::json!({ "ballots": refs, "meeting": meeting, "message_id": mail.message_id }),
            ),
        )
        .await?;
        app.enqueue(&mut tx, &mail, trigger, now).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
    }
    Ok((mail, refs))
}

/// What to ratify.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    These(Vec<BallotRef>),
}

/// What the meeting did with an email resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Confirmed,
    /// The meeting overturned it, with the minutes' note.
    Overturned(String),
}

/// Records the meeting's decision on each of `refs` inside `conn`'s
/// transaction. Every reference must name a closed ballot still pending.
pub async fn ratify_in(
    conn: &mut SqliteConnection,
    refs: &[BallotRef],
    meeting: NaiveDate,
    decision: &Decision,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Ballot>, AppError> {
    let mut done = Vec::with_capacity(refs.len());
    for r in refs {
        let mut b = Store::load_ballot_tx(conn, *r)
            .await?
            .ok_or(AppError::UnknownBallot(*r))?;
        if b.state != State::Closed {
            return Err(AppError::Refused(format!(
                "{r} is {}, not closed: only a closed ballot can be confirmed",
                b.state.as_str()
            )));
        }
        if b.ratification != Ratification::Pending {
            return Err(AppError::Refused(format!(
                "{r} was already recorded at a meeting"
            )));
        }
        let (kind, note) = match decision {
            Decision::Confirmed => {
                b.ratification = Ratification::Confirmed {
                    meeting,
                    at: now,
                    by: actor.to_string(),
                };
                ("ratified", None)
            }
            Decision::Overturned(note) => {
                b.ratification = Ratification::Overturned {
                    meeting,
                    at: now,
                    by: actor.to_string(),
                    note: note.clone(),
                };
                ("overturned", Some(note.clone()))
            }
        };
        Store::save_ballot(conn, &b).await?;
        events::append(
            conn,
            now,
            &Event::new(
                kind,
                Some(*r),
                actor,
                serde_json::json!({ "meeting": meeting, "note": note }),
            ),
        )
        .await?;
        done.push(b);
    }
    Ok(done)
}

/// Records that the meeting of `meeting` confirmed (or overturned) the selected
/// resolutions. Returns the references recorded.
pub async fn ratify(
    app: &App,
    meeting: NaiveDate,
    which: &Selection,
    decision: &Decision,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<BallotRef>, AppError> {
    // Read before the write transaction: the pool may have a single connection.
    let refs: Vec<BallotRef> = match which {
        Selection::All => app
            .store
            .pending_ratification()
            .await?
            .into_iter()
            .map(|b| b.reference)
            .collect(),
        Selection::These(r) => r.clone(),
    };
    if refs.is_empty() {
        return Err(AppError::Refused(
            "no email resolution is waiting for confirmation".into(),
        ));
    }
    let mut tx = app.store.begin().await?;
    ratify_in(&mut tx, &refs, meeting, decision, actor, now).await?;
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(refs)
}

/// Adds a committee meeting to the calendar.
pub async fn add_meeting(
    app: &App,
    date: NaiveDate,
    note: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let mut tx = app.store.begin().await?;
    let added = Store::add_meeting(&mut tx, date, note, actor, now).await?;
    if added {
        events::append(
            &mut tx,
            now,
            &Event::new(
                "meeting_added",
                None,
                actor,
                serde_json::json!({ "date": date, "note": note }),
            ),
        )
        .await?;
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(added)
}

/// Reads an admin's mail that opens a ballot: the title is the subject after the
/// prefix; optional `締切:` / `期限:` / `Deadline:` and `種別:` / `Kind:` lines start
/// the body; the rest, up to a `-- ` signature line, is the motion.
pub fn parse_open_mail(subject_rest: &str, body: &str) -> Result<OpenRequest, String> {
    let title = subject_rest.trim().to_string();
    if title.is_empty() {
        return Err("the subject has no title after the prefix".into());
    }
    let mut deadline = None;
    let mut kind = None;
    let mut lines = body.lines().peekable();
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    while let Some(line) = lines.peek() {
        let t = line.trim();
        let Some((key, value)) = t.split_once([':', '：']) else {
            break;
        };
        let key = key.trim().to_lowercase();
        let value = value.trim();
        match key.as_str() {
            "締切" | "期限" | "回答期限" | "deadline" => {
                deadline = Some(value.parse::<DeadlineSpec>()?);
            }
            "種別" | "kind" => kind = Some(value.to_string()),
            _ => break,
        }
        lines.next();
    }
    let mut motion = String::new();
    for line in lines {
        if line == "-- " || line == "--" {
            break;
        }
        motion.push_str(line.trim_end());
        motion.push('\n');
    }
    let motion = motion.trim().to_string();
    if motion.is_empty() {
        return Err("the mail has no motion text after the optional 締切/種別 lines".into());
    }
    Ok(OpenRequest {
        title,
        motion,
        kind,
        deadline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_mail_gives_title_deadline_kind_and_motion() {
        let r = parse_open_mail(
            " 新規会員の加盟承認",
            "\n締切: 2026-12-04 17:00\n種別：新規会員の加盟承認\n\n株式会社サンプルの加盟を承認する。\n\n-- \n議長 山田\n",
        )
        .unwrap();
        assert_eq!(r.title, "新規会員の加盟承認");
        assert_eq!(r.deadline, Some("2026-12-04 17:00".parse().unwrap()));
        assert_eq!(r.kind.as_deref(), Some("新規会員の加盟承認"));
        assert_eq!(r.motion, "株式会社サンプルの加盟を承認する。");
    }

    #[test]
    fn an_open_mail_without_options_is_all_motion() {
        let r = parse_open_mail("予算", "令和9年度予算案を承認する。\n").unwrap();
        assert_eq!(r.deadline, None);
        assert_eq!(r.motion, "令和9年度予算案を承認する。");
    }

    #[test]
    fn an_unreadable_deadline_in_an_open_mail_is_refused_with_the_reason() {
        let e = parse_open_mail("x", "締切: 来週の金曜\n\n本文").unwrap_err();
        assert!(e.contains("来週の金曜"), "{e}");
    }

    #[test]
    fn an_open_mail_without_a_motion_is_refused() {
        assert!(parse_open_mail("x", "締切: 7d\n\n-- \nsig").is_err());
        assert!(parse_open_mail("  ", "body").is_err());
    }
}

/// What deciding a dispute did.
#[derive(Debug, Clone)]
pub struct DisputeDecision {
    /// How many open disputes were decided.
    pub resolved: u64,
    /// Closed rounds whose recorded result the decision would change:
    /// (round, recorded counts, counts with the decision).
    pub changed: Vec<(
        u32,
        crate::ballot::rules::Counts,
        crate::ballot::rules::Counts,
    )>,
}

/// Decides the open disputes of `org` on ballot `r`: upheld (the vote was not
/// theirs and never counts) or dismissed (the vote counts again). A round that
/// is still open simply counts the new way; a closed round keeps its recorded
/// result, and any difference is reported (and recorded) for the meeting that
/// confirms it, which may overturn it.
pub async fn resolve_dispute(
    app: &App,
    r: BallotRef,
    org: &crate::domain::OrgId,
    upheld: bool,
    note: Option<&str>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<DisputeDecision, AppError> {
    let mut tx = app.store.begin().await?;
    let b = load(&mut tx, r).await?;
    let resolved = Store::resolve_disputes(&mut tx, r, org, upheld, actor, note, now).await?;
    if resolved == 0 {
        return Err(AppError::Refused(format!(
            "{r} has no open dispute for {org}"
        )));
    }
    let votes = Store::votes_tx(&mut tx, r).await?;
    let changed: Vec<(
        u32,
        crate::ballot::rules::Counts,
        crate::ballot::rules::Counts,
    )> = b
        .rounds
        .iter()
        .filter_map(|round| {
            let t = round.tally.as_ref()?;
            let now_counts = b.counts(&votes, round.number);
            (now_counts != t.counts).then_some((round.number, t.counts, now_counts))
        })
        .collect();
    events::append(
        &mut tx,
        now,
        &Event::new(
            "dispute_resolved",
            Some(r),
            actor,
            serde_json::json!({
                "org": org,
                "decision": if upheld { "upheld" } else { "dismissed" },
                "note": note,
                "disputes": resolved,
                "closed_rounds_changed": changed.iter().map(|(n, was, now)| serde_json::json!({ "round": n, "recorded": was, "with_decision": now })).collect::<Vec<_>>(),
            }),
        ),
    )
    .await?;
    // The organisation that disputed hears the decision, in the same transaction.
    if let Some(o) = b.roster.organisation(org) {
        let rounds: Vec<u32> = changed.iter().map(|(n, _, _)| *n).collect();
        let mail = app
            .composer()
            .dispute_decided(&b, o, upheld, note, &rounds, now)?;
        app.enqueue(&mut tx, &mail, actor, now).await?;
    }
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    info!(ballot = %r, "dispute resolved");
    Ok(DisputeDecision { resolved, changed })
}

#[cfg(test)]
mod rules_in_force_tests {
    //! The rule a ballot runs under, through the whole path: chosen by its
    //! kind, copied into the ballot, named in its mails, counted by ingest and
    //! applied at the close, and left alone by later configuration edits.
    use super::*;
    use crate::ballot::rules::Outcome;
    use crate::ingest::process;
    use crate::testkit::{fetched, reply, TestApp};

    const KINDS: &str = r#"
[ballots]
chair = "org01"
kinds = [
  { name = "予算承認", profile = "isogj-email" },
  { name = "総会の議決", profile = "nca-general-assembly-email" },
  { name = "運営委員会の議決", profile = "isogj-meeting" },
]
"#;

    async fn open(t: &TestApp, kind: Option<&str>) -> Ballot {
        let req = OpenRequest {
            title: "令和9年度予算".into(),
            motion: "令和9年度予算案を承認する。".into(),
            kind: kind.map(str::to_string),
            deadline: Some("2026-11-29 17:00".parse().unwrap()),
        };
        super::open(&t.app, &req, "cli", t.app.now()).await.unwrap()
    }

    async fn vote(t: &TestApp, r: BallotRef, org: usize, body: &str, at: &str) {
        let raw = reply(
            &format!("rep{org}@org{org}.example"),
            &format!("Re: [{r}]"),
            body,
            &format!("{r}-v{org}-{at}@x"),
            None,
        );
        process(
            &t.app,
            &t.app.source_name(),
            &fetched(&format!("{r}{org}{at}"), raw, at),
            None,
            t.app.now(),
        )
        .await
        .unwrap();
    }

    /// The text of every queued mail of `kind` about `r`.
    async fn bodies(t: &TestApp, r: BallotRef, kind: &str) -> Vec<String> {
        t.app
            .store
            .outbox(Some(r))
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == kind)
            .map(|m| {
                let msg = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
                format!(
                    "{}\n{}",
                    msg.subject().unwrap_or_default(),
                    msg.body_text(0).unwrap_or_default()
                )
            })
            .collect()
    }

    async fn close_at_deadline(t: &TestApp, r: BallotRef) -> (Ballot, RoundClosed) {
        t.set_now("2026-11-29T08:01:00Z");
        close(&t.app, r, "scheduler", t.app.now()).await.unwrap()
    }

    #[tokio::test]
    async fn a_kind_selects_its_rule_which_is_copied_into_the_ballot_and_named_in_its_mails() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", KINDS).await;
        let b = open(&t, Some("総会の議決")).await;
        assert_eq!(b.kind.as_deref(), Some("総会の議決"));
        assert_eq!(b.profile.name, "nca-general-assembly-email");
        let stored = t.app.store.load_ballot(b.reference).await.unwrap().unwrap();
        assert_eq!(
            stored.profile, b.profile,
            "the rule is stored with the ballot"
        );
        let announce = &bodies(&t, b.reference, "announce").await[0];
        assert!(announce.contains("種別: 総会の議決"), "{announce}");
        assert!(announce.contains("NCA 運営規約 6 (1) 総会"), "{announce}");
        assert!(
            announce.contains("一任（委任）は出席とみなし"),
            "{announce}"
        );
        vote(&t, b.reference, 2, "賛成", "2026-11-23T00:00:00Z").await;
        let receipt = &bodies(&t, b.reference, "receipt").await[0];
        assert!(
            receipt.contains("規則: nca-general-assembly-email（NCA 運営規約 6 (1) 総会）"),
            "{receipt}"
        );
        let (_, _) = close_at_deadline(&t, b.reference).await;
        let result = &bodies(&t, b.reference, "result").await[0];
        assert!(result.contains("nca-general-assembly-email"), "{result}");
        // Without a kind, the default rule.
        t.set_now("2026-11-22T01:00:00Z");
        let plain = open(&t, None).await;
        assert_eq!(plain.profile.name, "isogj-email");
        assert_eq!(plain.kind, None);
    }

    #[tokio::test]
    async fn a_result_says_whether_the_deadline_came_or_the_ballot_was_closed_before_it() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", KINDS).await;
        let early = open(&t, None).await.reference;
        for i in 1..=3 {
            vote(&t, early, i, "賛成", "2026-11-23T00:00:00Z").await;
        }
        t.set_now("2026-11-24T00:00:00Z");
        close(&t.app, early, "cli", t.app.now()).await.unwrap();
        let result = &bodies(&t, early, "result").await[0];
        assert!(result.contains("回答期限前に締め切りました"), "{result}");
        assert!(!result.contains("回答期限を迎えました"), "{result}");
        // Nobody answered: not valid, and approval is not judged.
        t.set_now("2026-11-22T01:00:00Z");
        let empty = open(&t, None).await.reference;
        close_at_deadline(&t, empty).await;
        let result = &bodies(&t, empty, "result").await[0];
        assert!(result.contains("回答期限を迎えました"), "{result}");
        assert!(
            result.contains("承認: 判定せず（不成立のため）"),
            "{result}"
        );
        assert!(!result.contains("承認されず"), "{result}");
    }

    #[tokio::test]
    async fn a_delegation_counts_through_ingest_and_close_under_a_rule_that_accepts_it() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", KINDS).await;
        let r = open(&t, Some("総会の議決")).await.reference;
        vote(&t, r, 1, "議長に一任します。", "2026-11-23T00:00:00Z").await;
        vote(&t, r, 2, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, r, 3, "反対", "2026-11-23T00:00:00Z").await;
        assert!(
            bodies(&t, r, "unclear").await.is_empty(),
            "a 一任 is an answer under this rule"
        );
        let receipts = bodies(&t, r, "receipt").await;
        assert!(receipts[0].contains("回答　　: 一任"), "{}", receipts[0]);
        let (b, closed) = close_at_deadline(&t, r).await;
        // Present 3 of 4 (valid); in favour 1 yes + 1 proxy = 2 of 3 present: approved.
        assert_eq!(closed.tally.counts.delegate, 1);
        assert_eq!(closed.tally.present, 3);
        assert_eq!(closed.tally.in_favour, 2);
        assert_eq!(b.outcome, Some(Outcome::Approved));
        let result = &bodies(&t, r, "result").await[0];
        assert!(result.contains("一任 1"), "{result}");
        // The same answers under the default rule: the 一任 is not counted and
        // the member is asked again, leaving 1 yes of 2 replies: rejected.
        t.set_now("2026-11-22T01:00:00Z");
        let d = open(&t, None).await.reference;
        vote(&t, d, 1, "議長に一任します。", "2026-11-23T00:00:00Z").await;
        vote(&t, d, 2, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, d, 3, "反対", "2026-11-23T00:00:00Z").await;
        assert_eq!(bodies(&t, d, "unclear").await.len(), 1);
        let (b, closed) = close_at_deadline(&t, d).await;
        assert_eq!(closed.tally.counts.delegate, 0);
        assert_eq!(b.outcome, Some(Outcome::Rejected));
    }

    #[tokio::test]
    async fn the_chairs_own_answer_breaks_a_tie_in_a_ballot_whose_rule_says_so() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", KINDS).await;
        // The chair (org01) in favour, org02 against: 1-1 of 2 present.
        let yes = open(&t, Some("運営委員会の議決")).await.reference;
        vote(&t, yes, 1, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, yes, 2, "反対", "2026-11-23T00:00:00Z").await;
        // The chair against, org02 in favour.
        let no = open(&t, Some("運営委員会の議決")).await.reference;
        vote(&t, no, 1, "反対", "2026-11-23T00:00:00Z").await;
        vote(&t, no, 2, "賛成", "2026-11-23T00:00:00Z").await;
        // The chair silent: nobody breaks the tie.
        let silent = open(&t, Some("運営委員会の議決")).await.reference;
        vote(&t, silent, 2, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, silent, 3, "反対", "2026-11-23T00:00:00Z").await;

        let (b, closed) = close_at_deadline(&t, yes).await;
        assert!(closed.tally.tie);
        assert_eq!(b.outcome, Some(Outcome::Approved));
        assert!(closed
            .tally
            .working
            .iter()
            .any(|l| l.contains("the chair is in favour")));
        let (b, _) = close_at_deadline(&t, no).await;
        assert_eq!(b.outcome, Some(Outcome::Rejected));
        let (b, closed) = close_at_deadline(&t, silent).await;
        assert_eq!(b.outcome, Some(Outcome::Rejected));
        assert!(closed
            .tally
            .working
            .last()
            .unwrap()
            .contains("chair gave no position"));
    }

    #[tokio::test]
    async fn a_resolution_the_meeting_did_not_confirm_stays_pending_for_the_next_digest() {
        let t = TestApp::with(2, "2026-11-22T01:00:00Z", KINDS).await;
        let first = open(&t, None).await.reference;
        let second = open(&t, None).await.reference;
        for r in [first, second] {
            vote(&t, r, 1, "賛成", "2026-11-23T00:00:00Z").await;
            close_at_deadline(&t, r).await;
            t.set_now("2026-11-22T01:00:00Z");
        }
        t.set_now("2026-12-03T00:00:00Z");
        let meeting = NaiveDate::from_ymd_opt(2026, 12, 10);
        let (mail, listed) = digest(&t.app, meeting, true, "schedule", t.app.now())
            .await
            .unwrap();
        assert_eq!(listed, [first, second]);
        // The secretariat: the first was confirmed, the second was not.
        let answer = reply(
            "support@committee.example",
            "Re: digest",
            &format!("{first} 確認済、{second} 未確認\n"),
            "conf-1@committee.example",
            Some(&mail.message_id),
        );
        t.set_now("2026-12-10T09:00:00Z");
        let p = process(
            &t.app,
            &t.app.source_name(),
            &fetched("conf-1", answer, "2026-12-10T09:00:00Z"),
            None,
            t.app.now(),
        )
        .await
        .unwrap();
        assert_eq!(p.disposition, crate::disposition::Disposition::Ratification);
        let pending: Vec<BallotRef> = t
            .app
            .store
            .pending_ratification()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.reference)
            .collect();
        assert_eq!(pending, [second]);
        // The next meeting's digest lists only the one still pending.
        let (next, listed) = digest(
            &t.app,
            NaiveDate::from_ymd_opt(2027, 4, 21),
            false,
            "cli",
            t.app.now(),
        )
        .await
        .unwrap();
        assert_eq!(listed, [second]);
        assert!(next.body.contains(&format!("[{second}]")), "{}", next.body);
        assert!(!next.body.contains(&format!("[{first}]")), "{}", next.body);
        assert!(next.subject.contains("1件"), "{}", next.subject);
    }

    #[tokio::test]
    async fn an_open_ballot_keeps_its_copied_rule_when_the_configuration_changes() {
        let t = TestApp::with(4, "2026-11-22T01:00:00Z", KINDS).await;
        let r = open(&t, Some("予算承認")).await.reference;
        vote(&t, r, 1, "賛成", "2026-11-23T00:00:00Z").await;
        vote(&t, r, 2, "賛成", "2026-11-23T00:00:00Z").await;
        // The configuration now decides the same kind by two thirds of all
        // members, in one round.
        let dir = tempfile::tempdir().unwrap();
        let edited = crate::testkit::config(
            dir.path(),
            4,
            &format!(
                "{KINDS}\n[[profiles]]\nname = \"isogj-email\"\nclause = \"edited\"\nquorum = \"at least 1/2 of members\"\nthreshold = \"at least 2/3 of members\"\nrounds = 1\n"
            ),
        );
        assert_eq!(
            edited.profile_for_kind(Some("予算承認")).unwrap().clause,
            "edited"
        );
        let templates =
            crate::outbox::templates::Templates::load(None, edited.organisation.language).unwrap();
        let app = App::with_store(edited, templates, t.app.store.clone(), t.app.clock.clone());
        let b = app.store.load_ballot(r).await.unwrap().unwrap();
        assert_eq!(b.profile.clause, "ISOG-J 運営規約 5 (2) メールでの審議");
        assert_eq!(b.profile.rounds, 2);
        // 2 yes of 2 replies, 4 members: approved by the copied rule (the
        // edited one would want 2/3 of 4 members in favour).
        t.set_now("2026-11-29T08:01:00Z");
        let (b, closed) = close(&app, r, "scheduler", app.now()).await.unwrap();
        assert_eq!(b.outcome, Some(Outcome::Approved));
        assert_eq!(closed.tally.profile, "isogj-email");
        assert!(closed
            .tally
            .working
            .iter()
            .any(|l| l.contains("more than 1/2 of present")));
    }
}
