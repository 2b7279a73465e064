//! Running the `portcullis` binary in tests: exit codes and the one-line reason on stderr.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `portcullis` in `dir` (without a trusted root from the environment).
pub fn portcullis(dir: &Path, args: &[&str]) -> Output {
    portcullis_with(dir, args, &[])
}

/// [`portcullis`] with `envs` set (e.g. `PORTCULLIS_PASSWORD` for an encrypted key).
/// `portcullis verify --key <key> --allow-http-registry <image>` in `dir`.
pub fn verify_with_key(dir: &Path, key: &str, image: &str) -> Output {
    portcullis(
        dir,
        &["verify", "--key", key, "--allow-http-registry", image],
    )
}

pub fn portcullis_with(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_TRUSTED_ROOT")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// Runs `portcullis` in `dir` with `input` on its standard input.
pub fn portcullis_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_TRUSTED_ROOT")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Exit 1 with a single-line reason containing `needle`.
pub fn fails_with(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
}

pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}
