//! The configuration file: what the committee is, where its mail lives, who is on
//! the roster, and how ballots run.
//!
//! Loading is strict (unknown keys are errors, every value is parsed into its
//! domain type) and every error is one sentence naming the file, the line and the
//! key, because the people who edit this file are secretaries, not engineers.
//! Secrets never live in the file: it names environment variables instead.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use chrono::NaiveDate;

use crate::ballot::calendar::Calendar;
use crate::ballot::deadline::DeadlineSpec;
use crate::ballot::rules::{Profile, ProfileSet};
use crate::domain::{Address, OrgId};
use crate::language::Language;
use crate::meetings::{MeetingPattern, Schedule};
use crate::reading::ReadOptions;
use crate::roster::{Roster, RosterError};
use crate::secret::SecretRef;
use crate::verify::policy::PolicyConfig;
use crate::zone::Tz;

/// Everything the program needs to run one committee.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (relative paths inside it are relative to its folder).
    pub path: PathBuf,
    pub organisation: Organisation,
    pub addresses: Addresses,
    pub mailbox: MailboxConfig,
    pub outgoing: OutgoingConfig,
    pub ballots: BallotSettings,
    pub storage: Storage,
    pub templates_dir: Option<PathBuf>,
    pub roster_path: PathBuf,
    pub roster: Roster,
    pub profiles: ProfileSet,
    pub logging: Logging,
    pub schedule: Schedule,
    pub limits: Limits,
    /// Sender verification; None when the configuration has no [verification]
    /// table (then nothing is verified, and check-config says so).
    pub verification: Option<PolicyConfig>,
}

/// Who the committee is.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    pub time_zone: Tz,
    pub language: Language,
}

/// The addresses the bot uses and answers to.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The bot's own mailbox: replies come here, mail goes out from here.
    pub bot: Address,
    /// The display name on the bot's mail.
    pub bot_name: String,
    /// The committee mailing list: announcements and results go here.
    pub list: Address,
    /// The secretariat (運営サポートグループ): receives the ratification digest.
    pub secretariat: Vec<Address>,
    /// Who may open ballots by mail (the chair, the secretariat).
    pub admins: Vec<Address>,
    /// Who is told at once of a security incident (a forged or disputed vote,
    /// a flood of mail, a replayed message). Incidents are recorded either way.
    pub security_contact: Vec<Address>,
}

/// How the bot reaches a mail server (or a local folder).
#[derive(Debug, Clone)]
pub enum MailboxConfig {
    Imap(ImapConfig),
    Maildir { path: PathBuf },
}

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS (SMTP submission 587).
    Starttls,
    /// No encryption: only allowed to a loopback address.
    Plain,
}

/// An IMAP account.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
    pub password: SecretRef,
    pub folder: String,
    pub idle: bool,
    pub poll_interval: std::time::Duration,
    /// Every IMAP command gives up after this long.
    pub timeout: std::time::Duration,
}

/// Where outgoing mail goes.
#[derive(Debug, Clone)]
pub enum OutgoingConfig {
    Smtp(SmtpConfig),
    /// Each mail is written as an .eml file in this folder (demo, tests, or an
    /// operator who hands mail to another system).
    File {
        path: PathBuf,
    },
}

/// An SMTP relay.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    pub password: Option<SecretRef>,
    pub timeout: std::time::Duration,
    /// Send the bot a blind copy of every mail. The copy in the bot's mailbox is
    /// the proof that the relay accepted a mail, which lets a send interrupted by
    /// a crash be resumed without sending twice.
    pub self_copy: bool,
}

/// Limits that keep a fault or an attack from turning into a flood.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The bot sends at most this many mails to one address per hour; more wait.
    pub mails_per_address_per_hour: u32,
    /// More messages than this from one sender within an hour is reported as a burst.
    pub messages_per_sender_per_hour: u32,
    /// Bytes of a message the bot reads; beyond, the rest is not read.
    pub max_message_bytes: usize,
    /// Messages recorded per transaction while reading a backlog: one commit
    /// (and one fsync) carries them all. A crash loses none of them, it only
    /// makes the bot read the uncommitted batch again.
    pub messages_per_transaction: usize,
}

