//! `check-config`: everything that can be checked without touching a server.

use std::path::Path;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::config::{Auth, Config, Login, MailboxConfig, OutgoingConfig, Security};
use crate::language::Language;
use crate::outbox::compose::Composer;
use crate::outbox::templates::Templates;
use crate::tls::Trust;

use crate::stdout::println;

/// Renders every template of both languages with sample data; the first failure.
pub fn templates_render(config: &Config) -> Result<(), String> {
    problems_in_templates(config, Utc::now())
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

fn problems_in_templates(config: &Config, now: DateTime<Utc>) -> Vec<String> {
    let mut problems = Vec::new();
    for lang in [Language::Ja, Language::En] {
        let t = match Templates::load(config.templates_dir.as_deref(), lang) {
            Ok(t) => t,
            Err(e) => {
                problems.push(e.0);
                continue;
            }
        };
        // Samples are never sent: any key gives the same checks.
        let ids = crate::domain::MessageIdKey::fixed(0);
        let composer = Composer::new(config, &t, &ids);
        let samples = match composer.samples(now) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e);
                // The same for the other language.
                break;
            }
        };
        for (name, r) in samples {
            match r {
                Err(e) => problems.push(e.to_string()),
                Ok(mut mail) => {
                    // A mail that would go to nobody as configured (incident reports
                    // without a security contact are recorded, not sent) must still
                    // build: check it with the bot as a stand-in recipient.
                    if mail.to.is_empty() {
                        mail.to = vec![config.addresses.bot.clone()];
                    }
                    if let Err(e) =
                        mail.to_outbox(&config.addresses.bot, &config.addresses.bot_name, now)
                    {
                        problems.push(format!("template {}/{name}: {e}", lang.as_str()));
                    }
                }
            }
        }
    }
    problems
}

/// What a working `[verification]` policy still leaves open, one sentence each.
pub fn verification_warnings(v: &crate::verify::PolicyConfig, config: &Config) -> Vec<String> {
    use crate::verify::Method;
    let mut out = Vec::new();
    let officials = !config.addresses.admins.is_empty() || !config.addresses.secretariat.is_empty();
    // Tokens come only with personal ballot mail, which admins and the
    // secretariat never receive: under token alone their mail cannot verify.
    if v.require && officials && !v.accepts(Method::Dkim) && !v.accepts(Method::Authres) {
        out.push("[verification] accepts only \"token\", which admins and the secretariat never receive: their mail (opening a ballot, confirming a digest) will be refused as unverified; accept \"dkim\" or \"authres\" too".to_string());
    }
    if v.accepts(Method::Authres)
        && v.authres_placement == crate::verify::authres::Placement::BelowReceived
    {
        out.push("[verification] authres_placement = \"below_received\" is safe only if your mail server removes incoming Authentication-Results carrying its authserv-id".to_string());
    }
    out
}

/// How a connection is protected, as check-config shows it: "TLS, public
/// authorities and /etc/mail-ballot/ca.pem".
fn protection(security: Security, trust: &Trust) -> String {
    let kind = match security {
        Security::Tls => "TLS",
        Security::Starttls => "STARTTLS",
        Security::Plain => return "plain text, this machine only".into(),
    };
    let ca = trust.ca_file.as_ref().map(|p| p.display().to_string());
    let trusted = match (trust.public_roots, ca) {
        (true, None) => "public authorities".to_string(),
        (true, Some(ca)) => format!("public authorities and {ca}"),
        (false, Some(ca)) => format!("only {ca}"),
        (false, None) => "nothing".to_string(),
    };
    format!("{kind}, trusting {trusted}")
}

/// Whatever keeps the bot from logging in as configured, in one sentence:
/// a secret that cannot be read from where the configuration says it is kept.
fn login_problem(table: &str, login: &Login) -> Option<String> {
    match &login.auth {
        Auth::Password(secret) => secret
            .read()
            .err()
            .map(|e| format!("[{table}] {}: {e}", secret.key("password"))),
    }
}

