//! Interoperability with the real cosign 3.1 binary (`cosign3`, from Debian sid via
//! `make bootstrap`), key-based, on a loopback registry without the referrers API (CNCF
//! distribution 2.8): cosign 3 stores its Sigstore bundles as OCI referrers under the
//! `sha256-<hex>` fallback tag, and they verify here as signatures and attestations; cosign 3
//! verifies the classic signatures and attestations we write. An altered bundle, a bundle for
//! another digest, the wrong key and a referrer whose subject is another image are each denied
//! with their own reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use portcullis_testkit::cosign::{Cosign, PASSWORD, provenance, provenance_predicate};
use portcullis_verifier::cosign::sign::{attest_image, sign_image};
use portcullis_verifier::registry::manifest::OCI_INDEX;
use portcullis_verifier::{
    AttestationRequirement, Condition, Digest, ImageRef, KeyRequirement, PrivateKey, PublicKey,
    RegistryClient, SignatureFormat, VerifyError,
};
use serde_json::Value;
use support::{Env, requirement, soon};

const SLSA1: &str = "https://slsa.dev/provenance/v1";
const REPO_COND: &str =
    "$.buildDefinition.externalParameters.workflow.repository == https://github.com/org/repo";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// cosign 3 with a key pair and an offline signing config.
struct Signer3 {
    cosign: Cosign,
    sc: &'static str,
    public: PublicKey,
}

impl Signer3 {
    fn new() -> Self {
        let cosign = Cosign::v3();
        assert!(cosign.run(&["generate-key-pair"]).status.success());
        let sc = cosign.offline_signing_config();
        let pem = std::fs::read_to_string(cosign.dir().join("cosign.pub")).unwrap();
        let public = PublicKey::from_pem(&pem, "cosign.pub").unwrap();
        Self { cosign, sc, public }
    }

    fn sign(&self, pinned: &str) {
        let args = [
            "sign",
            "--key",
            "cosign.key",
            "--signing-config",
            self.sc,
            "--yes",
        ];
        assert!(self.cosign.succeeds_on(&args, pinned), "cosign 3 sign");
    }

    fn attest(&self, pinned: &str, repo: &str) {
        let predicate = provenance(self.cosign.dir(), repo);
        let args = [
            "attest",
            "--key",
            "cosign.key",
            "--signing-config",
            self.sc,
            "--type",
            "slsaprovenance1",
            "--predicate",
            &predicate,
            "--yes",
        ];
        assert!(self.cosign.succeeds_on(&args, pinned), "cosign 3 attest");
    }

    fn requirement(&self, conditions: &[&str]) -> Arc<KeyRequirement> {
        let attestations = if conditions.is_empty() {
            Vec::new()
        } else {
            vec![AttestationRequirement {
                predicate_type: SLSA1.into(),
                conditions: conditions
                    .iter()
                    .map(|c| Condition::parse(c).unwrap())
                    .collect(),
            }]
        };
        Arc::new(KeyRequirement {
            keys: vec![self.public.clone()],
            threshold: 1,
            attestations,
            format: Default::default(),
        })
    }
}

/// Pushes an image straight to the registry; returns it, its digest and `repo@digest`.
async fn image(env: &Env, client: &RegistryClient, tag: &str) -> (ImageRef, Digest, String) {
    let image = env.push_direct("cosign3", tag, tag.as_bytes()).await;
    let digest = client.resolve(&image, soon()).await.unwrap();
    let pinned = image.with_digest(digest.clone()).to_string();
    (image, digest, pinned)
}

fn fallback_tag(digest: &Digest) -> String {
    format!("sha256-{}", digest.hex())
}

async fn json_manifest(client: &RegistryClient, image: &ImageRef, reference: &str) -> Value {
    let fetched = client.get_manifest(image, reference, soon()).await.unwrap();
    serde_json::from_slice(&fetched.expect("manifest exists").bytes).unwrap()
}

