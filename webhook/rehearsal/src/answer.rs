//! A webhook's answer, checked the way the API server checks it before using it: HTTP 200, the
//! AdmissionReview apiVersion and kind it was sent, the request's uid, a boolean `allowed`, and a
//! patch only from a mutating webhook, only with `patchType: JSONPatch`, base64 of a JSON Patch.
//! Also the patch helpers: decoding and applying RFC 6902 operations (json-patch).
//!
//! An `Err` from [`read_answer`] is a "failed calling webhook" (the failurePolicy decides),
//! except one starting with `INTERNAL:`, which is an internal error whatever the policy.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::webhooks::{Hook, HookType};

/// A response the API server accepts, reduced to what it uses.
pub(crate) struct Answer {
    pub(crate) allowed: bool,
    pub(crate) message: String,
    pub(crate) patch: Option<Vec<Value>>,
    pub(crate) warnings: Vec<String>,
    pub(crate) audit: BTreeMap<String, String>,
    pub(crate) raw: Value,
}

/// Checks a webhook's answer like the API server does; `Err` is a "failed calling webhook".
pub(crate) fn read_answer(
    hook: &Hook,
    uid: &str,
    status: u16,
    body: &[u8],
) -> Result<Answer, String> {
    if status != 200 {
        let text = String::from_utf8_lossy(body);
        return Err(format!(
            "an error on the server (\"{}\") has prevented the request from succeeding (HTTP {status})",
            text.trim().lines().next().unwrap_or_default()
        ));
    }
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| format!("received invalid webhook response: {e}"))?;
    let (av, kind) = (
        raw["apiVersion"].as_str().unwrap_or(""),
        raw["kind"].as_str().unwrap_or(""),
    );
    if av != hook.review_api_version || kind != "AdmissionReview" {
        return Err(format!(
            "expected webhook response of {}, Kind=AdmissionReview, got {av}, Kind={kind}",
            hook.review_api_version
        ));
    }
    let response = raw
        .get("response")
        .filter(|r| r.is_object())
        .ok_or("webhook response was absent")?;
    let got_uid = response["uid"].as_str().unwrap_or("");
    if got_uid != uid {
        return Err(format!(
            "expected response.uid=\"{uid}\", got \"{got_uid}\""
        ));
    }
    let allowed = response["allowed"]
        .as_bool()
        .ok_or("response.allowed is not a bool")?;
    let patch = match (
        response.get("patch").and_then(Value::as_str),
        response.get("patchType").and_then(Value::as_str),
    ) {
        (None, _) => None,
        (Some(_), _) if hook.hook_type == HookType::Validating => {
            return Err("validating webhooks may not return patches".into());
        }
        (Some(_), None) => {
            return Err("webhook returned response.patch but not response.patchType".into());
        }
        (Some(_), Some(t)) if t != "JSONPatch" => {
            return Err(format!("webhook returned invalid patchType: \"{t}\""));
        }
        (Some(p), Some(_)) => Some(p),
    };
    let patch = match patch {
        None => None,
        // Not a failurePolicy matter in the API server: an undecodable patch is an internal error.
        Some(p) => Some(decode_patch(p).map_err(|e| format!("INTERNAL:{e}"))?),
    };
    Ok(Answer {
        allowed,
        message: response
            .pointer("/status/message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        patch,
        warnings: response["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
        audit: response["auditAnnotations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    format!("{}/{k}", hook.name),
                    v.as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        raw,
    })
}

/// base64 JSON Patch → operations.
pub fn decode_patch(b64: &str) -> Result<Vec<Value>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("patch is not base64: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("patch is not a JSON Patch: {e}"))
}

/// Applies RFC 6902 operations to a copy of `object`.
pub fn apply_patch(object: &Value, ops: &[Value]) -> Result<Value, String> {
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec()))
        .map_err(|e| format!("patch is not a JSON Patch: {e}"))?;
    let mut out = object.clone();
    json_patch::patch(&mut out, &patch).map_err(|e| format!("patch does not apply: {e}"))?;
    Ok(out)
}
