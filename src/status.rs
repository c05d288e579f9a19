//! The daemon's health as an admin or a monitoring system reads it
//! (`mail-ballot status`), and the faults the daemon mails the admins about
//! (`alerts`): whether the mailbox is being read, whether mail goes out,
//! whether every round past its deadline can close.
//!
//! What the record says is gathered first ([`gather`]); which of it is a
//! fault, and how bad, is a pure function of that and `now` ([`assess`]), so
//! the command, the alerts and the tests judge alike.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::app::App;
use crate::config::Alerts;
use crate::domain::BallotRef;
use crate::store::{OutboxSummary, StoreError};

/// How bad a finding is; the exit status of `status` (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    /// The exit status a monitor reads (Nagios' convention).
    pub fn exit_code(self) -> i32 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        }
    }
}

/// What a finding is about: one alert per kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    Mailbox,
    Outgoing,
    Rounds,
}

impl Fault {
    /// The name kept in the health table and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Mailbox => "mailbox",
            Fault::Outgoing => "outgoing",
            Fault::Rounds => "rounds",
        }
    }
}

/// One thing wrong, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub fault: Fault,
    pub severity: Severity,
    pub what: String,
}

/// The mailbox as the record knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailboxState {
    /// The last time it was read to its end.
    pub last_read: Option<DateTime<Utc>>,
    /// Since when reading it fails without a success, and the last error.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// An open round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundState {
    pub ballot: BallotRef,
    pub title: String,
    pub round: u32,
    pub deadline: DateTime<Utc>,
    /// Organisations that answered, of all that may.
    pub answered: u32,
    pub eligible: u32,
}

/// Everything `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub now: DateTime<Utc>,
    /// Who holds the daemon's lock, when a daemon runs.
    pub daemon: Option<String>,
    pub mailbox: MailboxState,
    pub outbox: OutboxSummary,
    pub rounds: Vec<RoundState>,
    /// The audit trail's last event: its number and hash.
    pub audit_head: Option<(i64, String)>,
    pub findings: Vec<Finding>,
    pub severity: Severity,
}

/// The faults in what the record says at `now`, by the limits of `[alerts]`.
/// A round may wait a few minutes past its deadline for the mailbox to be read
/// past it (the reader and scheduler run apart); longer is a warning, and past
/// `round_waiting_after` critical.
pub fn assess(
    limits: &Alerts,
    mailbox: &MailboxState,
    outbox: &OutboxSummary,
    rounds: &[RoundState],
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let minutes = |d: Duration| d.num_minutes();
    let stale = mailbox
        .last_read
        .is_none_or(|t| now - t > limits.mailbox_stale_after);
    let error = mailbox
        .last_error
        .as_deref()
        .map(|e| format!(" (last error: {e})"))
        .unwrap_or_default();
    if stale {
        out.push(Finding {
            fault: Fault::Mailbox,
            severity: Severity::Critical,
            what: match mailbox.last_read {
                Some(t) => format!(
                    "the mailbox has not been read for {} minutes{error}",
                    minutes(now - t)
                ),
                None => format!("the mailbox has never been read{error}"),
            },
        });
    } else if let Some(since) = mailbox.failing_since {
        out.push(Finding {
            fault: Fault::Mailbox,
            severity: Severity::Warning,
            what: format!(
                "reading the mailbox has failed for {} minutes{error}",
                minutes(now - since)
            ),
        });
    }
    if let Some(since) = outbox.failing_since {
        let critical = now - since > limits.mail_failing_after;
        out.push(Finding {
            fault: Fault::Outgoing,
            severity: if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            what: format!(
                "{} mail(s) could not be sent yet, the oldest queued {} minutes ago",
                outbox.failing,
                minutes(now - since)
            ),
        });
    }
    let late: Vec<&RoundState> = rounds
        .iter()
        .filter(|r| now - r.deadline > Duration::minutes(5))
        .collect();
    if let Some(oldest) = late.iter().map(|r| r.deadline).min() {
        let names: Vec<String> = late
            .iter()
            .map(|r| format!("{} round {}", r.ballot, r.round))
            .collect();
        out.push(Finding {
            fault: Fault::Rounds,
            severity: if now - oldest > limits.round_waiting_after {
                Severity::Critical
            } else {
                Severity::Warning
            },
            what: format!(
                "{} past its deadline and not closed: the mailbox must be read past the deadline first",
                names.join(", ")
            ),
        });
    }
    out
}

