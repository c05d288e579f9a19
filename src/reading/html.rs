//! HTML-only replies turned into plain text that the cutter can read like any other.
//!
//! Quoting in HTML mail is structure, not characters: Gmail, Apple Mail and Thunderbird
//! put the quoted ballot in `<blockquote>`. So each line inside a blockquote comes out
//! prefixed with `> `, once per level, and the cutter drops it like a `>`-quoted line.
//! Outlook does not use blockquotes; its reply header (`差出人:` / `From:` ...) comes out
//! as text lines, which the cutter recognises. Linear in the input; no DOM is built.

/// The charset declared in a `<meta>` tag near the start of an HTML body, used when the
/// MIME part itself has no charset parameter.
pub(crate) fn meta_charset(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(4096)];
    let lower: Vec<u8> = head.iter().map(|b| b.to_ascii_lowercase()).collect();
    let pos = find(&lower, b"charset=")?;
    let rest = &head[pos + 8..];
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))
        .unwrap_or(rest);
    let end = rest
        .iter()
        .position(|&b| {
            !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' || b == b':')
        })
        .unwrap_or(rest.len());
    let label = String::from_utf8_lossy(&rest[..end]).to_string();
    (!label.is_empty()).then_some(label)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Elements whose content is never text a person reads in the message.
const SKIP_CONTENT: &[&str] = &["script", "style", "head", "title", "xml", "template"];

/// Elements that start a new line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "tr",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "address",
    "center",
    "hr",
    "blockquote",
    "body",
    "html",
    "form",
    "fieldset",
];

/// Converts HTML to text: tags removed, block elements on their own lines, blockquote
/// lines prefixed with `> `, `<hr>` as a rule line, entities decoded.
pub(crate) fn to_text(html: &str) -> String {
    let mut w = Writer::default();
    let mut rest = html;
    let mut skip_until: Option<String> = None;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skip_until.is_none() {
                w.text(rest);
            }
            break;
        };
        if lt > 0 && skip_until.is_none() {
            w.text(&rest[..lt]);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = match after.find("-->") {
                Some(e) => &after[e + 3..],
                None => "",
            };
            continue;
        }
        let (end, closed) = tag_end(rest);
        let tag = if closed {
            &rest[1..end - 1]
        } else {
            &rest[1..end]
        };
        rest = &rest[end..];
        if tag.starts_with(['!', '?']) {
            // <!DOCTYPE>, <![if ...]> (Outlook), <?xml ...?>: declarations, not text.
            continue;
        }
        let (closing, name) = tag_name(tag);
        if name.is_empty() {
            // `<` that does not start a tag (`a < b`): keep it as text.
            if skip_until.is_none() {
                w.text("<");
                w.text(tag);
                if closed {
                    w.text(">");
                }
            }
            continue;
        }
        if let Some(until) = &skip_until {
            if closing && &name == until {
                skip_until = None;
            }
            continue;
        }
        if !closing && SKIP_CONTENT.contains(&name.as_str()) && !tag.ends_with('/') {
            skip_until = Some(name);
            continue;
        }
        match (name.as_str(), closing) {
            ("blockquote", false) => {
                w.newline();
                w.depth += 1;
            }
            ("blockquote", true) => {
                w.newline();
                w.depth = w.depth.saturating_sub(1);
            }
            ("hr", _) => {
                w.newline();
                w.text("----------");
                w.newline();
            }
            ("br", _) => w.hard_newline(),
            (n, _) if BLOCKS.contains(&n) => w.newline(),
            ("td" | "th", false) => w.text(" "),
            _ => {}
        }
    }
    w.finish()
}

/// Where the tag at the start of `s` ends (quotes respected): just past its `>`, with
/// `true`; or, when another `<` or the end comes first, there, with `false`.
fn tag_end(s: &str) -> (usize, bool) {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return (i + 1, true),
            // A `<` before any `>` means the first one was not a tag.
            (None, '<') => return (i, false),
            _ => {}
        }
    }
    (s.len(), false)
}

