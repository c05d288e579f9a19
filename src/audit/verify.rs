//! `audit verify`: the hash chain of events, its recorded head, and the
//! tables held to the events that recorded their rows.
//!
//! The chain proves the events were not edited, removed from the middle or (with
//! the recorded head) cut from the end. The other tables are then held to the
//! events that recorded their rows, so that an edit there shows too. Every
//! column that decides who gets what and who counted what is covered: a
//! message's bytes, sender, verification report and INTERNALDATE (its
//! `message_received`); a vote's position, status, time, voter and receipt
//! (`vote_recorded`); an outbox row's bytes, recipients and envelope sender
//! (`mail_queued`) and whether it went (`mail_sent`, `mail_refused`); an
//! incident's kind, summary, ballot, message, evidence, time and merge
//! (`incident`); a ballot's roster, rule, chair, motion, title, state and
//! outcome (`ballot_opened`, `ballot_closed`, `ballot_cancelled`); a round's
//! window (`ballot_opened`, `round_opened`, `deadline_extended`) and result
//! (`round_closed`); a dispute's state. Rows removed behind the trail's back
//! are named by the events that recorded them. Each difference names the
//! table, the row and the column. (See `tamper` for the table of edits and the
//! sentences that name them.)
//!
//! A record written by an older version has events without some of these
//! fields. A column is held only to a field its event recorded: a field the
//! event does not have is not a difference, so an honest old database
//! verifies, and its rows written since the upgrade are held to everything.
//! Dropping a field from an event to hide an edit would break the chain.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::disposition::content_hash;
use crate::store::audit::RoundRow;
use crate::store::events;
use crate::store::{parse_ts, Store, StoreError};
use chrono::{DateTime, Utc};

use super::PAGE;

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub chain: events::Verification,
    /// Rows checked against the events, per table.
    pub rows: BTreeMap<&'static str, usize>,
    /// One sentence per row that does not match the trail, naming table and row.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// True when the chain holds, ends at its head, and every row matches.
    pub fn intact(&self) -> bool {
        self.chain.first_broken.is_none()
            && self.chain.truncated.is_none()
            && self.problems.is_empty()
    }
}

/// A recorded event, as the cross-checks read it.
struct Ev {
    id: i64,
    ballot: Option<String>,
    detail: serde_json::Value,
}

impl Ev {
    fn str(&self, key: &str) -> Option<&str> {
        self.detail.get(key).and_then(|v| v.as_str())
    }
    fn int(&self, key: &str) -> Option<i64> {
        self.detail.get(key).and_then(|v| v.as_i64())
    }
    /// The text the event recorded under `key`: None when it has no such field
    /// (written before the field was recorded: that column is not checked for
    /// this row, see the module header), Some(None) when it recorded no value.
    fn recorded(&self, key: &str) -> Option<Option<&str>> {
        self.detail.get(key).map(|v| v.as_str())
    }
    /// The same for an integer.
    fn recorded_int(&self, key: &str) -> Option<Option<i64>> {
        self.detail.get(key).map(|v| v.as_i64())
    }
    /// The same for a time (RFC 3339, as serde writes a `DateTime<Utc>`), to
    /// the microsecond: the tables keep no finer time (`store::ts`), events may.
    fn recorded_time(&self, key: &str) -> Option<Option<DateTime<Utc>>> {
        self.recorded(key).map(|t| {
            t.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .and_then(|t| DateTime::from_timestamp_micros(t.timestamp_micros()))
        })
    }
    /// Whether `have` hashes to the hash recorded under `key`; true when the
    /// event does not record it.
    fn hash_matches(&self, key: &str, have: Option<&str>) -> bool {
        match self.recorded(key) {
            None => true,
            Some(want) => want == have.map(events::digest).as_deref(),
        }
    }
}

/// A time as the sentences show it.
fn show_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| "none".into())
}

