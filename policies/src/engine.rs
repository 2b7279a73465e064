//! [`PolicySet`]: the loaded, compiled policies and the two calls the webhook makes per request,
//! [`PolicySet::image_checks`] (what to verify) and [`PolicySet::evaluate`] (the decision).
//!
//! Evaluation order follows the API server's: mutations first (digest pins from image policies,
//! then guardrail defaults; cluster policies before namespaced ones, each in name order), then
//! validation of the mutated object by every applicable policy. DELETE and CONNECT are allowed
//! untouched. On UPDATE, pod-spec checks and mutations are skipped when the pod spec and its
//! security annotations did not change (as Pod Security Admission does for pods), so
//! relabelling or scaling an old workload is never blocked by a policy added since; mutations
//! are skipped where the API would refuse them (defaults on Pod/Job updates, pins on Job
//! updates).

use serde::Serialize;
use serde_json::Value;

use crate::catalog;
use crate::compile::{Body, Policy, PolicyKind};
use crate::decision::{Decision, Finding, Reason};
use crate::exception::{Exception, ExceptionInfo, Waivers};
use crate::images::{ImageCheck, ImageFacts, TrustRoots, pinnable};
use crate::load::{LoadError, Loaded, load, load_values};
use crate::mutate::Mutator;
use crate::no_match::{self, NoMatch};
use crate::request::{Operation, Request};
use crate::spec::Mode;
use crate::workload::{Workload, WorkloadKind};

/// A compiled, validated set of policies. Immutable; swap the whole set to reload.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
    no_match: NoMatch,
    exceptions: Vec<Exception>,
    /// Where exceptions count (`--exception-namespaces`); `*` is everywhere.
    exception_namespaces: Vec<String>,
}

/// A summary of one loaded policy, for logs and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyInfo {
    pub name: String,
    /// The namespace of a namespaced policy (`ImagePolicy`, `GuardrailPolicy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub kind: PolicyKind,
    pub mode: Mode,
    /// `<source> document <n>`.
    pub origin: String,
}

/// What one applicable policy found on one object, whatever its mode: the audit view of a
/// [`Decision`] (which routes the same findings to reasons, warnings or audit annotations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcome {
    /// As in [`Reason::policy`]: the name, or `namespace/name` for a namespaced policy.
    pub policy: String,
    pub kind: PolicyKind,
    pub mode: Mode,
    /// The rules this policy checked on the object, in check order: built-in ids
    /// ([`catalog::builtin_rules`]) and custom rule names. A rule without a finding passed.
    pub rules: Vec<String>,
    /// Every violation, in check order.
    pub findings: Vec<Reason>,
}

/// A decision together with each applicable policy's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub decision: Decision,
    pub outcomes: Vec<PolicyOutcome>,
}

const SECURITY_ANNOTATION_PREFIXES: [&str; 3] = [
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
];

impl PolicySet {
    /// No policies: every request is allowed.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses and compiles one YAML source (`origin` names it in errors).
    pub fn from_yaml(origin: &str, text: &str) -> Result<Self, LoadError> {
        Self::from_sources([(origin, text)])
    }

    /// Parses and compiles (origin, text) sources, all or nothing. Keyless authorities need
    /// [`PolicySet::from_sources_with_roots`].
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, LoadError> {
        Self::from_sources_with_roots(sources, &TrustRoots::new())
    }

