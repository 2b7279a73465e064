//! The engine's answer: [`Decision`] (allowed, reasons, warnings, audit annotations, patch) and
//! the [`Reason`] each violation produces.
//!
//! A reason names the policy, the rule, the container, the JSON path into the admitted object,
//! what was expected and what was found, and how to fix it; its `Display` is one line meant for
//! `kubectl` users. A policy's mode decides where its reasons go: `enforce` denies, `warn` turns
//! them into warnings, `audit` into audit annotations keyed by policy name (the API server prefixes the webhook name).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::spec::Mode;

/// One violated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// Policy name (`metadata.name`); `namespace/name` for a namespaced policy.
    pub policy: String,
    /// Rule within the policy: a Pod Security check ID (`runAsNonRoot`), `resources.requireLimits`,
    /// `imageHygiene.latestTag`, a custom rule's name, or `verifyImage`.
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Path into the admitted object, e.g. `spec.containers[0].securityContext.runAsNonRoot`.
    pub path: String,
    /// Summary of the violation.
    pub message: String,
    /// What the rule wants (may be empty when `message` says it all).
    pub expected: String,
    /// What the object has (`unset` when missing).
    pub actual: String,
    /// How to comply.
    pub fix: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}: ", self.policy, self.rule)?;
        match &self.container {
            Some(c) => write!(f, "container {c:?} ({}): ", self.path)?,
            None if self.path.is_empty() => {}
            None => write!(f, "{}: ", self.path)?,
        }
        if self.expected.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "expected {}, found {}", self.expected, self.actual)?;
        }
        if !self.fix.is_empty() {
            write!(f, " — {}", self.fix)?;
        }
        Ok(())
    }
}

/// A violation found by a check, before it is attributed to a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub rule: String,
    pub container: Option<String>,
    pub path: String,
    pub message: String,
    pub expected: String,
    pub actual: String,
    pub fix: String,
}

impl Finding {
    pub fn new(rule: &str, path: impl fmt::Display, message: impl Into<String>) -> Self {
        Self {
            rule: rule.to_string(),
            container: None,
            path: path.to_string(),
            message: message.into(),
            expected: String::new(),
            actual: String::new(),
            fix: String::new(),
        }
    }

    pub fn container(mut self, name: &str) -> Self {
        self.container = Some(name.to_string());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        self.expected = expected.into();
        self.actual = actual.into();
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }

    pub fn into_reason(self, policy: &str) -> Reason {
        Reason {
            policy: policy.to_string(),
            rule: self.rule,
            container: self.container,
            path: self.path,
            message: self.message,
            expected: self.expected,
            actual: self.actual,
            fix: self.fix,
        }
    }
}

/// The outcome of evaluating one request against a policy set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allowed: bool,
    /// Violations of `enforce` policies; non-empty exactly when `allowed` is false.
    pub reasons: Vec<Reason>,
    /// Violations of `warn` policies, one line each (the API server relays them to the client).
    pub warnings: Vec<String>,
    /// Violations of `audit` policies, keyed by policy name, or `namespace_name` for a namespaced
    /// policy (the API server adds the webhook prefix and allows no further `/`).
    pub audit_annotations: BTreeMap<String, String>,
    /// RFC 6902 JSON Patch to apply to the admitted object; empty when denied.
    pub patch: json_patch::Patch,
    /// Every (policy, rule, mode) filed, in order, for metrics: warnings and audit lines are
    /// rendered text, and a namespaced policy's `namespace/name` makes their `policy/rule`
    /// prefix ambiguous. Not serialised.
    #[serde(skip)]
    pub filed: Vec<Filed>,
    /// Findings that active `PolicyException`s waived, in order: they are in none of the lists
    /// above, and each exception that waived something is named in one warning and in the
    /// [`EXCEPTIONS_AUDIT_KEY`] audit annotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exemptions: Vec<Exemption>,
}

/// The audit annotation listing the exceptions that waived findings (the API server prefixes
/// the webhook name: `validate.portcullis.dev/exceptions`).
pub const EXCEPTIONS_AUDIT_KEY: &str = "exceptions";

/// One finding a `PolicyException` waived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The exception, `namespace/name`.
    pub exception: String,
    /// As in [`Reason::policy`].
    pub policy: String,
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The mode the finding would have been filed in.
    pub mode: Mode,
}

impl fmt::Display for Exemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.policy, self.rule)?;
        match &self.container {
            Some(c) => write!(f, " (container {c:?})"),
            None => Ok(()),
        }
    }
}

/// One violated rule of one policy, with the mode it was filed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// As in [`Reason::policy`].
    pub policy: String,
    pub rule: String,
    pub mode: Mode,
}

impl Decision {
    /// Allowed, nothing to say.
    pub fn allow() -> Self {
        Self {
            allowed: true,
            ..Self::default()
        }
    }

    /// The deny message for an AdmissionReview `status.message`: every reason, one per line.
    pub fn message(&self) -> String {
        self.reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The policy/rule pairs that denied, for tests and metrics.
    pub fn denied_rules(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|r| format!("{}/{}", r.policy, r.rule))
            .collect()
    }

