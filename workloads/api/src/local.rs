//! The API on loopback ports in this process, the way the integration tests (of both services)
//! and the worker's bench run it: fresh ports, no shutdown grace, 5 s to drain. Nothing in the
//! binary uses it; it is [`crate::run`] with the listeners and timing chosen for a test.

use std::{sync::Arc, time::Duration};

use jobs_common::{Metrics, Pool, config::ShutdownArgs};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// A running in-process API.
pub struct LocalApi {
    /// `http://127.0.0.1:PORT` of the API listener.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    /// Cancelling it shuts the API down as SIGTERM would; then await `task`.
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl LocalApi {
    /// Serves the API with `pool` on two fresh loopback ports.
    pub async fn start(pool: Pool) -> std::io::Result<Self> {
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let admin = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", api.local_addr()?);
        let admin_base = format!("http://{}", admin.local_addr()?);
        let state = AppState {
            pool,
            metrics: Arc::new(Metrics::new()),
        };
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let timing = ShutdownArgs {
            shutdown_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
        };
        let task = tokio::spawn(async move { crate::run(api, admin, state, token, &timing).await });
        Ok(Self {
            base,
            admin: admin_base,
            shutdown,
            task,
        })
    }
}
