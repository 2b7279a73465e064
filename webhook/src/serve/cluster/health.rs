//! How the cluster watch is doing, per kind: listed yet, failing now, when the last event came,
//! and how many of its objects are in force. `/readyz` and the metrics read it.
//!
//! Metrics (registered next to the server's own):
//! - `portcullis_policies{source,ready}`: policies from files, and cluster objects by readiness;
//! - `portcullis_policy_watch_restarts_total{kind}`: watch errors after which it lists or watches
//!   again (connection lost, 410 Gone, refused);
//! - `portcullis_policy_watch_last_event_timestamp_seconds{kind}`: the age of the last event is
//!   `time() - ` this;
//! - `portcullis_policy_status_writes_total{result}`: `status` subresource writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::serve::metrics::ResultLabels;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `file` or `cluster`.
    pub source: String,
    pub ready: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// The watch's metrics.
#[derive(Clone, Debug, Default)]
pub struct WatchMetrics {
    pub policies: Family<SourceLabels, Gauge>,
    pub restarts: Family<KindLabels, Counter>,
    pub last_event: Family<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub status_writes: Family<ResultLabels, Counter>,
}

impl WatchMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "portcullis_policies",
            "Policies in force by source (file or cluster); cluster objects also by readiness",
            m.policies.clone(),
        );
        registry.register(
            "portcullis_policy_watch_restarts",
            "Policy watch errors after which the watch lists or watches again, by kind",
            m.restarts.clone(),
        );
        registry.register(
            "portcullis_policy_watch_last_event_timestamp_seconds",
            "When the policy watch last received an event, by kind (Unix time)",
            m.last_event.clone(),
        );
        registry.register(
            "portcullis_policy_status_writes",
            "Writes of policy objects' status subresource, by result",
            m.status_writes.clone(),
        );
        m
    }

    /// Sets the policy counts: `files` from files, and cluster objects ready or not.
    pub fn set_policies(&self, files: usize, ready: usize, not_ready: usize) {
        for (source, ready_label, count) in [
            ("file", "true", files),
            ("cluster", "true", ready),
            ("cluster", "false", not_ready),
        ] {
            self.policies
                .get_or_create(&SourceLabels {
                    source: source.into(),
                    ready: ready_label.into(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}

/// One kind's watch.
#[derive(Debug, Default, Clone)]
struct KindHealth {
    listed: bool,
    error: Option<(String, SystemTime)>,
    last_event: Option<SystemTime>,
    objects: usize,
    not_ready: usize,
}

/// Every kind's watch.
#[derive(Debug)]
pub struct ClusterHealth {
    kinds: Mutex<BTreeMap<String, KindHealth>>,
    metrics: WatchMetrics,
}

impl ClusterHealth {
    pub fn new(plurals: impl IntoIterator<Item = String>, metrics: WatchMetrics) -> Self {
        let kinds = plurals
            .into_iter()
            .map(|p| (p, KindHealth::default()))
            .collect();
        Self {
            kinds: Mutex::new(kinds),
            metrics,
        }
    }

    pub fn metrics(&self) -> &WatchMetrics {
        &self.metrics
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, KindHealth>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with(&self, plural: &str, f: impl FnOnce(&mut KindHealth)) {
        if let Some(kind) = self.lock().get_mut(plural) {
            f(kind);
        }
    }

    /// An event arrived: the watch works.
    pub fn event(&self, plural: &str) {
        let now = SystemTime::now();
        self.with(plural, |k| {
            k.last_event = Some(now);
            k.error = None;
        });
        let seconds = now
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.metrics
            .last_event
            .get_or_create(&KindLabels {
                kind: plural.into(),
            })
            .set(seconds);
    }

    /// The kind has been listed completely; `objects` of it are known, `not_ready` refused.
    pub fn listed(&self, plural: &str, objects: usize, not_ready: usize) {
        self.with(plural, |k| {
            k.listed = true;
            k.objects = objects;
            k.not_ready = not_ready;
        });
    }

    /// The kind's object counts changed.
    pub fn counted(&self, plural: &str, objects: usize, not_ready: usize) {
        self.with(plural, |k| {
            k.objects = objects;
            k.not_ready = not_ready;
        });
    }

    /// The watch failed; it retries by itself.
    pub fn failed(&self, plural: &str, error: String) {
        self.with(plural, |k| k.error = Some((error, SystemTime::now())));
        self.metrics
            .restarts
            .get_or_create(&KindLabels {
                kind: plural.into(),
            })
            .inc();
    }

    /// The API server answers again (a probe succeeded while the watch was quiet).
    pub fn recovered(&self, plural: &str) {
        self.with(plural, |k| k.error = None);
    }

    pub fn is_failing(&self, plural: &str) -> bool {
        self.lock().get(plural).is_some_and(|k| k.error.is_some())
    }

    /// Whether every kind has been listed once.
    pub fn all_listed(&self) -> bool {
        self.lock().values().all(|k| k.listed)
    }

    /// Cluster objects (in force, refused).
    pub fn totals(&self) -> (usize, usize) {
        self.lock()
            .values()
            .fold((0, 0), |(all, bad), k| (all + k.objects, bad + k.not_ready))
    }

    /// Appends a `/readyz` line per kind; false when one is not listed yet or failing now.
    pub fn readiness(&self, out: &mut String) -> bool {
        let mut ready = true;
        for (plural, k) in self.lock().iter() {
            let last = k.last_event.map_or_else(
                || "no event yet".to_string(),
                |t| format!("last event {} s ago", age_secs(t)),
            );
            match (&k.error, k.listed) {
                (Some((error, at)), _) => {
                    ready = false;
                    let _ = writeln!(
                        out,
                        "[-]watch {plural} failed {} s ago, retrying ({last}): {error}",
                        age_secs(*at)
                    );
                }
                (None, false) => {
                    ready = false;
                    let _ = writeln!(out, "[-]watch {plural} failed: not listed yet");
                }
                (None, true) => {
                    let _ = writeln!(
                        out,
                        "[+]watch {plural} ok: {} object(s), {} not ready, {last}",
                        k.objects, k.not_ready
                    );
                }
            }
        }
        ready
    }
}

fn age_secs(at: SystemTime) -> u64 {
    at.elapsed().map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_kind_is_listed_and_while_none_fails() {
        let health =
            ClusterHealth::new(["a".to_string(), "b".to_string()], WatchMetrics::default());
        let mut out = String::new();
        assert!(!health.readiness(&mut out));
        assert!(out.contains("[-]watch a failed: not listed yet"), "{out}");

        health.listed("a", 2, 1);
        health.listed("b", 0, 0);
        let mut out = String::new();
        assert!(health.readiness(&mut out), "{out}");
        assert!(
            out.contains("[+]watch a ok: 2 object(s), 1 not ready"),
            "{out}"
        );
        assert_eq!(health.totals(), (2, 1));

        health.failed("b", "connection refused".into());
        let mut out = String::new();
        assert!(!health.readiness(&mut out));
        assert!(out.contains("connection refused"), "{out}");
        health.event("b");
        assert!(health.readiness(&mut String::new()));
    }
}
