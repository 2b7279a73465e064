//! `--output policyreport` and `--output openreports`: the audit results as Kubernetes report
//! resources, a YAML stream of documents that `kubectl apply -f -` takes.
//!
//! One namespaced report per namespace holds the results of the resources in it, and one
//! cluster report holds the rest: cluster-scoped resources, manifests that leave the namespace
//! to `kubectl apply -n`, and resources that could not be read (their namespace is unknown). The
//! two flavours carry the same content: `wgpolicyk8s.io/v1alpha2` `PolicyReport` /
//! `ClusterPolicyReport` (the Kubernetes Policy WG format) and `openreports.io/v1alpha1`
//! `Report` / `ClusterReport` (OpenReports, its successor). Each result names its policy, rule,
//! status, message (reasons and fix), the resource, and as properties the checklist controls,
//! the policy's mode and kind, and where the resource was read.
//!
//! [`for_resource`] builds the other shape, one report per audited resource, which `serve
//! --report-interval` writes to the cluster.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::report::Counts;
use super::results::{AuditResult, Status};

/// The `source` of every result, and the report name in each namespace.
pub const SOURCE: &str = "portcullis";
const REPORT_NAME: &str = "portcullis-audit";
/// The label every report carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", SOURCE);

/// Which report resources to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport` / `ClusterPolicyReport`.
    PolicyReport,
    /// `openreports.io/v1alpha1` `Report` / `ClusterReport`.
    OpenReports,
}

impl Flavour {
    fn api_version(self) -> &'static str {
        match self {
            Flavour::PolicyReport => "wgpolicyk8s.io/v1alpha2",
            Flavour::OpenReports => "openreports.io/v1alpha1",
        }
    }

    fn kind(self, namespaced: bool) -> &'static str {
        match (self, namespaced) {
            (Flavour::PolicyReport, true) => "PolicyReport",
            (Flavour::PolicyReport, false) => "ClusterPolicyReport",
            (Flavour::OpenReports, true) => "Report",
            (Flavour::OpenReports, false) => "ClusterReport",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata<'a>,
    /// The one resource a per-resource report is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<ObjectRef<'a>>,
    /// OpenReports only: the engine that wrote the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    summary: Counts,
    results: Vec<ReportResult<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    labels: BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    owner_references: Vec<ObjectRef<'a>>,
}

#[derive(Serialize)]
struct ReportResult<'a> {
    source: &'static str,
    policy: &'a str,
    rule: &'a str,
    result: Status,
    message: String,
    scored: bool,
    timestamp: Timestamp,
    resources: [ObjectRef<'a>; 1],
    properties: BTreeMap<&'static str, String>,
}

#[derive(Serialize, Clone, Copy)]
struct Timestamp {
    seconds: u64,
    nanos: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    api_version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    namespace: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
}

/// The resource a per-resource report is about.
pub struct Scope<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

fn result_of(r: &AuditResult, timestamp: Timestamp) -> ReportResult<'_> {
    let mut properties = BTreeMap::new();
    if !r.controls.is_empty() {
        properties.insert("controls", r.controls.join(", "));
    }
    if let Some(mode) = r.mode {
        properties.insert("mode", mode.as_str().to_string());
    }
    if let Some(kind) = r.policy_kind {
        properties.insert("policyKind", kind.to_string());
    }
    match (r.resource.file.as_str(), r.resource.line) {
        ("", _) => {}
        (file, 0) => {
            properties.insert("source", file.to_string());
        }
        (file, line) => {
            properties.insert("source", format!("{file}:{line}"));
        }
    }
    ReportResult {
        source: SOURCE,
        policy: r.policy_name(),
        rule: &r.rule,
        result: r.status,
        message: r.message(),
        scored: true,
        timestamp,
        resources: [ObjectRef {
            api_version: &r.resource.api_version,
            kind: &r.resource.kind,
            namespace: &r.resource.namespace,
            name: &r.resource.name,
            uid: "",
        }],
        properties,
    }
}

/// The reports for `results`, as a YAML stream: the cluster report first, then one report per
/// namespace in name order. The cluster report is always written, empty when every resource
/// is namespaced, so that applying a later audit replaces an earlier one's findings.
pub fn yaml(results: &[AuditResult], flavour: Flavour, now: SystemTime) -> anyhow::Result<String> {
    let timestamp = timestamp(now)?;
    let mut by_namespace: HashMap<&str, Vec<&AuditResult>> = HashMap::new();
    for r in results {
        by_namespace
            .entry(r.resource.namespace.as_str())
            .or_default()
            .push(r);
    }
    let mut namespaces: Vec<&str> = by_namespace.keys().copied().collect();
    if !namespaces.contains(&"") {
        namespaces.push("");
    }
    namespaces.sort_unstable();
    let reports: Vec<Report<'_>> = namespaces
        .into_iter()
        .map(|ns| {
            let members = by_namespace.get(ns).map(Vec::as_slice).unwrap_or_default();
            let mut summary = Counts::default();
            for r in members {
                summary.add(r.status);
            }
            Report {
                api_version: flavour.api_version(),
                kind: flavour.kind(!ns.is_empty()),
                metadata: Metadata {
                    name: REPORT_NAME,
                    namespace: ns,
                    labels: BTreeMap::from([MANAGED_BY]),
                    owner_references: Vec::new(),
                },
                scope: None,
                source: (flavour == Flavour::OpenReports).then_some(SOURCE),
                summary,
                results: members.iter().map(|r| result_of(r, timestamp)).collect(),
            }
        })
        .collect();
    Ok(serde_saphyr::to_string_multiple(&reports)?)
}

fn timestamp(now: SystemTime) -> anyhow::Result<Timestamp> {
    let since = now.duration_since(UNIX_EPOCH)?;
    Ok(Timestamp {
        seconds: since.as_secs(),
        nanos: since.subsec_nanos(),
    })
}

/// The report of one resource, as JSON: named by the resource's uid (as Kyverno names its
/// per-resource reports), in its namespace (a cluster report for a cluster-scoped resource),
/// with `scope` naming the resource and an owner reference to it, so that the API server's
/// garbage collector removes the report with the resource. `results` are that resource's.
pub fn for_resource(
    results: &[AuditResult],
    scope: &Scope,
    flavour: Flavour,
    now: SystemTime,
) -> anyhow::Result<serde_json::Value> {
    let timestamp = timestamp(now)?;
    let mut summary = Counts::default();
    for r in results {
        summary.add(r.status);
    }
    let resource = || ObjectRef {
        api_version: scope.api_version,
        kind: scope.kind,
        namespace: "",
        name: scope.name,
        uid: scope.uid,
    };
    let report = Report {
        api_version: flavour.api_version(),
        kind: flavour.kind(!scope.namespace.is_empty()),
        metadata: Metadata {
            name: scope.uid,
            namespace: scope.namespace,
            labels: BTreeMap::from([MANAGED_BY]),
            owner_references: vec![resource()],
        },
        scope: Some(ObjectRef {
            namespace: scope.namespace,
            ..resource()
        }),
        source: (flavour == Flavour::OpenReports).then_some(SOURCE),
        summary,
        results: results.iter().map(|r| result_of(r, timestamp)).collect(),
    };
    Ok(serde_json::to_value(report)?)
}
