//! Proves the harness itself: the registry starts, restarts with its data, images pushed in
//! memory are what the registry (and skopeo) read back, and the proxy forwards faithfully while
//! counting requests and round trips and injecting 429s, dropped connections and delays.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use portcullis_testkit::{
    OCI_INDEX, OCI_MANIFEST, Platform, Proxy, Registry, push_image, push_image_for, push_index,
    tool,
};
use reqwest::{Client, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

fn client() -> Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// `HEAD /v2/<repo>/manifests/<reference>` → (status, Docker-Content-Digest, Content-Type).
async fn head_manifest(
    addr: &str,
    repo: &str,
    reference: &str,
) -> Result<(StatusCode, String, String)> {
    let res = client()?
        .head(format!("http://{addr}/v2/{repo}/manifests/{reference}"))
        .header(header::ACCEPT, ACCEPT_MANIFESTS)
        .send()
        .await?;
    let get = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Ok((
        res.status(),
        get("docker-content-digest"),
        get("content-type"),
    ))
}

async fn get_json(addr: &str, path: &str) -> Result<serde_json::Value> {
    let res = client()?
        .get(format!("http://{addr}{path}"))
        .header(header::ACCEPT, ACCEPT_MANIFESTS)
        .send()
        .await?;
    ensure!(
        res.status() == StatusCode::OK,
        "GET {path}: {}",
        res.status()
    );
    Ok(res.json().await?)
}

fn socket(addr: &str) -> Result<SocketAddr> {
    addr.parse()
        .with_context(|| format!("not a socket address: {addr}"))
}

#[tokio::test]
async fn pinned_cosign_is_found_and_runs() -> Result<()> {
    let cosign = tool("cosign");
    let out = tokio::process::Command::new(&cosign)
        .arg("version")
        .output()
        .await?;
    assert!(
        out.status.success(),
        "{} version failed: {out:?}",
        cosign.display()
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("GitVersion:"));
    Ok(())
}

#[tokio::test]
async fn registry_starts_and_answers_the_v2_api() -> Result<()> {
    let mut reg = Registry::start().await?;
    assert_eq!(reg.addr(), format!("127.0.0.1:{}", reg.port()));
    assert!(reg.is_running());
    let res = client()?.get(format!("{}/v2/", reg.url())).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("docker-distribution-api-version")
            .map(|v| v.as_bytes()),
        Some(&b"registry/2.0"[..])
    );
    Ok(())
}

#[tokio::test]
async fn push_image_returns_the_digest_the_registry_reports() -> Result<()> {
    let reg = Registry::start().await?;
    let a = push_image(&reg.addr(), "team/app", "v1", b"seed-a").await?;
    let b = push_image(&reg.addr(), "team/app", "v2", b"seed-b").await?;
    assert!(a.starts_with("sha256:") && a.len() == 71, "{a}");
    assert_ne!(a, b, "different seeds must give different digests");

    let (status, digest, content_type) = head_manifest(&reg.addr(), "team/app", "v1").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(digest, a);
    assert_eq!(content_type, OCI_MANIFEST);
    assert_eq!(head_manifest(&reg.addr(), "team/app", "v2").await?.1, b);

    // The layer really holds the seed.
    let manifest = get_json(&reg.addr(), "/v2/team/app/manifests/v1").await?;
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .ok_or_else(|| anyhow!("no layer"))?;
    let bytes = client()?
        .get(format!("{}/v2/team/app/blobs/{layer}", reg.url()))
        .send()
        .await?
        .bytes()
        .await?;
    assert!(
        bytes.windows(6).any(|w| w == b"seed-a"),
        "layer lacks the seed"
    );

    // Pushing the same seed again is idempotent and gives the same digest.
    assert_eq!(
        push_image(&reg.addr(), "team/app", "v1-again", b"seed-a").await?,
        a
    );
    Ok(())
}

#[tokio::test]
async fn push_index_builds_a_two_platform_index() -> Result<()> {
    let reg = Registry::start().await?;
    let index = push_index(&reg.addr(), "multi", "latest", b"idx").await?;
    let (status, digest, content_type) = head_manifest(&reg.addr(), "multi", "latest").await?;
    assert_eq!(
        (status, digest.as_str(), content_type.as_str()),
        (StatusCode::OK, index.as_str(), OCI_INDEX)
    );

    let body = get_json(&reg.addr(), "/v2/multi/manifests/latest").await?;
    let children = body["manifests"]
        .as_array()
        .ok_or_else(|| anyhow!("no manifests: {body}"))?;
    assert_eq!(children.len(), 2);
    let arches: Vec<_> = children
        .iter()
        .map(|c| c["platform"]["architecture"].clone())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for (child, platform) in children
        .iter()
        .zip([Platform::LINUX_AMD64, Platform::LINUX_ARM64])
    {
        let expected = push_image_for(&reg.addr(), "multi", "child", b"idx", platform).await?;
        assert_eq!(child["digest"], expected.as_str());
        assert_eq!(
            head_manifest(&reg.addr(), "multi", &expected).await?.0,
            StatusCode::OK
        );
    }
    Ok(())
}

