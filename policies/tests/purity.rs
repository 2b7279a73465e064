//! The policy engine is pure in what it links, not only in what it calls: neither it nor the
//! verifier types it uses may depend, even indirectly, on an HTTP client or server, an async
//! runtime, TLS, a cache or the key-derivation code of private keys. `cargo tree` over the locked
//! dependency graph (offline, normal dependencies only; dev-dependencies do not ship) is the
//! proof, so a dependency added anywhere below these crates fails here, naming the path to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

/// Crates that mean I/O (or, for scrypt, the verifier's private-key handling).
const FORBIDDEN: &[&str] = &[
    "reqwest", "hyper", "tokio", "moka", "scrypt", "h2", "rustls",
];

/// The normal dependency tree of `package`, one crate per line (`name vX.Y.Z`).
fn dependency_tree(package: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("policies/ sits in the workspace root");
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none"])
        .args(["--locked", "--offline"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} tree: {e}", env!("CARGO")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {stderr}"
    );
    String::from_utf8(out.stdout).expect("cargo tree prints UTF-8")
}

/// Lines of `tree` naming a forbidden crate.
fn offending(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter(|line| {
            let name = line.split_whitespace().next().unwrap_or_default();
            FORBIDDEN.contains(&name)
        })
        .collect()
}

fn assert_pure(package: &str) {
    let tree = dependency_tree(package);
    assert!(
        tree.lines().next().is_some_and(|l| l.starts_with(package)),
        "cargo tree did not list {package} first:\n{tree}"
    );
    let bad = offending(&tree);
    assert!(
        bad.is_empty(),
        "{package} links I/O crates {FORBIDDEN:?}; these are in its tree:\n  {}\n\
         (`cargo tree -p {package} -e normal -i CRATE` shows which dependency brings each in; \
         keep I/O in portcullis-verifier or the webhook)",
        bad.join("\n  ")
    );
}

#[test]
fn policy_engine_links_no_http_runtime_tls_or_cache() {
    assert_pure("portcullis-policies");
}

#[test]
fn verifier_types_link_no_http_runtime_tls_or_cache() {
    assert_pure("portcullis-verifier-types");
}

#[test]
fn the_check_sees_a_forbidden_crate() {
    // The verifier itself links reqwest and tokio: the same check must flag them.
    let tree = dependency_tree("portcullis-verifier");
    let bad = offending(&tree);
    assert!(bad.iter().any(|l| l.starts_with("reqwest ")), "{bad:?}");
    assert!(bad.iter().any(|l| l.starts_with("tokio ")), "{bad:?}");
}
