//! The LogQL alerts in `observability/loki/rules/` filter on fields of the webhook's JSON log
//! lines. This test runs the real `portcullis serve`, makes it deny a review for Pod Security, fail
//! an image verification against an unreachable registry and allow a compliant pod, and then
//! requires, for every alert: a real log line that passes all of its `| json` extractions and
//! label filters (the field names and values exist), a real line that does not (the filters
//! discriminate), and a non-empty value for each `sum by (...)` label it extracts.
//!
//! It reads only the parts of LogQL the rules use: `| json` with or without `label="path"`
//! expressions (paths like `spans[0].namespace`), and label filters `| label op "value"` with
//! `=`, `!=`, `=~`, `!~` (regexes anchored, as Loki does). Syntax is checked elsewhere (check
//! "telemetry" of pipelines/validate-manifests.sh parses every expr with Grafana's LogQL grammar).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;
use serde_json::{Value, json};
use serve_support::{Workdir, compliant_pod, image_policy, review_for, root_pod};

/// One alert's LogQL, reduced to what decides which lines it counts.
#[derive(Debug)]
struct LogQuery {
    file: String,
    alert: String,
    /// `None`: plain `| json` (every top-level field, nested objects joined with `_`).
    extract: Option<Vec<(String, String)>>,
    filters: Vec<(String, String, String)>,
    by: Vec<String>,
}

fn rule_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../observability/loki/rules")
}