/// Checks the configuration at `path` and prints what it found.
pub fn run(path: &Path, now: DateTime<Utc>) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|e| anyhow!("{e}"))?;
    let mut problems = Vec::new();
    println!("configuration {}", path.display());
    println!(
        "  organisation: {} ({}, mails in {})",
        config.organisation.name,
        config.organisation.time_zone,
        config.organisation.language.as_str()
    );
    println!(
        "  roster {}: {} voting organisations, {} non-voting participants",
        config.roster_path.display(),
        config.roster.eligible(),
        config.roster.participants.len()
    );
    let profiles: Vec<&str> = config.profiles.names();
    println!(
        "  rules: default {}; profiles {}; {} motion kind(s)",
        config.ballots.default_profile,
        profiles.join(", "),
        config.ballots.kinds.len()
    );
    match &config.mailbox {
        MailboxConfig::Imap(i) => {
            println!(
                "  mailbox: imap {}:{} ({}) folder {} as {}",
                i.host,
                i.port,
                protection(i.security, &i.trust),
                i.folder,
                i.login.user
            );
            problems.extend(login_problem("mailbox", &i.login));
        }
        MailboxConfig::Maildir { path } => println!("  mailbox: maildir {}", path.display()),
    }
    match &config.outgoing {
        OutgoingConfig::Smtp(s) => {
            println!(
                "  outgoing: smtp {}:{} ({})",
                s.host,
                s.port,
                protection(s.security, &s.trust)
            );
            if let Some(login) = &s.login {
                problems.extend(login_problem("outgoing", login));
            }
        }
        OutgoingConfig::File { path } => println!("  outgoing: files in {}", path.display()),
    }
    match &config.verification {
        None => println!(
            "  warning: no [verification]: anyone who writes a member's From address can vote in its name; see README \"Sender verification\""
        ),
        Some(v) => {
            let accept: Vec<&str> = v.accept.iter().map(|m| m.as_str()).collect();
            println!(
                "  verification: {} ({})",
                accept.join(", "),
                if v.require { "required" } else { "reported only" }
            );
            if let Err(e) = crate::app::Verifier::from_config(&config) {
                problems.push(e.to_string());
            }
            for w in verification_warnings(v, &config) {
                println!("  warning: {w}");
            }
        }
    }
    if config.addresses.security_contact.is_empty() {
        println!("  warning: no [addresses] security_contact: incidents are recorded but reported to nobody");
    }
    for org in config.roster.voters() {
        for a in org.addresses() {
            if a.as_str().parse::<lettre::Address>().is_err() {
                problems.push(format!(
                    "{}: the address {a} of `{}` cannot be used to send mail",
                    config.roster_path.display(),
                    org.id
                ));
            }
        }
    }
    let t = problems_in_templates(&config, now);
    let n = crate::outbox::templates::SHIPPED.len();
    if t.is_empty() {
        println!(
            "  templates: {} per language render with sample data{}",
            n,
            match &config.templates_dir {
                Some(d) if d.is_dir() => format!(" (from {} where present)", d.display()),
                Some(d) => format!(
                    " (the shipped texts: the folder {} does not exist)",
                    d.display()
                ),
                None => " (the shipped texts)".to_string(),
            }
        );
    }
    problems.extend(t);
    if problems.is_empty() {
        println!("OK");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("problem: {p}");
        }
        Err(anyhow!(
            "{} problem(s) in the configuration",
            problems.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_even_with_no_security_contact_configured() {
        // Without a security contact, incident reports are recorded and mailed to
        // nobody; `run` checks the templates before starting and must not refuse.
        let dir = tempfile::tempdir().unwrap();
        let config = crate::testkit::config(dir.path(), 3, "");
        assert!(config.addresses.security_contact.is_empty());
        assert_eq!(
            problems_in_templates(&config, Utc::now()),
            Vec::<String>::new()
        );
    }
}
