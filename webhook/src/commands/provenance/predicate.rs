//! The SLSA v1 provenance predicate and its in-toto Statement v1, written from [`Facts`]. Field
//! names and shapes follow the SLSA v1 spec and, for GitHub's build type, actions/buildtypes
//! workflow/v1.

use serde_json::{Map, Value, json};

use super::facts::{Facts, Resource};

pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// The predicate (what `attest --predicate` and `cosign attest --type slsaprovenance1` take).
pub fn predicate(facts: &Facts) -> Value {
    let mut workflow = Map::new();
    if let Some(r) = &facts.git_ref {
        workflow.insert("ref".into(), json!(r));
    }
    workflow.insert("repository".into(), json!(facts.repository));
    if let Some(p) = &facts.workflow_path {
        workflow.insert("path".into(), json!(p));
    }
    let mut external = Map::new();
    external.insert("workflow".into(), Value::Object(workflow));
    external.extend(facts.external.clone());
    let mut internal = Map::new();
    if let Some(g) = &facts.github {
        let mut github = Map::new();
        for (k, v) in [
            ("event_name", &g.event_name),
            ("repository_id", &g.repository_id),
            ("repository_owner_id", &g.repository_owner_id),
            ("runner_environment", &g.runner_environment),
        ] {
            if let Some(v) = v {
                github.insert(k.into(), json!(v));
            }
        }
        internal.insert("github".into(), Value::Object(github));
    }
    internal.extend(facts.internal.clone());
    if !facts.build_args.is_empty() {
        // GitHub's build type fixes its external parameters; its build arguments are recorded
        // as facts of the run instead (the workflow file at that commit sets them).
        let target = if facts.is_github_type() {
            &mut internal
        } else {
            &mut external
        };
        target.insert("buildArgs".into(), json!(facts.build_args));
    }
    let source = match &facts.git_ref {
        Some(r) => format!("git+{}@{r}", facts.repository),
        None => format!("git+{}", facts.repository),
    };
    let mut dependencies = vec![json!({"uri": source, "digest": {"gitCommit": facts.commit}})];
    dependencies.extend(facts.dependencies.iter().map(resource));

    let mut builder = Map::new();
    builder.insert("id".into(), json!(facts.builder_id));
    if !facts.builder_version.is_empty() {
        builder.insert("version".into(), json!(facts.builder_version));
    }
    let mut metadata = Map::new();
    for (k, v) in [
        ("invocationId", &facts.invocation_id),
        ("startedOn", &facts.started_on),
        ("finishedOn", &facts.finished_on),
    ] {
        if let Some(v) = v {
            metadata.insert(k.into(), json!(v));
        }
    }
    let mut run = Map::new();
    run.insert("builder".into(), Value::Object(builder));
    run.insert("metadata".into(), Value::Object(metadata));
    if !facts.byproducts.is_empty() {
        run.insert(
            "byproducts".into(),
            facts.byproducts.iter().map(resource).collect(),
        );
    }
    json!({
        "buildDefinition": {
            "buildType": facts.build_type,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": dependencies,
        },
        "runDetails": run,
    })
}

/// The in-toto Statement v1 binding `predicate` to `subjects`.
pub fn statement(subjects: &[Resource], predicate: Value) -> Value {
    let subjects: Vec<Value> = subjects
        .iter()
        .map(|s| {
            json!({
                "name": s.name.as_deref().unwrap_or("_"),
                "digest": {s.algorithm.as_str(): s.hex},
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": SLSA_V1,
        "predicate": predicate,
    })
}

fn resource(r: &Resource) -> Value {
    let mut out = Map::new();
    if let Some(n) = &r.name {
        out.insert("name".into(), json!(n));
    }
    if let Some(u) = &r.uri {
        out.insert("uri".into(), json!(u));
    }
    out.insert("digest".into(), json!({r.algorithm.as_str(): r.hex}));
    Value::Object(out)
}
