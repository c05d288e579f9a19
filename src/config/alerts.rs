//! `[alerts]`: when the daemon mails the admins that something is wrong (and
//! the all-clear after), and what `mail-ballot status` calls critical.

use serde::Deserialize;

use super::error::ConfigError;
use super::file::ConfigFile;
use super::schedule::parse_duration;

/// The limits past which a fault is an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alerts {
    /// Mail the admins at all (the limits still decide `status`).
    pub mail: bool,
    /// The mailbox has not been read for this long.
    pub mailbox_stale_after: chrono::Duration,
    /// Mail has failed to send for this long.
    pub mail_failing_after: chrono::Duration,
    /// A round is past its deadline and cannot close for this long.
    pub round_waiting_after: chrono::Duration,
    /// An alert that still holds is mailed again after this long.
    pub repeat_after: chrono::Duration,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            mail: true,
            mailbox_stale_after: chrono::Duration::minutes(15),
            mail_failing_after: chrono::Duration::hours(1),
            round_waiting_after: chrono::Duration::hours(1),
            repeat_after: chrono::Duration::hours(12),
        }
    }
}

/// `[alerts]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    mail: Option<bool>,
    mailbox_stale_after: Option<String>,
    mail_failing_after: Option<String>,
    round_waiting_after: Option<String>,
    repeat_after: Option<String>,
}

/// Checks `[alerts]`: each limit a duration of at least a minute.
pub(super) fn load(file: &ConfigFile, raw: RawAlerts) -> Result<Alerts, ConfigError> {
    let d = Alerts::default();
    let limit = |key: &str, given: Option<String>, default| match given {
        None => Ok(default),
        Some(s) => match parse_duration(&s) {
            Ok(v) if v >= chrono::Duration::minutes(1) => Ok(v),
            Ok(_) => Err(ConfigError(format!(
                "{file}: [alerts] {key} must be at least a minute (such as \"15m\")"
            ))),
            Err(e) => Err(ConfigError(format!("{file}: [alerts] {key}: {e}"))),
        },
    };
    Ok(Alerts {
        mail: raw.mail.unwrap_or(d.mail),
        mailbox_stale_after: limit(
            "mailbox_stale_after",
            raw.mailbox_stale_after,
            d.mailbox_stale_after,
        )?,
        mail_failing_after: limit(
            "mail_failing_after",
            raw.mail_failing_after,
            d.mail_failing_after,
        )?,
        round_waiting_after: limit(
            "round_waiting_after",
            raw.round_waiting_after,
            d.round_waiting_after,
        )?,
        repeat_after: limit("repeat_after", raw.repeat_after, d.repeat_after)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{write_config, CONFIG};
    use super::super::Config;

    #[test]
    fn alerts_come_after_fifteen_minutes_of_an_unread_mailbox_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let load = |text: &str| Config::load(&write_config(dir.path(), text));
        let c = load(CONFIG).unwrap();
        assert_eq!(c.alerts.mailbox_stale_after, chrono::Duration::minutes(15));
        assert!(c.alerts.mail);
        let c = load(&format!(
            "{CONFIG}\n[alerts]\nmailbox_stale_after = \"30m\"\nmail = false\n"
        ))
        .unwrap();
        assert_eq!(c.alerts.mailbox_stale_after, chrono::Duration::minutes(30));
        assert!(!c.alerts.mail);
        for (value, says) in [
            ("\"10s\"", "is not a duration"),
            ("\"0m\"", "must be at least a minute"),
        ] {
            let e = load(&format!("{CONFIG}\n[alerts]\nrepeat_after = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("[alerts] repeat_after") && e.contains(says),
                "{e}"
            );
        }
    }
}
