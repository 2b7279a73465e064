//! Pushes a tiny generated OCI image and prints its digest (used by `make demo`).
//! Usage: push_image REGISTRY_ADDR REPOSITORY TAG SEED
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, repo, tag, seed] = args.as_slice() else {
        anyhow::bail!("usage: push_image REGISTRY_ADDR REPOSITORY TAG SEED");
    };
    let digest = portcullis_testkit::push_image(addr, repo, tag, seed.as_bytes()).await?;
    println!("{digest}");
    Ok(())
}
