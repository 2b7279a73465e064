//! `jobs-worker`: the background worker of the jobs sample service. Everything is in the
//! library ([`jobs_worker::cli`]); this file only parses arguments and reports a fatal error.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    jobs_common::service::exit_code("jobs-worker", jobs_worker::cli::Args::parse().run().await)
}
