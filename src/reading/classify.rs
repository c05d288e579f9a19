//! Reading a position out of the member's own words.
//!
//! The rule a careful secretary follows, written down: the first sentence that *states*
//! a position decides; later sentences giving reasons do not override it, but a later
//! sentence stating a different position outright makes the answer unclear. A word
//! being present is not a statement: in "賛成するには資料が不足しています" 賛成 is
//! mentioned, not stated. Conditions (条件付きで, 〜であれば, if), hedges (基本的には,
//! maybe) and double negatives (反対ではありません) make an answer unclear; questions and
//! acknowledgements (承知しました) are no answer at all.
//!
//! Every term found is sorted into one of four forms by what follows it:
//!
//! - a statement: the term, a polite ending from a closed list (です, します, いたします,
//!   させていただきます...), then the end of the clause;
//! - a negated statement: the term then a negation (できません, しかねます, ではありません);
//!   賛成できません is a no, 反対ではありません a double negative;
//! - complex: a negation followed by more (賛成しないわけではない), a qualified form
//!   (賛成でもありません, 賛成とまでは言えません, 賛成とは言い切れません, 賛成かと存じます),
//!   or a position on another position or person (反対意見に賛成, 佐藤委員に同意,
//!   I disagree with the objections, +1 to Ken's objection): unclear;
//! - a mention: anything else (賛成・反対・棄権, 賛成、反対どちらとも, 賛成する理由, 反対意見).
//!
//! A list of different positions offers a choice, even when the line ends right after
//! its last item (賛成・反対 does not say 反対); a sentence naming all three positions
//! (賛成/反対/棄権, yes/no/abstain) is the ballot's instructions, copied or garbled, and
//! its listed terms state nothing. Either, with nothing else stated, is unclear.
//!
//! Undecided words (迷っています, 決めかねています, どちらとも, 見送ります) and partial
//! agreement (一部賛成, ほぼ賛成, 趣旨には賛成) make the answer unclear wherever they are,
//! so that a member who has not decided is asked rather than dropped.
//!
//! When in doubt the answer is Unclear, never a guess: the member is asked again.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};
use unicode_normalization::UnicodeNormalization;

use crate::domain::{Position, Vote};

/// What the member's words say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Classification {
    pub vote: Vote,
    /// The sentence (or sentences) that decided, as written.
    pub evidence: Option<String>,
    /// One English sentence explaining the reading.
    pub reason: String,
}

/// A classification and whether a sentence stating a position was found (as opposed to
/// words only mentioned), which tells a per-ballot answer line from a copied subject.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub classification: Classification,
    pub decided: bool,
    /// The first sentence (outside a reason) that makes an answer given elsewhere
    /// conditional or doubtful, and how: for the rest of a reply around its
    /// per-ballot answer lines.
    pub qualifier: Option<(String, &'static str)>,
}

/// Classifies the member's own words (already cut from quotes and signatures).
pub fn classify(own_words: &str) -> Classification {
    analyse(own_words).classification
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Statement,
    Negated,
    Complex,
    Mention { listing: bool },
}

#[derive(Debug, Clone)]
struct Finding {
    position: Position,
    /// A yes that only says "no objection" (異議なし, 反対はありません): it gives way to
    /// an abstention or delegation stated beside it (異議はありませんが棄権します).
    weak: bool,
    form: Form,
    term: String,
    /// A Japanese term joined to no other term by a list connector: in a sentence that
    /// names every position, only such a term can still state one
    /// (賛成、反対、棄権のうち、賛成です).
    apart: bool,
}

#[derive(Debug, Clone, Default)]
struct Sentence {
    text: String,
    question: bool,
    findings: Vec<Finding>,
    condition: bool,
    explicit_condition: bool,
    hedge: bool,
    /// Undecided or passing (迷っています, 見送ります): asked again whatever else is said.
    undecided: bool,
    soft: Option<String>,
    reason_start: bool,
    /// Names yes, no and abstain alike, as the ballot's own instruction line does
    /// ("賛成・反対・棄権のいずれかで"): its terms are read as a list, never as a statement.
    names_every_position: bool,
}

impl Sentence {
    /// Whether this sentence, outside a reason, takes the certainty from an answer
    /// given elsewhere in the reply: how, in the words "the answer is ... by".
    fn qualifies(&self) -> Option<&'static str> {
        let states = self
            .findings
            .iter()
            .any(|f| matches!(f.form, Form::Statement | Form::Negated | Form::Complex));
        if self.explicit_condition || (self.condition && states) {
            Some("made conditional")
        } else if self.undecided || (self.hedge && states) {
            Some("put in doubt")
        } else {
            None
        }
    }

    fn states_abstain_or_delegate(&self) -> bool {
        self.findings.iter().any(|f| {
            f.form == Form::Statement
                && matches!(f.position, Position::Abstain | Position::Delegate)
        })
    }

    /// The positions this sentence states; `Err` when it states something that cannot
    /// be read with confidence (a double negative, a qualified negation).
    fn stance(&self) -> Option<Result<Vec<Position>, &'static str>> {
        let mut values: Vec<Position> = Vec::new();
        let mut double_negative = false;
        let mut complex = false;
        let mut any = false;
        for f in &self.findings {
            match (f.form, f.position) {
                (Form::Statement, _) if f.weak && self.states_abstain_or_delegate() => {}
                (Form::Statement, p) => {
                    any = true;
                    if !values.contains(&p) {
                        values.push(p);
                    }
                }
                (Form::Negated, Position::Yes) => {
                    any = true;
                    if !values.contains(&Position::No) {
                        values.push(Position::No);
                    }
                }
                (Form::Negated, Position::No) => {
                    any = true;
                    double_negative = true;
                }
                // "棄権はしません" says what the member will not do, not what they do.
                (Form::Negated, _) => {}
                (Form::Complex, _) => {
                    any = true;
                    complex = true;
                }
                (Form::Mention { .. }, _) => {}
            }
        }
        if !any {
            return None;
        }
        if complex {
            return Some(Err("is qualified or doubly negated"));
        }
        if double_negative {
            // "反対ではなく賛成です": the double negative only restates the yes.
            if values == [Position::Yes] {
                return Some(Ok(values));
            }
            return Some(Err("is a double negative"));
        }
        Some(Ok(values))
    }
}

pub(crate) fn analyse(own_words: &str) -> Analysis {
    let text: String = own_words.nfkc().collect();
    let sentences = split_sentences(&text);
    let mut analysis = analyse_sentences(&sentences);
    analysis.qualifier = first_qualifier(&sentences);
    analysis
}

/// The first sentence outside a reason that makes an answer conditional or doubtful.
fn first_qualifier(sentences: &[Sentence]) -> Option<(String, &'static str)> {
    let mut reason_context = false;
    for s in sentences {
        reason_context |= s.reason_start;
        if s.question || reason_context {
            continue;
        }
        if let Some(why) = s.qualifies() {
            return Some((s.text.clone(), why));
        }
    }
    None
}

fn analyse_sentences(sentences: &[Sentence]) -> Analysis {
    if sentences.is_empty() {
        return undecided(
            Vote::None,
            None,
            "The reply contains no words of the member's own.",
        );
    }

    let deciding = sentences
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.question)
        .find_map(|(i, s)| s.stance().map(|stance| (i, stance)));
    let Some((d, stance)) = deciding else {
        return no_statement(sentences);
    };
    let first = &sentences[d];
    let quoted = quote(&first.text);
    let decided = match stance {
        Ok(values) if values.len() == 1 => values[0],
        Ok(values) => {
            let names: Vec<&str> = values.iter().map(|p| p.as_str()).collect();
            return decided_unclear(
                &first.text,
                format!(
                    "The sentence {quoted} states several positions ({}), which contradict each other.",
                    names.join(" and ")
                ),
            );
        }
        Err(why) => {
            return decided_unclear(
                &first.text,
                format!(
                "The answer {quoted} {why}, so it cannot be read as a position with confidence."
            ),
            )
        }
    };
    if first.condition {
        return decided_unclear(
            &first.text,
            format!("The answer {quoted} is conditional, so it cannot be counted as it stands."),
        );
    }
    if first.hedge {
        return decided_unclear(
            &first.text,
            format!(
                "The answer {quoted} is hedged or tentative, so it cannot be counted as it stands."
            ),
        );
    }

    let mut reason_context = false;
    for s in &sentences[d + 1..] {
        if s.reason_start {
            reason_context = true;
        }
        if s.question {
            continue;
        }
        let later = quote(&s.text);
        for f in &s.findings {
            let contrary = match (f.form, f.position) {
                (Form::Statement, _)
                    if f.weak && matches!(decided, Position::Abstain | Position::Delegate) =>
                {
                    false
                }
                (Form::Statement, p) => p != decided,
                (Form::Negated, Position::Yes) if !reason_context => decided != Position::No,
                (Form::Negated, Position::No) if !reason_context => decided == Position::No,
                // A qualified later statement ("ただ、賛成でもありません", "賛成とまでは言えません")
                // takes back a plain first one, whichever term it is about.
                (Form::Complex, _) if !reason_context => true,
                _ => false,
            };
            if contrary {
                return decided_unclear(
                    &format!("{} / {}", first.text, s.text),
                    format!(
                        "The reply first says {} ({quoted}) but later {later}, which contradicts it.",
                        decided.as_str()
                    ),
                );
            }
        }
        if !reason_context {
            if let Some(why) = s.qualifies() {
                return decided_unclear(
                    &format!("{} / {}", first.text, s.text),
                    format!("The answer {quoted} is {why} by {later}, so it cannot be counted as it stands."),
                );
            }
        }
    }

    Analysis {
        classification: Classification {
            vote: decided.into(),
            evidence: Some(first.text.clone()),
            reason: format!(
                "The member's first statement of a position, {quoted}, reads as {}.",
                decided.as_str()
            ),
        },
        decided: true,
        qualifier: None,
    }
}

