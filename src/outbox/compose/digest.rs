//! The ratification digest to the secretariat: every resolution awaiting
//! the committee's confirmation, round by round, as text, HTML and a CSV for
//! the minutes; and dates written as the minutes write them.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Composer, Language};
use crate::ballot::{Ballot, VoteRecord};
use crate::outbox::templates::TemplateError;
use crate::outbox::{Attachment, AutoSubmitted, Mail};

impl Composer<'_> {
    /// A moment as the digest shows it: with the Japanese era when configured
    /// (令和8年12月1日(火) 17:00), since it goes into the minutes.
    pub fn digest_when(&self, t: DateTime<Utc>) -> String {
        if self.lang() == Language::Ja && self.config.schedule.era_dates {
            let l = t.with_timezone(&self.tz());
            format!(
                "{} {}",
                crate::ballot::calendar::era_date(l.date_naive()),
                l.format("%H:%M")
            )
        } else {
            self.when(t)
        }
    }

    /// A meeting's date as the digest and its confirmation show it: with the
    /// Japanese era when configured (令和8年12月1日(火)), else 2026年12月1日(火)
    /// or `Tue 1 Dec 2026`.
    pub fn meeting_date(&self, d: NaiveDate) -> String {
        use chrono::Datelike;
        match self.lang() {
            Language::Ja if self.config.schedule.era_dates => crate::ballot::calendar::era_date(d),
            Language::Ja => format!(
                "{}年{}月{}日({})",
                d.year(),
                d.month(),
                d.day(),
                crate::ballot::calendar::weekday_ja(d.weekday())
            ),
            Language::En => d.format("%a %-d %b %Y").to_string(),
        }
    }

    /// One pending resolution as the digest shows it: every round with its
    /// dates (and when it closed, so an early close shows), its counts and
    /// outcome, and who answered what and when in that round.
    pub fn digest_item(&self, b: &Ballot, votes: &[VoteRecord]) -> Value {
        let rounds: Vec<Value> = b
            .rounds
            .iter()
            .map(|r| {
                let t = r.tally.as_ref();
                json!({
                    "number": r.number,
                    "opened": self.digest_when(r.opened_at),
                    "deadline": self.digest_when(r.deadline),
                    "closed": r.closed_at.map(|c| self.digest_when(c)),
                    "early": r.closed_at.is_some_and(|c| c < r.deadline),
                    "eligible": t.map(|t| t.counts.eligible).unwrap_or(b.roster.eligible()),
                    "present": t.map(|t| t.present).unwrap_or(0),
                    "yes": t.map(|t| t.counts.yes).unwrap_or(0),
                    "no": t.map(|t| t.counts.no).unwrap_or(0),
                    "abstain": t.map(|t| t.counts.abstain).unwrap_or(0),
                    "delegate": t.map(|t| t.counts.delegate).unwrap_or(0),
                    "outcome": t.map(|t| t.outcome.as_str()),
                    "outcome_label": t.map(|t| self.outcome_label(t.outcome)).unwrap_or("-"),
                    "table": self.answer_table_with(b, votes, r.number, |t| self.digest_when(t)),
                })
            })
            .collect();
        // 一任 is shown where the rule counts it, or where one was counted.
        let delegations = b.profile.delegation != crate::ballot::rules::Delegation::NotAccepted
            || b.rounds
                .iter()
                .any(|r| r.tally.as_ref().is_some_and(|t| t.counts.delegate > 0));
        json!({
            "ballot": self.ballot_view(b),
            "outcome": b.outcome.map(|o| o.as_str()),
            "outcome_label": b.outcome.map(|o| self.outcome_label(o)).unwrap_or("-"),
            "delegations": delegations,
            "rounds": rounds,
        })
    }

    /// The digest as CSV, one row per organisation per round per resolution,
    /// for pasting into the minutes. UTF-8 with a byte-order mark and CRLF line
    /// ends, which is what Japanese Excel needs to open it without garbling.
    pub fn digest_csv(&self, items: &[(Ballot, Vec<VoteRecord>)]) -> Vec<u8> {
        let header: &[&str] = match self.lang() {
            Language::Ja => &[
                "議案番号",
                "議案名",
                "種別",
                "規則",
                "結果",
                "回",
                "開始",
                "期限",
                "終了",
                "全会員数",
                "返信",
                "賛成",
                "反対",
                "棄権",
                "一任",
                "回の結果",
                "会員ID",
                "会員名",
                "回答",
                "回答日時",
            ],
            Language::En => &[
                "reference",
                "title",
                "kind",
                "rule",
                "outcome",
                "round",
                "opened",
                "deadline",
                "closed",
                "members",
                "replies",
                "yes",
                "no",
                "abstain",
                "delegate",
                "round_outcome",
                "member_id",
                "member",
                "answer",
                "answered_at",
            ],
        };
        let field = |s: &str| -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let mut out = String::from("\u{feff}");
        out.push_str(
            &header
                .iter()
                .map(|h| field(h))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
        for (b, votes) in items {
            let outcome = b.outcome.map(|o| self.outcome_label(o)).unwrap_or("-");
            for round in &b.rounds {
                let t = round.tally.as_ref();
                let counts = t.map(|t| t.counts).unwrap_or_default();
                let counted = b.counted_votes(votes, round.number);
                for o in b.roster.voters() {
                    let v = counted.get(&o.id);
                    let row = [
                        b.reference.to_string(),
                        b.title.clone(),
                        b.kind.clone().unwrap_or_default(),
                        b.profile.name.clone(),
                        outcome.to_string(),
                        round.number.to_string(),
                        self.digest_when(round.opened_at),
                        self.digest_when(round.deadline),
                        round
                            .closed_at
                            .map(|c| self.digest_when(c))
                            .unwrap_or_default(),
                        counts.eligible.to_string(),
                        t.map(|t| t.present).unwrap_or(0).to_string(),
                        counts.yes.to_string(),
                        counts.no.to_string(),
                        counts.abstain.to_string(),
                        counts.delegate.to_string(),
                        t.map(|t| self.outcome_label(t.outcome))
                            .unwrap_or("-")
                            .to_string(),
                        o.id.to_string(),
                        o.name.clone(),
                        v.map(|v| self.position_label(v.position).to_string())
                            .unwrap_or_default(),
                        v.map(|v| self.digest_when(v.cast_at)).unwrap_or_default(),
                    ];
                    out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
                    out.push_str("\r\n");
                }
            }
        }
        out.into_bytes()
    }

    /// The ratification digest, to the secretariat.
    pub fn digest(
        &self,
        items: &[(Ballot, Vec<VoteRecord>)],
        meeting: Option<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let views: Vec<Value> = items.iter().map(|(b, v)| self.digest_item(b, v)).collect();
        let ctx = self.ctx(json!({
            "items": views,
            "meeting": meeting.map(|m| self.meeting_date(m)),
            "generated": self.digest_when(now),
        }));
        let r = self.templates.render("digest", &ctx)?;
        let html = self.templates.render_body("digest.html", &ctx)?;
        let csv_name = match meeting {
            Some(m) => format!("email-resolutions-{m}.csv"),
            None => format!(
                "email-resolutions-{}.csv",
                now.with_timezone(&self.tz()).format("%Y-%m-%d")
            ),
        };
        let mut h = Sha256::new();
        for (b, _) in items {
            h.update(b.reference.to_string().as_bytes());
        }
        h.update(now.timestamp().to_be_bytes());
        let unique = hex::encode(&h.finalize()[..6]);
        Ok(Mail {
            // The secretariat's reply confirms the resolutions: the bot reads it.
            reply_to: Some(self.config.addresses.bot.clone()),
            html: Some(html),
            attachments: vec![Attachment {
                filename: csv_name,
                content_type: "text/csv; charset=utf-8".into(),
                bytes: self.digest_csv(items),
            }],
            ..self.mail(
                "digest",
                None,
                Some(&unique),
                self.config.addresses.secretariat.clone(),
                AutoSubmitted::Generated,
                r,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples::SampleBallots;
    use super::*;
    use crate::outbox::templates::Templates;
    use crate::outbox::MessageIdKey;
    use crate::testkit::{at, config};

    fn digest_of(extra: &str, lang: Language) -> (Mail, SampleBallots) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, extra);
        let t = Templates::load(None, lang).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let now = at("2026-11-24T01:00:00Z");
        let s = SampleBallots::new(&cfg, now).unwrap();
        let mail = composer
            .digest(
                &[(s.not_valid.clone(), s.not_valid_votes.clone())],
                chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
                now,
            )
            .unwrap();
        (mail, s)
    }

    #[test]
    fn without_era_dates_the_japanese_digest_writes_the_meeting_in_the_western_calendar() {
        let (mail, _) = digest_of("[digest]\nera_dates = false\n", Language::Ja);
        assert!(
            mail.subject.contains("（2026年12月1日(火)）"),
            "{}",
            mail.subject
        );
        assert!(!mail.subject.contains("令和"), "{}", mail.subject);
        assert!(!mail.body.contains("令和"), "{}", mail.body);
        assert!(!mail.html.unwrap().contains("令和"));
        let (mail, _) = digest_of("", Language::Ja);
        assert!(
            mail.subject.contains("（令和8年12月1日(火)）"),
            "{}",
            mail.subject
        );
    }

    #[test]
    fn a_re_ballot_keeps_every_rounds_answers_in_the_digest_and_its_csv() {
        let (mail, s) = digest_of("", Language::Ja);
        assert_eq!(s.not_valid.rounds.len(), 2);
        // Round 1's only answer (org01, 賛成) and round 2's (org02, 反対), each
        // under its own round.
        let (r1, r2) = mail.body.split_once("第2回の回答:").unwrap();
        assert!(
            r1.contains("第1回の回答:\n       会員1株式会社: 賛成"),
            "{}",
            mail.body
        );
        assert!(r2.contains("会員1株式会社: 未回答"), "{}", mail.body);
        assert!(r2.contains("会員2株式会社: 反対"), "{}", mail.body);
        let csv = String::from_utf8(mail.attachments[0].bytes.clone()).unwrap();
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(rows.len(), 2 * 4, "one row per round per organisation");
        assert!(rows[0].contains(",1,") && rows[0].contains("org01,会員1株式会社,賛成"));
        assert!(rows[5].contains(",2,") && rows[5].contains("org02,会員2株式会社,反対"));
    }

    #[test]
    fn the_digest_shows_delegations_and_a_round_closed_before_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::Ja).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let now = at("2026-11-24T01:00:00Z");
        let s = SampleBallots::new(&cfg, now).unwrap();
        let mail = composer
            .digest(
                &[
                    (s.closed.clone(), s.votes.clone()),
                    (s.delegated.clone(), s.delegated_votes.clone()),
                ],
                None,
                now,
            )
            .unwrap();
        let (plain, delegated) = mail.body.split_once("[B-2026-012]").unwrap();
        assert!(
            !plain.contains("一任"),
            "not where the rule has no 一任: {plain}"
        );
        assert!(!plain.contains("期限前に終了"));
        assert!(delegated.contains("棄権0 一任1）→ 承認"), "{delegated}");
        assert!(
            delegated.contains("（終了 令和8年11月27日(金) 10:00、期限前に終了）"),
            "{delegated}"
        );
        let html = mail.html.unwrap();
        assert!(html.contains("<th>一任</th>") && html.contains("（期限前に終了）"));
    }
}
