//! A real mail system per test: a private Dovecot (IMAP + LMTP) and a private Postfix
//! (SMTP) on free loopback ports, in a temporary directory of their own.
//!
//! mail-ballot's promises are about real mail: what a member's client submits, how Postfix
//! expands the committee list, what Dovecot stores and reports over IMAP. Mocks would test
//! our idea of those servers, so the e2e tests talk to the servers themselves.
//!
//! Layout of a stack's directory (see [`MailStack::dir`]):
//! ```text
//! dovecot/  dovecot.conf, passwd, dovecot.log, stderr.log, run/ (sockets), state/
//! postfix/  conf/ (main.cf, master.cf, virtual_mailboxes, virtual_aliases), postfix.log,
//!           stderr.log, queue/, data/
//! mail/<user>/Maildir/
//! tls/      ca.pem, server-chain.pem, server-key.pem (TLS stacks only)
//! ```
//!
//! A TLS stack ([`MailStack::start_tls`]) has a CA of its own and a server certificate of
//! the kind the test asks for; Dovecot offers STARTTLS on its IMAP port and TLS from the
//! first byte on a second one, Postfix STARTTLS on its SMTP port and TLS from the first
//! byte (`smtpd_tls_wrappermode`) on a second one.
//! Every stack is independent (own directory, ports, processes), so tests run in parallel.
//! Set `MAIL_BALLOT_KEEP_STACK=1` to keep the directory after the test for a post-mortem.

// The harness is shared by every e2e module; some helpers serve only modules still to come.
#![allow(dead_code)]

mod certs;
mod dovecot;
mod imap;
mod message;
mod ports;
mod postfix;
mod process;
mod readiness;
mod smtp;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use certs::CertFiles;
pub use certs::{ServerCert, OTHER_NAME};
use dovecot::{DovecotConfig, DovecotFiles};
pub use imap::ImapSession;
pub use message::StoredMessage;
use postfix::{PostfixConfig, PostfixFiles};
use process::{file_len, system_user, Daemon};
use readiness::{wait_until_ready, Greeting, NotReady};

/// How long a daemon may take to greet after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a start is retried when a port turns out to be taken.
const START_ATTEMPTS: usize = 5;
/// Set to keep a stack's directory (logs, queue, maildirs) after the test.
pub const KEEP_ENV: &str = "MAIL_BALLOT_KEEP_STACK";

/// A private Dovecot + Postfix for one test. Dropping it stops both and removes its
/// directory (unless `MAIL_BALLOT_KEEP_STACK=1`).
pub struct MailStack {
    // None while stopped (stop_postfix) or not yet started.
    dovecot: Option<Daemon>,
    postfix: Option<Daemon>,
    // None once kept (MAIL_BALLOT_KEEP_STACK); otherwise dropped after Drop::drop has
    // stopped the daemons, so nothing writes into a directory being removed.
    dir: Option<TempDir>,
    path: PathBuf,
    token: String,
    users: Vec<String>,
    domains: Vec<String>,
    imap_port: u16,
    lmtp_port: u16,
    smtp_port: u16,
    /// A TLS stack's certificate files; None for a plain one.
    tls: Option<CertFiles>,
    /// The implicit-TLS ports of a TLS stack (0 otherwise).
    imaps_port: u16,
    smtps_port: u16,
}

impl MailStack {
    /// Starts private Dovecot (IMAP + LMTP) and Postfix (SMTP) on free loopback ports.
    /// `users`: full addresses that get a mailbox (any domains; Postfix accepts mail for
    /// each user's domain). `aliases`: list address -> member addresses
    /// (`virtual_alias_maps`), e.g. the committee list.
    ///
    /// Panics, with the daemons' log tails, if a daemon does not greet within 15 s.
    pub async fn start(users: &[&str], aliases: &[(&str, &[&str])]) -> MailStack {
        Self::start_with(users, aliases, None).await
    }

