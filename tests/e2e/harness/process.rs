//! The daemons of a mail stack as child processes: stopped together with every process
//! they forked, and never outliving the test process, however it ends.
//!
//! Dovecot's and Postfix's master processes fork workers (imap-login, lmtp, smtpd, qmgr...).
//! Killing only the master can leave a worker holding a listening socket or a queue file,
//! so each master leads a process group of its own and a stop waits until no live process
//! of that group is left.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a master gets to shut down on SIGTERM before its group is SIGKILLed.
const GRACE: Duration = Duration::from_secs(10);
/// How long workers left behind by an exited master get to exit on SIGTERM.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// How often a stop looks whether the group is gone: a condition check, not a fixed wait.
const POLL: Duration = Duration::from_millis(10);

/// The watchdog's script: wait for EOF on stdin, then stop the group given as `$1`.
/// INT and HUP are ignored so that a Ctrl-C in the terminal, which also reaches this
/// process, cannot end the watchdog before the test process it watches.
const WATCHDOG: &str = r#"trap '' INT HUP
read -r line
kill -s TERM -- "-$1" 2>/dev/null
sleep 2
kill -s KILL -- "-$1" 2>/dev/null"#;

/// Whether [`Daemon::spawn`] puts the child into a process group of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewGroup {
    Yes,
    /// The program makes its own session (setsid), as Postfix's master does.
    No,
}

/// A running master process (Dovecot or Postfix), its process group, and its watchdog.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Child,
    status: Option<ExitStatus>,
    stopped: bool,
    /// A `sh` that stops the group when the test process dies, even by SIGKILL (a CI
    /// timeout, a developer's kill -9), when no Drop runs. It reads a pipe whose only
    /// writer is this process (std opens pipes close-on-exec, so no daemon inherits it):
    /// the kernel closes it when this process dies, and the read returns.
    ///
    /// PR_SET_PDEATHSIG would be simpler but does not hold: Postfix's master changes its
    /// credentials at start, which clears it (Dovecot keeps it; Postfix outlived a killed test).
    watchdog: Option<(Child, ChildStdin)>,
}

