//! Printing audit results: `text` (a summary by control with counts, then the evidence for
//! every non-passing result) or `jsonl` (one JSON object per result, written as they come).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portcullis_policies::compliance::ControlMap;

use super::results::{AuditResult, Status};

/// Counts per status.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts([usize; 5]);

impl Counts {
    pub fn add(&mut self, s: Status) {
        self.0[s as usize] += 1;
    }

    pub fn get(&self, s: Status) -> usize {
        self.0[s as usize]
    }

    fn cells(&self) -> String {
        Status::ALL
            .iter()
            .map(|s| format!("{:>6}", self.get(*s)))
            .collect()
    }

    fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// As a map from each status's name to its count (a policy report's `summary`).
impl serde::Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(Status::ALL.len()))?;
        for s in Status::ALL {
            map.serialize_entry(s.name(), &self.get(s))?;
        }
        map.end()
    }
}

/// Counts of results by control (`framework:id`); results of rules without a control are
/// counted under `(unmapped) <rule>`.
pub fn by_control(results: &[AuditResult]) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for r in results {
        if r.controls.is_empty() {
            out.entry(format!("(unmapped) {}", r.rule))
                .or_default()
                .add(r.status);
        }
        for c in r.controls.iter() {
            out.entry(c.clone()).or_default().add(r.status);
        }
    }
    out
}

/// `results` as JSON lines into `out`.
pub fn write_jsonl(out: &mut impl std::io::Write, results: &[AuditResult]) -> anyhow::Result<()> {
    for r in results {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn text(
    results: &[AuditResult],
    resources: usize,
    map: &ControlMap,
    images_note: &str,
    partial: &[String],
) -> String {
    let mut total = Counts::default();
    for r in results {
        total.add(r.status);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Audited {resources} resources: {} results ({})",
        total.total(),
        Status::ALL
            .iter()
            .map(|s| format!("{} {}", total.get(*s), s.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for gap in partial {
        let _ = writeln!(out, "PARTIAL: {gap}");
    }
    let _ = writeln!(out, "Images: {images_note}");
    let _ = writeln!(out, "Frameworks:");
    for (key, f) in &map.frameworks {
        let _ = writeln!(out, "  {key}: {} {}", f.name, f.version);
    }
    let _ = writeln!(out);
    let rows = by_control(results);
    let width = rows
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let head: String = Status::ALL
        .iter()
        .map(|s| format!("{:>6}", s.name().to_uppercase()))
        .collect();
    let _ = writeln!(out, "{:<width$}{head}", "CONTROL");
    for (control, counts) in &rows {
        let _ = writeln!(out, "{control:<width$}{}", counts.cells());
    }
    let evidence: Vec<&AuditResult> = results
        .iter()
        .filter(|r| r.status != Status::Pass)
        .collect();
    if !evidence.is_empty() {
        let _ = writeln!(out, "\nFindings:");
    }
    for r in evidence {
        let mode = r
            .mode
            .map(|m| format!(" [{}]", m.as_str()))
            .unwrap_or_default();
        // Listed from a cluster: no line; a gap in the listing: no origin.
        let place = match (r.resource.file.as_str(), r.resource.line) {
            ("", _) => String::new(),
            (file, 0) => format!(" ({file})"),
            (file, line) => format!(" ({file}:{line})"),
        };
        let _ = writeln!(
            out,
            "{:<5} {}{place} {}/{}{mode}",
            r.status.name().to_uppercase(),
            r.resource.label(),
            if r.policy.is_empty() { "-" } else { &r.policy },
            r.rule,
        );
        for reason in &r.reasons {
            let _ = writeln!(out, "      {reason}");
        }
        if !r.controls.is_empty() {
            let _ = writeln!(out, "      controls: {}", r.controls.join(", "));
        }
    }
    out
}
