//! Defaulting mutations from a guardrail policy's `spec.defaults`: securityContext hardening and
//! resource requests/limits, each written only where the field is unset.
//!
//! The defaults never produce a pod the API server would reject: Linux-only fields are skipped
//! on Windows pods; `allowPrivilegeEscalation: false` is skipped for privileged or
//! CAP_SYS_ADMIN containers; `runAsNonRoot` is skipped when anything runs as UID 0; a request is
//! not defaulted where a limit exists (the API server copies the limit), and a defaulted limit
//! is never below the container's request. Ephemeral containers are left alone (they only
//! arrive through UPDATEs of the `ephemeralcontainers` subresource, and may not set resources).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Mutator;
use crate::path::FieldPath;
use crate::psa::{dig, member};
use crate::quantity::{Quantity, QuantityError};
use crate::spec::{DefaultsSpec, QuantityValue, SecurityDefaults};
use crate::workload::{ContainerList, Workload, WorkloadKind};

/// A defaults section that cannot be applied safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefaultsError {
    #[error("defaults.resources.{field}.{resource}: {source}")]
    Quantity {
        field: &'static str,
        resource: String,
        #[source]
        source: QuantityError,
    },
    #[error(
        "defaults.resources: request for {resource} ({request}) is above its limit ({limit}); the API server would reject such pods"
    )]
    RequestAboveLimit {
        resource: String,
        request: String,
        limit: String,
    },
}

/// Compiled defaults.
#[derive(Debug, Clone, Default)]
pub struct DefaultRules {
    security: Option<SecurityDefaults>,
    requests: Vec<(String, String)>,
    limits: Vec<(String, String, Quantity)>,
}

fn parse(
    field: &'static str,
    map: &BTreeMap<String, QuantityValue>,
) -> Result<Vec<(String, String, Quantity)>, DefaultsError> {
    map.iter()
        .map(|(res, q)| {
            Quantity::parse(&q.0)
                .map(|parsed| (res.clone(), q.0.clone(), parsed))
                .map_err(|source| DefaultsError::Quantity {
                    field,
                    resource: res.clone(),
                    source,
                })
        })
        .collect()
}

impl DefaultRules {
    pub fn new(spec: &DefaultsSpec) -> Result<Self, DefaultsError> {
        let (requests, limits) = match &spec.resources {
            Some(r) => (parse("requests", &r.requests)?, parse("limits", &r.limits)?),
            None => (Vec::new(), Vec::new()),
        };
        for (res, written, q) in &requests {
            if let Some((_, lim, l)) = limits.iter().find(|(r, _, _)| r == res)
                && q > l
            {
                return Err(DefaultsError::RequestAboveLimit {
                    resource: res.clone(),
                    request: written.clone(),
                    limit: lim.clone(),
                });
            }
        }
        Ok(Self {
            security: spec.security_context.clone(),
            requests: requests.into_iter().map(|(r, w, _)| (r, w)).collect(),
            limits,
        })
    }

    /// Records the defaults for the workload in `m`'s current object. The engine does not call
    /// this for UPDATEs of kinds whose pod template is immutable (Pod, Job).
    pub(crate) fn apply(&self, kind: WorkloadKind, m: &mut Mutator<'_>) {
        let wanted = match Workload::locate(kind, m.doc()) {
            Some(w) => self.wanted(&w),
            None => return,
        };
        for (path, desired) in wanted {
            m.fill(&path, Value::Object(desired));
        }
    }