/// Walks the chain and holds every table to the events that recorded its rows.
pub async fn verify(store: &Store) -> Result<AuditReport, StoreError> {
    let chain = events::verify(store).await?;
    let from = events::checks_from(store).await?;
    let mut by_kind: HashMap<String, Vec<Ev>> = HashMap::new();
    for e in store.all_events().await? {
        let detail = serde_json::from_str(&e.detail_json).unwrap_or_default();
        by_kind.entry(e.kind).or_default().push(Ev {
            id: e.id,
            ballot: e.ballot,
            detail,
        });
    }
    let kind = |k: &str| by_kind.get(k).map(Vec::as_slice).unwrap_or(&[]);
    let mut rep = AuditReport {
        chain,
        rows: BTreeMap::new(),
        problems: Vec::new(),
    };
    check_messages(store, &kind, &mut rep).await?;
    check_votes(store, &kind, &mut rep).await?;
    check_outbox(store, &kind, from, &mut rep).await?;
    check_ballots(store, &kind, &mut rep).await?;
    check_disputes(store, &kind, &mut rep).await?;
    check_incidents(store, &kind, &mut rep).await?;
    Ok(rep)
}

type Kinds<'a> = dyn Fn(&str) -> &'a [Ev] + 'a;

async fn check_messages(
    store: &Store,
    kind: &Kinds<'_>,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    let mut recorded: HashMap<i64, &Ev> = HashMap::new();
    for e in kind("message_received")
        .iter()
        .chain(kind("message_failed"))
    {
        if let Some(m) = e.int("message") {
            recorded.insert(m, e);
        }
    }
    let mut seen = HashSet::new();
    let mut after = 0i64;
    loop {
        let rows = store.messages_page(after, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let id = r.id;
            after = id;
            seen.insert(id);
            let (hash, raw, message_id, disposition) =
                (&r.content_hash, &r.raw, &r.message_id, &r.disposition);
            let p = &mut rep.problems;
            if content_hash(raw) != *hash {
                p.push(format!("messages row #{id}: its raw bytes no longer hash to its content hash (the stored message was edited)"));
            }
            let Some(e) = recorded.get(&id) else {
                p.push(format!("messages row #{id} has no message_received event (it was added behind the trail's back)"));
                continue;
            };
            if e.str("content_hash").is_some_and(|h| h != hash) {
                p.push(format!("messages row #{id}: its content hash differs from the one event {} recorded when it arrived (the stored message was replaced)", e.id));
            }
            if e.detail.get("disposition").is_some() && e.str("disposition") != Some(disposition) {
                p.push(format!("messages row #{id}: its disposition is `{disposition}`, but event {} recorded `{}`", e.id, e.str("disposition").unwrap_or("")));
            }
            if e.detail.get("message_id").is_some() && e.str("message_id") != message_id.as_deref()
            {
                p.push(format!(
                    "messages row #{id}: its Message-ID differs from the one event {} recorded",
                    e.id
                ));
            }
            // Who the message is from and how that was verified decide whether
            // and for whom it counts; INTERNALDATE decides whether it was in time.
            if !e.hash_matches("from_addr_hash", r.from_addr.as_deref()) {
                p.push(format!(
                    "messages row #{id}: its sender (from_addr) differs from the one event {} recorded",
                    e.id
                ));
            }
            if !e.hash_matches("verification_hash", r.verification_json.as_deref()) {
                p.push(format!(
                    "messages row #{id}: its verification report differs from the one event {} recorded",
                    e.id
                ));
            }
            if let Some(want) = e.recorded_time("internal_date") {
                if want != parse_ts(&r.internal_date).ok() {
                    p.push(format!(
                        "messages row #{id}: its INTERNALDATE differs from the one event {} recorded",
                        e.id
                    ));
                }
            }
        }
    }
    rep.rows.insert("messages", seen.len());
    let mut gone: Vec<(&i64, &&Ev)> = recorded
        .iter()
        .filter(|(m, _)| !seen.contains(*m))
        .collect();
    gone.sort_by_key(|(m, _)| **m);
    for (m, e) in gone {
        rep.problems.push(format!(
            "event {} recorded message #{m}, which the messages table no longer holds",
            e.id
        ));
    }
    Ok(())
}

