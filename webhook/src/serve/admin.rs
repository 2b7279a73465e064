//! The plaintext admin listener: `/livez`, `/readyz`, `/metrics`.
//!
//! `/readyz` is ready only once a policy set has loaded and until shutdown begins. Its body
//! lists each check (`[+]` ok, `[-]` failing) in the style of the kube-apiserver's verbose
//! health endpoints, including the last policy or certificate reload error even while ready
//! (the last good set or certificate is then still in force).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use super::cluster::ClusterHealth;
use super::metrics::{CONTENT_TYPE, render};
use super::policy::PolicyStore;
use super::tls::CertStore;

/// What the admin endpoints report on.
pub struct AdminState {
    pub policies: Arc<PolicyStore>,
    pub certs: Option<Arc<CertStore>>,
    /// The cluster policy watch, when it is on.
    pub cluster: Option<Arc<ClusterHealth>>,
    pub registry: Registry,
    pub shutting_down: AtomicBool,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    pub fn new(
        policies: Arc<PolicyStore>,
        certs: Option<Arc<CertStore>>,
        registry: Registry,
    ) -> Self {
        Self {
            policies,
            certs,
            cluster: None,
            registry,
            shutting_down: AtomicBool::new(false),
        }
    }

    /// With the cluster policy watch's health among the checks.
    pub fn with_cluster(mut self, cluster: Option<Arc<ClusterHealth>>) -> Self {
        self.cluster = cluster;
        self
    }

    /// Makes `/readyz` fail from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether the server is ready, and the per-check detail.
    pub fn readiness(&self) -> (bool, String) {
        let mut ready = true;
        let mut out = String::new();
        match self.policies.current() {
            Some(loaded) => {
                let _ = writeln!(
                    out,
                    "[+]policies ok: {} policies from {} file(s) and {} cluster object(s), loaded {} s ago",
                    loaded.policies.len(),
                    loaded.files.len(),
                    loaded.objects,
                    age_secs(loaded.loaded_at),
                );
            }
            None => {
                ready = false;
                let _ = writeln!(out, "[-]policies failed: no policy set loaded yet");
            }
        }
        if let Some(cluster) = &self.cluster {
            ready &= cluster.readiness(&mut out);
        }
        let status = self.policies.status();
        if let Some(error) = status.last_error {
            let at = status.last_error_at.map_or(0, age_secs);
            let _ = writeln!(
                out,
                "[!]policy-reload error {at} s ago (last good set still in force): {error}"
            );
        }
        if let Some(certs) = &self.certs {
            match certs.last_error() {
                None => {
                    let _ = writeln!(out, "[+]tls ok");
                }
                Some(error) => {
                    let _ = writeln!(
                        out,
                        "[!]tls reload error (previous certificate still served): {error}"
                    );
                }
            }
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            ready = false;
            let _ = writeln!(out, "[-]shutdown: draining, not accepting new reviews");
        } else {
            let _ = writeln!(out, "[+]shutdown ok");
        }
        out.push_str(if ready {
            "readyz check passed\n"
        } else {
            "readyz check failed\n"
        });
        (ready, out)
    }
}

fn age_secs(at: SystemTime) -> u64 {
    at.elapsed().map_or(0, |d| d.as_secs())
}

/// The admin router.
pub fn admin_app(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AdminState>>) -> Response {
    let (ready, body) = state.readiness();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    match render(&state.registry) {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "Cannot render metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
