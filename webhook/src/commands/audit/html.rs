//! `audit --output html`: one self-contained page for a human auditor (no script, no external
//! file: styles and the chart are inline, so it can be archived, mailed and printed).
//!
//! It gives, in order: what was audited (time, tool version, the policy set's and the input's
//! fingerprints, so that two reports can be compared), the counts by status, a chart of the
//! results by control, then for each framework of the mapping (policies/compliance/controls.yaml)
//! each control with its status, evidence (resource, rule, file and line, the reasons) and
//! remediation, then the rules no control maps, and the images with the digest each verified to.
//!
//! A control's status is its worst result: `fail`, then `error`, `warn`, `pass`; `skip` only when
//! every result was skipped.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use portcullis_policies::compliance::ControlMap;
use portcullis_verifier::keyless::rfc3339;

use super::report::{Counts, by_control};
use super::results::{AuditResult, Status};

/// What the page says about the run itself.
pub struct Meta<'a> {
    pub generated: SystemTime,
    pub resources: usize,
    pub images_note: &'a str,
    /// sha256 of the policy files (and trusted roots), [`super::fingerprint`].
    pub policy_fingerprint: &'a str,
    /// sha256 of the audited objects.
    pub input_fingerprint: &'a str,
    /// What the audit could not look at (kinds a cluster did not list to the end).
    pub partial: &'a [String],
}

