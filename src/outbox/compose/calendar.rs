//! The deadline as a calendar entry (RFC 5545 iCalendar), attached to the
//! announcement, to an extension (the same entry, moved) and to a
//! cancellation (the same entry, cancelled), so members see it in their
//! calendar and the calendar follows the ballot.
//!
//! `METHOD:PUBLISH`, not `REQUEST`: a published entry is information, and a
//! calendar client sends no accept/decline for it (which could otherwise
//! arrive at the bot looking like an answer). Each ballot's entry has one UID
//! for its whole life; its SEQUENCE grows with the deadline (minutes after the
//! ballot opened, which only ever grow: a deadline is only ever moved later,
//! and a re-ballot's is later still) and once more when it is cancelled.

use chrono::{DateTime, Utc};

use super::Composer;
use crate::ballot::Ballot;
use crate::outbox::Attachment;

/// What the entry says about the ballot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// The current round's deadline.
    Open,
    /// The ballot was cancelled: the entry is withdrawn.
    Cancelled,
}

impl Composer<'_> {
    /// The calendar entry of `b`'s current deadline, as an attachment.
    /// Its DTSTAMP is the round's opening, so the same ballot always gives
    /// the same bytes (the golden files pin them).
    pub fn deadline_entry(&self, b: &Ballot, state: EntryState) -> Attachment {
        let round = b.current_round();
        let now = round.opened_at;
        let minutes = (round.deadline - b.opened_at).num_minutes().max(0);
        let sequence = match state {
            EntryState::Open => minutes,
            EntryState::Cancelled => minutes + 1,
        };
        let summary = match self.lang() {
            crate::language::Language::Ja => {
                format!("[{}] 回答期限: {}", b.reference, b.title)
            }
            crate::language::Language::En => {
                format!("[{}] answer deadline: {}", b.reference, b.title)
            }
        };
        let description = match self.lang() {
            crate::language::Language::Ja => format!(
                "メール審議 {}（第{}回）の回答期限です。審議のご案内メールに返信してご回答ください。",
                b.reference, round.number
            ),
            crate::language::Language::En => format!(
                "The deadline of the email ballot {} (round {}). Answer by replying to its announcement.",
                b.reference, round.number
            ),
        };
        let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        let mut lines = vec![
            "BEGIN:VCALENDAR".to_string(),
            "VERSION:2.0".to_string(),
            "PRODID:-//mail-ballot//mail-ballot//EN".to_string(),
            "CALSCALE:GREGORIAN".to_string(),
            // Published, also when cancelled (then STATUS:CANCELLED): a
            // scheduling method would invite answers.
            "METHOD:PUBLISH".to_string(),
            "BEGIN:VEVENT".to_string(),
            format!(
                "UID:{}.deadline@{}",
                b.reference.msgid_prefix(),
                self.config.message_id_domain()
            ),
            format!("SEQUENCE:{sequence}"),
            format!("DTSTAMP:{}", stamp(now)),
            format!("DTSTART:{}", stamp(round.deadline)),
            format!("DTEND:{}", stamp(round.deadline)),
            format!("SUMMARY:{}", escape(&summary)),
            format!("DESCRIPTION:{}", escape(&description)),
            "TRANSP:TRANSPARENT".to_string(),
            match state {
                EntryState::Open => "STATUS:CONFIRMED".to_string(),
                EntryState::Cancelled => "STATUS:CANCELLED".to_string(),
            },
            "END:VEVENT".to_string(),
            "END:VCALENDAR".to_string(),
        ];
        let mut text = String::new();
        for line in lines.drain(..) {
            text.push_str(&fold(&line));
        }
        Attachment {
            filename: format!("{}.ics", b.reference),
            content_type: "text/calendar; charset=utf-8; method=PUBLISH".to_string(),
            bytes: text.into_bytes(),
        }
    }
}

/// A text value as RFC 5545 3.3.11 writes it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

