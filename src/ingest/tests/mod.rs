//! The ingest through `process` and `poll`, on an in-memory database: what
//! each kind of message records, mails and reports.

mod answers;
mod batch;
mod copies;
mod officials;
mod security;

use crate::admin::{self, OpenRequest};
use crate::disposition::Disposition;
use crate::domain::BallotRef;
use crate::mailbox::Fetched;
use crate::store::Store;
use crate::testkit::{fetched, reply, TestApp};

use super::{poll, process, Processed};

pub(super) const SRC: &str = "test";

pub(super) async fn open_ballot(t: &TestApp) -> BallotRef {
    let req = OpenRequest {
        title: "新規会員の加盟承認".into(),
        motion: "株式会社サンプルの加盟を承認する。".into(),
        kind: None,
        deadline: Some("2026-11-29 17:00".parse().unwrap()),
    };
    admin::open(&t.app, &req, "cli", t.app.now())
        .await
        .unwrap()
        .reference
}

pub(super) async fn feed(t: &TestApp, key: &str, raw: Vec<u8>, at: &str) -> Processed {
    process(&t.app, SRC, &fetched(key, raw, at), None, t.app.now())
        .await
        .unwrap()
}

pub(super) fn subject(r: BallotRef) -> String {
    format!("Re: [{r}] 【メール審議】新規会員の加盟承認")
}

pub(super) async fn mails(t: &TestApp, kind: &str) -> Vec<crate::store::OutboxMail> {
    t.app
        .store
        .outbox(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

pub(super) fn with_verifier(t: &mut TestApp, accept: &[crate::verify::policy::Method]) {
    use crate::app::Verifier;
    use crate::verify::policy::PolicyConfig;
    let dkim = crate::verify::dkim::DkimVerifier::offline().unwrap();
    t.app.verifier = Some(Verifier {
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
        dkim: Some(dkim),
    });
}

pub(super) fn text(m: &crate::store::OutboxMail) -> String {
    let parsed = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
    parsed.body_text(0).unwrap().to_string()
}

pub(super) fn token_address(t: &TestApp, r: BallotRef, round: u32, org: &str) -> String {
    let v = t.app.verifier.as_ref().unwrap();
    let tok = crate::verify::token::token(
        v.token_key.as_ref().unwrap(),
        r,
        round,
        &crate::domain::OrgId::parse(org).unwrap(),
    );
    crate::verify::token::reply_address(&t.app.config.addresses.bot, &tok).to_string()
}

pub(super) fn to(raw: Vec<u8>, addr: &str) -> Vec<u8> {
    String::from_utf8(raw)
        .unwrap()
        .replace("To: ballot@committee.example", &format!("To: {addr}"))
        .into_bytes()
}