    /// (object path, members to fill in where unset), computed from the current object: the
    /// pod securityContext, then each container's securityContext and resources.
    fn wanted(&self, w: &Workload<'_>) -> Vec<(FieldPath, Map<String, Value>)> {
        let mut out = Vec::new();
        let linux = !w.is_windows();
        if let Some(s) = &self.security {
            let mut pod = Map::new();
            if let Some(b) = s.run_as_non_root {
                let root =
                    |sc: Option<&Value>| member(sc, "runAsUser").and_then(Value::as_i64) == Some(0);
                let any_root = root(w.pod_security_context())
                    || w.containers().iter().any(|c| root(c.security_context()));
                if !any_root {
                    pod.insert("runAsNonRoot".into(), json!(b));
                }
            }
            if linux && s.seccomp_profile.is_some() {
                pod.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
            }
            out.push((w.spec_path.key("securityContext"), pod));
        }
        let containers = [ContainerList::Init, ContainerList::Regular]
            .into_iter()
            .flat_map(|l| w.containers_in(l));
        for c in containers {
            if let Some(s) = self.security.as_ref().filter(|_| linux) {
                let mut sc = Map::new();
                if let Some(b) = s.allow_privilege_escalation {
                    let privileged = dig(c.security_context(), &["privileged"])
                        .and_then(Value::as_bool)
                        == Some(true);
                    let sys_admin = dig(c.security_context(), &["capabilities", "add"])
                        .and_then(Value::as_array)
                        .is_some_and(|a| {
                            a.iter()
                                .any(|x| matches!(x.as_str(), Some("SYS_ADMIN" | "CAP_SYS_ADMIN")))
                        });
                    if b || !(privileged || sys_admin) {
                        sc.insert("allowPrivilegeEscalation".into(), json!(b));
                    }
                }
                if !s.drop_capabilities.is_empty() {
                    sc.insert("capabilities".into(), json!({"drop": s.drop_capabilities}));
                }
                out.push((c.path.key("securityContext"), sc));
            }
            let res = c.value.get("resources");
            let mut requests = Map::new();
            for (name, written) in &self.requests {
                // With a limit set, the API server defaults the request to it.
                if dig(res, &["limits", name]).is_none() {
                    requests.insert(name.clone(), json!(written));
                }
            }
            let mut limits = Map::new();
            for (name, written, default) in &self.limits {
                // Never below the container's own request.
                let request = dig(res, &["requests", name]).and_then(|v| {
                    let text = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    Quantity::parse(&text).ok().map(|q| (q, v.clone()))
                });
                let value = match request {
                    Some((q, original)) if q > *default => original,
                    _ => json!(written),
                };
                limits.insert(name.clone(), value);
            }
            let mut resources = Map::new();
            if !requests.is_empty() {
                resources.insert("requests".into(), Value::Object(requests));
            }
            if !limits.is_empty() {
                resources.insert("limits".into(), Value::Object(limits));
            }
            out.push((c.path.key("resources"), resources));
        }
        out.retain(|(_, m)| !m.is_empty());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(spec: Value) -> DefaultRules {
        DefaultRules::new(&serde_json::from_value(spec).unwrap()).unwrap()
    }

    fn mutate(r: &DefaultRules, spec: Value) -> (Value, usize) {
        let mut m = Mutator::new(WorkloadKind::Pod.wrap("p", json!({}), spec));
        r.apply(WorkloadKind::Pod, &mut m);
        let n = m.ops().len();
        (m.into_parts().0["spec"].clone(), n)
    }

    #[test]
    fn security_defaults_only_where_unset_and_valid() {
        let r = rules(
            json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": "RuntimeDefault",
            "allowPrivilegeEscalation": false, "dropCapabilities": ["ALL"]}}),
        );
        let (spec, _) = mutate(
            &r,
            json!({"containers": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "x", "securityContext": {"privileged": true, "capabilities": {"drop": ["NET_RAW"]}}}]}),
        );
        assert_eq!(
            spec["securityContext"],
            json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
        );
        assert_eq!(
            spec["containers"][0]["securityContext"],
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
        );
        assert_eq!(
            spec["containers"][1]["securityContext"],
            json!({"privileged": true, "capabilities": {"drop": ["NET_RAW"]}})
        );
        let (again, n) = mutate(&r, spec);
        assert_eq!(n, 0, "idempotent: {again}");
    }

    #[test]
    fn windows_and_root_pods_get_only_what_is_valid() {
        let r = rules(
            json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": "RuntimeDefault", "dropCapabilities": ["ALL"]}}),
        );
        let (spec, _) = mutate(
            &r,
            json!({"os": {"name": "windows"}, "containers": [{"name": "a", "image": "x"}]}),
        );
        assert_eq!(spec["securityContext"], json!({"runAsNonRoot": true}));
        assert!(spec["containers"][0].get("securityContext").is_none());
        let (spec, _) = mutate(
            &r,
            json!({"containers": [{"name": "a", "image": "x", "securityContext": {"runAsUser": 0}}]}),
        );
        assert!(spec["securityContext"].get("runAsNonRoot").is_none());
    }

    #[test]
    fn resource_defaults_respect_limits_and_requests() {
        let r = rules(
            json!({"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}}),
        );
        let (spec, _) = mutate(
            &r,
            json!({"initContainers": [{"name": "i", "image": "x"}], "containers": [
            {"name": "a", "image": "x", "resources": {"limits": {"cpu": "50m"}}},
            {"name": "b", "image": "x", "resources": {"requests": {"memory": "1Gi"}}}]}),
        );
        assert_eq!(
            spec["initContainers"][0]["resources"],
            json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}})
        );
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "50m", "memory": "256Mi"}, "requests": {"memory": "64Mi"}})
        );
        assert_eq!(
            spec["containers"][1]["resources"],
            json!({"requests": {"memory": "1Gi", "cpu": "100m"}, "limits": {"memory": "1Gi"}})
        );
    }

    #[test]
    fn request_above_limit_is_rejected_at_load() {
        let err = DefaultRules::new(
            &serde_json::from_value(
                json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}),
            )
            .unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, DefaultsError::RequestAboveLimit { .. }));
    }
}
