//! Rendered `MutatingWebhookConfiguration`s and `ValidatingWebhookConfiguration`s, read with
//! k8s-openapi's types and checked the way the API server checks them when they are created
//! (so a configuration it would refuse is bad input here, not a silent default).
//!
//! Order: mutating webhooks before validating ones, configurations sorted by name and webhooks
//! in the order written, as the API server runs them. Where the API server has a default, the
//! same default applies: `failurePolicy: Fail`, `timeoutSeconds: 10`, `reinvocationPolicy:
//! Never`, service `port: 443`, `scope: "*"`.
//!
//! It does not resolve where a service is served or which CA to trust: that depends on how the
//! webhook was started (see `launch`).

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, RuleWithOperations, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::conditions::{ConditionError, MatchConditions};
use crate::manifests::{Stream, name, str_at};
use crate::selector::{self, SelectorError};

/// The annotation by which cert-manager's cainjector fills `caBundle`.
pub const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";

/// A configuration the API server would refuse.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{configuration}: does not decode as admissionregistration.k8s.io/v1: {message}")]
    Decode {
        configuration: String,
        message: String,
    },
    #[error("{configuration} webhook {webhook}: {message}")]
    Invalid {
        configuration: String,
        webhook: String,
        message: String,
    },
    #[error("{configuration} webhook {webhook}: {source}")]
    Selector {
        configuration: String,
        webhook: String,
        #[source]
        source: SelectorError,
    },
    #[error("{configuration} webhook {webhook}: {source}")]
    Condition {
        configuration: String,
        webhook: String,
        #[source]
        source: ConditionError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookType {
    Mutating,
    Validating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    Fail,
    Ignore,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

/// Where the API server sends the review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Service {
        namespace: String,
        name: String,
        port: i32,
        path: String,
    },
    Url(String),
}

impl Endpoint {
    /// The host name the API server dials and verifies (`<name>.<namespace>.svc`).
    pub fn host(&self) -> String {
        match self {
            Endpoint::Service {
                namespace, name, ..
            } => format!("{name}.{namespace}.svc"),
            Endpoint::Url(url) => url
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split(['/', '?']).next())
                .map(|authority| {
                    authority
                        .rsplit_once(':')
                        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
                        .map_or(authority, |(host, _)| host)
                        .trim_matches(['[', ']'])
                        .to_string()
                })
                .unwrap_or_default(),
        }
    }

    /// The URL as the API server writes it, with `?timeout=Ns`.
    pub fn url(&self, timeout: Duration) -> String {
        let t = timeout.as_secs();
        match self {
            Endpoint::Service { port, path, .. } => {
                format!("https://{}:{port}{path}?timeout={t}s", self.host())
            }
            Endpoint::Url(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}timeout={t}s")
            }
        }
    }
}

/// Which CA the API server would trust for this webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// cert-manager injects the CA of this Certificate (`namespace/name`).
    Injected(String),
    /// `clientConfig.caBundle`, PEM.
    Bundle(String),
    /// Neither: the API server would use its system trust roots.
    System,
}

/// One webhook of one configuration.
#[derive(Debug)]
pub struct Hook {
    /// `MutatingWebhookConfiguration/NAME`.
    pub configuration: String,
    pub hook_type: HookType,
    pub name: String,
    pub rules: Vec<RuleWithOperations>,
    pub namespace_selector: Option<LabelSelector>,
    pub object_selector: Option<LabelSelector>,
    pub conditions: MatchConditions,
    pub failure_policy: FailurePolicy,
    pub timeout: Duration,
    /// `admission.k8s.io/v1` or `admission.k8s.io/v1beta1`.
    pub review_api_version: String,
    pub reinvoke_if_needed: bool,
    pub side_effects: String,
    pub endpoint: Endpoint,
    pub ca: CaSource,
}

struct Common<'a> {
    configuration: &'a str,
    annotations: &'a Value,
    name: &'a str,
    rules: Option<&'a Vec<RuleWithOperations>>,
    namespace_selector: Option<&'a LabelSelector>,
    object_selector: Option<&'a LabelSelector>,
    conditions: Option<&'a Vec<k8s_openapi::api::admissionregistration::v1::MatchCondition>>,
    failure_policy: Option<&'a str>,
    timeout_seconds: Option<i32>,
    versions: &'a [String],
    side_effects: &'a str,
    client: &'a WebhookClientConfig,
}

