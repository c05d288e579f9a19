//! Every mail a decision causes, rendered in one place: each [`Notice`] by its
//! `Composer` function, with the message it answers, and a personal mail about
//! a ballot given the organisation's `bot+TOKEN@` Reply-To when the policy uses
//! tokens (an answer to a receipt, a reminder or a notice then proves itself
//! like one to the personal ballot, and a dispute of a receipt can verify under
//! a token-only policy).

use crate::app::{App, AppError};
use crate::outbox::compose::{Answering, Member, Recorded};
use crate::outbox::Mail;

use super::decide::{Decision, Notice};
use super::prepare::Prepared;

/// The mails of `decision` about message `p`, in the decision's order.
pub(super) fn render(
    app: &App,
    decision: &Decision,
    p: &Prepared<'_>,
) -> Result<Vec<Mail>, AppError> {
    let composer = app.composer();
    let reading = &p.reading;
    let received = p.f.internal_date;
    let answering = Answering {
        message_id: reading.message_id.as_deref(),
        content_hash: &p.hash,
    };
    let answering = &answering;
    let member = |org, voter| Member { org, voter };
    let mut mails = Vec::with_capacity(decision.mails.len());
    for notice in &decision.mails {
        let mut mail = match notice {
            Notice::Receipt {
                ballot,
                org,
                voter,
                position,
                evidence,
                superseded,
            } => {
                let recorded = Recorded {
                    position: *position,
                    received_at: received,
                    evidence,
                    superseded: *superseded,
                };
                composer.receipt(ballot, member(org, voter), recorded, answering)?
            }
            Notice::NotOpen {
                ballot,
                org,
                voter,
                why,
            } => composer.not_open(ballot, member(org, voter), *why, received, answering)?,
            Notice::NotVerified {
                ballot,
                org,
                voter,
                position,
                token_ballot,
            } => composer.not_verified(
                ballot,
                member(org, voter),
                *position,
                *token_ballot,
                received,
                answering,
            )?,
            Notice::Unclear {
                ballot,
                org,
                voter,
                reason,
                delegation,
            } => composer.unclear(
                ballot,
                member(org, voter),
                &reading.own_words,
                reason,
                *delegation,
                answering,
            )?,
            Notice::Status {
                org,
                voter,
                ballots,
            } => {
                let ballots: Vec<_> = ballots.iter().map(|(b, v)| (&**b, v.as_ref())).collect();
                composer.status(org, voter, &ballots, received, answering)?
            }
            Notice::NoAnswer {
                ballot,
                org,
                voter,
                silence,
            } => composer.no_answer(
                ballot,
                member(org, voter),
                &reading.own_words,
                *silence,
                answering,
            )?,
            Notice::TooLarge {
                ballot,
                org,
                voter,
                size,
                limit,
            } => composer.too_large(ballot, member(org, voter), *size, *limit, answering)?,
            Notice::UnknownBallot {
                reference,
                org,
                voter,
            } => composer.unknown_ballot(
                *reference,
                member(org, voter),
                reading.subject.as_deref().unwrap_or(""),
                answering,
            )?,
            Notice::Unverified {
                org,
                ballot,
                claimed,
                summary,
            } => composer.unverified(
                org.as_ref(),
                ballot.as_deref(),
                claimed,
                summary,
                received,
                answering,
            )?,
            Notice::Disputed {
                ballot,
                org,
                round,
                position,
            } => composer.disputed(ballot, org, *round, *position, received, answering)?,
            Notice::Opened { ballot, requester } => {
                composer.opened(ballot, requester, answering)?
            }
            Notice::AdminError {
                requester,
                subject,
                error,
            } => composer.admin_error(requester, subject, error, answering)?,
            Notice::Ratified {
                requester,
                meeting,
                confirmed,
                still_pending,
                no_meeting,
            } => composer.ratified(
                requester,
                *meeting,
                confirmed,
                still_pending,
                *no_meeting,
                answering,
            )?,
        };
        if let Some((b, org)) = notice.personal() {
            if let Some(a) = app.personal_reply_to(b, org) {
                mail.reply_to = Some(a);
            }
        }
        mails.push(mail);
    }
    Ok(mails)
}