/// How ballots run by default.
#[derive(Debug, Clone)]
pub struct BallotSettings {
    /// Deadline of a ballot opened without one.
    pub default_deadline: DeadlineSpec,
    /// The rule profile used when a ballot names no kind.
    pub default_profile: String,
    /// Subject prefix of an admin's mail that opens a ballot.
    pub open_subject_prefix: String,
    /// Motion kinds (新規会員の加盟承認 ...) and the profile each uses.
    pub kinds: Vec<MotionKind>,
    /// The organisation whose position breaks a tie where a rule says the chair decides.
    pub chair: Option<OrgId>,
}

/// Parses "48h", "2d", "90m" as a duration.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let t = s.trim();
    let bad = || format!("`{t}` is not a duration such as \"48h\", \"2d\" or \"30m\"");
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        _ => Err(bad()),
    }
}

/// A kind of motion and the rule it is decided by.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionKind {
    pub name: String,
    pub profile: String,
}

/// Where the database lives, and how long the daemon bears with it failing.
#[derive(Debug, Clone)]
pub struct Storage {
    pub database: PathBuf,
    /// The daemon stops with an error once a worker's database writes have
    /// failed for this long without a success in between (a disk that stays
    /// full, a file that cannot be written), so that its supervisor starts it
    /// again and an admin hears of it. Shorter outages heal by themselves.
    pub give_up_after: std::time::Duration,
}

/// How the daemon logs.
#[derive(Debug, Clone)]
pub struct Logging {
    pub format: LogFormat,
    pub level: String,
}

/// Text for people, JSON for log collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration problem: one sentence saying what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

// ---------------------------------------------------------------------------
// The file as written. Every table denies unknown keys so a typo is an error,
// not a silently ignored setting.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    organisation: RawOrganisation,
    addresses: RawAddresses,
    mailbox: RawMailbox,
    outgoing: RawOutgoing,
    #[serde(default)]
    ballots: RawBallots,
    storage: RawStorage,
    #[serde(default)]
    templates: RawTemplates,
    roster: RawRoster,
    #[serde(default)]
    profiles: Vec<Profile>,
    #[serde(default)]
    logging: RawLogging,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    reminders: RawReminders,
    #[serde(default)]
    meetings: RawMeetings,
    #[serde(default)]
    digest: RawDigest,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    verification: Option<PolicyConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganisation {
    name: String,
    #[serde(default = "default_tz")]
    time_zone: String,
    #[serde(default = "default_language")]
    language: Language,
}