async fn check_votes(
    store: &Store,
    kind: &Kinds<'_>,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    // (ballot, message row, organisation, round) names one recorded answer.
    type Key = (String, i64, String, i64);
    let mut recorded: HashMap<Key, &Ev> = HashMap::new();
    let messages: HashMap<i64, &Ev> = kind("message_received")
        .iter()
        .filter_map(|e| Some((e.int("message")?, e)))
        .collect();
    for e in kind("vote_recorded") {
        if let (Some(b), Some(m), Some(o), Some(r)) =
            (&e.ballot, e.int("message"), e.str("org"), e.int("round"))
        {
            recorded.insert((b.clone(), m, o.to_string(), r), e);
        }
    }
    let rows = store.vote_rows().await?;
    let mut matched = HashSet::new();
    for r in &rows {
        let id = r.id;
        let key: Key = (r.ballot.clone(), r.message_row, r.org.clone(), r.round);
        let what = format!("votes row #{id} ({} round {}, {})", key.0, key.3, key.2);
        let Some(e) = recorded.get(&key) else {
            rep.problems.push(format!(
                "{what} has no vote_recorded event (it was added or moved behind the trail's back)"
            ));
            continue;
        };
        matched.insert(key.clone());
        for (col, have) in [("position", &r.position), ("status", &r.status)] {
            let want = e.str(col).unwrap_or("");
            if want != have {
                rep.problems.push(format!(
                    "{what}: its {col} is `{have}`, but event {} recorded `{want}`",
                    e.id
                ));
            }
        }
        let cast_at = parse_ts(&r.cast_at)?;
        let recorded_at = e
            .str("cast_at")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if recorded_at.map(|t| t.with_timezone(&Utc)) != Some(cast_at) {
            rep.problems.push(format!(
                "{what}: its time differs from the one event {} recorded",
                e.id
            ));
        }
        // Who answered; and the receipt a dispute (身に覚えがない) must answer to
        // reach this vote: moved to another vote's receipt, a dispute of that
        // one would take this vote out of the count.
        if !e.hash_matches("voter_hash", Some(&r.voter)) {
            rep.problems.push(format!(
                "{what}: its voter differs from the one event {} recorded",
                e.id
            ));
        }
        let receipt = r.receipt_id.as_deref();
        if e.recorded("receipt_id").is_some_and(|want| want != receipt) {
            rep.problems.push(format!(
                "{what}: its receipt differs from the one event {} recorded",
                e.id
            ));
        }
        // The Message-ID beside the vote is a copy of its message's, which that
        // message's event recorded (and check_messages holds the message to).
        let message_id = r.message_id.as_deref();
        if let Some(m) = messages.get(&key.1) {
            if m.recorded("message_id")
                .is_some_and(|want| want != message_id)
            {
                rep.problems.push(format!(
                    "{what}: its Message-ID differs from the one event {} recorded for messages row #{}",
                    m.id, key.1
                ));
            }
        }
    }
    rep.rows.insert("votes", rows.len());
    let mut gone: Vec<(&Key, &&Ev)> = recorded
        .iter()
        .filter(|(k, _)| !matched.contains(*k))
        .collect();
    gone.sort_by_key(|(_, e)| e.id);
    for ((b, _, o, r), e) in gone {
        rep.problems.push(format!(
            "event {} recorded a vote ({b} round {r}, {o}) that the votes table no longer holds",
            e.id
        ));
    }
    Ok(())
}

