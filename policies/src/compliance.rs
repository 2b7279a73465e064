//! The compliance mapping: which checklist controls each built-in rule checks, read from
//! `policies/compliance/controls.yaml` (shipped in the binary, [`ControlMap::shipped`]).
//!
//! The mapping is data, with each framework's name and version. [`ControlMap::problems`] checks it
//! against the engine's rule catalogue ([`crate::catalog::builtin_rules`]): every rule is mapped
//! or explicitly `unmapped` with a reason, and every mapped rule exists. It does not decide
//! anything: `portcullis audit` uses it to group results by control.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::builtin_rules;

/// The mapping shipped with the engine.
pub const SHIPPED: &str = include_str!("../compliance/controls.yaml");

/// A framework the mapping refers to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub name: String,
    pub version: String,
}

/// The controls of one rule, by framework key, or why it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RuleControls {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(flatten)]
    pub controls: BTreeMap<String, Vec<String>>,
}

/// The whole mapping.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControlMap {
    pub frameworks: BTreeMap<String, Framework>,
    pub rules: BTreeMap<String, RuleControls>,
}

/// A mapping that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("compliance mapping {origin}: {message}")]
pub struct ComplianceError {
    pub origin: String,
    pub message: String,
}

impl ControlMap {
    pub fn from_yaml(origin: &str, text: &str) -> Result<Self, ComplianceError> {
        serde_saphyr::from_str(text).map_err(|e| ComplianceError {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// The shipped mapping (checked by the policies test suite, so it parses).
    pub fn shipped() -> Result<Self, ComplianceError> {
        Self::from_yaml("policies/compliance/controls.yaml", SHIPPED)
    }

    /// Everything wrong with the mapping against the engine's rule catalogue, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let known: Vec<&str> = builtin_rules().iter().map(|r| r.id).collect();
        for id in &known {
            if !self.rules.contains_key(*id) {
                out.push(format!("rule {id} is neither mapped nor marked unmapped"));
            }
        }
        for (framework, f) in &self.frameworks {
            if f.name.trim().is_empty() || f.version.trim().is_empty() {
                out.push(format!("framework {framework} needs a name and a version"));
            }
        }
        for (rule, c) in &self.rules {
            if !known.contains(&rule.as_str()) {
                out.push(format!("{rule} is mapped but the engine has no such rule"));
            }
            let mapped = c.controls.values().any(|ids| !ids.is_empty());
            match (&c.unmapped, mapped) {
                (Some(reason), _) if reason.trim().is_empty() => {
                    out.push(format!("{rule}: unmapped needs a reason"));
                }
                (Some(_), true) => out.push(format!("{rule}: both mapped and unmapped")),
                (None, false) => out.push(format!("{rule}: no controls and no unmapped reason")),
                _ => {}
            }
            for (framework, ids) in &c.controls {
                if !self.frameworks.contains_key(framework) {
                    out.push(format!("{rule}: unknown framework {framework}"));
                }
                if ids.iter().any(|id| id.trim().is_empty()) {
                    out.push(format!("{rule}: empty control id under {framework}"));
                }
            }
        }
        out
    }

    /// `framework:control` labels of `rule` (empty for unmapped and custom rules).
    pub fn controls_of(&self, rule: &str) -> Vec<String> {
        self.rules
            .get(rule)
            .map(|c| {
                c.controls
                    .iter()
                    .flat_map(|(f, ids)| ids.iter().map(move |id| format!("{f}:{id}")))
                    .collect()
            })
            .unwrap_or_default()
    }
}