fn default_tz() -> String {
    "Asia/Tokyo".into()
}
fn default_language() -> Language {
    Language::Ja
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddresses {
    bot: Address,
    #[serde(default)]
    bot_name: Option<String>,
    list: Address,
    secretariat: Vec<Address>,
    admins: Vec<Address>,
    #[serde(default)]
    security_contact: Vec<Address>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
enum RawMailbox {
    Imap {
        host: String,
        port: Option<u16>,
        #[serde(default = "default_tls")]
        security: Security,
        user: String,
        password_env: String,
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
enum RawOutgoing {
    Smtp {
        host: String,
        port: Option<u16>,
        #[serde(default = "default_starttls")]
        security: Security,
        user: Option<String>,
        password_env: Option<String>,
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
struct RawBallots {
    #[serde(default = "default_deadline")]
    default_deadline: String,
    #[serde(default = "default_profile")]
    default_profile: String,
    #[serde(default = "default_prefix")]
    open_subject_prefix: String,
    #[serde(default)]
    kinds: Vec<MotionKind>,
    #[serde(default)]
    chair: Option<OrgId>,
    /// Overrides the default profile's `reballot_deadline`.
    #[serde(default)]
    reballot_deadline: Option<String>,
    /// Overrides the default profile's `rounds`.
    #[serde(default)]
    max_rounds: Option<u32>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default = "default_mail_cap")]
    mails_per_address_per_hour: u32,
    #[serde(default = "default_burst")]
    messages_per_sender_per_hour: u32,
    #[serde(default = "default_max_bytes")]
    max_message_bytes: usize,
    #[serde(default = "default_per_transaction")]
    messages_per_transaction: usize,
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

fn default_per_transaction() -> usize {
    500
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    /// "12/29-1/3" (the default) or "none".
    year_end_closure: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReminders {
    #[serde(default = "default_reminders")]
    before: Vec<String>,
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
struct RawMeetings {
    #[serde(default)]
    dates: Vec<String>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default = "default_digest_days")]
    digest_days_before: u32,
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
struct RawDigest {
    #[serde(default = "default_true")]
    era_dates: bool,
}

impl Default for RawDigest {
    fn default() -> Self {
        Self { era_dates: true }
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
struct RawStorage {
    database: PathBuf,
    #[serde(default = "default_give_up_after")]
    give_up_after_secs: u64,
}

/// Five minutes: long enough for a moment's outage (a disk filling until a
/// log rotation frees it) to heal without a restart, short enough that mail
/// does not wait long behind a daemon that cannot record it.
fn default_give_up_after() -> u64 {
    300
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTemplates {
    dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoster {
    file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    #[serde(default = "default_log_format")]
    format: LogFormat,
    #[serde(default = "default_log_level")]
    level: String,
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

/// Turns a TOML error into "FILE: line L, column C: MESSAGE".
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            ConfigError(format!(
                "{}: line {line}, column {col}: {message}",
                path.display()
            ))
        }
        None => ConfigError(format!("{}: {message}", path.display())),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Reads the roster file the configuration names. The roster itself only
/// parses text; the sentence naming the file and line is written here, the
/// same way as for the configuration file.
fn load_roster(path: &Path) -> Result<Roster, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the roster file {}: {e}",
            path.display()
        ))
    })?;
    parse_roster(path, &text)
}

fn parse_roster(path: &Path, text: &str) -> Result<Roster, ConfigError> {
    Roster::from_toml(text).map_err(|e| match e {
        RosterError::Malformed(err) => toml_error(path, text, &err),
        RosterError::Invalid(reason) => ConfigError(format!("{}: {reason}", path.display())),
    })
}

impl Config {
    /// Reads and checks the configuration file and the roster it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses configuration text; `path` locates relative paths and names the file in errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let at = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                normalize(p)
            } else {
                normalize(&base.join(p))
            }
        };
        let file = path.display();

        let time_zone: Tz = raw.organisation.time_zone.parse().map_err(|_| {
            ConfigError(format!(
                "{file}: [organisation] time_zone = \"{}\" is not an IANA time zone such as Asia/Tokyo",
                raw.organisation.time_zone
            ))
        })?;
        if raw.organisation.name.trim().is_empty() {
            return Err(ConfigError(format!("{file}: [organisation] name is empty")));
        }

        if raw.addresses.secretariat.is_empty() {
            return Err(ConfigError(format!(
                "{file}: [addresses] secretariat needs at least one address to receive the digest"
            )));
        }
        if raw.addresses.admins.is_empty() {
            return Err(ConfigError(format!(
                "{file}: [addresses] admins needs at least one address (the chair or the secretariat)"
            )));
        }

        let mailbox = match raw.mailbox {
            RawMailbox::Imap {
                host,
                port,
                security,
                user,
                password_env,
                folder,
                idle,
                poll_interval_secs,
                timeout_secs,
            } => {
                check_plain(&file, "mailbox", &host, security)?;
                if security == Security::Starttls {
                    return Err(ConfigError(format!(
                        "{file}: [mailbox] security = \"starttls\" is not supported for IMAP; use \"tls\" (port 993)"
                    )));
                }
                check_env_name(&file, "mailbox", "password_env", &password_env)?;
                // Fractions of a second are allowed: polling is how to get replies
                // faster than a server's IDLE notifications (Dovecot 2.3 holds
                // them for half a second).
                if !(0.05..=86_400.0).contains(&poll_interval_secs) {
                    return Err(ConfigError(format!(
                        "{file}: [mailbox] poll_interval_secs must be between 0.05 and 86400 seconds"
                    )));
                }
                if timeout_secs == 0 {
                    return Err(ConfigError(format!(
                        "{file}: [mailbox] timeout_secs must be at least 1"
                    )));
                }
                MailboxConfig::Imap(ImapConfig {
                    port: port.unwrap_or(if security == Security::Tls { 993 } else { 143 }),
                    host,
                    security,
                    user,
                    password: SecretRef { env: password_env },
                    folder,
                    idle,
                    poll_interval: std::time::Duration::from_secs_f64(poll_interval_secs),
                    timeout: std::time::Duration::from_secs(timeout_secs),
                })
            }
            RawMailbox::Maildir { path } => MailboxConfig::Maildir { path: at(&path) },
        };

        let outgoing = match raw.outgoing {
            RawOutgoing::Smtp {
                host,
                port,
                security,
                user,
                password_env,
                timeout_secs,
                self_copy,
            } => {
                check_plain(&file, "outgoing", &host, security)?;
                if user.is_some() != password_env.is_some() {
                    return Err(ConfigError(format!(
                        "{file}: [outgoing] user and password_env go together: give both or neither"
                    )));
                }
                if let Some(env) = &password_env {
                    check_env_name(&file, "outgoing", "password_env", env)?;
                }
                OutgoingConfig::Smtp(SmtpConfig {
                    port: port.unwrap_or(match security {
                        Security::Tls => 465,
                        Security::Starttls => 587,
                        Security::Plain => 25,
                    }),
                    host,
                    security,
                    user,
                    password: password_env.map(|env| SecretRef { env }),
                    timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
                    self_copy,
                })
            }
            RawOutgoing::File { path } => OutgoingConfig::File { path: at(&path) },
        };

        let default_deadline: DeadlineSpec = raw
            .ballots
            .default_deadline
            .parse()
            .map_err(|e| ConfigError(format!("{file}: [ballots] default_deadline: {e}")))?;
        if matches!(default_deadline, DeadlineSpec::At(_)) {
            return Err(ConfigError(format!(
                "{file}: [ballots] default_deadline must be relative (such as \"7d@17:00\"), not a fixed date"
            )));
        }
        if raw.ballots.open_subject_prefix.trim().is_empty() {
            return Err(ConfigError(format!(
                "{file}: [ballots] open_subject_prefix is empty"
            )));
        }

        let mut custom = raw.profiles;
        let mut profiles = ProfileSet::with_shipped(custom.clone())
            .map_err(|e| ConfigError(format!("{file}: [[profiles]] {e}")))?;
        let Some(default) = profiles.get(&raw.ballots.default_profile).cloned() else {
            return Err(ConfigError(format!(
                "{file}: [ballots] default_profile = \"{}\" is not a known profile ({})",
                raw.ballots.default_profile,
                profiles.names().join(", ")
            )));
        };
        // [ballots] reballot_deadline and max_rounds are the default profile's
        // values, set where an admin looks first; a kind that selects another
        // profile keeps that profile's own.
        if raw.ballots.reballot_deadline.is_some() || raw.ballots.max_rounds.is_some() {
            let mut p = default;
            if let Some(d) = &raw.ballots.reballot_deadline {
                let spec: DeadlineSpec = d.parse().map_err(|e| {
                    ConfigError(format!("{file}: [ballots] reballot_deadline: {e}"))
                })?;
                if matches!(spec, DeadlineSpec::At(_)) {
                    return Err(ConfigError(format!(
                        "{file}: [ballots] reballot_deadline must be relative to the round's opening (such as \"5d@17:00\"), not a fixed date"
                    )));
                }
                p.reballot_deadline = spec;
            }
            if let Some(n) = raw.ballots.max_rounds {
                if !(1..=10).contains(&n) {
                    return Err(ConfigError(format!(
                        "{file}: [ballots] max_rounds = {n} must be between 1 and 10 (1: no re-ballot)"
                    )));
                }
                p.rounds = n;
            }
            custom.retain(|q| q.name != p.name);
            custom.push(p);
            profiles = ProfileSet::with_shipped(custom)
                .map_err(|e| ConfigError(format!("{file}: [ballots] {e}")))?;
        }
        let mut kind_names = BTreeSet::new();
        for k in &raw.ballots.kinds {
            if !kind_names.insert(k.name.clone()) {
                return Err(ConfigError(format!(
                    "{file}: [[ballots.kinds]] \"{}\" is listed twice",
                    k.name
                )));
            }
            if profiles.get(&k.profile).is_none() {
                return Err(ConfigError(format!(
                    "{file}: [[ballots.kinds]] \"{}\" uses profile \"{}\", which is not defined ({})",
                    k.name,
                    k.profile,
                    profiles.names().join(", ")
                )));
            }
        }

        if !(1..=86_400).contains(&raw.storage.give_up_after_secs) {
            return Err(ConfigError(format!(
                "{file}: [storage] give_up_after_secs must be between 1 and 86400 seconds"
            )));
        }

        if raw
            .logging
            .level
            .parse::<tracing_subscriber::filter::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError(format!(
                "{file}: [logging] level = \"{}\" is not a log filter such as \"info\" or \"mail_ballot=debug\"",
                raw.logging.level
            )));
        }

        let roster_path = at(&raw.roster.file);
        let roster = load_roster(&roster_path)?;

        if let Some(chair) = &raw.ballots.chair {
            if roster.organisation(chair).is_none() {
                return Err(ConfigError(format!(
                    "{file}: [ballots] chair = \"{chair}\" is not an organisation id in {}",
                    roster_path.display()
                )));
            }
        }
        let calendar = match raw.calendar.year_end_closure.as_deref().map(str::trim) {
            None => Calendar::default(),
            Some("none") => Calendar::without_closure(),
            Some(s) => Calendar::parse_closure(s)
                .map_err(|e| ConfigError(format!("{file}: [calendar] year_end_closure: {e}")))?,
        };
        let mut reminders = Vec::new();
        for r in &raw.reminders.before {
            let d = parse_duration(r)
                .map_err(|e| ConfigError(format!("{file}: [reminders] before: {e}")))?;
            if d <= chrono::Duration::zero() {
                return Err(ConfigError(format!(
                    "{file}: [reminders] before: `{r}` must be longer than zero"
                )));
            }
            reminders.push(d);
        }
        reminders.sort_by(|a, b| b.cmp(a));
        reminders.dedup();
        let mut meetings = Vec::new();
        for d in &raw.meetings.dates {
            meetings.push(
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    ConfigError(format!(
                        "{file}: [meetings] dates: `{d}` is not a date of the form YYYY-MM-DD"
                    ))
                })?,
            );
        }
        meetings.sort();
        let meeting_pattern = match raw.meetings.pattern.as_deref() {
            None => None,
            Some("isogj") => Some(MeetingPattern::Isogj),
            Some(other) => {
                return Err(ConfigError(format!(
                    "{file}: [meetings] pattern = \"{other}\" is not known (the one pattern is \"isogj\": late April, early September, early December)"
                )))
            }
        };

        if let Some(v) = &raw.verification {
            v.validate()
                .map_err(|e| ConfigError(format!("{file}: {e}")))?;
            if let Some(env) = &v.token_secret_env {
                check_env_name(&file, "verification", "token_secret_env", env)?;
            }
        }

        let bot = raw.addresses.bot;
        if roster.lookup(&bot).is_some() {
            return Err(ConfigError(format!(
                "{file}: [addresses] bot = \"{bot}\" is also on the roster; the bot must have an address of its own"
            )));
        }

        Ok(Config {
            path: path.to_path_buf(),
            organisation: Organisation {
                name: raw.organisation.name,
                time_zone,
                language: raw.organisation.language,
            },
            addresses: Addresses {
                bot_name: raw
                    .addresses
                    .bot_name
                    .unwrap_or_else(|| "mail-ballot".to_string()),
                bot,
                list: raw.addresses.list,
                secretariat: raw.addresses.secretariat,
                admins: raw.addresses.admins,
                security_contact: raw.addresses.security_contact,
            },
            mailbox,
            outgoing,
            ballots: BallotSettings {
                default_deadline,
                default_profile: raw.ballots.default_profile,
                open_subject_prefix: raw.ballots.open_subject_prefix,
                kinds: raw.ballots.kinds,
                chair: raw.ballots.chair,
            },
            storage: Storage {
                database: at(&raw.storage.database),
                give_up_after: std::time::Duration::from_secs(raw.storage.give_up_after_secs),
            },
            templates_dir: raw.templates.dir.map(|d| at(&d)),
            roster_path,
            roster,
            profiles,
            logging: Logging {
                format: raw.logging.format,
                level: raw.logging.level,
            },
            schedule: Schedule {
                calendar,
                reminders,
                meetings,
                meeting_pattern,
                digest_days_before: raw.meetings.digest_days_before,
                era_dates: raw.digest.era_dates,
            },
            verification: raw.verification,
            limits: Limits {
                mails_per_address_per_hour: raw.limits.mails_per_address_per_hour.max(1),
                messages_per_sender_per_hour: raw.limits.messages_per_sender_per_hour.max(1),
                max_message_bytes: raw.limits.max_message_bytes.max(64 * 1024),
                messages_per_transaction: raw.limits.messages_per_transaction.clamp(1, 5000),
            },
        })
    }

    /// The profile a motion kind uses (the default profile when no kind is given).
    pub fn profile_for_kind(&self, kind: Option<&str>) -> Result<&Profile, String> {
        let name = match kind {
            None => self.ballots.default_profile.as_str(),
            Some(k) => {
                &self
                    .ballots
                    .kinds
                    .iter()
                    .find(|m| m.name == k)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            self.ballots.kinds.iter().map(|m| m.name.as_str()).collect();
                        if known.is_empty() {
                            format!("the motion kind `{k}` is not configured (there are no [[ballots.kinds]] in the configuration)")
                        } else {
                            format!(
                                "the motion kind `{k}` is not configured (known kinds: {})",
                                known.join(", ")
                            )
                        }
                    })?
                    .profile
            }
        };
        self.profiles
            .get(name)
            .ok_or_else(|| format!("the profile `{name}` is not defined"))
    }

    /// True when `addr` may give the bot orders by mail.
    pub fn is_admin(&self, addr: &Address) -> bool {
        self.addresses.admins.contains(addr)
    }

    /// True when `addr` belongs to the secretariat.
    pub fn is_secretariat(&self, addr: &Address) -> bool {
        self.addresses.secretariat.contains(addr)
    }

    /// The domain used on the right of the bot's Message-IDs.
    pub fn message_id_domain(&self) -> &str {
        self.addresses.bot.domain()
    }

    /// Where the mailbox cursor is kept: one per mailbox, so pointing the
    /// configuration at another account starts from that account's beginning.
    pub fn mailbox_source_name(&self) -> String {
        match &self.mailbox {
            MailboxConfig::Imap(i) => {
                format!("imap://{}@{}:{}/{}", i.user, i.host, i.port, i.folder)
            }
            MailboxConfig::Maildir { path } => format!("maildir:{}", path.display()),
        }
    }
}