async fn check_outbox(
    store: &Store,
    kind: &Kinds<'_>,
    checks_from: i64,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    let queued: HashMap<&str, &Ev> = kind("mail_queued")
        .iter()
        .filter_map(|e| Some((e.str("message_id")?, e)))
        .collect();
    let sent: HashMap<i64, &Ev> = kind("mail_sent")
        .iter()
        .filter_map(|e| Some((e.int("outbox")?, e)))
        .collect();
    let refused: HashMap<i64, &Ev> = kind("mail_refused")
        .iter()
        .filter_map(|e| Some((e.int("outbox")?, e)))
        .collect();
    let mut after = 0i64;
    let mut n = 0;
    let mut sent_rows = HashSet::new();
    let mut refused_rows = HashSet::new();
    let mut held: HashSet<String> = HashSet::new();
    loop {
        let rows = store.outbox_page(after, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            n += 1;
            let id = r.id;
            after = id;
            let (mid, k, raw) = (&r.message_id, &r.kind, &r.raw);
            let (sent_at, failed_at) = (&r.sent_at, &r.failed_at);
            let p = &mut rep.problems;
            held.insert(mid.clone());
            let Some(e) = queued.get(mid.as_str()) else {
                p.push(format!("outbox row #{id} ({k}) has no mail_queued event (it was added behind the trail's back)"));
                continue;
            };
            if e.str("kind") != Some(k) {
                p.push(format!(
                    "outbox row #{id}: its kind is `{k}`, but event {} recorded `{}`",
                    e.id,
                    e.str("kind").unwrap_or("")
                ));
            }
            if e.str("content_hash")
                .is_some_and(|h| h != content_hash(raw))
            {
                p.push(format!("outbox row #{id} ({k}): its bytes differ from those event {} recorded when it was queued", e.id));
            }
            // The envelope is where the mail goes (and where bounces go): the
            // To: header in the bytes is only what the recipient reads.
            if let Some(want) = e.recorded("recipients_hash") {
                let have = serde_json::from_str::<Vec<String>>(&r.recipients_json)
                    .ok()
                    .map(|list| events::digest_list(&list));
                if want != have.as_deref() {
                    p.push(format!("outbox row #{id} ({k}): its recipients differ from those event {} recorded when it was queued", e.id));
                }
            }
            let envelope_from = r.envelope_from.as_str();
            if e.recorded("envelope_from")
                .is_some_and(|want| want != Some(envelope_from))
            {
                p.push(format!("outbox row #{id} ({k}): its envelope sender differs from the one event {} recorded when it was queued", e.id));
            }
            if sent_at.is_some() {
                sent_rows.insert(id);
                if !sent.contains_key(&id) && e.id > checks_from {
                    p.push(format!(
                        "outbox row #{id} ({k}) is marked sent, but no mail_sent event records it"
                    ));
                }
            }
            // Marked refused, a mail is never sent: as decisive as sent_at.
            if failed_at.is_some() {
                refused_rows.insert(id);
                if !refused.contains_key(&id) && e.id > checks_from {
                    p.push(format!(
                        "outbox row #{id} ({k}) is marked refused, but no mail_refused event records it"
                    ));
                }
            }
        }
    }
    rep.rows.insert("outbox", n);
    // A mail removed before it went is a mail nobody gets.
    let mut gone: Vec<&&Ev> = queued
        .iter()
        .filter(|(mid, _)| !held.contains(**mid))
        .map(|(_, e)| e)
        .collect();
    gone.sort_by_key(|e| e.id);
    for e in gone {
        rep.problems.push(format!(
            "event {} queued mail `{}` ({}), which the outbox table no longer holds",
            e.id,
            e.str("message_id").unwrap_or(""),
            e.str("kind").unwrap_or("")
        ));
    }
    let mut wrong: Vec<(&i64, &&Ev)> = refused
        .iter()
        .filter(|(o, _)| !refused_rows.contains(*o))
        .collect();
    wrong.sort_by_key(|(o, _)| **o);
    for (o, e) in wrong {
        rep.problems.push(format!(
            "event {} recorded outbox row #{o} as refused, but the row says it was not",
            e.id
        ));
    }
    let mut wrong: Vec<(&i64, &&Ev)> = sent
        .iter()
        .filter(|(o, _)| !sent_rows.contains(*o))
        .collect();
    wrong.sort_by_key(|(o, _)| **o);
    for (o, e) in wrong {
        rep.problems.push(format!(
            "event {} recorded outbox row #{o} as sent, but the row says it was not",
            e.id
        ));
    }
    Ok(())
}

