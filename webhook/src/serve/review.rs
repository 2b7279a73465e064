//! The `admission.k8s.io/v1` AdmissionReview wire format, in and out.
//!
//! The `request` member is read once, into the policy engine's own [`Request`] (its
//! [`Request::from_admission_request`] checks the envelope and, for the kinds the engine reads,
//! that the object is a valid instance of its Kubernetes type); this module handles the envelope
//! around it. Own serde types for the response rather than `kube::core::admission`: kube-core
//! serialises `response.patch` as an array of numbers where the API server expects base64
//! (kube-rs #1781). Here [`AdmissionResponse::patch`] is always base64 of the JSON Patch bytes.
//!
//! Parsing never panics and never trusts the input: [`parse_review`] either returns a request or
//! a [`ReviewError`] that still carries the `uid` when one could be read, so the caller can answer
//! with a denial (HTTP 200) instead of a bare HTTP 400. An object that does not parse as its kind
//! is [`ReviewError::Unreadable`], answered like any other invalid review: never allowed.

use std::collections::BTreeMap;

use base64::Engine as _;
use portcullis_policies::{Request, RequestError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// Why a request body is not a usable AdmissionReview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("request body is not valid JSON: {cause}")]
    Json { cause: String },
    #[error(
        "expected apiVersion {API_VERSION:?} and kind {KIND:?}, got apiVersion {api_version:?} and kind {kind:?}"
    )]
    WrongType {
        uid: Option<String>,
        api_version: String,
        kind: String,
    },
    #[error("AdmissionReview has no request object")]
    MissingRequest,
    #[error("AdmissionReview request has no uid (a non-empty string)")]
    MissingUid,
    #[error("AdmissionReview request is malformed: {cause}")]
    Malformed {
        uid: String,
        cause: Box<RequestError>,
    },
    /// The envelope is fine but the object is missing or not a valid instance of its kind.
    #[error("portcullis cannot read the object: {cause}")]
    Unreadable {
        uid: String,
        cause: Box<RequestError>,
    },
}

impl ReviewError {
    /// The request uid, when it could be read: the caller then answers with a review.
    pub fn uid(&self) -> Option<&str> {
        match self {
            ReviewError::WrongType { uid, .. } => uid.as_deref(),
            ReviewError::Malformed { uid, .. } | ReviewError::Unreadable { uid, .. } => Some(uid),
            ReviewError::Json { .. } | ReviewError::MissingRequest | ReviewError::MissingUid => {
                None
            }
        }
    }
}

/// A parsed review: the engine's [`Request`], read once from the body.
#[derive(Debug, Clone)]
pub struct ParsedReview {
    pub request: Request,
}

impl ParsedReview {
    pub fn uid(&self) -> &str {
        &self.request.uid
    }

    pub fn is_dry_run(&self) -> bool {
        self.request.dry_run
    }
}

