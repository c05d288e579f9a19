//! What the bot says: one function per kind of mail, each building the template
//! context and the headers. `check-config` renders every template through these
//! same functions with sample data, so what it checks is what is sent.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::templates::{Rendered, TemplateError, Templates};
use super::{message_id, AutoSubmitted, Mail, MessageIdKey};
use crate::ballot::deadline::format_deadline;
use crate::ballot::rules::{Outcome, VoteChanges};
use crate::ballot::{Ballot, BallotError, RoundClosed, VoteRecord};
use crate::config::{Config, Language};
use crate::domain::{Address, BallotRef, Position};
use crate::roster::Organisation;
use crate::zone::Tz;

/// Why an answer was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOpenWhy {
    Late,
    Cancelled,
    Early,
    /// The reply answers the mail of another round (the round it names).
    OtherRound(u32),
}

impl NotOpenWhy {
    fn as_str(&self) -> &'static str {
        match self {
            NotOpenWhy::Late => "late",
            NotOpenWhy::Cancelled => "cancelled",
            NotOpenWhy::Early => "early",
            NotOpenWhy::OtherRound(_) => "other_round",
        }
    }
}

/// The member a personal mail is about: the organisation and the address that wrote.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub org: &'a Organisation,
    pub voter: &'a Address,
}

/// An answer as recorded, for its receipt.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub position: Position,
    /// The server's INTERNALDATE.
    pub received_at: DateTime<Utc>,
    /// The words that were read as the answer.
    pub evidence: &'a str,
    /// The answer this one replaces, if any.
    pub superseded: Option<Position>,
}

/// The message being answered: its Message-ID and a digest of its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    pub message_id: Option<&'a str>,
    pub content_hash: &'a str,
}

/// A short, stable tag from the answered message, so each answer mail gets its
/// own Message-ID and a retry gets the same one.
fn tag(a: &Answering<'_>) -> String {
    let mut h = Sha256::new();
    h.update(a.message_id.unwrap_or("").as_bytes());
    h.update(b"\0");
    h.update(a.content_hash.as_bytes());
    hex::encode(&h.finalize()[..6])
}

/// One sample mail for `check-config`: its name and the mail, or why its
/// template failed.
pub type Sample = (&'static str, Result<Mail, TemplateError>);

/// Builds the bot's mails for one configuration.
pub struct Composer<'a> {
    pub config: &'a Config,
    pub templates: &'a Templates,
    /// The installation's key for Message-IDs (`Store::message_id_key`).
    pub ids: &'a MessageIdKey,
}

impl<'a> Composer<'a> {
    /// A composer writing in the templates' language.
    pub fn new(config: &'a Config, templates: &'a Templates, ids: &'a MessageIdKey) -> Self {
        Self {
            config,
            templates,
            ids,
        }
    }

    /// A Message-ID of this installation (see [`message_id`]).
    fn message_id(
        &self,
        ballot: Option<(BallotRef, u32)>,
        kind: &str,
        unique: Option<&str>,
    ) -> String {
        message_id(self.ids, ballot, kind, unique, self.domain())
    }

    fn lang(&self) -> Language {
        self.templates.language()
    }

    fn tz(&self) -> Tz {
        self.config.organisation.time_zone
    }

    fn domain(&self) -> &str {
        self.config.message_id_domain()
    }

    /// A moment as members read it, in the organisation's zone.
    pub fn when(&self, t: DateTime<Utc>) -> String {
        format_deadline(t, self.tz(), self.lang())
    }

    fn common(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("org".into(), json!(self.config.organisation.name));
        m.insert("bot_name".into(), json!(self.config.addresses.bot_name));
        m.insert("list".into(), json!(self.config.addresses.list.as_str()));
        m.insert("lang".into(), json!(self.lang().as_str()));
        m
    }

    fn ctx(&self, extra: Value) -> Value {
        let mut m = self.common();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        Value::Object(m)
    }

