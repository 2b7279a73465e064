//! Turning the engine's evaluation of one resource into audit results: one per
//! resource × policy × rule the policy checked, with a status.
//!
//! Statuses: `pass` (the rule found nothing), `fail` (an `enforce` policy's finding, which
//! admission denies, or an `audit` policy's, which admission records), `warn` (a `warn` policy's
//! finding, which admission returns as a warning), `skip` (image verification not run, with
//! `--no-images`), `error` (the resource could not be read as its kind, which admission refuses
//! as bad input; or an image rule whose images no registry could answer for in time, which
//! admission denies as unverified: the audit says it could not tell, not that the image failed). Nothing here re-implements a rule: findings come from
//! [`portcullis_policies::PolicySet::evaluate_detailed`], the evaluation admission uses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use portcullis_policies::catalog::VERIFY_IMAGE;
use portcullis_policies::compliance::ControlMap;
use portcullis_policies::{Evaluation, Mode, PolicyKind, Reason, Request, VerdictMap};
use serde::Serialize;

use super::cluster::Gap;
use crate::commands::inputs::{BadInput, Input};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Skip,
    Error,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pass,
        Status::Fail,
        Status::Warn,
        Status::Skip,
        Status::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

/// The audited resource and where it was read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub document: usize,
    pub line: usize,
}

impl Resource {
    fn of(input: &Input) -> Self {
        let r: &Request = &input.request;
        Self {
            api_version: r.kind.api_version(),
            kind: r.kind.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            file: input.origin.clone(),
            document: input.document,
            line: input.line,
        }
    }

    /// `Kind namespace/name` or `Kind name`.
    pub fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One audit result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditResult {
    /// Shared by the resource's results.
    pub resource: Arc<Resource>,
    /// Empty for `error` results, which no policy produced.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_kind: Option<PolicyKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    pub rule: String,
    pub status: Status,
    /// `framework:control` ids the rule maps to (policies/compliance/controls.yaml), shared by
    /// the rule's results.
    pub controls: Arc<[String]>,
    /// Why, for anything but `pass`: one line per finding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// How to comply, one per finding that says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<String>,
    /// The findings as the engine reports them (policy, rule, container, path, expected, actual).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Reason>,
}

/// The policy name reported for `error` results, which no policy produced.
pub const INPUT_POLICY: &str = "input";

impl AuditResult {
    /// The policy, or [`INPUT_POLICY`] for a resource that could not be read.
    pub fn policy_name(&self) -> &str {
        if self.policy.is_empty() {
            INPUT_POLICY
        } else {
            &self.policy
        }
    }

    /// `policy/rule`: the id report formats give the rule.
    pub fn rule_id(&self) -> String {
        format!("{}/{}", self.policy_name(), self.rule)
    }

    /// One line for report formats: the reasons (each ends with its fix), then any fix no
    /// reason states; a `pass` says the rule found nothing.
    pub fn message(&self) -> String {
        if self.reasons.is_empty() {
            return format!("{}: found nothing", self.rule_id());
        }
        let mut out = self.reasons.join("; ");
        let unstated: Vec<&str> = self
            .fixes
            .iter()
            .filter(|f| !self.reasons.iter().any(|r| r.contains(f.as_str())))
            .map(String::as_str)
            .collect();
        if !unstated.is_empty() {
            out.push_str(" — fix: ");
            out.push_str(&unstated.join("; "));
        }
        out
    }
}

/// Each rule's `framework:control` labels, made once per audit rather than once per result.
pub struct ControlLabels {
    by_rule: HashMap<String, Arc<[String]>>,
    none: Arc<[String]>,
}

impl ControlLabels {
    pub fn new(map: &ControlMap) -> Self {
        Self {
            by_rule: map
                .rules
                .keys()
                .map(|rule| (rule.clone(), Arc::from(map.controls_of(rule))))
                .collect(),
            none: Arc::from(Vec::new()),
        }
    }

