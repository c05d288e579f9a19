//! The application: configuration, store, templates and clock in one value that
//! every command and the daemon share, plus the errors they report.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::ballot::BallotError;
use crate::config::{Config, ConfigError};
use crate::domain::BallotRef;
use crate::outbox::compose::Composer;
use crate::outbox::templates::{TemplateError, Templates};
use crate::outbox::{BuildError, Mail};
use crate::reading::ReadOptions;
use crate::store::events::{self, Event};
use crate::store::{Store, StoreError};
use crate::verify::dkim::DkimVerifier;
use crate::verify::policy::{Method, PolicyConfig};
use crate::verify::token::TokenKey;

/// Where `now` comes from. The core never reads the clock itself.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// A clock stopped at `t` (tests, `--now`).
pub fn fixed_clock(t: DateTime<Utc>) -> Clock {
    Arc::new(move || t)
}

/// Sender verification, ready to run: the policy, the token key read from the
/// environment, and a DKIM verifier (DNS) when the policy accepts DKIM.
pub struct Verifier {
    pub policy: PolicyConfig,
    pub token_key: Option<TokenKey>,
    pub dkim: Option<DkimVerifier>,
}

impl Verifier {
    /// Builds the verifier the configuration asks for; DKIM keys are looked up
    /// through the system resolver.
    pub fn from_config(config: &Config) -> Result<Option<Verifier>, AppError> {
        let Some(policy) = config.verification.clone() else {
            return Ok(None);
        };
        let token_key = match policy.token_secret() {
            Some(r) => {
                let key = match &r {
                    crate::secret::SecretRef::Env(_) => "token_secret_env",
                    crate::secret::SecretRef::File(_) => "token_secret_file",
                    crate::secret::SecretRef::Credential(_) => "token_secret_credential",
                };
                let secret = r
                    .read()
                    .map_err(|e| AppError::Refused(format!("[verification] {key}: {e}")))?;
                Some(
                    TokenKey::from_secret(&secret)
                        .map_err(|e| AppError::Refused(format!("[verification] token key: {e}")))?,
                )
            }
            None => None,
        };
        let dkim =
            if policy.accepts(Method::Dkim) {
                Some(DkimVerifier::system().map_err(|e| {
                    AppError::Refused(format!("DKIM verification cannot start: {e}"))
                })?)
            } else {
                None
            };
        Ok(Some(Verifier {
            policy,
            token_key,
            dkim,
        }))
    }
}

/// Everything a command needs.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub templates: Templates,
    pub read_options: ReadOptions,
    pub clock: Clock,
    /// None when the configuration verifies nothing.
    pub verifier: Option<Verifier>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config.path)
            .finish()
    }
}

/// What went wrong, split by who must act.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request cannot be done as asked; the sentence is for the admin.
    #[error("{0}")]
    Refused(String),
    #[error("there is no ballot {0}")]
    UnknownBallot(BallotRef),
    #[error("{0}")]
    Ballot(#[from] BallotError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Internal: logged with detail, the user sees a short apology.
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Build(#[from] BuildError),
    /// Not now: the message is read again at the next pass (a DNS server that did
    /// not answer while checking a signature).
    #[error("{0}")]
    Deferred(String),
}

impl AppError {
    /// The whole text, addresses included, for the record in the database
    /// (a message's reason, an outbox row); Display, which logs show, leaves
    /// addresses out where the error quotes them.
    pub fn detail(&self) -> String {
        match self {
            AppError::Build(b) => b.detail(),
            e => e.to_string(),
        }
    }

    /// True when the database failed (a full disk, an I/O error, a file that
    /// cannot be written): the daemon gives up on one that keeps failing.
    pub fn is_database(&self) -> bool {
        matches!(self, AppError::Store(_))
    }

    /// True when the error is about the request, not about the program.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            AppError::Refused(_)
                | AppError::UnknownBallot(_)
                | AppError::Ballot(_)
                | AppError::Config(_)
        )
    }
}

impl App {
    /// Loads templates and opens the database named in `config`.
    pub async fn open(config: Config, clock: Clock) -> Result<App, AppError> {
        let templates = Templates::load(
            config.templates_dir.as_deref(),
            config.organisation.language,
        )?;
        // The verifier first: a missing token key is the admin's to fix, before
        // any database is created.
        let verifier = Verifier::from_config(&config)?;
        let store = Store::open(&config.storage.database).await?;
        let mut app = Self::with_store(config, templates, store, clock);
        app.verifier = verifier;
        Ok(app)
    }

