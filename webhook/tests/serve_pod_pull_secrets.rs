//! `portcullis serve --pod-pull-secrets` over TLS: images in a registry that requires basic auth
//! are verified with the workload's own pull secrets, read from the testkit's test API server
//! (the pod's `imagePullSecrets`, or its ServiceAccount's). A wrong secret is denied naming the
//! registry and its 401, and does not spoil the verdict for a workload with the right one;
//! without the flag the same pod is denied; the flag without a cluster connection is refused at
//! startup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::time::Duration;

use base64::Engine as _;
use portcullis_testkit::Registry;
use portcullis_testkit::apiserver::ApiServer;
use portcullis_verifier::{
    Credentials, ImageRef, PrivateKey, RegistryClient, RegistryConfig, cosign::sign::sign_image,
};
use serde_json::{Value, json};
use serve_support::*;

const VALIDATE: &str = "/validate?timeout=10s";
const USER: &str = "puller";
const PASSWORD: &str = "s3cret";

/// A `.dockerconfigjson` for `registry`.
fn docker_config(registry: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    json!({"auths": {registry: {"auth": auth}}}).to_string()
}

/// A `kubernetes.io/dockerconfigjson` Secret in `apps`.
fn pull_secret(name: &str, config: &str) -> Value {
    let data = base64::engine::general_purpose::STANDARD.encode(config);
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
           "metadata": {"name": name, "namespace": "apps"},
           "data": {".dockerconfigjson": data}})
}

fn service_account(name: &str, secrets: &[&str]) -> Value {
    let refs: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": "apps"}, "imagePullSecrets": refs})
}

/// The compliant pod in `apps` running `image`, with `imagePullSecrets` and a ServiceAccount.
fn pod(image: &str, secrets: &[&str], account: Option<&str>) -> Value {
    let mut pod = compliant_pod();
    pod["spec"]["containers"][0]["image"] = json!(image);
    if !secrets.is_empty() {
        let refs: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
        pod["spec"]["imagePullSecrets"] = json!(refs);
    }
    if let Some(account) = account {
        pod["spec"]["serviceAccountName"] = json!(account);
    }
    pod
}

/// Pushes a tiny image as `repo:1` through `client` (authenticated) and signs it with `key`.
async fn push_signed(client: &RegistryClient, registry: &str, repo: &str, key: &PrivateKey) {
    let soon = tokio::time::Instant::now() + Duration::from_secs(30);
    let image: ImageRef = format!("{registry}/{repo}:1").parse().unwrap();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"comment":"{repo}"}}"#
    );
    let digest = client
        .push_blob(&image, config.as_bytes(), soon)
        .await
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "size": config.len(), "digest": digest},
        "layers": []
    });
    client
        .put_manifest(
            &image,
            "1",
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
            soon,
        )
        .await
        .unwrap();
    sign_image(client, &image, key, soon).await.unwrap();
}

struct Setup {
    registry: Registry,
    api: ApiServer,
    work: Workdir,
}

/// A basic-auth registry with `private/a:1` and `private/b:1` signed; the test API server with
/// the right (`regcred`) and a wrong (`wrongcred`) pull secret and a ServiceAccount `builder`
/// whose pull secret is `regcred`; a policy folder requiring the signature on the registry.
async fn setup() -> Setup {
    let registry = Registry::start_with_basic_auth(USER, PASSWORD)
        .await
        .unwrap();
    let addr = registry.addr();
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![addr.clone()],
        credentials: Credentials::from_json(&docker_config(&addr, USER, PASSWORD)).unwrap(),
        ..RegistryConfig::default()
    })
    .unwrap();
    let key = PrivateKey::generate();
    for repo in ["private/a", "private/b"] {
        push_signed(&client, &addr, repo, &key).await;
    }

    let mut resources = policy_resources();
    resources.extend(pull_secret_resources());
    let api = ApiServer::start(resources).await.unwrap();
    api.apply(pull_secret(
        "regcred",
        &docker_config(&addr, USER, PASSWORD),
    ))
    .unwrap();
    api.apply(pull_secret(
        "wrongcred",
        &docker_config(&addr, USER, "not-the-password"),
    ))
    .unwrap();
    api.apply(service_account("builder", &["regcred"])).unwrap();

    let work = Workdir::new();
    std::fs::write(
        work.policies.join("signed.yaml"),
        key_policy(&key, "signed", "127.0.0.1:*/**", "enforce"),
    )
    .unwrap();
    Setup {
        registry,
        api,
        work,
    }
}

