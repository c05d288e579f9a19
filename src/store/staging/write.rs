//! What a batch writes: its messages, votes, mails and audit events, staged
//! as the ingest records each message and written by `flush` with a few
//! multi-row statements (`store::statement_chunks`), in this order: messages,
//! votes, mails, events. A staged message is at once a copy later messages of
//! the batch may duplicate, and a staged vote one of its organisation's answers.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::ballot::{VoteRecord, VoteStatus};
use crate::disposition::Copy;
use crate::domain::BallotRef;
use crate::store::events::{self, Event};
use crate::store::{statement_chunks, ts, NewMessage, NewOutboxMail, StoreError};

use super::{StagedBatch, StagedEvent, StagedMessage, StagedVote};

impl StagedBatch<'_> {
    /// Stages message `m`, whose author the bot settled on is `sender`
    /// (verification's, else the From header); returns its row id.
    pub async fn message(
        &mut self,
        m: &NewMessage<'_>,
        sender: Option<&str>,
    ) -> Result<i64, StoreError> {
        let id = match self.next_message {
            Some(id) => id,
            None => {
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM messages")
                    .fetch_one(&mut *self.conn)
                    .await?
            }
        };
        self.next_message = Some(id + 1);
        let ballot_id = match m.ballot {
            Some(r) => self.ballot_id(r).await?,
            None => None,
        };
        self.keys
            .insert((m.source.to_string(), m.source_key.to_string()));
        self.copies.add(Copy {
            id,
            internal_date: m.internal_date,
            disposition: m.disposition,
            message_id: m.message_id.map(str::to_string),
            content_hash: m.content_hash.to_string(),
            sender: sender.map(str::to_string),
        });
        if let Some(from) = m.from_addr {
            self.senders
                .entry(from.to_string())
                .or_default()
                .push(m.internal_date);
        }
        self.messages.push(StagedMessage {
            id,
            source: m.source.to_string(),
            source_key: m.source_key.to_string(),
            message_id: m.message_id.map(str::to_string),
            content_hash: m.content_hash.to_string(),
            internal_date: m.internal_date,
            processed_at: m.processed_at,
            from_addr: m.from_addr.map(str::to_string),
            subject: m.subject.map(str::to_string),
            raw: m.raw.to_vec(),
            size: m.size,
            ballot_id,
            disposition: m.disposition,
            reason: m.reason.to_string(),
            reading_json: m.reading_json.map(str::to_string),
            verification_json: m.verification_json.map(str::to_string),
        });
        Ok(id)
    }

    /// Stages a vote of message `message_row`; returns its row id.
    pub async fn vote(
        &mut self,
        ballot: BallotRef,
        v: &VoteRecord,
        message_row: i64,
        receipt_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let ballot_id = self.ballot_id(ballot).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("a vote for {ballot}, which does not exist"))
        })?;
        let id = match self.next_vote {
            Some(id) => id,
            None => {
                sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM votes")
                    .fetch_one(&mut *self.conn)
                    .await?
            }
        };
        self.next_vote = Some(id + 1);
        self.votes.push(StagedVote {
            id,
            ballot,
            ballot_id,
            record: v.clone(),
            message_row,
            receipt_id: receipt_id.map(str::to_string),
            recorded_at: now,
        });
        Ok(id)
    }

    /// Stages an audit event.
    pub fn event(&mut self, at: DateTime<Utc>, event: Event) {
        self.events.push(StagedEvent {
            at,
            event,
            if_queued: None,
        });
    }

    /// Stages a mail for the outbox and its `mail_queued` event, which is kept
    /// only if the mail is new (a mail with that Message-ID is queued once).
    pub fn mail(&mut self, row: NewOutboxMail, event: Event, now: DateTime<Utc>) {
        self.events.push(StagedEvent {
            at: now,
            event,
            if_queued: Some(row.message_id.clone()),
        });
        self.mails.push((row, now));
    }

    /// Writes everything staged, in this order: messages, votes, mails, events.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let messages = std::mem::take(&mut self.messages);
        for chunk in statement_chunks(&messages) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (id, source, source_key, message_id, content_hash, internal_date, processed_at,
                 from_addr, subject, size, raw, ballot_id, disposition, reason, reading_json, verification_json) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(m.id)
                    .push_bind(&m.source)
                    .push_bind(&m.source_key)
                    .push_bind(&m.message_id)
                    .push_bind(&m.content_hash)
                    .push_bind(ts(m.internal_date))
                    .push_bind(ts(m.processed_at))
                    .push_bind(&m.from_addr)
                    .push_bind(&m.subject)
                    .push_bind(i64::try_from(m.size).unwrap_or(i64::MAX))
                    .push_bind(&m.raw)
                    .push_bind(m.ballot_id)
                    .push_bind(m.disposition.as_str())
                    .push_bind(&m.reason)
                    .push_bind(&m.reading_json)
                    .push_bind(&m.verification_json);
            });
            q.build().execute(&mut *self.conn).await?;
        }

        let votes = std::mem::take(&mut self.votes);
        for chunk in statement_chunks(&votes) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO votes (id, ballot_id, round, org_id, position, voter, cast_at, message_row, status, recorded_at, receipt_id, message_id) ",
            );
            q.push_values(chunk, |mut b, v| {
                b.push_bind(v.id)
                    .push_bind(v.ballot_id)
                    .push_bind(i64::from(v.record.round))
                    .push_bind(v.record.org.as_str())
                    .push_bind(v.record.position.as_str())
                    .push_bind(&v.record.voter)
                    .push_bind(ts(v.record.cast_at))
                    .push_bind(v.message_row)
                    .push_bind(match v.record.status {
                        VoteStatus::Valid => "valid",
                        VoteStatus::Late => "late",
                    })
                    .push_bind(ts(v.recorded_at))
                    .push_bind(&v.receipt_id)
                    .push_bind(&v.record.message_id);
            });
            q.build().execute(&mut *self.conn).await?;
        }

        // A mail is queued once per Message-ID: drop the ones already in the outbox
        // (or staged twice), and with them their mail_queued events.
        let mails = std::mem::take(&mut self.mails);
        let mut queued: HashSet<String> = HashSet::new();
        let mut existing: HashSet<String> = HashSet::new();
        for chunk in statement_chunks(&mails) {
            let mut q =
                QueryBuilder::<Sqlite>::new("SELECT message_id FROM outbox WHERE message_id IN (");
            let mut sep = q.separated(", ");
            for (m, _) in chunk {
                sep.push_bind(&m.message_id);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *self.conn).await? {
                existing.insert(r.try_get(0)?);
            }
        }
        let mut new_mails = Vec::with_capacity(mails.len());
        for (m, at) in &mails {
            if !existing.contains(&m.message_id) && queued.insert(m.message_id.clone()) {
                let ballot_id = match m.ballot {
                    Some(r) => self.ballot_id(r).await?,
                    None => None,
                };
                new_mails.push((m, *at, ballot_id));
            }
        }
        for chunk in statement_chunks(&new_mails) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO outbox (message_id, kind, ballot_id, envelope_from, recipients_json, raw, created_at, next_attempt_at) ",
            );
            let mut recipients = Vec::with_capacity(chunk.len());
            for (m, _, _) in chunk {
                recipients.push(serde_json::to_string(&m.recipients)?);
            }
            q.push_values(
                chunk.iter().zip(&recipients),
                |mut b, ((m, at, ballot_id), r)| {
                    b.push_bind(&m.message_id)
                        .push_bind(&m.kind)
                        .push_bind(*ballot_id)
                        .push_bind(&m.envelope_from)
                        .push_bind(r)
                        .push_bind(&m.raw)
                        .push_bind(ts(*at))
                        .push_bind(ts(*at));
                },
            );
            q.build().execute(&mut *self.conn).await?;
        }

        let staged = std::mem::take(&mut self.events);
        let mut kept = Vec::with_capacity(staged.len());
        let mut announced: HashSet<String> = HashSet::new();
        for e in staged {
            match &e.if_queued {
                Some(id) if !queued.contains(id) || !announced.insert(id.clone()) => {}
                _ => kept.push((e.at, e.event)),
            }
        }
        events::append_all(&mut *self.conn, &kept).await?;
        Ok(())
    }
}