/// One content line, folded at 75 octets (RFC 5545 3.1) without cutting a
/// UTF-8 character, CRLF at each end.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::compose::samples::SampleBallots;
    use crate::outbox::templates::Templates;
    use crate::outbox::MessageIdKey;
    use crate::testkit::{at, config};

    /// The calendar's and its one VEVENT's properties, as a calendar
    /// library (icalendar's parser) reads the file.
    fn parse(ics: &str) -> Vec<(String, String)> {
        assert!(ics.ends_with("\r\n"));
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "a line over 75 octets: {l}");
        }
        let unfolded = icalendar::parser::unfold(ics);
        let cal = icalendar::parser::read_calendar(&unfolded).unwrap();
        assert_eq!(cal.components.len(), 1, "one event");
        let event = &cal.components[0];
        assert_eq!(event.name.as_str(), "VEVENT");
        cal.properties
            .iter()
            .chain(&event.properties)
            .map(|p| (p.name.as_str().to_string(), p.val.as_str().to_string()))
            .collect()
    }

    #[test]
    fn the_deadline_entry_is_published_moved_and_cancelled_under_one_uid() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 3, "");
        let t = Templates::load(None, crate::language::Language::Ja).unwrap();
        let ids = MessageIdKey::fixed(0);
        let c = Composer::new(&cfg, &t, &ids);
        let now = at("2026-11-24T01:00:00Z");
        let mut b = SampleBallots::new(&cfg, now).unwrap().open;
        let open = c.deadline_entry(&b, EntryState::Open);
        assert_eq!(open.filename, format!("{}.ics", b.reference));
        assert!(open.content_type.contains("method=PUBLISH"));
        assert!(
            !std::str::from_utf8(&open.bytes)
                .unwrap()
                .contains("ATTENDEE"),
            "nobody is asked to reply"
        );
        let props = parse(std::str::from_utf8(&open.bytes).unwrap());
        let get = |props: &[(String, String)], k: &str| {
            props
                .iter()
                .find(|(p, _)| p == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get(&props, "METHOD"), "PUBLISH");
        assert_eq!(
            get(&props, "DTSTART"),
            b.current_round()
                .deadline
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        );
        assert!(get(&props, "SUMMARY").contains("回答期限"), "{props:?}");
        let uid = get(&props, "UID");
        let seq: i64 = get(&props, "SEQUENCE").parse().unwrap();

        // Extended: the same entry, later, with a higher sequence.
        let later = b.current_round().deadline + chrono::Duration::days(2);
        b.extend(later, now).unwrap();
        let moved =
            parse(std::str::from_utf8(&c.deadline_entry(&b, EntryState::Open).bytes).unwrap());
        assert_eq!(get(&moved, "UID"), uid);
        assert!(get(&moved, "SEQUENCE").parse::<i64>().unwrap() > seq);
        assert_eq!(
            get(&moved, "DTSTART"),
            later.format("%Y%m%dT%H%M%SZ").to_string()
        );

        // Cancelled: the same entry withdrawn, higher again.
        let gone = c.deadline_entry(&b, EntryState::Cancelled);
        assert!(
            gone.content_type.contains("method=PUBLISH"),
            "never a scheduling method"
        );
        let gone = parse(std::str::from_utf8(&gone.bytes).unwrap());
        assert_eq!(get(&gone, "UID"), uid);
        assert_eq!(get(&gone, "STATUS"), "CANCELLED");
        assert!(
            get(&gone, "SEQUENCE").parse::<i64>().unwrap()
                > get(&moved, "SEQUENCE").parse::<i64>().unwrap()
        );
    }

    #[test]
    fn long_japanese_lines_fold_between_characters() {
        let folded = fold(&format!("SUMMARY:{}", "回答期限".repeat(20)));
        for l in folded.split("\r\n") {
            assert!(l.len() <= 75);
        }
        assert_eq!(
            folded.replace("\r\n ", ""),
            format!("SUMMARY:{}\r\n", "回答期限".repeat(20))
        );
    }
}
