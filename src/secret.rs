//! Secrets: passwords and keys, and where each is kept.
//!
//! A shared type: the configuration names a secret ([`SecretRef`]), the mail
//! adapters and the ballot tokens use it ([`Secret`]). It lives on its own so
//! that the pure core (tokens, the verification policy) can take a secret
//! without importing the module that reads the configuration file. Neither
//! type ever prints the secret itself, so a secret cannot reach a log line
//! through `{:?}`.
//!
//! A secret is never written in the configuration file: it names an
//! environment variable, a file, or a systemd credential (a file in
//! `$CREDENTIALS_DIRECTORY`, which systemd fills from `LoadCredential=` or
//! `LoadCredentialEncrypted=` and only the service can read). A file is read
//! at each [`SecretRef::read`]: the IMAP reader reads at each login, so a
//! rotated password is picked up without a restart; the SMTP transport reads
//! once, when it is built, since lettre keeps the credentials for its pool.

use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable in which systemd tells a service where its
/// credentials are (systemd.exec(5), "Credentials").
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A secret file larger than this is not a password or a key but a file named
/// by mistake (a certificate bundle, a log): refused rather than sent to a
/// server as a password.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a secret is kept. The secret itself is read only when needed and
/// never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable, by name (`password_env`).
    Env(String),
    /// A file holding only the secret (`password_file`); one line end at its
    /// end is not part of it.
    File(PathBuf),
    /// A systemd credential by name (`password_credential`): the file of that
    /// name in `$CREDENTIALS_DIRECTORY`.
    Credential(String),
}

/// Why a secret could not be read: one sentence naming where it was looked for,
/// never quoting what was found there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the environment variable {0} is not set")]
    EnvUnset(String),
    #[error("the environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("the environment variable {0} is not text (UTF-8)")]
    EnvNotText(String),
    #[error("the secret file {0} does not exist")]
    Missing(PathBuf),
    #[error("the secret file {0} cannot be read: {1}")]
    Unreadable(PathBuf, String),
    #[error("the secret file {0} is readable by every user of this machine (mode {1:04o}); make it readable by its owner only (chmod 600) or its group (chmod 640)")]
    ReadableByOthers(PathBuf, u32),
    #[error("the secret file {0} is empty")]
    FileEmpty(PathBuf),
    #[error("the secret file {0} is not a secret: it is larger than {MAX_SECRET_BYTES} bytes")]
    TooLarge(PathBuf),
    #[error("the secret file {0} is not text (UTF-8)")]
    NotText(PathBuf),
    #[error("the systemd credential {0} cannot be read: ${CREDENTIALS_DIRECTORY} is not set (give the service LoadCredential={0}:/path/to/file, or run it with that variable set)")]
    NoCredentialsDirectory(String),
}

impl SecretRef {
    /// Reads the secret from where it is kept.
    pub fn read(&self) -> Result<Secret, SecretError> {
        self.read_with(&|name| std::env::var_os(name))
    }

    /// [`SecretRef::read`] with the environment given, so tests need not
    /// change the process's own (which other tests read at the same time).
    fn read_with(&self, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(name) => match env(name).map(OsString::into_string) {
                Some(Ok(v)) if !v.is_empty() => Ok(Secret(v)),
                Some(Ok(_)) => Err(SecretError::EnvEmpty(name.clone())),
                Some(Err(_)) => Err(SecretError::EnvNotText(name.clone())),
                None => Err(SecretError::EnvUnset(name.clone())),
            },
            SecretRef::File(path) => read_file(path),
            SecretRef::Credential(name) => {
                let dir = env(CREDENTIALS_DIRECTORY)
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| SecretError::NoCredentialsDirectory(name.clone()))?;
                read_file(&Path::new(&dir).join(name))
            }
        }
    }

    /// The configuration key this source is written with, after `prefix`
    /// (`password` gives `password_env`, `password_file` or
    /// `password_credential`): for messages that name the key.
    pub fn key(&self, prefix: &str) -> String {
        match self {
            SecretRef::Env(_) => format!("{prefix}_env"),
            SecretRef::File(_) => format!("{prefix}_file"),
            SecretRef::Credential(_) => format!("{prefix}_credential"),
        }
    }
}

/// Reads a secret file: it must exist, be readable by us and not by every
/// user of the machine, hold text, and hold something.
///
/// A file readable by all is refused, not warned about: a warning goes to a log
/// nobody reads while the password stays readable by every account on the
/// machine. Readable by a group is allowed: `root:mail-ballot 0640` is how
/// administrators commonly hand a service its secret without giving it the
/// file.
fn read_file(path: &Path) -> Result<Secret, SecretError> {
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => SecretError::Missing(path.to_path_buf()),
        _ => SecretError::Unreadable(path.to_path_buf(), e.to_string()),
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(SecretError::Unreadable(
            path.to_path_buf(),
            "it is a folder".into(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o004 != 0 {
            return Err(SecretError::ReadableByOthers(path.to_path_buf(), mode));
        }
    }
    let mut bytes = Vec::new();
    file.by_ref()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge(path.to_path_buf()));
    }
    let mut text =
        String::from_utf8(bytes).map_err(|_| SecretError::NotText(path.to_path_buf()))?;
    // `echo secret > file` and editors end the file with a line end, which is
    // not part of the password. Only one: anything else is the secret's own.
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    if text.is_empty() {
        return Err(SecretError::FileEmpty(path.to_path_buf()));
    }
    Ok(Secret(text))
}