    /// [`MailStack::start`] with TLS: a private CA of this stack's own, the servers
    /// presenting a certificate of kind `cert` signed by it; STARTTLS on the IMAP and
    /// SMTP ports, and TLS from the first byte on [`MailStack::imaps_port`] and
    /// [`MailStack::smtps_port`].
    pub async fn start_tls(
        users: &[&str],
        aliases: &[(&str, &[&str])],
        cert: ServerCert,
    ) -> MailStack {
        Self::start_with(users, aliases, Some(cert)).await
    }

    async fn start_with(
        users: &[&str],
        aliases: &[(&str, &[&str])],
        cert: Option<ServerCert>,
    ) -> MailStack {
        preflight();
        // Short prefix: Dovecot's unix sockets live under here and paths are limited to 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("mail-ballot-")
            .tempdir()
            .expect("a temporary directory for the mail stack");
        let path = dir.path().to_path_buf();
        // The daemons' unprivileged users (postfix, dovecot, dovenull, nobody) must be able
        // to walk into it; tempfile creates it 0700.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod stack dir");
        let token = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("mail-ballot-"))
            .unwrap_or("stack")
            .to_owned();
        let users: Vec<String> = users.iter().map(|u| u.to_lowercase()).collect();
        let domains: BTreeSet<String> = users
            .iter()
            .map(String::as_str)
            .chain(aliases.iter().map(|(list, _)| *list))
            .map(|address| domain_of(address).to_lowercase())
            .collect();

