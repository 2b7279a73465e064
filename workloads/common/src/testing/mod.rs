//! Test support (feature `testing`): a real PostgreSQL on loopback, child processes stopped by
//! PID, an in-process OTLP receiver, and bounded polling.
//!
//! Integration tests of `jobs-api` and `jobs-worker` use these to run against real servers
//! instead of mocks. Everything started here is stopped by its own PID when its guard drops,
//! whatever the test's outcome; every wait is bounded in time. When the PostgreSQL binaries are
//! missing, [`postgres::PgServer::start`] fails naming the fix (`make bootstrap`), on every
//! machine: a test never passes by skipping. Not compiled into the services.

pub mod otlp;
pub mod postgres;
pub mod process;

use std::{future::Future, time::Duration};

use anyhow::bail;

/// Polls `check` every 50 ms until it yields `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