    fn of(&self, rule: &str) -> Arc<[String]> {
        self.by_rule
            .get(rule)
            .map_or_else(|| self.none.clone(), Arc::clone)
    }
}

/// The messages of the verdicts no registry could give (unreachable, or out of time): an
/// image rule whose every finding is one of them is an `error`, not a `fail`.
pub fn unverifiable(facts: &VerdictMap) -> HashSet<String> {
    facts
        .values()
        .filter_map(|v| v.as_ref().as_ref().err())
        .filter(|e| e.is_transient())
        .map(ToString::to_string)
        .collect()
}

/// Reason given for image rules under `--no-images`.
pub const NO_IMAGES_REASON: &str = "image verification not run (--no-images)";

/// The results for one evaluated resource. `images` is `None` when images were not verified
/// (`--no-images`: image rules `skip`), else the messages of the verdicts a registry could not
/// give (unreachable, or out of time): an image rule whose every finding is one is `error`.
pub fn of_evaluation(
    input: &Input,
    evaluation: &Evaluation,
    labels: &ControlLabels,
    images: Option<&HashSet<String>>,
) -> Vec<AuditResult> {
    let resource = Arc::new(Resource::of(input));
    let mut out = Vec::new();
    for o in &evaluation.outcomes {
        let mut seen: Vec<&str> = Vec::new();
        // The rules the policy checked, then any rule a finding names that the list lacks, so
        // that no finding goes unreported.
        let extra = o
            .findings
            .iter()
            .map(|f| &f.rule)
            .filter(|r| !o.rules.contains(r));
        for rule in o.rules.iter().chain(extra) {
            if seen.contains(&rule.as_str()) {
                continue;
            }
            seen.push(rule);
            let findings: Vec<Reason> = o
                .findings
                .iter()
                .filter(|f| &f.rule == rule)
                .cloned()
                .collect();
            let unanswered = |unverifiable: &HashSet<String>| {
                rule == VERIFY_IMAGE && findings.iter().all(|f| unverifiable.contains(&f.message))
            };
            let waived = waived_by(evaluation, &o.policy, rule);
            let (status, reasons) = if rule == VERIFY_IMAGE && images.is_none() {
                (Status::Skip, vec![NO_IMAGES_REASON.to_string()])
            } else if findings.is_empty() && !waived.is_empty() {
                (Status::Skip, waived)
            } else if findings.is_empty() {
                (Status::Pass, Vec::new())
            } else {
                let status = match o.mode {
                    _ if images.is_some_and(unanswered) => Status::Error,
                    Mode::Enforce | Mode::Audit => Status::Fail,
                    Mode::Warn => Status::Warn,
                };
                (status, findings.iter().map(ToString::to_string).collect())
            };
            let fixes = if status == Status::Skip {
                Vec::new()
            } else {
                let mut fixes: Vec<String> = findings
                    .iter()
                    .map(|f| f.fix.clone())
                    .filter(|f| !f.is_empty())
                    .collect();
                fixes.dedup();
                fixes
            };
            out.push(AuditResult {
                resource: resource.clone(),
                policy: o.policy.clone(),
                policy_kind: Some(o.kind),
                mode: Some(o.mode),
                rule: rule.clone(),
                status,
                controls: labels.of(rule),
                reasons,
                fixes,
                findings: if status == Status::Skip {
                    Vec::new()
                } else {
                    findings
                },
            });
        }
    }
    out
}

/// `waived by policy exception ns/name` for each exception that waived `rule` of `policy`: such
/// a rule with no finding left is a `skip`, not a `pass`.
fn waived_by(evaluation: &Evaluation, policy: &str, rule: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &evaluation.decision.exemptions {
        let line = format!("waived by policy exception {}", e.exception);
        if e.policy == policy && e.rule == rule && !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// The result for a resource that is not a valid instance of its kind.
pub fn of_bad_input(bad: &BadInput) -> AuditResult {
    AuditResult {
        resource: Arc::new(Resource {
            api_version: String::new(),
            kind: bad.kind.clone(),
            namespace: String::new(),
            name: bad.name.clone(),
            file: bad.origin.clone(),
            document: bad.document,
            line: bad.line,
        }),
        policy: String::new(),
        policy_kind: None,
        mode: None,
        rule: "readable".into(),
        status: Status::Error,
        controls: Arc::from(Vec::new()),
        reasons: vec![bad.error.clone()],
        fixes: vec![
            "make the object a valid instance of its kind (the API server would refuse it)".into(),
        ],
        findings: Vec::new(),
    }
}

/// The result for a kind the API server did not list to the end: the audit is partial.
pub fn of_gap(gap: &Gap) -> AuditResult {
    AuditResult {
        resource: Arc::new(Resource {
            api_version: gap.api_version.clone(),
            kind: gap.kind.clone(),
            namespace: String::new(),
            name: format!("(all {})", gap.plural),
            file: String::new(),
            document: 0,
            line: 0,
        }),
        policy: String::new(),
        policy_kind: None,
        mode: None,
        rule: "listed".into(),
        status: Status::Error,
        controls: Arc::from(Vec::new()),
        reasons: vec![format!(
            "the audit is partial: {} {} listed, then {}",
            gap.listed, gap.plural, gap.error
        )],
        fixes: vec![format!(
            "audit again when the API server lists {} to this identity (RBAC: list, all namespaces)",
            gap.plural
        )],
        findings: Vec::new(),
    }
}
