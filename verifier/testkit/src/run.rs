//! Running an external command a test depends on: its standard output, or a failed test that
//! names the command and quotes its standard error.

use std::process::Command;

/// Runs `command` to completion and returns its standard output (lossy UTF-8). Panics when it
/// cannot start or exits unsuccessfully, with the command line and its standard error.
#[allow(
    clippy::panic,
    reason = "a command the test depends on failing must fail the test"
)]
#[track_caller]
pub fn stdout_of(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    if !out.status.success() {
        panic!(
            "{command:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
