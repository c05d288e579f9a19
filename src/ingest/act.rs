//! The actions a decision asks the recorder to carry out inside the message's
//! transaction, before its mails are written: opening the ballot an admin asked
//! for, and recording what a meeting confirmed. Both are the admin service's
//! own (`admin::open_in`, `admin::ratify_in`), as from the command line.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::admin;
use crate::app::{App, AppError};

use super::decide::{Action, Done};

/// Carries out `action` in `conn`'s transaction. A request the admin must fix
/// is `Done::Refused`, for the admin to be told; any other failure is the
/// message's failure.
pub(super) async fn carry_out(
    app: &App,
    conn: &mut SqliteConnection,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Done, AppError> {
    match action {
        Action::Open {
            request,
            requester,
            subject,
        } => {
            let actor = format!("mail:{requester}");
            match admin::open_in(app, conn, &request, &actor, now).await {
                Ok(ballot) => Ok(Done::Opened {
                    ballot: Arc::new(ballot),
                    requester,
                }),
                Err(e) if e.is_user_error() => Ok(Done::Refused {
                    requester,
                    subject,
                    error: e.to_string(),
                }),
                Err(e) => Err(e),
            }
        }
        Action::Confirm {
            requester,
            meeting,
            wanted,
            still_pending,
        } => {
            let confirmed = admin::ratify_in(
                conn,
                &wanted,
                meeting,
                &admin::Decision::Confirmed,
                &format!("mail:{requester}"),
                now,
            )
            .await?;
            Ok(Done::Confirmed {
                requester,
                meeting,
                wanted,
                confirmed,
                still_pending,
            })
        }
    }
}
