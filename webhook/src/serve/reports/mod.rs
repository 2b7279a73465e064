//! Background reports (`portcullis serve --report-interval 1h`, off by default): the audit of
//! `portcullis audit --cluster` runs periodically inside the webhook, with the policies in force
//! and the webhook's own (cached) image verifier, and its results are written to the cluster as
//! one `wgpolicyk8s.io/v1alpha2` `PolicyReport` per audited resource (a `ClusterPolicyReport` for a
//! cluster-scoped one), through server-side apply ([`writer`]).
//!
//! - **Sizing.** One report per resource, named by its uid (as Kyverno does): a namespace with
//!   5,000 pods gets 5,000 small reports, never one huge object.
//! - **Deleted resources.** Each report has an owner reference to its resource, so the garbage
//!   collector removes it; and every run deletes the reports (labelled
//!   `app.kubernetes.io/managed-by: portcullis`) whose resource it no longer listed, but only for
//!   kinds that were listed to the end: a partial listing never deletes.
//! - **No storm.** Admission decisions never trigger a report: reports come only from the
//!   periodic run, at most one at a time, each a paginated list at bounded concurrency. Within a
//!   run a report is written only when its results changed since the last write, and writes are
//!   paced to `--report-write-qps` per second.

mod writer;

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Args;
use portcullis_policies::compliance::ControlMap;
use portcullis_policies::{PolicySet, VerdictMap};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::watch as signal;
use tokio::time::Instant;

use self::writer::{Desired, Writer};
use super::metrics::Metrics;
use super::policy::PolicyStore;
use super::verify::{ImageVerifier, Job, verify_all};
use crate::commands::audit::cluster::{self, Listing};
use crate::commands::audit::policy_report::{Flavour, Scope, for_resource};
use crate::commands::audit::results;
use crate::duration::clap_duration;

/// `serve` flags for background reports.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Audit the cluster this often and write a PolicyReport per resource (off when unset).
    /// Needs the cluster connection and RBAC for list on the audited kinds and for
    /// policyreports/clusterpolicyreports (list, patch, delete).
    #[arg(long, env = "PORTCULLIS_REPORT_INTERVAL", value_parser = clap_duration)]
    pub report_interval: Option<Duration>,
    /// Report writes (applies and deletes) per second at most.
    #[arg(long, env = "PORTCULLIS_REPORT_WRITE_QPS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub report_write_qps: u32,
    /// One run's listing and image verification must end within this long.
    #[arg(long, env = "PORTCULLIS_REPORT_TIMEOUT", default_value = "5m", value_parser = clap_duration)]
    pub report_timeout: Duration,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    op: String,
    result: String,
}

/// The reports' metrics.
#[derive(Clone, Default)]
pub struct ReportMetrics {
    runs: Family<RunLabels, Counter>,
    writes: Family<WriteLabels, Counter>,
}

