//! The `Ready` condition of a policy object, written to its `status` subresource with
//! server-side apply under one field manager.
//!
//! A write happens only when the object's status differs from what it should say, so the
//! MODIFIED event a write causes leads to no second write. `lastTransitionTime` moves only when
//! the condition's status flips, as the Kubernetes API conventions ask.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use portcullis_verifier::keyless::rfc3339;
use serde_json::{Value, json};

use super::kinds::Kind;

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "portcullis";

/// How long one status write may take before the watch moves on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the `Ready` condition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub ready: bool,
    /// CamelCase, e.g. `Compiled`, `Invalid`.
    pub reason: &'static str,
    pub message: String,
}

impl Ready {
    pub fn compiled() -> Self {
        Self {
            ready: true,
            reason: "Compiled",
            message: "compiled and in force".into(),
        }
    }

    /// Refused with `error`, the compile error of the object from `origin`; the message leaves
    /// out where the compiler read it (`<origin>: document 1 (line 1), `), which the object's
    /// status need not repeat.
    pub fn invalid(origin: &str, error: &str, previous_in_force: bool) -> Self {
        let error = error
            .strip_prefix(origin)
            .and_then(|e| e.strip_prefix(": "))
            .map_or(error, |e| {
                e.strip_prefix("document 1 (line 1), ").unwrap_or(e)
            });
        let keeping = if previous_in_force {
            "; the previous version stays in force"
        } else {
            "; not in force"
        };
        Self {
            ready: false,
            reason: "Invalid",
            message: format!("{error}{keeping}"),
        }
    }
}

/// The status `object` should have: `None` when it already has it.
pub fn wanted(object: &DynamicObject, ready: &Ready) -> Option<Value> {
    let generation = object.metadata.generation.unwrap_or(0);
    let status = if ready.ready { "True" } else { "False" };
    let current = object
        .data
        .get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let same = |field: &str, value: &Value| current.is_some_and(|c| &c[field] == value);
    let up_to_date = same("status", &json!(status))
        && same("reason", &json!(ready.reason))
        && same("message", &json!(ready.message))
        && same("observedGeneration", &json!(generation))
        && object.data.get("status").map(|s| &s["observedGeneration"]) == Some(&json!(generation));
    if up_to_date {
        return None;
    }
    let transition = match current {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(now_rfc3339()),
    };
    Some(json!({
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready",
            "status": status,
            "reason": ready.reason,
            "message": ready.message,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
        }],
    }))
}

fn now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// Applies `status` to `object`'s status subresource.
pub async fn write(
    client: &kube::Client,
    kind: &Kind,
    object: &DynamicObject,
    status: Value,
) -> Result<(), String> {
    let name = object.metadata.name.as_deref().unwrap_or_default();
    let api: Api<DynamicObject> = match object.metadata.namespace.as_deref() {
        Some(ns) if kind.namespaced => Api::namespaced_with(client.clone(), ns, &kind.resource),
        _ => Api::all_with(client.clone(), &kind.resource),
    };
    let mut metadata = json!({"name": name});
    if let Some(ns) = object
        .metadata
        .namespace
        .as_deref()
        .filter(|_| kind.namespaced)
    {
        metadata["namespace"] = json!(ns);
    }
    let body = json!({
        "apiVersion": kind.resource.api_version,
        "kind": kind.resource.kind,
        "metadata": metadata,
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match tokio::time::timeout(
        WRITE_TIMEOUT,
        api.patch_status(name, &params, &Patch::Apply(&body)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", WRITE_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn object(status: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "policy.portcullis.dev/v1alpha1",
            "kind": "ClusterImagePolicy",
            "metadata": {"name": "p", "generation": 3},
            "spec": {},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn writes_only_what_differs_and_keeps_the_transition_time_of_an_unflipped_condition() {
        let fresh = wanted(&object(json!({})), &Ready::compiled()).unwrap();
        assert_eq!(fresh["observedGeneration"], 3);
        assert_eq!(fresh["conditions"][0]["status"], "True");
        assert_eq!(fresh["conditions"][0]["reason"], "Compiled");

        let mut written = fresh.clone();
        written["conditions"][0]["lastTransitionTime"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(wanted(&object(written.clone()), &Ready::compiled()), None);

        let reworded = Ready {
            message: "other words".into(),
            ..Ready::compiled()
        };
        let again = wanted(&object(written.clone()), &reworded).unwrap();
        assert_eq!(
            again["conditions"][0]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );

        let refused = Ready::invalid(
            "Kind/p",
            "Kind/p: document 1 (line 1), Kind \"p\": bad glob",
            true,
        );
        assert_eq!(
            refused.message,
            "Kind \"p\": bad glob; the previous version stays in force"
        );
        let flipped = wanted(&object(written), &refused).unwrap();
        assert_eq!(flipped["conditions"][0]["status"], "False");
        assert_ne!(
            flipped["conditions"][0]["lastTransitionTime"],
            "2026-01-01T00:00:00Z"
        );
        assert!(
            flipped["conditions"][0]["message"]
                .as_str()
                .unwrap()
                .ends_with("the previous version stays in force")
        );
    }
}
