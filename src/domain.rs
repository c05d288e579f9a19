//! The vocabulary every other module speaks: ballot references, organisations,
//! addresses and positions.
//!
//! Each value is checked once, where it enters the program (a config file, a
//! command line, a mail header); everything downstream takes the newtype and never
//! validates again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A ballot's reference, `B-YYYY-NNN`: the year it was opened (in the
/// organisation's time zone) and its number within that year.
///
/// It appears as `[B-2026-007]` in every subject and, lower-cased, at the start of
/// the Message-ID of every mail about the ballot (`<b-2026-007.r1....>`), which is
/// how a reply finds its ballot even when the subject was rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BallotRef {
    year: u16,
    number: u32,
}

impl BallotRef {
    /// Builds a reference; years before 2000 or after 9999 and number 0 are refused.
    pub fn new(year: u16, number: u32) -> Result<Self, String> {
        if !(2000..=9999).contains(&year) {
            return Err(format!("year {year} is outside 2000-9999"));
        }
        if number == 0 {
            return Err("ballot numbers start at 1".into());
        }
        Ok(Self { year, number })
    }

    /// The year the ballot was opened.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The ballot's number within its year.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The lower-case form used at the start of Message-IDs: `b-2026-007`.
    pub fn msgid_prefix(&self) -> String {
        format!("b-{:04}-{:03}", self.year, self.number)
    }

    /// Every reference written in `text`, in order of appearance, without repeats.
    /// Matches `B-2026-007` and `b-2026-007` (the Message-ID form), whole words only.
    pub fn find_all(text: &str) -> Vec<BallotRef> {
        let mut out = Vec::new();
        for m in reference_regex().find_iter(text) {
            if let Ok(r) = m.as_str().parse::<BallotRef>() {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        out
    }
}

fn reference_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    // ASCII word boundaries: Japanese text writes references right against kana
    // ("B-2026-007について"), which a Unicode boundary would not separate.
    RE.get_or_init(|| {
        regex::Regex::new(r"(?-u:\b)[Bb]-[0-9]{4}-[0-9]{3,6}(?-u:\b)").expect("static regex")
    })
}

impl fmt::Display for BallotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B-{:04}-{:03}", self.year, self.number)
    }
}

impl FromStr for BallotRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a ballot reference of the form B-YYYY-NNN");
        let rest = s
            .strip_prefix('B')
            .or_else(|| s.strip_prefix('b'))
            .and_then(|r| r.strip_prefix('-'))
            .ok_or_else(bad)?;
        let (year, number) = rest.split_once('-').ok_or_else(bad)?;
        if year.len() != 4
            || number.len() < 3
            || number.len() > 6
            || !year.bytes().all(|b| b.is_ascii_digit())
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        BallotRef::new(
            year.parse().map_err(|_| bad())?,
            number.parse().map_err(|_| bad())?,
        )
    }
}

impl Serialize for BallotRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BallotRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A member organisation's identifier in the roster (`acme`, `org-07`): lower-case
/// ASCII letters, digits, `-` and `_`, so it can appear in Message-IDs, tokens and
/// file names unescaped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

impl OrgId {
    /// Checks the form and wraps it.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 64 {
            return Err(format!(
                "organisation id `{s}` must be 1 to 64 characters long"
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "organisation id `{s}` may only contain a-z, 0-9, `-` and `_`"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The identifier as written in the roster.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for OrgId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OrgId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An email address (`local@domain`), compared case-insensitively: stored
/// lower-cased, because members' clients and mailing lists change the case of
/// addresses freely and a vote must still find its organisation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(String);

impl Address {
    /// Checks the form (one `@`, a non-empty local part, a domain with a dot or
    /// `localhost`, no spaces or angle brackets) and lower-cases it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (local, domain) = t
            .rsplit_once('@')
            .ok_or_else(|| format!("`{t}` is not an email address (no @)"))?;
        let ok_char = |c: char| !c.is_whitespace() && !matches!(c, '<' | '>' | ',' | ';' | '"');
        if local.is_empty()
            || domain.is_empty()
            || !local.chars().all(ok_char)
            || !domain.chars().all(ok_char)
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || !(domain.contains('.') || domain.eq_ignore_ascii_case("localhost"))
        {
            return Err(format!("`{t}` is not an email address"));
        }
        Ok(Self(t.to_lowercase()))
    }

    /// The lower-cased address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Addresses are roster data, members-only information: `Debug` shows only the
/// domain so a stray `{:?}` in a log line does not leak who voted.
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address(…@{})", self.domain())
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A position a member can take on a motion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// 賛成
    Yes,
    /// 反対
    No,
    /// 棄権: a reply, so it counts toward validity, but not in favour.
    Abstain,
    /// 一任 / 委任: leaves the decision to the chair or the committee.
    Delegate,
}

impl Position {
    /// The machine name used in JSON, CSV and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Position::Yes => "yes",
            Position::No => "no",
            Position::Abstain => "abstain",
            Position::Delegate => "delegate",
        }
    }

    /// The Japanese word a secretary would write in the minutes.
    pub fn label_ja(&self) -> &'static str {
        match self {
            Position::Yes => "賛成",
            Position::No => "反対",
            Position::Abstain => "棄権",
            Position::Delegate => "一任",
        }
    }

    /// The English word.
    pub fn label_en(&self) -> &'static str {
        match self {
            Position::Yes => "yes",
            Position::No => "no",
            Position::Abstain => "abstain",
            Position::Delegate => "delegate",
        }
    }
}

