//! `jobs-api`: the HTTP API of the jobs sample service. Everything is in the library
//! ([`jobs_api::cli`]); this file only parses arguments and reports a fatal error.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    jobs_common::service::exit_code("jobs-api", jobs_api::cli::Args::parse().run().await)
}
