//! What the test API server's tests share: a client that trusts the server's CA, the kinds they
//! serve, requests that return (HTTP status, JSON body), and a watch read event by event.

use std::time::Duration;

use portcullis_testkit::apiserver::{ApiServer, Resource};
use serde_json::{Value, json};

const GROUP: &str = "policy.portcullis.dev";

pub(crate) fn cluster_policies() -> Resource {
    Resource::cluster(
        GROUP,
        "v1alpha1",
        "ClusterImagePolicy",
        "clusterimagepolicies",
    )
}

pub(crate) fn namespaced_policies() -> Resource {
    Resource::namespaced(GROUP, "v1alpha1", "ImagePolicy", "imagepolicies")
}

pub(crate) async fn server() -> ApiServer {
    ApiServer::start(vec![cluster_policies(), namespaced_policies()])
        .await
        .unwrap()
}

pub(crate) fn client(server: &ApiServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

pub(crate) fn cip(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "policy.portcullis.dev/v1alpha1", "kind": "ClusterImagePolicy",
           "metadata": {"name": name}, "spec": spec})
}

pub(crate) fn ip(ns: &str, name: &str, labels: Value) -> Value {
    json!({"apiVersion": "policy.portcullis.dev/v1alpha1", "kind": "ImagePolicy",
           "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {}})
}

pub(crate) fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub(crate) const CIPS: &str = "/apis/policy.portcullis.dev/v1alpha1/clusterimagepolicies";

pub(crate) async fn get_json(server: &ApiServer, path_and_query: &str) -> (u16, Value) {
    let res = client(server)
        .get(format!("{}{path_and_query}", server.url()))
        .bearer_auth(server.token())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

pub(crate) async fn patch_status(
    server: &ApiServer,
    name: &str,
    query: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let res = client(server)
        .patch(format!("{}{CIPS}/{name}/status{query}", server.url()))
        .bearer_auth(server.token())
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// A watch response read event by event.
pub(crate) struct Watch {
    res: reqwest::Response,
    buf: Vec<u8>,
}

impl Watch {
    /// A watch of the cluster image policies.
    pub(crate) async fn open(server: &ApiServer, query: &str) -> Watch {
        Self::open_at(server, CIPS, query).await
    }

    /// A watch of the collection at `path`.
    pub(crate) async fn open_at(server: &ApiServer, path: &str, query: &str) -> Watch {
        let res = client(server)
            .get(format!("{}{path}?watch=true&{query}", server.url()))
            .bearer_auth(server.token())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        Watch {
            res,
            buf: Vec::new(),
        }
    }

    /// The next event; `Ok(None)` at a clean end of the stream, `Err` when it was cut.
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, reqwest::Error> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(Some(serde_json::from_slice(&line).unwrap()));
            }
            // A guard against a hanging test, not a timing assertion.
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.res.chunk())
                .await
                .expect("no watch event within 20 s")?;
            match chunk {
                Some(bytes) => self.buf.extend_from_slice(&bytes),
                None => {
                    assert!(self.buf.is_empty(), "a partial event at the end");
                    return Ok(None);
                }
            }
        }
    }

    pub(crate) async fn event(&mut self) -> Value {
        self.next().await.unwrap().expect("the watch ended")
    }
}

pub(crate) fn summary(event: &Value) -> (String, String) {
    let name = event["object"]["metadata"]["name"].as_str().unwrap_or("");
    (event["type"].as_str().unwrap().to_owned(), name.to_owned())
}
