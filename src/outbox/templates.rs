//! The texts of every mail the bot writes, as minijinja templates admins can edit.
//!
//! Each mail is one file, `templates/<lang>/<name>.txt`: the first line is
//! `Subject: ...`, then a blank line, then the body. The shipped files are
//! compiled in, so the program runs with no templates folder at all; a folder
//! named in the configuration overrides them file by file. Undefined variables
//! are errors, so `check-config` catches a misspelt `{{ balot.title }}`.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::ConfigError;
use crate::language::Language;

/// Every template, with its shipped Japanese and English text.
pub const SHIPPED: &[(&str, &str, &str)] = &[
    (
        "announce",
        include_str!("../../templates/ja/announce.txt"),
        include_str!("../../templates/en/announce.txt"),
    ),
    (
        "disputed",
        include_str!("../../templates/ja/disputed.txt"),
        include_str!("../../templates/en/disputed.txt"),
    ),
    (
        "receipt",
        include_str!("../../templates/ja/receipt.txt"),
        include_str!("../../templates/en/receipt.txt"),
    ),
    (
        "not_open",
        include_str!("../../templates/ja/not_open.txt"),
        include_str!("../../templates/en/not_open.txt"),
    ),
    (
        "alert",
        include_str!("../../templates/ja/alert.txt"),
        include_str!("../../templates/en/alert.txt"),
    ),
    (
        "not_verified",
        include_str!("../../templates/ja/not_verified.txt"),
        include_str!("../../templates/en/not_verified.txt"),
    ),
    (
        "unclear",
        include_str!("../../templates/ja/unclear.txt"),
        include_str!("../../templates/en/unclear.txt"),
    ),
    (
        "dispute_decided",
        include_str!("../../templates/ja/dispute_decided.txt"),
        include_str!("../../templates/en/dispute_decided.txt"),
    ),
    (
        "status",
        include_str!("../../templates/ja/status.txt"),
        include_str!("../../templates/en/status.txt"),
    ),
    (
        "no_answer",
        include_str!("../../templates/ja/no_answer.txt"),
        include_str!("../../templates/en/no_answer.txt"),
    ),
    (
        "unknown_ballot",
        include_str!("../../templates/ja/unknown_ballot.txt"),
        include_str!("../../templates/en/unknown_ballot.txt"),
    ),
    (
        "result",
        include_str!("../../templates/ja/result.txt"),
        include_str!("../../templates/en/result.txt"),
    ),
    (
        "extended",
        include_str!("../../templates/ja/extended.txt"),
        include_str!("../../templates/en/extended.txt"),
    ),
    (
        "cancelled",
        include_str!("../../templates/ja/cancelled.txt"),
        include_str!("../../templates/en/cancelled.txt"),
    ),
    (
        "digest",
        include_str!("../../templates/ja/digest.txt"),
        include_str!("../../templates/en/digest.txt"),
    ),
    (
        "opened",
        include_str!("../../templates/ja/opened.txt"),
        include_str!("../../templates/en/opened.txt"),
    ),
    (
        "admin_error",
        include_str!("../../templates/ja/admin_error.txt"),
        include_str!("../../templates/en/admin_error.txt"),
    ),
    (
        "reminder",
        include_str!("../../templates/ja/reminder.txt"),
        include_str!("../../templates/en/reminder.txt"),
    ),
    (
        "unverified",
        include_str!("../../templates/ja/unverified.txt"),
        include_str!("../../templates/en/unverified.txt"),
    ),
    (
        "incident",
        include_str!("../../templates/ja/incident.txt"),
        include_str!("../../templates/en/incident.txt"),
    ),
    (
        "ratified",
        include_str!("../../templates/ja/ratified.txt"),
        include_str!("../../templates/en/ratified.txt"),
    ),
    // The HTML part of the digest: a body only, auto-escaped (the name ends in .html).
    (
        "digest.html",
        include_str!("../../templates/ja/digest.html"),
        include_str!("../../templates/en/digest.html"),
    ),
];

/// The file a template is read from: `digest.html` as is, others with `.txt`.
pub fn file_name(name: &str) -> String {
    if name.ends_with(".html") {
        name.to_string()
    } else {
        format!("{name}.txt")
    }
}

/// A rendered mail text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The loaded templates for one language.
pub struct Templates {
    env: Environment<'static>,
    language: Language,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({})", self.language.as_str())
    }
}

/// A template that failed to load or render.
#[derive(Debug, thiserror::Error)]
#[error("template {file}: {message}")]
pub struct TemplateError {
    pub file: String,
    pub message: String,
}