/// Reads what `status` shows from the record, and assesses it at `now`.
pub async fn gather(app: &App, now: DateTime<Utc>) -> Result<Status, StoreError> {
    let store = &app.store;
    let health = store.health().await?;
    let mailbox_health = health
        .iter()
        .find(|h| h.component == Fault::Mailbox.as_str());
    let mailbox = MailboxState {
        last_read: store.synced_at(&app.source_name()).await?,
        failing_since: mailbox_health.and_then(|h| h.failing_since),
        last_error: mailbox_health.and_then(|h| h.error.clone()),
        last_error_at: mailbox_health.and_then(|h| h.error_at),
    };
    let outbox = store.outbox_summary().await?;
    let mut rounds = Vec::new();
    for s in store.list_ballots().await? {
        if s.state != crate::ballot::State::Open {
            continue;
        }
        let Some(b) = store.load_ballot(s.reference).await? else {
            continue;
        };
        let votes = store.votes(s.reference).await?;
        let round = b.current_round();
        let counts = b.counts(&votes, round.number);
        rounds.push(RoundState {
            ballot: b.reference,
            title: b.title.clone(),
            round: round.number,
            deadline: round.deadline,
            answered: counts.answered(),
            eligible: counts.eligible,
        });
    }
    let audit_head = crate::store::events::head(store).await?;
    let daemon = crate::store::lock::DaemonLock::holder(&app.config.storage.database);
    let findings = assess(&app.config.alerts, &mailbox, &outbox, &rounds, now);
    let severity = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok);
    Ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        now,
        daemon,
        mailbox,
        outbox,
        rounds,
        audit_head,
        findings,
        severity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ballot::tests::utc;

    fn round(deadline: &str) -> RoundState {
        RoundState {
            ballot: BallotRef::new(2026, 1).unwrap(),
            title: "予算".into(),
            round: 1,
            deadline: utc(deadline),
            answered: 3,
            eligible: 10,
        }
    }

    #[test]
    fn a_mailbox_read_minutes_ago_with_mail_going_out_is_fine() {
        let now = utc("2026-12-04T10:00:00Z");
        let mailbox = MailboxState {
            last_read: Some(utc("2026-12-04T09:58:00Z")),
            ..Default::default()
        };
        let f = assess(
            &Alerts::default(),
            &mailbox,
            &OutboxSummary::default(),
            &[round("2026-12-05T08:00:00Z")],
            now,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_mailbox_unread_past_the_limit_is_critical_and_says_the_last_error() {
        let now = utc("2026-12-04T10:00:00Z");
        let mailbox = MailboxState {
            last_read: Some(utc("2026-12-04T09:40:00Z")),
            failing_since: Some(utc("2026-12-04T09:41:00Z")),
            last_error: Some("cannot connect to 127.0.0.1:143: connection refused".into()),
            ..Default::default()
        };
        let f = assess(
            &Alerts::default(),
            &mailbox,
            &OutboxSummary::default(),
            &[],
            now,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(
            f[0].what,
            "the mailbox has not been read for 20 minutes (last error: cannot connect to 127.0.0.1:143: connection refused)"
        );
        // Failing for a few minutes only: a warning.
        let mailbox = MailboxState {
            last_read: Some(utc("2026-12-04T09:58:00Z")),
            ..mailbox
        };
        let f = assess(
            &Alerts::default(),
            &mailbox,
            &OutboxSummary::default(),
            &[],
            now,
        );
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn mail_failing_past_the_limit_and_rounds_that_cannot_close_are_critical() {
        let now = utc("2026-12-04T10:00:00Z");
        let mailbox = MailboxState {
            last_read: Some(utc("2026-12-04T09:59:00Z")),
            ..Default::default()
        };
        let outbox = OutboxSummary {
            queued: 4,
            failing: 2,
            failing_since: Some(utc("2026-12-04T08:30:00Z")),
            ..Default::default()
        };
        let f = assess(
            &Alerts::default(),
            &mailbox,
            &outbox,
            &[round("2026-12-04T09:58:00Z"), round("2026-12-04T08:00:00Z")],
            now,
        );
        let by = |fault| f.iter().find(|x| x.fault == fault).unwrap().severity;
        assert_eq!(by(Fault::Outgoing), Severity::Critical);
        assert_eq!(by(Fault::Rounds), Severity::Critical);
        // Two minutes past a deadline is the reader's normal lag.
        let f = assess(
            &Alerts::default(),
            &mailbox,
            &OutboxSummary::default(),
            &[round("2026-12-04T09:58:00Z")],
            now,
        );
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(Severity::Critical.exit_code(), 2);
    }
}
