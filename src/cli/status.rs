//! `status [--json]`: the daemon's health for an admin or a monitor, with an
//! exit status a monitor can use: 0 fine, 1 warning, 2 critical.

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::app::App;
use crate::status::{gather, Severity};

use crate::stdout::println;

/// Prints the status and exits with its severity's status.
pub(super) async fn status(app: &App, json: bool) -> anyhow::Result<()> {
    let now = app.now();
    let s = gather(app, now)
        .await
        .map_err(|e| anyhow!("cannot read the record: {e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let tz = app.config.organisation.time_zone;
        let when = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
        let ago = |t: DateTime<Utc>| {
            let m = (now - t).num_minutes();
            if m < 1 {
                "just now".to_string()
            } else {
                format!("{m} min ago")
            }
        };
        let word = |s: Severity| match s {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        };
        println!(
            "mail-ballot {} at {}: {}",
            s.version,
            when(now),
            word(s.severity)
        );
        println!(
            "daemon:     {}",
            s.daemon
                .as_deref()
                .map_or("not running".to_string(), |h| format!("running ({h})"))
        );
        let mut mailbox = match s.mailbox.last_read {
            Some(t) => format!("read to its end at {} ({})", when(t), ago(t)),
            None => "never read".to_string(),
        };
        if let Some(since) = s.mailbox.failing_since {
            mailbox.push_str(&format!("; failing since {}", when(since)));
        }
        if let (Some(e), Some(at)) = (&s.mailbox.last_error, s.mailbox.last_error_at) {
            mailbox.push_str(&format!("; last error at {}: {e}", when(at)));
        }
        println!("mailbox:    {mailbox}");
        let o = &s.outbox;
        let mut outbox = format!("{} queued", o.queued);
        if let Some(t) = o.oldest_queued_at {
            outbox.push_str(&format!(" (oldest {})", ago(t)));
        }
        if o.failing > 0 {
            outbox.push_str(&format!(", {} failing", o.failing));
        }
        outbox.push_str(&format!(", {} refused for good", o.refused));
        println!("outbox:     {outbox}");
        if s.rounds.is_empty() {
            println!("rounds:     none open");
        }
        for r in &s.rounds {
            println!(
                "round:      {} round {}: {}/{} answered, deadline {} ({})",
                r.ballot,
                r.round,
                r.answered,
                r.eligible,
                when(r.deadline),
                if r.deadline <= now { "past" } else { "open" }
            );
        }
        match &s.audit_head {
            Some((id, hash)) => println!("audit head: event {id}, {hash}"),
            None => println!("audit head: no event yet"),
        }
        for f in &s.findings {
            println!("{}: {}", word(f.severity), f.what);
        }
    }
    let code = s.severity.exit_code();
    if code != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}