impl Templates {
    /// Loads the templates for `language`: files from `dir/<lang>/` where they
    /// exist, the shipped text otherwise.
    pub fn load(dir: Option<&Path>, language: Language) -> Result<Templates, ConfigError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        for (name, ja, en) in SHIPPED {
            let shipped = match language {
                Language::Ja => *ja,
                Language::En => *en,
            };
            let (source, origin) =
                match dir.map(|d| d.join(language.as_str()).join(file_name(name))) {
                    Some(p) if p.exists() => {
                        let text = std::fs::read_to_string(&p).map_err(|e| {
                            ConfigError(format!("cannot read the template {}: {e}", p.display()))
                        })?;
                        (text, p.display().to_string())
                    }
                    _ => (
                        shipped.to_string(),
                        format!("(shipped) {}/{}", language.as_str(), file_name(name)),
                    ),
                };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| ConfigError(format!("template {origin}: {}", one_line(&e))))?;
        }
        Ok(Templates { env, language })
    }

    /// The language these templates write in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Renders a body-only template (the digest's HTML part).
    pub fn render_body(&self, name: &str, ctx: impl Serialize) -> Result<String, TemplateError> {
        let err = |message: String| TemplateError {
            file: format!("{}/{}", self.language.as_str(), file_name(name)),
            message,
        };
        let t = self.env.get_template(name).map_err(|e| err(one_line(&e)))?;
        t.render(ctx).map_err(|e| err(one_line(&e)))
    }

    /// Renders `name` with `ctx` and splits off the subject line.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> Result<Rendered, TemplateError> {
        let file = format!("{}/{}", self.language.as_str(), file_name(name));
        let err = |message: String| TemplateError {
            file: file.clone(),
            message,
        };
        let t = self.env.get_template(name).map_err(|e| err(one_line(&e)))?;
        let text = t.render(ctx).map_err(|e| err(one_line(&e)))?;
        let text = text.trim_start_matches('\u{feff}');
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| err("the first line must be `Subject: ...`".into()))?
            .trim()
            .to_string();
        if subject.is_empty() {
            return Err(err("the subject is empty".into()));
        }
        let body = rest.strip_prefix('\n').unwrap_or(rest);
        Ok(Rendered {
            subject,
            body: tidy(body),
        })
    }
}

fn one_line(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let Some(line) = e.line() {
        if !s.contains("line") {
            s = format!("line {line}: {s}");
        }
    }
    s.replace('\n', " ")
}

/// Template logic leaves runs of blank lines behind; mail reads better with at
/// most one, and with CRLF-safe line ends trimmed of trailing spaces.
fn tidy(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut blank = 0;
    for line in body.lines() {
        let l = line.trim_end();
        if l.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(l);
        out.push('\n');
    }
    let trimmed = out.trim_matches('\n');
    format!("{trimmed}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_template_in_the_folder_overrides_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        std::fs::write(
            dir.path().join("en/opened.txt"),
            "Subject: custom {{ ballot.reference }}\n\nhello\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path()), Language::En).unwrap();
        let r = t
            .render(
                "opened",
                serde_json::json!({ "ballot": { "reference": "B-2026-001" } }),
            )
            .unwrap();
        assert_eq!(r.subject, "custom B-2026-001");
        assert_eq!(r.body, "hello\n");
    }

    #[test]
    fn a_template_without_a_subject_line_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ja")).unwrap();
        std::fs::write(dir.path().join("ja/opened.txt"), "no subject\n").unwrap();
        let t = Templates::load(Some(dir.path()), Language::Ja).unwrap();
        let e = t.render("opened", serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("ja/opened.txt"), "{e}");
        assert!(e.to_string().contains("Subject"), "{e}");
    }

    #[test]
    fn a_misspelt_variable_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ja")).unwrap();
        std::fs::write(
            dir.path().join("ja/opened.txt"),
            "Subject: {{ balot.title }}\n\nx\n",
        )
        .unwrap();
        let t = Templates::load(Some(dir.path()), Language::Ja).unwrap();
        assert!(t
            .render("opened", serde_json::json!({ "ballot": {} }))
            .is_err());
    }

    #[test]
    fn a_syntax_error_is_reported_when_loading() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ja")).unwrap();
        std::fs::write(dir.path().join("ja/opened.txt"), "Subject: {% if %}\n").unwrap();
        let e = Templates::load(Some(dir.path()), Language::Ja).unwrap_err();
        assert!(e.0.contains("opened.txt"), "{}", e.0);
    }

    #[test]
    fn runs_of_blank_lines_are_collapsed() {
        assert_eq!(tidy("a  \n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
