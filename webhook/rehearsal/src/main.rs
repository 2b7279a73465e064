//! `rehearse`: see the library docs. Exit status 0 when every expectation held, 1 when one did
//! not or the webhook could not be run, 2 on bad input.

use std::process::ExitCode;

use clap::Parser as _;
use portcullis_rehearsal::cli::Args;
use portcullis_rehearsal::run::{Failure, run};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e @ Failure::Input(_)) => {
            eprintln!("rehearse: {e}");
            ExitCode::from(2)
        }
        Err(e @ Failure::Runtime(_)) => {
            eprintln!("rehearse: error: {e}");
            ExitCode::from(1)
        }
    }
}
