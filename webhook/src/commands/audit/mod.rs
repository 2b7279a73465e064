//! `portcullis audit`: a read-only compliance audit of manifests, offline.
//!
//! Inputs are those of `evaluate` (files, folders, `-`; `kubectl get -A -o yaml` List dumps and
//! `kubectl kustomize` output included). Every resource is evaluated against the policy set by
//! the engine's own evaluation ([`results`]), and each resource × policy × rule the policy checks
//! becomes a `pass`/`fail`/`warn`/`skip`/`error` result with its reason, fix and the checklist
//! controls of the rule (policies/compliance/controls.yaml). Images are verified against their
//! registries with the verifier `evaluate` uses, unless `--no-images`, which reports image
//! rules as `skip`.
//!
//! Outputs ([`report`] and one file per format): a text summary by control, JSON lines,
//! `PolicyReport`s and OpenReports `Report`s ([`policy_report`]), SARIF ([`sarif`]), JUnit XML
//! ([`junit`]) and a self-contained HTML page for a human auditor ([`html`]).
//!
//! With `--cluster` the resources come from a live cluster instead, or as well ([`cluster`]). A
//! kind the API server did not list to the end makes the audit partial: the report says so in
//! its header and as an `error` result per kind, and the exit status is 1.
//!
//! `serve --report-interval` runs the same audit in the background (`crate::serve::reports`).
//!
//! Exit status: 2 bad input or usage; 1 when `--fail-on` is met or the audit is partial; 0
//! otherwise.

pub mod cluster;
pub mod cluster_policies;
mod evaluate;
pub mod html;
pub mod junit;
pub mod policy_report;
pub mod report;
pub mod results;
pub mod sarif;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use portcullis_policies::compliance::ControlMap;
use portcullis_policies::{NoMatch, PolicySet, VerdictMap};

