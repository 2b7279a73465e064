//! The rehearsal's output: one table row per webhook call (object, webhook, decision, latency,
//! reason or pinned image), one closing row per object with the final decision and whether it
//! met its expectation, a summary line; and the reviews and responses as JSON files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cases::{Expectation, images};
use crate::dispatch::{Admission, Decision};

/// One object's admission in one phase, and how it measured up.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub rendering: String,
    /// `up` or `down`.
    pub phase: String,
    /// `Kind/namespace/name`.
    pub object: String,
    /// `pod of Deployment/x`, for generated objects.
    pub via: Option<String>,
    pub case: Option<String>,
    pub admission: Admission,
    pub expectation: Expectation,
    /// `Err(why)` when the expectation failed.
    pub verdict: Result<(), String>,
}

/// Checks `admission` against `expectation` (pins are checked by the caller for Pods).
pub fn judge(admission: &Admission, expectation: &Expectation) -> Result<(), String> {
    match (admission.allowed, expectation.admit) {
        (true, true) => Ok(()),
        (false, false) => match &expectation.reason {
            Some(r) if !admission.message.contains(r.as_str()) => {
                Err(format!("denied, but the message lacks {r:?}"))
            }
            _ => Ok(()),
        },
        (true, false) => Err("admitted, expected a denial".into()),
        (false, true) => Err("denied, expected admission".into()),
    }
}

fn first_line(s: &str) -> String {
    let mut lines = s.lines();
    let first = lines.next().unwrap_or_default().to_string();
    match lines.count() {
        0 => first,
        n => format!("{first} (+{n} more)"),
    }
}

/// The reason column of one call.
fn call_detail(call: &crate::dispatch::Call) -> String {
    let mut detail = match call.decision {
        Decision::Patched => {
            let pins: Vec<String> = call
                .patch
                .iter()
                .filter(|op| op["path"].as_str().is_some_and(|p| p.ends_with("/image")))
                .filter_map(|op| op["value"].as_str().map(|v| format!("pinned: {v}")))
                .collect();
            if pins.is_empty() {
                format!("{} patch operation(s)", call.patch.len())
            } else {
                pins.join("; ")
            }
        }
        _ => first_line(&call.detail),
    };
    if !call.warnings.is_empty() {
        let _ = write!(
            detail,
            "{}warning: {}",
            if detail.is_empty() { "" } else { "; " },
            first_line(&call.warnings[0])
        );
    }
    detail
}

/// Prints the table of `outcomes` (grouped by rendering and phase) to a string.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let mut section = (String::new(), String::new());
    for o in outcomes {
        if (o.rendering.as_str(), o.phase.as_str()) != (section.0.as_str(), section.1.as_str()) {
            section = (o.rendering.clone(), o.phase.clone());
            let _ = writeln!(out, "\n== {}: webhook {} ==", o.rendering, o.phase);
            let _ = writeln!(
                out,
                "{:<64} {:<26} {:<13} {:>6}  REASON / IMAGE",
                "OBJECT", "WEBHOOK", "DECISION", "MS"
            );
        }
        let mut label = o.object.clone();
        if let Some(via) = &o.via {
            let _ = write!(label, " ({via})");
        }
        if let Some(case) = &o.case {
            let _ = write!(label, " [case: {case}]");
        }
        for (i, call) in o.admission.calls.iter().enumerate() {
            let webhook = if call.reinvocation {
                format!("{} (again)", call.webhook)
            } else {
                call.webhook.clone()
            };
            let ms = call
                .latency
                .map(|l| format!("{:.1}", l.as_secs_f64() * 1000.0))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<64} {:<26} {:<13} {:>6}  {}",
                if i == 0 { label.as_str() } else { "" },
                webhook,
                call.decision.as_str(),
                ms,
                call_detail(call)
            );
        }
        let result = if o.admission.allowed {
            "admitted"
        } else {
            "denied"
        };
        let detail = match &o.verdict {
            Ok(()) if o.admission.allowed => {
                let imgs = images(o.admission.object.pointer("/spec").unwrap_or(&Value::Null));
                if o.object.starts_with("Pod/") && !imgs.is_empty() {
                    format!("ok: {}", imgs.join(", "))
                } else {
                    "ok".to_string()
                }
            }
            Ok(()) => format!("ok: {}", first_line(&o.admission.message)),
            Err(why) => format!(
                "EXPECTATION FAILED: {why}; {}",
                first_line(&o.admission.message)
            ),
        };
        let _ = writeln!(
            out,
            "{:<64} {:<26} {:<13} {:>6}  {}",
            if o.admission.calls.is_empty() {
                label.as_str()
            } else {
                ""
            },
            "=> result",
            result,
            "",
            detail.trim_end_matches("; ")
        );
    }
    out
}

/// The closing line: counts, and which objects failed.
pub fn summary(outcomes: &[Outcome]) -> String {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict.is_err()).collect();
    let calls: usize = outcomes
        .iter()
        .map(|o| {
            o.admission
                .calls
                .iter()
                .filter(|c| c.latency.is_some())
                .count()
        })
        .sum();
    let mut s = format!(
        "rehearsal: {} admissions ({} webhook calls): {} as expected, {} not",
        outcomes.len(),
        calls,
        outcomes.len() - failed.len(),
        failed.len()
    );
    for f in failed {
        let _ = write!(
            s,
            "\n  FAILED {}/{} {}: {}",
            f.rendering,
            f.phase,
            f.object,
            f.verdict.as_ref().err().map_or("", String::as_str)
        );
    }
    s
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes every call's review and response under `dir/<rendering>/<phase>/reviews/`, and
/// `dir/results.json`.
pub fn write_json(dir: &Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for (n, o) in outcomes.iter().enumerate() {
        let reviews = dir.join(&o.rendering).join(&o.phase).join("reviews");
        std::fs::create_dir_all(&reviews)
            .with_context(|| format!("creating {}", reviews.display()))?;
        let mut files = Vec::new();
        for (i, c) in o.admission.calls.iter().enumerate() {
            if c.request.is_none() {
                continue;
            }
            let file = reviews.join(format!(
                "{:03}-{}-{}-{}.json",
                n + 1,
                file_safe(&o.object),
                i + 1,
                file_safe(&c.webhook)
            ));
            let body = json!({"webhook": c.webhook, "reinvocation": c.reinvocation, "decision": c.decision.as_str(),
                "latencyMs": c.latency.map(|l| l.as_secs_f64() * 1000.0), "request": c.request, "response": c.response});
            std::fs::write(&file, serde_json::to_vec_pretty(&body)?)
                .with_context(|| format!("writing {}", file.display()))?;
            files.push(file.display().to_string());
        }
        results.push(json!({
            "rendering": o.rendering, "phase": o.phase, "object": o.object, "via": o.via, "case": o.case,
            "allowed": o.admission.allowed, "message": o.admission.message,
            "expectation": {"admit": o.expectation.admit, "reason": o.expectation.reason,
                "pinned": o.expectation.pinned, "digest": o.expectation.digest},
            "ok": o.verdict.is_ok(), "failure": o.verdict.as_ref().err(),
            "calls": o.admission.calls.iter().map(|c| json!({"webhook": c.webhook, "decision": c.decision.as_str(),
                "detail": c.detail, "warnings": c.warnings, "auditAnnotations": c.audit_annotations,
                "reinvocation": c.reinvocation})).collect::<Vec<_>>(),
            "reviews": files,
            "finalObject": o.admission.object,
        }));
    }
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
