//! A webhook's `matchConditions`, compiled and evaluated with a real CEL implementation (the
//! `cel` crate), with the variables the API server provides: `object`, `oldObject` (null on
//! CREATE), `request` (the AdmissionRequest without its objects) and `namespaceObject` (null for
//! cluster-scoped requests).
//!
//! Outcome, as in Kubernetes: any condition `false` skips the webhook; otherwise any error
//! (including a non-boolean result) is an error, which the caller turns into the webhook's
//! `failurePolicy`; otherwise the webhook is called.
//!
//! Not implemented: the `authorizer` variable (a condition naming it is refused as bad input
//! rather than evaluated wrongly), and the API server's compile-time type checking against the
//! OpenAPI schema: here a field missing from an object is a runtime "no such key" error, where
//! the API server would have refused some such expressions when the configuration was created.

use std::sync::Arc;

use cel::{Context, Env, Program, Value as CelValue};
use k8s_openapi::api::admissionregistration::v1::MatchCondition;
use serde_json::Value;

/// The API server's variable that rehearse does not provide.
const UNSUPPORTED: &str = "authorizer";

/// A condition the API server would refuse, or rehearse cannot evaluate faithfully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("matchConditions[{name}]: CEL does not compile: {message}")]
    Compile { name: String, message: String },
    #[error(
        "matchConditions[{name}]: names variable {variable:?}; only object, oldObject, request and namespaceObject are supported"
    )]
    Variable { name: String, variable: String },
    #[error("matchConditions: name {name:?} is used twice")]
    Duplicate { name: String },
}

struct Compiled {
    name: String,
    expression: String,
    program: Program,
}

/// The compiled conditions of one webhook.
pub struct MatchConditions {
    env: Arc<Env>,
    conditions: Vec<Compiled>,
}

impl std::fmt::Debug for MatchConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.conditions.iter().map(|c| (&c.name, &c.expression)))
            .finish()
    }
}

/// The variables of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Variables<'a> {
    pub object: &'a Value,
    pub old_object: &'a Value,
    pub request: &'a Value,
    pub namespace_object: &'a Value,
}

/// What the conditions say about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// All true (or no conditions): call the webhook.
    Call,
    /// This condition was false: skip the webhook.
    Skip { condition: String },
    /// No condition was false, this one failed to evaluate: apply the failurePolicy.
    Error { condition: String, message: String },
}