/// Parses a request body. Depth is bounded by serde_json's recursion limit (128), so a deeply
/// nested body is a [`ReviewError::Json`], not a stack overflow.
pub fn parse_review(body: &[u8]) -> Result<ParsedReview, ReviewError> {
    let mut root: Value = serde_json::from_slice(body).map_err(|e| ReviewError::Json {
        cause: e.to_string(),
    })?;
    let uid = root
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let api_version = root.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = root.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != API_VERSION || kind != KIND {
        return Err(ReviewError::WrongType {
            uid,
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    }
    let request = match root.get_mut("request") {
        Some(r @ Value::Object(_)) => r.take(),
        _ => return Err(ReviewError::MissingRequest),
    };
    let Some(uid) = uid else {
        return Err(ReviewError::MissingUid);
    };
    match Request::from_admission_request(request) {
        Ok(request) => Ok(ParsedReview { request }),
        Err(cause @ (RequestError::Unreadable { .. } | RequestError::MissingObject { .. })) => {
            Err(ReviewError::Unreadable {
                uid,
                cause: Box::new(cause),
            })
        }
        Err(cause) => Err(ReviewError::Malformed {
            uid,
            cause: Box::new(cause),
        }),
    }
}

/// `response.status` (a `metav1.Status` subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub code: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub message: String,
}

/// `response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Base64 of the JSON Patch bytes, as `admission.k8s.io/v1` specifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

impl AdmissionResponse {
    pub fn allow(uid: &str) -> Self {
        Self {
            uid: uid.to_string(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }

    /// A denial: HTTP-like `code` 403 for policy denials, 400 for unusable input.
    pub fn deny(uid: &str, code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            allowed: false,
            status: Some(Status {
                code,
                reason: reason.to_string(),
                message: message.into(),
            }),
            ..Self::allow(uid)
        }
    }

    /// The answer to a body that was readable enough to have a uid but is otherwise unusable.
    pub fn invalid(uid: &str, message: impl Into<String>) -> Self {
        Self::deny(uid, 400, "BadRequest", message)
    }

    /// Attaches a JSON Patch (the operations array), base64-encoded on the wire. An empty patch
    /// is omitted rather than sent as `[]`.
    pub fn with_patch(mut self, operations: &[Value]) -> Result<Self, serde_json::Error> {
        if operations.is_empty() {
            return Ok(self);
        }
        let bytes = serde_json::to_vec(operations)?;
        self.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.patch_type = Some("JSONPatch".to_string());
        Ok(self)
    }

    pub fn into_review(self) -> AdmissionReviewOut {
        AdmissionReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response: self,
        }
    }
}

/// The reply envelope.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewOut {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: AdmissionResponse,
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_policies::Operation;
    use serde_json::json;

    fn review(request: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"apiVersion": API_VERSION, "kind": KIND, "request": request}))
            .unwrap()
    }

    #[test]
    fn reads_minimal_request_with_core_group() {
        let body = review(json!({
            "uid": "u1", "kind": {"version": "v1", "kind": "Pod"}, "operation": "CREATE",
            "object": {"kind": "Pod"}, "extra": [1, 2]
        }));
        let r = parse_review(&body).unwrap();
        assert_eq!(r.uid(), "u1");
        assert_eq!(r.request.kind.group, "");
        assert_eq!(r.request.operation, Operation::Create);
        assert!(!r.is_dry_run());
        assert_eq!(r.request.object["kind"], "Pod");
    }

    #[test]
    fn errors_keep_the_uid_when_readable() {
        let wrong = serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
            "request": {"uid": "u2"}
        }))
        .unwrap();
        let e = parse_review(&wrong).unwrap_err();
        assert_eq!(e.uid(), Some("u2"));
        assert!(e.to_string().contains("v1beta1"), "{e}");

        let bad_op = review(
            json!({"uid": "u3", "kind": {"version": "v1", "kind": "Pod"}, "operation": "PATCH"}),
        );
        let e = parse_review(&bad_op).unwrap_err();
        assert_eq!(e.uid(), Some("u3"));
        assert!(e.to_string().contains("PATCH"), "{e}");

        let no_request =
            serde_json::to_vec(&json!({"apiVersion": API_VERSION, "kind": KIND})).unwrap();
        assert_eq!(
            parse_review(&no_request).unwrap_err(),
            ReviewError::MissingRequest
        );
        assert_eq!(
            parse_review(&review(json!({"uid": ""}))).unwrap_err(),
            ReviewError::MissingUid
        );
        assert!(matches!(
            parse_review(b"{\"apiV"),
            Err(ReviewError::Json { .. })
        ));
    }

    #[test]
    fn an_object_that_is_not_its_kind_is_unreadable() {
        let body = review(json!({
            "uid": "u4", "kind": {"version": "v1", "kind": "Pod"}, "operation": "CREATE",
            "object": {"spec": {"containers": {"name": "a"}}}
        }));
        let e = parse_review(&body).unwrap_err();
        assert!(matches!(e, ReviewError::Unreadable { .. }), "{e:?}");
        assert_eq!(e.uid(), Some("u4"));
        assert!(
            e.to_string()
                .contains("request.object.spec.containers: invalid type: map, expected a sequence"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_a_clean_error() {
        let depth = 10_000;
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let e = parse_review(body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }

    #[test]
    fn patch_is_base64_on_the_wire() {
        let ops = vec![json!({"op": "add", "path": "/metadata/labels", "value": {}})];
        let out = AdmissionResponse::allow("u")
            .with_patch(&ops)
            .unwrap()
            .into_review();
        let wire = serde_json::to_value(&out).unwrap();
        let patch = wire["response"]["patch"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .unwrap();
        assert_eq!(serde_json::from_slice::<Vec<Value>>(&decoded).unwrap(), ops);
        assert_eq!(wire["response"]["patchType"], "JSONPatch");
        assert_eq!(wire["apiVersion"], API_VERSION);
        let empty = AdmissionResponse::allow("u").with_patch(&[]).unwrap();
        assert!(empty.patch.is_none() && empty.patch_type.is_none());
    }
}
