//! What the security contact hears of a message: the decision's alerts, and a
//! burst from its sender, as incidents carrying the message's evidence
//! (reported through `security::report_in` when the message is written).

use crate::app::App;
use crate::mailbox::Fetched;
use crate::reading::Reading;
use crate::security::{self, Incident, Kind};
use crate::verify::policy::Verification;

use super::decide::Decision;
use super::prepare::Prepared;

/// The incidents `decision` raises about message `p`, in order: its alerts,
/// then a burst, which belongs to the ballot the message was recorded under.
pub(super) fn of(app: &App, decision: &Decision, p: &Prepared<'_>) -> Vec<Incident> {
    let verification = p.verification.as_ref();
    let mut out: Vec<Incident> = decision
        .alerts
        .iter()
        .map(|a| Incident {
            kind: a.kind,
            ballot: a.ballot,
            summary: a.summary.clone(),
            evidence: match &a.dispute {
                None => evidence(&p.reading, p.f, verification),
                Some((org, receipt)) => serde_json::json!({
                    "org": org,
                    "receipt": receipt,
                    "dispute": evidence(&p.reading, p.f, verification),
                }),
            },
        })
        .collect();
    if decision.burst {
        out.push(Incident {
            kind: Kind::Burst,
            ballot: decision.ballot,
            summary: format!(
                "more than {} messages from one sender within an hour",
                app.config.limits.messages_per_sender_per_hour
            ),
            evidence: evidence(&p.reading, p.f, verification),
        });
    }
    out
}

/// What an incident report shows of a message.
fn evidence(
    reading: &Reading,
    f: &Fetched,
    verification: Option<&Verification>,
) -> serde_json::Value {
    serde_json::json!({
        "message_id": reading.message_id,
        "from": reading.from.as_ref().map(|a| a.as_str()),
        "subject": reading.subject,
        "received": f.internal_date,
        "mailbox_key": f.key,
        "verification": verification.map(|v| v.summary()),
        "checks": verification.map(|v| &v.checks),
        "headers": security::evidence_headers(&f.raw),
    })
}
