//! `portcullis keygen`: a P-256 key pair in cosign's formats (`NAME.key` encrypted, `NAME.pub`).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use portcullis_verifier::PrivateKey;

use super::common::password;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "cosign", value_name = "PREFIX")]
    pub output_key_prefix: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

impl KeygenArgs {
    pub fn run(self) -> anyhow::Result<()> {
        let key_path = self.output_key_prefix.with_extension("key");
        let pub_path = self.output_key_prefix.with_extension("pub");
        for p in [&key_path, &pub_path] {
            if p.exists() && !self.force {
                bail!("{} exists (use --force to overwrite)", p.display());
            }
        }
        let key = PrivateKey::generate();
        let pem = key.to_encrypted_pem(&password()?)?;
        write_private(&key_path, &pem)?;
        std::fs::write(&pub_path, key.public().to_pem())
            .with_context(|| format!("writing {}", pub_path.display()))?;
        eprintln!("Private key written to {}", key_path.display());
        eprintln!("Public key written to {}", pub_path.display());
        Ok(())
    }
}

fn write_private(path: &std::path::Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(pem.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
