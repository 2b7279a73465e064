//! Registry credentials from a docker config.json reach a registry that requires basic auth;
//! without them, or with wrong ones, the failure names the registry and says what to fix. A
//! caller's own credentials (a workload's pull secrets) are tried before the configured ones,
//! most specific key first; its 401 is nobody else's verdict, its positive verdict everybody's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use portcullis_testkit::Registry;
use portcullis_verifier::cosign::sign::sign_image;
use portcullis_verifier::{
    CacheConfig, Credentials, ImageRef, KeyRequirement, PrivateKey, RegistryClient, RegistryConfig,
    RegistryError, Verifier, VerifyError,
};
use tokio::time::Instant;

fn client(addr: &str, config_json: Option<String>) -> RegistryClient {
    let credentials = config_json
        .map(|j| Credentials::from_json(&j).unwrap())
        .unwrap_or_default();
    RegistryClient::new(RegistryConfig {
        insecure: vec![addr.to_string()],
        credentials,
        backoff: Duration::from_millis(10),
        ..RegistryConfig::default()
    })
    .unwrap()
}

fn docker_config(addr: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    serde_json::json!({"auths": {addr: {"auth": auth}}}).to_string()
}

/// Pushes a tiny image as `image` (tag `1`) through `authed` and signs it with a fresh key.
async fn push_and_sign(authed: &RegistryClient, image: &ImageRef, soon: Instant) -> PrivateKey {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cfg = authed.push_blob(image, config, soon).await.unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": cfg},
        "layers": []
    });
    authed
        .put_manifest(
            image,
            "1",
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
            soon,
        )
        .await
        .unwrap();
    let key = PrivateKey::generate();
    sign_image(authed, image, &key, soon).await.unwrap();
    key
}

#[tokio::test]
async fn basic_auth_from_docker_config() {
    let registry = Registry::start_with_basic_auth("ci", "s3cret")
        .await
        .unwrap();
    let addr = registry.addr();
    let soon = Instant::now() + Duration::from_secs(20);
    let authed = client(&addr, Some(docker_config(&addr, "ci", "s3cret")));

    // Push through our client (blob upload + manifest), then sign and verify, all authenticated.
    let image: ImageRef = format!("{addr}/private/app:1").parse().unwrap();
    let key = push_and_sign(&authed, &image, soon).await;
    let req = Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![],
        format: Default::default(),
    });
    let verdict = Verifier::new(authed, CacheConfig::default())
        .verify(&image, &req, soon)
        .await;
    assert!(verdict.is_ok(), "{verdict:?}");

    for (label, creds) in [
        ("none", None),
        ("wrong", Some(docker_config(&addr, "ci", "nope"))),
    ] {
        let verdict = Verifier::new(client(&addr, creds), CacheConfig::default())
            .verify(&image, &req, soon)
            .await;
        match verdict.as_ref() {
            Err(VerifyError::Registry {
                source:
                    RegistryError::Unauthorized {
                        registry,
                        status: 401,
                        ..
                    },
                ..
            }) => {
                assert_eq!(registry, &addr, "{label}");
            }
            other => panic!("{label}: expected Unauthorized, got {other:?}"),
        }
        let text = verdict.as_ref().as_ref().unwrap_err().to_string();
        assert!(
            text.contains("check the pull secret / registry config"),
            "{text}"
        );
    }
}

fn creds(json: &str) -> Arc<Credentials> {
    Arc::new(Credentials::from_json(json).unwrap())
}

fn is_unauthorized(verdict: &portcullis_verifier::Verdict) -> bool {
    matches!(
        verdict.as_ref(),
        Err(VerifyError::Registry {
            source: RegistryError::Unauthorized { status: 401, .. },
            ..
        })
    )
}

#[tokio::test]
async fn a_callers_credentials_are_its_own_and_a_positive_verdict_is_shared() {
    let registry = Registry::start_with_basic_auth("ci", "s3cret")
        .await
        .unwrap();
    let addr = registry.addr();
    let soon = Instant::now() + Duration::from_secs(20);
    let authed = client(&addr, Some(docker_config(&addr, "ci", "s3cret")));
    let image: ImageRef = format!("{addr}/private/app:1").parse().unwrap();
    let key = push_and_sign(&authed, &image, soon).await;
    let req = Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![],
        format: Default::default(),
    });
    // No configured credentials: only the callers' own.
    let verifier = Verifier::new(client(&addr, None), CacheConfig::default());
    let wrong = verifier.with_credentials(creds(&docker_config(&addr, "ci", "nope")));
    assert!(is_unauthorized(&wrong.verify(&image, &req, soon).await));
    assert!(is_unauthorized(&verifier.verify(&image, &req, soon).await));

    // A wrong key for the repository's path is tried first, then the host's right one.
    let auth = |p: &str| base64::engine::general_purpose::STANDARD.encode(format!("ci:{p}"));
    let both = serde_json::json!({"auths": {
        format!("{addr}/private"): {"auth": auth("nope")},
        addr.clone(): {"auth": auth("s3cret")},
    }});
    let right = verifier.with_credentials(creds(&both.to_string()));
    let verdict = right.verify(&image, &req, soon).await;
    assert!(verdict.is_ok(), "{verdict:?}");
    assert_eq!(
        verifier
            .stats()
            .hits
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the 401s were not cached"
    );

    // The verdict is about the image: shared with callers that have no credentials.
    let verdict = verifier.verify(&image, &req, soon).await;
    assert!(verdict.is_ok(), "{verdict:?}");
    assert_eq!(
        verifier
            .stats()
            .hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn a_caller_waiting_on_another_callers_verification_does_not_inherit_its_401() {
    let registry = Registry::start_with_basic_auth("ci", "s3cret")
        .await
        .unwrap();
    let addr = registry.addr();
    let soon = Instant::now() + Duration::from_secs(20);
    let authed = client(&addr, Some(docker_config(&addr, "ci", "s3cret")));
    let tagged: ImageRef = format!("{addr}/private/app:1").parse().unwrap();
    let key = push_and_sign(&authed, &tagged, soon).await;
    let digest = authed.resolve(&tagged, soon).await.unwrap();
    let pinned: ImageRef = format!("{addr}/private/app@{}", digest.as_str())
        .parse()
        .unwrap();
    let req = Arc::new(KeyRequirement {
        keys: vec![key.public()],
        threshold: 1,
        attestations: vec![],
        format: Default::default(),
    });
    // A tag shares the in-flight tag resolution, a digest the in-flight verification: in both,
    // the wrong caller runs it (polled first) and the right one waits on it.
    for image in [tagged, pinned] {
        let verifier = Verifier::new(client(&addr, None), CacheConfig::default());
        let wrong = verifier.with_credentials(creds(&docker_config(&addr, "ci", "nope")));
        let right = verifier.with_credentials(creds(&docker_config(&addr, "ci", "s3cret")));
        let (w, r) = tokio::join!(
            wrong.verify(&image, &req, soon),
            right.verify(&image, &req, soon)
        );
        assert!(is_unauthorized(&w), "{image}: {w:?}");
        assert!(r.is_ok(), "{image}: {r:?}");
    }
}