/// A password or key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (for tests and for secrets read elsewhere).
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: call only where it is handed to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn secret_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, contents).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_password_file_is_read_without_its_final_line_end() {
        let dir = tempfile::tempdir().unwrap();
        for (contents, expected) in [
            (&b"hunter2\n"[..], "hunter2"),
            (b"hunter2\r\n", "hunter2"),
            (b"hunter2", "hunter2"),
            (b" two words \n\n", " two words \n"),
        ] {
            let p = secret_file(dir.path(), "pw", contents, 0o600);
            assert_eq!(SecretRef::File(p).read().unwrap().expose(), expected);
        }
    }

    #[test]
    fn a_group_readable_password_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let p = secret_file(dir.path(), "pw", b"hunter2\n", 0o640);
        assert_eq!(SecretRef::File(p).read().unwrap().expose(), "hunter2");
    }

    #[test]
    fn a_password_file_readable_by_every_user_is_refused_in_one_sentence() {
        let dir = tempfile::tempdir().unwrap();
        let p = secret_file(dir.path(), "pw", b"hunter2\n", 0o644);
        let e = SecretRef::File(p.clone()).read().unwrap_err();
        assert_eq!(e, SecretError::ReadableByOthers(p, 0o644));
        let text = e.to_string();
        assert!(text.contains("readable by every user"), "{text}");
        assert!(text.contains("chmod 600"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_missing_password_file_says_it_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nowhere");
        let e = SecretRef::File(p.clone()).read().unwrap_err();
        assert_eq!(e, SecretError::Missing(p.clone()));
        assert_eq!(
            e.to_string(),
            format!("the secret file {} does not exist", p.display())
        );
    }

    #[test]
    fn an_unreadable_password_file_says_why() {
        let dir = tempfile::tempdir().unwrap();
        // A folder in place of the file: unreadable as a secret whoever we are
        // (a mode 000 file is readable by root, who runs the tests).
        let e = SecretRef::File(dir.path().to_path_buf())
            .read()
            .unwrap_err();
        assert!(
            matches!(&e, SecretError::Unreadable(p, why) if p == dir.path() && why.contains("folder")),
            "{e}"
        );
    }

    #[test]
    fn an_empty_password_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for contents in [&b""[..], b"\n", b"\r\n"] {
            let p = secret_file(dir.path(), "pw", contents, 0o600);
            assert_eq!(
                SecretRef::File(p.clone()).read().unwrap_err(),
                SecretError::FileEmpty(p)
            );
        }
    }

    #[test]
    fn a_large_or_binary_file_is_not_taken_for_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let big = secret_file(dir.path(), "big", &vec![b'a'; 70_000], 0o600);
        assert_eq!(
            SecretRef::File(big.clone()).read().unwrap_err(),
            SecretError::TooLarge(big)
        );
        let binary = secret_file(dir.path(), "bin", &[0xff, 0xfe, 0x00], 0o600);
        assert_eq!(
            SecretRef::File(binary.clone()).read().unwrap_err(),
            SecretError::NotText(binary)
        );
    }

    #[test]
    fn a_systemd_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "imap-password", b"hunter2\n", 0o400);
        let env =
            |name: &str| (name == CREDENTIALS_DIRECTORY).then(|| dir.path().as_os_str().to_owned());
        let found = SecretRef::Credential("imap-password".into()).read_with(&env);
        assert_eq!(found.unwrap().expose(), "hunter2");
        let absent = SecretRef::Credential("smtp-password".into())
            .read_with(&env)
            .unwrap_err();
        assert_eq!(
            absent,
            SecretError::Missing(dir.path().join("smtp-password"))
        );
    }

    #[test]
    fn a_credential_outside_systemd_says_what_to_set() {
        let e = SecretRef::Credential("imap-password".into())
            .read_with(&|_| None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the systemd credential imap-password cannot be read: $CREDENTIALS_DIRECTORY is not set (give the service LoadCredential=imap-password:/path/to/file, or run it with that variable set)"
        );
    }

    #[test]
    fn an_environment_variable_must_be_set_and_not_empty() {
        let r = SecretRef::Env("MAIL_BALLOT_X".into());
        assert_eq!(
            r.read_with(&|_| None).unwrap_err(),
            SecretError::EnvUnset("MAIL_BALLOT_X".into())
        );
        assert_eq!(
            r.read_with(&|_| Some(OsString::new())).unwrap_err(),
            SecretError::EnvEmpty("MAIL_BALLOT_X".into())
        );
        assert_eq!(
            r.read_with(&|_| Some("hunter2".into())).unwrap().expose(),
            "hunter2"
        );
    }

    #[test]
    fn the_key_names_where_the_secret_is_kept() {
        assert_eq!(SecretRef::Env("X".into()).key("password"), "password_env");
        assert_eq!(
            SecretRef::File("/x".into()).key("password"),
            "password_file"
        );
        assert_eq!(
            SecretRef::Credential("x".into()).key("password"),
            "password_credential"
        );
    }
}
