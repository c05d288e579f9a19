//! Reading the process's arguments, and a mistake in them told as one line.

use super::args::Cli;

impl Cli {
    /// Parses the process's arguments, remembering whether --config was given.
    /// A mistake on the command line is one line on stderr (`error: what
    /// (where)`) and exit status 2; --help and --version print as usual.
    pub fn parse_args() -> Cli {
        match Cli::try_parse_from_args(std::env::args_os()) {
            Ok(c) => c,
            Err(e) if !e.use_stderr() => e.exit(),
            Err(e) => {
                eprintln!("error: {}", one_line(&e));
                std::process::exit(2)
            }
        }
    }

    /// Parses `args` (the program's name first).
    pub fn try_parse_from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.config_given = matches
            .value_source("config")
            .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue);
        Ok(cli)
    }
}

/// A command-line error in one line: what is wrong, then where. Clap's own
/// rendering spreads over several lines with usage and tips; cron mail and
/// scripts want one sentence.
pub fn one_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ErrorKind};
    use std::error::Error as _;
    // "--deadline <DEADLINE>" -> "--deadline"
    let arg = e
        .get(ContextKind::InvalidArg)
        .map(|a| a.to_string())
        .map(|a| a.split(' ').next().unwrap_or_default().to_string());
    let flat = |text: String| -> String {
        // The message is the first paragraph; then come usage, tips and help.
        text.split("\n\n")
            .next()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .trim_start_matches("error: ")
            .to_string()
    };
    let rendered = e.render().to_string();
    match (e.kind(), e.source(), arg) {
        (ErrorKind::ValueValidation, Some(why), Some(arg)) => {
            let why = why.to_string();
            match e.get(ContextKind::InvalidValue).map(|v| v.to_string()) {
                Some(v) if !why.contains(&v) => format!("invalid value `{v}`: {why} ({arg})"),
                _ => format!("{why} ({arg})"),
            }
        }
        (_, _, arg) => {
            let what = flat(rendered.clone());
            match arg {
                Some(arg) if !what.contains(&arg) => format!("{what} ({arg})"),
                _ => format!("{what} (see `{} --help`)", usage_command(&rendered)),
            }
        }
    }
}

/// "mail-ballot open" from clap's "Usage: mail-ballot open [OPTIONS] --title <TITLE>".
fn usage_command(rendered: &str) -> String {
    rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "mail-ballot".to_string())
}
