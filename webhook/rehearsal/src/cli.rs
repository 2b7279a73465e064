//! `rehearse` flags (clap derive; each also an environment variable under
//! `PORTCULLIS_REHEARSAL_`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::launch::ConfigMapOverride;

/// Drive `portcullis serve` from rendered manifests the way the Kubernetes API server would:
/// start it as the rendered Deployment says, then send every rendered workload (and the
/// ReplicaSets, Jobs and Pods its controllers would create) through the rendered webhook
/// configurations. It acts like an API server for admission; it is not one.
///
/// Exit status: 0 when every expectation held, 1 when one did not (or the webhook could not be
/// started), 2 on bad input.
#[derive(Debug, Clone, Parser)]
#[command(name = "rehearse", version)]
pub struct Args {
    /// A rendered webhook overlay (`kubectl kustomize deploy/overlays/ENV/webhook`), as
    /// LABEL=FILE or FILE (label: the file name without extension). Repeatable: each rendering
    /// is rehearsed in turn with its own Deployment, TLS and webhook configurations.
    #[arg(
        long = "webhook",
        env = "PORTCULLIS_REHEARSAL_WEBHOOK",
        value_name = "[LABEL=]FILE",
        value_delimiter = ',',
        required = true
    )]
    pub webhooks: Vec<String>,
    /// A rendered workloads overlay (`kubectl kustomize deploy/overlays/ENV/workloads`): every
    /// pod-carrying object in it is admitted. Its Namespaces give the namespace labels.
    /// Repeatable.
    #[arg(
        long = "workloads",
        env = "PORTCULLIS_REHEARSAL_WORKLOADS",
        value_name = "FILE",
        value_delimiter = ',',
        required = true
    )]
    pub workloads: Vec<PathBuf>,
    /// The `portcullis` binary that stands in for the container image's entrypoint.
    #[arg(long, env = "PORTCULLIS_REHEARSAL_PORTCULLIS", value_name = "PATH")]
    pub portcullis: PathBuf,
    /// The webhook's Deployment in the rendering.
    #[arg(
        long,
        env = "PORTCULLIS_REHEARSAL_DEPLOYMENT",
        value_name = "NAMESPACE/NAME",
        default_value = "portcullis-system/portcullis"
    )]
    pub deployment: String,
    /// Its container (default: the first).
    #[arg(long, env = "PORTCULLIS_REHEARSAL_CONTAINER")]
    pub container: Option<String>,
    /// Where volumes, logs, reviews and responses are written (per rendering; emptied first).
    #[arg(
        long,
        env = "PORTCULLIS_REHEARSAL_WORK_DIR",
        default_value = ".work/rehearsal"
    )]
    pub work_dir: PathBuf,
    /// Replace (or add) a ConfigMap key with a file's content before it is mounted, e.g. a test
    /// trust root in place of the public one. NAME may omit kustomize's hash suffix. Repeatable.
    #[arg(
        long = "configmap",
        env = "PORTCULLIS_REHEARSAL_CONFIGMAPS",
        value_name = "NAMESPACE/NAME/KEY=FILE",
        value_delimiter = ','
    )]
    pub configmaps: Vec<ConfigMapOverride>,
    /// Arguments appended to the container's args, split at spaces, e.g.
    /// "--allow-http-registry 127.0.0.1:5000". Repeatable.
    #[arg(
        long = "serve-arg",
        env = "PORTCULLIS_REHEARSAL_SERVE_ARGS",
        value_name = "ARGS",
        allow_hyphen_values = true,
        value_delimiter = ' '
    )]
    pub serve_args: Vec<String>,
    /// An environment variable for the webhook process (set or replaced). Repeatable.
    #[arg(long = "env", env = "PORTCULLIS_REHEARSAL_ENV", value_name = "KEY=VALUE", value_parser = key_value, value_delimiter = ',')]
    pub env: Vec<(String, String)>,
    /// A cases file (YAML or JSON): variants of rendered objects with their expectations.
    #[arg(long, env = "PORTCULLIS_REHEARSAL_CASES", value_name = "FILE")]
    pub cases: Option<PathBuf>,
    /// After the replay, stop the webhook and replay again: each outcome must follow the
    /// matching configurations' failurePolicy (Ignore: admitted; Fail: denied "failed calling
    /// webhook").
    #[arg(long, env = "PORTCULLIS_REHEARSAL_WEBHOOK_DOWN")]
    pub webhook_down: bool,
    /// Whether admitted Pods' images must be pinned to a digest (default: the cases file's
    /// `pinned`, else required).
    #[arg(long, env = "PORTCULLIS_REHEARSAL_PINS", value_enum)]
    pub pins: Option<Pins>,
    /// The user who creates the rendered objects (the GitOps controller applying them).
    #[arg(
        long,
        env = "PORTCULLIS_REHEARSAL_USER",
        default_value = "system:serviceaccount:flux-system:kustomize-controller"
    )]
    pub user: String,
    /// That user's groups (default: a service account's groups, or system:authenticated).
    #[arg(
        long = "group",
        env = "PORTCULLIS_REHEARSAL_GROUPS",
        value_delimiter = ','
    )]
    pub groups: Vec<String>,
    /// Send every request with dryRun: true (controllers then create nothing).
    #[arg(long, env = "PORTCULLIS_REHEARSAL_DRY_RUN")]
    pub dry_run: bool,
    /// Do not replay what the controllers would create.
    #[arg(long, env = "PORTCULLIS_REHEARSAL_NO_CONTROLLERS")]
    pub no_controllers: bool,
    /// Seconds to wait for the webhook's readiness probe.
    #[arg(
        long,
        env = "PORTCULLIS_REHEARSAL_READY_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub ready_timeout: u64,
    /// Seconds to wait for the webhook to exit after SIGTERM before SIGKILL.
    #[arg(
        long,
        env = "PORTCULLIS_REHEARSAL_STOP_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub stop_timeout: u64,
}

/// The pin check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pins {
    /// Every admitted Pod's images carry `@sha256:`.
    Required,
    /// Not checked (e.g. no image policy pins anything yet).
    Off,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let a = Args::try_parse_from([
            "rehearse",
            "--webhook",
            "dev=d.yaml",
            "--webhook",
            "s.yaml",
            "--workloads",
            "w.yaml",
            "--portcullis",
            "bin/portcullis",
            "--serve-arg",
            "--allow-http-registry 127.0.0.1:5000",
            "--serve-arg=--cache-tag-ttl=0s",
            "--configmap",
            "ns/cm/k=f",
            "--env",
            "A=b=c",
            "--pins",
            "off",
        ])
        .unwrap();
        assert_eq!(a.webhooks, ["dev=d.yaml", "s.yaml"]);
        assert_eq!(
            a.serve_args,
            [
                "--allow-http-registry",
                "127.0.0.1:5000",
                "--cache-tag-ttl=0s"
            ]
        );
        assert_eq!(a.env, [("A".to_string(), "b=c".to_string())]);
        assert_eq!(a.configmaps[0].key, "k");
        assert_eq!(a.pins, Some(Pins::Off));
        assert!(
            Args::try_parse_from(["rehearse", "--workloads", "w", "--portcullis", "p"]).is_err()
        );
        let e = Args::try_parse_from([
            "rehearse",
            "--webhook",
            "a",
            "--workloads",
            "w",
            "--portcullis",
            "p",
            "--env",
            "=x",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("KEY=VALUE"), "{e}");
    }
}
