//! A security incident as the bot describes it: its kind, the ballot, one
//! sentence and the evidence. Shared by the decision that raises it
//! (`ingest`), the service that records and reports it (`security`) and the
//! mail that reports it (`outbox::compose`).

use serde::Serialize;

use crate::domain::BallotRef;

/// The kinds of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    VerificationFailed,
    Dispute,
    Burst,
    Replay,
}

impl Kind {
    /// The machine name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::VerificationFailed => "verification_failed",
            Kind::Dispute => "dispute",
            Kind::Burst => "burst",
            Kind::Replay => "replay",
        }
    }
}

/// An incident to report.
#[derive(Debug, Clone)]
pub struct Incident {
    pub kind: Kind,
    pub ballot: Option<BallotRef>,
    /// One sentence (English) for the subject and the record.
    pub summary: String,
    /// The evidence: message ids, headers, verification results.
    pub evidence: serde_json::Value,
}
