//! From bytes to text: the header block, RFC 2047 encoded words, transfer encodings,
//! Japanese charsets, and the choice of the MIME parts that hold the member's text.
//!
//! mail-parser finds the MIME structure for us, but it decodes charsets through its own
//! label table, which lacks labels Japanese mailers really send (`cp932`,
//! `iso-2022-jp-1`, `cp50220`...) and trusts every label. So for each text part we take
//! the raw bytes between mail-parser's offsets and decode them here, where a mislabelled
//! part (UTF-8 declared as ISO-2022-JP, Shift_JIS declared as UTF-8) can be caught.

use encoding_rs::{Encoding, EUC_JP, SHIFT_JIS};
use mail_parser::{Message, MimeHeaders, PartType};

use super::html;

/// One field of a header block: the lower-cased name and the unfolded raw value.
#[derive(Debug, Clone)]
pub(crate) struct RawHeader {
    pub name: String,
    pub value: Vec<u8>,
}

/// The top-level header block, read without mail-parser so that it works on messages
/// too large to parse and keeps the raw bytes of values (8-bit subjects, odd charsets).
#[derive(Debug, Default, Clone)]
pub(crate) struct Headers {
    pub fields: Vec<RawHeader>,
}

/// More fields than this is not a message a person sent; the rest are ignored so a
/// hostile header block cannot make later look-ups slow.
const MAX_HEADER_FIELDS: usize = 2_000;

impl Headers {
    /// Reads the header block at the start of `raw`, looking at no more than `limit` bytes.
    /// An mbox `From ` line in front is skipped. Reading stops at the first empty line or
    /// at the first line that is neither a field nor a continuation.
    pub fn parse(raw: &[u8], limit: usize) -> Headers {
        let raw = &raw[..raw.len().min(limit)];
        let mut fields: Vec<RawHeader> = Vec::new();
        let mut first = true;
        for line in raw.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if first {
                first = false;
                if line.starts_with(b"From ") {
                    continue;
                }
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                if let Some(last) = fields.last_mut() {
                    // Unfolding removes only the line break, keeping the white space.
                    last.value.extend_from_slice(line);
                    continue;
                }
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                break;
            };
            let name = &line[..colon];
            let name_trimmed = trim_bytes(name);
            if name_trimmed.is_empty()
                || !name_trimmed
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && b != b':')
            {
                break;
            }
            if fields.len() >= MAX_HEADER_FIELDS {
                break;
            }
            fields.push(RawHeader {
                name: String::from_utf8_lossy(name_trimmed).to_ascii_lowercase(),
                value: line[colon + 1..].to_vec(),
            });
        }
        for f in &mut fields {
            let t = trim_bytes(&f.value).to_vec();
            f.value = t;
        }
        Headers { fields }
    }

    /// The raw value of the first field called `name` (lower-case).
    pub fn raw(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_slice())
    }

    /// Whether a field called `name` (lower-case) is present.
    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// The first field called `name`, decoded (RFC 2047 words, raw 8-bit text).
    pub fn text(&self, name: &str) -> Option<String> {
        self.raw(name).map(decode_header_value)
    }

    /// Every field called `name`, decoded.
    pub fn all_text(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.name == name)
            .map(|f| decode_header_value(&f.value))
            .collect()
    }
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Message ids written in a header value (`<a@b> <c@d>`), without the angle brackets.
/// A value without brackets is split on white space, as some mailers write it.
pub(crate) fn message_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let id = after[..end].trim();
        if !id.is_empty() && !out.iter().any(|o: &String| o == id) {
            out.push(id.to_string());
        }
        rest = &after[end + 1..];
    }
    if out.is_empty() {
        for tok in value.split_whitespace() {
            let tok = tok.trim_matches(|c| c == '<' || c == '>' || c == ',');
            if tok.contains('@') && !out.iter().any(|o| o == tok) {
                out.push(tok.to_string());
            }
        }
    }
    out
}

/// Splits a decoded address field (`"山田 太郎" <taro@example.jp>`) into the display name
/// and the address text of its first mailbox.
pub(crate) fn split_mailbox(value: &str) -> (Option<String>, Option<String>) {
    let value = value.trim();
    if let Some(lt) = value.rfind('<') {
        if let Some(gt_rel) = value[lt..].find('>') {
            let addr = value[lt + 1..lt + gt_rel].trim().to_string();
            let name = value[..lt]
                .trim()
                .trim_matches('"')
                .trim()
                .replace("\\\"", "\"");
            let name = (!name.is_empty()).then_some(name);
            return (name, (!addr.is_empty()).then_some(addr));
        }
    }
    // `taro@example.jp (山田 太郎)` or a bare address.
    let (addr_part, comment) = match (value.find('('), value.rfind(')')) {
        (Some(o), Some(c)) if c > o => (
            format!("{}{}", &value[..o], &value[c + 1..]),
            Some(value[o + 1..c].trim().to_string()),
        ),
        _ => (value.to_string(), None),
    };
    let addr = addr_part
        .split([',', ' ', '\t'])
        .find(|t| t.contains('@'))
        .map(|t| t.trim_matches(|c| c == '"' || c == ';').to_string());
    (comment.filter(|c| !c.is_empty()), addr)
}