impl FromStr for Position {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "yes" => Ok(Position::Yes),
            "no" => Ok(Position::No),
            "abstain" => Ok(Position::Abstain),
            "delegate" => Ok(Position::Delegate),
            _ => Err(format!(
                "`{s}` is not a position (yes, no, abstain or delegate)"
            )),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What reading a message found: a position, an answer that cannot be read with
/// confidence (`Unclear`: the member is asked again), or no answer at all (`None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vote {
    Yes,
    No,
    Abstain,
    Delegate,
    Unclear,
    None,
}

impl Vote {
    /// The position, when there is one.
    pub fn position(&self) -> Option<Position> {
        match self {
            Vote::Yes => Some(Position::Yes),
            Vote::No => Some(Position::No),
            Vote::Abstain => Some(Position::Abstain),
            Vote::Delegate => Some(Position::Delegate),
            Vote::Unclear | Vote::None => None,
        }
    }

    /// The machine name used in JSON and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Vote::Yes => "yes",
            Vote::No => "no",
            Vote::Abstain => "abstain",
            Vote::Delegate => "delegate",
            Vote::Unclear => "unclear",
            Vote::None => "none",
        }
    }
}

impl From<Position> for Vote {
    fn from(p: Position) -> Self {
        match p {
            Position::Yes => Vote::Yes,
            Position::No => Vote::No,
            Position::Abstain => Vote::Abstain,
            Position::Delegate => Vote::Delegate,
        }
    }
}

impl FromStr for Vote {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unclear" => Ok(Vote::Unclear),
            "none" => Ok(Vote::None),
            other => other.parse::<Position>().map(Vote::from),
        }
    }
}

impl fmt::Display for Vote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// This installation's secret for the bot's Message-IDs (migration 0010),
/// drawn when the database was created and kept in it.
///
/// Every Message-ID the bot writes ends in a tag keyed by it, so the IDs are
/// stable where they must be (a retry, a reply's References) and unknown to
/// anyone outside: nobody can plant a message carrying the ID of a mail the
/// bot is about to send, and two installations never share an ID.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageIdKey([u8; 32]);

impl MessageIdKey {
    /// The key as the database keeps it: 64 hex digits.
    pub fn from_hex(s: &str) -> Option<MessageIdKey> {
        let bytes = hex::decode(s.trim()).ok()?;
        Some(MessageIdKey(bytes.try_into().ok()?))
    }

    /// The key as the database keeps it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A key of fixed bytes, for tests that compare whole Message-IDs.
    pub const fn fixed(byte: u8) -> MessageIdKey {
        MessageIdKey([byte; 32])
    }

    /// 16 hex digits (64 bits) of HMAC-SHA256 over the rest of the ID.
    pub fn tag(&self, local: &str) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(local.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

impl std::fmt::Debug for MessageIdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageIdKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_prints_with_three_digits_and_parses_back() {
        let r = BallotRef::new(2026, 7).unwrap();
        assert_eq!(r.to_string(), "B-2026-007");
        assert_eq!("B-2026-007".parse::<BallotRef>().unwrap(), r);
        assert_eq!(r.msgid_prefix(), "b-2026-007");
        assert_eq!("b-2026-007".parse::<BallotRef>().unwrap(), r);
    }

    #[test]
    fn a_reference_above_999_keeps_all_its_digits() {
        let r = BallotRef::new(2026, 1234).unwrap();
        assert_eq!(r.to_string(), "B-2026-1234");
        assert_eq!(r.to_string().parse::<BallotRef>().unwrap(), r);
    }

    #[test]
    fn malformed_references_are_refused() {
        for s in [
            "B-26-007",
            "B-2026-7",
            "B-2026-000",
            "X-2026-007",
            "B2026-007",
            "B-2026-00a",
        ] {
            assert!(s.parse::<BallotRef>().is_err(), "{s} should not parse");
        }
    }

    #[test]
    fn references_are_found_in_subjects_and_message_ids_without_repeats() {
        let found = BallotRef::find_all(
            "Re: [B-2026-007] 新規会員 <b-2026-007.r1.announce@x> and B-2026-012; XB-2026-013",
        );
        assert_eq!(
            found,
            vec![
                BallotRef::new(2026, 7).unwrap(),
                BallotRef::new(2026, 12).unwrap()
            ]
        );
    }

    #[test]
    fn references_written_against_japanese_text_are_found() {
        let found = BallotRef::find_all("B-2026-007とB-2026-008について賛成");
        assert_eq!(
            found,
            vec![
                BallotRef::new(2026, 7).unwrap(),
                BallotRef::new(2026, 8).unwrap()
            ]
        );
    }

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        let a = Address::parse(" Taro.Yamada@Example.CO.JP ").unwrap();
        assert_eq!(a.as_str(), "taro.yamada@example.co.jp");
        assert_eq!(a.domain(), "example.co.jp");
        for bad in [
            "no-at-sign",
            "@example.jp",
            "a@",
            "a b@example.jp",
            "a@nodot",
            "<a@b.jp>",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn an_address_does_not_show_its_local_part_in_debug_output() {
        let a = Address::parse("secret.person@example.jp").unwrap();
        assert!(!format!("{a:?}").contains("secret"));
    }

    #[test]
    fn organisation_ids_are_restricted_to_safe_characters() {
        assert!(OrgId::parse("org-07_a").is_ok());
        for bad in ["", "Org", "org 7", "org.7", "組織"] {
            assert!(OrgId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn votes_name_their_position() {
        assert_eq!(Vote::Yes.position(), Some(Position::Yes));
        assert_eq!(Vote::Unclear.position(), None);
        assert_eq!("delegate".parse::<Vote>().unwrap(), Vote::Delegate);
        assert_eq!(serde_json::to_string(&Vote::None).unwrap(), "\"none\"");
    }
}