        let mut stack = MailStack {
            dovecot: None,
            postfix: None,
            dir: Some(dir),
            path,
            token,
            users,
            domains: domains.into_iter().collect(),
            imap_port: 0,
            lmtp_port: 0,
            smtp_port: 0,
            tls: None,
            imaps_port: 0,
            smtps_port: 0,
        };
        stack.tls = cert.map(|kind| certs::make(&stack.path.join("tls"), kind));
        stack.write_user_files(aliases);
        stack.start_dovecot_on_free_ports().await;
        stack.start_postfix_on_free_port().await;
        if keep_requested() {
            // Written to stderr directly, around libtest's capture of eprintln!, so that
            // it shows for passing tests too.
            let _ = writeln!(
                std::io::stderr(),
                "mail stack {}: IMAP 127.0.0.1:{}, SMTP 127.0.0.1:{}, LMTP 127.0.0.1:{}",
                stack.path.display(),
                stack.imap_port,
                stack.smtp_port,
                stack.lmtp_port
            );
        }
        stack
    }

    /// The IMAP port (plain text, `LOGIN user password`; a TLS stack also offers
    /// STARTTLS there).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// A TLS stack's IMAP port with TLS from the first byte (993-style).
    pub fn imaps_port(&self) -> u16 {
        assert!(self.tls.is_some(), "a plain stack has no IMAPS port");
        self.imaps_port
    }

    /// A TLS stack's SMTP port with TLS from the first byte (465-style).
    pub fn smtps_port(&self) -> u16 {
        assert!(self.tls.is_some(), "a plain stack has no SMTPS port");
        self.smtps_port
    }

    /// The PEM file of a TLS stack's own CA: what mail-ballot's `ca_file` names.
    pub fn ca_file(&self) -> &Path {
        &self.tls.as_ref().expect("a plain stack has no CA").ca
    }

    /// The SMTP port where Postfix accepts mail from 127.0.0.1 without authentication.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// Dovecot's LMTP port: what Postfix delivers to; a test may deliver there directly.
    pub fn lmtp_port(&self) -> u16 {
        self.lmtp_port
    }

    /// The IMAP password of `user`: the same for the same address in every stack.
    pub fn password(&self, user: &str) -> String {
        password_of(&user.to_lowercase())
    }

    /// The stack's temporary directory; tests may put a database or config file here.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// `user`'s Maildir (with `cur`, `new`, `tmp`), for inspection or fast direct writes.
    /// Files written here as root stay readable by Dovecot, which runs as `nobody`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.mail_root().join(user.to_lowercase()).join("Maildir")
    }

    /// Submits `raw` over SMTP to Postfix with the given envelope, as a member's mail
    /// client would (no authentication; 127.0.0.1 is in `mynetworks`). Panics, with the
    /// server's reply and the log tails, if Postfix does not accept it.
    pub async fn send(&self, envelope_from: &str, rcpts: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_send(envelope_from, rcpts, raw).await {
            panic!("SMTP submission failed: {e:#}\n{}", self.log_tail(30));
        }
    }

    /// [`MailStack::send`] that reports a refusal instead of panicking: for tests that
    /// expect one (Postfix stopped, unknown recipient).
    pub async fn try_send(
        &self,
        envelope_from: &str,
        rcpts: &[&str],
        raw: &[u8],
    ) -> anyhow::Result<()> {
        smtp::submit(self.smtp_port, envelope_from, rcpts, raw).await
    }

    /// A logged-in IMAP session as `user`, for tests that need more than the helpers below
    /// (IDLE, flags, other mailboxes).
    pub async fn login(&self, user: &str) -> ImapSession {
        imap::login(self.imap_port, user, &self.password(user))
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail(30)))
    }

    /// IMAP APPEND to `user`'s INBOX, with an explicit INTERNALDATE (to test late votes
    /// etc.) or, with None, the server's current time.
    pub async fn append(
        &self,
        user: &str,
        raw: &[u8],
        internal_date: Option<DateTime<FixedOffset>>,
    ) {
        let mut session = self.login(user).await;
        if let Err(e) = imap::append(&mut session, raw, internal_date).await {
            panic!("{e:#}\n{}", self.log_tail(30));
        }
        imap::logout(session).await;
    }

    /// Every message in `user`'s INBOX, read back over IMAP, in UID order.
    pub async fn messages(&self, user: &str) -> Vec<StoredMessage> {
        let mut session = self.login(user).await;
        let messages = imap::inbox(&mut session)
            .await
            .unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail(30)));
        imap::logout(session).await;
        messages
    }

    /// Polls over IMAP until `user`'s INBOX holds at least `count` messages, then returns
    /// them all. Panics after `timeout` with the Postfix and Dovecot log tails, which say
    /// where the mail got stuck. Survives connections dropped by `restart_dovecot`.
    pub async fn wait_for_messages(
        &self,
        user: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<StoredMessage> {
        // One session for all polls; a poll that fails (Dovecot restarting) starts afresh.
        // Each step has a short limit of its own so that `timeout` is kept even if
        // Dovecot hangs.
        const STEP: Duration = Duration::from_secs(5);
        let deadline = Instant::now() + timeout;
        let mut session: Option<ImapSession> = None;
        let mut last = String::from("not polled yet");
        loop {
            if session.is_none() {
                let password = self.password(user);
                match imap::login_within(self.imap_port, user, &password, STEP).await {
                    Ok(s) => session = Some(s),
                    Err(e) => last = format!("{e:#}"),
                }
            }
            if let Some(s) = session.as_mut() {
                match imap::inbox_count(s, STEP).await {
                    Ok(n) if n >= count => {
                        let mut s = session.take().expect("polled with a session");
                        let messages = imap::inbox(&mut s).await;
                        imap::logout(s).await;
                        return messages.unwrap_or_else(|e| panic!("{e:#}\n{}", self.log_tail(30)));
                    }
                    Ok(n) => last = format!("{n} message(s) in the INBOX"),
                    Err(e) => {
                        last = format!("{e:#}");
                        session = None;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{user} did not get {count} message(s) within {timeout:?} (last poll: {last})\n{}",
                    self.log_tail(40)
                );
            }
            // A poll costs a STATUS round trip; 50 ms keeps the wait short without
            // flooding Dovecot's log.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops Postfix and waits until all its processes are gone: SMTP submissions are
    /// refused until [`MailStack::start_postfix`]; queued mail stays in the queue.
    pub async fn stop_postfix(&mut self) {
        if let Some(mut postfix) = self.postfix.take() {
            postfix.stop().await;
        }
    }

    /// Starts Postfix again on the same SMTP port; queued mail is then delivered.
    pub async fn start_postfix(&mut self) {
        assert!(self.postfix.is_none(), "Postfix is already running");
        if let Err(e) = self.try_start_postfix().await {
            postfix::check_config(&PostfixFiles::new(&self.path));
            panic!("Postfix did not restart: {e}\n{}", self.log_tail(40));
        }
    }

    /// Waits until Postfix's queue holds no message (every accepted mail delivered into
    /// Dovecot, or bounced). Panics after `timeout` with the log tails.
    ///
    /// Postfix answers 250 once a message is safely queued, not once it is delivered:
    /// a test that then reads mailboxes, or runs the bot with a clock set ahead, must
    /// first let the queue drain or it races the delivery.
    pub async fn wait_for_empty_queue(&self, timeout: Duration) {
        let queue = PostfixFiles::new(&self.path).queue();
        let deadline = Instant::now() + timeout;
        loop {
            let queued: usize = ["maildrop", "incoming", "active", "deferred", "hold"]
                .iter()
                .map(|q| count_files(&queue.join(q)))
                .sum();
            if queued == 0 {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{queued} message(s) still in Postfix's queue after {timeout:?}\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Restarts Dovecot on the same ports: open IMAP connections drop, Postfix defers
    /// deliveries meanwhile and retries them within seconds. Takes about 1.1 s: Dovecot's
    /// master sleeps a hard-coded second when it shuts down gracefully.
    pub async fn restart_dovecot(&mut self) {
        if let Some(mut dovecot) = self.dovecot.take() {
            dovecot.stop().await;
        }
        if let Err(e) = self.try_start_dovecot().await {
            panic!("Dovecot did not restart: {e}\n{}", self.log_tail(40));
        }
    }

    /// Stops Dovecot: IMAP is refused and Postfix defers deliveries until
    /// [`MailStack::start_dovecot`].
    pub async fn stop_dovecot(&mut self) {
        if let Some(mut dovecot) = self.dovecot.take() {
            dovecot.stop().await;
        }
    }

    /// Starts Dovecot again on the same ports.
    pub async fn start_dovecot(&mut self) {
        assert!(self.dovecot.is_none(), "Dovecot is already running");
        if let Err(e) = self.try_start_dovecot().await {
            panic!("Dovecot did not start again: {e}\n{}", self.log_tail(40));
        }
    }

    /// The last `lines` lines of Dovecot's and of Postfix's logs (and of the masters'
    /// stderr, where configuration errors go), for diagnostics.
    pub fn log_tail(&self, lines: usize) -> String {
        let dovecot = DovecotFiles::new(&self.path);
        let postfix = PostfixFiles::new(&self.path);
        let mut out = format!("--- mail stack {} ---\n", self.path.display());
        for (title, file) in [
            ("dovecot stderr", dovecot.stderr()),
            ("dovecot log", dovecot.log()),
            ("postfix stderr", postfix.stderr()),
            ("postfix log", postfix.log()),
        ] {
            let text = fs::read_to_string(&file).unwrap_or_default();
            if text.is_empty() && title.ends_with("stderr") {
                continue;
            }
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!("--- {title} ({}) ---\n", file.display()));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    fn mail_root(&self) -> PathBuf {
        self.path.join("mail")
    }

    /// Writes the user and alias tables and creates every Maildir, owned by the account
    /// Dovecot delivers as, so `maildir()` exists before the first delivery.
    fn write_user_files(&self, aliases: &[(&str, &[&str])]) {
        let dovecot = DovecotFiles::new(&self.path);
        let postfix = PostfixFiles::new(&self.path);
        fs::create_dir_all(&dovecot.root).expect("create dovecot dir");
        fs::create_dir_all(postfix.conf()).expect("create postfix dir");

        let passwd: String = self
            .users
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{}\n", password_of(u)))
            .collect();
        write_readable(&dovecot.passwd(), &passwd);
        let mailboxes: String = self.users.iter().map(|u| format!("{u} OK\n")).collect();
        write_settled(&postfix.mailboxes(), &mailboxes);
        let aliases: String = aliases
            .iter()
            .map(|(list, members)| {
                let members: Vec<String> = members.iter().map(|m| m.to_lowercase()).collect();
                format!("{} {}\n", list.to_lowercase(), members.join(", "))
            })
            .collect();
        write_settled(&postfix.aliases(), &aliases);
        postfix::create_queue(&postfix).expect("create the Postfix queue");

        let (uid, gid) = system_user("nobody");
        let mail_root = self.mail_root();
        for dir in std::iter::once(mail_root.clone()).chain(self.users.iter().flat_map(|u| {
            let home = mail_root.join(u);
            let maildir = home.join("Maildir");
            [
                home,
                maildir.clone(),
                maildir.join("cur"),
                maildir.join("new"),
                maildir.join("tmp"),
            ]
        })) {
            fs::create_dir_all(&dir).expect("create maildir");
            chown(&dir, Some(uid), Some(gid)).expect("chown maildir");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod maildir");
        }
    }

    fn dovecot_config(&self) -> String {
        let files = DovecotFiles::new(&self.path);
        let mail_root = self.mail_root();
        let (uid, gid) = system_user("nobody");
        DovecotConfig {
            files: &files,
            mail_root: &mail_root,
            imap_port: self.imap_port,
            lmtp_port: self.lmtp_port,
            mail_uid: uid,
            mail_gid: gid,
            token: &self.token,
            tls: self.tls.as_ref().map(|t| (t, self.imaps_port)),
        }
        .render()
    }

    /// Starts Dovecot on the current ports and waits until IMAP and LMTP greet.
    async fn try_start_dovecot(&mut self) -> Result<(), NotReady> {
        let files = DovecotFiles::new(&self.path);
        write_readable(&files.config(), &self.dovecot_config());
        let mut daemon =
            dovecot::spawn(&files).unwrap_or_else(|e| panic!("cannot run dovecot: {e}"));
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = async {
            wait_until_ready(
                &mut daemon,
                self.imap_port,
                Greeting::Imap,
                &self.token,
                deadline,
            )
            .await?;
            wait_until_ready(
                &mut daemon,
                self.lmtp_port,
                Greeting::Smtp,
                &self.token,
                deadline,
            )
            .await
        }
        .await;
        // On failure the daemon is dropped here, which stops whatever did start.
        ready.map(|()| self.dovecot = Some(daemon))
    }

    /// Starts Postfix on the current SMTP port and waits until smtpd greets.
    async fn try_start_postfix(&mut self) -> Result<(), NotReady> {
        let files = PostfixFiles::new(&self.path);
        let config = PostfixConfig {
            files: &files,
            stack_dir: &self.path,
            smtp_port: self.smtp_port,
            lmtp_port: self.lmtp_port,
            domains: &self.domains,
            token: &self.token,
            tls: self.tls.as_ref().map(|t| (t, self.smtps_port)),
        };
        write_settled(&files.conf().join("main.cf"), &config.main_cf());
        write_settled(&files.conf().join("master.cf"), &config.master_cf());
        let mut daemon =
            postfix::spawn(&files).unwrap_or_else(|e| panic!("cannot run the postfix master: {e}"));
        let deadline = Instant::now() + READY_TIMEOUT;
        wait_until_ready(
            &mut daemon,
            self.smtp_port,
            Greeting::Smtp,
            &self.token,
            deadline,
        )
        .await
        .map(|()| self.postfix = Some(daemon))
    }

    /// Starts Dovecot on fresh ports, retrying with others while a start fails because a
    /// port was taken between picking and binding it.
    async fn start_dovecot_on_free_ports(&mut self) {
        let files = DovecotFiles::new(&self.path);
        for attempt in 1..=START_ATTEMPTS {
            self.imap_port = ports::free_port();
            self.lmtp_port = ports::free_port();
            if self.tls.is_some() {
                self.imaps_port = ports::free_port();
            }
            let since = (file_len(&files.log()), file_len(&files.stderr()));
            match self.try_start_dovecot().await {
                Ok(()) => return,
                Err(NotReady::Exited(_))
                    if attempt < START_ATTEMPTS
                        && (ports_taken(&[self.imap_port, self.lmtp_port, self.imaps_port])
                            || says_in_use(&[
                                (files.log(), since.0),
                                (files.stderr(), since.1),
                            ])) =>
                {
                    continue
                }
                Err(e) => panic!("Dovecot did not start: {e}\n{}", self.log_tail(40)),
            }
        }
    }

    /// Starts Postfix on a fresh SMTP port, retrying like [`Self::start_dovecot_on_free_ports`].
    async fn start_postfix_on_free_port(&mut self) {
        let files = PostfixFiles::new(&self.path);
        for attempt in 1..=START_ATTEMPTS {
            self.smtp_port = ports::free_port();
            if self.tls.is_some() {
                self.smtps_port = ports::free_port();
            }
            let since = (file_len(&files.log()), file_len(&files.stderr()));
            match self.try_start_postfix().await {
                Ok(()) => return,
                Err(NotReady::Exited(_))
                    if attempt < START_ATTEMPTS
                        && (ports_taken(&[self.smtp_port, self.smtps_port])
                            || says_in_use(&[
                                (files.log(), since.0),
                                (files.stderr(), since.1),
                            ])) =>
                {
                    continue
                }
                Err(e) => {
                    postfix::check_config(&files);
                    panic!("Postfix did not start: {e}\n{}", self.log_tail(40))
                }
            }
        }
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        // Both masters and all their workers are gone before the directory is removed,
        // also when the test panicked (Drop runs while unwinding). See Daemon::kill_now
        // for why this kills rather than stops.
        if let Some(mut postfix) = self.postfix.take() {
            postfix.kill_now();
        }
        if let Some(mut dovecot) = self.dovecot.take() {
            dovecot.kill_now();
        }
        if keep_requested() {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                let _ = writeln!(
                    std::io::stderr(),
                    "{KEEP_ENV}: kept the mail stack in {}",
                    path.display()
                );
            }
        }
    }
}

/// Fails early with a useful message where the stack cannot work at all.
fn preflight() {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the e2e mail tests run Postfix, whose master must start as root: run them as root (CI does)"
    );
    process::program("dovecot");
    process::program("postconf");
}

fn keep_requested() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Deterministic, so a test (or a developer with a kept stack) can log in without asking.
fn password_of(user: &str) -> String {
    let digest = Sha256::digest(format!("mail-ballot test password for {user}"));
    format!("pw-{}", &hex::encode(digest)[..16])
}

fn domain_of(address: &str) -> &str {
    address
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .unwrap_or_else(|| panic!("{address:?} is not a full address (user@domain)"))
}

/// Config and tables are read by the daemons' unprivileged processes, hence 0644.
fn write_readable(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
}

/// Writes a file for Postfix with an mtime a minute in the past.
///
/// Postfix re-reads a config file or texthash table until its mtime is over a second older
/// than the moment it started reading (the file might be mid-edit), dozing 300 ms a turn.
/// For files written just now that cost 1.5-2 s in the master and again in smtpd, per start.
/// Ours are complete once written, so they are backdated.
fn write_settled(path: &Path, contents: &str) {
    write_readable(path, contents);
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("backdate {}: {e}", path.display()));
}

/// Whether any of the ports is in use by someone else, asked right after our daemon exited
/// (and so released its own listeners).
fn ports_taken(ports: &[u16]) -> bool {
    ports
        .iter()
        .any(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_err())
}

/// Whether a log says "Address already in use" in what it got after the given offset.
fn says_in_use(logs: &[(PathBuf, u64)]) -> bool {
    logs.iter().any(|(path, offset)| {
        fs::read(path)
            .map(|bytes| {
                let start = (*offset as usize).min(bytes.len());
                String::from_utf8_lossy(&bytes[start..]).contains("Address already in use")
            })
            .unwrap_or(false)
    })
}

/// Regular files under `dir`, at any depth (Postfix hashes `deferred/` into
/// subdirectories); 0 when it cannot be read.
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}
