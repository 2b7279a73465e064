//! Test harness shared by the verifier's and the webhook's integration tests.
//!
//! It gives tests real things to talk to, all on loopback and all owned by the test:
//! - [`Registry`]: a real `docker-registry` (CNCF distribution) process on a free port with its
//!   storage in a temporary directory, which can be stopped and restarted mid-test;
//! - [`Proxy`]: a small HTTP/1.1 reverse proxy in front of it that counts requests and the
//!   [`round_trips`] they took (sequential waves, not requests), injects faults (error statuses
//!   with `Retry-After`, dropped connections, slow responses), and with
//!   [`Proxy::with_referrers_api`] serves the OCI 1.1 referrers API the registry lacks;
//! - [`push_image`] / [`push_index`]: tiny but valid OCI images and indexes built in memory and
//!   pushed over the registry HTTP API;
//! - [`tls_connector`] / [`http_get`]: clients for the servers a test starts (the webhook's TLS
//!   listener, trusting one CA only, and its plain admin listener);
//! - [`cosign::Cosign`]: the pinned cosign 2.5 and 3.1 binaries, each in a directory of its own;
//! - [`corpus`] / [`tool`]: locate the test corpora (`testdata/corpora`) and the external tools
//!   (`cosign`, `docker-registry`, `skopeo`); a missing one fails the test, naming the fix;
//! - [`TestCa`] (feature `pki`): a self-signed CA issuing serving certificates;
//! - [`apiserver::ApiServer`] (feature `apiserver`): an HTTPS server speaking the Kubernetes
//!   list/watch protocol (lists, pagination, watches, bookmarks, `410 Gone`, status patches,
//!   simplified server-side apply, merge patches and deletes of objects, bearer tokens, `403`s)
//!   for the resources a test gives it, with faults on demand. It is not a real API server: no
//!   admission, schemas, discovery, conflicts between field managers, or creates other than by
//!   apply;
//! - [`sigstore`] (feature `sigstore`): a private Sigstore (Fulcio-like CA, Rekor-like log,
//!   timestamp authority, CT log) that signs images, blobs and attestations keylessly.
//!
//! Without the `sigstore` feature it knows nothing about signatures, policies or admission. With
//! it, it links the verifier for its key, registry and cosign types, so it sits beside the
//! verifier's and the webhook's tests as a dev-dependency only, and never ships in a binary.
//! Errors are `anyhow` because this is test-support wiring.

#[cfg(feature = "apiserver")]
pub mod apiserver;
pub mod cosign;
mod http;
mod locate;
mod net;
mod oci;
#[cfg(feature = "pki")]
mod pki;
mod proxy;
mod push;
pub mod referrers_api;
mod registry;
pub mod round_trips;
mod run;
#[cfg(feature = "sigstore")]
pub mod sigstore;

pub use http::{http_get, tls_connector};
pub use locate::{corpora_root, corpus, tool, try_corpus, try_tool, workspace_root};
pub use net::free_port;
pub use oci::{OCI_INDEX, OCI_MANIFEST, Platform};
#[cfg(feature = "pki")]
pub use pki::TestCa;
pub use proxy::Proxy;
pub use push::{push_image, push_image_for, push_index};
pub use registry::Registry;
pub use run::stdout_of;
