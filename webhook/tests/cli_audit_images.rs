//! `portcullis audit` verifying images against real registries: a signature that does not
//! verify is a `fail`; a registry that cannot be reached, or does not answer within
//! `--image-timeout`, makes the image rule an `error` with the reason (never a hang), while the
//! other images' results stand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use cli_support::portcullis;
use portcullis_testkit::{Registry, push_image};
use serde_json::Value;

const SIGNED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/signed-image-policy.yaml"
);

/// The JSON lines of an audit that exited 0.
fn rows(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The policy requiring the test key's signature on images under each of `prefixes`.
fn signed_policy(dir: &std::path::Path, prefixes: &[String]) {
    let patterns: Vec<String> = prefixes.iter().map(|p| format!("\"{p}/**\"")).collect();
    let policy = std::fs::read_to_string(SIGNED)
        .unwrap()
        .replace("\"registry.example/**\"", &patterns.join(", "));
    std::fs::write(dir.join("signed.yaml"), policy).unwrap();
}

/// A Pod named `name` running `image`.
fn pod(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: a, image: '{image}'}}]\n"
    )
}

fn audit(dir: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "audit",
        "--policy",
        "signed.yaml",
        "--output",
        "jsonl",
        "--allow-http-registry",
    ];
    args.extend(extra);
    args.push("pods.yaml");
    rows(&portcullis(dir, &args))
}

/// (pod, status, first reason) per result, by pod name.
fn outcomes(rows: &[Value]) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["resource"]["name"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["reasons"][0].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn an_unsigned_image_fails_and_a_registry_that_never_answers_is_an_error() {
    let registry = Registry::start().await.unwrap();
    push_image(&registry.addr(), "audit/app", "1.0", b"unsigned")
        .await
        .unwrap();
    // Accepts connections and never answers (held open until the test ends).
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for conn in silent.incoming().take(16) {
            match conn {
                Ok(c) => open.push(c),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    signed_policy(
        d,
        &[registry.addr(), silent_addr.clone(), "127.0.0.1:1".into()],
    );
    let pods = [
        pod("unsigned", &format!("{}/audit/app:1.0", registry.addr())),
        pod("silent", &format!("{silent_addr}/audit/app:1.0")),
        pod("refused", "127.0.0.1:1/audit/app:1.0"),
    ]
    .join("---\n");
    std::fs::write(d.join("pods.yaml"), pods).unwrap();

    let rows = audit(d, &["--image-timeout", "1s", "--timeout", "120s"]);
    let got = outcomes(&rows);
    assert_eq!(got.len(), 3, "{rows:#?}");
    let (refused, silent, unsigned) = (&got[0], &got[1], &got[2]);
    assert_eq!(
        (unsigned.0.as_str(), unsigned.1.as_str()),
        ("unsigned", "fail")
    );
    assert!(unsigned.2.contains("no signature found"), "{}", unsigned.2);
    assert_eq!((silent.0.as_str(), silent.1.as_str()), ("silent", "error"));
    assert!(silent.2.contains(&silent_addr), "{}", silent.2);
    assert!(silent.2.contains("did not finish within"), "{}", silent.2);
    assert_eq!(
        (refused.0.as_str(), refused.1.as_str()),
        ("refused", "error")
    );
    assert!(refused.2.contains("127.0.0.1:1"), "{}", refused.2);
    for r in &rows {
        assert_eq!(r["rule"], "verifyImage");
    }
    drop(rows);
    // Unblock the holder: one more connection ends its bounded accept loop early.
    for _ in 0..16 {
        if std::net::TcpStream::connect(&silent_addr).is_err() {
            break;
        }
        if held.is_finished() {
            break;
        }
    }
    held.join().unwrap();
}