    fn position_label(&self, p: Position) -> &'static str {
        match self.lang() {
            Language::Ja => p.label_ja(),
            Language::En => p.label_en(),
        }
    }

    fn outcome_label(&self, o: Outcome) -> &'static str {
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

    fn member_view(&self, m: Member<'_>) -> Value {
        json!({ "org_name": m.org.name, "voter": m.voter.as_str() })
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

    fn announce_id(&self, b: &Ballot, round: u32) -> String {
        self.message_id(Some((b.reference, round)), "announce", None)
    }

    fn subject(&self, reference: BallotRef, s: &str) -> String {
        let tag = format!("[{reference}]");
        if s.contains(&tag) {
            s.to_string()
        } else {
            format!("{tag} {s}")
        }
    }

    /// The mail every constructor below starts from: `kind` to `to`, in no
    /// thread, with no Reply-To. A mail `about` a ballot's round carries the
    /// ballot's tag in its subject and a Message-ID beginning with the
    /// reference and round, so a reply finds the ballot even if its subject
    /// was rewritten; `unique` tells apart mails of one kind in one round.
    fn mail(
        &self,
        kind: &'static str,
        about: Option<(BallotRef, u32)>,
        unique: Option<&str>,
        to: Vec<Address>,
        auto: AutoSubmitted,
        text: Rendered,
    ) -> Mail {
        Mail {
            kind,
            ballot: about.map(|(b, _)| b),
            message_id: self.message_id(about, kind, unique),
            to,
            subject: match about {
                Some((b, _)) => self.subject(b, &text.subject),
                None => text.subject,
            },
            body: text.body,
            in_reply_to: None,
            references: vec![],
            auto,
            reply_to: None,
            html: None,
            attachments: vec![],
        }
    }

    /// A mail to the committee list about `round` of `b`, threaded under that
    /// round's announcement. Replies go to the bot, which reads them as answers.
    fn list_mail(
        &self,
        kind: &'static str,
        b: &Ballot,
        round: u32,
        unique: Option<&str>,
        text: Rendered,
    ) -> Mail {
        let announce = self.announce_id(b, round);
        Mail {
            in_reply_to: Some(announce.clone()),
            references: vec![announce],
            reply_to: Some(self.config.addresses.bot.clone()),
            ..self.mail(
                kind,
                Some((b.reference, round)),
                unique,
                vec![self.config.addresses.list.clone()],
                AutoSubmitted::Generated,
                text,
            )
        }
    }

    /// An answer to a member's mail about `b`: to every registered address of
    /// the organisation (whichever of them wrote, all of them hear), threaded
    /// under the round's announcement and the member's message, with a
    /// Message-ID drawn from that message, so a retry writes the same one.
    fn member_reply(
        &self,
        kind: &'static str,
        b: &Ballot,
        org: &Organisation,
        answering: &Answering<'_>,
        text: Rendered,
    ) -> Mail {
        let round = b.current_round().number;
        let mut references = vec![self.announce_id(b, round)];
        references.extend(answering.message_id.map(str::to_string));
        Mail {
            in_reply_to: answering.message_id.map(str::to_string),
            references,
            ..self.mail(
                kind,
                Some((b.reference, round)),
                Some(&tag(answering)),
                org.addresses().cloned().collect(),
                AutoSubmitted::Replied,
                text,
            )
        }
    }

    /// An answer to `to` about the mail they sent (an admin's request, the
    /// secretariat's confirmation, a member's mail that names no ballot the
    /// bot knows), threaded under that mail alone.
    fn reply(
        &self,
        kind: &'static str,
        about: Option<(BallotRef, u32)>,
        to: Vec<Address>,
        answering: &Answering<'_>,
        text: Rendered,
    ) -> Mail {
        Mail {
            in_reply_to: answering.message_id.map(str::to_string),
            references: answering
                .message_id
                .map(str::to_string)
                .into_iter()
                .collect(),
            ..self.mail(
                kind,
                about,
                Some(&tag(answering)),
                to,
                AutoSubmitted::Replied,
                text,
            )
        }
    }

    /// The announcement of the current round to the committee list.
    pub fn announce(&self, b: &Ballot) -> Result<Mail, TemplateError> {
        self.announce_to(b, None)
    }

    /// The same announcement sent personally to an organisation's representative,
    /// with a Reply-To whose token proves a reply answers this very mail.
    pub fn personal_announce(
        &self,
        b: &Ballot,
        org: &Organisation,
        reply_to: Address,
    ) -> Result<Mail, TemplateError> {
        self.announce_to(b, Some((org, reply_to)))
    }

    fn announce_to(
        &self,
        b: &Ballot,
        personal: Option<(&Organisation, Address)>,
    ) -> Result<Mail, TemplateError> {
        let round = b.current_round().number;
        let previous = b
            .rounds
            .iter()
            .rev()
            .nth(1)
            .and_then(|r| r.tally.as_ref())
            .map(|t| json!({ "present": t.present, "eligible": t.counts.eligible }))
            .unwrap_or(json!({ "present": 0, "eligible": b.roster.eligible() }));
        let member = personal.as_ref().map(|(org, _)| {
            self.member_view(Member {
                org,
                voter: &org.representative,
            })
        });
        let r = self.templates.render(
            "announce",
            self.ctx(
                json!({ "ballot": self.ballot_view(b), "previous": previous, "personal": member }),
            ),
        )?;
        // A re-ballot continues the thread of the first round's announcement.
        let first = (round > 1).then(|| self.announce_id(b, 1));
        Ok(match personal {
            // The list's announcement opens the round's thread.
            None => Mail {
                in_reply_to: first.clone(),
                references: first.into_iter().collect(),
                ..self.list_mail("announce", b, round, None, r)
            },
            Some((org, reply_to)) => {
                // Threaded under the list announcement, so a reply to either finds the ballot.
                let mut mail = self.list_mail("personal", b, round, Some(org.id.as_str()), r);
                mail.references.splice(0..0, first);
                Mail {
                    // The representative and the alternates: any of them may answer.
                    to: org.addresses().cloned().collect(),
                    reply_to: Some(reply_to),
                    ..mail
                }
            }
        })
    }

    /// The receipt for a counted answer, to every registered address of the organisation.
    pub fn receipt(
        &self,
        b: &Ballot,
        member: Member<'_>,
        answer: Recorded<'_>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "receipt",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "answer": self.position_label(answer.position),
                "position": answer.position.as_str(),
                "received_at": self.when(answer.received_at),
                "evidence": answer.evidence,
                "superseded": answer.superseded.map(|p| self.position_label(p)),
                // Where the first answer is final, a later one is recorded only.
                "kept": answer.superseded.filter(|_| b.profile.vote_changes == VoteChanges::Closed).map(|p| self.position_label(p)),
            })),
        )?;
        Ok(self.member_reply("receipt", b, member.org, answering, r))
    }

    /// An answer that was recorded but not counted (late, cancelled ballot, dated before opening).
    pub fn not_open(
        &self,
        b: &Ballot,
        member: Member<'_>,
        why: NotOpenWhy,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "not_open",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "why": why.as_str(),
                "answered_round": match why {
                    NotOpenWhy::OtherRound(n) => Some(n),
                    _ => None,
                },
                "received_at": self.when(received_at),
            })),
        )?;
        Ok(self.member_reply("not_open", b, member.org, answering, r))
    }

    /// An answer in a reply to several ballots that nothing verified for its
    /// ballot: the reply went to the personal reply address of `token_ballot`,
    /// which speaks for that ballot only. Sent with this ballot's personal
    /// Reply-To, so answering it verifies.
    pub fn not_verified(
        &self,
        b: &Ballot,
        member: Member<'_>,
        position: Position,
        token_ballot: BallotRef,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "not_verified",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "answer": self.position_label(position),
                "token_ballot": token_ballot.to_string(),
                "received_at": self.when(received_at),
            })),
        )?;
        Ok(self.member_reply("not_verified", b, member.org, answering, r))
    }

    /// A request for a clear answer, quoting what was read. `delegation` says the
    /// member wrote 一任 under a rule that does not define it; `reason` is the
    /// reader's explanation (English), shown by the English template.
    pub fn unclear(
        &self,
        b: &Ballot,
        member: Member<'_>,
        own_words: &str,
        reason: &str,
        delegation: bool,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let quoted: Vec<&str> = own_words
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(12)
            .collect();
        let r = self.templates.render(
            "unclear",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "quoted": quoted,
                "reason": reason,
                "delegation": delegation,
                "too_large": null,
            })),
        )?;
        Ok(self.member_reply("unclear", b, member.org, answering, r))
    }

    /// The `unclear` mail for a reply too large to read: it says so, with the
    /// message's size and the limit, and asks for a short answer without
    /// attachments, which a member can act on where "we could not read your answer"
    /// alone would leave them guessing.
    pub fn too_large(
        &self,
        b: &Ballot,
        member: Member<'_>,
        size: usize,
        limit: usize,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unclear",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(member),
                "quoted": [],
                "reason": "",
                "delegation": false,
                "too_large": { "size": bytes_for_people(size), "limit": bytes_for_people(limit) },
            })),
        )?;
        Ok(self.member_reply("unclear", b, member.org, answering, r))
    }

    /// A member named a ballot that does not exist.
    pub fn unknown_ballot(
        &self,
        reference: BallotRef,
        member: Member<'_>,
        subject: &str,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unknown_ballot",
            self.ctx(json!({
                "reference": reference.to_string(),
                "member": self.member_view(member),
                "subject": subject,
            })),
        )?;
        Ok(Mail {
            // Spelt with a hyphen, as it always has been (the golden files pin it).
            message_id: self.message_id(None, "unknown-ballot", Some(&tag(answering))),
            ..self.reply(
                "unknown_ballot",
                None,
                member.org.addresses().cloned().collect(),
                answering,
                r,
            )
        })
    }

    /// The result of a round, to the committee list.
    pub fn result(
        &self,
        b: &Ballot,
        closed: &RoundClosed,
        votes: &[VoteRecord],
    ) -> Result<Mail, TemplateError> {
        let (next_round, next_deadline) = match closed.next {
            crate::ballot::Next::Reballot { round, deadline } => {
                (Some(round), Some(self.when(deadline)))
            }
            crate::ballot::Next::Final(_) => (None, None),
        };
        let r = self.templates.render(
            "result",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "round": closed.round,
                "tally": closed.tally,
                "outcome": closed.tally.outcome.as_str(),
                "outcome_label": self.outcome_label(closed.tally.outcome),
                "table": self.answer_table(b, votes, closed.round),
                "next_round": next_round,
                "next_deadline": next_deadline,
            })),
        )?;
        Ok(self.list_mail("result", b, closed.round, None, r))
    }

    /// A new deadline, to the committee list.
    pub fn extended(&self, b: &Ballot, old_deadline: DateTime<Utc>) -> Result<Mail, TemplateError> {
        let round = b.current_round();
        let r = self.templates.render(
            "extended",
            self.ctx(
                json!({ "ballot": self.ballot_view(b), "old_deadline": self.when(old_deadline) }),
            ),
        )?;
        // One per new deadline: a second extension is a mail of its own.
        let unique = round.deadline.timestamp().to_string();
        Ok(self.list_mail("extended", b, round.number, Some(&unique), r))
    }

    /// A cancellation, to the committee list.
    pub fn cancelled(&self, b: &Ballot) -> Result<Mail, TemplateError> {
        let round = b.current_round().number;
        let r = self.templates.render(
            "cancelled",
            self.ctx(json!({ "ballot": self.ballot_view(b) })),
        )?;
        Ok(self.list_mail("cancelled", b, round, None, r))
    }

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
            attachments: vec![super::Attachment {
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

    /// A reminder to an organisation that has not answered, to its representative.
    pub fn reminder(
        &self,
        b: &Ballot,
        org: &Organisation,
        before: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Mail, TemplateError> {
        let round = b.current_round();
        let hours_left = ((round.deadline - now).num_minutes() + 30).max(0) / 60;
        let r = self.templates.render(
            "reminder",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(Member { org, voter: &org.representative }),
                "hours_left": hours_left,
            })),
        )?;
        // One per organisation, offset and deadline: an extended deadline reminds again.
        let unique = format!(
            "{}.{}h.{}",
            round.deadline.timestamp(),
            before.num_hours(),
            org.id
        );
        Ok(Mail {
            to: vec![org.representative.clone()],
            ..self.list_mail("reminder", b, round.number, Some(&unique), r)
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
                "copied": to.len() > 1,
                "no_meeting": no_meeting,
                "meeting": meeting.map(|m| self.meeting_date(m)),
                "confirmed": confirmed,
                "still_pending": still_pending.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            })),
        )?;
        Ok(self.reply("ratified", None, to, answering, r))
    }

    /// Tells an organisation that a message claiming to be from it failed sender
    /// verification and was not counted.
    pub fn unverified(
        &self,
        org: &Organisation,
        ballot: Option<&Ballot>,
        claimed: &Address,
        summary: &str,
        received_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "unverified",
            self.ctx(json!({
                "ballot": ballot.map(|b| self.ballot_view(b)),
                "member": self.member_view(Member { org, voter: claimed }),
                "received_at": self.when(received_at),
                "summary": summary,
                "security_contact": !self.config.addresses.security_contact.is_empty(),
            })),
        )?;
        // In no thread: the organisation may never have seen the message it
        // is about, which someone else may have written.
        Ok(self.mail(
            "unverified",
            ballot.map(|b| (b.reference, b.current_round().number)),
            Some(&tag(answering)),
            org.addresses().cloned().collect(),
            AutoSubmitted::Replied,
            r,
        ))
    }

    /// Confirms to an organisation that its dispute of a vote recorded in its
    /// name was received and the vote no longer counts until an admin decides.
    pub fn disputed(
        &self,
        b: &Ballot,
        org: &Organisation,
        round: u32,
        position: Position,
        reported_at: DateTime<Utc>,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "disputed",
            self.ctx(json!({
                "ballot": self.ballot_view(b),
                "member": self.member_view(Member { org, voter: &org.representative }),
                "round": round,
                "answer": self.position_label(position),
                "reported_at": self.when(reported_at),
                "security_contact": !self.config.addresses.security_contact.is_empty(),
            })),
        )?;
        Ok(self.member_reply("disputed", b, org, answering, r))
    }

    /// A security incident, to the security contact. When it belongs to a
    /// ballot (and `round` is that ballot's round when it happened), it is
    /// tagged like every other mail about the ballot: `[B-…]` in the subject,
    /// a Message-ID beginning with the reference and round, so the contact's
    /// client files it with the ballot's thread.
    pub fn incident(
        &self,
        id: i64,
        incident: &crate::security::Incident,
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

    /// Confirms to an admin that the ballot they asked for by mail is open.
    pub fn opened(
        &self,
        b: &Ballot,
        requester: &Address,
        answering: &Answering<'_>,
    ) -> Result<Mail, TemplateError> {
        let r = self.templates.render(
            "opened",
            self.ctx(json!({ "ballot": self.ballot_view(b), "requester": requester.as_str() })),
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
                "subject": subject,
                "error": error,
                "prefix": self.config.ballots.open_subject_prefix,
            })),
        )?;
        Ok(Mail {
            // Spelt with a hyphen, as it always has been (the golden files pin it).
            message_id: self.message_id(None, "admin-error", Some(&tag(answering))),
            ..self.reply("admin_error", None, vec![requester.clone()], answering, r)
        })
    }

    /// Renders every template with sample data made from this configuration's
    /// roster: what `check-config` runs, and what the golden tests pin.
    pub fn samples(&self, now: DateTime<Utc>) -> Result<Vec<Sample>, String> {
        let s = samples::Sample::new(self.config, now).map_err(|e| {
            format!(
                "the templates cannot be checked: no sample ballot can be opened and closed under the default profile `{}` ({e})",
                self.config.ballots.default_profile
            )
        })?;
        let member = Member {
            org: s.org(),
            voter: &s.org().representative,
        };
        let answering = Answering {
            message_id: Some("sample-reply@member.example"),
            content_hash: "0",
        };
        Ok(vec![
            ("announce", self.announce(&s.open)),
            ("announce (round 2)", self.announce(&s.reballot)),
            (
                "announce (personal)",
                self.personal_announce(&s.open, s.org(), s.org().representative.clone()),
            ),
            (
                "unverified",
                self.unverified(
                    s.org(),
                    Some(&s.open),
                    &s.org().representative,
                    "failed: no token, dkim none, no trusted Authentication-Results",
                    now,
                    &answering,
                ),
            ),
            (
                "incident",
                self.incident(
                    1,
                    &crate::security::Incident {
                        kind: crate::security::Kind::VerificationFailed,
                        ballot: Some(s.open.reference),
                        summary: "a vote that failed sender verification".into(),
                        evidence: json!({ "message_id": "sample@member.example", "verification": "failed: no token" }),
                    },
                    Some(s.open.current_round().number),
                    now,
                ),
            ),
            (
                "disputed",
                self.disputed(&s.open, s.org(), 1, Position::Yes, now, &answering),
            ),
            (
                "receipt",
                self.receipt(
                    &s.open,
                    member,
                    Recorded {
                        position: Position::Yes,
                        received_at: now,
                        evidence: "賛成します。",
                        superseded: Some(Position::No),
                    },
                    &answering,
                ),
            ),
            (
                "receipt (first answer final)",
                self.receipt(
                    &s.final_answers,
                    member,
                    Recorded {
                        position: Position::No,
                        received_at: now,
                        evidence: "反対",
                        superseded: Some(Position::Yes),
                    },
                    &answering,
                ),
            ),
            (
                "not_open",
                self.not_open(&s.open, member, NotOpenWhy::Late, now, &answering),
            ),
            (
                "not_open (other round)",
                self.not_open(&s.reballot, member, NotOpenWhy::OtherRound(1), now, &answering),
            ),
            (
                "not_verified",
                self.not_verified(
                    &s.open,
                    member,
                    Position::Yes,
                    BallotRef::new(s.open.reference.year(), s.open.reference.number() + 1)
                        .unwrap_or(s.open.reference),
                    now,
                    &answering,
                ),
            ),
            (
                "unclear",
                self.unclear(
                    &s.open,
                    member,
                    "条件付きで賛成します。",
                    "A conditional answer is not counted.",
                    false,
                    &answering,
                ),
            ),
            (
                "unclear (too large)",
                self.too_large(&s.open, member, 12_740_000, 10 * 1024 * 1024, &answering),
            ),
            (
                "unknown_ballot",
                self.unknown_ballot(s.open.reference, member, "Re: [B-2026-999] ?", &answering),
            ),
            ("result", self.result(&s.closed, &s.closed_round, &s.votes)),
            (
                "result (not valid)",
                self.result(&s.reballot, &s.reballot_round, &[]),
            ),
            (
                "result (not valid after the last round)",
                self.result(&s.not_valid, &s.not_valid_round, &s.not_valid_votes),
            ),
            ("extended", self.extended(&s.open, now)),
            ("cancelled", self.cancelled(&s.cancelled)),
            (
                "digest",
                self.digest(
                    &[
                        (s.closed.clone(), s.votes.clone()),
                        (s.not_valid.clone(), s.not_valid_votes.clone()),
                        (s.delegated.clone(), s.delegated_votes.clone()),
                    ],
                    now.date_naive().succ_opt(),
                    now,
                ),
            ),
            (
                "reminder",
                self.reminder(
                    &s.open,
                    s.org(),
                    chrono::Duration::hours(24),
                    now + chrono::Duration::days(6),
                ),
            ),
            (
                "ratified",
                self.ratified(
                    &self.config.addresses.secretariat[0],
                    now.date_naive().succ_opt(),
                    std::slice::from_ref(&s.closed),
                    &[s.reballot.reference],
                    false,
                    &answering,
                ),
            ),
            (
                "ratified (no meeting on the calendar)",
                self.ratified(
                    &self.config.addresses.admins[0],
                    None,
                    &[],
                    &[s.closed.reference],
                    true,
                    &answering,
                ),
            ),
            (
                "opened",
                self.opened(&s.open, &self.config.addresses.admins[0], &answering),
            ),
            (
                "admin_error",
                self.admin_error(
                    &self.config.addresses.admins[0],
                    "[ballot:open] ?",
                    "the deadline is in the past",
                    &answering,
                ),
            ),
        ])
    }
}