    /// Like [`PolicySet::from_sources`], with the trusted roots keyless authorities name.
    pub fn from_sources_with_roots<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
        roots: &TrustRoots,
    ) -> Result<Self, LoadError> {
        Ok(Self::loaded(load(sources, roots)?))
    }

    /// Compiles already-parsed policy objects (e.g. listed from the API server).
    pub fn from_documents(
        origin: &str,
        documents: &[Value],
        roots: &TrustRoots,
    ) -> Result<Self, LoadError> {
        Ok(Self::loaded(load_values(origin, documents, roots)?))
    }

    fn loaded(loaded: Loaded) -> Self {
        Self {
            policies: loaded.policies,
            exceptions: loaded.exceptions,
            ..Self::default()
        }
    }

    /// The set, with `PolicyException`s counting only in `namespaces` (`*`: every namespace).
    /// Without this call they count nowhere: each is loaded but inactive, as
    /// [`PolicySet::exceptions`] reports.
    pub fn with_exception_namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exception_namespaces = namespaces.into_iter().map(Into::into).collect();
        self
    }

    /// The namespaces where exceptions count, as set.
    pub fn exception_namespaces(&self) -> &[String] {
        &self.exception_namespaces
    }

    /// Every loaded `PolicyException` with whether it counts and why (a `Ready` condition's
    /// status, reason and message), sorted by namespace and name.
    pub fn exceptions(&self) -> Vec<ExceptionInfo> {
        self.exceptions
            .iter()
            .map(|e| ExceptionInfo::of(e, &self.exception_namespaces))
            .collect()
    }

    /// The loaded exceptions that do not count (`ready == false`), with the reason.
    pub fn inactive_exceptions(&self) -> Vec<ExceptionInfo> {
        self.exceptions().into_iter().filter(|e| !e.ready).collect()
    }

    /// The set deciding images no image policy covers by `no_match` ([`crate::no_match`]).
    pub fn with_no_match(mut self, no_match: NoMatch) -> Self {
        self.no_match = no_match;
        self
    }

    pub fn no_match(&self) -> NoMatch {
        self.no_match
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The loaded policies, sorted by kind, namespace and name.
    pub fn policies(&self) -> Vec<PolicyInfo> {
        self.policies
            .iter()
            .map(|p| PolicyInfo {
                name: p.name.clone(),
                namespace: p.namespace.clone(),
                kind: p.kind,
                mode: p.mode,
                origin: p.origin.clone(),
            })
            .collect()
    }

    fn applicable<'a>(&'a self, req: &'a Request) -> impl Iterator<Item = &'a Policy> + 'a {
        self.policies.iter().filter(move |p| p.matcher.applies(req))
    }

    /// Every (container image, image policy) pair the request needs verified before
    /// [`PolicySet::evaluate`] can admit it. Pairs with the same [`ImageCheck::key`] need one
    /// verification.
    pub fn image_checks(&self, req: &Request) -> Vec<ImageCheck> {
        let Some(kind) = pod_checks(req) else {
            return Vec::new();
        };
        let Some(w) = Workload::locate(kind, &req.object) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in self.applicable(req) {
            let Body::Image(ip) = &p.body else { continue };
            for c in ip.targets(&w, &p.matcher) {
                out.push(ImageCheck {
                    image: c.image().to_string(),
                    policy: p.label(),
                    mode: p.mode,
                    requirement: ip.requirement().clone(),
                    fingerprint: ip.fingerprint().to_string(),
                    pin_digest: may_pin(req, kind, p.mode) && ip.pins(kind) && pinnable(c.image()),
                    container: c.name.to_string(),
                    path: c.path.key("image").to_string(),
                });
            }
        }
        out
    }

    /// The decision for `req`, given verification verdicts for its images.
    pub fn evaluate(&self, req: &Request, facts: &dyn ImageFacts) -> Decision {
        self.run(req, facts, None)
    }

    /// The decision for `req` and what each applicable policy checked and found, by the same
    /// evaluation as [`PolicySet::evaluate`] (for `portcullis audit` and `evaluate`).
    pub fn evaluate_detailed(&self, req: &Request, facts: &dyn ImageFacts) -> Evaluation {
        let mut outcomes = Vec::new();
        let decision = self.run(req, facts, Some(&mut outcomes));
        Evaluation { decision, outcomes }
    }

    fn run(
        &self,
        req: &Request,
        facts: &dyn ImageFacts,
        mut outcomes: Option<&mut Vec<PolicyOutcome>>,
    ) -> Decision {
        if !req.operation.writes() {
            return Decision::allow();
        }
        let applicable: Vec<&Policy> = self.applicable(req).collect();
        let kind = pod_checks(req);
        if applicable.is_empty() && (self.no_match == NoMatch::Allow || kind.is_none()) {
            return Decision::allow();
        }
        let mut m = Mutator::of(&req.object);

        // Mutations, on a working copy; validation below sees their result.
        if let Some(kind) = kind {
            if let Some(w) = Workload::locate(kind, &req.object) {
                for p in &applicable {
                    if let Body::Image(ip) = &p.body
                        && may_pin(req, kind, p.mode)
                        && ip.pins(kind)
                    {
                        for (path, written, pinned) in ip.pins_for(&w, &p.matcher, facts) {
                            // One pin per container, even when several policies cover it.
                            if path.get(m.doc()).and_then(Value::as_str) == Some(written.as_str()) {
                                m.replace(&path, Value::String(pinned));
                            }
                        }
                    }
                }
            }
            if req.operation == Operation::Create || kind.template_mutable() {
                for p in &applicable {
                    if let Body::Guardrail(g) = &p.body
                        && let Some(d) = &g.defaults
                        && p.mode != Mode::Audit
                    {
                        d.apply(kind, &mut m);
                    }
                }
            }
        }

        let mut decision = Decision::default();
        let object = m.doc();
        let original = kind.and_then(|k| Workload::locate(k, &req.object));
        let mutated = kind.and_then(|k| Workload::locate(k, object));
        let waivers = Waivers::new(
            &self.exceptions,
            &self.exception_namespaces,
            req,
            original.as_ref(),
        );
        for p in &applicable {
            let mut findings: Vec<Finding> = Vec::new();
            match &p.body {
                Body::Image(ip) => {
                    // Verdicts are keyed by the images as written, before pinning.
                    if let Some(w) = &original {
                        findings.extend(ip.verify(w, &p.matcher, facts));
                    }
                }
                Body::Guardrail(g) => {
                    if let Some(w) = &mutated {
                        if let Some(ps) = &g.pod_security {
                            findings.extend(ps.evaluate(w));
                        }
                        if let Some(r) = &g.resources {
                            findings.extend(r.evaluate(w));
                        }
                        if let Some(h) = &g.hygiene {
                            findings.extend(h.evaluate(w, &p.matcher));
                        }
                    }
                    findings.extend(g.rules.iter().filter_map(|r| r.evaluate(object)));
                }
            }
            let label = p.label();
            let findings = waivers.apply(&mut decision, &label, p.mode, findings);
            if let Some(out) = outcomes.as_deref_mut() {
                let rules = checked_rules(p, original.as_ref(), mutated.as_ref());
                out.push(outcome(&label, p.kind, p.mode, rules, &findings));
            }
            decision.record(&label, &p.audit_key(), p.mode, findings);
        }
        if let (Some(mode), Some(w)) = (self.no_match.mode(), &original) {
            let findings = no_match::findings(w, &applicable);
            let findings = waivers.apply(&mut decision, no_match::POLICY, mode, findings);
            if let Some(out) = outcomes {
                let (kind, rules) = (PolicyKind::ClusterImagePolicy, vec![no_match::RULE.into()]);
                out.push(outcome(no_match::POLICY, kind, mode, rules, &findings));
            }
            decision.record(no_match::POLICY, no_match::POLICY, mode, findings);
        }
        decision.patch = json_patch::Patch(m.into_ops());
        decision.finish()
    }
}

