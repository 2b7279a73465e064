//! `--registry-mirror`, shared by `portcullis serve` and the supply-chain subcommands.

use clap::Args;
use portcullis_verifier::Mirror;

/// Registry mirrors (flattened into both commands' registry flags).
#[derive(Debug, Clone, Default, Args)]
pub struct MirrorArgs {
    /// Send every request for REGISTRY to a mirror, `REGISTRY=HOST[:PORT][/PREFIX]` (e.g.
    /// `ghcr.io=registry.internal:5000/ghcr`). Images keep their names in policies and pins;
    /// there is no fallback to REGISTRY. Repeatable.
    #[arg(
        long = "registry-mirror",
        env = "PORTCULLIS_REGISTRY_MIRROR",
        value_name = "REGISTRY=HOST[:PORT][/PREFIX]",
        value_delimiter = ','
    )]
    pub registry_mirrors: Vec<Mirror>,
}