/// A size as mail clients show it: "68 KB", "12.1 MB" (binary units, as they count).
fn bytes_for_people(bytes: usize) -> String {
    const KB: usize = 1024;
    const MB: usize = 1024 * 1024;
    if bytes < MB {
        format!("{} KB", bytes.div_ceil(KB))
    } else {
        let tenths = (bytes * 10).div_ceil(MB);
        match tenths % 10 {
            0 => format!("{} MB", tenths / 10),
            t => format!("{}.{t} MB", tenths / 10),
        }
    }
}

mod samples {
    //! Sample ballots in every state, built from the configured roster.
    use super::*;
    use crate::ballot::calendar::Calendar;
    use crate::ballot::{Opening, VoteStatus};

    pub struct Sample {
        pub open: Ballot,
        pub closed: Ballot,
        pub closed_round: RoundClosed,
        pub votes: Vec<VoteRecord>,
        pub reballot: Ballot,
        pub reballot_round: RoundClosed,
        pub cancelled: Ballot,
        /// Two rounds, neither valid: ended as 不成立.
        pub not_valid: Ballot,
        pub not_valid_round: RoundClosed,
        pub not_valid_votes: Vec<VoteRecord>,
        /// A kind, a rule that counts 一任, closed before its deadline.
        pub delegated: Ballot,
        pub delegated_votes: Vec<VoteRecord>,
        /// Open under a rule whose first answer is final.
        pub final_answers: Ballot,
    }