/// What `policy` checked (`rules`) and found, for the detailed view.
fn outcome(
    policy: &str,
    kind: PolicyKind,
    mode: Mode,
    rules: Vec<String>,
    findings: &[Finding],
) -> PolicyOutcome {
    PolicyOutcome {
        policy: policy.to_string(),
        kind,
        mode,
        rules,
        findings: findings
            .iter()
            .cloned()
            .map(|f| f.into_reason(policy))
            .collect(),
    }
}

/// The rules `p` checks on the object, in check order (the detailed view only: the admission
/// path never lists them). `original` is the workload as written, `mutated` after defaults.
fn checked_rules(
    p: &Policy,
    original: Option<&Workload>,
    mutated: Option<&Workload>,
) -> Vec<String> {
    let mut rules: Vec<&str> = Vec::new();
    match &p.body {
        Body::Image(ip) => {
            if let Some(w) = original
                && !ip.targets(w, &p.matcher).is_empty()
            {
                rules.push(catalog::VERIFY_IMAGE);
            }
        }
        Body::Guardrail(g) => {
            if mutated.is_some() {
                if let Some(ps) = &g.pod_security {
                    rules.extend(ps.check_ids());
                }
                if let Some(r) = &g.resources {
                    rules.extend(r.rule_ids());
                }
                if let Some(h) = &g.hygiene {
                    rules.extend(h.rule_ids());
                }
            }
            rules.extend(g.rules.iter().map(|r| r.name()));
        }
    }
    rules.into_iter().map(str::to_string).collect()
}

