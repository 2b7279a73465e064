//! What a storm pass measured, summarised: latency percentiles, reviews past their deadline,
//! denials (wrongful ones, and those naming the registry's rate limit), and the server
//! process's CPU time and peak memory read from `/proc/PID/{stat,status}`.

use std::time::Duration;

use anyhow::{Context, Result};

use super::fire::{Outcome, Verdict};

/// A pass, summarised.
pub struct Summary {
    pub sent: usize,
    pub sorted: Vec<Duration>,
    pub allowed: usize,
    pub denied: usize,
    pub denied_rate_limit: usize,
    pub late: usize,
    pub broken: usize,
    pub first_denial: Option<String>,
    pub first_broken: Option<String>,
}

impl Summary {
    pub fn of(outcomes: &[Outcome]) -> Summary {
        let mut s = Summary {
            sent: outcomes.len(),
            sorted: outcomes.iter().map(|o| o.latency).collect(),
            allowed: 0,
            denied: 0,
            denied_rate_limit: 0,
            late: 0,
            broken: 0,
            first_denial: None,
            first_broken: None,
        };
        s.sorted.sort_unstable();
        for o in outcomes {
            match &o.verdict {
                Verdict::Allowed => s.allowed += 1,
                Verdict::Denied(message) => {
                    s.denied += 1;
                    if names_rate_limit(message) {
                        s.denied_rate_limit += 1;
                    }
                    s.first_denial.get_or_insert_with(|| message.clone());
                }
                Verdict::Late => s.late += 1,
                Verdict::Broken(e) => {
                    s.broken += 1;
                    s.first_broken.get_or_insert_with(|| e.clone());
                }
            }
        }
        s
    }

    pub fn p(&self, q: f64) -> Duration {
        match self.sorted.len() {
            0 => Duration::ZERO,
            n => self.sorted[((n as f64 - 1.0) * q).round() as usize],
        }
    }

    /// Reviews the API server would not have had an answer for in time (late or broken).
    pub fn past_deadline(&self) -> usize {
        self.late + self.broken
    }

    pub fn latencies(&self) -> String {
        format!(
            "p50 {} p95 {} p99 {} max {}",
            ms(self.p(0.5)),
            ms(self.p(0.95)),
            ms(self.p(0.99)),
            ms(self.p(1.0))
        )
    }

    /// The first denial and the first broken answer, when there are any.
    pub fn examples(&self) -> String {
        let mut out = String::new();
        if let Some(d) = &self.first_denial {
            out.push_str(&format!("\n    first denial: {}", clip(d)));
        }
        if let Some(b) = &self.first_broken {
            out.push_str(&format!("\n    first broken answer: {}", clip(b)));
        }
        out
    }
}

/// Whether a denial message names the registry's rate limit.
fn names_rate_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("429") || m.contains("rate limit") || m.contains("too many requests")
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

// === the server process ===

/// CPU time (user + system) of process `pid` so far.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/PID/stat without a command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat field {}", i + 3))
    };
    // utime is field 14, stime field 15 (proc(5)).
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks()? as f64,
    ))
}

/// `getconf CLK_TCK`: the unit of the times in `/proc/PID/stat`.
fn clock_ticks() -> Result<u64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("getconf CLK_TCK")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("getconf CLK_TCK: not a number")
}

/// Peak resident memory (`VmHWM`) of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("/proc/PID/status without VmHWM")?;
    Ok(kib as f64 / 1024.0)
}
