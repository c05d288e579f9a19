//! The configuration file: what the committee is, where its mail lives, who is on
//! the roster, and how ballots run.
//!
//! Loading is strict (unknown keys are errors, every value is parsed into its
//! domain type) and every error is one sentence naming the file, the line and the
//! key, because the people who edit this file are secretaries, not engineers.
//! Secrets never live in the file: it names where each is kept (an environment
//! variable, a file, a systemd credential) instead.
//!
//! One file per job: `raw` is the file as written (serde, defaults), each
//! section has its own loader beside its typed settings (`organisation`,
//! `addresses`, `mailbox`, `outgoing`, `ballots`, `schedule`, `storage`,
//! `limits`, `logging`, `verification`, `roster_file`), `connection` holds the
//! checks the server sections share, and `error` the one error type. This file
//! puts the sections together in [`Config::from_toml`].
//!
//! Settings sit above the pure core: they build its values (a
//! `meetings::Schedule`, a `ProfileSet`, a `Roster`), and the core never
//! imports them.

mod addresses;
mod alerts;
mod ballots;
mod connection;
mod error;
mod file;
mod http;
mod limits;
mod logging;
mod mailbox;
mod organisation;
mod outgoing;
mod raw;
mod roster_file;
mod schedule;
mod storage;
mod verification;

use std::path::{Path, PathBuf};

use crate::ballot::rules::{Profile, ProfileSet};
use crate::domain::Address;
use crate::meetings::Schedule;
use crate::reading::ReadOptions;
use crate::roster::Roster;
use crate::verify::policy::PolicyConfig;

pub use addresses::Addresses;
pub use alerts::Alerts;
pub use ballots::{BallotSettings, MotionKind};
pub use connection::{Auth, Login, Security};
pub use error::ConfigError;
pub use http::Http;
pub use limits::Limits;
pub use logging::{LogFormat, Logging};
pub use mailbox::{ImapConfig, MailboxConfig};
pub use organisation::Organisation;
pub use outgoing::{OutgoingConfig, SmtpConfig};
pub use schedule::parse_duration;
pub use storage::Storage;

use error::toml_error;
use file::ConfigFile;
use raw::RawConfig;

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
    pub alerts: Alerts,
    pub http: Http,
    /// Sender verification; None when the configuration has no [verification]
    /// table (then nothing is verified, and check-config says so).
    pub verification: Option<PolicyConfig>,
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
        let file = ConfigFile::new(path);
        // The sections are checked in this order and the first error is the
        // one reported, so a file with several mistakes always names the same
        // one first. The checks that need the roster (the chair, the bot's own
        // address) wait until it is read.
        let organisation = organisation::load(&file, raw.organisation)?;
        let addresses = addresses::load(&file, raw.addresses)?;
        let mailbox = mailbox::load(&file, raw.mailbox)?;
        let outgoing = outgoing::load(&file, raw.outgoing)?;
        let (ballots, profiles) = ballots::load(&file, raw.ballots, raw.profiles)?;
        let storage = storage::load(&file, raw.storage)?;
        let logging = logging::load(&file, raw.logging)?;
        let roster_path = file.at(&raw.roster.file);
        let roster = roster_file::load(&roster_path)?;
        ballots::check_chair(&file, &ballots, &roster, &roster_path)?;
        let schedule =
            schedule::load(&file, raw.calendar, raw.reminders, raw.meetings, raw.digest)?;
        let verification = verification::load(&file, raw.verification)?;
        let alerts = alerts::load(&file, raw.alerts)?;
        let http = http::load(&file, raw.http)?;
        addresses::check_bot_not_on_roster(&file, &addresses, &roster)?;

        Ok(Config {
            path: path.to_path_buf(),
            organisation,
            addresses,
            mailbox,
            outgoing,
            ballots,
            storage,
            templates_dir: raw.templates.dir.map(|d| file.at(&d)),
            roster_path,
            roster,
            profiles,
            logging,
            schedule,
            verification,
            limits: limits::load(raw.limits),
            alerts,
            http,
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
                format!("imap://{}@{}:{}/{}", i.login.user, i.host, i.port, i.folder)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::language::Language;

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
}