// The reading options are the core's type; the constructor that knows the
// configuration lives here, on the settings side, so `reading` never imports
// `config`. (An inherent impl may sit in any module of the crate.)
impl ReadOptions {
    /// The options the daemon reads with under `config`: the bot's own address is
    /// automated, and the configured size limit applies. `mail-ballot inspect --config`
    /// uses the same, so that it shows exactly what the daemon would count.
    pub fn for_config(config: &Config) -> Self {
        Self {
            own_addresses: vec![config.addresses.bot.clone()],
            max_message_bytes: config.limits.max_message_bytes,
            ..Self::default()
        }
    }
}

/// Removes `.` and `name/..` without touching the file system, so paths print
/// as an admin would write them.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn check_plain(
    file: &impl fmt::Display,
    table: &str,
    host: &str,
    security: Security,
) -> Result<(), ConfigError> {
    if security != Security::Plain {
        return Ok(());
    }
    let loopback = host == "localhost"
        || host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if loopback {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{file}: [{table}] security = \"plain\" sends passwords and votes unencrypted, so it is only allowed to a loopback host, not \"{host}\""
        )))
    }
}

fn check_env_name(
    file: &impl fmt::Display,
    table: &str,
    key: &str,
    name: &str,
) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ConfigError(format!(
            "{file}: [{table}] {key} = \"{name}\" must be the NAME of an environment variable (A-Z, 0-9, _), not the secret itself"
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const CONFIG: &str = r#"
[organisation]
name = "テスト協議会 運営委員会"

[addresses]
bot = "ballot@committee.example"
list = "steering@committee.example"
secretariat = ["support@committee.example"]
admins = ["chair@acme.example"]

[mailbox]
kind = "maildir"
path = "mail"

[outgoing]
kind = "file"
path = "sent"

[storage]
database = "ballots.sqlite"

[roster]
file = "roster.toml"
"#;

    pub(crate) fn write_config(dir: &Path, config: &str) -> PathBuf {
        std::fs::write(dir.join("roster.toml"), crate::roster::tests::ROSTER).unwrap();
        let p = dir.join("mail-ballot.toml");
        std::fs::write(&p, config).unwrap();
        p
    }

    #[test]
    fn a_minimal_configuration_loads_with_japanese_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&write_config(dir.path(), CONFIG)).unwrap();
        assert_eq!(c.organisation.time_zone.name(), "Asia/Tokyo");
        assert_eq!(c.organisation.language, Language::Ja);
        assert_eq!(c.ballots.default_profile, "isogj-email");
        assert_eq!(c.roster.voters().count(), 2);
        assert_eq!(c.storage.database, dir.path().join("ballots.sqlite"));
    }

    #[test]
    fn a_roster_error_names_the_file_and_line() {
        let err = parse_roster(
            Path::new("roster.toml"),
            "[[organisations]]\nid = \"Bad Id\"\nname = \"A\"\nrepresentative = \"x@a.example\"\n",
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("roster.toml: line 2"), "{err}");
    }

    #[test]
    fn the_daemon_bears_with_a_failing_database_five_minutes_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&write_config(dir.path(), CONFIG)).unwrap();
        assert_eq!(c.storage.give_up_after.as_secs(), 300);
        let with = |secs: &str| {
            CONFIG.replace(
                "database = \"ballots.sqlite\"",
                &format!("database = \"ballots.sqlite\"\ngive_up_after_secs = {secs}"),
            )
        };
        let c = Config::load(&write_config(dir.path(), &with("20"))).unwrap();
        assert_eq!(c.storage.give_up_after.as_secs(), 20);
        for bad in ["0", "86401"] {
            let err = Config::load(&write_config(dir.path(), &with(bad)))
                .unwrap_err()
                .0;
            assert!(
                err.ends_with(
                    "mail-ballot.toml: [storage] give_up_after_secs must be between 1 and 86400 seconds"
                ),
                "{err}"
            );
        }
        let err = Config::load(&write_config(dir.path(), &with("-1")))
            .unwrap_err()
            .0;
        assert!(err.contains("mail-ballot.toml: line"), "{err}");
        assert!(!err.contains('\n'), "one sentence, one line: {err}");
    }

    #[test]
    fn an_unknown_key_is_an_error_that_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace("kind = \"maildir\"", "kind = \"maildir\"\npaht = \"x\"");
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("mail-ballot.toml: line"), "{err}");
        assert!(err.contains("paht"), "{err}");
        assert!(!err.contains('\n'), "one sentence, one line: {err}");
    }

    #[test]
    fn plain_text_to_a_remote_server_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"imap.example.org\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"P\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn the_poll_interval_may_be_a_fraction_of_a_second_but_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let imap = |interval: &str| {
            CONFIG.replace(
                "kind = \"maildir\"\npath = \"mail\"",
                &format!("kind = \"imap\"\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"P\"\nidle = false\npoll_interval_secs = {interval}"),
            )
        };
        let c = Config::load(&write_config(dir.path(), &imap("0.2"))).unwrap();
        match &c.mailbox {
            MailboxConfig::Imap(i) => {
                assert_eq!(i.poll_interval, std::time::Duration::from_millis(200))
            }
            other => panic!("{other:?}"),
        }
        let c = Config::load(&write_config(dir.path(), &imap("60"))).unwrap();
        match &c.mailbox {
            MailboxConfig::Imap(i) => assert_eq!(i.poll_interval.as_secs(), 60),
            other => panic!("{other:?}"),
        }
        let err = Config::load(&write_config(dir.path(), &imap("0")))
            .unwrap_err()
            .0;
        assert!(
            err.contains("poll_interval_secs must be between 0.05"),
            "{err}"
        );
    }

    #[test]
    fn a_password_written_in_place_of_a_variable_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nuser = \"u\"\npassword_env = \"hunter2!\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("password_env"), "{err}");
    }

    #[test]
    fn a_bad_time_zone_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "name = \"テスト協議会 運営委員会\"",
            "name = \"x\"\ntime_zone = \"Asia/Tokio\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("Asia/Tokio"), "{err}");
    }

    #[test]
    fn a_profile_whose_combination_cannot_work_is_one_sentence_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let profile = |extra: &str| {
            format!(
                "{CONFIG}\n[[profiles]]\nname = \"quick\"\nquorum = \"at least 1/2 of members\"\nthreshold = \"more than 1/2 of present\"\n{extra}"
            )
        };
        for (extra, names) in [
            ("early_close = \"all_answered\"\n", "vote_changes"),
            (
                "min_open_hours = 72\nreballot_deadline = \"2d@17:00\"\n",
                "min_open_hours = 72",
            ),
        ] {
            let err = Config::load(&write_config(dir.path(), &profile(extra)))
                .unwrap_err()
                .0;
            assert!(
                err.contains("profile `quick`") && err.contains(names),
                "{err}"
            );
            assert!(!err.contains('\n'), "one sentence: {err}");
        }
        let ok = profile("early_close = \"all_answered\"\nvote_changes = \"closed\"\n");
        let c = Config::load(&write_config(dir.path(), &ok)).unwrap();
        assert_eq!(
            c.profiles.get("quick").unwrap().vote_changes,
            crate::ballot::rules::VoteChanges::Closed
        );
    }

    #[test]
    fn a_motion_kind_must_name_a_defined_profile() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{CONFIG}\n[ballots]\nkinds = [{{ name = \"予算承認\", profile = \"nope\" }}]\n"
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(err.contains("予算承認") && err.contains("nope"), "{err}");
    }

    #[test]
    fn ballots_reballot_deadline_and_max_rounds_override_only_the_default_profile() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{CONFIG}\n[ballots]\nreballot_deadline = \"3bd@12:00\"\nmax_rounds = 3\nkinds = [{{ name = \"会議\", profile = \"nca-steering\" }}]\n"
        );
        let c = Config::load(&write_config(dir.path(), &text)).unwrap();
        let d = c.profiles.get("isogj-email").unwrap();
        assert_eq!(d.rounds, 3);
        assert_eq!(d.reballot_deadline, "3bd@12:00".parse().unwrap());
        // The profile a kind selects keeps its own values.
        let shipped = crate::ballot::rules::shipped();
        let other = shipped.iter().find(|p| p.name == "nca-steering").unwrap();
        assert_eq!(c.profiles.get("nca-steering").unwrap(), other);
        // Without the keys, the default profile is as shipped.
        let c = Config::load(&write_config(dir.path(), CONFIG)).unwrap();
        let as_shipped = shipped.iter().find(|p| p.name == "isogj-email").unwrap();
        assert_eq!(c.profiles.get("isogj-email").unwrap(), as_shipped);
    }

    #[test]
    fn a_bad_reballot_deadline_or_round_cap_is_one_sentence_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (extra, expected) in [
            (
                "reballot_deadline = \"soon\"",
                "[ballots] reballot_deadline: `soon` is not a deadline",
            ),
            (
                "reballot_deadline = \"2026-12-01 17:00\"",
                "[ballots] reballot_deadline must be relative",
            ),
            (
                "max_rounds = 0",
                "[ballots] max_rounds = 0 must be between 1 and 10",
            ),
            (
                "max_rounds = 11",
                "[ballots] max_rounds = 11 must be between 1 and 10",
            ),
        ] {
            let text = format!("{CONFIG}\n[ballots]\n{extra}\n");
            let err = Config::load(&write_config(dir.path(), &text))
                .unwrap_err()
                .0;
            assert!(err.contains(expected), "{extra}: {err}");
            assert!(err.contains("mail-ballot.toml"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn imap_starttls_is_refused_because_the_reader_speaks_only_implicit_tls() {
        let dir = tempfile::tempdir().unwrap();
        let text = CONFIG.replace(
            "kind = \"maildir\"\npath = \"mail\"",
            "kind = \"imap\"\nhost = \"imap.example.org\"\nsecurity = \"starttls\"\nuser = \"u\"\npassword_env = \"P\"",
        );
        let err = Config::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .0;
        assert!(
            err.contains("\"starttls\" is not supported for IMAP"),
            "{err}"
        );
    }
}
