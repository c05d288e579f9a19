//! Why a member's reply holds no answer, so the bot can say what to do.
//!
//! A reply in which the reader finds no position is never counted (`classify`
//! decides that; nothing here changes a reading). But a member who wrote
//! 「賛成？」, 「さんせい」, a question, or an answer in the subject only believes
//! they answered, or waits for an answer to their question; silence would
//! leave them believing it. This tells those cases apart so that the mail the
//! member gets names what the bot saw and what to do about it.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::classify;
use crate::domain::BallotRef;

/// What a reply without an answer looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Silence {
    /// Nothing written above the quote, but the subject states a position the
    /// announcement's subject did not: the answer was put in the subject.
    SubjectOnly,
    /// A position word, but not as an answer: 「賛成？」, 「さんせい」, "yes?".
    Tentative,
    /// A question (ends in ？ or asks): it goes to people, not to the counter.
    Question,
    /// Nothing written at all.
    Empty,
    /// Words, none of them an answer (thanks, a comment).
    Other,
}

impl Silence {
    pub fn as_str(self) -> &'static str {
        match self {
            Silence::SubjectOnly => "subject_only",
            Silence::Tentative => "tentative",
            Silence::Question => "question",
            Silence::Empty => "empty",
            Silence::Other => "other",
        }
    }
}

/// Position words, in kanji, kana and English, as a member might write them
/// without their being read as an answer (after NFKC, lower case).
static POSITION_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"賛成|反対|棄権|一任|さんせい|はんたい|きけん|いちにん|サンセイ|ハンタイ|キケン|\b(?:yes|no|abstain|approve|against)\b",
    )
    .expect("a valid pattern")
});

/// Ways of asking, beyond a question mark.
static ASKING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[?？]|ですか|ますか|でしょうか|ませんか|教えて|いただけ|頂け|ください|下さい|お願い",
    )
    .expect("a valid pattern")
});

/// Why the reply with these own words and this subject answers nothing.
/// `title` is the ballot's title, whose words in a `Re:` subject are the
/// announcement's, not the member's.
pub fn why_silent(own_words: &str, subject: Option<&str>, title: &str) -> Silence {
    let words: String = own_words.nfkc().collect::<String>().to_lowercase();
    let words = words.trim();
    if words.is_empty() {
        return match subject {
            Some(s) if states_position(&subject_rest(s, title)) => Silence::SubjectOnly,
            _ => Silence::Empty,
        };
    }
    if POSITION_WORD.is_match(words) {
        return Silence::Tentative;
    }
    if ASKING.is_match(words) {
        return Silence::Question;
    }
    Silence::Other
}

/// The words a member writes to ask where their organisation stands (状況 /
/// status), alone: anything more is a message for people, not a query.
const STATUS_WORDS: &[&str] = &[
    "状況",
    "回答状況",
    "投票状況",
    "審議状況",
    "状況確認",
    "回答状況確認",
    "status",
    "my status",
];

/// Whether a member's mail asks for their organisation's status: its own words
/// (or, when it has none, its subject without reply prefixes) are one of
/// [`STATUS_WORDS`], give or take brackets and a closing 。/?/!.
pub fn asks_status(own_words: &str, subject: Option<&str>) -> bool {
    let is_query = |text: &str| {
        let t: String = text.nfkc().collect::<String>().to_lowercase();
        let t = t
            .trim()
            .trim_matches(|c: char| "「」『』\"'.。!?！？ ".contains(c))
            .trim();
        STATUS_WORDS.contains(&t)
    };
    let words = own_words.trim();
    if !words.is_empty() {
        return is_query(words);
    }
    subject.is_some_and(|s| {
        static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?i)^(?:\s*(?:re|fw|fwd|aw|sv)\s*[:：])+").expect("a valid pattern")
        });
        is_query(&PREFIX.replace(s, ""))
    })
}

/// What the member added to the subject: without reply and forward prefixes,
/// ballot references, bracketed tags (【メール審議】) and the title.
fn subject_rest(subject: &str, title: &str) -> String {
    static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:re|fw|fwd|aw|sv|vs)\s*(?:\[\d+\])?\s*[:：]|返信\s*[:：]|転送\s*[:：]")
            .expect("a valid pattern")
    });
    static TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"【[^】]*】|\[[^\]]*\]").expect("a valid pattern"));
    let s: String = subject.nfkc().collect();
    let title: String = title.nfkc().collect();
    let s = PREFIX.replace_all(&s, " ");
    let s = TAG.replace_all(&s, " ");
    let s = if title.trim().is_empty() {
        s.to_string()
    } else {
        s.replace(title.trim(), " ")
    };
    BallotRef::find_all(&s)
        .iter()
        .fold(s.clone(), |acc, r| acc.replace(&r.to_string(), " "))
}

/// Whether what is left of the subject reads as a position, or names one.
fn states_position(rest: &str) -> bool {
    let rest = rest.trim();
    !rest.is_empty()
        && (classify::classify(rest).vote.position().is_some()
            || POSITION_WORD.is_match(&rest.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: &str = "新規会員の加盟承認";

    #[test]
    fn an_answer_written_only_in_the_subject_is_found_there() {
        assert_eq!(
            why_silent("", Some("Re: [B-2026-001] 賛成"), TITLE),
            Silence::SubjectOnly
        );
        assert_eq!(
            why_silent(
                "\n",
                Some("RE: [B-2026-001] 【メール審議】新規会員の加盟承認 → 反対します"),
                TITLE
            ),
            Silence::SubjectOnly
        );
    }

    #[test]
    fn an_untouched_subject_is_not_an_answer_even_when_the_title_names_a_position() {
        assert_eq!(
            why_silent(
                "",
                Some("Re: [B-2026-001] 【メール審議】反対意見の取扱い"),
                "反対意見の取扱い"
            ),
            Silence::Empty
        );
        assert_eq!(why_silent("", None, TITLE), Silence::Empty);
    }

    #[test]
    fn a_position_word_that_was_not_read_as_an_answer_is_tentative() {
        for w in ["賛成？", "さんせい", "ｻﾝｾｲ", "Yes?", "反対…かな"] {
            assert_eq!(why_silent(w, None, TITLE), Silence::Tentative, "{w}");
        }
    }

    #[test]
    fn a_status_query_is_the_word_alone_in_the_text_or_the_subject() {
        for w in [
            "状況",
            "状況。",
            "「回答状況」",
            "Status",
            "ｓｔａｔｕｓ?",
            "状況確認\n",
        ] {
            assert!(asks_status(w, None), "{w}");
        }
        assert!(asks_status("", Some("状況")));
        assert!(asks_status("", Some("Re: status")));
        // More than the word is a message for people; an answer is an answer.
        assert!(!asks_status("状況を見て判断します。賛成", None));
        assert!(!asks_status("賛成", Some("状況")));
        assert!(!asks_status(
            "",
            Some("Re: [B-2026-001] 審議の状況について")
        ));
        assert!(!asks_status("", None));
    }

    #[test]
    fn a_question_is_told_apart_from_a_comment() {
        assert_eq!(
            why_silent("資料が見当たりません。送っていただけますか。", None, TITLE),
            Silence::Question
        );
        assert_eq!(
            why_silent("添付はどこでしょう?", None, TITLE),
            Silence::Question
        );
        assert_eq!(
            why_silent("いつもお世話になっております。", None, TITLE),
            Silence::Other
        );
    }
}