fn tag_name(tag: &str) -> (bool, String) {
    let t = tag.trim_start();
    let (closing, t) = match t.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let name: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    (closing, if valid { name } else { String::new() })
}

#[derive(Default)]
struct Writer {
    out: String,
    line: String,
    depth: usize,
    line_depth: usize,
    pending_space: bool,
}

impl Writer {
    fn text(&mut self, raw: &str) {
        let decoded = decode_entities(raw);
        for c in decoded.chars() {
            if c.is_whitespace() && c != '\u{3000}' {
                self.pending_space = !self.line.is_empty();
                continue;
            }
            if self.line.is_empty() {
                self.line_depth = self.depth;
            }
            if self.pending_space {
                self.line.push(' ');
                self.pending_space = false;
            }
            self.line.push(c);
        }
    }

    fn newline(&mut self) {
        if !self.line.is_empty() {
            self.flush_line();
        }
    }

    fn hard_newline(&mut self) {
        if self.line.is_empty() {
            self.line_depth = self.depth;
        }
        self.flush_line();
    }

    fn flush_line(&mut self) {
        for _ in 0..self.line_depth {
            self.out.push_str("> ");
        }
        self.out.push_str(self.line.trim_end());
        self.out.push('\n');
        self.line.clear();
        self.pending_space = false;
    }

    fn finish(mut self) -> String {
        self.newline();
        // Collapse runs of empty lines left by nested blocks.
        let mut result = String::with_capacity(self.out.len());
        let mut blank = 0;
        for l in self.out.lines() {
            let is_blank = l.trim_start_matches("> ").trim().is_empty();
            if is_blank {
                blank += 1;
                if blank > 1 {
                    continue;
                }
            } else {
                blank = 0;
            }
            result.push_str(l);
            result.push('\n');
        }
        result.trim_matches('\n').to_string()
    }
}

/// Decodes the character references people's mailers write: named ones in common use,
/// and numeric ones. Unknown references stay as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[1..]
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i + 1);
        let Some(semi) = semi else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let n = match num.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            n.and_then(char::from_u32).map(|c| c.to_string())
        } else {
            named_entity(name).map(str::to_string)
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" | "ensp" | "emsp" | "thinsp" => " ",
        "zwnj" | "zwj" | "shy" | "lrm" | "rlm" => "",
        "copy" => "©",
        "reg" => "®",
        "yen" => "¥",
        "times" => "×",
        "middot" => "·",
        "bull" => "•",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "laquo" => "«",
        "raquo" => "»",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div>賛成します</div><div class=\"gmail_quote\"><div>2026年11月24日(火) 10:15 Bot &lt;bot@x.org&gt;:<br></div><blockquote>賛成・反対・棄権<br>のいずれか<blockquote>深い</blockquote></blockquote></div>";
        assert_eq!(
            to_text(html),
            "賛成します\n2026年11月24日(火) 10:15 Bot <bot@x.org>:\n> 賛成・反対・棄権\n> のいずれか\n> > 深い"
        );
    }

    #[test]
    fn scripts_styles_and_comments_are_not_text() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head><body><!-- 反対 --><p>賛成</p><script>反対</script></body></html>";
        assert_eq!(to_text(html), "賛成");
    }

    #[test]
    fn entities_and_line_breaks_are_decoded() {
        assert_eq!(
            to_text("a&amp;b&nbsp;c<br>&#x8CDB;&#25104;<br/>d &unknown; e"),
            "a&b c\n賛成\nd &unknown; e"
        );
    }

    #[test]
    fn an_hr_becomes_a_rule_line() {
        assert_eq!(to_text("賛成<hr>差出人: x"), "賛成\n----------\n差出人: x");
    }

    #[test]
    fn a_stray_less_than_sign_is_kept() {
        assert_eq!(to_text("1 < 2 and 3"), "1 < 2 and 3");
    }

    #[test]
    fn meta_charset_is_found() {
        assert_eq!(
            meta_charset(b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=shift_jis\">").as_deref(),
            Some("shift_jis")
        );
        assert_eq!(
            meta_charset(b"<meta charset=\"utf-8\">").as_deref(),
            Some("utf-8")
        );
    }
}
