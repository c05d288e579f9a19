//! Mail to the committee's officials: an admin hears that the ballot they
//! asked for is open or why their mail could not be acted on, the
//! secretariat what its confirmation recorded, the security contact of an
//! incident.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::headers::tag;
use super::{Answering, Composer};
use crate::ballot::Ballot;
use crate::domain::{Address, BallotRef};
use crate::language::Language;
use crate::outbox::templates::TemplateError;
use crate::outbox::{AutoSubmitted, Mail};

impl Composer<'_> {
    /// Confirms to an admin that the ballot they asked for by mail is open.
    pub fn opened(
        &self,
        b: &Ballot,
        requester: &Address,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "opened",
            self.ctx(json!({ "ballot": self.ballot_view(b), "requester": requester.as_str(), "requester_greeting": self.official_greeting(requester) })),
        )?;
        Ok(self.reply(
            "opened",
            Some((b.reference, 1)),
            vec![requester.clone()],
            answering,
            r,
        ))
    }

    /// Tells an admin why their mail could not be acted on.
    pub fn admin_error(
        &self,
        requester: &Address,
        subject: &str,
        error: &str,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "admin_error",
            self.ctx(json!({
                "requester": requester.as_str(),
                "requester_greeting": self.official_greeting(requester),
                "subject": subject,
                "error": error,
                "prefix": self.config.ballots.open_subject_prefix,
            })),
        )?;
        Ok(Mail {
            // Its Message-ID spells the kind with a hyphen, as it always has
            // (the golden files pin it).
            message_id: self.message_id(None, "admin-error", Some(&tag(answering))),
            ..self.reply("admin_error", None, vec![requester.clone()], answering, r)
        })
    }

    /// Tells the secretariat what its reply to a digest recorded.
    pub fn ratified(
        &self,
        requester: &Address,
        meeting: Option<NaiveDate>,
        confirmed: &[Ballot],
        still_pending: &[BallotRef],
        no_meeting: bool,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        // The secretariat prepares the minutes: it hears of every confirmation
        // by mail, also one an admin made.
        let mut to = vec![requester.clone()];
        for a in &self.config.addresses.secretariat {
            if !to.contains(a) {
                to.push(a.clone());
            }
        }
        let confirmed: Vec<Value> = confirmed
            .iter()
            .map(|b| {
                json!({
                    "reference": b.reference.to_string(),
                    "title": b.title,
                    "outcome_label": b.outcome.map(|o| self.outcome_label(o)).unwrap_or("-"),
                    "profile": b.profile.name,
                    "clause": b.profile.clause,
                })
            })
            .collect();
        let r = self.templates.render(
            "ratified",
            self.ctx(json!({
                "requester": requester.as_str(),
                "requester_greeting": self.official_greeting(requester),
                "copied": to.len() > 1,
                "no_meeting": no_meeting,
                "meeting": meeting.map(|m| self.meeting_date(m)),
                "confirmed": confirmed,
                "still_pending": still_pending.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            })),
        )?;
        Ok(self.reply("ratified", None, to, answering, r))
    }

    /// A fault of the daemon that lasts (the mailbox unread, mail not going
    /// out, rounds that cannot close), or its all-clear (`cleared`), to the
    /// admins. `fault` names it (`mailbox`, `outgoing`, `rounds`); `findings`
    /// are the sentences `status` shows.
    pub fn alert(
        &self,
        fault: &str,
        findings: &[String],
        cleared: bool,
        repeat_hours: i64,
        now: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let label = match (self.lang(), fault) {
            (Language::Ja, "mailbox") => "メールボックスの読み取り",
            (Language::Ja, "outgoing") => "メールの送信",
            (Language::Ja, _) => "締切を過ぎた審議の締め切り",
            (Language::En, "mailbox") => "reading the mailbox",
            (Language::En, "outgoing") => "sending mail",
            (Language::En, _) => "closing rounds past their deadline",
        };
        let r = self.templates.render(
            "alert",
            self.ctx(json!({
                "fault": fault,
                "fault_label": label,
                "findings": findings,
                "cleared": cleared,
                "repeat_hours": repeat_hours,
                "at": self.when(now),
            })),
        )?;
        let unique = format!(
            "{fault}.{}.{}",
            if cleared { "clear" } else { "alert" },
            now.timestamp()
        );
        Ok(self.mail(
            "alert",
            None,
            Some(&unique),
            self.config.addresses.admins.clone(),
            AutoSubmitted::Generated,
            r,
        ))
    }

    /// A security incident, to the security contact. When it belongs to a
    /// ballot (and `round` is that ballot's round when it happened), it is
    /// tagged like every other mail about the ballot: `[B-…]` in the subject,
    /// a Message-ID beginning with the reference and round, so the contact's
    /// client files it with the ballot's thread.
    pub fn incident(
        &self,
        id: i64,
        incident: &crate::incident::Incident,
        round: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let about = incident.ballot.zip(round);
        let r = self.templates.render(
            "incident",
            self.ctx(json!({
                "id": id,
                "kind": incident.kind.as_str(),
                "ballot": incident.ballot.map(|b| b.to_string()),
                "summary": incident.summary,
                "at": self.when(now),
                "evidence": serde_json::to_string_pretty(&incident.evidence).unwrap_or_default(),
            })),
        )?;
        Ok(Mail {
            // Recorded against its ballot even when the round is not known.
            ballot: incident.ballot,
            ..self.mail(
                "incident",
                about,
                Some(&id.to_string()),
                self.config.addresses.security_contact.clone(),
                AutoSubmitted::Generated,
                r,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Language;
    use crate::outbox::templates::Templates;
    use crate::outbox::MessageIdKey;
    use crate::testkit::{at, config};

    #[test]
    fn an_incident_about_no_ballot_carries_no_ballots_tag() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::En).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let incident = crate::incident::Incident {
            kind: crate::incident::Kind::Burst,
            ballot: None,
            summary: "more than 30 messages from one sender within an hour".into(),
            evidence: json!({}),
        };
        let m = composer
            .incident(4, &incident, None, at("2026-11-24T01:00:00Z"))
            .unwrap();
        assert!(m.message_id.starts_with("incident.4."), "{}", m.message_id);
        assert!(!m.subject.contains("[B-"), "{}", m.subject);
        let r2 = crate::incident::Incident {
            ballot: Some(BallotRef::new(2026, 3).unwrap()),
            ..incident
        };
        let m = composer
            .incident(5, &r2, Some(2), at("2026-11-24T01:00:00Z"))
            .unwrap();
        assert!(
            m.message_id.starts_with("b-2026-003.r2.incident.5."),
            "{}",
            m.message_id
        );
        assert!(m.subject.starts_with("[B-2026-003] "), "{}", m.subject);
    }
}
