//! `jobs-worker`: the background worker of the jobs sample service. Everything is in the
//! library ([`jobs_worker::cli`]); this file only parses arguments and reports a fatal error.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    match jobs_worker::cli::Args::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "Exiting");
            eprintln!("jobs-worker: {error:#}");
            ExitCode::FAILURE
        }
    }
}
