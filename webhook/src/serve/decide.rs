//! The webhook's adapter around the policy engine (`portcullis_policies`): where the server
//! compiles the policy set and asks it for decisions.
//!
//! It turns the engine's types into what the transport needs: source files in, a
//! [`Prepared`] request (the engine's [`Request`], read by [`super::review`]) with its
//! verification [`Job`]s, and an [`Outcome`] with the reasons as display strings, the patch as
//! JSON values, per-rule results for metrics, and which denials came from image verification (the
//! only ones `/mutate` acts on).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis_policies::{
    ImageCheck, ImageFacts, Mode, NoMatch, PolicyInfo, PolicySet, Request, TrustRoots,
};
use portcullis_verifier::Verdict;
use portcullis_verifier::keyless::TrustedRoot;
use serde_json::Value;

use super::policy::PolicyLoadError;
use super::verify::{Job, Verdicts};

/// The engine's rule name for image signature/attestation findings.
const VERIFY_IMAGE_RULE: &str = "verifyImage";

/// A policy file's path and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// A file read under a name (`--trusted-root NAME=FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSource {
    pub name: String,
    pub file: SourceFile,
}

/// A compiled policy set.
#[derive(Debug, Clone)]
pub struct Policies {
    set: PolicySet,
}

/// A request with the image checks it needs.
#[derive(Debug)]
pub struct Prepared<'a> {
    request: &'a Request,
    checks: Vec<ImageCheck>,
}

/// One rule outcome, for `portcullis_policy_results_total`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleResult {
    pub policy: String,
    pub rule: String,
    /// `deny`, `warn` or `audit`.
    pub result: String,
}

/// The engine's decision in transport terms.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub allowed: bool,
    /// One line per violated `enforce` rule.
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub audit_annotations: BTreeMap<String, String>,
    /// JSON Patch operations (empty when denied or nothing to change).
    pub patch: Vec<Value>,
    pub results: Vec<RuleResult>,
    /// The reasons that come from image verification in `enforce` policies.
    pub verification_denials: Vec<String>,
    /// Each (exception `namespace/name`, policy) whose findings a `PolicyException` waived.
    pub exceptions: Vec<(String, String)>,
}

impl Policies {
    /// Parses and compiles all sources, all or nothing.
    pub fn parse(files: &[SourceFile]) -> Result<Self, PolicyLoadError> {
        Self::parse_with_roots(files, &[])
    }

    /// The same policies, deciding images no image policy covers by `no_match`.
    pub fn with_no_match(self, no_match: NoMatch) -> Self {
        Self {
            set: self.set.with_no_match(no_match),
        }
    }

    /// The same policies, with `PolicyException`s counting only in `namespaces`.
    pub fn with_exception_namespaces(self, namespaces: &[String]) -> Self {
        Self {
            set: self
                .set
                .with_exception_namespaces(namespaces.iter().cloned()),
        }
    }

    /// Like [`Policies::parse`], with the trusted roots keyless authorities name.
    pub fn parse_with_roots(
        files: &[SourceFile],
        roots: &[NamedSource],
    ) -> Result<Self, PolicyLoadError> {
        let mut trust = TrustRoots::new();
        for root in roots {
            let parsed =
                TrustedRoot::from_json(root.file.text.as_bytes(), &root.name).map_err(|e| {
                    PolicyLoadError::TrustedRoot {
                        name: root.name.clone(),
                        path: root.file.path.clone(),
                        cause: e.to_string(),
                    }
                })?;
            trust.insert(root.name.clone(), Arc::new(parsed));
        }
        let origins: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
        let set = PolicySet::from_sources_with_roots(
            origins
                .iter()
                .zip(files)
                .map(|(origin, f)| (origin.as_str(), f.text.as_str())),
            &trust,
        )
        .map_err(|e| PolicyLoadError::Parse(e.to_string()))?;
        Ok(Self { set })
    }

    pub fn set(&self) -> &PolicySet {
        &self.set
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn info(&self) -> Vec<PolicyInfo> {
        self.set.policies()
    }

    /// Lists the verifications `request` needs.
    pub fn prepare<'a>(&self, request: &'a Request) -> Prepared<'a> {
        let checks = self.set.image_checks(request);
        Prepared { request, checks }
    }

    /// The decision, given the verdicts for [`Prepared::jobs`].
    pub fn decide(&self, prepared: &Prepared<'_>, verdicts: &Verdicts) -> Outcome {
        let decision = self.set.evaluate(prepared.request, &Facts(verdicts));
        let verification_denials = decision
            .reasons
            .iter()
            .filter(|r| r.rule == VERIFY_IMAGE_RULE)
            .map(ToString::to_string)
            .collect();
        let results = decision
            .filed
            .iter()
            .map(|f| RuleResult {
                policy: f.policy.clone(),
                rule: f.rule.clone(),
                result: match f.mode {
                    Mode::Enforce => "deny",
                    Mode::Warn => "warn",
                    Mode::Audit => "audit",
                }
                .into(),
            })
            .collect();
        let exceptions = decision
            .exceptions_applied()
            .into_iter()
            .map(|(e, p)| (e.to_string(), p.to_string()))
            .collect();
        let patch = decision
            .patch
            .0
            .iter()
            .filter_map(|op| serde_json::to_value(op).ok())
            .collect();
        Outcome {
            allowed: decision.allowed,
            reasons: decision.reasons.iter().map(ToString::to_string).collect(),
            warnings: decision.warnings,
            audit_annotations: decision.audit_annotations,
            patch,
            results,
            verification_denials,
            exceptions,
        }
    }
}

impl Prepared<'_> {
    /// The verifications to run (duplicates are merged by [`super::verify::verify_all`]).
    pub fn jobs(&self) -> Vec<Job> {
        self.checks
            .iter()
            .map(|c| Job {
                image: c.image.clone(),
                requirement: c.requirement.clone(),
                fingerprint: c.fingerprint.clone(),
            })
            .collect()
    }
}

struct Facts<'a>(&'a Verdicts);

impl ImageFacts for Facts<'_> {
    fn verdict(&self, image: &str, requirement_fingerprint: &str) -> Option<Verdict> {
        self.0.get(image, requirement_fingerprint)
    }
}
