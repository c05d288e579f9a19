//! What the daemon's log shows when things go wrong: a recipient the relay
//! refuses is logged with its address redacted (the outbox row keeps the
//! server's whole answer for the admin), in text and in JSON. And what it never
//! shows, at any level: a password, a reply token, an address or a body.

use std::time::Duration;

use crate::committee::{
    member, reply, subject_of, Client, Committee, BOT, CHAIR, LIST, TOKEN_KEY, WAIT,
};
use crate::harness::ServerCert;
use crate::tls::{tls_servers, write_password, Route};

/// An alternate address of org01 that the mail server does not know: Postfix
/// refuses it at RCPT TO with `550 5.1.1 <ghost@org1.test>: ... User unknown`.
const GHOST: &str = "ghost@org1.test";

async fn a_refused_receipt_under_the_daemon(json: bool) -> (Committee, String) {
    let c = Committee::start(3).await;
    let dir = c.config.parent().unwrap().to_path_buf();
    let roster = std::fs::read_to_string(dir.join("roster.toml"))
        .unwrap()
        .replacen(
            &format!("representative = \"{}\"\n", member(1)),
            &format!(
                "representative = \"{}\"\nalternates = [\"{GHOST}\"]\n",
                member(1)
            ),
            1,
        );
    assert!(roster.contains(GHOST));
    std::fs::write(dir.join("roster.toml"), roster).unwrap();
    if json {
        let config = std::fs::read_to_string(&c.config).unwrap().replacen(
            "level = \"info\"",
            "level = \"info\"\nformat = \"json\"",
            1,
        );
        std::fs::write(&c.config, config).unwrap();
    }
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);

    let r = c.open_budget(None);
    let prefix = format!("{}.r1.", r.to_lowercase());
    let a = c
        .wait_for_id(&member(1), &format!("{prefix}announce."))
        .await;
    c.send(
        &member(1),
        &reply(
            &a,
            &member(1),
            "賛成です。",
            Client::Thunderbird,
            "g1@org1.test",
        ),
    )
    .await;

    // The daemon counts the vote and tries the receipt, which the relay refuses.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let receipt = loop {
        let v = c.show(&r);
        let refused = v["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "receipt" && !m["failed_at"].is_null())
            .cloned();
        if let Some(m) = refused {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refused receipt: {:#}\n{}",
            v["outbox"],
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The admin sees the server's whole answer in the record.
    let why = receipt["last_error"].as_str().unwrap();
    assert!(why.contains(GHOST), "{why}");
    assert_eq!(c.show(&r)["votes"].as_array().unwrap().len(), 1);

    // Give the daemon a moment to write its warning, then stop it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    (c, std::fs::read_to_string(&log).unwrap())
}

/// No address of the committee, and no vote, anywhere in the log.
fn assert_no_member_data(logged: &str) {
    let members: Vec<String> = (1..=3).map(member).collect();
    let mut secrets: Vec<&str> = members.iter().map(String::as_str).collect();
    secrets.extend([
        GHOST,
        LIST,
        CHAIR,
        "@org1.test",
        "@org2.test",
        "賛成",
        "予算",
    ]);
    for s in secrets {
        assert!(!logged.contains(s), "the log shows `{s}`:\n{logged}");
    }
    // The bot's own address is the only one a log line may name.
    for word in logged.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>') {
        if word.contains('@') {
            assert!(
                word.contains(BOT),
                "the log shows an address `{word}`:\n{logged}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_is_logged_without_any_members_address() {
    let (_c, logged) = a_refused_receipt_under_the_daemon(false).await;
    assert!(
        logged.contains("the server refused a mail for good"),
        "{logged}"
    );
    assert!(logged.contains("<address>"), "{logged}");
    assert_no_member_data(&logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_json_object_a_line_and_as_discreet() {
    let (_c, logged) = a_refused_receipt_under_the_daemon(true).await;
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{logged}"))
        })
        .collect();
    assert!(lines.len() >= 2, "{logged}");
    assert!(lines
        .iter()
        .all(|l| l["level"].is_string() && l["fields"].is_object()));
    let refused = lines
        .iter()
        .find(|l| l["fields"]["message"] == "the server refused a mail for good")
        .unwrap_or_else(|| panic!("no refusal logged:\n{logged}"));
    assert_eq!(refused["level"], "WARN");
    assert!(
        refused["fields"]["error"]
            .as_str()
            .unwrap()
            .contains("<address>"),
        "{refused}"
    );
    assert_no_member_data(&logged);
}

/// The address inside `<…>`, or the whole value.
fn address(header: &str) -> String {
    match (header.find('<'), header.find('>')) {
        (Some(a), Some(b)) if a < b => header[a + 1..b].to_string(),
        _ => header.trim().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_log_shows_no_password_token_address_or_body() {
    let c = Committee::start_with(3, TOKEN_POLICY).await;
    a_trace_log_is_discreet(c).await;
}

/// The same over TLS (IMAP after STARTTLS, SMTP from the first byte), the IMAP password
/// read from a file: rustls at trace sees the login and every message in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_log_over_tls_shows_no_password_from_a_file_token_address_or_body() {
    let route = Route {
        imap: "starttls",
        smtp: "tls",
        only_private_ca: true,
        ca_file: true,
    };
    let c = Committee::start_tls(3, ServerCert::Valid, tls_servers(route), TOKEN_POLICY).await;
    write_password(&c);
    a_trace_log_is_discreet(c).await;
}

const TOKEN_POLICY: &str =
    "[verification]\naccept = [\"token\"]\ntoken_secret_env = \"MAIL_BALLOT_TOKEN_KEY\"\n";

/// Runs the daemon at trace, every library named, through a counted answer and an
/// unverified one, and checks the log for every secret and personal datum.
async fn a_trace_log_is_discreet(c: Committee) {
    // Everything, the libraries' own lines named too: what an admin chasing a
    // fault might set. The IMAP library writes each command it sends (LOGIN
    // with the password) and each response (whole messages) at trace.
    let config = std::fs::read_to_string(&c.config).unwrap().replacen(
        "level = \"info\"",
        "level = \"trace,async_imap=trace,imap_proto=trace,rustls=trace,tokio_rustls=trace,sqlx=trace,lettre=trace\"",
        1,
    );
    std::fs::write(&c.config, config).unwrap();
    let log = c.stack.dir().join("daemon.log");
    let mut daemon = c.daemon(&log);

    let r = c.open_budget(None);
    let year = &r[2..6];
    let personal = c
        .wait_for_id(&member(1), &format!("b-{year}-001.r1.personal."))
        .await;
    let reply_to = address(&personal.header("Reply-To").unwrap());
    let token = reply_to
        .strip_prefix("bot+")
        .and_then(|t| t.split('@').next())
        .unwrap()
        .to_string();
    assert!(token.len() >= 16, "{reply_to}");
    let list_copy = c
        .wait_for_id(&member(2), &format!("b-{year}-001.r1.announce."))
        .await;

    // org01 answers its personal ballot (counted), org02 the list's copy, which
    // carries no token (recorded, not counted, and org02 told); each body has a
    // phrase of its own.
    const PHRASE_1: &str = "理事会で確認のうえ賛成いたします";
    const PHRASE_2: &str = "持ち帰り検討の結果反対です";
    let personal_reply = String::from_utf8(reply(
        &personal,
        &member(1),
        PHRASE_1,
        Client::Thunderbird,
        "t1@org1.test",
    ))
    .unwrap()
    .replace(&format!("To: <{BOT}>"), &format!("To: <{reply_to}>"));
    c.stack
        .send(&member(1), &[&reply_to], personal_reply.as_bytes())
        .await;
    c.send(
        &member(2),
        &reply(
            &list_copy,
            &member(2),
            PHRASE_2,
            Client::Thunderbird,
            "t2@org2.test",
        ),
    )
    .await;

    // The daemon answers both (over SMTP, at trace).
    for (i, kind) in [(1, ".receipt."), (2, ".unverified.")] {
        let deadline = std::time::Instant::now() + WAIT;
        while !c
            .stack
            .messages(&member(i))
            .await
            .iter()
            .any(|m| m.header("Message-ID").is_some_and(|id| id.contains(kind)))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no {kind} mail reached member {i}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(c.show(&r)["votes"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();

    // The level took: our own debug lines are there.
    assert!(logged.contains("DEBUG"), "{logged}");
    assert!(logged.contains("batch committed"), "{logged}");
    let password = c.stack.password(BOT);
    let subject = subject_of(&personal);
    for (what, secret) in [
        ("the IMAP password", password.as_str()),
        ("the reply token", token.as_str()),
        ("the token key", TOKEN_KEY),
        ("a reply's body", PHRASE_1),
        ("a reply's body", PHRASE_2),
        ("the ballot's subject", subject.as_str()),
        ("a reply's Message-ID", "t1@org1.test"),
    ] {
        assert!(
            !logged.contains(secret),
            "the log shows {what} `{secret}`:\n{logged}"
        );
    }
    assert_no_member_data(&logged);
}