/// The single referrer manifest cosign 3 listed for `digest`, and its bundle JSON.
async fn referrer(client: &RegistryClient, image: &ImageRef, digest: &Digest) -> (Value, Value) {
    let index = json_manifest(client, image, &fallback_tag(digest)).await;
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    let manifest = json_manifest(client, image, entries[0]["digest"].as_str().unwrap()).await;
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = client.get_blob(image, layer, soon()).await.unwrap();
    (manifest, serde_json::from_slice(&blob).unwrap())
}

/// Lists `manifest` (with `bundle` as its layer) alone under `image`'s fallback tag for
/// `digest`, as cosign would have; returns the manifest's digest.
async fn list_referrer(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    mut manifest: Value,
    bundle: &Value,
) -> Digest {
    let blob = serde_json::to_vec(bundle).unwrap();
    let blob_digest = client.push_blob(image, &blob, soon()).await.unwrap();
    manifest["layers"][0]["digest"] = blob_digest.to_string().into();
    manifest["layers"][0]["size"] = blob.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = Digest::of(&bytes);
    client
        .put_manifest(
            image,
            manifest_digest.as_str(),
            OCI_MANIFEST,
            &bytes,
            soon(),
        )
        .await
        .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "size": bytes.len(),
            "digest": manifest_digest.to_string(),
            "artifactType": "application/vnd.oci.empty.v1+json",
        }],
    });
    let index = serde_json::to_vec(&index).unwrap();
    client
        .put_manifest(image, &fallback_tag(digest), OCI_INDEX, &index, soon())
        .await
        .unwrap();
    manifest_digest
}

