//! What `deploy/` ships agrees with the repository it ships from:
//! - every signer identity it trusts (ClusterImagePolicy keyless identities, Flux's signed-source
//!   check) names a workflow file that exists, matches the identity that workflow signs with on
//!   the refs it runs for, and matches neither another workflow of the repository nor a fork;
//! - the release-signature policy's provenance conditions name the workflow that runs the release
//!   stages and this repository, and the policy loads with the trust root shipped beside it;
//! - the key-based variant is the keyless policy but for its authorities;
//! - the library policies copied into the webhook's ConfigMap equal their originals;
//! - only the prod job, behind the prod environment's approval, publishes what prod applies.
//!
//! A renamed workflow, a changed repository URL or a policy edited in one place only fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_policies::{PolicySet, TrustRoots};
use portcullis_verifier_types::keyless::TrustedRoot;
use regex::Regex;
use serde_json::Value;

const RELEASE: &str = "deploy/components/release-signatures";
const RELEASE_KEY: &str = "deploy/components/release-key";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn root() -> PathBuf {
    common::workspace_root()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every YAML document of `path`.
fn documents(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// `https://github.com/OWNER/REPO`, from the workspace's `repository`.
fn repository() -> String {
    let cargo = read(&root().join("Cargo.toml"));
    let line = cargo
        .lines()
        .find(|l| l.starts_with("repository"))
        .expect("Cargo.toml has a repository");
    line.split('"').nth(1).unwrap().to_string()
}

/// A workflow file and the refs a push runs it for.
struct Workflow {
    file: String,
    text: String,
    refs: Vec<String>,
    /// Some job may ask for an OIDC token (keyless signing).
    oidc: bool,
}

/// A ref a trigger pattern matches: `v*.*.*` → `refs/tags/v1.2.3`.
fn sample_ref(kind: &str, pattern: &str) -> String {
    let mut n = 0;
    let name: String = pattern
        .chars()
        .map(|c| {
            if c == '*' {
                n += 1;
                char::from(b'0' + n)
            } else {
                c
            }
        })
        .collect();
    format!("refs/{kind}/{name}")
}

fn workflows() -> Vec<Workflow> {
    let dir = root().join(".github/workflows");
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let doc = documents(&path).remove(0);
            let push = &doc["on"]["push"];
            let mut refs = Vec::new();
            for (key, kind) in [("tags", "tags"), ("branches", "heads")] {
                for p in push[key].as_array().into_iter().flatten() {
                    refs.push(sample_ref(kind, p.as_str().unwrap()));
                }
            }
            let oidc = doc["jobs"]
                .as_object()
                .into_iter()
                .flatten()
                .any(|(_, job)| job["permissions"]["id-token"] == "write");
            Workflow {
                file: path.file_name().unwrap().to_string_lossy().into_owned(),
                text: read(&path),
                refs,
                oidc,
            }
        })
        .collect()
}

/// A trusted signer: where it was found, the subject pattern, the issuer pattern.
struct Signer {
    origin: String,
    subject: Regex,
    issuer: Regex,
}

fn exact(s: &str) -> Regex {
    Regex::new(&format!("^{}$", regex::escape(s))).unwrap()
}

fn pattern(origin: &str, p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("{origin}: {p:?} is not a regular expression: {e}"))
}

