//! The `portcullis` binary's library: command-line parsing, the supply-chain subcommands
//! (`keygen`, `sign`, `attest`, `predicate`, `verify`, `verify-attestation`, `verify-blob`), the
//! predicates `attest` builds from SBOMs and scan reports, offline `evaluate`, and the admission
//! server (`serve`). It sits on top of the policy engine and the verifier.

pub mod cli;
pub mod commands;
pub mod duration;
pub mod kubeconfig;
pub mod mirrors;
pub mod predicates;
pub mod serve;
