//! `portcullis serve`: the Kubernetes admission webhook server.
//!
//! Two listeners: TLS for the API server (`POST /validate`, `POST /mutate`; see [`admission`])
//! and plaintext admin (`/livez`, `/readyz`, `/metrics`; see [`admin`]). Policies are read from
//! `--policy` paths and hot-reloaded ([`policy`]); the serving certificate is re-read when
//! cert-manager rotates it ([`tls`]). Image verification goes through the [`ImageVerifier`]
//! seam: `portcullis serve` plugs in the verifier crate's cached registry client (`wiring`),
//! tests plug in stubs and run without a network.
//!
//! It deliberately does not decide anything: the policy engine (`portcullis_policies`) turns a
//! request plus image verdicts into a decision; this module handles transport, deadlines,
//! concurrency, reloads, shutdown and telemetry around it.
//!
//! Shutdown (SIGTERM/SIGINT): `/readyz` fails at once, the listener keeps accepting for
//! `--shutdown-grace` (endpoints converge), then stops accepting and drains in-flight reviews
//! within `--drain-timeout`; exit 0 when drained, 1 when the drain timed out. A second signal
//! aborts at once with exit code 130.
//!
//! Telemetry: JSON logs with a `review` span (uid, operation, kind, namespace) and a child
//! `verify_image` span per image, written by a background thread ([`telemetry`]); Prometheus
//! metrics on `/metrics`; OTLP trace export with `--otlp-endpoint`.

pub mod admin;
pub mod admission;
pub mod cluster;
pub mod config;
pub mod decide;
pub mod metrics;
pub mod policy;
mod poll;
pub mod pull_secrets;
pub mod reports;
pub mod review;
pub mod telemetry;
pub mod tls;
pub mod verify;
mod wiring;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

pub use admin::{AdminState, admin_app};
pub use admission::{AdmissionState, MAX_BODY_BYTES, app};
pub use config::{
    AdminArgs, CacheArgs, LogFormat, PolicyArgs, RegistryArgs, ServeArgs, ServerArgs,
};
pub use metrics::Metrics;
pub use policy::PolicyStore;
pub use tls::CertStore;
pub use verify::{ImageVerifier, Job, UnconfiguredVerifier, Verdicts};

/// Installs aws-lc-rs as the process-wide rustls crypto provider. Call first thing in `main`:
/// with more than one provider compiled in (reqwest brings `ring`), rustls cannot pick one by
/// itself and panics on first use. Idempotent; later calls are no-ops.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Exit code after a second signal cut the drain short (128 + SIGINT, by convention).
const ABORTED: u8 = 130;

