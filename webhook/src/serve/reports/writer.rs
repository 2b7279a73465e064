//! Writing the per-resource reports: server-side apply (field manager `portcullis`) of each
//! report whose results changed since it was last written, and deletion of the reports whose
//! resource is gone, paced to a number of writes per second.
//!
//! What was written is remembered in memory. After a restart the first run lists the reports
//! labelled `app.kubernetes.io/managed-by: portcullis`, so that the reports of resources deleted
//! while the webhook was down are found, and writes every report once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::Value;
use tokio::time::Instant;

use super::ReportMetrics;
use crate::commands::audit::cluster::pages;
use crate::commands::audit::policy_report::MANAGED_BY;
use crate::serve::cluster::FIELD_MANAGER;

/// A report to have in the cluster.
pub struct Desired {
    pub report: Value,
    /// The kind of the resource it is about.
    pub kind: String,
    /// Its results, hashed.
    pub hash: u64,
}

/// A report in the cluster: the kind of its resource and the hash of what was written (`None`:
/// found in the cluster, content unknown).
struct Written {
    kind: String,
    hash: Option<u64>,
}

/// What one sync did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Synced {
    pub applied: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub failed: usize,
}

pub struct Writer {
    client: kube::Client,
    /// By (namespace, name).
    written: HashMap<(String, String), Written>,
    /// Whether the cluster's reports have been listed once (else tried again next run).
    seeded: bool,
    pace: tokio::time::Interval,
    metrics: ReportMetrics,
}

fn resource(namespaced: bool) -> ApiResource {
    let (kind, plural) = if namespaced {
        ("PolicyReport", "policyreports")
    } else {
        ("ClusterPolicyReport", "clusterpolicyreports")
    };
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: "wgpolicyk8s.io/v1alpha2".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

impl Writer {
    pub fn new(client: kube::Client, qps: u32, metrics: ReportMetrics) -> Self {
        let mut pace = tokio::time::interval(Duration::from_secs(1) / qps.max(1));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            client,
            written: HashMap::new(),
            seeded: false,
            pace,
            metrics,
        }
    }

    fn api(&self, namespace: &str) -> Api<DynamicObject> {
        if namespace.is_empty() {
            Api::all_with(self.client.clone(), &resource(false))
        } else {
            Api::namespaced_with(self.client.clone(), namespace, &resource(true))
        }
    }

    /// The reports labelled as ours, in every namespace, listed until `deadline`.
    async fn list_ours(
        &self,
        deadline: Instant,
    ) -> Result<HashMap<(String, String), Written>, String> {
        let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
        let mut out = HashMap::new();
        for namespaced in [true, false] {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource(namespaced));
            let params = ListParams::default().labels(&selector).limit(500);
            let (reports, error) = pages(&api, params, deadline).await;
            if let Some(error) = error {
                return Err(error);
            }
            for report in reports {
                let key = (
                    report.metadata.namespace.clone().unwrap_or_default(),
                    report.metadata.name.clone().unwrap_or_default(),
                );
                let kind = report.data["scope"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                out.insert(key, Written { kind, hash: None });
            }
        }
        Ok(out)
    }

    /// Applies what changed in `desired` and deletes our reports of resources no longer there,
    /// only for the kinds in `complete` (listed to the end).
    pub async fn sync(
        &mut self,
        desired: BTreeMap<(String, String), Desired>,
        complete: &HashSet<&str>,
        deadline: Instant,
    ) -> Synced {
        let mut synced = Synced::default();
        let mut written = std::mem::take(&mut self.written);
        if !self.seeded {
            match self.list_ours(deadline).await {
                Ok(found) => {
                    self.seeded = true;
                    for (key, w) in found {
                        written.entry(key).or_insert(w);
                    }
                }
                // Reports of resources deleted while the webhook was away are then found on a
                // later run; the garbage collector removes them anyway.
                Err(error) => tracing::warn!(%error, "Listing existing reports failed"),
            }
        }
        for ((namespace, name), want) in &desired {
            let key = (namespace.clone(), name.clone());
            if written.get(&key).and_then(|w| w.hash) == Some(want.hash) {
                synced.unchanged += 1;
                continue;
            }
            self.pace.tick().await;
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let result = self
                .api(namespace)
                .patch(name, &params, &Patch::Apply(&want.report))
                .await;
            self.metrics.write("apply", result.is_ok());
            match result {
                Ok(_) => {
                    synced.applied += 1;
                    written.insert(
                        key,
                        Written {
                            kind: want.kind.clone(),
                            hash: Some(want.hash),
                        },
                    );
                }
                Err(error) => {
                    synced.failed += 1;
                    tracing::warn!(%error, namespace, name, "Writing a report failed");
                }
            }
        }
        let gone: Vec<(String, String)> = written
            .iter()
            .filter(|(key, w)| !desired.contains_key(*key) && complete.contains(w.kind.as_str()))
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.pace.tick().await;
            let (namespace, name) = &key;
            let result = self
                .api(namespace)
                .delete(name, &DeleteParams::default())
                .await;
            let ok = match &result {
                Ok(_) => true,
                Err(kube::Error::Api(status)) => status.code == 404,
                Err(_) => false,
            };
            self.metrics.write("delete", ok);
            if ok {
                synced.deleted += 1;
                written.remove(&key);
            } else {
                synced.failed += 1;
                if let Err(error) = result {
                    tracing::warn!(%error, namespace, name, "Deleting a report failed");
                }
            }
        }
        self.written = written;
        synced
    }
}
