//! Shared helpers for the `serve_*` and `admit_*` integration tests: fixtures, a test PKI, a TLS
//! client that verifies the server the way the API server does (the CA bundle as the only root,
//! the Service DNS name as the server name), and a handle on a real `portcullis serve` process.
//!
//! Not every test file uses every helper.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

/// The DNS name the API server uses for the webhook Service.
pub const SERVICE_DNS: &str = "portcullis.portcullis-system.svc";

/// A generous upper bound for "eventually": polling loops give up after this, never assert it.
pub const EVENTUALLY: Duration = Duration::from_secs(30);

mod client;
mod cluster;
mod fixtures;
mod pki;
mod router;
mod server;

pub use client::*;
pub use cluster::*;
pub use fixtures::*;
pub use pki::*;
pub use router::*;
pub use server::*;