// ---------------------------------------------------------------------------------
// Charsets

/// What a charset label means for us. The Japanese families get their own variants
/// because each has labels encoding_rs does not know and its own ways to be mislabelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Utf8,
    Iso2022Jp,
    ShiftJis,
    EucJp,
    /// us-ascii or no label at all: anything 8-bit in it is a guess.
    Unlabelled,
    Other(&'static Encoding),
}

fn family(label: Option<&str>) -> Family {
    let Some(label) = label else {
        return Family::Unlabelled;
    };
    let l = label
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_ascii_lowercase()
        .replace('_', "-");
    match l.as_str() {
        "" | "us-ascii" | "ascii" | "us" | "ansi-x3.4-1968" | "iso646-us" | "default" => {
            Family::Unlabelled
        }
        "utf-8" | "utf8" | "unicode-1-1-utf-8" | "x-unicode20utf8" => Family::Utf8,
        // All the ISO-2022-JP dialects are read as one superset (see `iso2022jp_to_eucjp`).
        l if l.starts_with("iso-2022-jp")
            || l.starts_with("iso2022-jp")
            || l.starts_with("iso2022jp")
            || l.starts_with("cp5022")
            || l.starts_with("x-cp5022")
            || l.starts_with("csiso2022jp")
            || l == "jis"
            || l == "x-windows-iso2022jp"
            || l == "windows-50220"
            || l == "windows-50221"
            || l == "windows-50222" =>
        {
            Family::Iso2022Jp
        }
        // encoding_rs's Shift_JIS is the WHATWG one, i.e. Windows-31J with the NEC and
        // IBM extensions, so every Shift_JIS dialect can go through it.
        "shift-jis" | "shiftjis" | "sjis" | "x-sjis" | "ms-kanji" | "csshiftjis" | "cp932"
        | "ms932" | "windows-31j" | "x-ms-cp932" | "ibm-943" | "ibm943" | "windows-932"
        | "shift-jisx0213" | "shift-jis-2004" | "x-mac-japanese" | "sjis-open" | "sjis-win"
        | "cswindows31j" => Family::ShiftJis,
        "euc-jp"
        | "eucjp"
        | "x-euc-jp"
        | "x-euc"
        | "cseucpkdfmtjapanese"
        | "eucjp-ms"
        | "eucjp-win"
        | "eucjp-open"
        | "cp51932"
        | "euc-jis-2004"
        | "euc-jisx0213"
        | "x-eucjp" => Family::EucJp,
        other => match Encoding::for_label(other.as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => Family::Utf8,
            Some(e) if e == SHIFT_JIS => Family::ShiftJis,
            Some(e) if e == EUC_JP => Family::EucJp,
            Some(e) if e == encoding_rs::ISO_2022_JP => Family::Iso2022Jp,
            // `replacement` and UTF-16 labels on mail text are mistakes; guess instead.
            Some(e) if e == encoding_rs::REPLACEMENT => Family::Unlabelled,
            Some(e) => Family::Other(e),
            None => Family::Unlabelled,
        },
    }
}

/// Text decoded from bytes, with the charset actually used and, when it differs from the
/// label, a note saying so (shown by `inspect`).
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub text: String,
    pub charset: &'static str,
    pub note: Option<String>,
}