fn queries() -> Vec<LogQuery> {
    let json_stage = Regex::new(r#"\|\s*json\b((?:\s*,?\s*\w+\s*=\s*"[^"]*")*)"#).unwrap();
    let pair = Regex::new(r#"(\w+)\s*=\s*"([^"]*)""#).unwrap();
    let filter = Regex::new(r#"\|\s*(\w+)\s*(=~|!~|!=|==|=)\s*"((?:[^"\\]|\\.)*)""#).unwrap();
    let by = Regex::new(r"\bby\s*\(([^)]*)\)").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(rule_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for group in doc["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                let expr = rule["expr"].as_str().expect("expr");
                let stages: Vec<_> = json_stage.captures_iter(expr).collect();
                assert_eq!(
                    stages.len(),
                    1,
                    "{alert}: expected exactly one `| json` stage in {expr}"
                );
                let args = &stages[0][1];
                let extract = (!args.trim().is_empty()).then(|| {
                    pair.captures_iter(args)
                        .map(|c| (c[1].to_string(), c[2].to_string()))
                        .collect()
                });
                let rest = json_stage.replace(expr, "");
                out.push(LogQuery {
                    file: path.file_name().unwrap().to_string_lossy().into(),
                    alert: alert.into(),
                    extract,
                    filters: filter
                        .captures_iter(&rest)
                        .map(|c| (c[1].to_string(), c[2].to_string(), unescape(&c[3])))
                        .collect(),
                    by: by
                        .captures(expr)
                        .map(|c| c[1].split(',').map(|s| s.trim().to_string()).collect())
                        .unwrap_or_default(),
                });
            }
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace(r"\\", "\u{0}")
        .replace(r#"\""#, "\"")
        .replace('\u{0}', r"\")
}

/// The labels Loki's json parser gives `line`.
fn extracted(line: &Value, extract: &Option<Vec<(String, String)>>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    match extract {
        None => flatten("", line, &mut labels),
        Some(pairs) => {
            for (label, path) in pairs {
                if let Some(v) = lookup(line, path) {
                    labels.insert(label.clone(), scalar(v));
                }
            }
        }
    }
    labels
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(_) => {} // Loki skips arrays without an expression
        other => {
            out.insert(prefix.to_string(), scalar(other));
        }
    }
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let step = Regex::new(r"^(\w+)((?:\[\d+\])*)$").unwrap();
    let index = Regex::new(r"\[(\d+)\]").unwrap();
    let mut cur = v;
    for part in path.split('.') {
        let c = step.captures(part)?;
        cur = cur.get(&c[1])?;
        for i in index.captures_iter(&c[2]) {
            cur = cur.get(i[1].parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn passes(labels: &BTreeMap<String, String>, filters: &[(String, String, String)]) -> bool {
    filters.iter().all(|(label, op, want)| {
        let got = labels.get(label).map(String::as_str).unwrap_or("");
        let re = || Regex::new(&format!("^(?:{want})$")).unwrap();
        match op.as_str() {
            "=" | "==" => got == want,
            "!=" => got != want,
            "=~" => re().is_match(got),
            "!~" => !re().is_match(got),
            _ => unreachable!("operator {op}"),
        }
    })
}

/// Runs the server through a denial, a failed verification and an allowed review; returns its
/// JSON log lines.
async fn real_log_lines() -> Vec<Value> {
    let work = Workdir::new();
    std::fs::write(
        work.policies.join("signed.yaml"),
        image_policy("signed", "127.0.0.1:*/**", "enforce"),
    )
    .unwrap();
    let mut server = work.start(&["--allow-http-registry", "127.0.0.1:1"]);
    let mut client = work.connect(&server).await;

    let answer = client
        .review("/validate?timeout=5s", &review_for("logs-psa", &root_pod()))
        .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let mut unsigned = compliant_pod();
    unsigned["metadata"]["namespace"] = json!("team-a");
    unsigned["spec"]["containers"][0]["image"] = json!("127.0.0.1:1/app:1.0");
    for path in ["/mutate?timeout=5s", "/validate?timeout=5s"] {
        let answer = client
            .review(path, &review_for("logs-unreachable", &unsigned))
            .await;
        assert_eq!(answer["allowed"], false, "{path}: {answer}");
    }
    let answer = client
        .review(
            "/validate?timeout=5s",
            &review_for("logs-ok", &compliant_pod()),
        )
        .await;
    assert_eq!(answer["allowed"], true, "{answer}");

    server.signal("TERM");
    assert!(server.wait_exit().await.success(), "{}", server.log_text());
    let text = server.log_text();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn every_log_alert_matches_real_webhook_log_lines() {
    let queries = queries();
    assert!(
        queries.len() >= 2,
        "expected the deny-spike and verification-error alerts in {}, found {queries:?}",
        rule_dir().display()
    );
    let lines = real_log_lines().await;
    let mut problems = Vec::new();
    for q in &queries {
        let name = format!("{}: {}", q.file, q.alert);
        if q.filters.is_empty() {
            problems.push(format!("{name}: no label filter after `| json`"));
            continue;
        }
        let labelled: Vec<_> = lines.iter().map(|l| extracted(l, &q.extract)).collect();
        let hits: Vec<_> = labelled.iter().filter(|l| passes(l, &q.filters)).collect();
        if hits.is_empty() {
            problems.push(format!(
                "{name}: no real log line passes {:?} (extracting {:?}); the lines gave:\n    {}",
                q.filters,
                q.extract,
                labelled
                    .iter()
                    .map(|l| format!("{l:?}"))
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
            continue;
        }
        if hits.len() == labelled.len() {
            problems.push(format!("{name}: every log line passes {:?}", q.filters));
        }
        let extracted_names: Vec<&str> = match &q.extract {
            Some(pairs) => pairs.iter().map(|(l, _)| l.as_str()).collect(),
            None => hits[0].keys().map(String::as_str).collect(),
        };
        for label in &q.by {
            let stream =
                ["namespace", "container", "pod", "app", "level"].contains(&label.as_str());
            if stream {
                continue;
            }
            if !extracted_names.contains(&label.as_str())
                || hits
                    .iter()
                    .any(|h| h.get(label).is_none_or(|v| v.is_empty()))
            {
                problems.push(format!(
                    "{name}: `by ({label})` is neither a stream label nor set on every matching line: {hits:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "log alerts that do not fit the webhook's real log lines:\n{}",
        problems.join("\n")
    );
    // The two flows the rules are about really happened (so a match above is meaningful).
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for want in [
        "Denied",
        "Denied: image verification failed",
        "Verification failed",
    ] {
        assert!(messages.contains(&want), "no {want:?} line in {messages:?}");
    }
}
