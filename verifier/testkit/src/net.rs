//! Loopback port allocation.
//!
//! The port is free when this returns, but nothing reserves it: a caller that spawns another
//! process on it must cope with losing the race (see `Registry::start`, which retries).

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// When the kernel refuses to bind any loopback port, which leaves no test able to run.
#[allow(
    clippy::panic,
    reason = "test harness: no loopback port means no test can run"
)]
pub fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind a free port on 127.0.0.1: {e}"),
    }
}