#[tokio::test]
async fn pushed_image_is_valid_for_skopeo() -> Result<()> {
    let skopeo = tool("skopeo");
    let reg = Registry::start().await?;
    let digest = push_image(&reg.addr(), "valid", "v1", b"skopeo").await?;
    let out = tempfile::tempdir()?;
    let status = tokio::process::Command::new(skopeo)
        .args(["copy", "--preserve-digests", "--src-tls-verify=false"])
        .arg(format!("docker://{}/valid:v1", reg.addr()))
        .arg(format!("oci:{}:v1", out.path().display()))
        .output()
        .await?;
    assert!(
        status.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("index.json"))?)?;
    assert_eq!(
        index["manifests"][0]["digest"],
        digest.as_str(),
        "skopeo copied a different manifest"
    );
    Ok(())
}

#[tokio::test]
async fn proxy_forwards_counts_and_rewrites_upload_locations() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let digest = push_image(&proxy.addr(), "via/proxy", "v1", b"proxied").await?;
    assert_eq!(
        head_manifest(&reg.addr(), "via/proxy", "v1").await?.1,
        digest
    );

    // Two blobs: each a POST, then a PUT that only went through the proxy if Location was rewritten.
    assert_eq!(
        proxy.count(|m, p| m == "POST" && p == "/v2/via/proxy/blobs/uploads/"),
        2
    );
    assert_eq!(
        proxy.count(|m, p| m == "PUT" && p.starts_with("/v2/via/proxy/blobs/uploads/")),
        2
    );
    assert_eq!(
        proxy.count(|m, p| m == "PUT" && p == "/v2/via/proxy/manifests/v1"),
        1
    );

    proxy.clear_requests();
    let (status, via_proxy, _) = head_manifest(&proxy.addr(), "via/proxy", "v1").await?;
    assert_eq!(
        (status, via_proxy.as_str()),
        (StatusCode::OK, digest.as_str())
    );
    assert_eq!(
        proxy.requests(),
        [("HEAD".to_owned(), "/v2/via/proxy/manifests/v1".to_owned())]
    );

    // HEAD keeps the upstream's Content-Length (the manifest size), not the empty body's 0.
    let length = |addr: String| async move {
        let res = client()?
            .head(format!("http://{addr}/v2/via/proxy/manifests/v1"))
            .header(header::ACCEPT, ACCEPT_MANIFESTS)
            .send()
            .await?;
        anyhow::Ok(res.headers().get(header::CONTENT_LENGTH).cloned())
    };
    let direct = length(reg.addr()).await?;
    assert!(direct.is_some());
    assert_eq!(length(proxy.addr()).await?, direct);
    Ok(())
}

/// Sends raw HTTP/1.1 bytes (with `Connection: close`) and returns the whole response as text.
async fn raw_http(addr: &str, request: &[u8]) -> Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test]
async fn proxy_streams_chunked_uploads() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let started = client()?
        .post(format!("http://{}/v2/chunked/blobs/uploads/", proxy.addr()))
        .send()
        .await?;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = started
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let prefix = format!("http://{}/v2/chunked/blobs/uploads/", proxy.addr());
    assert!(
        location.starts_with(&prefix),
        "Location not rewritten to the proxy: {location}"
    );
    let path = &location[prefix.len() - "/v2/chunked/blobs/uploads/".len()..];

    let content = b"hello, chunked world";
    let patch = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\nhello, \r\nd\r\nchunked world\r\n0\r\n\r\n",
        proxy.addr()
    );
    let patched = raw_http(&proxy.addr(), patch.as_bytes()).await?;
    assert!(
        patched.starts_with("HTTP/1.1 202"),
        "PATCH through proxy: {patched}"
    );
    let next = patched
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .ok_or_else(|| anyhow!("PATCH answer without Location: {patched}"))?;
    assert!(
        next.starts_with(&prefix),
        "PATCH Location not rewritten: {next}"
    );

    let digest = format!("sha256:{}", hex_sha256(content));
    let done = client()?
        .put(format!("{next}&digest={digest}"))
        .send()
        .await?;
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await?);
    let blob = client()?
        .get(format!("{}/v2/chunked/blobs/{digest}", reg.url()))
        .send()
        .await?;
    assert_eq!(blob.bytes().await?.as_ref(), content);
    assert_eq!(proxy.count(|m, _| m == "PATCH"), 1);
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn proxy_injects_429_with_retry_after_then_recovers() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    proxy.fail_next(2, 429, Some(1));
    let url = format!("http://{}/v2/", proxy.addr());
    for _ in 0..2 {
        let res = client()?.get(&url).send().await?;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            res.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body: serde_json::Value = res.json().await?;
        assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");
    }
    assert_eq!(client()?.get(&url).send().await?.status(), StatusCode::OK);
    assert_eq!(proxy.count(|m, p| m == "GET" && p == "/v2/"), 3);
    Ok(())
}

