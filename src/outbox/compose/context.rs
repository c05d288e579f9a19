//! What every template sees: the committee, a ballot, a member, who answered
//! what; and positions and outcomes in the templates' language.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Composer, Language, Member};
use crate::ballot::rules::{Outcome, VoteChanges};
use crate::ballot::{Ballot, VoteRecord};
use crate::domain::Position;

impl Composer<'_> {
    fn common(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("org".into(), json!(self.config.organisation.name));
        m.insert("bot_name".into(), json!(self.config.addresses.bot_name));
        m.insert("list".into(), json!(self.config.addresses.list.as_str()));
        m.insert("lang".into(), json!(self.lang().as_str()));
        m
    }

    pub(super) fn ctx(&self, extra: Value) -> Value {
        let mut m = self.common();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        Value::Object(m)
    }

    pub(super) fn position_label(&self, p: Position) -> &'static str {
        match self.lang() {
            Language::Ja => p.label_ja(),
            Language::En => p.label_en(),
        }
    }

    pub(super) fn outcome_label(&self, o: Outcome) -> &'static str {
        match self.lang() {
            Language::Ja => o.label_ja(),
            Language::En => o.label_en(),
        }
    }

    /// What every mail about a ballot may show of it.
    pub fn ballot_view(&self, b: &Ballot) -> Value {
        let round = b.current_round();
        json!({
            "reference": b.reference.to_string(),
            "title": b.title,
            "motion": b.motion.trim_end(),
            // Short enough to read aloud at a meeting, long enough that no other text has it.
            "motion_hash": &b.motion_hash()[..16],
            "kind": b.kind,
            "profile": b.profile.name,
            "clause": b.profile.clause,
            "rule": match self.lang() { Language::Ja => b.profile.describe_ja(), Language::En => b.profile.describe_en() },
            "carry_over": b.profile.carry_over,
            "vote_changes": match b.profile.vote_changes { VoteChanges::UntilDeadline => "until_deadline", VoteChanges::Closed => "closed" },
            "round": round.number,
            "deadline": self.when(round.deadline),
            "opened": self.when(b.opened_at),
            "eligible": b.roster.eligible(),
            "state": b.state.as_str(),
            "cancel_reason": b.cancel_reason,
        })
    }

    /// How a mail to an admin or the secretariat greets them: the roster names
    /// no officials, so the address is shown beside ご担当者様, never with 様
    /// after it.
    pub(super) fn official_greeting(&self, who: &crate::domain::Address) -> String {
        match self.lang() {
            Language::Ja => format!("ご担当者様（{who}）"),
            Language::En => format!("Dear {who},"),
        }
    }

    /// The organisation a personal mail is about, and how the mail greets it:
    /// the representative by name (様) when the roster names them and they are
    /// the one who wrote or is written to, else the organisation (御中); 様 never
    /// follows a bare address, and 御中 and 様 are never joined.
    pub(super) fn member_view(&self, m: Member<'_>) -> Value {
        let name = m
            .org
            .representative_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && *m.voter == m.org.representative);
        let greeting = match (self.lang(), name) {
            (Language::Ja, Some(n)) => format!("{}\n{n} 様", m.org.name),
            (Language::Ja, None) => format!("{} 御中", m.org.name),
            (Language::En, Some(n)) => format!("Dear {n} ({}),", m.org.name),
            (Language::En, None) => format!("To {},", m.org.name),
        };
        json!({
            "org_name": m.org.name,
            "voter": m.voter.as_str(),
            "name": name,
            "greeting": greeting,
        })
    }

    /// Who answered what in `round`, one row per organisation in roster order.
    pub fn answer_table(&self, b: &Ballot, votes: &[VoteRecord], round: u32) -> Vec<Value> {
        self.answer_table_with(b, votes, round, |t| self.when(t))
    }

    /// The same, with times written by `when`.
    pub fn answer_table_with(
        &self,
        b: &Ballot,
        votes: &[VoteRecord],
        round: u32,
        when: impl Fn(DateTime<Utc>) -> String,
    ) -> Vec<Value> {
        let counted = b.counted_votes(votes, round);
        // An organisation whose answer in this round is disputed (身に覚えがない):
        // the result says so until an admin decides.
        let disputed = |org: &crate::domain::OrgId| {
            votes
                .iter()
                .any(|v| &v.org == org && v.round == round && v.disputed)
        };
        let none = match self.lang() {
            Language::Ja => "未回答",
            Language::En => "no answer",
        };
        b.roster
            .voters()
            .map(|o| match counted.get(&o.id) {
                Some(v) => json!({
                    "org": o.id.as_str(),
                    "name": o.name,
                    "answer": self.position_label(v.position),
                    "position": v.position.as_str(),
                    "at": when(v.cast_at),
                    "disputed": disputed(&o.id),
                }),
                None => json!({ "org": o.id.as_str(), "name": o.name, "answer": none, "position": null, "at": null, "disputed": disputed(&o.id) }),
            })
            .collect()
    }
}
