//! The commands' output on stdout, and what happens when nobody reads it any more.
//!
//! `mail-ballot show B-2026-001 | head` closes the pipe after ten lines. Rust
//! ignores SIGPIPE, so the next write fails with EPIPE, and std's `println!`
//! panics on that (exit 101, a panic message on stderr). Restoring SIGPIPE's
//! default would end such a command quietly, but also any command whose TLS
//! connection the server reset: rustls writes with `writev`, which raises
//! SIGPIPE too, and `poll` or `open` would die without saying why. So the
//! command line prints through [`write`] instead (the `println!` and `print!`
//! of this module shadow std's wherever they are imported): once stdout is a
//! closed pipe the rest of the output is dropped and the command carries on to
//! its end, so `open ... | head -0` still sends the announcement, and exits 0.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write found stdout closed: nothing more is written.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to stdout. A reader that went away (EPIPE) silences the rest of
/// the output; any other failure (a full disk behind a redirection) ends the
/// command with one line on stderr, as every other error does.
pub fn write(args: fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if gone(&e) {
            CLOSED.store(true, Ordering::Relaxed);
            return;
        }
        let _ = writeln!(std::io::stderr(), "error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Whether a write failed because the reader closed its end.
fn gone(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::BrokenPipe
}

/// `println!` that never panics on a closed stdout (see the module).
macro_rules! println {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics on a closed stdout (see the module).
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

pub(crate) use {print, println};