/// The fields MutatingWebhook and ValidatingWebhook share, as a [`Common`] (two distinct
/// k8s-openapi types with the same field names, hence a macro rather than a function).
macro_rules! common {
    ($configuration:expr, $object:expr, $webhook:expr) => {
        Common {
            configuration: $configuration,
            annotations: $object
                .pointer("/metadata/annotations")
                .unwrap_or(&Value::Null),
            name: &$webhook.name,
            rules: $webhook.rules.as_ref(),
            namespace_selector: $webhook.namespace_selector.as_ref(),
            object_selector: $webhook.object_selector.as_ref(),
            conditions: $webhook.match_conditions.as_ref(),
            failure_policy: $webhook.failure_policy.as_deref(),
            timeout_seconds: $webhook.timeout_seconds,
            versions: &$webhook.admission_review_versions,
            side_effects: &$webhook.side_effects,
            client: &$webhook.client_config,
        }
    };
}

/// All webhooks of the stream's configurations, mutating first, in the API server's order.
pub fn load(stream: &Stream) -> Result<Vec<Hook>, HookError> {
    let mut mutating: Vec<(&str, &Value)> = stream
        .of_kind("MutatingWebhookConfiguration")
        .map(|v| (name(v), v))
        .collect();
    mutating.sort_by_key(|(n, _)| *n);
    let mut validating: Vec<(&str, &Value)> = stream
        .of_kind("ValidatingWebhookConfiguration")
        .map(|v| (name(v), v))
        .collect();
    validating.sort_by_key(|(n, _)| *n);
    let mut hooks = Vec::new();
    for (n, v) in mutating {
        let configuration = format!("MutatingWebhookConfiguration/{n}");
        let c: MutatingWebhookConfiguration = decode(&configuration, v)?;
        for w in c.webhooks.iter().flatten() {
            let common = common!(&configuration, v, w);
            let reinvoke = match w.reinvocation_policy.as_deref().unwrap_or("Never") {
                "Never" => false,
                "IfNeeded" => true,
                other => {
                    return Err(invalid(
                        &common,
                        format!("reinvocationPolicy {other:?} is not Never or IfNeeded"),
                    ));
                }
            };
            hooks.push(build(&common, HookType::Mutating, reinvoke)?);
        }
    }
    for (n, v) in validating {
        let configuration = format!("ValidatingWebhookConfiguration/{n}");
        let c: ValidatingWebhookConfiguration = decode(&configuration, v)?;
        for w in c.webhooks.iter().flatten() {
            let common = common!(&configuration, v, w);
            hooks.push(build(&common, HookType::Validating, false)?);
        }
    }
    Ok(hooks)
}

fn decode<T: serde::de::DeserializeOwned>(configuration: &str, v: &Value) -> Result<T, HookError> {
    serde_json::from_value(v.clone()).map_err(|e| HookError::Decode {
        configuration: configuration.to_string(),
        message: e.to_string(),
    })
}

fn invalid(c: &Common<'_>, message: String) -> HookError {
    HookError::Invalid {
        configuration: c.configuration.to_string(),
        webhook: c.name.to_string(),
        message,
    }
}