/// Decodes `bytes` declared as `label`, catching the usual mislabels.
pub(crate) fn decode_bytes(bytes: &[u8], label: Option<&str>) -> Decoded {
    let has_high = bytes.iter().any(|&b| b >= 0x80);
    let has_jis_escape = has_iso2022jp_escape(bytes);
    let fam = family(label);
    let label_txt = label.unwrap_or("none");
    let relabel = |d: Decoded, why: &str| Decoded {
        note: Some(format!(
            "declared charset {label_txt} but {why}; read as {}",
            d.charset
        )),
        ..d
    };

    if !has_high {
        // 7-bit data: ISO-2022-JP if it has the escapes, whatever the label said.
        if has_jis_escape || (fam == Family::Iso2022Jp && bytes.contains(&0x0e)) {
            let d = decode_iso2022jp(bytes);
            return if fam == Family::Iso2022Jp {
                d
            } else {
                relabel(d, "the text has ISO-2022-JP escapes")
            };
        }
        return Decoded {
            text: String::from_utf8_lossy(bytes).into_owned(),
            charset: "US-ASCII",
            note: None,
        };
    }

    let utf8_ok = std::str::from_utf8(bytes).is_ok();
    match fam {
        Family::Utf8 => {
            if utf8_ok {
                plain_utf8(bytes)
            } else {
                relabel(guess_japanese(bytes), "the bytes are not valid UTF-8")
            }
        }
        Family::Iso2022Jp => {
            // ISO-2022-JP is 7-bit: 8-bit bytes mean the label is wrong.
            if utf8_ok {
                relabel(plain_utf8(bytes), "the bytes are UTF-8")
            } else {
                relabel(guess_japanese(bytes), "the text has 8-bit bytes")
            }
        }
        Family::ShiftJis | Family::EucJp => {
            // Real Shift_JIS or EUC-JP Japanese is almost never valid UTF-8 (hiragana
            // alone break it), so valid UTF-8 with multi-byte sequences is UTF-8.
            if utf8_ok {
                return relabel(plain_utf8(bytes), "the bytes are UTF-8");
            }
            let enc = if fam == Family::ShiftJis {
                SHIFT_JIS
            } else {
                EUC_JP
            };
            let (text, errors) = decode_with(enc, bytes);
            if errors == 0 {
                return Decoded {
                    text,
                    charset: enc.name(),
                    note: None,
                };
            }
            let guess = guess_japanese(bytes);
            if count_replacements(&guess.text) < errors {
                relabel(guess, "the bytes do not decode cleanly")
            } else {
                Decoded {
                    text,
                    charset: enc.name(),
                    note: Some(format!("{errors} undecodable byte sequences")),
                }
            }
        }
        Family::Unlabelled => {
            if utf8_ok {
                plain_utf8(bytes)
            } else {
                let d = guess_japanese(bytes);
                Decoded {
                    note: Some(format!("no usable charset label; read as {}", d.charset)),
                    ..d
                }
            }
        }
        Family::Other(enc) => {
            // Single-byte labels (iso-8859-1, windows-1252) accept any byte, so a UTF-8
            // body labelled that way would silently become mojibake.
            if utf8_ok {
                return relabel(plain_utf8(bytes), "the bytes are UTF-8");
            }
            let (text, errors) = decode_with(enc, bytes);
            if errors > 0 {
                let guess = guess_japanese(bytes);
                if count_replacements(&guess.text) < errors {
                    return relabel(guess, "the bytes do not decode cleanly");
                }
            }
            Decoded {
                text,
                charset: enc.name(),
                note: None,
            }
        }
    }
}

fn plain_utf8(bytes: &[u8]) -> Decoded {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
    Decoded {
        text,
        charset: "UTF-8",
        note: None,
    }
}

fn decode_with(enc: &'static Encoding, bytes: &[u8]) -> (String, usize) {
    let (text, _) = enc.decode_without_bom_handling(bytes);
    let errors = count_replacements(&text);
    (text.into_owned(), errors)
}

fn count_replacements(s: &str) -> usize {
    s.chars().filter(|&c| c == '\u{fffd}').count()
}

/// Picks the Japanese charset under which `bytes` decode with the fewest errors. Ties
/// and near-ties are broken by half-width katakana, which EUC-JP text read as Shift_JIS
/// produces in bulk and which people rarely type.
fn guess_japanese(bytes: &[u8]) -> Decoded {
    let mut best: Option<(usize, Decoded)> = None;
    let mut consider = |text: String, charset: &'static str| {
        let errors = count_replacements(&text);
        let halfwidth = text
            .chars()
            .filter(|c| ('\u{ff61}'..='\u{ff9f}').contains(c))
            .count();
        let score = errors * 100 + halfwidth;
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((
                score,
                Decoded {
                    text,
                    charset,
                    note: None,
                },
            ));
        }
    };
    consider(String::from_utf8_lossy(bytes).into_owned(), "UTF-8");
    let (t, _) = decode_with(SHIFT_JIS, bytes);
    consider(t, "Shift_JIS");
    let (t, _) = decode_with(EUC_JP, bytes);
    consider(t, "EUC-JP");
    if has_iso2022jp_escape(bytes) {
        let d = decode_iso2022jp(bytes);
        consider(d.text, "ISO-2022-JP");
    }
    best.map(|(_, d)| d).unwrap_or_else(|| plain_utf8(bytes))
}

fn has_iso2022jp_escape(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| {
        w[0] == 0x1b
            && ((w[1] == b'$' && matches!(w[2], b'B' | b'@' | b'('))
                || (w[1] == b'(' && matches!(w[2], b'I' | b'J')))
    })
}