fn decided_unclear(evidence: &str, reason: String) -> Analysis {
    Analysis {
        classification: Classification {
            vote: Vote::Unclear,
            evidence: Some(evidence.to_string()),
            reason,
        },
        decided: true,
        qualifier: None,
    }
}

fn undecided(vote: Vote, evidence: Option<String>, reason: &str) -> Analysis {
    Analysis {
        classification: Classification {
            vote,
            evidence,
            reason: reason.to_string(),
        },
        decided: false,
        qualifier: None,
    }
}

/// No sentence states a position: unclear if something reads like an answer, no answer
/// otherwise.
fn no_statement(sentences: &[Sentence]) -> Analysis {
    let statements = sentences.iter().filter(|s| !s.question);
    // Words that name every position but state none are the instructions, not an
    // answer: the member is asked again rather than left uncounted without a word.
    if let Some(s) = statements.clone().find(|s| s.names_every_position) {
        return undecided(
            Vote::Unclear,
            Some(s.text.clone()),
            &format!(
                "The words {} name every position (yes, no and abstain), as the ballot's instructions do, and are not an answer, so the member is asked again.",
                quote(&s.text)
            ),
        );
    }
    for s in statements.clone() {
        if let Some(soft) = &s.soft {
            return undecided(
                Vote::Unclear,
                Some(s.text.clone()),
                &format!(
                    "The words {} (\"{soft}\") read like an answer but are not one of the recognised answers.",
                    quote(&s.text)
                ),
            );
        }
    }
    for s in statements.clone() {
        if s.undecided || (s.hedge && !s.findings.is_empty()) {
            return undecided(
                Vote::Unclear,
                Some(s.text.clone()),
                &format!(
                    "The words {} are undecided or hedged, so the member is asked again.",
                    quote(&s.text)
                ),
            );
        }
    }
    for s in statements.clone() {
        if let Some(f) = s
            .findings
            .iter()
            .find(|f| matches!(f.form, Form::Mention { listing: false } | Form::Negated))
        {
            return undecided(
                Vote::Unclear,
                Some(s.text.clone()),
                &format!(
                    "The words {} mention {} but do not state a position.",
                    quote(&s.text),
                    f.term
                ),
            );
        }
    }
    // "賛成・反対": a choice listed, not made.
    for s in statements.clone() {
        let mut listed: Vec<Position> = Vec::new();
        for f in &s.findings {
            if f.form == (Form::Mention { listing: true }) && !listed.contains(&f.position) {
                listed.push(f.position);
            }
        }
        if listed.len() >= 2 {
            let names: Vec<&str> = listed.iter().map(|p| p.as_str()).collect();
            return undecided(
                Vote::Unclear,
                Some(s.text.clone()),
                &format!(
                    "The words {} list positions ({}) without stating one.",
                    quote(&s.text),
                    names.join(" and ")
                ),
            );
        }
    }
    if sentences.iter().any(|s| s.question) {
        return undecided(
            Vote::None,
            None,
            "The reply asks a question and states no position.",
        );
    }
    undecided(Vote::None, None, "The member's words state no position.")
}

fn quote(s: &str) -> String {
    let short: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        format!("\"{short}…\"")
    } else {
        format!("\"{short}\"")
    }
}

// ---------------------------------------------------------------------------------
// Sentences

/// Lines starting with these begin a new sentence even when the line above has no
/// full stop; other lines starting in hiragana continue it (賛成\nできません).
const NEW_SENTENCE_STARTS: &[&str] = &[
    "よろしく",
    "宜しく",
    "お願い",
    "おねがい",
    "ありがと",
    "お疲れ",
    "おつかれ",
    "お世話",
    "いつも",
    "どうぞ",
    "なお",
    "また",
    "ちなみに",
    "ただし",
    "もし",
    "あと",
    "それでは",
    "では、",
    "でも、",
    "ご確認",
    "ご検討",
    "ご連絡",
    "ご査収",
    "ご対応",
    "お手数",
    "以上",
];

fn is_hiragana(c: char) -> bool {
    ('\u{3041}'..='\u{309f}').contains(&c)
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}')
}

/// Joins hard-wrapped lines into logical lines, then splits them into sentences.
fn split_sentences(text: &str) -> Vec<Sentence> {
    let mut logical: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = collapse_ws(line);
        if line.is_empty() {
            if !current.is_empty() {
                logical.push(std::mem::take(&mut current));
            }
            continue;
        }
        if current.is_empty() {
            current = line;
            continue;
        }
        let ends_sentence = current.ends_with(['。', '.', '!', '?', ':']);
        let first = line.chars().next().unwrap_or(' ');
        let continues = !ends_sentence
            && ((is_hiragana(first) && !NEW_SENTENCE_STARTS.iter().any(|s| line.starts_with(s)))
                || first.is_ascii_lowercase());
        if continues {
            let last = current.chars().last().unwrap_or(' ');
            if !(is_cjk(last) && is_cjk(first)) {
                current.push(' ');
            }
            current.push_str(&line);
        } else {
            logical.push(std::mem::replace(&mut current, line));
        }
    }
    if !current.is_empty() {
        logical.push(current);
    }

    let mut out = Vec::new();
    for l in &logical {
        let mut start = 0;
        let chars: Vec<(usize, char)> = l.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(k + 1).map(|&(_, n)| n);
            let end = match c {
                '。' | '!' | '?' => !matches!(next, Some('!' | '?' | '。' | ')' | '」')),
                '.' => next.is_none_or(|n| n.is_whitespace()),
                _ => false,
            };
            if end {
                let s = l[start..i + c.len_utf8()].trim();
                if !s.is_empty() {
                    out.push(analyse_sentence(s));
                }
                start = i + c.len_utf8();
            }
        }
        let s = l[start..].trim();
        if !s.is_empty() {
            out.push(analyse_sentence(s));
        }
    }
    out
}

fn collapse_ws(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Everything a sentence is checked for besides its terms, in one set so that a sentence
/// is scanned once. The indices are the `SIG_` constants below.
static SIGNALS: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // A question.
        r"(?:\?|(?:でしょうか|ますか|ですか|ませんか|のか|だろうか|かな|かしら)[。.]?)\s*$",
        // A condition, in Japanese or English. The ば-forms (間に合えば, 付けば, 通れば)
        // are the e-row kana before ば.
        r"条件|前提|であれば|ならば|なら|場合|次第|たら|[えけせてねへめれげぜでべぺ]ば|のうえで|の上で|うえで|限り|ただし|但し|もし|によっては|(?-u:\b)(?:if|unless|provided|providing|assuming|conditional(?:ly)?|conditions?|as\s+long\s+as|so\s+long\s+as|subject\s+to|only\s+when|once|when|whenever|given\s+that|on\s+the\s+understanding|pending|contingent|in\s+case|except|depending|depends)(?-u:\b)",
        // A condition that qualifies the whole answer even from a later sentence
        // (予算次第ですが。 / 予算が付けば、ですが。 / on the understanding that ...).
        r"条件|前提|場合に限り|限り|によっては|[\p{Han}\p{Katakana}ー]次第(?:で|では|です|だ|[。.、,]|$)|(?:れば|[えけせてねへめげぜでべぺ]ば|なら|ならば|であれば|でしたら|たら)[、,]?\s*(?:ですが|ですけど|ですけれど|だけど|だが|の話|のこと)|(?-u:\b)(?:only\s+if|on\s+condition|provided\s+that|unless|conditional(?:ly)?|subject\s+to|given\s+that|on\s+the\s+understanding|contingent|pending|depending\s+on|depends\s+on|as\s+long\s+as|so\s+long\s+as)(?-u:\b)",
        // A hedge, or agreement with only part of the motion (一部賛成, 趣旨には賛成).
        r"たぶん|多分|おそらく|恐らく|かもしれ|かも|一応|基本的|原則|おおむね|概ね|大筋|暫定|仮に|保留|迷って|悩んで|微妙|どちらかといえば|どちらかと言えば|一旦|いったん|とりあえず|取り敢えず|取りあえず|心情的|個人的には|気持ち|ひとまず|一先ず|寄り|(?:一部|ほぼ|ほとんど|部分的|大部分|ある程度|一定程度|大体|だいたい|おおよそ|半ば|半分)(?:的)?(?:に|は|には|で|の点で|について)?(?:は)?\s*(?:賛成|賛同|同意|承認|反対|異議|異論|異存)|(?:趣旨|総論|方向性|考え方|理念|大枠|基本方針)(?:的)?(?:に|には|では|として|としては|は|の上では|上は)?(?:は)?\s*(?:賛成|賛同|同意)|(?-u:\b)(?:maybe|probably|perhaps|might|tentative(?:ly)?|leaning|lean\s+towards?|in\s+principle|not\s+sure|unsure|i\s+guess|kind\s+of|sort\s+of|for\s+now|reservations?|partly|partially|mostly|largely|in\s+part|somewhat|more\s+or\s+less|in\s+general|generally|broadly|i'd\s+say|i\s+would\s+say)(?-u:\b)|\((?:ほぼ|一部|部分的|概ね|おおむね|基本的|一応|仮|暫定)|留保",
        // The start of a reason.
        r"^[\s・*\-(【\[<「]*(?:理由|なぜなら|というのも|その理由|補足|because|reason|since)",
        // The member has not decided, or passes without saying how (見送ります): a person
        // would ask again, whatever else the sentence says.
        r"迷って|迷い中|悩んで|悩み中|どちらでも|どっちでも|いずれでも|決めかね|決め兼ね|判断しかね|判断いたしかね|判断できかね|判断がつ(?:か|き)|どちらとも|どっちとも|いずれとも|言い切れ|いいきれ|言いきれ|見送|保留|(?-u:\b)(?:undecided|on\s+the\s+fence|torn\s+between|can't\s+decide|cannot\s+decide|haven't\s+decided|have\s+not\s+decided|not\s+decided)(?-u:\b)",
    ])
    .expect("static regex set")
});
const SIG_QUESTION: usize = 0;
const SIG_CONDITION: usize = 1;
const SIG_EXPLICIT_CONDITION: usize = 2;
const SIG_HEDGE: usize = 3;
const SIG_REASON: usize = 4;
const SIG_UNDECIDED: usize = 5;