#[tokio::test]
async fn proxy_counts_round_trips_not_requests() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let url = format!("http://{}/v2/", proxy.addr());
    let http = client()?;
    // With a delay each request lasts at least that long, so three sent together overlap.
    proxy.set_delay(Duration::from_millis(100));
    assert_eq!(proxy.round_trips(), 0);
    let together = get_three_at_once(&http, &url).await?;
    assert_eq!(together, [StatusCode::OK; 3]);
    assert_eq!(proxy.round_trips(), 1, "{:?}", proxy.requests());
    // One after them, read in full first: a second round trip.
    let res = http.get(&url).send().await?;
    res.bytes().await?;
    assert_eq!(proxy.requests().len(), 4);
    assert_eq!(proxy.round_trips(), 2, "{:?}", proxy.requests());
    proxy.clear_requests();
    assert_eq!(proxy.round_trips(), 0);
    Ok(())
}

/// Three GETs of `url` sent at once, each read in full.
async fn get_three_at_once(http: &Client, url: &str) -> Result<[StatusCode; 3]> {
    let get = || async {
        let res = http.get(url).send().await?;
        let status = res.status();
        res.bytes().await?;
        Ok::<_, anyhow::Error>(status)
    };
    let (a, b, c) = tokio::join!(get(), get(), get());
    Ok([a?, b?, c?])
}

#[tokio::test]
async fn proxy_down_drops_connections_including_kept_alive_ones() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let url = format!("http://{}/v2/", proxy.addr());
    let http = client()?; // one pooled client: its keep-alive connection must be cut too
    assert_eq!(http.get(&url).send().await?.status(), StatusCode::OK);

    proxy.set_down(true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = http
        .get(&url)
        .send()
        .await
        .err()
        .ok_or_else(|| anyhow!("request succeeded while down"))?;
    assert!(!err.is_status(), "expected a transport error, got {err}");
    assert!(
        client()?.get(&url).send().await.is_err(),
        "a new connection succeeded while down"
    );

    proxy.set_down(false);
    assert_eq!(client()?.get(&url).send().await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn proxy_delay_trips_a_client_deadline() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let url = format!("http://{}/v2/", proxy.addr());
    proxy.set_delay(Duration::from_secs(3));
    let impatient = Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()?;
    let err = impatient
        .get(&url)
        .send()
        .await
        .err()
        .ok_or_else(|| anyhow!("no timeout"))?;
    assert!(err.is_timeout(), "expected a timeout, got {err}");
    proxy.set_delay(Duration::ZERO);
    assert_eq!(impatient.get(&url).send().await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn registry_restart_keeps_port_and_data() -> Result<()> {
    let mut reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    let digest = push_image(&reg.addr(), "durable", "v1", b"keep me").await?;
    let addr = reg.addr();

    reg.stop().await?;
    assert!(!reg.is_running());
    assert!(
        client()?
            .get(format!("http://{addr}/v2/"))
            .send()
            .await
            .is_err(),
        "registry still answers"
    );
    let via_proxy = client()?
        .get(format!("http://{}/v2/", proxy.addr()))
        .send()
        .await?;
    assert_eq!(via_proxy.status(), StatusCode::BAD_GATEWAY);

    reg.restart().await?;
    assert_eq!(reg.addr(), addr);
    let (status, after, _) = head_manifest(&addr, "durable", "v1").await?;
    assert_eq!((status, after.as_str()), (StatusCode::OK, digest.as_str()));
    assert_eq!(
        head_manifest(&proxy.addr(), "durable", "v1").await?.1,
        digest
    );
    Ok(())
}

#[tokio::test]
async fn proxy_throttle_refuses_above_the_rate_with_retry_after() -> Result<()> {
    let reg = Registry::start().await?;
    let proxy = Proxy::start(socket(&reg.addr())?).await?;
    proxy.throttle_above(Some((3, 1)));
    let url = format!("http://{}/v2/", proxy.addr());
    let http = client()?;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = http.get(&url).send().await?;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            ensure!(
                res.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()) == Some(&b"1"[..]),
                "429 without Retry-After: 1"
            );
        }
        statuses.push(res.status());
    }
    // Five requests well within one second: three forwarded, two refused.
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((ok, proxy.throttled()), (3, 2), "{statuses:?}");
    assert_eq!(proxy.count(|_, p| p == "/v2/"), 5);
    // The next window forwards again; lifting the limit forwards everything.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(http.get(&url).send().await?.status(), StatusCode::OK);
    proxy.throttle_above(None);
    for _ in 0..5 {
        assert_eq!(http.get(&url).send().await?.status(), StatusCode::OK);
    }
    Ok(())
}
