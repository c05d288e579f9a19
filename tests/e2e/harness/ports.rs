//! Free loopback ports for the daemons of a stack, never the same one twice in a process.
//!
//! A port is tried by binding 127.0.0.1 on it and releasing it; the daemon binds it a few
//! milliseconds later. Two things could take it in between, and each is shut out here:
//! - another stack of this test process: every port handed out is remembered for the rest
//!   of the process, so parallel tests never pick the same one;
//! - an outgoing connection's source port (Postfix's LMTP client, an IMAP poll): ports are
//!   drawn *below* the kernel's ephemeral range (`ip_local_port_range`), where the kernel
//!   never puts source ports. This matters most for `stop_postfix`/`start_postfix`, which
//!   must get the same SMTP port back after a pause of any length.
//!
//! Anything else (another process binding a fixed port) is handled by the caller, which
//! retries a start whose daemon reports "Address already in use".

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Lowest port we draw from: above the registered ports most services use.
const FLOOR: u16 = 10_000;

/// Returns a port on 127.0.0.1 that nothing listens on now and that this process has
/// never handed out before.
pub fn free_port() -> u16 {
    let ceiling = ephemeral_floor().saturating_sub(1);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    if ceiling > FLOOR + 1_000 {
        for _ in 0..1_000 {
            let port = FLOOR + (random() % u64::from(ceiling - FLOOR)) as u16;
            if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed_out.insert(port);
                return port;
            }
        }
    }
    // An unusual ip_local_port_range leaves no room below it: let the kernel choose.
    loop {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .expect("binding 127.0.0.1:0 works")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The first port of the kernel's ephemeral range (32768 on Linux unless tuned).
fn ephemeral_floor() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A random number without a dependency: std seeds every `RandomState` from the OS.
fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