/// Words that contain a condition's letters but set none: 無条件 (unconditionally),
/// 例えば (for example), and the courtesy "if" of business mail (よろしければ,
/// ご不明な点がございましたら). Removed before conditions are looked for.
static NOT_A_CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"無条件|条件(?:は|も)?(?:特に)?(?:なし|無し|ありません|ございません|ない)|例えば|たとえば|そういえば|と言えば|といえば|よろしければ|宜しければ|よければ|良ければ|差し?支えなければ|必要(?:が|で)?あれば|必要でしたら|何か(?:ございましたら|ありましたら|あれば)|ご?不明(?:な)?点(?:が|等|など)?(?:ございましたら|ありましたら|あれば)|お気づきの点(?:が)?(?:ございましたら|ありましたら|あれば)")
        .expect("static regex")
});

/// Words that read like agreement but are not one of the answers the ballot asks for.
static SOFT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"了承|問題(?:は)?(?:ありません|ない|なし|無し|ございません)|結構です|オーケー|よいと思います|良いと思います|いいと思います|よろしいかと|支持します|支持いたします|お任せします|おまかせします|お任せいたします|保留|同上|上に同じ|右に同じ|同感|同じです|同じく|同意見|に一票|に1票|(?-u:\b)(?:i'm\s+in|count\s+me\s+(?:in|out)|happy\s+with|happy\s+to|ok|okay|lgtm|sounds\s+good|fine\s+with\s+me|no\s+problem|support|all\s+good|fine\s+by\s+me|no\s+issues?|no\s+worries|no\s+concerns?|same\s+as|i\s+second|second\s+that|not\s+at\s+all)(?-u:\b)|^(?:はい|いいえ|うん|ええ|了解|了解です|了解しました)[。.!]?$")
        .expect("static regex")
});

fn analyse_sentence(text: &str) -> Sentence {
    let lower = text.to_lowercase();
    let mut findings = Vec::new();
    // "前回は反対しましたが、今回は賛成します": only what is said about this time counts.
    let scanned = match EARLIER_TIME.find(text) {
        Some(m) => &text[m.end()..],
        None => text,
    };
    scan_japanese(scanned, &mut findings);
    scan_english(&scanned.to_lowercase(), &mut findings);
    scan_symbols(text, &mut findings);
    // The instruction line, copied past the quote cut or garbled on the way
    // ("賛成/反対/棄権" with no のいずれか after it), would otherwise read as the
    // position it happens to name last. A sentence naming every position states none
    // of them, unless a term standing apart from their list says which.
    let names_every_position = INSTRUCTION_WORDS.matches(&lower).matched_all();
    if names_every_position {
        for f in findings.iter_mut().filter(|f| !f.apart) {
            f.form = Form::Mention { listing: true };
        }
    }
    let signals = SIGNALS.matches(&lower);
    let mut conditions = signals.clone();
    if (signals.matched(SIG_CONDITION) || signals.matched(SIG_EXPLICIT_CONDITION))
        && NOT_A_CONDITION.is_match(&lower)
    {
        conditions = SIGNALS.matches(&NOT_A_CONDITION.replace_all(&lower, ""));
    }
    Sentence {
        question: signals.matched(SIG_QUESTION),
        condition: conditions.matched(SIG_CONDITION),
        explicit_condition: conditions.matched(SIG_EXPLICIT_CONDITION),
        hedge: signals.matched(SIG_HEDGE) || signals.matched(SIG_UNDECIDED),
        undecided: signals.matched(SIG_UNDECIDED),
        soft: SOFT.find(&lower).map(|m| m.as_str().to_string()),
        reason_start: signals.matched(SIG_REASON),
        names_every_position,
        findings,
        text: text.to_string(),
    }
}

/// The words the ballot's instructions name the positions with ("賛成 / 反対 / 棄権",
/// "yes (賛成) / no (反対) / abstain (棄権)"): a sentence holding all three is a copy
/// of them, however garbled, or at best a choice a person would ask about again.
static INSTRUCTION_WORDS: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        r"賛成|(?-u:\b)yes(?-u:\b)",
        r"反対|(?-u:\b)no(?-u:\b)",
        r"棄権|(?-u:\b)abstain",
    ])
    .expect("static regex")
});

/// "On the earlier occasion ..., but this time": the part before "this time" is history.
static EARLIER_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^.*?(?:前回|以前|当初|先回|前の回|1回目|一回目|第1回)[^。]*?(?:が|けれど|けど|ものの)[、,]?\s*(?:今回|今度|このたび|この度|再審|2回目|二回目|第2回|現在|今は)")
        .expect("static regex")
});

// ---------------------------------------------------------------------------------
// Japanese

static JA_TERMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // 異議なし and its kin say "no objection": a yes. 意義なし is the usual typo.
        r"(?P<igi_yes>(?:異議|異存|異論|意義|反対\s*意見|反対)\s*(?:は|が|も)?\s*(?:特に|とくに|一切|全く|まったく|何も|なにも)?\s*(?:ございません|御座いません|ありません|有りません|ないです|無いです|なし|無し|ない|無い))",
        // (反対 is included for 特に反対はありません; 反対ではありません stays a double negative.)
        r"|(?P<igi_no>(?:異議|異存|異論)\s*(?:が|は)?\s*(?:あります|有ります|ございます|あり|有り|ある|を申し立て|を唱え|を申し上げ))",
        r"|(?P<no_pre>不賛成|不承認|不同意|非承認)",
        r"|(?P<yes>賛成|賛同|承認|同意)",
        r"|(?P<no>反対)",
        r"|(?P<abstain>棄権)",
        r"|(?P<delegate>議長一任|委員長一任|一任|委任)",
    ))
    .expect("static regex")
});

/// Negations that can follow a term (with は/も between, as people write them).
const NEGATIONS: &[&str] = &[
    "できません",
    "出来ません",
    "できかねます",
    "出来かねます",
    "いたしかねます",
    "致しかねます",
    "しかねます",
    "かねます",
    "できない",
    "出来ない",
    "できず",
    "出来ず",
    "しません",
    "いたしません",
    "致しません",
    "しない",
    "せず",
    "ではありません",
    "ではございません",
    "ではない",
    "ではなく",
    "でない",
    "でありません",
    "じゃない",
    "じゃありません",
    "じゃなく",
    "はできません",
    "はできない",
    "はできかねます",
    "はしません",
    "はしない",
    "はいたしかねます",
    "はいたしません",
    "は致しかねます",
    "は致しません",
    "はしかねます",
    "もできません",
    "もできない",
    "もしません",
    "もしない",
    "もいたしません",
    "まではできません",
    "するつもりはありません",
    "するつもりはございません",
    "するつもりはない",
    "する予定はありません",
    "は難しいです",
    "は難しい",
    "は困難です",
    "は困難",
    "する状況にありません",
    "できる状況にありません",
    "できる状況ではありません",
];

