//! Hand-written schema fragments for fields whose Rust types do not describe themselves in a
//! way the API server accepts as a structural schema: free-form JSON values (condition and rule
//! values), the verifier's `ConditionSpec`/`Operator` (which do not implement `JsonSchema`) and
//! int-or-string quantities.

use schemars::{Schema, SchemaGenerator};
use serde_json::{Value, json};

fn schema(v: Value) -> Schema {
    match v {
        Value::Object(map) => Schema::from(map),
        // Every caller passes an object literal; `true` (accept anything) is the safe fallback.
        _ => Schema::default(),
    }
}

fn operator_json() -> Value {
    json!({
        "type": "string",
        "enum": ["equals", "not-equals", "in", "matches", "exists", "not-exists",
                 "less-than", "less-or-equal", "greater-than", "greater-or-equal"],
        "description": "One of equals, not-equals, in (each selected value is one of `values`), matches (regex in `value`), exists, not-exists, less-than, less-or-equal, greater-than, greater-or-equal (numbers; with measure count or age, the count or the age)."
    })
}

/// Any JSON value (kept as written by the API server).
pub(crate) fn any_value(_: &mut SchemaGenerator) -> Schema {
    schema(json!({ "x-kubernetes-preserve-unknown-fields": true }))
}

/// A list of any JSON values.
pub(crate) fn any_values(_: &mut SchemaGenerator) -> Schema {
    schema(json!({
        "type": "array",
        "items": { "x-kubernetes-preserve-unknown-fields": true }
    }))
}

/// `portcullis_verifier_types::Operator`.
pub(crate) fn operator(_: &mut SchemaGenerator) -> Schema {
    schema(operator_json())
}

/// A list of `portcullis_verifier_types::ConditionSpec`: comparisons, or `all`/`any` groups.
/// Group members may nest without limit, which a structural schema cannot describe: they are
/// kept as written here and checked when the webhook compiles the policy.
pub(crate) fn conditions(_: &mut SchemaGenerator) -> Schema {
    let group = |when: &str| {
        json!({
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "description": format!("Holds when {when} (each member a comparison or a group)."),
        })
    };
    schema(json!({
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "JSONPath into the attestation predicate, e.g. $.buildDefinition.externalParameters.workflow.repository"},
                "measure": {"type": "string", "enum": ["value", "count", "age"], "description": "What is compared: the selected values (value, the default), how many there are (count), or how old each RFC 3339 timestamp is at verification time (age, with a duration value such as 7d)."},
                "operator": operator_json(),
                "value": {"x-kubernetes-preserve-unknown-fields": true, "description": "Expected value (equals / not-equals), the regex (matches), the number (less-than ... greater-or-equal, counts), or the duration (ages: a whole number and one unit of s, m, h, d)."},
                "values": {"type": "array", "items": {"x-kubernetes-preserve-unknown-fields": true}, "description": "Allowed values (in)."},
                "all": group("every one of these conditions holds"),
                "any": group("at least one of these conditions holds")
            }
        }
    }))
}

/// `spec.authorities.platforms`: distinct `os/architecture[/variant]` names.
pub(crate) fn platforms(_: &mut SchemaGenerator) -> Schema {
    schema(json!({
        "type": "array",
        "x-kubernetes-list-type": "set",
        "items": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$"
        }
    }))
}

/// A Kubernetes quantity: integer or string (`500m`, `2`, `128Mi`).
pub(crate) fn quantity(_: &mut SchemaGenerator) -> Schema {
    schema(json!({
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": true
    }))
}

/// A map from resource name to quantity.
pub(crate) fn quantity_map(_: &mut SchemaGenerator) -> Schema {
    schema(json!({
        "type": "object",
        "additionalProperties": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_verifier_types::Operator;

    /// The hand-written enum must list exactly names the verifier accepts.
    #[test]
    fn operator_enum_matches_the_verifier() {
        let Value::Array(names) = &operator_json()["enum"] else {
            panic!("operator schema has no enum")
        };
        for name in names {
            let op: Operator = serde_json::from_value(name.clone()).unwrap();
            assert_eq!(serde_json::to_value(op).unwrap(), *name);
        }
        assert_eq!(
            names.len(),
            Operator::ALL.len(),
            "update the schema when the verifier adds an operator"
        );
    }
}
