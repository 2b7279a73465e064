//! Proves the referrers front (`Proxy::with_referrers_api`) against the OCI distribution spec
//! v1.1 over the real registry, which has no referrers API of its own: a pushed manifest with a
//! `subject` gets `OCI-Subject` and is listed with its artifact type (else its config's media
//! type), size and annotations; a manifest without one is not; listings are image indexes, empty
//! rather than 404, filtered by `artifactType` with `OCI-Filters-Applied`; a malformed digest is
//! a 400; a deleted manifest leaves the list.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use portcullis_testkit::referrers_api::{OCI_FILTERS_APPLIED, OCI_SUBJECT};
use portcullis_testkit::{OCI_INDEX, OCI_MANIFEST, Proxy, Registry, push_image};
use reqwest::{Client, Response, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const REPO: &str = "front/app";
const ARTIFACT: &str = "application/vnd.example.sbom+json";

fn client() -> Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

fn header_of(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn get(addr: &str, path: &str) -> Result<Response> {
    Ok(client()?
        .get(format!("http://{addr}{path}"))
        .header(
            header::ACCEPT,
            format!("{OCI_MANIFEST}, {OCI_INDEX}, {}", "application/json"),
        )
        .send()
        .await?)
}

/// `PUT` of `manifest` by digest; returns the response and the digest.
async fn put(addr: &str, manifest: &Value) -> Result<(Response, String)> {
    let bytes = serde_json::to_vec(manifest)?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    let res = client()?
        .put(format!("http://{addr}/v2/{REPO}/manifests/{digest}"))
        .header(header::CONTENT_TYPE, OCI_MANIFEST)
        .body(bytes)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::CREATED, "PUT: {}", res.status());
    Ok((res, digest))
}

/// The referrers list of `subject` through the front: (response headers' filter, entries).
async fn listed(addr: &str, subject: &str, query: &str) -> Result<(Option<String>, Vec<Value>)> {
    let res = get(addr, &format!("/v2/{REPO}/referrers/{subject}{query}")).await?;
    ensure!(res.status() == StatusCode::OK, "listing: {}", res.status());
    ensure!(
        header_of(&res, "content-type").as_deref() == Some(OCI_INDEX),
        "listing content type {:?}",
        header_of(&res, "content-type")
    );
    let filters = header_of(&res, OCI_FILTERS_APPLIED);
    let index: Value = res.json().await?;
    ensure!(index["mediaType"] == OCI_INDEX, "{index}");
    let entries = index["manifests"]
        .as_array()
        .context("manifests is an array")?
        .clone();
    Ok((filters, entries))
}

#[tokio::test]
async fn the_front_lists_pushed_referrers_as_the_spec_says() -> Result<()> {
    let registry = Registry::start().await?;
    let front = Proxy::with_referrers_api(registry.addr().parse()?).await?;
    let addr = front.addr();
    let subject = push_image(&registry.addr(), REPO, "v1", b"subject").await?;

    // The registry itself has no referrers API: the reason the front exists.
    let direct = get(&registry.addr(), &format!("/v2/{REPO}/referrers/{subject}")).await?;
    assert_eq!(direct.status(), StatusCode::NOT_FOUND);
    // The front: an empty index, not a 404, before anything refers to the image.
    assert_eq!(listed(&addr, &subject, "").await?, (None, vec![]));

    // Two referrers built on the image's own blobs: one typed, one typed by its config only.
    let image: Value = get(&addr, &format!("/v2/{REPO}/manifests/v1"))
        .await?
        .json()
        .await?;
    let size = serde_json::to_vec(&image)?.len();
    let refer = |artifact_type: Option<&str>, note: &str| {
        let mut m = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": image["config"], "layers": image["layers"],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": size},
            "annotations": {"note": note},
        });
        if let Some(t) = artifact_type {
            m["artifactType"] = t.into();
        }
        m
    };
    let typed = refer(Some(ARTIFACT), "typed");
    let (res, typed_digest) = put(&addr, &typed).await?;
    assert_eq!(header_of(&res, OCI_SUBJECT), Some(subject.clone()));
    let (res, untyped_digest) = put(&addr, &refer(None, "untyped")).await?;
    assert_eq!(header_of(&res, OCI_SUBJECT), Some(subject.clone()));
    // A manifest without a subject is no referrer and gets no header.
    let mut plain = image.clone();
    plain["annotations"] = json!({"note": "plain"});
    let (res, _) = put(&addr, &plain).await?;
    assert_eq!(header_of(&res, OCI_SUBJECT), None);

    let (filters, all) = listed(&addr, &subject, "").await?;
    assert_eq!(filters, None);
    assert_eq!(
        all,
        vec![
            json!({"mediaType": OCI_MANIFEST, "digest": typed_digest,
                "size": serde_json::to_vec(&typed)?.len(), "artifactType": ARTIFACT,
                "annotations": {"note": "typed"}}),
            json!({"mediaType": OCI_MANIFEST, "digest": untyped_digest,
                "size": serde_json::to_vec(&refer(None, "untyped"))?.len(),
                "artifactType": image["config"]["mediaType"],
                "annotations": {"note": "untyped"}}),
        ]
    );

    // Filtered (the `+` percent-encoded, as clients send it): only the typed one, and said so.
    let query = format!("?artifactType={}", ARTIFACT.replace('+', "%2B"));
    let (filters, some) = listed(&addr, &subject, &query).await?;
    assert_eq!(filters.as_deref(), Some("artifactType"));
    assert_eq!(some, all[..1]);

    // Another subject has none; a malformed digest is a 400.
    let other = format!("sha256:{}", "0".repeat(64));
    assert!(listed(&addr, &other, "").await?.1.is_empty());
    let bad = get(&addr, &format!("/v2/{REPO}/referrers/sha256:zz")).await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Deleted from the registry, it leaves the list.
    let deleted = client()?
        .delete(format!("http://{addr}/v2/{REPO}/manifests/{typed_digest}"))
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    assert_eq!(listed(&addr, &subject, "").await?.1, all[1..]);
    Ok(())
}