/// What after a term qualifies it beyond a plain negation, so that it cannot be read
/// either way: "not X either" (賛成でもありません: neither for nor against), "not as far as
/// X" (賛成とまでは言えません), "cannot say X for sure" (賛成とは言い切れません), "I would
/// like to say X" (賛成と言いたい), "X, I believe" (賛成かと存じます), "falls short of X"
/// (賛成には至りません).
const QUALIFIED: &[&str] = &[
    "でもありません",
    "でもございません",
    "でもない",
    "でも無い",
    "でもなく",
    "でもなし",
    "とまでは",
    "までは言え",
    "とは言",
    "とはいえ",
    "とはいい",
    "と言い切",
    "と言いき",
    "と言いた",
    "といいた",
    "とも言",
    "ともいえ",
    "とも決め",
    "とも判断",
    "かと存じ",
    "かと思",
    "かと考え",
    "には至",
    "するには至",
    "までには至",
];

/// Endings that make a term a statement when the clause ends right after them.
const STATEMENT_ENDINGS: &[&str] = &[
    "",
    "です",
    "でございます",
    "であります",
    "だ",
    "である",
    "します",
    "いたします",
    "致します",
    "する",
    "させていただきます",
    "させて頂きます",
    "させていただく",
    "とします",
    "といたします",
    "と致します",
    "とさせていただきます",
    "とさせて頂きます",
    "とする",
    "にします",
    "にいたします",
    "でお願いします",
    "でお願いいたします",
    "でお願い致します",
    "でお願いします",
    "にてお願いします",
    "でお願い申し上げます",
    "で",
    "に一票",
    "に1票",
    "に投票します",
    "に投票いたします",
    "票",
    "票を投じます",
    "票です",
    "の立場です",
    "の意見です",
    "と回答します",
    "と回答いたします",
    "と回答致します",
    "で回答します",
    "で回答いたします",
    "の旨回答します",
    "の旨回答いたします",
    "の旨ご連絡します",
    "の旨ご連絡いたします",
    "の旨ご連絡申し上げます",
    "に変更します",
    "に変更いたします",
    "へ変更します",
    "に訂正します",
    "に訂正いたします",
    "したいと思います",
    "いたしたいと思います",
    "致したいと思います",
    "させていただきたいと思います",
    "させて頂きたいと思います",
    "したく存じます",
    "いたしたく存じます",
    "致したく存じます",
    "とさせてください",
    "させてください",
    "でいいです",
    "で結構です",
    "でよいです",
    "で良いです",
    "いたしたいと存じます",
    "を表明します",
    "を表明いたします",
    "の意を表します",
    "申し上げます",
    "いたしました",
    "致しました",
    "しました",
    "とさせていただきました",
    "っす",
    "と思います",
    "と思っております",
    "と考えます",
    "と考えております",
    "と存じます",
    "と判断します",
    "と判断いたします",
    "と判断致します",
    "させていただきたく存じます",
    "させて頂きたく存じます",
    "で差し支えありません",
    "で差し支えございません",
    "で差支えありません",
    "で差支えございません",
    "で問題ありません",
    "で問題ございません",
    "で問題ないと思います",
    "で良いと思います",
    "でよいと思います",
    "でいいと思います",
    "でよろしくお願いします",
    "でよろしくお願いいたします",
    "でよろしくお願い致します",
    "でよろしくお願い申し上げます",
    "するつもりです",
    "する予定です",
    "しようと思います",
    "しようと思っています",
    "しようと考えています",
    "せざるを得ません",
    "せざるをえません",
    "せざるを得ない",
    "に回ります",
    "でーす",
    "ですー",
    "です〜",
    "とし",
    "となりました",
    "となります",
    "という結論になりました",
    "という結論です",
    "との結論になりました",
    "との結論に至りました",
    "させていただきたく",
    "させて頂きたく",
    "とさせていただきたく",
    "とさせて頂きたく",
    "いたしたく",
    "致したく",
];

/// What may follow a negation or a statement ending for the clause to be over.
const CLAUSE_CONNECTORS: &[&str] = &[
    "ため",
    "ので",
    "から",
    "が",
    "けど",
    "けれど",
    "し、",
    "と思います",
    "と考えます",
    "と判断します",
    "と判断いたします",
    "と判断しました",
    "次第です",
];

/// Endings that close a clause only when the clause really ends after them
/// (賛成ですね。 but not 賛成しないわけ...).
const FINAL_PARTICLES: &[&str] = &["ね", "よ", "です", "のです", "んです"];

fn is_boundary_char(c: char) -> bool {
    !(c.is_alphanumeric() || matches!(c, '・' | '/' | '&' | '+' | '_' | '〃'))
}

/// Whether the clause is over at the start of `s`, after a predicate (an ending or a
/// negation). A bare term needs [`bare_clause_ends`] instead: in 反対が多い the が
/// marks a subject, not a "but".
fn clause_ends(s: &str) -> bool {
    match s.chars().next() {
        None => true,
        Some(c) if is_boundary_char(c) => true,
        Some(_) => {
            CLAUSE_CONNECTORS.iter().any(|k| s.starts_with(k))
                || FINAL_PARTICLES
                    .iter()
                    .any(|p| s.starts_with(p) && clause_ends(&s[p.len()..]))
        }
    }
}

fn bare_clause_ends(s: &str) -> bool {
    s.chars().next().is_none_or(is_boundary_char)
}

fn longest_prefix<'a>(s: &str, list: &'a [&'a str]) -> Option<&'a str> {
    list.iter()
        .filter(|p| !p.is_empty() && s.starts_with(**p))
        .max_by_key(|p| p.len())
        .copied()
}

/// Where a position term starts: after a listing connector this makes the term before
/// it part of a list (賛成、反対どちらとも / 賛成か反対か).
static TERM_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:賛成|賛同|承認|同意|反対|棄権|一任|委任|議長一任|不承認|不賛成|不同意|異議|異論|異存)")
        .expect("static regex")
});

/// What may stand between two terms of a list.
const LIST_CONNECTORS: &[&str] = &[
    "",
    "・",
    "/",
    "か",
    "や",
    "と",
    "も",
    "、",
    ",",
    "か、",
    "と、",
    "や、",
    "とも",
    "か,",
    "及び",
    "および",
    "または",
    "又は",
    "or",
    "か否か",
];

fn is_list_connector(between: &str) -> bool {
    LIST_CONNECTORS.contains(&between.trim())
}

/// The English names of the positions, as the instructions print them beside the
/// Japanese ones: "yes (賛成) / no (反対) / abstain (棄権)".
static EN_POSITION_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:yes|no|abstain|abstention|delegate)(?-u:\b)").expect("static regex")
});

/// Whether two terms are items of one list: only a list connector stands between
/// them once brackets and the English names of the positions are set aside
/// (「賛成」「反対」, "賛成) / no (反対").
fn joins_a_list(between: &str) -> bool {
    let bare: String = between
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '(' | ')' | '[' | ']' | '「' | '」' | '『' | '』' | '【' | '】' | '"' | '\''
            )
        })
        .collect::<String>()
        .to_lowercase();
    is_list_connector(&EN_POSITION_WORDS.replace_all(&bare, ""))
}

/// Sorts a term by what follows it (`tail`, the rest of the sentence).
fn form_after(tail: &str, prev: Option<char>) -> Form {
    let spaced = tail.starts_with(char::is_whitespace);
    let mut t = tail.trim_start();
    // 「賛成」です / 【反対】: a bracketed term is read by what follows the bracket.
    if let Some(rest) = t.strip_prefix(['」', '』', '】', '"', '\'', ')']) {
        if matches!(prev, Some('「' | '『' | '【' | '"' | '\'' | '(')) {
            t = rest.trim_start();
        }
    }
    if QUALIFIED.iter().any(|q| t.starts_with(q)) {
        return Form::Complex;
    }
    if let Some(neg) = longest_prefix(t, NEGATIONS) {
        // 反対ではなく賛成: "not X but Y" ends the clause whatever follows.
        let contrastive = neg.ends_with("なく");
        return if contrastive || clause_ends(&t[neg.len()..]) {
            Form::Negated
        } else {
            Form::Complex
        };
    }
    // A bare term and a comma: "賛成、反対どちらとも..." lists, "賛成、と言いたいところ"
    // quotes; only "賛成、よろしくお願いします" states.
    if let Some(rest) = t.strip_prefix(['、', ',']) {
        let rest = rest.trim_start();
        if rest.starts_with('と') {
            return Form::Complex;
        }
        // Listed only when the next term is listed or weighed too (賛成、反対どちらとも /
        // 賛成、反対、棄権のうち); "賛成、反対する理由はありません" states a yes.
        if let Some(next) = TERM_START.find(rest) {
            let after = rest[next.end()..].trim_start();
            if after.is_empty()
                || [
                    "どちら",
                    "どっち",
                    "いずれ",
                    "か",
                    "、",
                    ",",
                    "・",
                    "/",
                    "の",
                ]
                .iter()
                .any(|c| after.starts_with(c))
                    && !after.starts_with("の理由")
            {
                return Form::Mention { listing: true };
            }
        }
    }
    let statement = STATEMENT_ENDINGS
        .iter()
        .filter(|e| t.starts_with(**e))
        .any(|e| {
            if e.is_empty() {
                bare_clause_ends(t)
            } else {
                clause_ends(&t[e.len()..])
            }
        });
    if statement {
        return Form::Statement;
    }
    if spaced && !t.starts_with(is_hiragana) {
        return Form::Statement;
    }
    let listing = t.starts_with(['・', '/'])
        || ["か", "や", "と", "も", "及び", "および", "または", "又は"]
            .iter()
            .any(|c| {
                t.strip_prefix(c).is_some_and(|r| {
                    let r = r.trim_start_matches(['、', ',', 'も']).trim_start();
                    TERM_START.is_match(r)
                })
            });
    Form::Mention { listing }
}

