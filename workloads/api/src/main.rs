//! `jobs-api`: the HTTP API of the jobs sample service. Everything is in the library
//! ([`jobs_api::cli`]); this file only parses arguments and reports a fatal error.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    match jobs_api::cli::Args::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Exiting");
            eprintln!("jobs-api: {error:#}");
            ExitCode::FAILURE
        }
    }
}
