//! Mail that puts a member's vote in doubt: a message in a member's name that
//! failed sender verification, and a member's word that a recorded vote was
//! not theirs (身に覚えがない).

use crate::disposition::Disposition;
use crate::domain::Address;
use crate::security::Kind;
use crate::verify::policy::Verification;

use super::super::facts::{claimed_author, claimed_member, named_receipt, token_subject};
use super::{Alert, Decision, Facts, Notice};

/// A message that failed sender verification: recorded, not counted; the
/// member it claims to be from is told at their registered addresses (once an
/// hour at most: a flood of forgeries is one warning), and the security contact
/// receives an incident report (merged in a flood, see `security`).
pub(super) fn unverified(facts: &Facts<'_>, v: &Verification) -> Decision {
    let (reading, config) = (facts.reading, facts.config);
    let ballot = reading.ballot.and_then(|r| facts.ballot(r));
    let mut d = Decision::only(
        Disposition::Unverified,
        ballot.map(|b| b.reference),
        format!("sender verification {}; not counted", v.summary()),
    );
    let Some(claimed) = claimed_author(reading, v) else {
        return d;
    };
    let member = claimed_member(config, ballot.map(|b| &**b), &claimed);
    let official = config.is_admin(&claimed) || config.is_secretariat(&claimed);
    if member.is_none() && !official {
        // A stranger's unverifiable mail is only noise: recorded, nothing else.
        return d;
    }
    // The member's registered addresses, or the official at the address claimed,
    // hear of it: an admin whose request to open a ballot was refused this way
    // would otherwise wait for a ballot that never opens.
    if facts.told_within_hour {
        d.reason.push_str(if member.is_some() {
            "; the organisation was already told within the hour"
        } else {
            "; the official was already told within the hour"
        });
    } else {
        d.mail(Notice::Unverified {
            org: member.cloned(),
            ballot: ballot.cloned(),
            claimed: claimed.clone(),
            summary: v.summary(),
        });
    }
    d.alert(
        Kind::VerificationFailed,
        d.ballot,
        if member.is_some() {
            "a message in a member's name failed sender verification"
        } else {
            "a message in an admin's name failed sender verification"
        },
    );
    d
}

/// Words that say a recorded vote was not the member's own.
const DISPUTE_WORDS: &[&str] = &[
    "身に覚えがな",
    "身に覚えはな",
    "身に覚えがありません",
    "心当たりがな",
    "心当たりはな",
    "心当たりがありません",
    "送っていません",
    "送っていない",
    "送信していません",
    "送信していない",
    "not mine",
    "not my vote",
    "did not send",
    "didn't send",
    "never sent",
];

/// True when `own_words` say the vote was not theirs.
pub fn says_not_mine(own_words: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let text: String = own_words
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .replace('\u{2019}', "'");
    DISPUTE_WORDS.iter().any(|w| text.contains(w))
}

/// A reply to one of our receipts saying the vote was not theirs (身に覚えがない):
/// the vote is disputed, stops counting until an admin decides, the
/// organisation is told at its registered addresses and the security contact
/// receives an incident report. Only a registered address of the organisation
/// whose vote it is may dispute it, and a dispute verified by a personal reply
/// address must use one of that ballot (the receipt's own, under a token-only
/// policy); anything else is read as usual (`None`).
pub(super) fn dispute(facts: &Facts<'_>, from: &Address) -> Option<Decision> {
    let reading = facts.reading;
    let receipt = named_receipt(reading, facts.config.message_id_domain())?;
    if !says_not_mine(&reading.own_words) {
        return None;
    }
    let vote = facts.receipt.as_ref().filter(|v| v.receipt == receipt)?;
    let b = facts.ballot(vote.ballot)?;
    let org = b.roster.organisation(&vote.org)?;
    if !org.addresses().any(|a| a == from) {
        return None;
    }
    if token_subject(facts.verification).is_some_and(|t| t.ballot != vote.ballot || t.org != org.id)
    {
        return None;
    }
    let round = vote.round;
    let mut d = Decision::only(
        Disposition::Dispute,
        Some(vote.ballot),
        format!("the organisation says its vote in round {round} was not its own; the vote is suspended until an admin decides"),
    );
    d.disputes.push(vote.vote);
    d.mail(Notice::Disputed {
        ballot: b.clone(),
        org: org.clone(),
        round,
        position: vote.position,
    });
    d.alerts.push(Alert {
        kind: Kind::Dispute,
        ballot: Some(vote.ballot),
        summary: format!("an organisation disputes the vote recorded in its name (round {round})"),
        dispute: Some((org.id.clone(), receipt.to_string())),
    });
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_mine_is_read_in_japanese_and_english_but_not_in_a_plain_answer() {
        assert!(says_not_mine("この回答は身に覚えがないです。"));
        assert!(says_not_mine("身に覚えがありません"));
        assert!(says_not_mine("心当たりはない"));
        assert!(says_not_mine("This is NOT MINE."));
        assert!(says_not_mine("I didn\u{2019}t send this"));
        assert!(!says_not_mine("賛成します"));
        assert!(!says_not_mine("I did send it, 賛成"));
    }
}