/// What a term is the object of, read backwards from the term: 反対意見に賛成 agrees with
/// the objection (a no), 鈴木委員の意見に同意 agrees with an opinion we cannot see, and
/// 反対することに異議はありません objects to nothing but the objection.
static OBJECT_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<obj>不賛成|不承認|不同意|賛成|賛同|承認|同意|反対|棄権|一任|委任|異議|異論|異存)?(?:する|した|の|な)?(?P<noun>こと|事|意見|ご意見|御意見|立場|考え|お考え|主張|見解|指摘|ご指摘|発言|ご発言|コメント|方|側|派|案|提案|委員|さん|様|さま|氏|先生|殿|理事|幹事|部長|社長|代表|前者|後者)?["'」』]?(?:に|には|にも|へ)(?:は|も)?\s*(?:特に|とくに|全面的に|心から|強く|一切)?\s*$"#)
        .expect("static regex")
});

const OPINION_NOUNS: &[&str] = &[
    "意見",
    "ご意見",
    "御意見",
    "立場",
    "考え",
    "お考え",
    "主張",
    "見解",
    "指摘",
    "ご指摘",
    "発言",
    "ご発言",
    "コメント",
    "方",
    "側",
    "派",
    // People: 佐藤委員に同意します agrees with what 佐藤委員 said, which we cannot see.
    "委員",
    "さん",
    "様",
    "さま",
    "氏",
    "先生",
    "殿",
    "理事",
    "幹事",
    "部長",
    "社長",
    "代表",
    "前者",
    "後者",
];

/// Whether the term at the end of `before` is said about another position or another
/// person's opinion, so that its direction is not the member's own.
fn object_is_a_position(before: &str) -> bool {
    let start = before.char_indices().rev().nth(30).map_or(0, |(i, _)| i);
    let Some(c) = OBJECT_BEFORE.captures(&before[start..]) else {
        return false;
    };
    match c.name("obj").map(|m| m.as_str()) {
        Some("賛成" | "賛同" | "承認" | "同意") => false,
        Some(_) => true,
        None => c
            .name("noun")
            .is_some_and(|n| OPINION_NOUNS.contains(&n.as_str())),
    }
}

fn scan_japanese(text: &str, out: &mut Vec<Finding>) {
    let first = out.len();
    // Where the term before this one ended, and its position.
    let mut previous: Option<(usize, Position)> = None;
    for caps in JA_TERMS.captures_iter(text) {
        let Some(m) = caps.get(0) else { continue };
        let prev = text[..m.start()].chars().last();
        let tail = &text[m.end()..];
        let (position, inherent_negation) = if caps.name("igi_yes").is_some() {
            (Position::Yes, true)
        } else if caps.name("igi_no").is_some() {
            (Position::No, false)
        } else if caps.name("no_pre").is_some() {
            (Position::No, true)
        } else if caps.name("yes").is_some() {
            (Position::Yes, false)
        } else if caps.name("no").is_some() {
            (Position::No, false)
        } else if caps.name("abstain").is_some() {
            (Position::Abstain, false)
        } else {
            (Position::Delegate, false)
        };
        let mut form = form_after(tail, prev);
        // The second term of a list (賛成・反対, 賛成か反対か) is listed too.
        let listed_after =
            previous.is_some_and(|(end, _)| is_list_connector(&text[end..m.start()]));
        if listed_after && matches!(form, Form::Mention { .. }) {
            form = Form::Mention { listing: true };
        }
        // So is the last one when nothing follows it: "賛成・反対" offers a choice,
        // it does not say 反対. (One position said twice, 異議なし、賛成, still says it.)
        if listed_after
            && form == Form::Statement
            && bare_clause_ends(tail.trim_start())
            && previous.is_some_and(|(_, p)| p != position)
        {
            form = Form::Mention { listing: true };
        }
        // 未承認 (not yet approved), 正反対 (the exact opposite): not positions.
        if matches!(prev, Some('未' | '正' | '相')) && caps.name("igi_yes").is_none() {
            form = Form::Mention { listing: false };
        }
        // A negation after a term that is itself negative (異議なし, 不承認) is a
        // double negative.
        if inherent_negation && form == Form::Negated {
            form = Form::Complex;
        }
        if matches!(position, Position::Yes | Position::No)
            && !matches!(form, Form::Mention { .. })
            && object_is_a_position(&text[..m.start()])
        {
            form = Form::Complex;
        }
        out.push(Finding {
            position,
            form,
            weak: inherent_negation && position == Position::Yes,
            term: m.as_str().to_string(),
            apart: !previous.is_some_and(|(end, _)| joins_a_list(&text[end..m.start()])),
        });
        previous = Some((m.end(), position));
    }
    // A term the next one is listed after is in the list too.
    for i in first..out.len().saturating_sub(1) {
        if !out[i + 1].apart {
            out[i].apart = false;
        }
    }
}

// ---------------------------------------------------------------------------------
// English and symbols

static EN_TERMS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<yes_phrase>(?-u:\b)no\s+(?:strong\s+|particular\s+|real\s+|further\s+|major\s+)?(?:objections?|opposition)(?-u:\b)|(?-u:\b)without\s+(?:any\s+)?objections?(?-u:\b)|(?:couldn't|could\s+not|can't|cannot)\s+agree\s+more(?-u:\b)",
        r"|(?-u:\b)nothing\s+against(?-u:\b)|(?:(?-u:\b)not|n't)\s+have\s+(?:any\s+)?objections?(?-u:\b))",
        r"|(?P<not_against>(?-u:\b)not\s+(?:be\s+)?against(?-u:\b)|(?:(?-u:\b)not|n't|(?-u:\b)never)\s+object(?-u:\b))",
        r"|(?P<no>(?-u:\b)disagree[ds]?(?-u:\b)|(?-u:\b)oppose[ds]?(?-u:\b)|(?-u:\b)reject(?:s|ed)?(?-u:\b)|(?-u:\b)disapprove[ds]?(?-u:\b)|(?-u:\b)nay(?-u:\b)",
        r"|(?-u:\b)(?:i|we)\s+(?:strongly\s+)?object(?-u:\b)|(?-u:\b)object\s+to(?-u:\b)",
        r"|(?-u:\b)(?:am|are|is|i'm|we're|vote|voting|votes)\s+against(?-u:\b)",
        r"|(?-u:\b)against\s+(?:it|this|that|the\s+(?:motion|proposal|ballot|application|resolution|admission))(?-u:\b)",
        r"|(?-u:\b)have\s+(?:an\s+|some\s+)?objections?(?-u:\b)|^against[.!]?$)",
        r"|(?P<yes>(?-u:\b)(?:am|are|i'm|we're|vote|voting|votes)\s+for\s+(?:it|this|the\s+(?:motion|proposal|admission|application|resolution))(?-u:\b)|^for[.!]?$|(?-u:\b)approve[ds]?(?-u:\b)|(?-u:\b)agree[ds]?(?-u:\b)|(?-u:\b)concur(?-u:\b)|(?-u:\b)in\s+favou?r(?-u:\b))",
        r"|(?P<abstain>(?-u:\b)abstain(?:s|ing|ed)?(?-u:\b)|(?-u:\b)abstention(?-u:\b))",
        r"|(?P<delegate>(?-u:\b)delegat(?:e|es|ing)(?-u:\b)|(?-u:\b)leave\s+it\s+to\s+the\s+chair(?-u:\b))",
        r"|(?P<yesno>^no\s+way[.!]*$|^(?:yes|yeah|yep|aye|no|nope|nah)(?-u:\b)|^(?:of\s+course|absolutely|definitely|certainly)\s*,?\s*(?:yes|no|not)(?-u:\b)|(?-u:\b)i\s+say\s+(?:yes|no)(?-u:\b)|(?-u:\b)i(?:'d|\s+would)\s+say\s+(?:yes|no)(?-u:\b)|(?-u:\b)count\s+me\s+(?:as\s+)?an?\s+(?:yes|no)(?-u:\b)|(?-u:\b)my\s+answer\s+is\s+(?:yes|no)(?-u:\b)|^(?:maybe|probably|perhaps|i\s+guess|i\s+think)\s*,?\s*(?:yes|no)(?-u:\b)|(?-u:\b)vote\s*(?:is\s*)?[:=]?\s*(?:yes|no)(?-u:\b)|(?-u:\b)(?:answer|回答)\s*[:=]\s*(?:yes|no)(?-u:\b))",
    ))
    .expect("static regex")
});