impl ReportMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "portcullis_report_runs",
            "Background audit runs, by result (complete, partial, skipped)",
            m.runs.clone(),
        );
        registry.register(
            "portcullis_report_writes",
            "Writes of PolicyReports, by operation (apply, delete) and result (ok, error)",
            m.writes.clone(),
        );
        m
    }

    fn run(&self, result: &str) {
        self.runs
            .get_or_create(&RunLabels {
                result: result.into(),
            })
            .inc();
    }

    fn write(&self, op: &str, ok: bool) {
        self.writes
            .get_or_create(&WriteLabels {
                op: op.into(),
                result: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
    }
}

/// What a run needs.
pub struct Reporter {
    pub client: kube::Client,
    pub policies: Arc<PolicyStore>,
    pub verifier: Arc<dyn ImageVerifier>,
    pub metrics: Metrics,
    pub report_metrics: ReportMetrics,
    pub args: ReportArgs,
}

impl Reporter {
    /// Runs every `interval` (the first run at once) until `stop` fires.
    pub async fn run_every(self, interval: Duration, mut stop: signal::Receiver<bool>) {
        let mut writer = Writer::new(
            self.client.clone(),
            self.args.report_write_qps,
            self.report_metrics.clone(),
        );
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return,
            }
            tokio::select! {
                () = self.run_once(&mut writer) => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn run_once(&self, writer: &mut Writer) {
        let Some(loaded) = self.policies.current() else {
            tracing::info!("Background audit skipped: no policy set loaded yet");
            self.report_metrics.run("skipped");
            return;
        };
        let map = match ControlMap::shipped() {
            Ok(map) => map,
            Err(error) => {
                tracing::error!(%error, "Background audit skipped: the control map does not load");
                self.report_metrics.run("skipped");
                return;
            }
        };
        let started = Instant::now();
        let deadline = started + self.args.report_timeout;
        let listing = cluster::list(&self.client, "cluster", 500, 4, deadline).await;
        let set = loaded.policies.set();
        let facts = self.verify_images(set, &listing, deadline).await;
        let desired = desired_reports(set, &listing, &facts, &map);
        let complete: HashSet<&str> = cluster::KINDS
            .iter()
            .map(|k| k.2)
            .filter(|kind| !listing.gaps.iter().any(|g| g.kind == *kind))
            .collect();
        let synced = writer.sync(desired, &complete, deadline).await;
        let partial = !listing.gaps.is_empty();
        self.report_metrics
            .run(if partial { "partial" } else { "complete" });
        let gaps: Vec<String> = listing.gaps.iter().map(cluster::Gap::line).collect();
        tracing::info!(
            resources = listing.inputs.len(),
            applied = synced.applied,
            deleted = synced.deleted,
            unchanged = synced.unchanged,
            failed = synced.failed,
            partial = gaps.join("; "),
            elapsed_ms = started.elapsed().as_millis(),
            "Background audit written"
        );
    }

    /// The verdicts of every image the listed resources need, from the webhook's verifier.
    async fn verify_images(
        &self,
        set: &PolicySet,
        listing: &Listing,
        deadline: Instant,
    ) -> VerdictMap {
        let jobs: Vec<Job> = listing
            .inputs
            .iter()
            .flatten()
            .flat_map(|i| set.image_checks(&i.request))
            .map(|c| Job {
                image: c.image,
                requirement: c.requirement,
                fingerprint: c.fingerprint,
            })
            .collect();
        if jobs.is_empty() {
            return VerdictMap::new();
        }
        let verdicts =
            verify_all(self.verifier.as_ref(), jobs, deadline, &self.metrics, None).await;
        verdicts
            .iter()
            .map(|(image, fingerprint, verdict)| {
                (
                    (image.to_string(), fingerprint.to_string()),
                    verdict.clone(),
                )
            })
            .collect()
    }
}

/// The report of every listed resource that has a uid, keyed by (namespace, name).
fn desired_reports(
    set: &PolicySet,
    listing: &Listing,
    facts: &VerdictMap,
    map: &ControlMap,
) -> BTreeMap<(String, String), Desired> {
    let unverifiable = results::unverifiable(facts);
    let now = SystemTime::now();
    let labels = results::ControlLabels::new(map);
    let mut out = BTreeMap::new();
    for input in listing.inputs.iter().flatten() {
        let request = &input.request;
        let Some(uid) = request.object["metadata"]["uid"].as_str() else {
            continue;
        };
        let evaluation = set.evaluate_detailed(request, facts);
        let results = results::of_evaluation(input, &evaluation, &labels, Some(&unverifiable));
        let api_version = request.kind.api_version();
        let scope = Scope {
            api_version: &api_version,
            kind: &request.kind.kind,
            namespace: &request.namespace,
            name: &request.name,
            uid,
        };
        // What the report says, without the time it was said: written again only when it
        // changes.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for r in &results {
            serde_json::to_string(r)
                .unwrap_or_default()
                .hash(&mut hasher);
        }
        match for_resource(&results, &scope, Flavour::PolicyReport, now) {
            Ok(report) => {
                out.insert(
                    (request.namespace.clone(), uid.to_string()),
                    Desired {
                        report,
                        kind: request.kind.kind.clone(),
                        hash: hasher.finish(),
                    },
                );
            }
            Err(error) => tracing::warn!(%error, uid, "Report not built"),
        }
    }
    out
}
