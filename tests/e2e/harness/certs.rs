//! A private certificate authority and the servers' certificate, made for each TLS stack.
//!
//! Made in Rust with rcgen (its ring backend, the one rustls already uses), so nothing
//! outside the test binary is needed and every stack has a CA of its own: a test that
//! trusts one stack's CA cannot pass by trusting another's.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The certificate the stack's servers present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// For `localhost` and `127.0.0.1`, valid from 2024 to 2099.
    Valid,
    /// For the same names, but it ended on 1 January 2021.
    Expired,
    /// Valid, but for `mail.elsewhere.test` only: not for the address the tests connect to.
    ForAnotherName,
}

/// The name a [`ServerCert::ForAnotherName`] certificate holds.
pub const OTHER_NAME: &str = "mail.elsewhere.test";

/// Where a stack's TLS files are.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The CA's certificate (PEM): what mail-ballot's `ca_file` names.
    pub ca: PathBuf,
    /// The server's certificate followed by the CA's (PEM).
    pub chain: PathBuf,
    /// The server's private key (PKCS#8 PEM), owner-only.
    pub key: PathBuf,
}

/// Makes a CA and a server certificate of the given kind, signed by it, under `dir`.
pub fn make(dir: &Path, kind: ServerCert) -> CertFiles {
    fs::create_dir_all(dir).expect("create the TLS directory");
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "mail-ballot e2e test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = date_time_ymd(2020, 1, 1);
    ca.not_after = date_time_ymd(2099, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).expect("the CA's certificate");
    let issuer = Issuer::new(ca, ca_key);

    let names: Vec<String> = match kind {
        ServerCert::ForAnotherName => vec![OTHER_NAME.into()],
        ServerCert::Valid | ServerCert::Expired => vec!["localhost".into()],
    };
    let mut server = CertificateParams::new(names).expect("server parameters");
    if kind != ServerCert::ForAnotherName {
        server
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    server
        .distinguished_name
        .push(DnType::CommonName, "mail-ballot e2e test server");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (server.not_before, server.not_after) = match kind {
        ServerCert::Expired => (date_time_ymd(2020, 1, 1), date_time_ymd(2021, 1, 1)),
        _ => (date_time_ymd(2024, 1, 1), date_time_ymd(2099, 1, 1)),
    };
    let server_key = KeyPair::generate().expect("a server key");
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .expect("the server's certificate");

    let files = CertFiles {
        ca: dir.join("ca.pem"),
        chain: dir.join("server-chain.pem"),
        key: dir.join("server-key.pem"),
    };
    write(&files.ca, &ca_cert.pem(), 0o644);
    write(
        &files.chain,
        &format!("{}{}", server_cert.pem(), ca_cert.pem()),
        0o644,
    );
    // Read by Dovecot's and Postfix's masters, which start as root.
    write(&files.key, &server_key.serialize_pem(), 0o600);
    files
}

fn write(path: &Path, contents: &str, mode: u32) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}