const NEGATORS: &[&str] = &[
    "not",
    "no",
    "never",
    "don't",
    "dont",
    "doesn't",
    "didn't",
    "can't",
    "cant",
    "cannot",
    "won't",
    "wouldn't",
    "couldn't",
    "shouldn't",
    "isn't",
    "aren't",
    "wasn't",
    "neither",
    "nor",
];

/// After "yes"/"no" with a comma, words that turn the answer around: "Nope, all good",
/// "No, it's fine with me", "Yes, but ...".
static TURNS_NO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:good|fine|ok|okay|great|problems?|worries|issues?|objections?|concerns?|agree|support|approve|favou?r|happy|sure|yes)(?-u:\b)")
        .expect("static regex")
});
static TURNS_YES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:but|however|though|although|except|not|against|object|disagree|oppose|reject)(?-u:\b)|n't(?-u:\b)")
        .expect("static regex")
});
/// What "yes"/"no" may be said to and still be the answer.
static ANSWER_OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:to\s+(?:the\s+)?(?:motion|proposal|admission|application|resolution|ballot|it|this|that)|from\s+(?:me|us|our\s+side)|here|for\s+(?:me|us))(?-u:\b)")
        .expect("static regex")
});
/// What may follow "agree with" / "disagree with" and leave the answer about the motion;
/// anything else (a person, the objections) is a position on something else.
static AGREED_OBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+with\s+(?:the\s+|this\s+|that\s+)?(?:motion|proposal|admission|application|resolution|ballot|it|this|that|admi\w*|accept\w*|approv\w*|the\s+chair's\s+proposal)(?-u:\b)")
        .expect("static regex")
});
/// Words after a term that make it a position on another position ("I disagree with the
/// objections", "no objection to the rejection").
static ABOUT_A_POSITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(?:objections?|opposition|rejection|against|disagree\w*|oppos\w*|reject\w*|criticism|critics|naysayers|those\s+who|the\s+(?:no|yes)\s+(?:side|camp|vote))(?-u:\b)")
        .expect("static regex")
});

fn scan_english(lower: &str, out: &mut Vec<Finding>) {
    if !lower.bytes().any(|b| b.is_ascii_alphabetic()) {
        return;
    }
    for caps in EN_TERMS.captures_iter(lower) {
        let Some(m) = caps.get(0) else { continue };
        let term = m.as_str().to_string();
        // The rest of the clause after the term.
        let rest = &lower[m.end()..];
        let clause_rest = rest
            .find([',', ';', '.', '!', '?', '、', '。'])
            .map_or(rest, |i| &rest[..i]);
        if caps.name("yesno").is_some() {
            let last = term
                .rsplit(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or("");
            let position = if matches!(last, "yes" | "yeah" | "yep" | "aye") {
                Position::Yes
            } else {
                Position::No
            };
            let courtesy = ["please", "thanks", "thank you"]
                .iter()
                .any(|c| rest.trim_start().starts_with(c));
            // "Yes" or "No" as the answer itself, not "no comment" or "yes or no".
            let standalone = term != last
                || rest.trim().is_empty()
                || rest.starts_with([',', '.', '!', ';', ':', '、', '。'])
                || rest.trim_start().starts_with('(')
                || ANSWER_OBJECT.is_match(rest);
            // "Nope, all good": the words after the comma say the opposite.
            let turned = rest.starts_with([',', ';', ':', '、']) && {
                let after = &rest[1..];
                match position {
                    Position::No => TURNS_NO.is_match(after),
                    _ => TURNS_YES.is_match(after),
                }
            };
            let form = match (standalone, courtesy, position) {
                _ if standalone && turned => Form::Complex,
                (true, _, _) => Form::Statement,
                (false, true, Position::Yes) => Form::Statement,
                // "No thanks" refuses something, but maybe not the motion: ask again.
                (false, true, _) => Form::Complex,
                (false, false, _) => continue,
            };
            out.push(Finding {
                position,
                weak: false,
                form,
                term,
                apart: false,
            });
            continue;
        }
        let about_a_position = ABOUT_A_POSITION.is_match(clause_rest);
        if caps.name("yes_phrase").is_some() {
            out.push(Finding {
                weak: true,
                position: Position::Yes,
                form: if about_a_position {
                    Form::Complex
                } else {
                    Form::Statement
                },
                term,
                apart: false,
            });
            continue;
        }
        if caps.name("not_against").is_some() {
            out.push(Finding {
                weak: false,
                position: Position::No,
                form: Form::Negated,
                term,
                apart: false,
            });
            continue;
        }
        let position = if caps.name("no").is_some() {
            Position::No
        } else if caps.name("yes").is_some() {
            Position::Yes
        } else if caps.name("abstain").is_some() {
            Position::Abstain
        } else {
            Position::Delegate
        };
        // Negators count only within the same clause: "No, I am against it" is a no.
        let clause_start = lower[..m.start()]
            .char_indices()
            .rfind(|&(_, c)| matches!(c, ',' | ';' | ':' | '.' | '!' | '?' | '、'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let before: Vec<&str> = lower[clause_start..m.start()]
            .split(char::is_whitespace)
            .filter(|w| !w.is_empty())
            .collect();
        let is_neg = |w: &&str| {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'');
            NEGATORS.contains(&w) || w.ends_with("n't")
        };
        // "I agree with Suzuki-san": agreeing with a person whose answer we cannot see.
        let agreed_elsewhere = term.ends_with("agree")
            || term.ends_with("agreed")
            || term.ends_with("agrees")
            || term.ends_with("concur");
        let agreed_elsewhere = agreed_elsewhere
            && rest.trim_start().starts_with("with")
            && !AGREED_OBJECT.is_match(rest);
        let form = if matches!(position, Position::Yes | Position::No)
            && (about_a_position || agreed_elsewhere)
        {
            Form::Complex
        } else if before.last().is_some_and(is_neg) {
            Form::Negated
        } else if before.iter().rev().take(4).any(is_neg) {
            Form::Complex
        } else {
            Form::Statement
        };
        out.push(Finding {
            position,
            weak: false,
            form,
            term,
            apart: false,
        });
    }
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:回答|答え|返答|投票|ご回答|answer|vote|my\s+vote)\s*[:=]?\s*")
        .expect("static regex")
});

/// ○ / × / +1 / -1 given as the answer itself ("○", "回答: ×", "+1です").
fn scan_symbols(text: &str, out: &mut Vec<Finding>) {
    let t = LABEL.replace(text.trim(), "");
    let t = t.trim_start_matches(['「', '【', '(', '[']);
    let symbols: &[(&str, Position)] = &[
        ("○", Position::Yes),
        ("〇", Position::Yes),
        ("◯", Position::Yes),
        ("⭕", Position::Yes),
        ("+1", Position::Yes),
        ("×", Position::No),
        ("✕", Position::No),
        ("✖", Position::No),
        ("☓", Position::No),
        ("❌", Position::No),
        ("✗", Position::No),
        ("✘", Position::No),
        ("-1", Position::No),
    ];
    for (sym, position) in symbols {
        if let Some(rest) = t.strip_prefix(sym) {
            // 〇〇株式会社, ×2, +1.5, -1,000: part of something else. "-1, sorry" is not.
            let mut chars = rest.chars();
            let next = chars.next();
            let after = chars.next();
            if next.is_some_and(|c| c.is_ascii_digit() || RESERVED_SYMBOL_FOLLOWERS.contains(&c))
                || (matches!(next, Some('.' | ',')) && after.is_some_and(|c| c.is_ascii_digit()))
            {
                return;
            }
            // "+1 to Ken's objection" agrees with someone else: ask again.
            let said_to = rest.trim_start();
            if said_to.starts_with(|c: char| c.is_ascii_alphabetic()) {
                let form = if ANSWER_OBJECT.is_match(&rest.to_lowercase()) {
                    Form::Statement
                } else {
                    Form::Complex
                };
                out.push(Finding {
                    weak: false,
                    position: *position,
                    form,
                    term: (*sym).to_string(),
                    apart: false,
                });
                return;
            }
            if matches!(form_after(rest, None), Form::Statement) {
                out.push(Finding {
                    weak: false,
                    position: *position,
                    form: Form::Statement,
                    term: (*sym).to_string(),
                    apart: false,
                });
            }
            return;
        }
    }
}

