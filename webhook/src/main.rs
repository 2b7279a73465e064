//! `portcullis`: the admission webhook server and the supply-chain CLI in one binary.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    portcullis_webhook::serve::install_crypto_provider();
    portcullis_webhook::cli::Args::parse().run().await
}
