//! The configuration file as written: one serde struct per table, with the
//! defaults of every key an admin may leave out.
//!
//! Every table denies unknown keys, so a typo is an error naming its line, not
//! a silently ignored setting. Nothing here checks a value: each section's
//! loader (organisation.rs, mailbox.rs ...) turns its table into the typed
//! section or a one-sentence error.

use std::path::PathBuf;

use serde::Deserialize;

use super::ballots::MotionKind;
use super::connection::Security;
use super::logging::LogFormat;
use crate::ballot::rules::Profile;
use crate::domain::{Address, OrgId};
use crate::language::Language;
use crate::verify::policy::PolicyConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) organisation: RawOrganisation,
    pub(super) addresses: RawAddresses,
    pub(super) mailbox: RawMailbox,
    pub(super) outgoing: RawOutgoing,
    #[serde(default)]
    pub(super) ballots: RawBallots,
    pub(super) storage: RawStorage,
    #[serde(default)]
    pub(super) templates: RawTemplates,
    pub(super) roster: RawRoster,
    #[serde(default)]
    pub(super) profiles: Vec<Profile>,
    #[serde(default)]
    pub(super) logging: RawLogging,
    #[serde(default)]
    pub(super) calendar: RawCalendar,
    #[serde(default)]
    pub(super) reminders: RawReminders,
    #[serde(default)]
    pub(super) meetings: RawMeetings,
    #[serde(default)]
    pub(super) digest: RawDigest,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) verification: Option<PolicyConfig>,
    #[serde(default)]
    pub(super) alerts: super::alerts::RawAlerts,
    #[serde(default)]
    pub(super) http: super::http::RawHttp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganisation {
    pub(super) name: String,
    #[serde(default = "default_tz")]
    pub(super) time_zone: String,
    #[serde(default = "default_language")]
    pub(super) language: Language,
}

fn default_tz() -> String {
    "Asia/Tokyo".into()
}
fn default_language() -> Language {
    Language::Ja
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddresses {
    pub(super) bot: Address,
    #[serde(default)]
    pub(super) bot_name: Option<String>,
    pub(super) list: Address,
    pub(super) secretariat: Vec<Address>,
    pub(super) admins: Vec<Address>,
    #[serde(default)]
    pub(super) security_contact: Vec<Address>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub(super) enum RawMailbox {
    Imap {
        host: String,
        port: Option<u16>,
        #[serde(default = "default_tls")]
        security: Security,
        user: String,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
        password_credential: Option<String>,
        ca_file: Option<PathBuf>,
        public_roots: Option<bool>,
        #[serde(default = "default_folder")]
        folder: String,
        #[serde(default = "default_true")]
        idle: bool,
        #[serde(default = "default_poll")]
        poll_interval_secs: f64,
        #[serde(default = "default_timeout")]
        timeout_secs: u64,
    },
    Maildir {
        path: PathBuf,
    },
}

fn default_tls() -> Security {
    Security::Tls
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_true() -> bool {
    true
}
fn default_poll() -> f64 {
    60.0
}
fn default_timeout() -> u64 {
    60
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub(super) enum RawOutgoing {
    Smtp {
        host: String,
        port: Option<u16>,
        #[serde(default = "default_starttls")]
        security: Security,
        user: Option<String>,
        password_env: Option<String>,
        password_file: Option<PathBuf>,
        password_credential: Option<String>,
        ca_file: Option<PathBuf>,
        public_roots: Option<bool>,
        #[serde(default = "default_timeout")]
        timeout_secs: u64,
        #[serde(default = "default_true")]
        self_copy: bool,
    },
    File {
        path: PathBuf,
    },
}

fn default_starttls() -> Security {
    Security::Starttls
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBallots {
    #[serde(default = "default_deadline")]
    pub(super) default_deadline: String,
    #[serde(default = "default_profile")]
    pub(super) default_profile: String,
    #[serde(default = "default_prefix")]
    pub(super) open_subject_prefix: String,
    #[serde(default)]
    pub(super) kinds: Vec<MotionKind>,
    #[serde(default)]
    pub(super) chair: Option<OrgId>,
    /// Overrides the default profile's `reballot_deadline`.
    #[serde(default)]
    pub(super) reballot_deadline: Option<String>,
    /// Overrides the default profile's `rounds`.
    #[serde(default)]
    pub(super) max_rounds: Option<u32>,
}

impl Default for RawBallots {
    fn default() -> Self {
        Self {
            default_deadline: default_deadline(),
            default_profile: default_profile(),
            open_subject_prefix: default_prefix(),
            kinds: Vec::new(),
            chair: None,
            reballot_deadline: None,
            max_rounds: None,
        }
    }
}

fn default_deadline() -> String {
    "7d@17:00".into()
}
fn default_profile() -> String {
    "isogj-email".into()
}
fn default_prefix() -> String {
    "[ballot:open]".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default = "default_mail_cap")]
    pub(super) mails_per_address_per_hour: u32,
    #[serde(default = "default_burst")]
    pub(super) messages_per_sender_per_hour: u32,
    #[serde(default = "default_max_bytes")]
    pub(super) max_message_bytes: usize,
    #[serde(default = "default_per_transaction")]
    pub(super) messages_per_transaction: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            mails_per_address_per_hour: default_mail_cap(),
            messages_per_sender_per_hour: default_burst(),
            max_message_bytes: default_max_bytes(),
            messages_per_transaction: default_per_transaction(),
        }
    }
}

fn default_mail_cap() -> u32 {
    30
}
fn default_burst() -> u32 {
    20
}
fn default_max_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_per_transaction() -> usize {
    500
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    /// "12/29-1/3" (the default) or "none".
    pub(super) year_end_closure: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReminders {
    #[serde(default = "default_reminders")]
    pub(super) before: Vec<String>,
}

impl Default for RawReminders {
    fn default() -> Self {
        Self {
            before: default_reminders(),
        }
    }
}

fn default_reminders() -> Vec<String> {
    vec!["48h".into(), "24h".into()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeetings {
    #[serde(default)]
    pub(super) dates: Vec<String>,
    #[serde(default)]
    pub(super) pattern: Option<String>,
    #[serde(default = "default_digest_days")]
    pub(super) digest_days_before: u32,
}

impl Default for RawMeetings {
    fn default() -> Self {
        Self {
            dates: vec![],
            pattern: None,
            digest_days_before: default_digest_days(),
        }
    }
}

fn default_digest_days() -> u32 {
    7
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDigest {
    #[serde(default = "default_true")]
    pub(super) era_dates: bool,
}

impl Default for RawDigest {
    fn default() -> Self {
        Self { era_dates: true }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub(super) database: PathBuf,
    #[serde(default = "default_give_up_after")]
    pub(super) give_up_after_secs: u64,
}

/// Five minutes: long enough for a moment's outage (a disk filling until a
/// log rotation frees it) to heal without a restart, short enough that mail
/// does not wait long behind a daemon that cannot record it.
fn default_give_up_after() -> u64 {
    300
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTemplates {
    pub(super) dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoster {
    pub(super) file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    #[serde(default = "default_log_format")]
    pub(super) format: LogFormat,
    #[serde(default = "default_log_level")]
    pub(super) level: String,
}

impl Default for RawLogging {
    fn default() -> Self {
        Self {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_level() -> String {
    "info".into()
}
