//! `portcullis evaluate`: policies × manifests offline, like `kyverno apply`.
//!
//! Every document of every manifest file (Pods, pod controllers, AdmissionReviews, `List`s) is
//! evaluated against the policy set; the decision is printed per resource. Images that a
//! `ClusterImagePolicy` covers are verified against their registry (the same verifier the webhook
//! uses); without registry access they are denied with the reason, never skipped.
//! Every document becomes the engine's `Request` the way an admission review does, so a workload
//! whose object is not a valid instance of its kind is bad input naming the field path.
//! Exit status: 0 all allowed, 1 any denied, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use portcullis_policies::{Decision, PolicySet, Request, VerdictMap};
use portcullis_verifier::{CacheConfig, ImageRef, Verdict, Verifier, VerifyError};
use serde_json::{Value, json};

use super::common::RegistryArgs;
use super::verify::Output;
use crate::serve::config::{NamedPath, named_path};
use crate::serve::decide::Policies;
use crate::serve::policy::{read_sources, read_trusted_roots};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Policy file or directory of *.yaml policies; repeatable.
    #[arg(long = "policy", value_name = "FILE|DIR", required = true)]
    pub policies: Vec<PathBuf>,
    /// A Sigstore `trusted_root.json` for keyless authorities naming NAME; repeatable.
    #[arg(long = "trusted-root", value_name = "NAME=FILE", value_parser = named_path)]
    pub trusted_roots: Vec<NamedPath>,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Manifests (YAML or JSON, several documents per file allowed).
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// One evaluated resource.
struct Evaluated {
    file: String,
    kind: String,
    name: String,
    decision: Decision,
}

impl EvaluateArgs {
    pub async fn run(self) -> ExitCode {
        match self.evaluate().await {
            Ok(results) => {
                let denied = results.iter().any(|r| !r.decision.allowed);
                for r in &results {
                    print(r, self.output);
                }
                if denied {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::from(2)
            }
        }
    }

    async fn evaluate(&self) -> anyhow::Result<Vec<Evaluated>> {
        let policies = Policies::parse_with_roots(
            &read_sources(&self.policies)?,
            &read_trusted_roots(&self.trusted_roots)?,
        )?;
        let set = policies.set();
        let mut requests = Vec::new();
        for path in &self.manifests {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?;
            for doc in portcullis_policies::load::documents(&file, &text)? {
                for item in expand(doc.value) {
                    let request = if item["kind"] == "AdmissionReview" {
                        Request::from_admission_request(&item["request"])
                    } else {
                        Request::from_manifest(&item)
                    }
                    .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
                    requests.push((file.clone(), request));
                }
            }
        }
        let facts = self.verify_images(set, &requests).await?;
        Ok(requests
            .into_iter()
            .map(|(file, req)| Evaluated {
                kind: req.kind.kind.clone(),
                name: req.name.clone(),
                decision: set.evaluate(&req, &facts),
                file,
            })
            .collect())
    }

    /// Verifies every (image, requirement) the requests need, once each.
    async fn verify_images(
        &self,
        set: &PolicySet,
        requests: &[(String, Request)],
    ) -> anyhow::Result<VerdictMap> {
        let checks: Vec<_> = requests
            .iter()
            .flat_map(|(_, r)| set.image_checks(r))
            .collect();
        let mut facts = VerdictMap::new();
        if checks.is_empty() {
            return Ok(facts);
        }
        let refs: Vec<Result<ImageRef, _>> =
            checks.iter().map(|c| c.image.parse::<ImageRef>()).collect();
        let registries: Vec<&str> = refs.iter().flatten().map(ImageRef::registry).collect();
        let verifier = Verifier::new(
            self.registry.client_for(&registries)?,
            CacheConfig::default(),
        );
        let deadline = self.registry.deadline();
        for (check, image) in checks.iter().zip(refs) {
            if facts.contains_key(&check.key()) {
                continue;
            }
            let verdict: Verdict = match image {
                Ok(image) => {
                    verifier
                        .verify_authority(&image, &check.requirement, deadline)
                        .await
                }
                Err(e) => Arc::new(Err(VerifyError::Malformed {
                    image: check.image.clone(),
                    what: "image reference".into(),
                    cause: e.to_string(),
                })),
            };
            facts.insert(check.key(), verdict);
        }
        Ok(facts)
    }
}

/// A `List` contributes its items; anything else is itself.
fn expand(doc: Value) -> Vec<Value> {
    match doc {
        Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => m
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        other => vec![other],
    }
}

fn print(r: &Evaluated, output: Output) {
    let d = &r.decision;
    match output {
        Output::Json => {
            let reasons: Vec<Value> = d
                .reasons
                .iter()
                .map(|x| json!({"policy": x.policy, "rule": x.rule, "path": x.path, "message": x.to_string()}))
                .collect();
            let line = json!({
                "file": r.file, "kind": r.kind, "name": r.name, "allowed": d.allowed,
                "reasons": reasons, "warnings": d.warnings,
            });
            println!("{line}");
        }
        Output::Text => {
            let verdict = if d.allowed { "ALLOW" } else { "DENY " };
            println!("{verdict} {} {}/{}", r.file, r.kind, r.name);
            for reason in &d.reasons {
                println!("  ✗ {reason}");
            }
            for w in &d.warnings {
                println!("  ! {w}");
            }
        }
    }
}