impl Setup {
    /// `portcullis serve` on the test API server, with `extra` flags.
    async fn serve(&self, extra: &[&str]) -> (Server, Client) {
        let kubeconfig = self.api.write_kubeconfig(self.work.dir.path()).unwrap();
        let addr = self.registry.addr();
        let mut flags = vec![
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--no-match",
            "allow",
            "--allow-http-registry",
            &addr,
        ];
        flags.extend_from_slice(extra);
        let server = self.work.start(&flags);
        eventually("readyz to pass", || async {
            (server.readyz().await.0 == 200).then_some(())
        })
        .await;
        let client = self.work.connect(&server).await;
        (server, client)
    }

    fn image(&self, repo: &str) -> String {
        format!("{}/{repo}:1", self.registry.addr())
    }
}

async fn decide(client: &mut Client, uid: &str, pod: &Value) -> (bool, String) {
    let response = client.review(VALIDATE, &review_for(uid, pod)).await;
    (
        response["allowed"].as_bool().unwrap(),
        response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn pull_secrets_of_the_pod_and_its_service_account_reach_the_registry() {
    let setup = setup().await;
    let (server, mut client) = setup.serve(&["--pod-pull-secrets"]).await;
    let registry = setup.registry.addr();

    // The wrong password first: denied, naming the registry and its 401.
    let (allowed, message) = decide(
        &mut client,
        "wrong",
        &pod(&setup.image("private/a"), &["wrongcred"], None),
    )
    .await;
    assert!(!allowed, "{}", server.log_text());
    assert!(
        message.contains(&format!("registry {registry} refused access"))
            && message.contains("(401)"),
        "{message}"
    );

    // The pod's own secret: admitted; the other workload's 401 was not kept for it.
    let (allowed, message) = decide(
        &mut client,
        "pod-secret",
        &pod(&setup.image("private/a"), &["regcred"], None),
    )
    .await;
    assert!(allowed, "{message}\n{}", server.log_text());

    // Through the ServiceAccount's pull secret, on an image not verified before: admitted.
    let (allowed, message) = decide(
        &mut client,
        "account-secret",
        &pod(&setup.image("private/b"), &[], Some("builder")),
    )
    .await;
    assert!(allowed, "{message}\n{}", server.log_text());

    // The secrets and the ServiceAccount were read from the API server.
    let paths: Vec<String> = setup
        .api
        .requests()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.path)
        .collect();
    for path in [
        "/api/v1/namespaces/apps/secrets/regcred",
        "/api/v1/namespaces/apps/secrets/wrongcred",
        "/api/v1/namespaces/apps/serviceaccounts/builder",
    ] {
        assert!(
            paths.iter().any(|p| p == path),
            "{path} not read: {paths:?}"
        );
    }
}

#[tokio::test]
async fn without_the_flag_the_pull_secrets_are_not_used() {
    let setup = setup().await;
    let (_server, mut client) = setup.serve(&[]).await;
    let (allowed, message) = decide(
        &mut client,
        "no-flag",
        &pod(&setup.image("private/a"), &["regcred"], Some("builder")),
    )
    .await;
    assert!(!allowed);
    assert!(
        message.contains(&format!(
            "registry {} refused access",
            setup.registry.addr()
        )) && message.contains("(401)"),
        "{message}"
    );
    assert!(
        !setup
            .api
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/api/v1/")),
        "no secret is read without --pod-pull-secrets"
    );
}

#[tokio::test]
async fn the_flag_without_a_cluster_connection_is_refused_at_startup() {
    let work = Workdir::new();
    let output = work.serve_to_exit(&["--cluster-policies", "off", "--pod-pull-secrets"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--pod-pull-secrets reads the workloads' pull secrets through the API server"
        ),
        "{stderr}"
    );
}