/// One verified image, for the evidence table.
pub struct ImageEvidence {
    pub image: String,
    /// The requirement's fingerprint (which policy authority it was verified against).
    pub requirement: String,
    /// `Ok(digest and signers)` or `Err(reason)`.
    pub outcome: Result<String, String>,
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.6em 0}
th,td{text-align:left;vertical-align:top;padding:.3em .5em;border-bottom:1px solid #e3e3e3}
th{background:#f4f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}
.tiles{display:flex;gap:.8em;flex-wrap:wrap;margin:1em 0}
.tile{border-radius:6px;padding:.5em 1em;min-width:6em;color:#fff}
.tile b{display:block;font-size:1.6em}
.pass{background:#2e7d32}.fail{background:#c62828}.warn{background:#ef8f00}
.skip{background:#757575}.error{background:#6a1b9a}
.st{color:#fff;border-radius:4px;padding:0 .45em;font-weight:600;font-size:.85em}
ul{margin:.2em 0;padding-left:1.2em}small{color:#555}
.partial{border-left:6px solid #6a1b9a;padding:.4em .8em;background:#f3e5f5}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr,svg{break-inside:avoid}
.tile,.st,.pass,.fail,.warn,.skip,.error{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
";

const COLOURS: [(Status, &str); 5] = [
    (Status::Pass, "#2e7d32"),
    (Status::Fail, "#c62828"),
    (Status::Warn, "#ef8f00"),
    (Status::Skip, "#757575"),
    (Status::Error, "#6a1b9a"),
];

/// The whole page.
pub fn page(
    results: &[AuditResult],
    map: &ControlMap,
    images: &[ImageEvidence],
    meta: &Meta,
) -> String {
    let mut total = Counts::default();
    for r in results {
        total.add(r.status);
    }
    let mut rows: Vec<(String, Counts)> = by_control(results).into_iter().collect();
    rows.sort_by_cached_key(|(control, _)| natural(control));
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<title>Portcullis compliance audit</title><style>{STYLE}</style></head><body>\
         <h1>Portcullis compliance audit</h1><table>\
         <tr><th>generated</th><td>{}</td></tr>\
         <tr><th>tool</th><td>portcullis {}</td></tr>\
         <tr><th>policy set</th><td class=\"mono\">sha256:{}</td></tr>\
         <tr><th>input</th><td class=\"mono\">sha256:{} ({} resources)</td></tr>\
         <tr><th>images</th><td>{}</td></tr></table>",
        rfc3339_utc(meta.generated),
        env!("CARGO_PKG_VERSION"),
        esc(meta.policy_fingerprint),
        esc(meta.input_fingerprint),
        meta.resources,
        esc(meta.images_note),
    );
    if !meta.partial.is_empty() {
        out.push_str(
            "<p class=\"partial\"><b>Partial audit.</b> Not everything was listed:</p><ul>",
        );
        for gap in meta.partial {
            let _ = write!(out, "<li>{}</li>", esc(gap));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Summary</h2><div class=\"tiles\">");
    for s in Status::ALL {
        let _ = write!(
            out,
            "<div class=\"tile {0}\"><b>{1}</b>{0}</div>",
            s.name(),
            total.get(s)
        );
    }
    out.push_str("</div>");
    chart(&mut out, &rows);
    for (key, framework) in &map.frameworks {
        let prefix = format!("{key}:");
        let controls: Vec<&(String, Counts)> = rows
            .iter()
            .filter(|(c, _)| c.starts_with(&prefix))
            .collect();
        let _ = write!(
            out,
            "<h2>{} <small>{}</small></h2>",
            esc(&framework.name),
            esc(&framework.version)
        );
        if controls.is_empty() {
            out.push_str("<p>No audited rule maps to this framework's controls.</p>");
            continue;
        }
        controls_table(&mut out, &controls, results, |r, c| {
            r.controls.iter().any(|x| x == c)
        });
    }
    let unmapped: Vec<&(String, Counts)> = rows
        .iter()
        .filter(|(c, _)| c.starts_with("(unmapped)"))
        .collect();
    if !unmapped.is_empty() {
        out.push_str("<h2>Rules no control maps</h2>");
        controls_table(&mut out, &unmapped, results, |r, c| {
            r.controls.is_empty() && c.strip_prefix("(unmapped) ") == Some(r.rule.as_str())
        });
    }
    images_table(&mut out, images);
    out.push_str("</body></html>\n");
    out
}

/// A horizontal stacked bar per control: its results by status.
fn chart(out: &mut String, rows: &[(String, Counts)]) {
    const LABEL: usize = 330;
    const BAR: usize = 420;
    const ROW: usize = 18;
    let most = rows
        .iter()
        .map(|(_, c)| Status::ALL.iter().map(|s| c.get(*s)).sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * rows.len() + 24;
    let _ = write!(
        out,
        "<h2>Results by control</h2><svg role=\"img\" aria-label=\"results by control\" \
         width=\"{}\" height=\"{height}\" font-size=\"11\" font-family=\"system-ui,sans-serif\">",
        LABEL + BAR + 60
    );
    for (i, (control, counts)) in rows.iter().enumerate() {
        let y = i * ROW;
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 6,
            y + 13,
            esc(control)
        );
        let mut x = LABEL;
        for (status, colour) in COLOURS {
            let n = counts.get(status);
            if n == 0 {
                continue;
            }
            let w = (n * BAR).div_ceil(most).max(2);
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{}\" fill=\"{colour}\">\
                 <title>{control}: {n} {}</title></rect>",
                y + 3,
                ROW - 5,
                status.name(),
                control = esc(control),
            );
            x += w;
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\">{}/{}</text>",
            x + 4,
            y + 13,
            counts.get(Status::Pass),
            Status::ALL.iter().map(|s| counts.get(*s)).sum::<usize>()
        );
    }
    let legend_y = ROW * rows.len() + 16;
    let mut x = LABEL;
    for (status, colour) in COLOURS {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{legend_y}\">{}</text>",
            legend_y - 9,
            x + 13,
            status.name()
        );
        x += 62;
    }
    out.push_str("</svg>");
}

/// The control's status: its worst result.
fn status_of(counts: &Counts) -> Status {
    [Status::Fail, Status::Error, Status::Warn, Status::Pass]
        .into_iter()
        .find(|s| counts.get(*s) > 0)
        .unwrap_or(Status::Skip)
}

fn controls_table(
    out: &mut String,
    controls: &[&(String, Counts)],
    results: &[AuditResult],
    belongs: impl Fn(&AuditResult, &str) -> bool,
) {
    out.push_str(
        "<table><tr><th>control</th><th>status</th><th>results</th><th>evidence</th>\
         <th>remediation</th></tr>",
    );
    for (control, counts) in controls {
        let status = status_of(counts);
        let mine: Vec<&AuditResult> = results.iter().filter(|r| belongs(r, control)).collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"st {1}\">{1}</span></td><td class=\"n\">{2}</td><td><ul>",
            esc(control
                .split_once(':')
                .map_or(control.as_str(), |(_, id)| id)),
            status.name(),
            Status::ALL
                .iter()
                .filter(|s| counts.get(**s) > 0)
                .map(|s| format!("{}&nbsp;{}", counts.get(*s), s.name()))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
        // Evidence: what is not passing, each with its reasons; passing resources are counted.
        for r in mine.iter().filter(|r| r.status != Status::Pass) {
            let _ = write!(
                out,
                "<li><b>{}</b> {} <small>{}:{}</small> <code>{}</code>",
                r.status.name(),
                esc(&r.resource.label()),
                esc(&r.resource.file),
                r.resource.line,
                esc(&r.rule_id()),
            );
            for reason in &r.reasons {
                let _ = write!(out, "<br><small>{}</small>", esc(reason));
            }
            out.push_str("</li>");
        }
        let passing = mine.iter().filter(|r| r.status == Status::Pass).count();
        if passing > 0 {
            let _ = write!(out, "<li>{passing} result(s) pass</li>");
        }
        out.push_str("</ul></td><td><ul>");
        let mut fixes: Vec<&str> = mine
            .iter()
            .flat_map(|r| r.fixes.iter().map(String::as_str))
            .collect();
        fixes.sort_unstable();
        fixes.dedup();
        for fix in fixes {
            let _ = write!(out, "<li>{}</li>", esc(fix));
        }
        out.push_str("</ul></td></tr>");
    }
    out.push_str("</table>");
}

fn images_table(out: &mut String, images: &[ImageEvidence]) {
    out.push_str("<h2>Images</h2>");
    if images.is_empty() {
        out.push_str("<p>No image was verified.</p>");
        return;
    }
    out.push_str("<table><tr><th>image</th><th>requirement</th><th>verified</th></tr>");
    for i in images {
        let (class, text) = match &i.outcome {
            Ok(digest) => ("pass", digest),
            Err(reason) => ("fail", reason),
        };
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
             <td><span class=\"st {class}\">{}</span> <span class=\"mono\">{}</span></td></tr>",
            esc(&i.image),
            esc(&i.requirement),
            if class == "pass" { "yes" } else { "no" },
            esc(text),
        );
    }
    out.push_str("</table>");
}

/// A sort key in which the numbers of `5.2.10` count as numbers (after `5.2.9`).
fn natural(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(split);
        let digits = tail
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (number, tail) = tail.split_at(digits);
        out.push((word.to_string(), number.parse().unwrap_or(u64::MAX)));
        rest = tail;
    }
    out
}

/// `2026-12-02T21:30:00Z`.
fn rfc3339_utc(t: SystemTime) -> String {
    let seconds = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// Text as HTML character data or a quoted attribute value.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn controls_sort_by_their_numbers() {
        let mut ids = ["cis:5.2.10", "cis:5.2.9", "cis:5.7.1", "cis:5.2.2", "nsa:A"];
        ids.sort_by_cached_key(|c| natural(c));
        assert_eq!(
            ids,
            ["cis:5.2.2", "cis:5.2.9", "cis:5.2.10", "cis:5.7.1", "nsa:A"]
        );
    }

    #[test]
    fn a_control_is_as_bad_as_its_worst_result() {
        let mut c = Counts::default();
        c.add(Status::Skip);
        assert_eq!(status_of(&c), Status::Skip);
        c.add(Status::Pass);
        assert_eq!(status_of(&c), Status::Pass);
        c.add(Status::Warn);
        assert_eq!(status_of(&c), Status::Warn);
        c.add(Status::Error);
        assert_eq!(status_of(&c), Status::Error);
        c.add(Status::Fail);
        assert_eq!(status_of(&c), Status::Fail);
    }
}