use self::cluster::ClusterArgs;
use self::policy_report::Flavour;
use self::results::{AuditResult, Status};
use super::common::{PolicyArgs, RegistryArgs, exit_status, sha256_hex};
use super::image_facts::{Budget, verify_images};
use super::inputs::{self, BadInput, Input};
use crate::duration::clap_duration;
use crate::serve::decide::Policies;
use crate::serve::policy::Loaded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutput {
    /// A summary by control with counts, then the evidence of every non-passing result.
    Text,
    /// One JSON object per result.
    Jsonl,
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport` per namespace and a `ClusterPolicyReport`, as
    /// a YAML stream for `kubectl apply -f -`.
    Policyreport,
    /// `openreports.io/v1alpha1` `Report` per namespace and a `ClusterReport`, as a YAML stream.
    Openreports,
    /// SARIF 2.1.0 for code scanning: findings at their file and line.
    Sarif,
    /// JUnit XML for CI test reports: a suite per policy, a test case per resource × rule.
    Junit,
    /// One self-contained HTML page for an auditor: per framework and control, the status,
    /// evidence and remediation, a chart, and the policy set's and the input's fingerprints.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 on any `fail` or `error`.
    Fail,
    /// Exit 1 on any `fail`, `error` or `warn`.
    Warn,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Images no ClusterImagePolicy covers: not reported (allow, the default), or reported
    /// under the rule no-match/imagePolicy as warn or fail (as `portcullis serve --no-match`
    /// would warn or deny them).
    #[arg(long, value_name = "allow|warn|deny", default_value = "allow")]
    pub no_match: NoMatch,
    #[arg(long, value_enum, default_value = "text")]
    pub output: AuditOutput,
    /// Exit 1 when any result is at least this bad (default: exit 0 whatever the results).
    #[arg(long, value_enum, env = "PORTCULLIS_FAIL_ON")]
    pub fail_on: Option<FailOn>,
    /// Do not verify images against their registries: image rules are reported as `skip`.
    #[arg(long, env = "PORTCULLIS_NO_IMAGES")]
    pub no_images: bool,
    /// Give up on one image after this long: its image rules are reported as `error`, with the
    /// reason (`--timeout` still bounds the whole run).
    #[arg(long, env = "PORTCULLIS_IMAGE_TIMEOUT", default_value = "10s", value_parser = clap_duration)]
    pub image_timeout: Duration,
    /// How many images are verified at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub image_concurrency: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Manifests (YAML or JSON, several documents per file), folders of them, or `-` for
    /// standard input.
    #[arg(required_unless_present = "cluster", value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
}

/// The policy set audited against: the `--policy` files, or what the cluster has in force.
enum PolicySource {
    Files(Policies),
    Cluster(std::sync::Arc<Loaded>),
}

impl PolicySource {
    fn set(&self) -> &PolicySet {
        match self {
            PolicySource::Files(p) => p.set(),
            PolicySource::Cluster(loaded) => loaded.policies.set(),
        }
    }
}

/// What an audit printed (unless it streamed it), whether `--fail-on` is met, and whether it
/// could not look at everything.
struct Audited {
    printed: String,
    failed: bool,
    partial: bool,
}

impl AuditArgs {
    pub async fn run(self) -> ExitCode {
        let failed = self.audit().await.map(|audited| {
            print!("{}", audited.printed);
            audited.partial || audited.failed
        });
        exit_status(failed)
    }

    fn fails(&self, results: &[AuditResult]) -> bool {
        let Some(threshold) = self.fail_on else {
            return false;
        };
        results.iter().any(|r| match r.status {
            Status::Fail | Status::Error => true,
            Status::Warn => threshold == FailOn::Warn,
            Status::Pass | Status::Skip => false,
        })
    }

    async fn audit(&self) -> anyhow::Result<Audited> {
        let map = ControlMap::shipped()?;
        let connection = if self.cluster.cluster {
            Some(self.cluster.connect().await?)
        } else {
            None
        };
        let deadline = self.cluster.deadline();
        let mut partial: Vec<String> = Vec::new();
        let (policies, policy_fingerprint) = match &connection {
            Some((client, _)) if self.cluster.cluster_policies => {
                let page_size = self.cluster.page_size;
                let found = cluster_policies::load(
                    client,
                    &self.policy,
                    self.no_match,
                    page_size,
                    deadline,
                )
                .await?;
                partial.extend(found.refused.iter().map(|(origin, reason)| {
                    format!("{origin}: refused, so not audited against: {reason}")
                }));
                (PolicySource::Cluster(found.loaded), found.fingerprint)
            }
            _ => {
                let (policies, fingerprint) = self.policy.load_fingerprinted(self.no_match)?;
                (PolicySource::Files(policies), fingerprint)
            }
        };
        let set = policies.set();
        let mut read = if self.inputs.is_empty() {
            Vec::new()
        } else {
            inputs::read_all(&self.inputs)?
        };
        let mut gaps = Vec::new();
        if let Some((client, server)) = &connection {
            let listing = self.cluster.list(client, server, deadline).await?;
            read.extend(listing.inputs);
            gaps = listing.gaps;
        }
        let good = || read.iter().filter_map(|r| r.as_ref().ok());
        let facts = if self.no_images {
            VerdictMap::new()
        } else {
            let budget = Budget {
                per_image: self.image_timeout,
                concurrency: usize::from(self.image_concurrency),
            };
            verify_images(&self.registry, set, good().map(|i| &i.request), budget).await?
        };
        let unverifiable = results::unverifiable(&facts);
        let evaluator = evaluate::Evaluator {
            set,
            facts: &facts,
            labels: &results::ControlLabels::new(&map),
            images: (!self.no_images).then_some(&unverifiable),
        };
        partial.extend(gaps.iter().map(cluster::Gap::line));
        let gap_results: Vec<AuditResult> = gaps.iter().map(results::of_gap).collect();
        if self.output == AuditOutput::Jsonl {
            // Streamed: each thread writes the lines of what it evaluated, a batch at a time.
            let lines = |results: Vec<AuditResult>| -> anyhow::Result<(Vec<u8>, bool)> {
                // Sized for the usual line (~400 bytes): no copying as it grows.
                let mut buf = Vec::with_capacity(results.len() * 512);
                report::write_jsonl(&mut buf, &results)?;
                Ok((buf, self.fails(&results)))
            };
            let mut failed = false;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut sink = |part: anyhow::Result<(Vec<u8>, bool)>| -> anyhow::Result<()> {
                let (buf, fails) = part?;
                failed |= fails;
                std::io::Write::write_all(&mut out, &buf)?;
                Ok(())
            };
            evaluator.each_batch(&read, lines, &mut sink)?;
            sink(lines(gap_results))?;
            std::io::Write::flush(&mut out)?;
            return Ok(Audited {
                printed: String::new(),
                failed,
                partial: !partial.is_empty(),
            });
        }
        let mut results = Vec::new();
        evaluator.each_batch(
            &read,
            |part| part,
            |part| {
                results.extend(part);
                Ok(())
            },
        )?;
        results.extend(gap_results);
        let note = if self.no_images {
            "not verified (--no-images): image rules are reported as skip"
        } else {
            "verified against their registries, as admission does"
        };
        let printed = match self.output {
            // Written as it was evaluated, above.
            AuditOutput::Jsonl => String::new(),
            AuditOutput::Policyreport => {
                policy_report::yaml(&results, Flavour::PolicyReport, SystemTime::now())?
            }
            AuditOutput::Openreports => {
                policy_report::yaml(&results, Flavour::OpenReports, SystemTime::now())?
            }
            AuditOutput::Sarif => sarif::json(&results, &std::env::current_dir()?)?,
            AuditOutput::Junit => junit::xml(
                &results,
                self.fail_on == Some(FailOn::Warn),
                SystemTime::now(),
            )?,
            AuditOutput::Text => report::text(&results, read.len(), &map, note, &partial),
            AuditOutput::Html => {
                let meta = html::Meta {
                    generated: SystemTime::now(),
                    resources: read.len(),
                    images_note: note,
                    policy_fingerprint: &policy_fingerprint,
                    input_fingerprint: &input_fingerprint(&read),
                    partial: &partial,
                };
                html::page(&results, &map, &image_evidence(&facts), &meta)
            }
        };
        Ok(Audited {
            failed: self.fails(&results),
            printed,
            partial: !partial.is_empty(),
        })
    }
}

/// sha256 over the sorted sha256s of the audited objects (as parsed, so formatting, comments and
/// file order do not count) and of the documents that could not be read.
fn input_fingerprint(read: &[Result<Input, BadInput>]) -> String {
    let mut parts: Vec<String> = read
        .iter()
        .map(|r| match r {
            Ok(input) => sha256_hex(input.request.object.to_string().as_bytes()),
            Err(bad) => sha256_hex(format!("unreadable {}: {}", bad.kind, bad.error).as_bytes()),
        })
        .collect();
    parts.sort_unstable();
    sha256_hex(parts.join("\n").as_bytes())
}

/// The verified images, by name, with the digest and signers each verified to or why not.
fn image_evidence(facts: &VerdictMap) -> Vec<html::ImageEvidence> {
    let mut out: Vec<html::ImageEvidence> = facts
        .iter()
        .map(|((image, requirement), verdict)| html::ImageEvidence {
            image: image.clone(),
            requirement: requirement.clone(),
            outcome: match verdict.as_ref() {
                Ok(v) if v.key_ids.is_empty() => Ok(v.digest.to_string()),
                Ok(v) => Ok(format!("{} (keys {})", v.digest, v.key_ids.join(", "))),
                Err(e) => Err(e.to_string()),
            },
        })
        .collect();
    out.sort_by(|a, b| (&a.image, &a.requirement).cmp(&(&b.image, &b.requirement)));
    out
}
