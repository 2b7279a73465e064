//! `rehearse`: an admission rehearsal driven by what `deploy/` renders. It starts `portcullis
//! serve` exactly as the rendered Deployment says (ConfigMaps materialised, the cert-manager
//! Secret generated locally, listen addresses moved to loopback) and then acts like the
//! Kubernetes API server for admission: it sends every rendered pod-carrying object, and what its
//! controllers would create, through the rendered webhook configurations — rules, selectors, CEL
//! matchConditions, failurePolicy, timeouts, TLS against the caBundle, reinvocation — and checks
//! the outcomes against expectations.
//!
//! It is not an API server: nothing is stored beyond one request's children, no authorization,
//! defaulting, validation or other admission plugins run, and no cluster is involved. It is a
//! test tool in the workspace, never linked into the `portcullis` binary.
//!
//! Flow: [`cli`] → [`run`] → per rendering [`launch`] (plan, process) and [`targets`] → per
//! object [`replay`] → [`dispatch`] (with [`rules`], [`selector`], [`conditions`], [`client`]) →
//! [`controllers`] for the children → [`report`].

pub mod answer;
pub mod cases;
pub mod cli;
pub mod client;
pub mod conditions;
pub mod controllers;
pub mod dispatch;
pub mod launch;
pub mod manifests;
pub mod pki;
pub mod replay;
pub mod report;
pub mod review;
pub mod rules;
pub mod run;
pub mod selector;
pub mod targets;
pub mod webhooks;