impl Daemon {
    /// Spawns `command` with stdin closed, stdout and stderr appended to `output` (never
    /// inherited: a daemon holding the test's stdout open would keep `cargo test | tee`
    /// waiting after the tests end), then its watchdog.
    ///
    /// `group`: whether to make the child the leader of a new process group. Dovecot needs
    /// it; Postfix's master must not get it, because it calls setsid(2) itself, which fails
    /// for a process that already leads a group (and the master then exits with status 1).
    /// Either way the master ends up leading a group whose id is its pid.
    pub fn spawn(
        name: &'static str,
        mut command: Command,
        output: &Path,
        group: NewGroup,
    ) -> io::Result<Self> {
        let out = OpenOptions::new().create(true).append(true).open(output)?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if group == NewGroup::Yes {
            command.process_group(0);
        }
        let child = command.spawn()?;
        let mut daemon = Daemon {
            name,
            child,
            status: None,
            stopped: false,
            watchdog: None,
        };
        // The watchdog stays in the test's process group: in the daemon's, it would count
        // as a live member that a stop waits for.
        let mut watchdog = Command::new("/bin/sh")
            .args(["-c", WATCHDOG, "mail-stack-watchdog"])
            .arg(daemon.pgid().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let pipe = watchdog
            .stdin
            .take()
            .expect("the watchdog's stdin is piped");
        daemon.watchdog = Some((watchdog, pipe));
        Ok(daemon)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The master's exit status if it has already exited (e.g. a bind failure at start).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    fn pgid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// True once the master has been reaped and no live (non-zombie) process remains in its
    /// group. Zombies are ignored: a worker orphaned by its master is re-parented to PID 1,
    /// which may reap it late (this VM's init takes seconds) or, in some containers, never.
    fn is_gone(&mut self) -> bool {
        self.exit_status().is_some() && live_members(self.pgid()).is_empty()
    }

    fn signal_group(&mut self, signal: libc::c_int) {
        for pid in live_members(self.pgid()) {
            // SAFETY: kill(2) on processes just seen alive in our daemon's group.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Stops the daemon the way `systemctl stop` does: SIGTERM to the master, which shuts
    /// down in its own order; once it has exited, SIGTERM to whatever of its group is
    /// left, then SIGKILL. The second step matters for Dovecot, whose master exits
    /// leaving the imap process of each open session (and its log and stats processes)
    /// alive until the client goes away; a restart must drop those connections.
    /// Returns when every process of the group is gone.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        if self.exit_status().is_none() {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
            unsafe { libc::kill(self.pgid(), libc::SIGTERM) };
        }
        let deadline = Instant::now() + GRACE;
        while self.exit_status().is_none() && Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
        }
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + LEFTOVER_GRACE;
        while !self.is_gone() {
            if Instant::now() > deadline {
                self.signal_group(libc::SIGKILL);
            }
            tokio::time::sleep(POLL).await;
        }
        self.stopped = true;
        self.dismiss_watchdog();
    }

    /// Kills the daemon and every worker at once (SIGKILL) and returns when they are gone.
    ///
    /// For a stack being thrown away, a graceful stop is wasted time: Dovecot's master
    /// always sleeps a hard-coded second on SIGTERM (waiting for workers to close their
    /// listeners), which would add a second to every test. Nothing is lost by killing:
    /// Postfix has fsynced every queued message before accepting it, maildir writes are
    /// atomic renames, and the logs are already on disk.
    pub fn kill_now(&mut self) {
        if self.stopped {
            return;
        }
        let deadline = Instant::now() + GRACE;
        // The leader first, so it cannot fork replacements for killed workers.
        if self.exit_status().is_none() {
            // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
            unsafe { libc::kill(self.pgid(), libc::SIGKILL) };
        }
        while !self.is_gone() {
            if Instant::now() > deadline {
                let _ = writeln!(
                    io::stderr(),
                    "mail stack: {} processes {:?} survived SIGKILL",
                    self.name,
                    live_members(self.pgid())
                );
                break;
            }
            self.signal_group(libc::SIGKILL);
            std::thread::sleep(POLL);
        }
        self.stopped = true;
        self.dismiss_watchdog();
    }

    /// Ends the watchdog once the group is gone, so that it cannot signal a later group
    /// that happens to get the same id.
    fn dismiss_watchdog(&mut self) {
        if let Some((mut watchdog, pipe)) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            drop(pipe);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Pids of the live processes whose process group is `pgid`, read from /proc.
fn live_members(pgid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so the
        // fields are counted from the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|s| s.parse::<libc::pid_t>().ok());
        if pgrp == Some(pgid) && !matches!(state, Some("Z") | Some("X")) {
            pids.push(pid);
        }
    }
    pids
}

/// Numeric ids of a system account, read from /etc/passwd and /etc/group (the Debian
/// packages create `postfix`, `postdrop`, `dovecot`, `dovenull`; base-passwd has `nobody`).
pub fn system_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd is readable");
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == name)
        .map(|f| {
            (
                f[2].parse().expect("numeric uid"),
                f[3].parse().expect("numeric gid"),
            )
        })
        .unwrap_or_else(|| panic!("system user {name:?} is missing: run scripts/test, which installs dovecot and postfix"))
}

pub fn system_group(name: &str) -> u32 {
    let group = std::fs::read_to_string("/etc/group").expect("/etc/group is readable");
    group
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == name)
        .map(|f| f[2].parse().expect("numeric gid"))
        .unwrap_or_else(|| {
            panic!("system group {name:?} is missing: run scripts/test, which installs postfix")
        })
}

/// Finds an installed program. `cargo test` may run with a PATH that lacks the sbin
/// directories, where Debian puts `dovecot` and `postconf`.
pub fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run scripts/test, which installs dovecot-imapd, dovecot-lmtpd and postfix")
        })
}

/// The length of a log file (0 while it does not exist), so that a later read can start
/// where one start attempt's output begins.
pub fn file_len(path: &Path) -> u64 {
    File::open(path)
        .and_then(|f| f.metadata())
        .map(|m| m.len())
        .unwrap_or(0)
}