/// Decodes ISO-2022-JP in the widest sense: JIS X 0208 with the NEC row 13 (①, ㈱) and
/// IBM extensions (CP50220/50221), half-width katakana by `ESC ( I` or SO/SI (CP50222),
/// JIS X 0212 and JIS X 0213 plane 1. It transcodes to EUC-JP, whose encoding_rs
/// decoder uses the same WHATWG JIS X 0208 table as Windows-31J and also knows
/// JIS X 0212, then decodes that.
fn decode_iso2022jp(bytes: &[u8]) -> Decoded {
    let euc = iso2022jp_to_eucjp(bytes);
    let (text, _) = decode_with(EUC_JP, &euc);
    Decoded {
        text,
        charset: "ISO-2022-JP",
        note: None,
    }
}

fn iso2022jp_to_eucjp(bytes: &[u8]) -> Vec<u8> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        Ascii,
        Katakana,
        Jis0208,
        Jis0212,
        Unknown,
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut mode = Mode::Ascii;
    let mut before_shift_out = Mode::Ascii;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b {
            let rest = &bytes[i + 1..];
            let (new_mode, len) = match rest {
                [b'(', b'B' | b'J' | b'H', ..] => (Some(Mode::Ascii), 3),
                [b'(', b'I', ..] => (Some(Mode::Katakana), 3),
                [b'$', b'@' | b'B', ..] => (Some(Mode::Jis0208), 3),
                [b'$', b'(', b'B' | b'@' | b'Q' | b'O', ..] => (Some(Mode::Jis0208), 4),
                [b'$', b'(', b'D', ..] => (Some(Mode::Jis0212), 4),
                // `ESC & @` announces JIS X 0208-1990 before `ESC $ B`: nothing to do.
                [b'&', b'@', ..] => (None, 3),
                [b'$', b'(' | b')' | b'*' | b'+', _, ..] => (Some(Mode::Unknown), 4),
                [b'$', _, ..] | [b'(' | b')' | b'*' | b'+' | b'.' | b'-', _, ..] => {
                    (Some(Mode::Unknown), 3)
                }
                // Single shifts of ISO-2022-JP-2 (ESC N, ESC O): skip the escape.
                [_, ..] => (None, 2),
                [] => (None, 1),
            };
            if let Some(m) = new_mode {
                mode = m;
            }
            i += len;
            continue;
        }
        match b {
            0x0e => {
                before_shift_out = mode;
                mode = Mode::Katakana;
                i += 1;
                continue;
            }
            0x0f => {
                mode = before_shift_out;
                i += 1;
                continue;
            }
            b'\n' | b'\r' => {
                // Lines must end in ASCII (RFC 1468); a mailer that forgot to switch
                // back must not turn the next line into kanji.
                if mode != Mode::Katakana || before_shift_out != Mode::Katakana {
                    mode = Mode::Ascii;
                }
                out.push(b);
                i += 1;
                continue;
            }
            _ => {}
        }
        if b >= 0x80 {
            out.push(b'?');
            i += 1;
            continue;
        }
        match mode {
            Mode::Ascii => out.push(b),
            Mode::Katakana => {
                if (0x21..=0x5f).contains(&b) {
                    out.extend_from_slice(&[0x8e, b | 0x80]);
                } else {
                    out.push(b);
                }
            }
            Mode::Jis0208 | Mode::Jis0212 | Mode::Unknown => {
                if !(0x21..=0x7e).contains(&b) {
                    // A space or control inside a double-byte run: keep it as is.
                    out.push(b);
                    i += 1;
                    continue;
                }
                let Some(&b2) = bytes.get(i + 1) else {
                    out.push(b'?');
                    break;
                };
                if !(0x21..=0x7e).contains(&b2) {
                    out.push(b'?');
                    i += 1;
                    continue;
                }
                match mode {
                    Mode::Jis0208 => out.extend_from_slice(&[b | 0x80, b2 | 0x80]),
                    Mode::Jis0212 => out.extend_from_slice(&[0x8f, b | 0x80, b2 | 0x80]),
                    _ => out.push(b'?'),
                }
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------
// Header values

/// Decodes a raw header value: 8-bit bytes are read as UTF-8 or guessed Japanese, and
/// RFC 2047 encoded words are decoded. Adjacent words in the same charset are joined
/// before decoding, because mailers split one character's bytes across two words when
/// they fold a long subject.
pub(crate) fn decode_header_value(raw: &[u8]) -> String {
    let pre = if raw.iter().any(|&b| b >= 0x80) || has_iso2022jp_escape(raw) {
        decode_bytes(raw, None).text
    } else {
        String::from_utf8_lossy(raw).into_owned()
    };
    let decoded = decode_encoded_words(&pre);
    // Folding leaves tabs and CR/LF remnants; a decoded header is one line.
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        out.push(if c == '\t' || c == '\r' || c == '\n' {
            ' '
        } else {
            c
        });
    }
    out.trim().to_string()
}

enum Token<'a> {
    Text(&'a str),
    Word { charset: String, bytes: Vec<u8> },
}

fn decode_encoded_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut tokens: Vec<Token<'_>> = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find("=?") {
            Some(start) => {
                if let Some((charset, bytes, len)) = parse_encoded_word(&rest[start..]) {
                    if start > 0 {
                        tokens.push(Token::Text(&rest[..start]));
                    }
                    tokens.push(Token::Word { charset, bytes });
                    rest = &rest[start + len..];
                } else {
                    tokens.push(Token::Text(&rest[..start + 2]));
                    rest = &rest[start + 2..];
                }
            }
            None => {
                tokens.push(Token::Text(rest));
                break;
            }
        }
    }
    let mut out = String::new();
    let mut pending: Option<(String, Vec<u8>)> = None;
    let flush = |pending: &mut Option<(String, Vec<u8>)>, out: &mut String| {
        if let Some((cs, bytes)) = pending.take() {
            out.push_str(&decode_bytes(&bytes, Some(&cs)).text);
        }
    };
    let n = tokens.len();
    for i in 0..n {
        match &tokens[i] {
            Token::Word { charset, bytes } => match &mut pending {
                Some((cs, acc)) if cs.eq_ignore_ascii_case(charset) => acc.extend_from_slice(bytes),
                _ => {
                    flush(&mut pending, &mut out);
                    pending = Some((charset.clone(), bytes.clone()));
                }
            },
            Token::Text(t) => {
                // White space between two encoded words is not part of the text.
                let between_words = t.trim().is_empty()
                    && i > 0
                    && i + 1 < n
                    && matches!(tokens[i + 1], Token::Word { .. })
                    && matches!(tokens[i - 1], Token::Word { .. });
                if !between_words {
                    flush(&mut pending, &mut out);
                    out.push_str(t);
                }
            }
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Parses `=?charset?B|Q?text?=` at the start of `s`: the charset (language removed),
/// the decoded bytes and the length consumed.
fn parse_encoded_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let charset = &body[..q1];
    if charset.is_empty() || charset.len() > 64 || charset.contains(char::is_whitespace) {
        return None;
    }
    let after = &body[q1 + 1..];
    let mut chars = after.chars();
    let enc = chars.next()?;
    if !enc.is_ascii() || chars.next()? != '?' {
        return None;
    }
    let text_start = &after[2..];
    let end = text_start.find("?=")?;
    let text = &text_start[..end];
    if text.contains(['\r', '\n']) {
        return None;
    }
    let bytes = match enc {
        'B' | 'b' => base64_decode(text.as_bytes()),
        'Q' | 'q' => q_decode(text.as_bytes()),
        _ => return None,
    };
    let charset = charset.split('*').next().unwrap_or(charset).to_string();
    let len = 2 + q1 + 1 + 2 + end + 2;
    Some((charset, bytes, len))
}

fn q_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'='),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------
// Transfer encodings