    fn answer(
        o: &Organisation,
        p: Position,
        at: DateTime<Utc>,
        seq: i64,
        round: u32,
    ) -> VoteRecord {
        VoteRecord {
            org: o.id.clone(),
            position: p,
            cast_at: at,
            seq,
            round,
            status: VoteStatus::Valid,
            voter: o.representative.to_string(),
            message_id: None,
            disputed: false,
        }
    }

    impl Sample {
        /// Sample ballots under the configuration's default profile, open for a
        /// week or for as long as the profile asks (`min_open_hours`), whichever
        /// is longer; an error where the profile admits no sample at all.
        pub fn new(config: &Config, now: DateTime<Utc>) -> Result<Sample, BallotError> {
            let profile = config
                .profiles
                .get(&config.ballots.default_profile)
                .cloned()
                .expect("the default profile is checked when the configuration loads");
            let span = chrono::Duration::hours(i64::from(profile.min_open_hours).max(7 * 24));
            let opening = |n: u32| {
                Opening {
                reference: BallotRef::new(2026, n).expect("static reference"),
                title: "新規会員 株式会社サンプルの加盟承認".into(),
                motion: "株式会社サンプルの本協議会への加盟を承認する。\n（入会申込書は事務局にて確認済み）".into(),
                kind: config.ballots.kinds.first().map(|k| k.name.clone()),
                profile: profile.clone(),
                roster: config.roster.clone(),
                deadline: now + span,
                opened_by: "cli".into(),
                chair: config.ballots.chair.clone(),
            }
            };
            let mut open = Ballot::open(opening(7), now)?;
            open.profile.min_open_hours = 0;
            let votes: Vec<VoteRecord> = config
                .roster
                .voters()
                .enumerate()
                .map(|(i, o)| VoteRecord {
                    org: o.id.clone(),
                    position: if i % 3 == 2 {
                        Position::No
                    } else {
                        Position::Yes
                    },
                    cast_at: now + chrono::Duration::hours(i as i64 + 1),
                    seq: i as i64,
                    round: 1,
                    status: VoteStatus::Valid,
                    voter: o.representative.to_string(),
                    message_id: None,
                    disputed: false,
                })
                .collect();
            let tz = config.organisation.time_zone;
            let cal = Calendar::default();
            let mut closed = Ballot::open(opening(8), now)?;
            let closed_round = closed.close_round(&votes, now + span, tz, &cal)?;
            let mut reballot = Ballot::open(opening(9), now)?;
            let reballot_round = reballot.close_round(&[], now + span, tz, &cal)?;
            let mut cancelled = Ballot::open(opening(10), now)?;
            cancelled.cancel("議案の取り下げ", now)?;

            // One answer in each of two rounds: too few either time (on a roster
            // of three or more), so the deliberation ends as 不成立.
            let voters: Vec<&Organisation> = config.roster.voters().collect();
            let mut o = opening(11);
            o.title = "ワーキンググループの設置".into();
            o.motion = "脆弱性情報共有ワーキンググループを設置する。".into();
            o.profile.rounds = o.profile.rounds.max(2);
            let mut not_valid = Ballot::open(o, now)?;
            let mut not_valid_votes = Vec::new();
            if voters.len() >= 3 {
                not_valid_votes.push(answer(
                    voters[0],
                    Position::Yes,
                    now + chrono::Duration::hours(2),
                    1,
                    1,
                ));
            }
            let mut not_valid_round =
                not_valid.close_round(&not_valid_votes, now + span, tz, &cal)?;
            if not_valid.state == crate::ballot::State::Open {
                let second = not_valid.current_round().opened_at;
                if voters.len() >= 3 {
                    not_valid_votes.push(answer(
                        voters[1],
                        Position::No,
                        second + chrono::Duration::hours(3),
                        2,
                        2,
                    ));
                }
                let deadline = not_valid.current_round().deadline;
                not_valid_round = not_valid.close_round(&not_valid_votes, deadline, tz, &cal)?;
            }

            // Under a rule that counts 一任 (a shipped one, unless the
            // configuration replaced them all; one the chair need not decide
            // first), with a kind, closed early.
            let counts_delegations = |p: &&crate::ballot::rules::Profile| {
                p.delegation != crate::ballot::rules::Delegation::NotAccepted
            };
            let delegating = config
                .profiles
                .all()
                .iter()
                .filter(counts_delegations)
                .find(|p| p.tie != crate::ballot::rules::Tie::Chair)
                .or_else(|| config.profiles.all().iter().find(counts_delegations))
                .cloned()
                .unwrap_or_else(|| {
                    let mut p = profile.clone();
                    p.delegation = crate::ballot::rules::Delegation::InFavour;
                    p
                });
            let mut o = opening(12);
            o.title = "令和9年度予算の承認".into();
            o.motion = "令和9年度予算案を原案のとおり承認する。".into();
            o.kind = Some(
                config
                    .ballots
                    .kinds
                    .iter()
                    .find(|k| k.profile == delegating.name)
                    .map(|k| k.name.clone())
                    .unwrap_or_else(|| "予算承認".into()),
            );
            o.profile = delegating;
            o.profile.min_open_hours = 0;
            let mut delegated = Ballot::open(o, now)?;
            let delegated_votes: Vec<VoteRecord> = voters
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let p = match i % 3 {
                        0 => Position::Yes,
                        1 => Position::Delegate,
                        _ => Position::No,
                    };
                    answer(
                        o,
                        p,
                        now + chrono::Duration::hours(i as i64 + 1),
                        i as i64,
                        1,
                    )
                })
                .collect();
            delegated.close_round(&delegated_votes, now + chrono::Duration::days(3), tz, &cal)?;

