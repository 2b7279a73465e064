//! The storm's workload: pod-carrying CREATE AdmissionReviews (Pods, Deployments and Jobs, whose
//! pod templates the webhook checks like pods) over a set of images with Zipf-like popularity.
//!
//! Deterministic: the same seed gives the same reviews in the same order. Every image appears at
//! least once; the rest of the reviews draw image `k` (0-based rank) with weight `1 / (k + 1)`,
//! so a few images carry most of the storm and the tail is seen once or twice, as in a cluster
//! where a few base images run everywhere.

use anyhow::{Context, Result};
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::fixtures;

/// One review to send and the index of the image it carries.
pub struct Planned {
    pub body: Bytes,
    pub image: usize,
}

/// `count` reviews over `images` (see the module docs), shuffled with `seed`.
pub fn plan(images: &[String], count: usize, seed: u64) -> Result<Vec<Planned>> {
    anyhow::ensure!(
        !images.is_empty() && count >= images.len(),
        "a storm of {count} reviews cannot carry each of {} images",
        images.len()
    );
    let mut rng = SplitMix(seed);
    let cdf = zipf_cdf(images.len());
    let mut picks: Vec<usize> = (0..images.len()).collect();
    picks.extend((images.len()..count).map(|_| {
        let u = rng.unit();
        cdf.partition_point(|&c| c < u).min(images.len() - 1)
    }));
    // Fisher-Yates with the same generator.
    for i in (1..picks.len()).rev() {
        picks.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    picks
        .into_iter()
        .enumerate()
        .map(|(i, image)| {
            let body = review(i, &images[image], rng.next() % 20)?;
            Ok(Planned { body, image })
        })
        .collect()
}

/// The cumulative Zipf (s = 1) distribution over `n` ranks.
fn zipf_cdf(n: usize) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

/// Review `i` of the storm: 12 in 20 are Pods (as the ReplicaSet controller creates them),
/// 5 in 20 Deployments and 3 in 20 Jobs, by `pick`.
fn review(i: usize, image: &str, pick: u64) -> Result<Bytes> {
    let name = format!("storm-{i}");
    let pod = fixtures::pod(&name, &[image.to_string()]);
    let meta = json!({"name": name, "namespace": "bench", "labels": {"app": name}});
    let template = json!({"metadata": {"labels": {"app": name}}, "spec": pod["spec"]});
    let (group, version, kind, resource, object) = match pick {
        0..12 => ("", "v1", "Pod", "pods", pod),
        12..17 => (
            "apps",
            "v1",
            "Deployment",
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "template": template}}),
        ),
        _ => (
            "batch",
            "v1",
            "Job",
            "jobs",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                   "spec": {"template": {"metadata": template["metadata"],
                            "spec": with_restart_never(&template["spec"])}}}),
        ),
    };
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": resource});
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("storm-{i}"),
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": name,
            "namespace": "bench",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    });
    Ok(Bytes::from(
        serde_json::to_vec(&review).context("encode a storm review")?,
    ))
}

fn with_restart_never(spec: &Value) -> Value {
    let mut spec = spec.clone();
    spec["restartPolicy"] = json!("Never");
    spec
}

/// SplitMix64: small, fast and deterministic; enough for a load plan.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
