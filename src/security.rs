//! Security incidents: a vote that fails sender verification, a dispute (身に覚え
//! がない), a burst of mail from one sender, a replayed message. Following the
//! incident regulation (seeds/003: report to the security committee without
//! delay and keep the record), each is recorded in the database and the audit
//! trail and mailed at once to the configured security contact, with the
//! evidence, in the same transaction as the message that raised it.
//!
//! A flood (a forger sending hundreds of messages) must not become a flood of
//! reports: once more incidents of one kind than the burst threshold
//! (`[limits] messages_per_sender_per_hour`) were mailed within the hour, each
//! further one is still recorded, with its message, but merged into the latest
//! reported one instead of being mailed again.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use tracing::warn;

use crate::app::{App, AppError};
use crate::store::events::{self, Event};
use crate::store::{Store, StoreError};

pub use crate::incident::{Incident, Kind};

/// Records `incident` and queues its report, inside the caller's transaction,
/// unless it is merged into a recent one (see the module header).
/// `message_row` is the message that raised it, already inserted.
pub async fn report_in(
    app: &App,
    conn: &mut SqliteConnection,
    incident: &Incident,
    message_row: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    warn!(
        kind = incident.kind.as_str(),
        ballot = incident.ballot.map(|b| b.to_string()),
        "security incident"
    );
    let merged_into = Store::incident_to_merge_into(
        conn,
        incident.kind.as_str(),
        now - chrono::Duration::hours(1),
        app.config.limits.messages_per_sender_per_hour,
    )
    .await?;
    let id = Store::insert_incident(
        conn,
        now,
        incident.kind.as_str(),
        incident.ballot,
        message_row,
        &incident.summary,
        &incident.evidence,
        merged_into,
    )
    .await?;
    // The evidence is kept as a hash (it quotes a member's headers), the rest as
    // it is: `audit verify` holds the incidents row to this event.
    let evidence = serde_json::to_string(&incident.evidence).map_err(StoreError::from)?;
    events::append(
        conn,
        now,
        &Event::new(
            "incident",
            incident.ballot,
            "daemon",
            serde_json::json!({
                "incident": id,
                "kind": incident.kind,
                "summary": incident.summary,
                "message": message_row,
                "merged_into": merged_into,
                "evidence_hash": events::digest(&evidence),
            }),
        ),
    )
    .await?;
    if merged_into.is_none() && !app.config.addresses.security_contact.is_empty() {
        // The round it happened in, for the ballot's tag and Message-ID.
        let round = match incident.ballot {
            Some(b) => Store::load_ballot_tx(conn, b)
                .await?
                .map(|b| b.current_round().number),
            None => None,
        };
        let mail = app.composer().incident(id, incident, round, now)?;
        app.enqueue(conn, &mail, "daemon", now).await?;
    }
    Ok(())
}

/// The header fields an incident report shows, as they arrived, with personal
/// reply tokens left out (`verify::token::redact_tokens`): the report says
/// which ballot, round and organisation a token stood for, never the token.
pub fn evidence_headers(raw: &[u8]) -> Vec<(String, String)> {
    const WANTED: &[&str] = &[
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "return-path",
        "received",
        "authentication-results",
        "dkim-signature",
        "delivered-to",
        "x-original-from",
        "list-id",
    ];
    let fields = crate::verify::Fields::parse(raw);
    fields
        .iter()
        .filter(|(n, _)| WANTED.contains(n))
        .take(40)
        .map(|(n, v)| {
            let v: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
            let v = crate::verify::token::redact_tokens(&v).into_owned();
            let v = if v.chars().count() > 300 {
                format!("{}…", v.chars().take(300).collect::<String>())
            } else {
                v
            };
            (n.to_string(), v)
        })
        .collect()
}
