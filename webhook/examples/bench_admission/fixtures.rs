//! What the bench admits: the shipped guardrail policies plus a `ClusterImagePolicy` trusting
//! the bench key (as `pipelines/demo.sh` writes it), compliant pods, their AdmissionReviews, and
//! images pushed, signed and attested in the loopback registry with the verifier crate.
//!
//! Signing goes through `cosign::sign::{sign_image, attest_image}`, a few in parallel. The same
//! requirement, checked straight with the verifier crate, gives the floor of the cold scenario.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt as _;
use hyper::body::Bytes;
use portcullis_testkit::{Registry, push_image};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::{
    AttestationRequirement, CacheConfig, Condition, ImageRef, KeyRequirement, PrivateKey,
    RegistryClient, RegistryConfig, Verifier,
};
use serde_json::{Value, json};

/// Parallel registry operations during setup.
const SETUP_PARALLEL: usize = 16;
const SLSA1: &str = "https://slsa.dev/provenance/v1";
const REPOSITORY: &str = "https://github.com/portcullis-dev/portcullis";

/// Writes the policy directory: the shipped restricted and resource policies, and
/// `signed-images.yaml` requiring `key`'s signature and a SLSA provenance attestation from the
/// Portcullis repository on every `127.0.0.1:*/**` image.
pub fn policy_dir(dir: &Path, key: &PrivateKey) -> PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let library = portcullis_testkit::workspace_root().join("policies/library");
    for name in ["pod-security-restricted.yaml", "resource-limits.yaml"] {
        std::fs::copy(library.join(name), policies.join(name))
            .unwrap_or_else(|e| panic!("policies/library/{name}: {e}"));
    }
    let pem: String = key
        .public()
        .to_pem()
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let yaml = format!(
        "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: signed-images
spec:
  mode: enforce
  images: [\"127.0.0.1:*/**\"]
  authorities:
    keys:
      - name: bench-release
        pem: |
{pem}  attestations:
    - type: slsaprovenance1
      conditions:
        - path: $.buildDefinition.externalParameters.workflow.repository
          operator: equals
          value: {REPOSITORY}
  mutateDigest: true
"
    );
    std::fs::write(policies.join("signed-images.yaml"), yaml).unwrap();
    policies
}

/// A loopback `docker-registry`, its address, and a client allowed plain HTTP to it.
pub async fn registry() -> (Registry, String, RegistryClient) {
    let registry = Registry::start()
        .await
        .expect("docker-registry (run make bootstrap)");
    let reg = registry.addr();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![reg.clone()],
        ..RegistryConfig::default()
    })
    .unwrap();
    (registry, reg, client)
}

/// The binary to bench: `$PORTCULLIS_BIN`, else `portcullis` next to this example's directory
/// (`target/release/portcullis` for `cargo run --release --example`).
pub fn portcullis_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PORTCULLIS_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    profile_dir.join("portcullis")
}

/// A pod that passes the restricted and resource policies, one container per image.
pub fn pod(name: &str, images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({
                "name": format!("c{i}"),
                "image": image,
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true,
                    "runAsUser": 10001
                },
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "200m", "memory": "128Mi"}
                }
            })
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": name}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": containers
        }
    })
}

/// The AdmissionReview the API server sends for creating `pod`, as request bytes.
pub fn review(uid: &str, pod: &Value) -> Bytes {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": pod["metadata"]["name"],
            "namespace": "bench",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": pod,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    });
    Bytes::from(serde_json::to_vec(&review).unwrap())
}

/// Signs `image` with `key` and attests the Portcullis provenance about it.
pub async fn sign_and_attest(client: &RegistryClient, image: &ImageRef, key: &PrivateKey) {
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(30);
    sign_image(client, image, key, deadline())
        .await
        .unwrap_or_else(|e| panic!("sign {image}: {e}"));
    let provenance = json!({
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {"workflow": {"repository": REPOSITORY,
                "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}},
            "resolvedDependencies": []
        },
        "runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"},
                       "metadata": {"invocationId": "bench"}}
    });
    attest_image(client, image, key, SLSA1, provenance, deadline())
        .await
        .unwrap_or_else(|e| panic!("attest {image}: {e}"));
}

/// Pushes `count` distinct images `<registry>/<repo>:v<i>`, signs and attests each; returns
/// their tag references (in order).
pub async fn publish_tagged(
    client: &RegistryClient,
    registry: &str,
    repo: &str,
    count: usize,
    key: &PrivateKey,
) -> Vec<String> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            let tag = format!("v{i}");
            push_image(registry, repo, &tag, format!("{repo}-{i}").as_bytes())
                .await
                .unwrap_or_else(|e| panic!("push {repo}:{tag}: {e:#}"));
            let image = format!("{registry}/{repo}:{tag}");
            sign_and_attest(client, &image.parse().unwrap(), key).await;
            image
        })
        .buffered(SETUP_PARALLEL)
        .collect()
        .await
}

/// `count` distinct digest references `<registry>/<repo>@sha256:<hex>` of images that were never
/// pushed (the digests are hashes of `seed` and the index).
pub fn digest_refs(registry: &str, repo: &str, seed: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let digest = portcullis_verifier::Digest::of(format!("{seed}-{i}").as_bytes());
            format!("{registry}/{repo}@{digest}")
        })
        .collect()
}

/// What `signed-images.yaml` asks of an image, as the verifier crate's [`KeyRequirement`].
pub fn requirement(key: &PrivateKey) -> KeyRequirement {
    let condition =
        format!("$.buildDefinition.externalParameters.workflow.repository == {REPOSITORY}");
    KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![AttestationRequirement {
            predicate_type: SLSA1.into(),
            conditions: vec![Condition::parse(&condition).unwrap()],
        }],
        format: Default::default(),
    }
}

/// (d)'s floor: each pod's images verified straight with the verifier crate from this process,
/// in parallel, with a fresh cache per pod (the registry connections stay warm, as in the
/// server). Returns the sorted latencies per pod.
pub async fn verify_directly(
    client: &RegistryClient,
    images: &[String],
    per_pod: usize,
    requirement: &KeyRequirement,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for pod in images.chunks(per_pod) {
        let verifier = Verifier::new(client.clone(), CacheConfig::default());
        let refs: Vec<ImageRef> = pod.iter().map(|i| i.parse().unwrap()).collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let started = std::time::Instant::now();
        let verdicts = futures::future::join_all(
            refs.iter()
                .map(|image| verifier.verify(image, requirement, deadline)),
        )
        .await;
        latencies.push(started.elapsed());
        for (image, verdict) in refs.iter().zip(verdicts) {
            if let Err(e) = verdict.as_ref() {
                panic!("{image} does not verify: {e}");
            }
        }
    }
    latencies.sort_unstable();
    latencies
}

/// The kinds `portcullis serve` watches, as the testkit's API server serves them (for the
/// cluster-policy bench and demo; `bench_admission` does not watch).
#[allow(dead_code)]
pub fn policy_resources() -> Vec<portcullis_testkit::apiserver::Resource> {
    use portcullis_testkit::apiserver::Resource;
    portcullis_webhook::serve::cluster::policy_kinds()
        .iter()
        .map(|kind| {
            let r = &kind.resource;
            if kind.namespaced {
                Resource::namespaced(&r.group, &r.version, &r.kind, &r.plural)
            } else {
                Resource::cluster(&r.group, &r.version, &r.kind, &r.plural)
            }
        })
        .collect()
}