#[tokio::test]
async fn cosign3_bundles_verify_here_as_signatures_and_attestations() {
    let signer = Signer3::new();
    let env = Env::start().await;
    let (client, verifier) = env.direct();
    let (img, digest, pinned) = image(&env, &client, "signed").await;

    // Before anything is attached, nothing found names both places and their media types.
    let nothing = verifier
        .verify(&img, &signer.requirement(&[REPO_COND]), soon())
        .await;
    match nothing.as_ref() {
        Err(VerifyError::AttestationNotFound { looked, .. }) => {
            assert!(
                looked.contains(".sig (layers application/vnd.dev.cosign.simplesigning.v1+json)"),
                "{looked}"
            );
            assert!(
                looked.contains(".att (layers application/vnd.dsse.envelope.v1+json)"),
                "{looked}"
            );
            assert!(
                looked.contains(&format!(
                    "{}:{} (absent) (artifact type application/vnd.dev.sigstore.bundle.v0.3+json)",
                    img.name(),
                    fallback_tag(&digest)
                )),
                "{looked}"
            );
        }
        other => panic!("an image with nothing must miss its attestation, got {other:?}"),
    }

    signer.sign(&pinned);
    // cosign 3 wrote no classic signature: the bundle is an OCI referrer.
    let sig_tag = format!("sha256-{}.sig", digest.hex());
    assert!(
        client
            .get_manifest(&img, &sig_tag, soon())
            .await
            .unwrap()
            .is_none()
    );
    let (manifest, bundle) = referrer(&client, &img, &digest).await;
    assert_eq!(manifest["subject"]["digest"], digest.to_string());
    assert!(bundle["dsseEnvelope"].is_object(), "{bundle}");

    let verifier = env.direct().1;
    let ok = verifier
        .verify(&img, &signer.requirement(&[]), soon())
        .await;
    assert_eq!(
        ok.as_ref().as_ref().unwrap().key_ids,
        vec![signer.public.id().to_string()]
    );
    // Cold, through the counting proxy: the tag, the classic `.sig` (absent), the referrers API
    // (absent here), the fallback tag, the referrer manifest and the bundle blob.
    let proxied: ImageRef = format!("{}/cosign3:signed", env.proxy.addr())
        .parse()
        .unwrap();
    env.proxy.clear_requests();
    let cold = env
        .verifier()
        .verify(&proxied, &signer.requirement(&[]), soon())
        .await;
    assert!(cold.is_ok(), "{cold:?}");
    assert_eq!(env.proxy.requests().len(), 6, "{:?}", env.proxy.requests());
    // The uncached library entry point agrees.
    let direct = portcullis_verifier::verify_digest(
        &client,
        &img,
        &digest,
        &signer.requirement(&[]),
        soon(),
    )
    .await
    .unwrap();
    assert_eq!(direct.digest, digest);

    signer.attest(&pinned, "https://github.com/org/repo");
    let verifier = env.direct().1;
    let ok = verifier
        .verify(&img, &signer.requirement(&[REPO_COND]), soon())
        .await;
    let verified = ok.as_ref().as_ref().unwrap();
    assert_eq!(verified.attestations.len(), 1);
    assert_eq!(
        verified.attestations[0].key_ids,
        vec![signer.public.id().to_string()]
    );
    let bad = verifier
        .verify(
            &img,
            &signer.requirement(&["$.runDetails.builder.id == https://evil.example"]),
            soon(),
        )
        .await;
    match bad.as_ref() {
        Err(VerifyError::ConditionFailed { failure, .. }) => {
            assert_eq!(
                failure.actual,
                "https://github.com/actions/runner/github-hosted"
            );
        }
        other => panic!("expected the condition to fail, got {other:?}"),
    }

    // The wrong key: found, not trusted.
    let stranger = requirement(&[&PrivateKey::generate()], 1);
    let wrong = verifier.verify(&img, &stranger, soon()).await;
    assert!(
        matches!(
            wrong.as_ref(),
            Err(VerifyError::ThresholdNotMet {
                found: 1,
                valid: 0,
                ..
            })
        ),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn altered_and_misplaced_cosign3_bundles_are_denied_each_for_its_reason() {
    let signer = Signer3::new();
    let env = Env::start().await;
    let (client, _) = env.direct();
    let req = signer.requirement(&[]);
    let (a, a_digest, a_pinned) = image(&env, &client, "a").await;
    let (b, b_digest, b_pinned) = image(&env, &client, "b").await;
    signer.sign(&a_pinned);
    signer.sign(&b_pinned);
    let (a_manifest, a_bundle) = referrer(&client, &a, &a_digest).await;
    let (b_manifest, b_bundle) = referrer(&client, &b, &b_digest).await;
    let verify = || async {
        let verifier = env.direct().1;
        verifier.verify(&a, &req, soon()).await
    };
    assert!(verify().await.is_ok());

    // Altered: the statement now says something else, under the same signature and key hint.
    let mut altered = a_bundle.clone();
    let payload = B64
        .decode(altered["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let mut statement: Value = serde_json::from_slice(&payload).unwrap();
    statement["predicate"] = serde_json::json!({"altered": true});
    altered["dsseEnvelope"]["payload"] = B64.encode(serde_json::to_vec(&statement).unwrap()).into();
    let listed = list_referrer(&client, &a, &a_digest, a_manifest.clone(), &altered).await;
    match verify().await.as_ref() {
        Err(VerifyError::SignatureInvalid { at, key, .. }) => {
            assert!(at.starts_with(listed.as_str()), "{at}");
            assert_eq!(key, signer.public.short_id());
        }
        other => panic!("an altered bundle must be SignatureInvalid, got {other:?}"),
    }

    // B's bundle under a manifest that claims A as its subject: signed, but for B's digest.
    let mut claims_a = b_manifest.clone();
    claims_a["subject"] = a_manifest["subject"].clone();
    list_referrer(&client, &a, &a_digest, claims_a, &b_bundle).await;
    match verify().await.as_ref() {
        Err(VerifyError::DigestMismatch { signed, actual, .. }) => {
            assert!(signed.contains(b_digest.hex()), "{signed}");
            assert_eq!(actual, &a_digest.to_string());
        }
        other => panic!("a bundle for another digest must be DigestMismatch, got {other:?}"),
    }

    // B's referrer as it is (its subject is image B) listed for A: never used for A.
    let copied = list_referrer(&client, &a, &a_digest, b_manifest, &b_bundle).await;
    match verify().await.as_ref() {
        Err(e @ VerifyError::ReferrerOfAnother { at, subject, .. }) => {
            assert!(at.starts_with(copied.as_str()), "{at}");
            assert_eq!(subject, &b_digest.to_string());
            assert!(
                !e.is_transient(),
                "a fact about the image, not the registry"
            );
        }
        other => panic!("a referrer of another image must be refused, got {other:?}"),
    }

    // Restored, it verifies again: each denial was about the change, not the setup.
    list_referrer(&client, &a, &a_digest, a_manifest, &a_bundle).await;
    assert!(verify().await.is_ok());
}

#[tokio::test]
async fn cosign3_verifies_our_classic_signatures_and_attestations() {
    let cosign = Cosign::v3();
    let env = Env::start().await;
    let (client, _) = env.direct();
    let key = PrivateKey::generate();
    let private = key.to_encrypted_pem(PASSWORD.as_bytes()).unwrap();
    cosign.write_key_pair("ours", &private, &key.public().to_pem());
    let (img, _, pinned) = image(&env, &client, "ours").await;
    sign_image(&client, &img, &key, soon()).await.unwrap();
    assert!(
        cosign.verifies("ours.pub", &pinned),
        "cosign 3 verify of our signature"
    );

    let predicate = provenance_predicate("https://github.com/org/repo");
    attest_image(&client, &img, &key, SLSA1, predicate, soon())
        .await
        .unwrap();
    assert!(
        cosign.verifies_provenance("ours.pub", &pinned),
        "cosign 3 verify-attestation of ours"
    );

    // And with another key it refuses.
    assert!(cosign.run(&["generate-key-pair"]).status.success());
    assert!(!cosign.verifies("cosign.pub", &pinned));
}

#[tokio::test]
async fn a_required_format_counts_only_signatures_in_that_format() {
    let signer = Signer3::new();
    let env = Env::start().await;
    let (client, _) = env.direct();
    let (bundled, _, bundled_pinned) = image(&env, &client, "bundled").await;
    signer.sign(&bundled_pinned);
    let ours = PrivateKey::generate();
    let (classic, _, _) = image(&env, &client, "classic").await;
    sign_image(&client, &classic, &ours, soon()).await.unwrap();
    let with = |key: PublicKey, format: SignatureFormat| {
        Arc::new(KeyRequirement {
            keys: vec![key],
            threshold: 1,
            attestations: Vec::new(),
            format,
        })
    };
    let env = &env;
    let verify = |image: ImageRef, req: Arc<KeyRequirement>| async move {
        let verifier = env.direct().1;
        verifier.verify(&image, &req, soon()).await
    };

    let bundle_only = with(signer.public.clone(), SignatureFormat::Bundle);
    assert!(verify(bundled.clone(), bundle_only).await.is_ok());
    let classic_only = with(signer.public.clone(), SignatureFormat::Classic);
    match verify(bundled, classic_only).await.as_ref() {
        Err(VerifyError::NoSignatureIn { looked, .. }) => {
            assert!(
                looked.ends_with(".sig (layers application/vnd.dev.cosign.simplesigning.v1+json)"),
                "{looked}"
            );
        }
        other => panic!("classic only must not see the bundle, got {other:?}"),
    }

    assert!(
        verify(
            classic.clone(),
            with(ours.public(), SignatureFormat::Classic)
        )
        .await
        .is_ok()
    );
    match verify(classic, with(ours.public(), SignatureFormat::Bundle))
        .await
        .as_ref()
    {
        Err(VerifyError::NoSignatureIn { looked, .. }) => {
            assert!(looked.starts_with("referrers tag "), "{looked}");
            assert!(!looked.contains("simplesigning"), "{looked}");
        }
        other => panic!("bundle only must not see the classic signature, got {other:?}"),
    }
}