/// Whether pins apply: not in audit mode, and not on a Job UPDATE (its template is immutable).
fn may_pin(req: &Request, kind: WorkloadKind, mode: Mode) -> bool {
    mode != Mode::Audit && (req.operation == Operation::Create || kind != WorkloadKind::Job)
}

/// The workload kind when the request's pod spec needs checking: a CREATE, or an UPDATE that
/// changes the pod spec or its security annotations (or adds ephemeral containers).
fn pod_checks(req: &Request) -> Option<WorkloadKind> {
    if !req.operation.writes() {
        return None;
    }
    let kind = WorkloadKind::of(&req.kind)?;
    if req.operation == Operation::Create
        || req.sub_resource.as_deref() == Some("ephemeralcontainers")
    {
        return Some(kind);
    }
    let Some(old) = &req.old_object else {
        return Some(kind);
    };
    let changed = match (
        Workload::locate(kind, &req.object),
        Workload::locate(kind, old),
    ) {
        (Some(new), Some(old)) => {
            new.spec != old.spec || security_annotations(&new) != security_annotations(&old)
        }
        (None, None) => false,
        _ => true,
    };
    changed.then_some(kind)
}

fn security_annotations<'a>(w: &Workload<'a>) -> Vec<(&'a String, &'a Value)> {
    w.annotations()
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            SECURITY_ANNOTATION_PREFIXES
                .iter()
                .any(|p| k.starts_with(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_set_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<PolicySet>();
        assert_send_sync::<Decision>();
        assert_send_sync::<ImageCheck>();
    }

    #[test]
    fn detailed_evaluation_lists_checked_rules_and_findings_by_mode() {
        let set = PolicySet::from_yaml(
            "t",
            "apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: base}
spec: {mode: audit, podSecurity: {level: baseline, version: latest}}
---
apiVersion: policy.portcullis.dev/v1alpha1
kind: ClusterGuardrailPolicy
metadata: {name: tags}
spec: {imageHygiene: {forbidLatestTag: true}}
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let req = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "x:latest", "securityContext": {"privileged": true}}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let facts = crate::images::VerdictMap::new();
        let e = set.evaluate_detailed(&req, &facts);
        assert_eq!(e.decision, set.evaluate(&req, &facts), "the same decision");
        assert!(!e.decision.allowed);
        let base = &e.outcomes[0];
        assert_eq!((base.policy.as_str(), base.mode), ("base", Mode::Audit));
        let profile =
            crate::psa::Profile::new(crate::psa::Level::Baseline, crate::psa::PsaVersion::Latest);
        assert_eq!(base.rules, profile.check_ids());
        let rules: Vec<&str> = base.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["privileged"]);
        let tags = &e.outcomes[1];
        assert_eq!(
            tags.rules,
            [catalog::INVALID_REFERENCE, catalog::LATEST_TAG]
        );
        assert_eq!(
            tags.findings, e.decision.reasons,
            "enforce findings are the reasons"
        );
    }

    #[test]
    fn empty_set_allows_everything() {
        let req = Request::from_manifest(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "x", "securityContext": {"privileged": true}}]}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let d = PolicySet::empty().evaluate(&req, &crate::images::VerdictMap::new());
        assert!(d.allowed && d.patch.is_empty() && d.warnings.is_empty());
        assert!(PolicySet::empty().image_checks(&req).is_empty());
    }
}