    /// Puts the parts together (tests pass an in-memory store).
    pub fn with_store(config: Config, templates: Templates, store: Store, clock: Clock) -> App {
        let read_options = ReadOptions::for_config(&config);
        App {
            config,
            store,
            templates,
            read_options,
            clock,
            verifier: None,
        }
    }

    /// The present, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// A composer for this configuration.
    pub fn composer(&self) -> Composer<'_> {
        Composer::new(&self.config, &self.templates, self.store.message_id_key())
    }

    /// The mails that announce the current round of `b`: the one to the committee
    /// list and, when the verification policy accepts personal-ballot tokens, one
    /// to each organisation's representative whose Reply-To carries the token
    /// for (ballot, round, organisation).
    pub fn announcements(&self, b: &crate::ballot::Ballot) -> Result<Vec<Mail>, AppError> {
        let composer = self.composer();
        let mut personal = Vec::new();
        for org in b.roster.voters() {
            if let Some(reply_to) = self.personal_reply_to(b, org) {
                personal.push(composer.personal_announce(b, org, reply_to)?);
            }
        }
        let mut mails = vec![composer.announce(b, !personal.is_empty())?];
        mails.append(&mut personal);
        Ok(mails)
    }

    /// `bot+TOKEN@domain` for `org` in the current round of `b`, when the
    /// verification policy accepts personal-ballot tokens.
    pub fn personal_reply_to(
        &self,
        b: &crate::ballot::Ballot,
        org: &crate::roster::Organisation,
    ) -> Option<crate::domain::Address> {
        let key = self
            .verifier
            .as_ref()
            .filter(|v| v.policy.accepts(Method::Token))
            .and_then(|v| v.token_key.as_ref())?;
        let t = crate::verify::token::token(key, b.reference, b.current_round().number, &org.id);
        Some(crate::verify::token::reply_address(
            &self.config.addresses.bot,
            &t,
        ))
    }

    /// The name under which this configuration's mailbox cursor is kept.
    pub fn source_name(&self) -> String {
        self.config.mailbox_source_name()
    }

    /// The outbox worker's options now: the hourly cap, and how far the bot's
    /// mailbox has been read (to find its own copies of interrupted sends).
    pub async fn outbox_options(&self) -> Result<crate::outbox::worker::StepOptions, AppError> {
        let synced = self.store.synced_at(&self.source_name()).await?;
        Ok(crate::outbox::worker::StepOptions::new(
            self.config.limits.mails_per_address_per_hour,
            synced,
        ))
    }

    /// The configured outgoing transport.
    pub fn transport(&self) -> Result<Box<dyn crate::outbox::transport::Transport>, AppError> {
        crate::outbox::transport::from_config(&self.config.outgoing, &self.config.addresses.bot)
            .map_err(AppError::Refused)
    }

    /// The outbox row of `mail`, and the audit event that records it queued, with
    /// the hash of the bytes queued, the envelope sender and the hash of the
    /// recipients (`audit verify` holds the outbox row to them: an edited
    /// recipient would redirect the mail, a receipt's token with it).
    pub fn outbox_row(
        &self,
        mail: &Mail,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(crate::store::NewOutboxMail, Event), AppError> {
        let row = mail.to_outbox(
            &self.config.addresses.bot,
            &self.config.addresses.bot_name,
            now,
        )?;
        let event = Event::new(
            "mail_queued",
            mail.ballot,
            actor,
            serde_json::json!({
                "kind": mail.kind,
                "message_id": mail.message_id,
                "recipients": row.recipients.len(),
                "recipients_hash": events::digest_list(&row.recipients),
                "envelope_from": row.envelope_from,
                "content_hash": crate::disposition::content_hash(&row.raw),
            }),
        );
        Ok((row, event))
    }

    /// Queues `mail` inside `tx` and records it in the audit trail (once: a mail
    /// already queued with that Message-ID is left as it is).
    pub async fn enqueue(
        &self,
        conn: &mut sqlx::SqliteConnection,
        mail: &Mail,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let (row, event) = self.outbox_row(mail, actor, now)?;
        if Store::enqueue(conn, &row, now).await? {
            events::append(conn, now, &event).await?;
        }
        Ok(())
    }
}