            let mut final_answers = open.clone();
            final_answers.profile.vote_changes = crate::ballot::rules::VoteChanges::Closed;
            Ok(Sample {
                open,
                closed,
                closed_round,
                votes,
                reballot,
                reballot_round,
                cancelled,
                not_valid,
                not_valid_round,
                not_valid_votes,
                delegated,
                delegated_votes,
                final_answers,
            })
        }

        pub fn org(&self) -> &Organisation {
            self.open
                .roster
                .voters()
                .next()
                .expect("a roster has at least one organisation")
        }
    }
}

#[cfg(test)]
mod golden {
    //! Golden files pin what the shipped templates send. A change shows as a diff
    //! in review; `UPDATE_GOLDEN=1 cargo test --lib golden` rewrites them, and a
    //! mismatch writes the actual text next to the expected one (`.actual`).
    use super::*;
    use crate::testkit::{at, config};

    fn check(lang: Language) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, lang).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(lang.as_str());
        std::fs::create_dir_all(&root).unwrap();
        let update = std::env::var_os("UPDATE_GOLDEN").is_some();
        let mut failures = Vec::new();
        for (name, mail) in composer.samples(at("2026-11-24T01:00:00Z")).unwrap() {
            let mail = mail.unwrap();
            let actual = format!(
                "Message-ID: <{}>\nTo: {}\nSubject: {}\n\n{}",
                mail.message_id,
                mail.to
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                mail.subject,
                mail.body
            );
            let stem = name.replace([' ', '(', ')'], "_");
            let mut files = vec![(root.join(format!("{stem}.txt")), actual.clone())];
            if let Some(h) = &mail.html {
                files.push((root.join(format!("{stem}.html")), h.clone()));
            }
            for a in &mail.attachments {
                files.push((
                    root.join(format!(
                        "{stem}.{}",
                        a.filename.rsplit('.').next().unwrap_or("bin")
                    )),
                    String::from_utf8_lossy(&a.bytes).into_owned(),
                ));
            }
            for (file, actual) in files {
                if update {
                    std::fs::write(&file, &actual).unwrap();
                    continue;
                }
                let expected = std::fs::read_to_string(&file).unwrap_or_default();
                if expected != actual {
                    let mut side = file.clone().into_os_string();
                    side.push(".actual");
                    std::fs::write(side, &actual).unwrap();
                    failures.push(file.display().to_string());
                }
            }
        }
        assert!(
            failures.is_empty(),
            "templates differ from their golden files (see .actual beside them): {failures:?}"
        );
    }

    #[test]
    fn every_mail_about_a_ballot_carries_its_tag_and_reference_and_round() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::Ja).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        for (name, mail) in composer.samples(at("2026-11-24T01:00:00Z")).unwrap() {
            let mail = mail.unwrap();
            let Some(b) = mail.ballot else { continue };
            let prefix = format!("{}.r", b.msgid_prefix());
            assert!(
                mail.message_id.starts_with(&prefix),
                "{name}: {}",
                mail.message_id
            );
            assert!(
                mail.subject.contains(&format!("[{b}]")),
                "{name}: {}",
                mail.subject
            );
        }
    }

    #[test]
    fn an_incident_about_no_ballot_carries_no_ballots_tag() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, "");
        let t = Templates::load(None, Language::En).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let incident = crate::security::Incident {
            kind: crate::security::Kind::Burst,
            ballot: None,
            summary: "more than 30 messages from one sender within an hour".into(),
            evidence: json!({}),
        };
        let m = composer
            .incident(4, &incident, None, at("2026-11-24T01:00:00Z"))
            .unwrap();
        assert!(m.message_id.starts_with("incident.4."), "{}", m.message_id);
        assert!(!m.subject.contains("[B-"), "{}", m.subject);
        let r2 = crate::security::Incident {
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

    #[test]
    fn the_shipped_japanese_templates_match_their_golden_files() {
        check(Language::Ja);
    }

    #[test]
    fn the_shipped_english_templates_match_their_golden_files() {
        check(Language::En);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::{at, config};

    fn digest_of(extra: &str, lang: Language) -> (Mail, samples::Sample) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 4, extra);
        let t = Templates::load(None, lang).unwrap();
        let ids = MessageIdKey::fixed(0);
        let composer = Composer::new(&cfg, &t, &ids);
        let now = at("2026-11-24T01:00:00Z");
        let s = samples::Sample::new(&cfg, now).unwrap();
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
    fn sizes_are_written_as_mail_clients_show_them() {
        assert_eq!(bytes_for_people(70_000), "69 KB");
        assert_eq!(bytes_for_people(65_536), "64 KB");
        assert_eq!(bytes_for_people(10 * 1024 * 1024), "10 MB");
        assert_eq!(bytes_for_people(12_740_000), "12.2 MB");
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
        let s = samples::Sample::new(&cfg, now).unwrap();
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