/// Every signer identity trusted by a policy or a Flux source under `deploy/` and in the library.
fn signers() -> Vec<Signer> {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    yaml_files(&root().join("policies/library"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let origin = path.strip_prefix(root()).unwrap().display().to_string();
        for doc in documents(&path) {
            for id in doc["spec"]["authorities"]["keyless"]["identities"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let subject = match (id["subject"].as_str(), id["subjectRegExp"].as_str()) {
                    (Some(s), _) => exact(s),
                    (_, Some(p)) => pattern(&origin, p),
                    _ => panic!("{origin}: an identity without a subject"),
                };
                let issuer = match (id["issuer"].as_str(), id["issuerRegExp"].as_str()) {
                    (Some(s), _) => exact(s),
                    (_, Some(p)) => pattern(&origin, p),
                    _ => panic!("{origin}: an identity without an issuer"),
                };
                out.push(Signer {
                    origin: origin.clone(),
                    subject,
                    issuer,
                });
            }
            for id in doc["spec"]["verify"]["matchOIDCIdentity"]
                .as_array()
                .into_iter()
                .flatten()
            {
                out.push(Signer {
                    origin: origin.clone(),
                    subject: pattern(&origin, id["subject"].as_str().unwrap()),
                    issuer: pattern(&origin, id["issuer"].as_str().unwrap()),
                });
            }
        }
    }
    out
}

#[test]
fn every_trusted_signer_is_a_workflow_of_this_repository_on_its_own_refs() {
    let repo = repository();
    let workflows = workflows();
    let signers = signers();
    assert!(
        signers.iter().any(|s| s.origin.starts_with(RELEASE))
            && signers
                .iter()
                .any(|s| s.origin.ends_with("prod/source.yaml")),
        "the release policy and prod's signed source must both be found"
    );
    let named =
        Regex::new(r"\.github/workflows/([A-Za-z0-9_-]+(?:\\?\.[A-Za-z0-9_-]+)*)@").unwrap();
    for s in &signers {
        let file = named
            .captures(s.subject.as_str())
            .map(|c| c[1].replace('\\', ""))
            .unwrap_or_else(|| panic!("{}: {} names no workflow", s.origin, s.subject));
        let wf = workflows
            .iter()
            .find(|w| w.file == file)
            .unwrap_or_else(|| {
                panic!(
                    "{}: trusts .github/workflows/{file}, which does not exist (workflows: {})",
                    s.origin,
                    workflows
                        .iter()
                        .map(|w| w.file.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        assert!(
            wf.oidc,
            "{}: {file} never asks for an OIDC token (permissions: id-token: write), so it cannot sign keyless",
            s.origin
        );
        assert!(
            s.issuer.is_match(GITHUB_ISSUER),
            "{}: issuer {} does not match GitHub's {GITHUB_ISSUER}",
            s.origin,
            s.issuer
        );
        let identity =
            |repo: &str, file: &str, r: &str| format!("{repo}/.github/workflows/{file}@{r}");
        let matched: Vec<&String> = wf
            .refs
            .iter()
            .filter(|r| s.subject.is_match(&identity(&repo, &file, r)))
            .collect();
        assert!(
            !matched.is_empty(),
            "{}: {} matches none of the identities {file} signs with ({})",
            s.origin,
            s.subject,
            wf.refs
                .iter()
                .map(|r| identity(&repo, &file, r))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let fork = repo.replace("github.com/", "github.com/attacker-");
        for r in &matched {
            let id = identity(&repo, &file, r);
            for (what, other) in [
                ("a prefix", format!("https://attacker.example/{id}")),
                ("a suffix", format!("{id}/attacker")),
            ] {
                assert!(
                    !s.subject.is_match(&other),
                    "{}: {} also matches {id} with {what} ({other}): anchor it with ^…$",
                    s.origin,
                    s.subject
                );
            }
        }
        for r in &wf.refs {
            assert!(
                !s.subject.is_match(&identity(&fork, &file, r)),
                "{}: {} also trusts a fork ({fork}): anchor it",
                s.origin,
                s.subject
            );
            for other in workflows.iter().filter(|w| w.file != file) {
                assert!(
                    !s.subject.is_match(&identity(&repo, &other.file, r)),
                    "{}: {} also trusts {}: name one workflow",
                    s.origin,
                    s.subject,
                    other.file
                );
            }
        }
        assert!(
            !s.subject
                .is_match(&identity(&repo, &file, "refs/heads/attacker-branch")),
            "{}: {} trusts any branch of {file}",
            s.origin,
            s.subject
        );
    }
}

/// The release-signature policy, as shipped.
fn release_policy(component: &str) -> Value {
    documents(&root().join(component).join("release-signed-images.yaml")).remove(0)
}

fn condition(policy: &Value, path: &str) -> String {
    policy["spec"]["attestations"][0]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("the release policy has no condition on {path}"))["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn release_provenance_conditions_name_the_release_workflow_and_this_repository() {
    let policy = release_policy(RELEASE);
    let repo = repository();
    assert_eq!(
        condition(
            &policy,
            "$.buildDefinition.externalParameters.workflow.repository"
        ),
        repo
    );
    let path = condition(
        &policy,
        "$.buildDefinition.externalParameters.workflow.path",
    );
    let releasing: Vec<String> = workflows()
        .into_iter()
        .filter(|w| w.text.contains("pipelines/release.sh"))
        .map(|w| format!(".github/workflows/{}", w.file))
        .collect();
    assert_eq!(
        releasing,
        std::slice::from_ref(&path),
        "the provenance condition names {path}; the workflows running pipelines/release.sh are {releasing:?}"
    );
    for id in policy["spec"]["authorities"]["keyless"]["identities"]
        .as_array()
        .unwrap()
    {
        assert_eq!(id["claims"]["source-repository-uri"], repo.as_str());
    }
}

#[test]
fn the_release_policy_loads_with_the_trust_root_shipped_beside_it() {
    let dir = root().join(RELEASE);
    let trust = std::fs::read(dir.join("trusted_root.json")).unwrap();
    let roots: TrustRoots = [(
        "sigstore-public".to_string(),
        Arc::new(TrustedRoot::from_json(&trust, "sigstore-public").unwrap()),
    )]
    .into();
    let text = read(&dir.join("release-signed-images.yaml"));
    let set =
        PolicySet::from_sources_with_roots([("release-signed-images.yaml", text.as_str())], &roots)
            .unwrap();
    assert_eq!(set.len(), 1);
    let kustomization = read(&dir.join("kustomization.yaml"));
    assert!(
        kustomization
            .contains("--trusted-root=sigstore-public=/etc/portcullis/trust/sigstore-public.json"),
        "the component must give the webhook the trust root the policy names"
    );
}

#[test]
fn the_key_based_variant_is_the_keyless_policy_but_for_its_authorities() {
    let keyless = release_policy(RELEASE);
    let keyed = release_policy(RELEASE_KEY);
    assert!(keyed["spec"]["authorities"]["keys"].is_array());
    assert!(keyless["spec"]["authorities"]["keyless"].is_object());
    let strip = |mut v: Value| {
        v["spec"].as_object_mut().unwrap().remove("authorities");
        v
    };
    assert_eq!(strip(keyless), strip(keyed));
    PolicySet::from_yaml(
        "release-key",
        &read(&root().join(RELEASE_KEY).join("release-signed-images.yaml")),
    )
    .unwrap();
}

#[test]
fn policies_copied_into_the_webhook_configmap_equal_the_library() {
    let dir = root().join("deploy/base/webhook/policies");
    let mut copies: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            copies.insert(
                path.file_name().unwrap().to_string_lossy().into(),
                read(&path),
            );
        }
    }
    assert!(copies.contains_key("pod-security-restricted.yaml"));
    assert!(copies.contains_key("resource-limits.yaml"));
    let kustomization = read(&root().join("deploy/base/webhook/kustomization.yaml"));
    for (name, text) in &copies {
        let original = root().join("policies/library").join(name);
        assert_eq!(
            text,
            &read(&original),
            "deploy/base/webhook/policies/{name} differs from policies/library/{name}: copy it again"
        );
        assert!(
            kustomization.contains(&format!("policies/{name}")),
            "{name} is in deploy/base/webhook/policies but not in its configMapGenerator"
        );
    }
}

#[test]
fn prod_manifests_are_published_only_by_the_approved_prod_job() {
    let mut publishers = Vec::new();
    for w in workflows() {
        let doc = documents(&root().join(".github/workflows").join(&w.file)).remove(0);
        for (name, job) in doc["jobs"].as_object().into_iter().flatten() {
            let runs_it = job["steps"].as_array().into_iter().flatten().any(|s| {
                s["run"]
                    .as_str()
                    .is_some_and(|r| r.contains("pipelines/publish-manifests.sh"))
            });
            if runs_it {
                publishers.push(format!("{}:{name}", w.file));
                assert_eq!(
                    job["environment"], "prod",
                    "{}: job {name} publishes the prod manifests without the prod environment's approval",
                    w.file
                );
                assert_eq!(
                    job["permissions"]["id-token"], "write",
                    "{}: job {name} must sign the manifests keyless (id-token: write)",
                    w.file
                );
            }
        }
    }
    let source = documents(&root().join("deploy/clusters/prod/source.yaml")).remove(0);
    assert_eq!(source["kind"], "OCIRepository");
    let url = source["spec"]["url"].as_str().unwrap();
    assert!(url.ends_with("/portcullis-manifests"), "{url}");
    assert_eq!(
        publishers.len(),
        1,
        "exactly one job publishes what prod's OCIRepository ({url}) pulls: {publishers:?}"
    );
}
