//! Gathering, inside the batch's transaction, what the decision about one
//! message needs (`Facts`): mostly answered by the batch's staging from what it
//! preloaded or staged; the rest (an organisation's answers, a receipt, a
//! digest) asked of the database only when the message calls for it.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::app::App;
use crate::ballot::Ratification;
use crate::domain::Address;
use crate::store::staging::StagedBatch;
use crate::store::StoreError;

use super::decide::says_not_mine;
use super::facts::{
    answers_given, author_of, claimed_author, claimed_member, failed, is_official, named_ballots,
    named_digests, named_receipt, status_query_from, would_count_in, DigestFacts, Facts,
    ReceiptVote,
};
use super::prepare::Prepared;

/// What the decision about `p` needs, as `batch` sees it now.
pub(super) async fn load<'a>(
    app: &'a App,
    batch: &mut StagedBatch<'_>,
    p: &'a Prepared<'_>,
) -> Result<Facts<'a>, StoreError> {
    let config = &app.config;
    let reading = &p.reading;
    let verification = p.verification.as_ref();
    let received = p.f.internal_date;
    let author = author_of(reading, verification);
    let earlier = batch.earlier(
        reading.message_id.as_deref(),
        &p.hash,
        author.as_ref().map(Address::as_str),
    );
    let mut ballots = HashMap::new();
    for r in named_ballots(reading) {
        ballots.insert(r, batch.ballot(r).await?);
    }
    // The organisation's answers only where this one would count: whose answer
    // stands is decided per organisation, and a ballot may hold thousands.
    let mut answers = HashMap::new();
    if let Some(author) = &author {
        for (r, vote) in answers_given(reading) {
            let Some(Some(b)) = ballots.get(&r) else {
                continue;
            };
            if let Some(org) = would_count_in(b, author, vote, received) {
                if let Entry::Vacant(e) = answers.entry(r) {
                    e.insert(batch.org_votes(r, org).await?);
                }
            }
        }
    }
    let domain = config.message_id_domain();
    let mut receipt = None;
    if let Some(id) = named_receipt(reading, domain).filter(|_| says_not_mine(&reading.own_words)) {
        if let Some((vote, r, round, org, position)) = batch.vote_by_receipt(id).await? {
            if let Entry::Vacant(e) = ballots.entry(r) {
                e.insert(batch.ballot(r).await?);
            }
            receipt = Some(ReceiptVote {
                receipt: id.to_string(),
                vote,
                ballot: r,
                round,
                org,
                position,
            });
        }
    }
    let mut digest = None;
    if author.as_ref().is_some_and(|a| is_official(config, a)) {
        for id in named_digests(reading, domain) {
            if let Some(d) = batch.digest(id).await? {
                digest = Some(d);
                break;
            }
        }
    }
    let digest = match digest {
        None => None,
        Some(digest) => {
            let mut pending = Vec::new();
            for r in &digest.ballots {
                if let Some(b) = batch.ballot(*r).await? {
                    if b.ratification == Ratification::Pending {
                        pending.push(*r);
                    }
                }
            }
            let added_meetings = match digest.meeting {
                Some(_) => Vec::new(),
                None => batch.added_meetings().await?,
            };
            Some(DigestFacts {
                digest,
                pending,
                added_meetings,
            })
        }
    };
    let mut told_within_hour = false;
    if let Some(claimed) = failed(verification).and_then(|v| claimed_author(reading, v)) {
        let ballot = reading
            .ballot
            .and_then(|r| ballots.get(&r).cloned().flatten());
        // Whoever `unverified` would tell: the organisation's registered
        // addresses, or the official at the address claimed.
        let to: Vec<String> = match claimed_member(config, ballot.as_deref(), &claimed) {
            Some(org) => org.addresses().map(|a| a.to_string()).collect(),
            None if config.is_admin(&claimed) || config.is_secretariat(&claimed) => {
                vec![claimed.to_string()]
            }
            None => Vec::new(),
        };
        if !to.is_empty() {
            let since = app.now() - chrono::Duration::hours(1);
            told_within_hour = batch.queued_to_since("unverified", &to, since).await?;
        }
    }
    let mut status = Vec::new();
    if let Some(org) = status_query_from(config, reading) {
        for b in batch.open_ballots().await? {
            let votes = batch.org_votes(b.reference, &org.id).await?;
            status.push((b, votes));
        }
    }
    let sent_in_the_hour = reading.from.as_ref().map(|from| {
        batch.messages_from_since(from.as_str(), received - chrono::Duration::hours(1))
    });
    Ok(Facts {
        config,
        own_addresses: &app.read_options.own_addresses,
        reading,
        verification,
        received,
        earlier,
        ballots,
        answers,
        receipt,
        digest,
        told_within_hour,
        status,
        sent_in_the_hour,
    })
}
