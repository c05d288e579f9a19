//! `open`, `close`, `extend`, `cancel`: what the secretariat does to a ballot.
//! Each calls `admin`, prints one line of what it did and sends the mail it
//! queued at once. (`list` and `show` are in `show`.)

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::admin::{self, OpenRequest};
use crate::app::App;
use crate::ballot::deadline::DeadlineSpec;
use crate::domain::BallotRef;
use crate::{ingest, mailbox};

use super::args::OpenArgs;
use super::shared::{io_reason, send_now, user_error};
use crate::stdout::println;

/// `open`: the motion's text from --body-file or --body, then the ballot.
pub(super) async fn open(
    app: &App,
    args: &OpenArgs,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let motion = match (&args.body_file, &args.body) {
        (Some(f), _) => std::fs::read_to_string(f).map_err(|e| {
            anyhow!(
                "cannot read the motion's text: {} (--body-file {})",
                io_reason(&e),
                f.display()
            )
        })?,
        (None, Some(b)) => b.clone(),
        (None, None) => {
            return Err(anyhow!(
                "give the motion's text with --body-file FILE or --body TEXT"
            ))
        }
    };
    let req = OpenRequest {
        title: args.title.clone(),
        motion,
        kind: args.kind.clone(),
        deadline: args.deadline.clone(),
    };
    let b = admin::open(app, &req, who, now).await.map_err(user_error)?;
    println!(
        "opened {} \"{}\"; deadline {}; announcement queued to {}",
        b.reference,
        b.title,
        app.composer().when(b.current_round().deadline),
        app.config.addresses.list
    );
    send_now(app).await;
    Ok(())
}

/// `close`: reads the mailbox to its end first (unless --no-poll), so every
/// answer already delivered counts.
pub(super) async fn close(
    app: &App,
    reference: BallotRef,
    no_poll: bool,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !no_poll {
        let mut src = mailbox::from_config(&app.config);
        ingest::poll(app, src.as_mut()).await.map_err(|e| {
            anyhow!("{e}; to close with only the answers already read, add --no-poll")
        })?;
        src.close().await;
    }
    let (b, closed) = admin::close(app, reference, who, now)
        .await
        .map_err(user_error)?;
    println!(
        "closed round {} of {}: {} (valid: {}, approved: {}); result queued to {}",
        closed.round,
        b.reference,
        closed.tally.outcome.as_str(),
        closed.tally.valid,
        closed.tally.approved,
        app.config.addresses.list
    );
    if let crate::ballot::Next::Reballot { round, deadline } = closed.next {
        println!(
            "round {round} opened (re-deliberation request), deadline {}",
            app.composer().when(deadline)
        );
    }
    send_now(app).await;
    Ok(())
}

/// `extend`: a later deadline for the current round.
pub(super) async fn extend(
    app: &App,
    reference: BallotRef,
    deadline: &DeadlineSpec,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let b = admin::extend(app, reference, deadline, who, now)
        .await
        .map_err(user_error)?;
    println!(
        "{}: deadline of round {} is now {}; announcement queued",
        b.reference,
        b.current_round().number,
        app.composer().when(b.current_round().deadline)
    );
    send_now(app).await;
    Ok(())
}

/// `cancel`: the ballot stays on record, cancelled with its reason.
pub(super) async fn cancel(
    app: &App,
    reference: BallotRef,
    reason: &str,
    who: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let b = admin::cancel(app, reference, reason, who, now)
        .await
        .map_err(user_error)?;
    println!("{} cancelled; announcement queued", b.reference);
    send_now(app).await;
    Ok(())
}