async fn check_ballots(
    store: &Store,
    kind: &Kinds<'_>,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    let for_ballot = |k: &str, b: &str| -> Vec<&Ev> {
        kind(k)
            .iter()
            .filter(|e| e.ballot.as_deref() == Some(b))
            .collect()
    };
    let rows = store.ballot_rows().await?;
    for r in &rows {
        let (b, title, state, outcome) = (&r.reference, &r.title, &r.state, &r.outcome);
        let p = &mut rep.problems;
        match for_ballot("ballot_opened", b).first() {
            None => p.push(format!("ballots row {b} has no ballot_opened event")),
            Some(e) => {
                if e.str("title") != Some(title) {
                    p.push(format!(
                        "ballots row {b}: its title differs from the one event {} recorded",
                        e.id
                    ));
                }
                // Who may answer and for whom (the roster), under which rule,
                // who breaks a tie, on what: none of it changes after opening.
                for (have, key, what) in [
                    (&r.motion, "motion_hash", "motion"),
                    (&r.profile_json, "profile_hash", "rule profile"),
                    (&r.roster_json, "roster_hash", "roster"),
                ] {
                    if !e.hash_matches(key, Some(have)) {
                        p.push(format!(
                            "ballots row {b}: its {what} differs from the one event {} recorded when it opened",
                            e.id
                        ));
                    }
                }
                let chair = r.chair.as_deref();
                if let Some(want) = e.recorded("chair").filter(|want| *want != chair) {
                    p.push(format!(
                        "ballots row {b}: its chair is `{}`, but event {} recorded `{}`",
                        chair.unwrap_or("none"),
                        e.id,
                        want.unwrap_or("none")
                    ));
                }
            }
        }
        let closed = for_ballot("ballot_closed", b);
        let cancelled = for_ballot("ballot_cancelled", b);
        match state.as_str() {
            "closed" => match closed.last() {
                None => p.push(format!(
                    "ballots row {b} is closed, but no ballot_closed event records it"
                )),
                Some(e) if e.str("outcome") != outcome.as_deref() => p.push(format!(
                    "ballots row {b}: its outcome is `{}`, but event {} recorded `{}`",
                    outcome.as_deref().unwrap_or("none"),
                    e.id,
                    e.str("outcome").unwrap_or("none")
                )),
                Some(_) => {}
            },
            "cancelled" if cancelled.is_empty() => p.push(format!(
                "ballots row {b} is cancelled, but no ballot_cancelled event records it"
            )),
            "open" if !closed.is_empty() || !cancelled.is_empty() => p.push(format!(
                "ballots row {b} is open, but the trail records it closed or cancelled"
            )),
            _ => {}
        }
        let ratification: serde_json::Value =
            serde_json::from_str(&r.ratification_json).unwrap_or_default();
        let decided = ratification
            .get("status")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s != "pending");
        let events = for_ballot("ratified", b).len() + for_ballot("overturned", b).len();
        if decided != (events > 0) {
            p.push(format!("ballots row {b}: its confirmation at a meeting does not match the trail's ratified/overturned events"));
        }
    }
    rep.rows.insert("ballots", rows.len());

    let rounds = store.round_rows().await?;
    for r in &rounds {
        let (b, n) = (&r.ballot, r.number);
        check_round_window(r, &for_ballot, rep);
        let Some(tally) = &r.tally_json else {
            continue;
        };
        let tally: serde_json::Value = serde_json::from_str(tally).unwrap_or_default();
        let closing = for_ballot("round_closed", b)
            .into_iter()
            .rfind(|e| e.int("round") == Some(n));
        match closing {
            None => rep.problems.push(format!(
                "rounds row {b} round {n} has a result, but no round_closed event records it"
            )),
            Some(e) if e.detail.get("tally") != Some(&tally) => rep.problems.push(format!(
                "rounds row {b} round {n}: its result differs from the one event {} recorded",
                e.id
            )),
            Some(_) => {}
        }
    }
    rep.rows.insert("rounds", rounds.len());
    Ok(())
}