fn build(c: &Common<'_>, hook_type: HookType, reinvoke_if_needed: bool) -> Result<Hook, HookError> {
    let failure_policy = match c.failure_policy.unwrap_or("Fail") {
        "Fail" => FailurePolicy::Fail,
        "Ignore" => FailurePolicy::Ignore,
        other => {
            return Err(invalid(
                c,
                format!("failurePolicy {other:?} is not Fail or Ignore"),
            ));
        }
    };
    let seconds = c.timeout_seconds.unwrap_or(10);
    if !(1..=30).contains(&seconds) {
        return Err(invalid(
            c,
            format!("timeoutSeconds {seconds} is not between 1 and 30"),
        ));
    }
    if !matches!(c.side_effects, "None" | "NoneOnDryRun") {
        return Err(invalid(
            c,
            format!(
                "sideEffects {:?}: admissionregistration.k8s.io/v1 allows only None and NoneOnDryRun",
                c.side_effects
            ),
        ));
    }
    // The API server sends the first version in the list that it speaks.
    let review_api_version = c
        .versions
        .iter()
        .find(|v| matches!(v.as_str(), "v1" | "v1beta1"))
        .map(|v| format!("admission.k8s.io/{v}"))
        .ok_or_else(|| {
            invalid(
                c,
                format!(
                    "admissionReviewVersions {:?} has neither v1 nor v1beta1",
                    c.versions
                ),
            )
        })?;
    for (what, s) in [
        ("namespaceSelector", c.namespace_selector),
        ("objectSelector", c.object_selector),
    ] {
        if let Some(s) = s {
            selector::validate(s).map_err(|source| HookError::Selector {
                configuration: c.configuration.to_string(),
                webhook: format!("{} {what}", c.name),
                source,
            })?;
        }
    }
    let conditions = MatchConditions::compile(c.conditions.map(Vec::as_slice).unwrap_or_default())
        .map_err(|source| HookError::Condition {
            configuration: c.configuration.to_string(),
            webhook: c.name.to_string(),
            source,
        })?;
    let endpoint = match (&c.client.service, &c.client.url) {
        (Some(s), None) => Endpoint::Service {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            port: s.port.unwrap_or(443),
            path: s.path.clone().unwrap_or_else(|| "/".into()),
        },
        (None, Some(u)) if u.starts_with("https://") => Endpoint::Url(u.clone()),
        (None, Some(u)) => return Err(invalid(c, format!("clientConfig.url {u:?} is not https"))),
        _ => {
            return Err(invalid(
                c,
                "clientConfig needs exactly one of service and url".into(),
            ));
        }
    };
    let injected = str_at(
        c.annotations,
        &format!("/{}", INJECT_CA_FROM.replace('/', "~1")),
    );
    let ca = match (&c.client.ca_bundle, injected) {
        (_, from) if !from.is_empty() => CaSource::Injected(from.to_string()),
        (Some(bundle), _) => CaSource::Bundle(String::from_utf8_lossy(&bundle.0).into_owned()),
        (None, _) => CaSource::System,
    };
    Ok(Hook {
        configuration: c.configuration.to_string(),
        hook_type,
        name: c.name.to_string(),
        rules: c.rules.cloned().unwrap_or_default(),
        namespace_selector: c.namespace_selector.cloned(),
        object_selector: c.object_selector.cloned(),
        conditions,
        failure_policy,
        timeout: Duration::from_secs(u64::from(seconds.unsigned_abs())),
        review_api_version,
        reinvoke_if_needed,
        side_effects: c.side_effects.to_string(),
        endpoint,
        ca,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn base_stream() -> Stream {
        let text = format!(
            "{}\n---\n{}",
            include_str!("../../../deploy/base/webhook/validatingwebhookconfiguration.yaml"),
            include_str!("../../../deploy/base/webhook/mutatingwebhookconfiguration.yaml")
        );
        Stream::parse("base", &text).unwrap()
    }

    #[test]
    fn base_configurations_read_in_api_server_order() {
        let hooks = load(&base_stream()).unwrap();
        let names: Vec<_> = hooks
            .iter()
            .map(|h| (h.hook_type, h.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (HookType::Mutating, "mutate.portcullis.dev"),
                (HookType::Validating, "validate.portcullis.dev")
            ]
        );
        let m = &hooks[0];
        assert!(m.reinvoke_if_needed);
        assert_eq!(m.failure_policy, FailurePolicy::Fail);
        assert_eq!(m.timeout, Duration::from_secs(10));
        assert_eq!(m.review_api_version, "admission.k8s.io/v1");
        assert_eq!(
            m.ca,
            CaSource::Injected("portcullis-system/portcullis-serving".into())
        );
        assert_eq!(m.endpoint.host(), "portcullis.portcullis-system.svc");
        assert_eq!(
            m.endpoint.url(m.timeout),
            "https://portcullis.portcullis-system.svc:443/mutate?timeout=10s"
        );
        assert_eq!(m.rules.len(), 3);
        assert!(!hooks[1].reinvoke_if_needed);
    }

    #[test]
    fn configurations_the_api_server_refuses_are_errors() {
        let text = include_str!("../../../deploy/base/webhook/validatingwebhookconfiguration.yaml");
        for (from, to, expect) in [
            (
                "failurePolicy: Fail",
                "failurePolicy: Sometimes",
                "failurePolicy \"Sometimes\"",
            ),
            (
                "timeoutSeconds: 10",
                "timeoutSeconds: 31",
                "timeoutSeconds 31",
            ),
            (
                "sideEffects: None",
                "sideEffects: Some",
                "sideEffects \"Some\"",
            ),
            ("operator: In", "operator: Is", "unknown operator \"Is\""),
        ] {
            let s = Stream::parse("t", &text.replace(from, to)).unwrap();
            let e = load(&s).unwrap_err().to_string();
            assert!(e.contains(expect), "{from} -> {to}: {e}");
        }
        let url = Endpoint::Url("https://127.0.0.1:9443/validate".into());
        assert_eq!(url.host(), "127.0.0.1");
        assert_eq!(
            url.url(Duration::from_secs(5)),
            "https://127.0.0.1:9443/validate?timeout=5s"
        );
    }
}
