//! `portcullis audit --output html`, looked at in a real headless Chromium (Debian `chromium`):
//! the page parses into the expected document (counts, one section per framework, the evidence
//! of each failing control), renders to a screenshot with more on it than a blank page, prints to
//! PDF, escapes what the audited objects say, and its fingerprints follow the policies and the
//! input, not the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_support;
mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use audit_support::{DUMP, audit, audit_stdin, baseline, stdout_ok};
use cli_support::portcullis;
use portcullis_policies::compliance::ControlMap;

/// Headless Chromium on `page` with `args`, bounded by `timeout`; its standard output.
fn chromium(dir: &Path, page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(portcullis_testkit::tool("chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .current_dir(dir)
        .output()
        .expect("chromium runs (make bootstrap installs it)");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The `sha256:…` after `label` in the page's header table.
fn fingerprint(html: &str, label: &str) -> String {
    let at = html.find(&format!("<th>{label}</th>")).unwrap();
    let rest = &html[at..];
    let start = rest.find("sha256:").unwrap();
    rest[start..start + 71].to_string()
}

#[test]
fn the_report_renders_in_chromium_with_counts_controls_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let html = audit(d, "html", &[DUMP]);
    let page = write(d, "report.html", &html);

    let dom = chromium(d, &page, &["--dump-dom"]);
    assert!(
        dom.contains("<title>Portcullis compliance audit</title>"),
        "{dom}"
    );
    // 5 resources, 56 results: 51 pass, 4 fail, 1 warn (audit_support).
    for (status, n) in [
        ("pass", 51),
        ("fail", 4),
        ("warn", 1),
        ("skip", 0),
        ("error", 0),
    ] {
        let tile = format!("<div class=\"tile {status}\"><b>{n}</b>{status}</div>");
        assert!(dom.contains(&tile), "missing {tile}");
    }
    assert!(dom.contains("(5 resources)"));
    for framework in ControlMap::shipped().unwrap().frameworks.values() {
        assert!(
            dom.contains(&format!("<h2>{} <small>", framework.name)),
            "no section for {}",
            framework.name
        );
    }
    // The chart has a bar per status present, and every failing result is evidence with its
    // file and line.
    assert!(dom.matches("<rect").count() > 20, "no chart");
    let fails = dom.matches("<li><b>fail</b>").count();
    assert!(
        fails >= 4,
        "4 failing results, each under at least one control: {fails}"
    );
    assert!(
        dom.contains("audit-list-dump.yaml:"),
        "evidence names the file"
    );
    assert!(dom.contains("<span class=\"st fail\">fail</span>"));

    // Rendered, the page has more on it than a blank one (both measured here).
    let blank = write(d, "blank.html", "<!DOCTYPE html><html><body></body></html>");
    chromium(
        d,
        &blank,
        &["--screenshot=blank.png", "--window-size=1200,1600"],
    );
    chromium(
        d,
        &page,
        &["--screenshot=report.png", "--window-size=1200,1600"],
    );
    let shot = std::fs::read(d.join("report.png")).unwrap();
    let empty = std::fs::read(d.join("blank.png")).unwrap();
    assert!(shot.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        shot.len() > 5 * empty.len(),
        "report screenshot {} bytes, blank page {} bytes",
        shot.len(),
        empty.len()
    );

    // And it prints, to more pages' worth than the blank page.
    for (page, pdf) in [(&page, "report.pdf"), (&blank, "blank.pdf")] {
        chromium(
            d,
            page,
            &[&format!("--print-to-pdf={pdf}"), "--no-pdf-header-footer"],
        );
    }
    let pdf = std::fs::read(d.join("report.pdf")).unwrap();
    let empty = std::fs::read(d.join("blank.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        pdf.len() > 5 * empty.len(),
        "report PDF {} bytes, blank page {} bytes",
        pdf.len(),
        empty.len()
    );
}

#[test]
fn what_the_objects_say_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers:\n  - name: c\n    image: \"x/<script>alert(1)</script>:latest\"\n";
    let html = audit_stdin(dir.path(), "html", pod);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

#[test]
fn fingerprints_follow_the_policies_and_the_input_not_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let first = audit(d, "html", &[DUMP]);
    let again = audit(d, "html", &[DUMP]);
    assert_eq!(
        fingerprint(&first, "policy set"),
        fingerprint(&again, "policy set")
    );
    assert_eq!(fingerprint(&first, "input"), fingerprint(&again, "input"));

    // The same objects, reformatted and commented, from standard input: the same input.
    let dump = std::fs::read_to_string(DUMP).unwrap();
    let commented = format!("# a copy\n{dump}");
    let same = audit_stdin(d, "html", &commented);
    assert_eq!(fingerprint(&first, "input"), fingerprint(&same, "input"));

    // Another object: another input.
    let more = format!("{dump}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: extra}}\n");
    let other = audit_stdin(d, "html", &more);
    assert_ne!(fingerprint(&first, "input"), fingerprint(&other, "input"));

    // Another policy set (no warn policy): another fingerprint.
    let fewer = stdout_ok(&portcullis(
        d,
        &[
            "audit",
            "--policy",
            &baseline(),
            "--no-images",
            "--output",
            "html",
            DUMP,
        ],
    ));
    assert_ne!(
        fingerprint(&first, "policy set"),
        fingerprint(&fewer, "policy set")
    );
    assert_eq!(fingerprint(&first, "input"), fingerprint(&fewer, "input"));
}
