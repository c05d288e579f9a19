//! `digest`, `ratify`, `meeting`: email resolutions brought to the committee's
//! meetings for confirmation, and the calendar of those meetings.

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::admin::{self, Selection};
use crate::app::App;

use super::args::{MeetingCommand, RatifyArgs};
use super::shared::{send_now, user_error};
use crate::stdout::println;

/// `digest`: prints the ratification digest; with --send, also queues it to the
/// secretariat and sends it.
pub(super) async fn digest(
    app: &App,
    meeting: Option<&str>,
    send: bool,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let meeting = meeting
        .map(crate::store::parse_date)
        .transpose()
        .map_err(|e| anyhow!("--meeting: {e}"))?;
    let (mail, refs) = admin::digest(app, meeting, send, who, now)
        .await
        .map_err(user_error)?;
    println!("Subject: {}\n\n{}", mail.subject, mail.body);
    if send {
        eprintln!(
            "digest of {} resolution(s) queued to {}",
            refs.len(),
            app.config
                .addresses
                .secretariat
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        send_now(app).await;
    }
    Ok(())
}

/// `ratify`: records what a meeting decided on the named resolutions (or all).
pub(super) async fn ratify(
    app: &App,
    args: &RatifyArgs,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let meeting = crate::store::parse_date(&args.meeting).map_err(|e| anyhow!("--meeting: {e}"))?;
    let which = if args.all {
        Selection::All
    } else if args.references.is_empty() {
        return Err(anyhow!("name the references decided on, or give --all"));
    } else {
        Selection::These(args.references.clone())
    };
    let decision = match (args.overturned, &args.note) {
        (true, Some(n)) => admin::Decision::Overturned(n.clone()),
        _ => admin::Decision::Confirmed,
    };
    let done = admin::ratify(app, meeting, &which, &decision, who, now)
        .await
        .map_err(user_error)?;
    let list: Vec<String> = done.iter().map(|r| r.to_string()).collect();
    let what = if args.overturned {
        "overturned"
    } else {
        "confirmed"
    };
    println!("{what} at the meeting of {meeting}: {}", list.join(", "));
    Ok(())
}

/// `meeting add` and `meeting list`.
pub(super) async fn meeting(
    app: &App,
    command: &MeetingCommand,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let today = now
        .with_timezone(&app.config.organisation.time_zone)
        .date_naive();
    match command {
        MeetingCommand::Add { date, note } => {
            let d = crate::store::parse_date(date).map_err(|e| anyhow!("{e}"))?;
            if d < today {
                return Err(anyhow!("the meeting date {d} is in the past"));
            }
            let added = admin::add_meeting(app, d, note.as_deref(), who, now)
                .await
                .map_err(user_error)?;
            let due = crate::meetings::digest_due(&app.config.schedule, d);
            if added {
                println!("meeting {d} added; its digest goes to the secretariat on {due}");
            } else {
                println!("meeting {d} was already on the calendar");
            }
        }
        MeetingCommand::List => {
            let added = app.store.added_meetings().await?;
            let cal = crate::meetings::calendar(
                &app.config.schedule,
                &added,
                today,
                today + chrono::Duration::days(400),
            );
            if cal.is_empty() {
                println!("no meetings on the calendar: add one with `mail-ballot meeting add YYYY-MM-DD`, or set [meetings] in the configuration");
            }
            for m in cal {
                let sent = app.store.digest_sent_for(m.date).await?;
                println!(
                    "{}  {:<10}  digest due {}{}",
                    m.date,
                    serde_json::to_value(m.source)?.as_str().unwrap_or(""),
                    crate::meetings::digest_due(&app.config.schedule, m.date),
                    if sent { " (sent)" } else { "" }
                );
            }
        }
    }
    Ok(())
}
