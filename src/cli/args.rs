//! The command line as clap reads it: the global options, every subcommand and
//! its arguments, and the parsers of the values they take. What each command does
//! is in the file of its group (see `cli`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::ballot::deadline::DeadlineSpec;
use crate::domain::BallotRef;

/// Email ballots for committees.
#[derive(Debug, Parser)]
#[command(name = "mail-ballot", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "MAIL_BALLOT_CONFIG",
        default_value = "config/mail-ballot.toml"
    )]
    pub config: PathBuf,
    /// Treat this instant as the present (RFC 3339). For tests and rehearsals;
    /// recorded in the audit trail of what it does.
    #[arg(long, global = true, hide = true, value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    pub command: Command,
    /// True when --config (or MAIL_BALLOT_CONFIG) was given rather than defaulted.
    #[arg(skip)]
    pub config_given: bool,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant: {e}"))
}

fn parse_ref(s: &str) -> Result<BallotRef, String> {
    s.trim_matches(|c| c == '[' || c == ']').parse()
}

fn parse_deadline(s: &str) -> Result<DeadlineSpec, String> {
    s.parse()
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: read replies, close rounds at their deadline, send mail.
    Run,
    /// Open a ballot and announce it to the committee list.
    Open(OpenArgs),
    /// List every ballot.
    List {
        /// Print the ballots as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a ballot: status, counts, who has and has not answered, history.
    Show {
        /// The ballot's reference, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: BallotRef,
        /// Print the ballot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Close the current round now and announce the result.
    Close {
        /// The ballot's reference, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: BallotRef,
        /// Do not read the mailbox first (count only the answers already read).
        #[arg(long)]
        no_poll: bool,
    },
    /// Move the current round's deadline later and announce it.
    Extend {
        /// The ballot's reference, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: BallotRef,
        /// The new deadline: "2026-12-04 17:00", or "7d@17:00", "5bd@17:00", "48h" from now.
        #[arg(long, value_parser = parse_deadline)]
        deadline: DeadlineSpec,
    },
    /// Cancel an open ballot (kept on record) and announce it.
    Cancel {
        /// The ballot's reference, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: BallotRef,
        /// The reason, given to the list in the announcement.
        #[arg(long)]
        reason: String,
    },
    /// Read the mailbox once, to its end (for cron and tests).
    Poll {
        /// Print nothing unless something fails (the default under cron prints
        /// only when mail was read).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run the scheduler once: close due rounds, send queued mail (for cron and tests).
    Tick {
        /// Print nothing unless something fails (the default under cron prints
        /// only when something was done).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the ratification digest of email resolutions awaiting confirmation.
    Digest {
        /// Also mail it to the secretariat.
        #[arg(long)]
        send: bool,
        /// The meeting it is for (YYYY-MM-DD), shown in the digest.
        #[arg(long)]
        meeting: Option<String>,
    },
    /// Record that a meeting confirmed (or overturned) email resolutions.
    Ratify(RatifyArgs),
    /// Rule profiles: list them, or check an outcome by hand.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Check the audit trail's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Recompute every tally from the stored raw messages and report any difference.
    Replay,
    /// Votes a member said were not theirs (身に覚えがない): list them, or decide.
    Dispute {
        #[command(subcommand)]
        command: DisputeCommand,
    },
    /// Security incidents reported to the security contact, newest first.
    Incidents,
    /// The daemon's health: mailbox, outbox, open rounds, audit head. Exit
    /// status 0 when fine, 1 on a warning, 2 when critical.
    Status {
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a consistent copy of the database while the daemon runs, then
    /// check the copy with `audit verify`.
    Backup {
        /// The new file to write (never overwritten).
        file: std::path::PathBuf,
    },
    /// The committee's meeting calendar (where email resolutions are confirmed).
    Meeting {
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// Check the configuration, the roster and every template.
    CheckConfig,
    /// Run a complete scenario on embedded defaults and show what happens.
    Demo {
        /// Keep the demo's files here instead of a temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Show how messages would be read (no database or configuration needed).
    Inspect {
        /// Print one JSON object per file, one per line.
        #[arg(long)]
        json: bool,
        /// Files (.eml) to read.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `open ...`
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The motion's title (件名).
    #[arg(long)]
    pub title: String,
    /// A file holding the motion's text.
    #[arg(long, conflicts_with = "body")]
    pub body_file: Option<PathBuf>,
    /// The motion's text, given directly.
    #[arg(long)]
    pub body: Option<String>,
    /// "2026-12-04 17:00", "7d@17:00", "5bd@17:00" or "48h"; the configured default otherwise.
    #[arg(long, value_parser = parse_deadline)]
    pub deadline: Option<DeadlineSpec>,
    /// The motion's kind, which selects the rule (see [[ballots.kinds]]).
    #[arg(long)]
    pub kind: Option<String>,
}

/// `ratify ...`
#[derive(Debug, Args)]
pub struct RatifyArgs {
    /// The meeting's date (YYYY-MM-DD).
    #[arg(long)]
    pub meeting: String,
    /// Confirm every resolution awaiting confirmation.
    #[arg(long, conflicts_with = "references")]
    pub all: bool,
    /// Record that the meeting overturned the named resolutions instead.
    #[arg(long, requires = "note", conflicts_with = "all")]
    pub overturned: bool,
    /// What the minutes say about the overturning.
    #[arg(long)]
    pub note: Option<String>,
    /// The references decided on.
    #[arg(value_parser = parse_ref)]
    pub references: Vec<BallotRef>,
}

/// `rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Every profile, with its clause and rule in words.
    List,
    /// The outcome of given counts under a profile, and the arithmetic.
    Check {
        /// The rule profile's name (`mail-ballot rules list` shows them).
        #[arg(long)]
        profile: String,
        /// N: all members with a vote.
        #[arg(long)]
        eligible: u32,
        /// Answers in favour (賛成).
        #[arg(long, default_value_t = 0)]
        yes: u32,
        /// Answers against (反対).
        #[arg(long, default_value_t = 0)]
        no: u32,
        /// Abstentions (棄権).
        #[arg(long, default_value_t = 0)]
        abstain: u32,
        /// Answers leaving it to the chair or the committee (一任).
        #[arg(long, default_value_t = 0)]
        delegate: u32,
        /// The chair's position, where the profile lets the chair break a tie.
        #[arg(long, value_parser = ["yes", "no"])]
        chair: Option<String>,
        /// Print the outcome and the arithmetic as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `dispute ...`
#[derive(Debug, Subcommand)]
pub enum DisputeCommand {
    /// Every dispute (of one ballot when given), newest first.
    List {
        /// Only the disputes of this ballot, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: Option<BallotRef>,
    },
    /// Decide the open dispute of an organisation's vote.
    Resolve {
        /// The ballot's reference, e.g. B-2026-001.
        #[arg(value_parser = parse_ref)]
        reference: BallotRef,
        /// The organisation's id in the roster.
        #[arg(long)]
        org: String,
        /// The vote was not theirs: it never counts.
        #[arg(
            long,
            conflicts_with = "dismissed",
            required_unless_present = "dismissed"
        )]
        upheld: bool,
        /// The vote was theirs after all: it counts again.
        #[arg(long)]
        dismissed: bool,
        /// What was found (kept in the record).
        #[arg(long)]
        note: Option<String>,
    },
}

/// `audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain of every event and report the first broken link.
    Verify,
}

/// `meeting ...`
#[derive(Debug, Subcommand)]
pub enum MeetingCommand {
    /// Add a meeting (YYYY-MM-DD); the digest goes out the configured days before.
    Add {
        /// The meeting's date (YYYY-MM-DD).
        date: String,
        /// A note kept with the meeting in the record.
        #[arg(long)]
        note: Option<String>,
    },
    /// The coming meetings and when each one's digest is due.
    List,
}
