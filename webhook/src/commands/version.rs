//! `portcullis version`: the version, the commit and the build date this binary was built with,
//! as text or JSON (`--json`, for scripts and the release checks). The commit and the date come
//! from the build (webhook/build.rs: `PORTCULLIS_COMMIT`, `SOURCE_DATE_EPOCH`, else git); a fact
//! the build did not know is printed as "unknown", never guessed. `portcullis --version` (clap's)
//! stays the one-line version.

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What every fact is when the build could not tell.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print one JSON object (version, commit, buildDate, where each came from, target, rustc).
    #[arg(long)]
    pub json: bool,
}

impl VersionArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let info = BuildInfo::of_this_binary();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&info)?);
        } else {
            print!("{}", info.text());
        }
        Ok(())
    }
}

/// The build facts, as `version --json` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub name: String,
    pub version: String,
    /// The full commit hash, or "unknown".
    pub commit: String,
    /// `PORTCULLIS_COMMIT`, `git` or `unknown`.
    pub commit_source: String,
    /// RFC 3339 in UTC, or "unknown".
    pub build_date: String,
    /// `SOURCE_DATE_EPOCH`, `PORTCULLIS_SOURCE_DATE_EPOCH`, `git commit date` or `unknown`.
    pub build_date_source: String,
    /// The Rust target triple the binary was built for.
    pub target: String,
    pub rustc: String,
}

impl BuildInfo {
    /// The facts webhook/build.rs handed to this compilation.
    pub fn of_this_binary() -> Self {
        Self::new(
            env!("CARGO_PKG_VERSION"),
            env!("PORTCULLIS_BUILD_COMMIT"),
            env!("PORTCULLIS_BUILD_COMMIT_FROM"),
            env!("PORTCULLIS_BUILD_EPOCH"),
            env!("PORTCULLIS_BUILD_DATE_FROM"),
            env!("PORTCULLIS_BUILD_TARGET"),
            env!("PORTCULLIS_BUILD_RUSTC"),
        )
    }

    /// `epoch` is seconds since 1970 or "unknown"; a value that is neither (or out of range) is
    /// reported as unknown with the raw value in its source, not turned into a date.
    pub fn new(
        version: &str,
        commit: &str,
        commit_source: &str,
        epoch: &str,
        date_source: &str,
        target: &str,
        rustc: &str,
    ) -> Self {
        let (build_date, build_date_source) = match rfc3339_of_epoch(epoch) {
            Some(date) => (date, date_source.to_string()),
            None if epoch == UNKNOWN => (UNKNOWN.to_string(), date_source.to_string()),
            None => (
                UNKNOWN.to_string(),
                format!("{date_source} (not a date: {epoch:?})"),
            ),
        };
        Self {
            name: "portcullis".to_string(),
            version: version.to_string(),
            commit: or_unknown(commit),
            commit_source: or_unknown(commit_source),
            build_date,
            build_date_source,
            target: or_unknown(target),
            rustc: or_unknown(rustc),
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{} {}\ncommit:     {} ({})\nbuild date: {} ({})\ntarget:     {}\nrustc:      {}\n",
            self.name,
            self.version,
            self.commit,
            self.commit_source,
            self.build_date,
            self.build_date_source,
            self.target,
            self.rustc
        )
    }
}

fn or_unknown(s: &str) -> String {
    if s.trim().is_empty() {
        UNKNOWN.to_string()
    } else {
        s.to_string()
    }
}

