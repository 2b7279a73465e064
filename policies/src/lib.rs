//! Portcullis policy engine: policy set × admitted object → [`Decision`].
//!
//! It sits between the webhook (which speaks HTTP and AdmissionReview) and the verifier (which
//! talks to registries). Policies are Kubernetes-style documents of two kinds,
//! `ClusterImagePolicy` (which images must be signed, by whom, with which attestations) and
//! `ClusterGuardrailPolicy` (Pod Security Standards, resources, image hygiene, custom rules and
//! defaulting mutations), each with a namespaced twin (`ImagePolicy`, `GuardrailPolicy`) that
//! adds checks for one namespace's objects; a namespaced `PolicyException` waives named
//! policies, rules or Pod Security controls for selected workloads ([`exception`]), where the
//! operator allows it. They are parsed and compiled once ([`PolicySet::from_sources`]); a bad
//! set is a [`LoadError`] naming the file, the document and the field, and nothing of it is used.
//!
//! The webhook and `portcullis evaluate` hand it the same [`Request`], read once from an
//! AdmissionReview or built from a manifest through one constructor; a Pod or pod-template
//! workload whose object does not deserialise as its Kubernetes type is a [`RequestError`] naming
//! the field, refused rather than evaluated.
//!
//! Evaluation is pure and synchronous: no network, no files, no clock. Image verification results
//! come in through the [`ImageFacts`] trait, so the webhook first asks
//! [`PolicySet::image_checks`] what to verify, verifies asynchronously under its own deadline, then
//! calls [`PolicySet::evaluate`]. Mutations (digest pinning, securityContext and resource
//! defaults) are computed first and validation runs on the mutated object, like the API server's
//! mutating-then-validating order. A denial is a value ([`Decision`] with [`Reason`]s), never an
//! error.
//!
//! The Pod Security Standards checks ([`psa`]) reproduce upstream Pod Security Admission
//! (`k8s.io/pod-security-admission/policy`) level by level and version by version, v1.0 to v1.37.

pub mod catalog;
pub mod compliance;
pub mod decision;
pub mod engine;
pub mod exception;
pub mod guardrails;
pub mod images;
pub mod load;
pub mod matching;
pub mod mutate;
pub mod no_match;
pub mod path;
pub mod psa;
pub mod quantity;
pub mod request;
pub mod spec;
pub mod workload;

pub mod compile;

pub use catalog::{BuiltinRule, RuleFamily, builtin_rules};
pub use compile::{PolicyError, PolicyKind};
pub use decision::{Decision, EXCEPTIONS_AUDIT_KEY, Exemption, Filed, Reason};
pub use engine::{Evaluation, PolicyInfo, PolicyOutcome, PolicySet};
pub use exception::ExceptionInfo;
pub use images::{ImageCheck, ImageFacts, TrustRoots, VerdictMap};
pub use load::LoadError;
pub use no_match::NoMatch;
pub use psa::{Level, PsaVersion};
pub use request::{GroupVersionKind, Operation, Request, RequestError};
pub use spec::{
    API_GROUP, API_VERSION, ClusterGuardrailPolicy, ClusterGuardrailPolicySpec, ClusterImagePolicy,
    ClusterImagePolicySpec, GuardrailPolicy, GuardrailPolicySpec, ImagePolicy, ImagePolicySpec,
    Mode, PolicyException, PolicyExceptionSpec,
};
