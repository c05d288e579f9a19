//! Personal-ballot tokens: proof that a reply answers the ballot mail sent to one
//! organisation's representative.
//!
//! Each representative also receives the ballot directly, with
//! `Reply-To: bot+TOKEN@domain`. The token is an HMAC over (ballot, round,
//! organisation) under a key only the daemon holds, so a reply that reaches
//! `bot+TOKEN@domain` proves its writer received that personal mail; a forger who
//! only sees the list copy cannot write it.
//!
//! The token is the first 80 bits of HMAC-SHA256 in lower-case base32 (16
//! characters of `a-z2-7`): short enough for a local part, and unchanged by
//! clients and servers that lower-case addresses. Mail servers with
//! `recipient_delimiter = +` (Postfix, Dovecot) deliver `bot+TOKEN@domain` into the
//! bot's own INBOX and record it in `Delivered-To`, which is where
//! [`find_token`] looks along with To, Cc and X-Original-To.
//!
//! 80 bits is far beyond guessing by mail (a forger gets one try per message);
//! what a token does not resist is being seen: anyone who reads the member's reply
//! (a forward, a reply-all that copied the list) can reuse it for the same ballot,
//! round and organisation.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::{Address, BallotRef, OrgId};
use crate::secret::Secret;

/// Bytes of the MAC kept in a token: 80 bits, 16 base32 characters.
const TOKEN_BYTES: usize = 10;
/// Characters of a token.
pub const TOKEN_LEN: usize = TOKEN_BYTES * 8 / 5;
/// A shorter key would make the MAC the weakest part of the ballot.
pub const MIN_KEY_BYTES: usize = 16;

/// Separates the MAC of tokens from any other use of the same key, and lets a later
/// encoding change without old tokens matching new ones.
const DOMAIN_TAG: &[u8] = b"mail-ballot personal reply token v1";

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The HMAC key for tokens. `Debug` never shows it.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

/// Why a token key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenKeyError {
    #[error("the token key has {0} bytes; it needs at least {MIN_KEY_BYTES} (for example `openssl rand -hex 32`)")]
    TooShort(usize),
}

impl TokenKey {
    /// Wraps key bytes; fewer than [`MIN_KEY_BYTES`] are refused.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<TokenKey, TokenKeyError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(TokenKeyError::TooShort(bytes.len()));
        }
        Ok(TokenKey(bytes))
    }

    /// The key from a secret read from the environment (its UTF-8 bytes, as written).
    pub fn from_secret(secret: &Secret) -> Result<TokenKey, TokenKeyError> {
        TokenKey::new(secret.expose().as_bytes())
    }

    fn mac(&self, ballot: BallotRef, round: u32, org: &OrgId) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        // Every field is length-prefixed, so no two (ballot, round, org) share an input.
        for field in [
            DOMAIN_TAG,
            ballot.to_string().as_bytes(),
            round.to_string().as_bytes(),
            org.as_str().as_bytes(),
        ] {
            mac.update(&(field.len() as u32).to_be_bytes());
            mac.update(field);
        }
        mac
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

