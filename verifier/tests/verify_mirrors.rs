//! Registry mirrors: an image named after one registry is read from another host, keeps its name
//! in verdicts, and a mirror that cannot answer is an error naming the mirror (no fallback).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_verifier::{
    CacheConfig, ImageRef, Mirror, PrivateKey, RegistryClient, RegistryConfig, RegistryError,
    Verifier, VerifyError,
};
use support::{requirement, signed_image, soon};

fn mirrored_verifier(mirror: &str, insecure: &str) -> Verifier {
    let client = RegistryClient::new(RegistryConfig {
        insecure: vec![insecure.to_string()],
        mirrors: vec![mirror.parse::<Mirror>().unwrap()],
        ..RegistryConfig::default()
    })
    .unwrap();
    Verifier::new(client, CacheConfig::default())
}

#[tokio::test]
async fn an_image_named_after_its_registry_verifies_from_the_mirror() {
    // The mirror holds ghcr.io/acme/app under the prefix "ghcr", signed there.
    let (env, key, _, signed) = signed_image("ghcr/acme/app", "v1", b"mirrored").await;
    env.proxy.clear_requests();

    let verifier = mirrored_verifier(
        &format!("ghcr.io={}/ghcr", env.proxy.addr()),
        &env.proxy.addr(),
    );
    let image: ImageRef = "ghcr.io/acme/app:v1".parse().unwrap();
    let verdict = verifier
        .verify(&image, &requirement(&[&key], 1), soon())
        .await;
    let verified = verdict.as_ref().as_ref().unwrap();
    assert_eq!(verified.digest, signed.digest);
    let requests = env.proxy.requests();
    assert!(
        !requests.is_empty()
            && requests
                .iter()
                .all(|(_, path)| path.starts_with("/v2/ghcr/acme/app/")),
        "every request went to the mirror under the prefix: {requests:?}"
    );

    // Another registry's images are not routed through the mirror.
    let other: ImageRef = format!("{}/ghcr/acme/app:v1", env.proxy.addr())
        .parse()
        .unwrap();
    let direct = verifier
        .verify(&other, &requirement(&[&key], 1), soon())
        .await;
    assert_eq!(
        direct.as_ref().as_ref().unwrap().digest,
        signed.digest,
        "the mirror's own address still works"
    );
}

#[tokio::test]
async fn a_mirror_that_does_not_answer_is_named_and_not_bypassed() {
    let dead = format!("127.0.0.1:{}", portcullis_testkit::free_port());
    let verifier = mirrored_verifier(&format!("ghcr.io={dead}"), &dead);
    let image: ImageRef = "ghcr.io/acme/app:v1".parse().unwrap();
    let key = PrivateKey::generate();
    let verdict = verifier
        .verify(&image, &requirement(&[&key], 1), soon())
        .await;
    match verdict.as_ref() {
        Err(VerifyError::Registry {
            source: RegistryError::Unreachable { registry, .. },
            ..
        }) => assert_eq!(registry, &dead),
        other => panic!("expected the mirror {dead} to be named as unreachable: {other:?}"),
    }
}
