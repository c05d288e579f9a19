//! TLS end to end: the bot reads over IMAP with TLS from the first byte (993-style) and
//! with STARTTLS (143-style), and sends over SMTP with STARTTLS (587-style) and with TLS
//! from the first byte (465-style), trusting each stack's own private CA through
//! `ca_file`. And each way a connection can fail to be safe (a certificate for another
//! name, an expired one, one from an authority the bot was not told to trust, a server
//! without STARTTLS) stops it with one sentence saying which and what to set, on both
//! protocols, before a password or a mail is sent.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::committee::{member, plain_servers, reply, Client, Committee, BOT, WAIT};
use crate::harness::{MailStack, ServerCert, OTHER_NAME};

/// How a test's bot reaches the stack: the security of each protocol, and whether it
/// trusts only the private CA (`public_roots = false`) or it beside the public ones.
#[derive(Clone, Copy)]
pub struct Route {
    pub imap: &'static str,
    pub smtp: &'static str,
    pub only_private_ca: bool,
    /// Trust the stack's CA at all (`ca_file`).
    pub ca_file: bool,
}

/// The `[mailbox]` and `[outgoing]` tables for `route`; the IMAP password is read from
/// the file `imap-password` beside the configuration.
pub fn tls_servers(route: Route) -> impl FnOnce(&MailStack) -> (String, String) {
    move |stack| {
        let trust = match (route.ca_file, route.only_private_ca) {
            (false, _) => String::new(),
            (true, false) => format!("ca_file = \"{}\"\n", stack.ca_file().display()),
            (true, true) => format!(
                "ca_file = \"{}\"\npublic_roots = false\n",
                stack.ca_file().display()
            ),
        };
        let imap_port = match route.imap {
            "tls" => stack.imaps_port(),
            _ => stack.imap_port(),
        };
        let smtp_port = match route.smtp {
            "tls" => stack.smtps_port(),
            _ => stack.smtp_port(),
        };
        (
            format!(
                "host = \"127.0.0.1\"\nport = {imap_port}\nsecurity = \"{}\"\n{trust}user = \"{BOT}\"\npassword_file = \"imap-password\"\nidle = true\npoll_interval_secs = 2\ntimeout_secs = 15",
                route.imap
            ),
            format!(
                "host = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"{}\"\n{trust}timeout_secs = 15",
                route.smtp
            ),
        )
    }
}