/// A token as it appears after the `+` of the bot's address: 16 characters of
/// lower-case base32. Parsing lower-cases, so `ABC...` and `abc...` are one token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    /// Checks the form (length and alphabet, either case) and lower-cases it.
    pub fn parse(s: &str) -> Option<Token> {
        let t = s.to_ascii_lowercase();
        (t.len() == TOKEN_LEN && t.bytes().all(|b| ALPHABET.contains(&b))).then_some(Token(t))
    }

    /// The lower-case text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn bytes(&self) -> [u8; TOKEN_BYTES] {
        let mut out = [0u8; TOKEN_BYTES];
        let mut acc: u64 = 0;
        let mut bits = 0;
        let mut i = 0;
        for c in self.0.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u64;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out[i] = (acc >> bits) as u8;
                i += 1;
                acc &= (1 << bits) - 1;
            }
        }
        out
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token is a credential for one organisation's vote: `Debug` shows none of it
/// (even a few characters narrow a search and end up in logs and panics).
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl TryFrom<String> for Token {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Token::parse(&s).ok_or_else(|| format!("`{s}` is not a reply token"))
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

fn base32(bytes: &[u8; TOKEN_BYTES]) -> String {
    let mut out = String::with_capacity(TOKEN_LEN);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    out
}

/// The token for the personal ballot mail of `org` in `round` of `ballot`.
pub fn token(key: &TokenKey, ballot: BallotRef, round: u32, org: &OrgId) -> Token {
    let tag = key.mac(ballot, round, org).finalize().into_bytes();
    let mut first = [0u8; TOKEN_BYTES];
    first.copy_from_slice(&tag[..TOKEN_BYTES]);
    Token(base32(&first))
}

/// Whether `token` is the one for (`ballot`, `round`, `org`). The comparison takes the
/// same time wherever the first wrong bit is (hmac's `verify_truncated_left`), so
/// response timing cannot be used to find a token bit by bit.
pub fn check(key: &TokenKey, token: &Token, ballot: BallotRef, round: u32, org: &OrgId) -> bool {
    key.mac(ballot, round, org)
        .verify_truncated_left(&token.bytes())
        .is_ok()
}

/// The personal Reply-To: `bot-local+TOKEN@bot-domain`.
pub fn reply_address(bot: &Address, token: &Token) -> Address {
    Address::parse(&format!(
        "{}+{}@{}",
        bot.local_part(),
        token.as_str(),
        bot.domain()
    ))
    .expect("a valid address with `+` and base32 added to its local part stays valid")
}

/// Every distinct token in `recipient_addresses` (To, Cc, Delivered-To,
/// X-Original-To) that are the bot's plus-addresses, in order.
pub fn find_tokens(recipient_addresses: &[Address], bot: &Address) -> Vec<Token> {
    let prefix = format!("{}+", bot.local_part());
    let mut out: Vec<Token> = Vec::new();
    for a in recipient_addresses {
        if a.domain() != bot.domain() {
            continue;
        }
        let Some(t) = a.local_part().strip_prefix(&prefix).and_then(Token::parse) else {
            continue;
        };
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The first token in `recipient_addresses` addressed to the bot's plus-address.
pub fn find_token(recipient_addresses: &[Address], bot: &Address) -> Option<Token> {
    find_tokens(recipient_addresses, bot).into_iter().next()
}

/// `text` with every personal reply token (`+` and 16 base32 characters
/// before an `@`) replaced by `…`. A token is a live credential for one
/// organisation's answer: incident reports quote recipient headers, and go
/// to a security contact who may be outside the committee.
pub fn redact_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    static TOKEN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(r"(?i)\+[a-z2-7]{{{TOKEN_LEN}}}@")).expect("a valid pattern")
    });
    TOKEN.replace_all(text, "+…@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_quoted_headers_are_redacted_and_other_plus_addresses_kept() {
        let t = token(&key(), b("B-2026-001"), 1, &org("org01"));
        let header = format!(
            "Taro <ballot+{}@committee.example>, list+steering@x.example",
            t.as_str()
        );
        assert_eq!(
            redact_tokens(&header),
            "Taro <ballot+…@committee.example>, list+steering@x.example"
        );
        assert_eq!(
            redact_tokens(&header.to_uppercase()),
            "TARO <BALLOT+…@COMMITTEE.EXAMPLE>, LIST+STEERING@X.EXAMPLE"
        );
    }

    fn key() -> TokenKey {
        TokenKey::new("0123456789abcdef-test-key").unwrap()
    }
    fn b(s: &str) -> BallotRef {
        s.parse().unwrap()
    }
    fn org(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }
    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn a_token_checks_for_the_ballot_round_and_organisation_it_was_made_for() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert!(t
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
        assert!(check(&key(), &t, b("B-2026-007"), 1, &org("acme")));
    }

    #[test]
    fn a_token_is_refused_for_another_organisation_round_ballot_or_key() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        assert!(!check(&key(), &t, b("B-2026-007"), 1, &org("acme2")));
        assert!(!check(&key(), &t, b("B-2026-007"), 2, &org("acme")));
        assert!(!check(&key(), &t, b("B-2026-008"), 1, &org("acme")));
        let other = TokenKey::new("another-key-of-enough-bytes").unwrap();
        assert!(!check(&other, &t, b("B-2026-007"), 1, &org("acme")));
    }

    #[test]
    fn tokens_differ_between_organisations_rounds_and_ballots() {
        let k = key();
        let all = [
            token(&k, b("B-2026-007"), 1, &org("acme")),
            token(&k, b("B-2026-007"), 1, &org("beta")),
            token(&k, b("B-2026-007"), 2, &org("acme")),
            token(&k, b("B-2026-008"), 1, &org("acme")),
            // Length prefixes keep round 11 of org "x" apart from round 1 of org "1x".
            token(&k, b("B-2026-007"), 11, &org("x")),
            token(&k, b("B-2026-007"), 1, &org("1x")),
        ];
        for (i, a) in all.iter().enumerate() {
            for other in &all[i + 1..] {
                assert_ne!(a, other);
            }
        }
    }

    #[test]
    fn a_token_survives_a_client_that_upper_or_lower_cases_the_local_part() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        let upper = Token::parse(&t.as_str().to_ascii_uppercase()).unwrap();
        assert!(check(&key(), &upper, b("B-2026-007"), 1, &org("acme")));
        let bot = addr("ballot@committee.example");
        let reply = reply_address(&bot, &t);
        let shouted = addr(&reply.as_str().to_ascii_uppercase());
        assert_eq!(find_token(&[shouted], &bot), Some(t));
    }

    #[test]
    fn a_token_differing_only_in_its_last_character_is_refused() {
        // The compare covers every bit; it runs in constant time through hmac's verify.
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        let mut s = t.as_str().to_string();
        let last = s.pop().unwrap();
        s.push(if last == 'a' { 'b' } else { 'a' });
        let near = Token::parse(&s).unwrap();
        assert!(!check(&key(), &near, b("B-2026-007"), 1, &org("acme")));
    }

    #[test]
    fn base32_round_trips_every_bit() {
        for bytes in [[0u8; TOKEN_BYTES], [0xff; TOKEN_BYTES], [0x5a; TOKEN_BYTES]] {
            let t = Token::parse(&base32(&bytes)).unwrap();
            assert_eq!(t.bytes(), bytes);
        }
    }

    #[test]
    fn the_reply_address_is_the_bots_plus_address() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        let bot = addr("ballot@committee.example");
        assert_eq!(
            reply_address(&bot, &t).as_str(),
            format!("ballot+{t}@committee.example")
        );
    }

    #[test]
    fn tokens_are_found_only_in_the_bots_own_plus_addresses() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        let bot = addr("ballot@committee.example");
        let found = find_token(
            &[
                addr("steering@committee.example"),
                addr(&format!("other+{t}@committee.example")),
                addr(&format!("ballot+{t}@elsewhere.example")),
                addr("ballot+not-a-token@committee.example"),
                addr(&format!("ballot+{t}@committee.example")),
            ],
            &bot,
        );
        assert_eq!(found, Some(t));
        assert_eq!(find_token(&[addr("ballot@committee.example")], &bot), None);
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert_eq!(
            TokenKey::new("short").unwrap_err(),
            TokenKeyError::TooShort(5)
        );
        let k = TokenKey::from_secret(&Secret::new("0123456789abcdef0123")).unwrap();
        assert_eq!(format!("{k:?}"), "TokenKey([redacted])");
    }

    #[test]
    fn a_tokens_debug_output_shows_none_of_its_characters() {
        let t = token(&key(), b("B-2026-007"), 1, &org("acme"));
        assert_eq!(format!("{t:?}"), "Token([redacted])");
        assert_eq!(format!("{:?}", Some(&t)), "Some(Token([redacted]))");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        assert!(Token::parse("").is_none());
        assert!(Token::parse("abcdefghijklmnop1").is_none());
        assert!(Token::parse("abcdefghijklmno1").is_none()); // 1 is not base32
        assert!(Token::parse("abcdefghijklmnop").is_some());
    }
}