impl ServeArgs {
    /// Runs the server with the verifier built from the registry and cache flags.
    pub async fn run(self) -> ExitCode {
        install_crypto_provider();
        let telemetry = telemetry::init(&self.admin);
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::register(&mut registry);
        let verifier = match wiring::build_verifier(&self.registry, &self.cache, &metrics) {
            Ok(v) => v,
            Err(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "Cannot set up image verification"
                );
                telemetry.shutdown();
                return ExitCode::FAILURE;
            }
        };
        self.run_traced(verifier, registry, metrics, telemetry)
            .await
    }

    /// Runs the server with `verifier` (tests and alternative wirings). `metrics` must be
    /// registered in `registry`.
    pub async fn run_with(
        self,
        verifier: Arc<dyn ImageVerifier>,
        registry: prometheus_client::registry::Registry,
        metrics: Metrics,
    ) -> ExitCode {
        install_crypto_provider();
        let telemetry = telemetry::init(&self.admin);
        self.run_traced(verifier, registry, metrics, telemetry)
            .await
    }

    async fn run_traced(
        self,
        verifier: Arc<dyn ImageVerifier>,
        registry: prometheus_client::registry::Registry,
        metrics: Metrics,
        telemetry: telemetry::Telemetry,
    ) -> ExitCode {
        let code = match self.serve(verifier, registry, metrics).await {
            Ok(code) => code,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "portcullis serve failed");
                ExitCode::FAILURE
            }
        };
        telemetry.shutdown();
        code
    }

    async fn serve(
        self,
        verifier: Arc<dyn ImageVerifier>,
        mut registry: prometheus_client::registry::Registry,
        metrics: Metrics,
    ) -> anyhow::Result<ExitCode> {
        // Before anything can take time: a SIGTERM from here on starts an orderly shutdown.
        let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;

        let certs = CertStore::load(&self.server.tls_cert, &self.server.tls_key)
            .context("loading the serving certificate")?;
        let tls_config = certs
            .server_config()
            .context("building the TLS configuration")?;

        let kube = cluster::client(
            self.policy.cluster_policies,
            self.policy.kubeconfig.as_deref(),
        )
        .await
        .context("setting up the cluster policy watch")?;
        anyhow::ensure!(
            kube.is_some() || !self.registry.pod_pull_secrets,
            "--pod-pull-secrets reads the workloads' pull secrets through the API server, and the cluster connection is off: give --kubeconfig (or run in-cluster) and do not set --cluster-policies=off"
        );
        let pull_secrets = match (&kube, self.registry.pod_pull_secrets) {
            (Some(client), true) => {
                tracing::info!(ttl = ?self.registry.pull_secret_ttl, "Verifying with the workloads' pull secrets");
                Some(Arc::new(pull_secrets::PullSecrets::new(
                    client.clone(),
                    self.registry.pull_secret_ttl,
                )))
            }
            _ => None,
        };
        anyhow::ensure!(
            kube.is_some() || self.reports.report_interval.is_none(),
            "--report-interval writes PolicyReports through the API server, and the cluster connection is off: give --kubeconfig (or run in-cluster) and do not set --cluster-policies=off"
        );
        anyhow::ensure!(
            kube.is_some() || !self.policy.paths.is_empty(),
            "no policy source: give --policy DIR, or watch the cluster's policy objects (--kubeconfig, KUBECONFIG, in-cluster, --cluster-policies=on)"
        );
        let mut store = PolicyStore::with_trusted_roots(
            self.policy.paths.clone(),
            self.policy.trusted_roots.clone(),
        )
        .with_no_match(self.policy.no_match)
        .with_exception_namespaces(self.policy.exception_namespaces.clone());
        if kube.is_some() {
            store = store.with_cluster();
        }
        let policies = Arc::new(store);
        let initial = {
            let store = policies.clone();
            tokio::task::spawn_blocking(move || store.reload())
                .await
                .context("loading policies")?
        };
        if let Some(outcome) = initial {
            policy::report(&policies, &metrics, outcome);
        }

        let admission_listener = TcpListener::bind(self.server.listen)
            .await
            .with_context(|| format!("binding the admission listener {}", self.server.listen))?;
        let admin_listener = TcpListener::bind(self.admin.admin_listen)
            .await
            .with_context(|| format!("binding the admin listener {}", self.admin.admin_listen))?;

        let (stop_watchers, watchers_stopped) = watch::channel(false);
        let (stop_accepting, accepting_stopped) = watch::channel(false);
        let (stop_admin, admin_stopped) = watch::channel(false);

        let reporter = match (&kube, self.reports.report_interval) {
            (Some(client), Some(interval)) => Some((
                reports::Reporter {
                    client: client.clone(),
                    policies: policies.clone(),
                    verifier: verifier.clone(),
                    metrics: metrics.clone(),
                    report_metrics: reports::ReportMetrics::register(&mut registry),
                    args: self.reports.clone(),
                },
                interval,
            )),
            _ => None,
        };
        let cluster_health = kube.map(|client| {
            cluster::start(client, policies.clone(), &mut registry, &watchers_stopped)
        });
        let admin_state = Arc::new(
            AdminState::new(policies.clone(), Some(certs.clone()), registry)
                .with_cluster(cluster_health),
        );
        let admission_state = Arc::new(AdmissionState {
            policies: policies.clone(),
            verifier,
            metrics: metrics.clone(),
            timeout_margin: self.server.timeout_margin,
            default_timeout: self.server.default_timeout,
            pull_secrets,
        });

        if let Some((reporter, interval)) = reporter {
            tracing::info!(?interval, "Writing background reports");
            tokio::spawn(reporter.run_every(interval, watchers_stopped.clone()));
        }
        tokio::spawn(poll::reload_every(
            policies.clone(),
            self.policy.policy_reload_interval,
            metrics.clone(),
            watchers_stopped.clone(),
        ));
        tokio::spawn(poll::reload_every(
            certs.clone(),
            self.server.tls_reload_interval,
            metrics.clone(),
            watchers_stopped,
        ));

        let admin_addr = admin_listener.local_addr()?;
        let admin_router = admin_app(admin_state.clone());
        let admin = tokio::spawn(async move {
            let mut stopped = admin_stopped;
            axum::serve(admin_listener, admin_router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.changed().await;
                })
                .await
        });
        tracing::info!(addr = %admin_addr, "Admin listener ready");
        let admission_addr = admission_listener.local_addr()?;
        let mut server = tokio::spawn(tls::serve(
            admission_listener,
            tls_config,
            app(admission_state),
            accepting_stopped,
            self.server.drain_timeout,
        ));
        tracing::info!(addr = %admission_addr, "Admission listener ready");

        let signal_name = tokio::select! {
            name = next_signal(&mut sigterm, &mut sigint) => name,
            result = &mut server => {
                anyhow::bail!("admission listener stopped unexpectedly: {result:?}");
            }
        };
        tracing::info!(
            signal = signal_name,
            grace = ?self.server.shutdown_grace,
            "Shutting down: readiness failing, still accepting during the grace period"
        );
        let shutdown = async {
            // 1. fail readiness, 2. grace, 3. stop accepting and drain.
            admin_state.begin_shutdown();
            tokio::time::sleep(self.server.shutdown_grace).await;
            let _ = stop_accepting.send(true);
            let drained = (&mut server).await.unwrap_or(false);
            let _ = stop_watchers.send(true);
            let _ = stop_admin.send(true);
            drained
        };
        let drained = tokio::select! {
            drained = shutdown => drained,
            name = next_signal(&mut sigterm, &mut sigint) => {
                tracing::warn!(signal = name, "Second signal: aborting without draining");
                return Ok(ExitCode::from(ABORTED));
            }
        };
        match admin.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "Admin listener failed"),
            Err(error) => tracing::warn!(%error, "Admin listener task failed"),
        }
        if drained {
            tracing::info!("Shutdown complete");
            Ok(ExitCode::SUCCESS)
        } else {
            tracing::warn!("Shutdown complete, but in-flight reviews were cut off");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn next_signal(sigterm: &mut Signal, sigint: &mut Signal) -> &'static str {
    tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
    }
}
