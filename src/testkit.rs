//! Helpers for unit tests: an App on an in-memory database with a movable
//! clock, and replies written the way members' clients write them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::config::Config;
use crate::mailbox::Fetched;
use crate::outbox::templates::Templates;
use crate::store::Store;

/// A roster of `n` organisations (org01..), org01 with its representative's
/// name and an alternate, plus one observer.
pub fn roster_toml(n: usize) -> String {
    let mut s = String::new();
    for i in 1..=n {
        s.push_str(&format!(
            "[[organisations]]\nid = \"org{i:02}\"\nname = \"会員{i}株式会社\"\nrepresentative = \"rep{i}@org{i}.example\"\n"
        ));
        if i == 1 {
            s.push_str(
                "representative_name = \"山田 太郎\"\nalternates = [\"alt1@org1.example\"]\n",
            );
        }
        s.push('\n');
    }
    s.push_str("[[participants]]\nname = \"オブザーバー\"\nrole = \"observer\"\naddress = \"obs@gov.example\"\n");
    s
}

/// The configuration used by unit tests: Maildir in, files out, `extra` appended.
pub fn config(dir: &std::path::Path, n: usize, extra: &str) -> Config {
    std::fs::write(dir.join("roster.toml"), roster_toml(n)).unwrap();
    let text = format!(
        r#"
[organisation]
name = "テスト協議会 運営委員会"

[addresses]
bot = "ballot@committee.example"
list = "steering@committee.example"
secretariat = ["support@committee.example"]
admins = ["chair@committee.example"]

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
{extra}
"#
    );
    let p = dir.join("mail-ballot.toml");
    std::fs::write(&p, text).unwrap();
    Config::load(&p).unwrap()
}

/// A test application and the handle of its clock.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<Mutex<DateTime<Utc>>>,
    /// Holds the configuration files for as long as the app lives.
    pub _dir: tempfile::TempDir,
}

impl TestApp {
    /// An app with `n` voting organisations, starting at `now`.
    pub async fn new(n: usize, now: &str) -> TestApp {
        Self::with(n, now, "").await
    }

    /// The same, with extra configuration.
    pub async fn with(n: usize, now: &str, extra: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), n, extra);
        let templates = Templates::load(None, config.organisation.language).unwrap();
        let store = Store::memory().await.unwrap();
        let clock = Arc::new(Mutex::new(at(now)));
        let c = clock.clone();
        let app = App::with_store(
            config,
            templates,
            store,
            Arc::new(move || *c.lock().unwrap()),
        );
        TestApp {
            app,
            clock,
            _dir: dir,
        }
    }

    /// Moves the clock.
    pub fn set_now(&self, t: &str) {
        *self.clock.lock().unwrap() = at(t);
    }

    /// Sender verification by the methods in `accept`, as a deployment sets it
    /// up: a fixed token key, DKIM with no DNS (keys pinned, none here), and
    /// Authentication-Results trusted from our own server.
    pub fn verify_with(&mut self, accept: &[crate::verify::policy::Method]) {
        use crate::verify::policy::PolicyConfig;
        self.app.verifier = Some(crate::app::Verifier {
            policy: PolicyConfig {
                accept: accept.to_vec(),
                authserv_id: Some("mx.committee.example".into()),
                token_secret_env: Some("UNUSED".into()),
                ..PolicyConfig::default()
            },
            token_key: Some(
                crate::verify::token::TokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
                    .unwrap(),
            ),
            dkim: Some(crate::verify::dkim::DkimVerifier::offline().unwrap()),
        });
    }

    /// The personal reply address (`bot+TOKEN@`) of `org` for `round` of `r`,
    /// under the key `verify_with` sets.
    pub fn token_address(&self, r: crate::domain::BallotRef, round: u32, org: &str) -> String {
        let v = self.app.verifier.as_ref().unwrap();
        let tok = crate::verify::token::token(
            v.token_key.as_ref().unwrap(),
            r,
            round,
            &crate::domain::OrgId::parse(org).unwrap(),
        );
        crate::verify::token::reply_address(&self.app.config.addresses.bot, &tok).to_string()
    }
}

/// `raw` (from `reply`) addressed to `to` instead of the bot's plain address.
pub fn addressed_to(raw: Vec<u8>, to: &str) -> Vec<u8> {
    String::from_utf8(raw)
        .unwrap()
        .replace("To: ballot@committee.example", &format!("To: {to}"))
        .into_bytes()
}

/// Parses an RFC 3339 instant.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A plain UTF-8 reply, as a mail client writes it.
pub fn reply(
    from: &str,
    subject: &str,
    body: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
) -> Vec<u8> {
    let mut s = format!(
        "From: Member <{from}>\r\nTo: ballot@committee.example\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    );
    if let Some(irt) = in_reply_to {
        s.push_str(&format!("In-Reply-To: <{irt}>\r\nReferences: <{irt}>\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(&body.replace('\n', "\r\n"));
    s.into_bytes()
}

/// A message as the mailbox would hand it over.
pub fn fetched(key: &str, raw: Vec<u8>, internal_date: &str) -> Fetched {
    Fetched {
        key: key.to_string(),
        uid: None,
        internal_date: at(internal_date),
        size: raw.len(),
        raw,
    }
}
