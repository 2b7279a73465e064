//! Shared runtime of the two "jobs" sample services (`jobs-api`, `jobs-worker`).
//!
//! What lives here is everything both binaries need and nothing either owns alone: 12-factor
//! configuration ([`config`]), a PostgreSQL pool that re-reads a rotated password file on every
//! new connection ([`db`]), embedded schema migrations ([`migrate`]), the job table and its queue
//! operations ([`jobs`]), deterministic demo and test data ([`fixtures`]), telemetry (JSON logs,
//! OpenTelemetry traces with W3C context propagation, Prometheus metrics: [`telemetry`],
//! [`metrics`]), the admin listener (`/livez`, `/readyz`, `/metrics`: [`admin`]), signal
//! handling ([`shutdown`]) and the start and exit both binaries share ([`service`]). HTTP routes
//! of the API and the job processing of the worker are not here: they live in their crates. The
//! `testing` feature adds a throwaway PostgreSQL on loopback and an in-process OTLP receiver for
//! integration tests; production builds do not compile it.
//!
//! These services are what Portcullis admits into a cluster: they sit below the platform, not in
//! the admission flow, and import nothing from `webhook`, `policies` or `verifier`.

pub mod admin;
pub mod config;
pub mod db;
pub mod fixtures;
pub mod jobs;
pub mod metrics;
pub mod migrate;
pub mod service;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use db::{DbError, Pool};
pub use jobs::{Job, JobKind, JobStatus};
pub use metrics::Metrics;