/// A round's window, `[opened_at, deadline]`, decides which answers count: held
/// to the events that set it (`ballot_opened` for round 1, `round_opened` for a
/// re-ballot, then each `deadline_extended`, the last one standing).
fn check_round_window<'a>(
    r: &RoundRow,
    for_ballot: &dyn Fn(&str, &str) -> Vec<&'a Ev>,
    rep: &mut AuditReport,
) {
    let (b, n) = (r.ballot.as_str(), r.number);
    let opening = if n == 1 {
        for_ballot("ballot_opened", b).into_iter().next()
    } else {
        for_ballot("round_opened", b)
            .into_iter()
            .rfind(|e| e.int("round") == Some(n))
    };
    let Some(opening) = opening else {
        rep.problems.push(format!(
            "rounds row {b} round {n} has no event that opened it"
        ));
        return;
    };
    let mut deadline = opening.recorded_time("deadline").map(|t| (opening.id, t));
    for e in for_ballot("deadline_extended", b) {
        if e.int("round") == Some(n) && e.id > opening.id {
            if let Some(t) = e.recorded_time("to") {
                deadline = Some((e.id, t));
            }
        }
    }
    for (what, column, recorded) in [
        (
            "opening",
            &r.opened_at,
            opening.recorded_time("opened_at").map(|t| (opening.id, t)),
        ),
        ("deadline", &r.deadline, deadline),
    ] {
        let Some((event, want)) = recorded else {
            continue;
        };
        let have = parse_ts(column).ok();
        if have != want {
            rep.problems.push(format!(
                "rounds row {b} round {n}: its {what} is {}, but event {event} recorded {}",
                show_time(have),
                show_time(want)
            ));
        }
    }
}

