//! The supply-chain subcommands, with flags that mirror cosign's where cosign has one:
//! `keygen`, `sign`, `attest`, `predicate`, `verify`, `verify-attestation`, `verify-blob`, `provenance` (keyless flags in
//! [`keyless`]). Each exits 0 only on success and otherwise prints one line saying why on stderr.

pub mod audit;
pub mod common;
pub mod evaluate;
pub mod image_facts;
pub mod inputs;
pub mod keygen;
pub mod keyless;
pub mod predicate;
pub mod provenance;
pub mod sign;
pub mod verify;
pub mod verify_blob;
pub mod version;