/// After these a symbol is part of something else (〇〇株式会社, ××).
const RESERVED_SYMBOL_FOLLOWERS: &[char] = &['○', '〇', '◯', '×'];

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(s: &str) -> Vote {
        classify(s).vote
    }

    #[test]
    fn plain_and_polite_yes_forms_are_yes() {
        for s in [
            "賛成",
            "賛成です。",
            "賛成します",
            "賛成いたします。",
            "本議案に賛成致します。",
            "賛成させていただきます。",
            "異議なし",
            "異議ありません。",
            "特に異議はございません。",
            "異存ありません",
            "承認します。",
            "加盟を承認いたします。",
            "同意します",
            "〇",
            "○です",
            "+1",
            "Yes",
            "yes.",
            "I approve.",
            "Agree",
            "No objection.",
            "I am in favour.",
        ] {
            assert_eq!(vote(s), Vote::Yes, "{s}");
        }
    }

    #[test]
    fn no_forms_including_negated_yes_are_no() {
        for s in [
            "反対",
            "反対です。",
            "反対します",
            "賛成できません。",
            "賛成しかねます",
            "賛成いたしかねます。",
            "承認できません",
            "承認いたしかねます。",
            "不承認",
            "同意しかねます。",
            "同意できません",
            "×",
            "-1",
            "No",
            "no.",
            "I disagree.",
            "I object.",
            "I am against it.",
            "I do not approve.",
            "異議があります。",
        ] {
            assert_eq!(vote(s), Vote::No, "{s}");
        }
    }

    #[test]
    fn abstain_and_delegate_forms_are_read() {
        for s in [
            "棄権",
            "棄権します。",
            "今回は棄権させていただきます。",
            "abstain",
            "I abstain.",
        ] {
            assert_eq!(vote(s), Vote::Abstain, "{s}");
        }
        for s in [
            "一任",
            "議長一任",
            "議長に一任します。",
            "委任します",
            "委員長に一任いたします。",
        ] {
            assert_eq!(vote(s), Vote::Delegate, "{s}");
        }
    }

    #[test]
    fn a_no_with_a_reason_that_mentions_yes_is_read_as_no() {
        assert_eq!(vote("反対します。理由：賛成するには資料が不足"), Vote::No);
    }

    #[test]
    fn a_yes_followed_by_there_is_no_reason_to_object_is_read_as_yes() {
        assert_eq!(vote("賛成します。反対する理由はありません"), Vote::Yes);
    }

    #[test]
    fn contradictory_answers_are_unclear() {
        assert_eq!(vote("賛成です。反対です。"), Vote::Unclear);
        assert_eq!(vote("賛成です。\n反対します。"), Vote::Unclear);
    }

    #[test]
    fn conditional_answers_are_unclear() {
        for s in [
            "条件付きで賛成します。",
            "予算が確保されるのであれば賛成です。",
            "修正されれば賛成します",
            "賛成です。ただし、次回までに規程を改定することが条件です。",
            "Yes, if the budget is approved.",
        ] {
            assert_eq!(vote(s), Vote::Unclear, "{s}");
        }
    }

    #[test]
    fn an_unconditional_yes_is_yes() {
        assert_eq!(vote("無条件で賛成します。"), Vote::Yes);
    }

    #[test]
    fn double_negatives_are_unclear() {
        for s in [
            "反対ではありません。",
            "賛成しないわけではない",
            "反対しません",
            "I am not against it.",
        ] {
            assert_eq!(vote(s), Vote::Unclear, "{s}");
        }
    }

    #[test]
    fn acknowledgements_and_questions_are_no_answer() {
        for s in [
            "承知しました。",
            "確認します。",
            "確認中です。",
            "質問があります。",
            "この議案の期限はいつでしょうか?",
            "賛成でよろしいでしょうか?",
            "",
            "No comment.",
            "I have no idea.",
        ] {
            assert_eq!(vote(s), Vote::None, "{s}");
        }
    }

    #[test]
    fn no_objection_is_yes_and_not_no() {
        assert_eq!(vote("No objection from me."), Vote::Yes);
        assert_eq!(vote("no objections"), Vote::Yes);
    }

    #[test]
    fn the_ballot_options_listed_in_own_words_are_not_an_answer() {
        // Not an answer, and the member is asked for one (see the next test).
        assert_eq!(
            vote("賛成・反対・棄権のいずれかをご返信ください。"),
            Vote::Unclear
        );
        assert_eq!(
            vote("賛成します。\n賛成・反対・棄権のいずれかをご返信ください。"),
            Vote::Yes
        );
    }

    #[test]
    fn a_line_naming_every_position_is_never_an_answer() {
        // The ballot's own instruction line, copied past the quote cut or garbled on
        // the way: whichever position it happens to name last, it is not an answer.
        for s in [
            "賛成/反対/棄権",
            "賛成・反対・棄権",
            "棄権・賛成・反対",
            "賛成／反対／棄権",
            "賛成/反対/棄権/一任",
            "yes/no/abstain",
            "yes (賛成) / no (反対) / abstain (棄権)",
            "賛成・反対・棄権のいずれかでご回答ください",
            "賛成 / 反対 / 棄権 のいずれかをお書きください。",
            "本文のいちばん上に「賛成」「反対」「棄権」のいずれか一つだけをお書きください。",
        ] {
            let c = classify(s);
            assert_eq!(c.vote, Vote::Unclear, "{s}: {}", c.reason);
            assert!(
                c.reason.contains("name every position"),
                "{s}: {}",
                c.reason
            );
        }
        // Beside the member's own answer, the copied line changes nothing.
        assert_eq!(vote("反対します。\n賛成/反対/棄権"), Vote::No);
        assert_eq!(vote("賛成/反対/棄権\n棄権します。"), Vote::Abstain);
    }

    #[test]
    fn the_last_item_of_a_list_of_positions_is_not_a_statement() {
        for s in [
            "賛成/反対",
            "賛成・反対",
            "反対・棄権",
            "賛成か反対",
            "棄権/賛成",
        ] {
            assert_eq!(vote(s), Vote::Unclear, "{s}");
        }
        // One position said twice is still that position.
        assert_eq!(vote("異議なし、賛成"), Vote::Yes);
    }

    #[test]
    fn a_negation_wrapped_onto_the_next_line_still_negates() {
        assert_eq!(vote("本議案には賛成\nできません。"), Vote::No);
        assert_eq!(vote("本議案に賛成\nいたします。"), Vote::Yes);
        assert_eq!(vote("賛成\nよろしくお願いします。"), Vote::Yes);
    }

    #[test]
    fn full_width_forms_match_after_normalisation() {
        assert_eq!(vote("＋１"), Vote::Yes);
        assert_eq!(vote("ＹＥＳ"), Vote::Yes);
        assert_eq!(vote("賛成です！"), Vote::Yes);
    }

    #[test]
    fn soft_agreement_that_is_not_a_recognised_answer_is_unclear() {
        for s in ["了承しました。", "問題ありません。", "OK", "はい"] {
            assert_eq!(vote(s), Vote::Unclear, "{s}");
        }
    }

    #[test]
    fn hedged_answers_are_unclear() {
        assert_eq!(vote("基本的には賛成です。"), Vote::Unclear);
        assert_eq!(vote("Maybe yes."), Vote::Unclear);
    }

    #[test]
    fn words_that_only_mention_a_position_are_unclear() {
        assert_eq!(vote("賛成するには資料が不足しています。"), Vote::Unclear);
        assert_eq!(vote("反対の方向で考えています。"), Vote::Unclear);
    }

    #[test]
    fn a_yes_giving_its_reason_as_not_being_against_is_yes() {
        assert_eq!(vote("反対ではなく賛成です。"), Vote::Yes);
        assert_eq!(vote("賛成できないため、反対します。"), Vote::No);
    }

    #[test]
    fn a_placeholder_circle_is_not_a_yes() {
        assert_eq!(vote("〇〇の件、確認しました。"), Vote::None);
    }

    #[test]
    fn evidence_is_the_deciding_sentence() {
        let c = classify("お疲れ様です。\n本件、賛成いたします。\nよろしくお願いします。");
        assert_eq!(c.vote, Vote::Yes);
        assert_eq!(c.evidence.as_deref(), Some("本件、賛成いたします。"));
        assert!(c.reason.contains("yes"));
    }

    #[test]
    fn no_objection_forms_are_yes_but_give_way_to_an_abstention_beside_them() {
        assert_eq!(vote("特に反対はありません。"), Vote::Yes);
        assert_eq!(vote("反対意見はありません。"), Vote::Yes);
        assert_eq!(
            vote("異議はありませんが、今回は棄権します。"),
            Vote::Abstain
        );
        assert_eq!(vote("異議なし。反対です。"), Vote::Unclear);
        assert_eq!(vote("反対ではありません。"), Vote::Unclear);
    }

    #[test]
    fn english_idioms_are_not_read_word_by_word() {
        assert_eq!(vote("I couldn't agree more."), Vote::Yes);
        assert_eq!(vote("We do not object."), Vote::Unclear);
        assert_eq!(vote("Nope"), Vote::No);
        assert_eq!(vote("No thanks"), Vote::Unclear);
        assert_eq!(vote("Yes please"), Vote::Yes);
        assert_eq!(vote("I approve, but with reservations."), Vote::Unclear);
    }

    #[test]
    fn english_no_must_stand_alone() {
        assert_eq!(vote("No, I am against the proposal."), Vote::No);
        assert_eq!(vote("I vote no."), Vote::No);
        assert_eq!(vote("yes or no?"), Vote::None);
        assert_eq!(vote("Not sure I agree."), Vote::Unclear);
    }

    fn assert_all(expected: Vote, cases: &[&str]) {
        for s in cases {
            let c = classify(s);
            assert_eq!(c.vote, expected, "{s}: {}", c.reason);
        }
    }

    #[test]
    fn neither_for_nor_against_is_unclear() {
        assert_all(
            Vote::Unclear,
            &[
                "賛成ではありませんが、反対でもありません。",
                "特に反対はありません。ただ、賛成でもありません。",
                "賛成でもなく反対でもない。",
                "賛成でも反対でもございません。",
                "反対でもございません。",
                "賛成でもありません。",
            ],
        );
    }

    #[test]
    fn a_term_before_a_comma_states_only_when_nothing_after_takes_it_back() {
        assert_all(
            Vote::Unclear,
            &[
                "賛成、反対どちらとも言えません。",
                "賛成、と言いたいところですが、今回は見送ります。",
                "賛成、とは言い切れません。",
                "賛成と言いたいところですが、今回は見送ります。",
            ],
        );
        assert_all(
            Vote::Yes,
            &[
                "賛成、よろしくお願いします。",
                "賛成、反対、棄権のうち、賛成です。",
                "賛成、反対する理由はありません。",
                "Yes, no objections.",
                "Yes, no concerns from me.",
            ],
        );
        assert_all(Vote::Unclear, &["賛成、反対のどちらでもありません。"]);
        assert_all(Vote::No, &["反対、理由は以下のとおり。"]);
    }

    #[test]
    fn conditions_in_the_ba_form_and_english_conditions_are_unclear() {
        assert_all(
            Vote::Unclear,
            &[
                "期限に間に合えば賛成します。",
                "予算が付けば賛成です。",
                "規程が通れば賛成です。",
                "賛成です。予算次第ですが。",
                "賛成です。予算が付けば、ですが。",
                "Yes, when the budget passes.",
                "Yes, given that the budget passes.",
                "Yes, on the understanding that the fee is paid.",
                "Yes, provided the fee is paid.",
                "I approve. This is on the understanding that the fee is paid.",
                "賛成多数なら賛成します。",
            ],
        );
    }

    #[test]
    fn courtesy_ifs_and_examples_are_not_conditions() {
        assert_all(
            Vote::Yes,
            &[
                "賛成です。ご不明な点がございましたらご連絡ください。",
                "賛成です。よろしければご確認ください。",
                "例えば、賛成です。",
            ],
        );
    }

    #[test]
    fn partial_or_in_principle_agreement_is_unclear() {
        assert_all(
            Vote::Unclear,
            &[
                "一部賛成です。",
                "ほぼ賛成です。",
                "部分的に賛成します。",
                "一部反対です。",
                "趣旨には賛成です。",
                "総論賛成です。",
                "I partly agree.",
            ],
        );
    }

    #[test]
    fn english_noes_that_say_yes_or_nothing_are_never_read_as_no() {
        assert_all(
            Vote::Yes,
            &["I have nothing against it.", "I don't have any objection."],
        );
        assert_all(
            Vote::Unclear,
            &[
                "I disagree with the objections raised.",
                "Nope, all good.",
                "No, it's fine with me.",
                "Not opposed to the rejection.",
            ],
        );
        assert_all(Vote::No, &["No, sorry.", "No from our side."]);
    }

    #[test]
    fn words_a_person_would_ask_again_about_are_unclear_not_no_answer() {
        assert_all(
            Vote::Unclear,
            &[
                "賛成とまでは言えません。",
                "賛成か反対か迷っています。",
                "賛成か反対か決めかねています。",
                "賛成とも反対とも決めかねます。",
                "反対とも賛成とも言えません。",
                "反対というほどではありません。",
                "賛成か反対か、どちらでもよいです。",
                "今回は見送ります。",
                "賛成かと存じます。",
                "賛成とは言えません。",
                "賛成には至りません。",
                "賛成です。ただ、まだ迷っています。",
                "I'd say yes.",
            ],
        );
    }

    #[test]
    fn yes_and_no_said_to_the_motion_or_from_the_member_are_read() {
        assert_all(
            Vote::Yes,
            &[
                "Yes to the motion.",
                "Yes from me.",
                "Count me as a yes.",
                "+1 from me",
            ],
        );
        assert_all(Vote::No, &["No to the motion.", "I say no."]);
    }

    #[test]
    fn agreeing_with_another_position_or_another_person_is_unclear() {
        assert_all(
            Vote::Unclear,
            &[
                "鈴木委員の反対意見に賛成です。",
                "鈴木委員の意見に賛成です。",
                "反対意見に同意します。",
                "反対することに異議はありません。",
                "不承認に賛成します。",
                "鈴木委員の「反対」という意見には同意しません。",
                "I agree with Suzuki-san.",
                "+1 to Ken's objection.",
                "No objection to the rejection.",
                "I'm in favour of the objection.",
            ],
        );
        assert_all(
            Vote::Yes,
            &[
                "承認することに異議はございません。",
                "事務局案に賛成します。",
                "I agree with the proposal.",
            ],
        );
        assert_all(Vote::No, &["加盟承認に反対します。"]);
    }

    #[test]
    fn another_members_position_quoted_inline_is_not_the_members_own() {
        assert_all(
            Vote::Yes,
            &[
                "鈴木委員は反対とのことですが、私は賛成です。",
                "鈴木委員が「反対」と書いていましたが、私は賛成です。",
                "前回は反対でしたが、今回は賛成です。",
                "前回は反対しましたが、今回は賛成します。",
            ],
        );
        assert_all(
            Vote::No,
            &[
                "「賛成」という意見もありますが、反対です。",
                "前回は賛成しましたが、今回は反対します。",
            ],
        );
    }

    #[test]
    fn polite_business_forms_are_read_in_their_direction() {
        assert_all(
            Vote::Yes,
            &[
                "異論ございません。",
                "反対意見はございません。",
                "特段の異論はございません。",
                "賛成で差し支えございません。",
                "賛成させていただきたく存じます。",
                "賛成と考えます。",
                "反対 意見はありません。",
                "異議 なし",
                "「賛成」でお願いします。",
            ],
        );
        assert_all(
            Vote::No,
            &[
                "賛成いたしかねます。",
                "異議あり。",
                "賛成は難しいと考えます。",
                "反対と考えます。",
                "【反対】",
            ],
        );
    }

    #[test]
    fn agreeing_with_a_named_person_is_unclear_but_saying_the_same_position_is_read() {
        assert_all(
            Vote::Unclear,
            &[
                "佐藤委員に同意します。",
                "佐藤委員の意見に同意いたします。",
                "前者に賛成です。",
            ],
        );
        assert_all(Vote::Yes, &["他の委員と同じく賛成です。"]);
    }

    #[test]
    fn intentions_and_reluctant_answers_are_read_in_their_direction() {
        assert_all(
            Vote::Yes,
            &[
                "賛成するつもりです。",
                "賛成に回ります。",
                "賛成でよろしくお願いします。",
                "賛成で問題ないと思います。",
            ],
        );
        assert_all(
            Vote::No,
            &["賛成するつもりはありません。", "反対せざるを得ません。"],
        );
        assert_all(
            Vote::Unclear,
            &[
                "反対するつもりはありません。",
                "賛成です(ほぼ)",
                "Yes (with reservations).",
            ],
        );
    }

    #[test]
    fn english_short_answers_are_read() {
        assert_all(
            Vote::Yes,
            &[
                "Aye.",
                "For.",
                "I am for it.",
                "Absolutely yes.",
                "Yes, of course.",
            ],
        );
        assert_all(Vote::No, &["Definitely not.", "No way.", "Nay."]);
        assert_all(Vote::Unclear, &["Not at all."]);
    }

    #[test]
    fn same_as_above_and_casual_answers_are_asked_again_not_dropped() {
        assert_all(
            Vote::Unclear,
            &[
                "同上です。",
                "上に同じ。",
                "同感です。",
                "鈴木さんの意見に一票。",
                "I'm in.",
                "Count me out.",
                "Happy with it.",
            ],
        );
        assert_all(Vote::No, &["私も鈴木委員と同じく反対です。", "-1, sorry."]);
    }

    #[test]
    fn company_decisions_and_humble_wishes_are_read() {
        assert_all(
            Vote::Yes,
            &[
                "部内で検討した結果、賛成となりました。",
                "賛成とさせていただきたく、よろしくお願いいたします。",
                "賛成でーす",
            ],
        );
        assert_all(
            Vote::No,
            &["部内で検討した結果、反対という結論になりました。"],
        );
        // Abstaining and delegating at once contradict each other.
        assert_all(Vote::Unclear, &["本件は棄権とし、議長に一任します。"]);
    }
}