async fn check_incidents(
    store: &Store,
    kind: &Kinds<'_>,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    let recorded: HashMap<i64, &Ev> = kind("incident")
        .iter()
        .filter_map(|e| Some((e.int("incident")?, e)))
        .collect();
    let times = events::times_of(store, "incident").await?;
    // An incident may name a ballot that does not exist (a reply to an unknown
    // reference); its row then has none, and that is no edit.
    let ballots: HashSet<String> = store
        .list_ballots()
        .await?
        .into_iter()
        .map(|b| b.reference.to_string())
        .collect();
    let mut seen = HashSet::new();
    let mut after = 0i64;
    loop {
        let rows = store.incidents_page(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for i in &rows {
            seen.insert(i.id);
            let id = i.id;
            let p = &mut rep.problems;
            let Some(e) = recorded.get(&id) else {
                p.push(format!("incidents row #{id} ({}) has no incident event (it was added behind the trail's back)", i.kind));
                continue;
            };
            let what = format!("incidents row #{id} ({})", e.str("kind").unwrap_or(&i.kind));
            if let Some(want) = e.recorded("kind").filter(|want| *want != Some(&i.kind)) {
                p.push(format!(
                    "incidents row #{id}: its kind is `{}`, but event {} recorded `{}`",
                    i.kind,
                    e.id,
                    want.unwrap_or("none")
                ));
            }
            if e.recorded("summary")
                .is_some_and(|want| want != Some(&i.summary))
            {
                p.push(format!(
                    "{what}: its summary differs from the one event {} recorded",
                    e.id
                ));
            }
            if !e.hash_matches("evidence_hash", Some(&i.detail_json)) {
                p.push(format!(
                    "{what}: its evidence differs from the one event {} recorded",
                    e.id
                ));
            }
            let unknown = e.ballot.as_ref().is_some_and(|b| !ballots.contains(b));
            if i.ballot != e.ballot && !(i.ballot.is_none() && unknown) {
                p.push(format!(
                    "{what}: its ballot is `{}`, but event {} recorded `{}`",
                    i.ballot.as_deref().unwrap_or("none"),
                    e.id,
                    e.ballot.as_deref().unwrap_or("none")
                ));
            }
            // Which message raised it, and whether it was mailed or covered by
            // another's report (flood control counts the ones mailed).
            for (col, have) in [("message", i.message_row), ("merged_into", i.merged_into)] {
                if let Some(want) = e.recorded_int(col).filter(|want| *want != have) {
                    let show = |v: Option<i64>| v.map_or("none".to_string(), |v| format!("#{v}"));
                    p.push(format!(
                        "{what}: its {col} is `{}`, but event {} recorded `{}`",
                        show(have),
                        e.id,
                        show(want)
                    ));
                }
            }
            let at = times.get(&e.id).and_then(|t| parse_ts(t).ok());
            if parse_ts(&i.at).ok() != at {
                p.push(format!(
                    "{what}: its time differs from that of event {}",
                    e.id
                ));
            }
        }
    }
    rep.rows.insert("incidents", seen.len());
    let mut gone: Vec<(&i64, &&Ev)> = recorded
        .iter()
        .filter(|(i, _)| !seen.contains(*i))
        .collect();
    gone.sort_by_key(|(i, _)| **i);
    for (i, e) in gone {
        rep.problems.push(format!(
            "event {} recorded incident #{i}, which the incidents table no longer holds",
            e.id
        ));
    }
    Ok(())
}

async fn check_disputes(
    store: &Store,
    kind: &Kinds<'_>,
    rep: &mut AuditReport,
) -> Result<(), StoreError> {
    let rows = store.dispute_rows().await?;
    for r in &rows {
        let (id, vote, state, b, org) = (r.id, r.vote, &r.state, &r.ballot, &r.org);
        let Some(opened) = kind("vote_disputed")
            .iter()
            .find(|e| e.int("vote") == Some(vote))
        else {
            rep.problems
                .push(format!("disputes row #{id} has no vote_disputed event"));
            continue;
        };
        let resolved = kind("dispute_resolved").iter().find(|e| {
            e.id > opened.id && e.ballot.as_deref() == Some(b) && e.str("org") == Some(org)
        });
        let recorded = resolved.and_then(|e| e.str("decision")).unwrap_or("open");
        if recorded != state {
            rep.problems.push(format!(
                "disputes row #{id} ({b}, {org}): its state is `{state}`, but the trail says `{recorded}`"
            ));
        }
    }
    rep.rows.insert("disputes", rows.len());
    Ok(())
}

#[cfg(test)]
mod tamper;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ballot_with_votes;
    use crate::domain::BallotRef;
    use crate::testkit::{reply, TestApp};

    async fn record_with_mail_sent() -> (TestApp, BallotRef) {
        use crate::outbox::transport::{MemoryTransport, TransportError};
        use crate::outbox::worker::{step, StepOptions};
        let (t, r) = ballot_with_votes().await;
        let all = t.app.store.outbox(None).await.unwrap();
        let last = all.last().unwrap().id;
        t.app
            .store
            .defer(last, t.app.now() + chrono::Duration::days(1))
            .await
            .unwrap();
        let transport = MemoryTransport::default();
        let opts = StepOptions::new(1000, None);
        step(&t.app.store, &transport, t.app.now(), &opts)
            .await
            .unwrap();
        *transport.fail.lock().unwrap() =
            Some(TransportError::Permanent("550 no such user".into()));
        let later = t.app.now() + chrono::Duration::days(2);
        step(&t.app.store, &transport, later, &opts).await.unwrap();
        (t, r)
    }

    async fn kinds(t: &TestApp) -> Vec<String> {
        sqlx::query_scalar("SELECT kind FROM events ORDER BY id")
            .fetch_all(t.app.store.pool())
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_untouched_record_verifies_and_every_event_of_the_issue_is_in_the_trail() {
        let (t, _) = record_with_mail_sent().await;
        let rep = verify(&t.app.store).await.unwrap();
        assert!(rep.intact(), "{rep:#?}");
        assert_eq!(rep.rows["messages"], 5);
        assert_eq!(rep.rows["votes"], 5);
        assert_eq!(rep.rows["rounds"], 1);
        let kinds = kinds(&t).await;
        for k in [
            "ballot_opened",
            "message_received",
            "vote_recorded",
            "vote_superseded",
            "mail_queued",
            "mail_sent",
            "mail_refused",
            "round_closed",
            "ballot_closed",
        ] {
            assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
        }
        let superseded: String =
            sqlx::query_scalar("SELECT detail_json FROM events WHERE kind = 'vote_superseded'")
                .fetch_one(t.app.store.pool())
                .await
                .unwrap();
        let d: serde_json::Value = serde_json::from_str(&superseded).unwrap();
        assert_eq!(d["org"], "org02");
        assert_eq!(d["superseded"]["position"], "no");
        assert_eq!(d["by"]["position"], "yes");
        assert_eq!(
            d["by"]["message"],
            serde_json::Value::Null,
            "the message being recorded"
        );
    }

    /// `audit verify` after `sql` (run on a fresh copy of the record).
    async fn verify_after(sql: &str) -> AuditReport {
        let (t, _) = record_with_mail_sent().await;
        sqlx::query(sql).execute(t.app.store.pool()).await.unwrap();
        verify(&t.app.store).await.unwrap()
    }

    fn names(rep: &AuditReport, needle: &str) {
        assert!(
            rep.problems.iter().any(|p| p.contains(needle)),
            "no problem naming `{needle}` in {:#?}",
            rep.problems
        );
        assert!(!rep.intact());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_edited_row_in_each_table_is_named() {
        // events: the chain breaks at the edited event.
        let rep = verify_after("UPDATE events SET actor = 'someone' WHERE id = 3").await;
        assert_eq!(rep.chain.first_broken.map(|(id, _)| id), Some(3));
        // events cut from the end: the head says so.
        let rep =
            verify_after("DELETE FROM events WHERE id > (SELECT MAX(id) - 2 FROM events)").await;
        assert_eq!(rep.chain.first_broken, None);
        assert!(
            rep.chain
                .truncated
                .as_deref()
                .unwrap()
                .contains("were removed"),
            "{rep:?}"
        );
        assert!(!rep.intact());
        // messages: the stored bytes, alone or with their hash.
        names(
            &verify_after("UPDATE messages SET raw = CAST(replace(CAST(raw AS TEXT), '賛成', '反対') AS BLOB) WHERE id = 1").await,
            "messages row #1: its raw bytes no longer hash",
        );
        let forged = reply(
            "rep1@org1.example",
            "Re: [B-2026-001]",
            "反対",
            "m0@x",
            None,
        );
        let rep = verify_after(&format!(
            "UPDATE messages SET raw = X'{}', content_hash = '{}' WHERE id = 1",
            hex::encode(&forged),
            content_hash(&forged)
        ))
        .await;
        names(
            &rep,
            "messages row #1: its content hash differs from the one event",
        );
        names(
            &verify_after("UPDATE messages SET disposition = 'automated' WHERE id = 2").await,
            "messages row #2: its disposition is `automated`",
        );
        // votes: edited, moved, removed.
        names(
            &verify_after("UPDATE votes SET position = 'no' WHERE org_id = 'org01'").await,
            "(B-2026-001 round 1, org01): its position is `no`, but event",
        );
        names(
            &verify_after("UPDATE votes SET org_id = 'org04' WHERE org_id = 'org03'").await,
            "(B-2026-001 round 1, org04) has no vote_recorded event",
        );
        names(
            &verify_after("DELETE FROM votes WHERE org_id = 'org03'").await,
            "(B-2026-001 round 1, org03) that the votes table no longer holds",
        );
        // outbox: the bytes queued, and whether they went.
        names(
            &verify_after("UPDATE outbox SET raw = CAST('Subject: x' AS BLOB) WHERE id = 1").await,
            "outbox row #1 (announce): its bytes differ",
        );
        names(
            &verify_after("UPDATE outbox SET sent_at = NULL WHERE id = 1").await,
            "recorded outbox row #1 as sent, but the row says it was not",
        );
        names(
            &verify_after("UPDATE outbox SET sent_at = failed_at, failed_at = NULL WHERE failed_at IS NOT NULL").await,
            "is marked sent, but no mail_sent event records it",
        );
        // rounds and ballots: the result and the outcome.
        names(
            &verify_after("UPDATE rounds SET tally_json = replace(tally_json, '\"approved\":true', '\"approved\":false')").await,
            "rounds row B-2026-001 round 1: its result differs",
        );
        names(
            &verify_after("UPDATE ballots SET outcome = 'rejected'").await,
            "ballots row B-2026-001: its outcome is `rejected`",
        );
    }
}