/// `1764770965` → `2025-12-03T14:09:25Z`.
fn rfc3339_of_epoch(epoch: &str) -> Option<String> {
    let secs: i64 = epoch.trim().parse().ok()?;
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(commit: &str, from: &str, epoch: &str, date_from: &str) -> BuildInfo {
        BuildInfo::new(
            "1.2.3",
            commit,
            from,
            epoch,
            date_from,
            "x86_64-unknown-linux-gnu",
            "rustc 1.95.0",
        )
    }

    #[test]
    fn an_epoch_becomes_an_rfc3339_date_in_utc() {
        let i = info("abc", "git", "1764770965", "git commit date");
        assert_eq!(i.build_date, "2025-12-03T14:09:25Z");
        assert_eq!(i.build_date_source, "git commit date");
        let zero = info("abc", "git", "0", "SOURCE_DATE_EPOCH");
        assert_eq!(zero.build_date, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn facts_the_build_did_not_know_are_printed_as_unknown() {
        let i = info("unknown", "unknown", "unknown", "unknown");
        assert_eq!(i.commit, "unknown");
        assert_eq!(i.build_date, "unknown");
        assert_eq!(i.build_date_source, "unknown");
        let empty = info("", "", "", "");
        assert_eq!(empty.commit, "unknown");
        assert_eq!(empty.commit_source, "unknown");
        assert_eq!(empty.build_date, "unknown");
    }

    #[test]
    fn a_malformed_epoch_is_not_turned_into_a_date() {
        let i = info("abc", "git", "yesterday", "SOURCE_DATE_EPOCH");
        assert_eq!(i.build_date, "unknown");
        assert_eq!(
            i.build_date_source,
            "SOURCE_DATE_EPOCH (not a date: \"yesterday\")"
        );
        let huge = info("abc", "git", "99999999999999999", "SOURCE_DATE_EPOCH");
        assert_eq!(huge.build_date, "unknown");
    }

    #[test]
    fn json_names_every_fact_in_camel_case() {
        let v = serde_json::to_value(info("abc", "PORTCULLIS_COMMIT", "0", "SOURCE_DATE_EPOCH"))
            .unwrap();
        assert_eq!(v["name"], "portcullis");
        assert_eq!(v["version"], "1.2.3");
        assert_eq!(v["commit"], "abc");
        assert_eq!(v["commitSource"], "PORTCULLIS_COMMIT");
        assert_eq!(v["buildDate"], "1970-01-01T00:00:00Z");
        assert_eq!(v["buildDateSource"], "SOURCE_DATE_EPOCH");
        assert_eq!(v["target"], "x86_64-unknown-linux-gnu");
        assert_eq!(v.as_object().unwrap().len(), 8);
    }

    #[test]
    fn text_shows_each_fact_with_where_it_came_from() {
        let t = info("abc", "git", "0", "git commit date").text();
        assert_eq!(
            t,
            "portcullis 1.2.3\ncommit:     abc (git)\nbuild date: 1970-01-01T00:00:00Z (git commit date)\n\
             target:     x86_64-unknown-linux-gnu\nrustc:      rustc 1.95.0\n"
        );
    }

    #[test]
    fn this_binary_carries_what_build_rs_found() {
        let i = BuildInfo::of_this_binary();
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert!(
            i.target.starts_with(std::env::consts::ARCH) && i.target.contains(std::env::consts::OS),
            "{i:?}"
        );
        assert!(i.rustc.starts_with("rustc "), "{i:?}");
        match i.commit_source.as_str() {
            "git" => assert!(
                i.commit.len() == 40 && i.commit.bytes().all(|b| b.is_ascii_hexdigit()),
                "{i:?}"
            ),
            "unknown" => assert_eq!(i.commit, "unknown"),
            "PORTCULLIS_COMMIT" => assert_ne!(i.commit, ""),
            other => panic!("commit source {other:?}"),
        }
        match i.build_date_source.as_str() {
            "git commit date" | "SOURCE_DATE_EPOCH" | "PORTCULLIS_SOURCE_DATE_EPOCH" => {
                assert!(
                    OffsetDateTime::parse(&i.build_date, &Rfc3339).is_ok(),
                    "{i:?}"
                )
            }
            "unknown" => assert_eq!(i.build_date, "unknown"),
            other => panic!("build date source {other:?}"),
        }
    }
}