/// Lenient base64: characters outside the alphabet are skipped and `=` ends a block, so
/// bodies made of several padded blocks (some mailers concatenate them) still decode.
pub(crate) fn base64_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut nbits = 0u32;
    for &c in b {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                acc = 0;
                nbits = 0;
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((acc >> nbits) as u8);
            acc &= (1 << nbits) - 1;
        }
    }
    out
}

/// Lenient quoted-printable: soft line breaks are removed (also with trailing blanks
/// after the `=`), `=XX` becomes the byte, anything else stays as written.
pub(crate) fn quoted_printable_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            // Soft break: `=` then optional blanks then CRLF or LF.
            let mut j = i + 1;
            while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
                j += 1;
            }
            if j < b.len() && b[j] == b'\n' {
                i = j + 1;
                continue;
            }
            if j + 1 < b.len() && b[j] == b'\r' && b[j + 1] == b'\n' {
                i = j + 2;
                continue;
            }
            if j == b.len() {
                break;
            }
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b'=');
            i += 1;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Turns CRLF and lone CR into LF.
pub(crate) fn normalize_newlines(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_string();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

// ---------------------------------------------------------------------------------
// Bounding the MIME structure

/// Where to cut the raw message so that the MIME parser sees at most about `max_parts`
/// parts: mail-parser builds every part it finds (and nests one `Message` per
/// message/rfc822 part, which overflows the stack when a hostile message nests
/// thousands), so the cap must apply before parsing, not after. Counts the delimiter
/// lines of declared boundaries, boundary declarations and message/* content types, in
/// one pass over the lines; returns the byte offset of the first line beyond the cap.
pub(crate) fn part_cap(raw: &[u8], max_parts: usize) -> Option<usize> {
    // Each part opens with one delimiter and each multipart closes with one.
    let max_delimiters = 2 * max_parts + 2;
    let mut boundaries: Vec<&[u8]> = Vec::new();
    let mut delimiters = 0usize;
    let mut messages = 0usize;
    let mut start = 0usize;
    let mut after_content_type = false;
    while start < raw.len() {
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |i| start + i);
        let line = &raw[start..end];
        let trimmed = trim_bytes(line);
        let mut over = false;
        if let Some(rest) = trimmed.strip_prefix(b"--") {
            let rest = rest.strip_suffix(b"--").unwrap_or(rest);
            if !rest.is_empty() && boundaries.contains(&rest) {
                delimiters += 1;
                over |= delimiters > max_delimiters;
            }
        }
        if let Some(b) = declared_boundary(line) {
            if !boundaries.contains(&b) {
                boundaries.push(b);
                over |= boundaries.len() > max_parts;
            }
        }
        let value = match strip_prefix_ignore_case(trimmed, b"content-type:") {
            Some(v) => Some(trim_bytes(v)),
            // A folded field: the value on the next line.
            None if after_content_type
                && line.first().is_some_and(|b| *b == b' ' || *b == b'\t') =>
            {
                Some(trimmed)
            }
            None => None,
        };
        after_content_type = value.is_some_and(<[u8]>::is_empty);
        if value.is_some_and(|v| strip_prefix_ignore_case(v, b"message/").is_some()) {
            messages += 1;
            over |= messages > max_parts;
        }
        if over {
            return Some(start);
        }
        start = end + 1;
    }
    None
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// The value of a `boundary=` parameter on this line, if there is one.
fn declared_boundary(line: &[u8]) -> Option<&[u8]> {
    // Found from the line's `=` signs rather than by comparing at every byte:
    // this runs on every line of every message (4 % of `replay`'s CPU
    // when it compared windows), and most lines have no `=` at all.
    const KEY: &[u8] = b"boundary";
    let at = memchr::memchr_iter(b'=', line)
        .find(|&i| i >= KEY.len() && line[i - KEY.len()..i].eq_ignore_ascii_case(KEY))?;
    let value = &line[at + 1..];
    let value = match value.strip_prefix(b"\"") {
        Some(quoted) => {
            &quoted[..quoted
                .iter()
                .position(|&b| b == b'"')
                .unwrap_or(quoted.len())]
        }
        None => {
            let end = value
                .iter()
                .position(|&b| b == b';' || b.is_ascii_whitespace())
                .unwrap_or(value.len());
            &value[..end]
        }
    };
    (!value.is_empty()).then_some(value)
}

// ---------------------------------------------------------------------------------
// Choosing the text parts

/// The text a person wrote in the message, before any cutting.
#[derive(Debug, Default, Clone)]
pub(crate) struct BodyText {
    pub text: String,
    /// Notes about decoding (relabelled charsets, skipped parts), for `inspect`.
    pub notes: Vec<String>,
}

/// Collects the body text of `msg`: its text/plain parts, or, when there is no plain
/// text, its HTML parts turned into text. Attachments (anything with a file name),
/// nested messages and reports are never part of it.
pub(crate) fn body_text(msg: &Message<'_>, max_parts: usize, max_chars: usize) -> BodyText {
    let mut out = BodyText::default();
    collect(msg, &msg.text_body, max_parts, max_chars, &mut out);
    if out.text.trim().is_empty() {
        let html_ids: Vec<u32> = msg
            .html_body
            .iter()
            .copied()
            .filter(|id| !msg.text_body.contains(id))
            .collect();
        if !html_ids.is_empty() {
            out.text.clear();
            collect(msg, &html_ids, max_parts, max_chars, &mut out);
        }
    }
    out
}

fn collect(msg: &Message<'_>, ids: &[u32], max_parts: usize, max_chars: usize, out: &mut BodyText) {
    let mut chars = out.text.chars().count();
    for &id in ids {
        if id as usize >= max_parts {
            out.notes
                .push(format!("parts beyond the first {max_parts} were not read"));
            break;
        }
        if chars >= max_chars {
            break;
        }
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        if part.attachment_name().is_some()
            || part
                .content_disposition()
                .is_some_and(|d| d.is_attachment())
        {
            out.notes
                .push(format!("part {id} is an attachment and was not read"));
            continue;
        }
        let is_html = match &part.body {
            PartType::Text(_) => false,
            PartType::Html(_) => true,
            _ => continue,
        };
        let label = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(str::to_string);
        let raw = msg
            .raw_message
            .get(part.offset_body as usize..part.offset_end as usize);
        let text = match raw {
            Some(raw) => {
                let bytes = match part
                    .content_transfer_encoding()
                    .map(|e| e.trim().to_ascii_lowercase())
                    .as_deref()
                {
                    Some("base64") => base64_decode(raw),
                    Some("quoted-printable") => quoted_printable_decode(raw),
                    _ => raw.to_vec(),
                };
                let label = label.or_else(|| {
                    if is_html {
                        html::meta_charset(&bytes)
                    } else {
                        None
                    }
                });
                let d = decode_bytes(&bytes, label.as_deref());
                if let Some(note) = d.note {
                    out.notes.push(format!("part {id}: {note}"));
                }
                d.text
            }
            // Offsets we cannot use: fall back to mail-parser's own decoding.
            None => match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.to_string(),
                _ => continue,
            },
        };
        let text = normalize_newlines(&text);
        let text = if is_html { html::to_text(&text) } else { text };
        if !out.text.is_empty() && !out.text.ends_with('\n') {
            out.text.push('\n');
        }
        chars += text.chars().count();
        out.text.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_2022_jp_with_nec_row_13_decodes_circled_digits_and_kabushiki() {
        let d = decode_bytes(b"\x1b$B-!-j;?@.\x1b(B", Some("iso-2022-jp"));
        assert_eq!(d.text, "①㈱賛成");
        assert!(d.note.is_none());
    }

    #[test]
    fn iso_2022_jp_with_half_width_katakana_by_shift_out_decodes() {
        let d = decode_bytes(b"\x0e1\x0fA", Some("cp50222"));
        assert_eq!(d.text, "ｱA");
    }

    #[test]
    fn jis_x_0212_in_iso_2022_jp_1_decodes() {
        // 0x3021 in JIS X 0212 is 丂.
        let d = decode_bytes(b"\x1b$(D0!\x1b(B", Some("ISO-2022-JP-1"));
        assert_eq!(d.text, "丂");
    }

    #[test]
    fn shift_jis_labels_encoding_rs_does_not_know_are_still_shift_jis() {
        for label in [
            "cp932",
            "Windows-31J",
            "x-sjis",
            "MS_Kanji",
            "shift_jis",
            "CP932",
        ] {
            let d = decode_bytes(b"\x8e^\x90\xac\x87@", Some(label));
            assert_eq!(d.text, "賛成①", "label {label}");
        }
    }

    #[test]
    fn euc_jp_decodes() {
        assert_eq!(
            decode_bytes(b"\xbb\xbf\xc0\xae", Some("EUC-JP")).text,
            "賛成"
        );
    }

    #[test]
    fn utf8_declared_as_iso_2022_jp_is_read_as_utf8_with_a_note() {
        let d = decode_bytes("反対します".as_bytes(), Some("iso-2022-jp"));
        assert_eq!(d.text, "反対します");
        assert!(d.note.unwrap().contains("UTF-8"));
    }

    #[test]
    fn shift_jis_declared_as_utf8_is_detected() {
        let sjis = b"\x94\xbd\x91\xce\x82\xb5\x82\xdc\x82\xb7"; // 反対します
        let d = decode_bytes(sjis, Some("utf-8"));
        assert_eq!(d.text, "反対します");
        assert_eq!(d.charset, "Shift_JIS");
    }

    #[test]
    fn euc_jp_without_a_label_is_not_mistaken_for_shift_jis() {
        let euc = b"\xc8\xbf\xc2\xd0\xa4\xb7\xa4\xde\xa4\xb9"; // 反対します
        let d = decode_bytes(euc, None);
        assert_eq!(d.text, "反対します");
    }

    #[test]
    fn utf8_declared_as_shift_jis_is_read_as_utf8() {
        let d = decode_bytes("賛成です".as_bytes(), Some("shift_jis"));
        assert_eq!(d.text, "賛成です");
    }

    #[test]
    fn jis_text_declared_as_us_ascii_is_read_as_iso_2022_jp() {
        let d = decode_bytes(b"\x1b$B;?@.\x1b(B", Some("us-ascii"));
        assert_eq!(d.text, "賛成");
    }

    #[test]
    fn encoded_words_split_across_lines_are_joined_before_decoding() {
        // "賛成" in UTF-8 split in the middle of a character across two words.
        let raw = b"Re: =?UTF-8?B?6LOb?=\r\n =?UTF-8?B?5oiQ?= desu";
        assert_eq!(decode_header_value(raw), "Re: 賛成 desu");
        // 賛 and 成 in two ISO-2022-JP words folded over two lines: the whitespace
        // between encoded words goes, the characters stay.
        let raw = b"=?ISO-2022-JP?B?GyRCOz8bKEI=?=\n\t=?ISO-2022-JP?B?GyRCQC4bKEI=?=";
        assert_eq!(decode_header_value(raw), "賛成");
    }

    #[test]
    fn encoded_words_with_unknown_labels_and_q_encoding_decode() {
        let raw = b"=?cp932?Q?=8E^=90=AC?=";
        assert_eq!(decode_header_value(raw), "賛成");
    }

    #[test]
    fn a_raw_utf8_subject_decodes() {
        assert_eq!(decode_header_value("Re: 賛成".as_bytes()), "Re: 賛成");
    }

    #[test]
    fn lenient_base64_skips_line_breaks_and_joins_padded_blocks() {
        assert_eq!(base64_decode(b"5Y+N\r\n5a++"), "反対".as_bytes());
        assert_eq!(base64_decode(b"YQ==YmM="), b"abc");
    }

    #[test]
    fn quoted_printable_removes_soft_breaks_and_keeps_stray_equals() {
        assert_eq!(
            quoted_printable_decode(b"=E8=B3=9B=\r\n=E6=88=90 a=b =ZZ"),
            "賛成 a=b =ZZ".as_bytes()
        );
    }

    #[test]
    fn headers_are_unfolded_and_an_mbox_line_is_skipped() {
        let h = Headers::parse(
            b"From MAILER-DAEMON Mon\r\nSubject: a\r\n b\r\nX-A: 1\r\n\r\nbody: no",
            1 << 20,
        );
        assert_eq!(h.text("subject").unwrap(), "a b");
        assert!(h.has("x-a"));
        assert!(!h.has("body"));
    }

    #[test]
    fn a_boundary_is_found_after_other_parameters_in_any_case_quoted_or_not() {
        let b = |l: &str| {
            declared_boundary(l.as_bytes()).map(|v| String::from_utf8(v.to_vec()).unwrap())
        };
        assert_eq!(
            b(r#"Content-Type: multipart/mixed; charset=utf-8; boundary="a b""#).as_deref(),
            Some("a b")
        );
        assert_eq!(b("\tBOUNDARY=xyz; foo=bar").as_deref(), Some("xyz"));
        assert_eq!(b("=boundary==q").as_deref(), Some("=q"));
        assert_eq!(b("boundary=").as_deref(), None);
        assert_eq!(b("a=b c=d").as_deref(), None);
        assert_eq!(b("oundary=x").as_deref(), None);
        assert_eq!(b("").as_deref(), None);
    }

    #[test]
    fn the_part_cap_cuts_before_the_parts_beyond_it() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n".to_vec();
        for _ in 0..10 {
            raw.extend_from_slice(b"--m\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        raw.extend_from_slice(b"--m--\r\n");
        assert_eq!(part_cap(&raw, 20), None);
        let cut = part_cap(&raw, 3).expect("cut");
        // Eight delimiters are allowed for three parts; the ninth line starting one is cut.
        let kept = String::from_utf8_lossy(&raw[..cut]);
        assert_eq!(kept.matches("--m\r\n").count(), 8);
    }

    #[test]
    fn the_part_cap_counts_nested_messages_and_folded_content_types() {
        let mut raw = Vec::new();
        for i in 0..50 {
            if i % 2 == 0 {
                raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
            } else {
                raw.extend_from_slice(b"Content-Type:\r\n message/RFC822\r\n\r\n");
            }
        }
        let cut = part_cap(&raw, 10).expect("cut");
        let kept = String::from_utf8_lossy(&raw[..cut]).to_ascii_lowercase();
        assert_eq!(kept.matches("message/rfc822").count(), 10);
        assert_eq!(part_cap(b"Subject: x\r\n\r\nhello\r\n--m\r\n", 1), None);
    }

    #[test]
    fn message_ids_lose_their_brackets() {
        assert_eq!(
            message_ids("<b-2026-007.r1.announce@x.org>\r\n <abc@d>"),
            vec!["b-2026-007.r1.announce@x.org", "abc@d"]
        );
    }

    #[test]
    fn mailboxes_split_into_name_and_address() {
        assert_eq!(
            split_mailbox("\"山田 太郎\" <Taro@Example.jp>"),
            (Some("山田 太郎".into()), Some("Taro@Example.jp".into()))
        );
        assert_eq!(
            split_mailbox("taro@example.jp (山田)"),
            (Some("山田".into()), Some("taro@example.jp".into()))
        );
    }
}