impl MatchConditions {
    pub fn compile(conditions: &[MatchCondition]) -> Result<Self, ConditionError> {
        let env = Arc::new(Env::stdlib());
        let mut compiled: Vec<Compiled> = Vec::new();
        for c in conditions {
            if compiled.iter().any(|d| d.name == c.name) {
                return Err(ConditionError::Duplicate {
                    name: c.name.clone(),
                });
            }
            let program = env
                .compile(&c.expression)
                .map_err(|e| ConditionError::Compile {
                    name: c.name.clone(),
                    message: e.to_string().replace('\n', " "),
                })?;
            // Comprehension variables (`exists(x, …)`) are references too, so only the
            // API server's one other variable is refused here; any other unknown name is an
            // evaluation error ("undeclared reference") and follows the failurePolicy.
            if program.references().has_variable(UNSUPPORTED) {
                return Err(ConditionError::Variable {
                    name: c.name.clone(),
                    variable: UNSUPPORTED.to_string(),
                });
            }
            compiled.push(Compiled {
                name: c.name.clone(),
                expression: c.expression.clone(),
                program,
            });
        }
        Ok(Self {
            env,
            conditions: compiled,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// Evaluates every condition (false wins over errors, as in the API server).
    pub fn evaluate(&self, vars: Variables<'_>) -> Verdict {
        let mut context = Context::with_env(self.env.clone());
        let bindings = [
            ("object", vars.object),
            ("oldObject", vars.old_object),
            ("request", vars.request),
            ("namespaceObject", vars.namespace_object),
        ];
        for (name, value) in bindings {
            if let Err(e) = context.add_variable(name, value) {
                return Verdict::Error {
                    condition: String::new(),
                    message: format!("variable {name} cannot be given to CEL: {e}"),
                };
            }
        }
        let mut first_error = None;
        for c in &self.conditions {
            match c.program.execute(&context) {
                Ok(CelValue::Bool(true)) => {}
                Ok(CelValue::Bool(false)) => {
                    return Verdict::Skip {
                        condition: c.name.clone(),
                    };
                }
                Ok(other) => {
                    first_error.get_or_insert_with(|| Verdict::Error {
                        condition: c.name.clone(),
                        message: format!("expression returned {other:?}, not a bool"),
                    });
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| Verdict::Error {
                        condition: c.name.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
        first_error.unwrap_or(Verdict::Call)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The two conditions of deploy/base/webhook/*webhookconfiguration.yaml, verbatim.
    fn rendered() -> MatchConditions {
        let yaml = include_str!("../../../deploy/base/webhook/validatingwebhookconfiguration.yaml");
        let config: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration =
            serde_saphyr::from_str(yaml).unwrap();
        let hooks = config.webhooks.unwrap();
        let conditions = hooks[0].match_conditions.clone().unwrap();
        assert_eq!(conditions.len(), 2);
        MatchConditions::compile(&conditions).unwrap()
    }

    fn request(op: &str, resource: &str, user: &str) -> Value {
        json!({"uid": "u", "operation": op,
            "resource": {"group": "apps", "version": "v1", "resource": resource},
            "userInfo": {"username": user, "groups": ["system:authenticated"]}})
    }

    fn deployment(image: &str, replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "jobs"},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": image}]}}}})
    }

    fn eval(c: &MatchConditions, req: &Value, obj: &Value, old: &Value) -> Verdict {
        c.evaluate(Variables {
            object: obj,
            old_object: old,
            request: req,
            namespace_object: &json!({"metadata": {"name": "jobs"}}),
        })
    }

    #[test]
    fn create_is_sent_unless_portcullis_itself_asks() {
        let c = rendered();
        let obj = deployment("a:1", 2);
        let req = request(
            "CREATE",
            "deployments",
            "system:serviceaccount:flux-system:kustomize-controller",
        );
        assert_eq!(eval(&c, &req, &obj, &Value::Null), Verdict::Call);
        let own = request(
            "CREATE",
            "deployments",
            "system:serviceaccount:portcullis-system:portcullis",
        );
        assert_eq!(
            eval(&c, &own, &obj, &Value::Null),
            Verdict::Skip {
                condition: "not-portcullis-itself".into()
            }
        );
    }

    #[test]
    fn update_is_sent_only_when_the_pod_template_changed() {
        let c = rendered();
        let req = request("UPDATE", "deployments", "alice");
        // A new image: sent.
        assert_eq!(
            eval(&c, &req, &deployment("a:2", 2), &deployment("a:1", 2)),
            Verdict::Call
        );
        // Scale only (spec.replicas): skipped.
        assert_eq!(
            eval(&c, &req, &deployment("a:1", 5), &deployment("a:1", 2)),
            Verdict::Skip {
                condition: "pod-spec-changed".into()
            }
        );
        // Pods compare the whole spec.
        let pod = |image: &str| json!({"kind": "Pod", "spec": {"containers": [{"name": "c", "image": image}]}});
        let pod_req = request("UPDATE", "pods", "alice");
        assert_eq!(eval(&c, &pod_req, &pod("a:2"), &pod("a:1")), Verdict::Call);
        assert_eq!(
            eval(&c, &pod_req, &pod("a:1"), &pod("a:1")),
            Verdict::Skip {
                condition: "pod-spec-changed".into()
            }
        );
        // CronJobs compare spec.jobTemplate: a schedule change alone is skipped.
        let cron = |schedule: &str, image: &str| {
            json!({"kind": "CronJob", "spec": {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}}})
        };
        let cron_req = request("UPDATE", "cronjobs", "alice");
        assert_eq!(
            eval(
                &c,
                &cron_req,
                &cron("*/5 * * * *", "a:1"),
                &cron("0 * * * *", "a:1")
            ),
            Verdict::Skip {
                condition: "pod-spec-changed".into()
            }
        );
        assert_eq!(
            eval(
                &c,
                &cron_req,
                &cron("0 * * * *", "a:2"),
                &cron("0 * * * *", "a:1")
            ),
            Verdict::Call
        );
    }

    #[test]
    fn an_expression_error_is_reported_for_the_failure_policy() {
        let c = rendered();
        // A CronJob UPDATE whose objects lack spec.jobTemplate: `object.spec.jobTemplate` has no
        // such key, and no condition is false.
        let req = request("UPDATE", "cronjobs", "alice");
        let broken = json!({"kind": "CronJob", "spec": {"schedule": "0 * * * *"}});
        match eval(&c, &req, &broken, &broken) {
            Verdict::Error { condition, message } => {
                assert_eq!(condition, "pod-spec-changed");
                assert!(message.contains("jobTemplate"), "{message}");
            }
            other => panic!("expected an evaluation error, got {other:?}"),
        }
        // A false condition wins over an error in another one.
        let own = request(
            "UPDATE",
            "cronjobs",
            "system:serviceaccount:portcullis-system:portcullis",
        );
        assert_eq!(
            eval(&c, &own, &broken, &broken),
            Verdict::Skip {
                condition: "not-portcullis-itself".into()
            }
        );
    }

    #[test]
    fn non_bool_results_and_bad_configurations() {
        let cond = |name: &str, expr: &str| MatchCondition {
            name: name.into(),
            expression: expr.into(),
        };
        let c = MatchConditions::compile(&[cond("size", "size(object.metadata)")]).unwrap();
        let obj = json!({"metadata": {"name": "x"}});
        assert!(matches!(
            eval(&c, &request("CREATE", "pods", "a"), &obj, &Value::Null),
            Verdict::Error { .. }
        ));
        let e = MatchConditions::compile(&[cond("bad", "object.metadata.name ==")]).unwrap_err();
        assert!(matches!(e, ConditionError::Compile { .. }), "{e}");
        let e = MatchConditions::compile(&[cond("authz", "authorizer.group('apps').check('get')")])
            .unwrap_err();
        assert!(e.to_string().contains("authorizer"), "{e}");
        let e = MatchConditions::compile(&[cond("a", "true"), cond("a", "false")]).unwrap_err();
        assert_eq!(e, ConditionError::Duplicate { name: "a".into() });
    }
}