/// Writes the bot's IMAP password where the configuration says it is, owner-only.
pub fn write_password(c: &Committee) {
    let path = c.config.parent().unwrap().join("imap-password");
    std::fs::write(&path, format!("{}\n", c.stack.password(BOT))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn dovecot_log(stack: &MailStack) -> String {
    std::fs::read_to_string(stack.dir().join("dovecot/dovecot.log")).unwrap_or_default()
}

fn postfix_log(stack: &MailStack) -> String {
    std::fs::read_to_string(stack.dir().join("postfix/postfix.log")).unwrap_or_default()
}

/// Opens a ballot, has member 1 answer it, reads the answer and sends the receipt, all
/// over `route`; then checks with the servers' own logs that the bot's IMAP login and
/// its mail went over TLS.
async fn a_ballot_runs_over(route: Route) {
    let c = Committee::start_tls(2, ServerCert::Valid, tls_servers(route), "").await;
    write_password(&c);
    let out = c.cli(
        &[
            "open",
            "--title",
            "予算承認",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "48h",
        ],
        None,
    );
    let r = out.split_whitespace().nth(1).unwrap().to_lowercase();
    let a = c
        .wait_for_id(&member(1), &format!("{r}.r1.announce."))
        .await;
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成です。",
            Client::Thunderbird,
            "t1@org1.test",
        ),
    )
    .await;
    // The announcement's copy through the list, and the answer.
    c.stack.wait_for_messages(BOT, 2, WAIT).await;
    let out = c.cli(&["poll"], None);
    assert!(out.contains("vote 1"), "{out}");
    c.cli(&["tick"], None);
    c.wait_for_id(&member(1), &format!("{r}.r1.receipt.")).await;

    // The servers' own word that the bot's sessions were encrypted. The harness reads
    // and submits in plain text, so every TLS session in their logs is the bot's:
    // Dovecot marks a login over TLS (from the first byte or after STARTTLS) ", TLS,",
    // Postfix logs each TLS session it accepts (smtpd_tls_loglevel = 1).
    let tls_logins = dovecot_log(&c.stack)
        .lines()
        .filter(|l| {
            l.contains("imap-login: Info: Login:")
                && l.contains(&format!("user=<{BOT}>"))
                && l.contains(", TLS")
        })
        .count();
    assert!(tls_logins >= 1, "{}", c.stack.log_tail(40));
    let log = postfix_log(&c.stack);
    assert!(
        log.contains("TLS connection established from"),
        "no TLS session:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_is_read_over_imaps_and_answered_over_smtp_starttls() {
    a_ballot_runs_over(Route {
        imap: "tls",
        smtp: "starttls",
        only_private_ca: false,
        ca_file: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_is_read_over_imap_starttls_and_answered_over_smtps() {
    a_ballot_runs_over(Route {
        imap: "starttls",
        smtp: "tls",
        only_private_ca: false,
        ca_file: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_runs_over_starttls_on_both_trusting_only_the_private_ca() {
    a_ballot_runs_over(Route {
        imap: "starttls",
        smtp: "starttls",
        only_private_ca: true,
        ca_file: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_runs_over_imaps_and_smtps_trusting_only_the_private_ca() {
    a_ballot_runs_over(Route {
        imap: "tls",
        smtp: "tls",
        only_private_ca: true,
        ca_file: true,
    })
    .await;
}

/// Runs `poll` (IMAP) and `open` (which sends the announcement at once over SMTP) on a
/// committee whose connections cannot be made safe; returns what each said, and checks
/// that nothing was logged in to or sent.
fn both_refuse(c: &Committee) -> (String, String) {
    let poll = c.try_cli(&["poll"], None);
    assert!(!poll.status.success(), "poll succeeded");
    let poll = String::from_utf8_lossy(&poll.stderr).into_owned();
    let open = c.try_cli(
        &[
            "open",
            "--title",
            "予算承認",
            "--body",
            "予算案を承認する。",
            "--deadline",
            "48h",
        ],
        None,
    );
    // The ballot is open and its mail waits in the outbox for a connection that can be
    // made safe.
    assert!(open.status.success(), "{open:?}");
    let sent = String::from_utf8_lossy(&open.stderr).into_owned();
    assert!(sent.contains("sending failed; will retry"), "{sent}");
    assert!(
        !dovecot_log(&c.stack).contains("imap-login: Info: Login:"),
        "the bot logged in:\n{}",
        dovecot_log(&c.stack)
    );
    (poll, sent)
}

/// The stderr line of a CLI error: exactly one line, for the admin to read.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused_saying_which_names_it_holds() {
    let route = Route {
        imap: "tls",
        smtp: "starttls",
        only_private_ca: false,
        ca_file: true,
    };
    let c = Committee::start_tls(2, ServerCert::ForAnotherName, tls_servers(route), "").await;
    write_password(&c);
    let (poll, sent) = both_refuse(&c);
    assert_eq!(
        one_line(&poll),
        format!(
            "error: the certificate of 127.0.0.1:{} is not valid for the name 127.0.0.1 (it holds {OTHER_NAME}); set [mailbox] host to one of those",
            c.stack.imaps_port()
        )
    );
    assert!(
        sent.contains(&format!(
            "the certificate of 127.0.0.1:{} is not valid for the name 127.0.0.1 (it holds {OTHER_NAME}); set [outgoing] host to one of those",
            c.stack.smtp_port()
        )),
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused_with_the_day_it_expired() {
    let route = Route {
        imap: "starttls",
        smtp: "tls",
        only_private_ca: true,
        ca_file: true,
    };
    let c = Committee::start_tls(2, ServerCert::Expired, tls_servers(route), "").await;
    write_password(&c);
    let (poll, sent) = both_refuse(&c);
    assert_eq!(
        one_line(&poll),
        format!(
            "error: the certificate of 127.0.0.1:{} expired on 2021-01-01 00:00 UTC; the server's administrator must renew it (an expired certificate is never accepted)",
            c.stack.imap_port()
        )
    );
    assert!(
        sent.contains(&format!(
            "the certificate of 127.0.0.1:{} expired on 2021-01-01 00:00 UTC",
            c.stack.smtps_port()
        )),
        "{sent}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_authority_without_ca_file_is_refused_saying_to_set_ca_file() {
    let route = Route {
        imap: "starttls",
        smtp: "starttls",
        only_private_ca: false,
        ca_file: false,
    };
    let c = Committee::start_tls(2, ServerCert::Valid, tls_servers(route), "").await;
    write_password(&c);
    let (poll, sent) = both_refuse(&c);
    assert_eq!(
        one_line(&poll),
        format!(
            "error: the certificate of 127.0.0.1:{} is not signed by an authority this machine trusts (a self-signed certificate, or a private certificate authority); set [mailbox] ca_file to the PEM file of the authority that signed it",
            c.stack.imap_port()
        )
    );
    assert!(
        sent.contains(&format!(
            "the certificate of 127.0.0.1:{} is not signed by an authority this machine trusts (a self-signed certificate, or a private certificate authority); set [outgoing] ca_file",
            c.stack.smtp_port()
        )),
        "{sent}"
    );

    // The daemon's log says the same for its reader, and the daemon keeps running to
    // try again. (Its sender logs the line `open` printed above, from the same worker,
    // when the announcement's retry comes due.)
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);
    let deadline = std::time::Instant::now() + WAIT;
    let logged = loop {
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        if logged
            .lines()
            .filter(|l| {
                l.contains("cannot read the mailbox; will retry")
                    && l.contains("set [mailbox] ca_file")
            })
            .count()
            >= 2
        {
            break logged;
        }
        assert!(std::time::Instant::now() < deadline, "{logged}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon stopped:\n{logged}"
    );
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_starttls_is_refused_and_tls_on_a_plain_port_says_to_use_starttls() {
    // The plain stack's servers offer no STARTTLS.
    let c = Committee::start_on(
        2,
        None,
        |stack| {
            let (mailbox, outgoing) = plain_servers(stack);
            (
                mailbox.replace("security = \"plain\"", "security = \"starttls\""),
                outgoing.replace("security = \"plain\"", "security = \"starttls\""),
            )
        },
        "",
    )
    .await;
    let (poll, sent) = both_refuse(&c);
    assert_eq!(
        one_line(&poll),
        format!(
            "error: 127.0.0.1:{} does not offer STARTTLS, and the bot never sends a password or mail in plain text; if the server offers TLS from the first byte (usually port 993 for IMAP, 465 for SMTP), set [mailbox] security = \"tls\" and that port",
            c.stack.imap_port()
        )
    );
    assert!(
        sent.contains(&format!(
            "127.0.0.1:{} does not offer STARTTLS, and the bot never sends a password or mail in plain text; if the server offers TLS from the first byte (usually port 993 for IMAP, 465 for SMTP), set [outgoing] security = \"tls\" and that port",
            c.stack.smtp_port()
        )),
        "{sent}"
    );

    // TLS from the first byte on those plain ports: the servers' greetings in clear
    // are no TLS.
    let config = std::fs::read_to_string(&c.config)
        .unwrap()
        .replace("security = \"starttls\"", "security = \"tls\"");
    std::fs::write(&c.config, config).unwrap();
    let poll = c.try_cli(&["poll"], None);
    assert_eq!(
        one_line(&String::from_utf8_lossy(&poll.stderr)),
        format!(
            "error: 127.0.0.1:{} did not answer in TLS; if that port expects STARTTLS (usually 143 for IMAP, 587 for SMTP), set [mailbox] security = \"starttls\"",
            c.stack.imap_port()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_file_readable_by_every_user_is_refused_before_any_login() {
    let route = Route {
        imap: "tls",
        smtp: "tls",
        only_private_ca: true,
        ca_file: true,
    };
    let c = Committee::start_tls(2, ServerCert::Valid, tls_servers(route), "").await;
    write_password(&c);
    let path = c.config.parent().unwrap().join("imap-password");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let poll = c.try_cli(&["poll"], None);
    let stderr = String::from_utf8_lossy(&poll.stderr);
    assert_eq!(
        one_line(&stderr),
        format!(
            "error: [mailbox] password_file: the secret file {} is readable by every user of this machine (mode 0644); make it readable by its owner only (chmod 600) or its group (chmod 640)",
            path.display()
        )
    );
    assert!(!stderr.contains(&c.stack.password(BOT)), "{stderr}");
    assert!(!dovecot_log(&c.stack).contains("imap-login: Info: Login:"));
    let check = c.try_cli(&["check-config"], None);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("readable by every user")
            || String::from_utf8_lossy(&check.stderr).contains("readable by every user"),
        "{check:?}"
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    c.cli(&["poll"], None);
    assert!(Path::new(&path).exists());
}