    /// Files `findings` of `policy` according to its `mode`; audit lines go under `audit_key`.
    pub(crate) fn record(
        &mut self,
        policy: &str,
        audit_key: &str,
        mode: Mode,
        findings: Vec<Finding>,
    ) {
        if findings.is_empty() {
            return;
        }
        self.filed.extend(findings.iter().map(|f| Filed {
            policy: policy.to_string(),
            rule: f.rule.clone(),
            mode,
        }));
        let reasons = findings.into_iter().map(|f| f.into_reason(policy));
        match mode {
            Mode::Enforce => self.reasons.extend(reasons),
            Mode::Warn => self.warnings.extend(reasons.map(|r| r.to_string())),
            Mode::Audit => {
                let line = reasons
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                let entry = self
                    .audit_annotations
                    .entry(audit_key.to_string())
                    .or_default();
                if !entry.is_empty() {
                    entry.push_str("; ");
                }
                entry.push_str(&line);
            }
        }
    }

    /// Records that `exception` waived `finding` of `policy` (filed in `mode` otherwise).
    pub(crate) fn exempt(&mut self, exception: &str, policy: &str, mode: Mode, finding: Finding) {
        self.exemptions.push(Exemption {
            exception: exception.to_string(),
            policy: policy.to_string(),
            rule: finding.rule,
            container: finding.container,
            mode,
        });
    }

    /// Each (exception, policy) that waived something, once, in order: for metrics.
    pub fn exceptions_applied(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for e in &self.exemptions {
            let pair = (e.exception.as_str(), e.policy.as_str());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        out
    }

    /// One line per exception that waived something: `policy exception ns/name waived
    /// policy/rule (container "c"), …`.
    pub fn exception_lines(&self) -> Vec<String> {
        let mut by_exception: Vec<(&str, Vec<String>)> = Vec::new();
        for e in &self.exemptions {
            let item = e.to_string();
            match by_exception.iter_mut().find(|(x, _)| *x == e.exception) {
                Some((_, items)) if items.contains(&item) => {}
                Some((_, items)) => items.push(item),
                None => by_exception.push((&e.exception, vec![item])),
            }
        }
        by_exception
            .into_iter()
            .map(|(x, items)| format!("policy exception {x} waived {}", items.join(", ")))
            .collect()
    }

    /// Sets `allowed` from the reasons and drops the patch of a denial; names the exceptions
    /// that waived findings in a warning each and in one audit annotation.
    pub(crate) fn finish(mut self) -> Self {
        let lines = self.exception_lines();
        if !lines.is_empty() {
            let entry = self
                .audit_annotations
                .entry(EXCEPTIONS_AUDIT_KEY.to_string())
                .or_default();
            if !entry.is_empty() {
                entry.push_str("; ");
            }
            entry.push_str(&lines.join("; "));
            self.warnings.extend(lines);
        }
        self.allowed = self.reasons.is_empty();
        if !self.allowed {
            self.patch = json_patch::Patch::default();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding::new(
            "runAsNonRoot",
            "spec.containers[0].securityContext.runAsNonRoot",
            "runAsNonRoot != true",
        )
        .container("app")
        .expected("true", "unset")
        .fix("set securityContext.runAsNonRoot: true")
    }

    #[test]
    fn reason_reads_as_one_line() {
        let r = finding().into_reason("pod-security-restricted");
        assert_eq!(
            r.to_string(),
            "pod-security-restricted/runAsNonRoot: container \"app\" (spec.containers[0].securityContext.runAsNonRoot): expected true, found unset — set securityContext.runAsNonRoot: true"
        );
        let plain =
            Finding::new("verifyImage", "", "nginx: no signature found").into_reason("signed");
        assert_eq!(
            plain.to_string(),
            "signed/verifyImage: nginx: no signature found"
        );
    }

    #[test]
    fn modes_route_reasons() {
        let mut d = Decision::default();
        d.record("a", "a", Mode::Warn, vec![finding()]);
        d.record("b", "b", Mode::Audit, vec![finding(), finding()]);
        let d = d.finish();
        assert!(d.allowed);
        assert_eq!(d.warnings.len(), 1);
        let audit = &d.audit_annotations["b"];
        assert_eq!(audit.matches("b/runAsNonRoot").count(), 2);

        let mut d = Decision::default();
        d.patch.0.push(json_patch::PatchOperation::Test(
            json_patch::TestOperation::default(),
        ));
        d.record("c", "c", Mode::Enforce, vec![finding()]);
        let d = d.finish();
        assert!(!d.allowed && d.patch.is_empty());
        assert_eq!(d.denied_rules(), ["c/runAsNonRoot"]);
    }

    #[test]
    fn serializes_camel_case() {
        let mut d = Decision::default();
        d.record("a", "a", Mode::Audit, vec![finding()]);
        let v = serde_json::to_value(d.finish()).unwrap();
        assert!(v.get("auditAnnotations").is_some());
        assert_eq!(v["patch"], serde_json::json!([]));
    }
}
