//! `portcullis evaluate`: policies × manifests offline, like `kyverno apply`.
//!
//! Every document of every input (files, folders, `-` for standard input; Pods, pod controllers,
//! AdmissionReviews, `List`s: see [`super::inputs`]) is evaluated against the policy set and the
//! decision is printed per resource, with the findings of `warn` and `audit` policies labelled
//! with their mode (they never deny). `--show-patches` adds the JSON Patch admission would return
//! and the object it yields. Images that a `ClusterImagePolicy` covers are verified against their
//! registry (the same verifier the webhook uses); without registry access they are denied with
//! the reason, never skipped.
//! Exit status: 0 all allowed (whatever warn/audit found), 1 any denied, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use portcullis_policies::{Evaluation, Mode, NoMatch, Reason};
use serde_json::{Value, json};

use super::common::{PolicyArgs, RegistryArgs, exit_status};
use super::image_facts::{Budget, verify_images};
use super::inputs;
use super::verify::Output;

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// What happens to an image no ClusterImagePolicy covers: allow (silently), warn (a warning
    /// naming the image) or deny; as `portcullis serve --no-match`.
    #[arg(long, value_name = "allow|warn|deny", default_value = "warn")]
    pub no_match: NoMatch,
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Also print the JSON Patch admission would return and the patched object.
    #[arg(long)]
    pub show_patches: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Manifests (YAML or JSON, several documents per file allowed), folders of them, or `-`
    /// for standard input.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// One evaluated resource.
struct Evaluated {
    file: String,
    kind: String,
    name: String,
    object: Value,
    evaluation: Evaluation,
}

impl EvaluateArgs {
    pub async fn run(self) -> ExitCode {
        let denied = self.evaluate().await.map(|results| {
            for r in &results {
                print(r, self.output, self.show_patches);
            }
            results.iter().any(|r| !r.evaluation.decision.allowed)
        });
        exit_status(denied)
    }

    async fn evaluate(&self) -> anyhow::Result<Vec<Evaluated>> {
        let policies = self.policy.load(self.no_match)?;
        let set = policies.set();
        let inputs = inputs::read(&self.manifests)?;
        // Each image may take the whole `--timeout`, as when they were verified one by one.
        let budget = Budget {
            per_image: self.registry.timeout,
            concurrency: 8,
        };
        let requests = inputs.iter().map(|i| &i.request);
        let facts = verify_images(&self.registry, set, requests, budget).await?;
        Ok(inputs
            .into_iter()
            .map(|i| Evaluated {
                kind: i.request.kind.kind.clone(),
                name: i.request.name.clone(),
                evaluation: set.evaluate_detailed(&i.request, &facts),
                object: i.request.object,
                file: i.origin,
            })
            .collect())
    }
}

/// Findings of `warn` and `audit` policies, with their mode (enforce findings are the reasons).
fn lenient(e: &Evaluation) -> impl Iterator<Item = (Mode, &Reason)> {
    e.outcomes
        .iter()
        .filter(|o| o.mode != Mode::Enforce)
        .flat_map(|o| o.findings.iter().map(move |f| (o.mode, f)))
}

/// The object after the decision's patch (the object itself when there is none).
fn patched(r: &Evaluated) -> anyhow::Result<Value> {
    let mut object = r.object.clone();
    json_patch::patch(&mut object, &r.evaluation.decision.patch)
        .map_err(|e| anyhow::anyhow!("{}: the patch does not apply: {e}", r.file))?;
    Ok(object)
}

fn print(r: &Evaluated, output: Output, show_patches: bool) {
    let d = &r.evaluation.decision;
    let after = show_patches.then(|| patched(r));
    match output {
        Output::Json => {
            let reasons: Vec<Value> = d
                .reasons
                .iter()
                .map(|x| json!({"policy": x.policy, "rule": x.rule, "path": x.path, "message": x.to_string()}))
                .collect();
            let findings: Vec<Value> = lenient(&r.evaluation)
                .map(|(mode, x)| json!({"mode": mode.as_str(), "policy": x.policy, "rule": x.rule, "path": x.path, "message": x.to_string()}))
                .collect();
            let mut line = json!({
                "file": r.file, "kind": r.kind, "name": r.name, "allowed": d.allowed,
                "reasons": reasons, "warnings": d.warnings, "findings": findings,
            });
            if !d.exemptions.is_empty() {
                line["exemptions"] = json!(d.exemptions);
            }
            if let Some(after) = after {
                line["patch"] = json!(d.patch);
                line["patchedObject"] = match after {
                    Ok(v) => v,
                    Err(e) => json!({"error": e.to_string()}),
                };
            }
            println!("{line}");
        }
        Output::Text => {
            let verdict = if d.allowed { "ALLOW" } else { "DENY " };
            println!("{verdict} {} {}/{}", r.file, r.kind, r.name);
            for reason in &d.reasons {
                println!("  ✗ {reason}");
            }
            for (mode, reason) in lenient(&r.evaluation) {
                println!("  ! {}: {reason}", mode.as_str());
            }
            for line in d.exception_lines() {
                println!("  ~ {line}");
            }
            if let Some(after) = after {
                println!("  patch: {}", json!(d.patch));
                match after.and_then(|v| Ok(serde_json::to_string_pretty(&v)?)) {
                    Ok(text) => {
                        println!("  patched object:");
                        for l in text.lines() {
                            println!("    {l}");
                        }
                    }
                    Err(e) => println!("  patched object: {e}"),
                }
            }
        }
    }
}
