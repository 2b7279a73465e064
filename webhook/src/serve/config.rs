//! `portcullis serve` flags. Every flag is also an environment variable under `PORTCULLIS_`
//! (12-factor), grouped by concern with `#[clap(flatten)]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use portcullis_policies::NoMatch;

use super::cluster::ClusterPolicies;
use super::reports::ReportArgs;
use crate::duration::clap_duration;
use crate::mirrors::MirrorArgs;

/// Run the admission webhook server.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[clap(flatten)]
    pub server: ServerArgs,
    #[clap(flatten)]
    pub admin: AdminArgs,
    #[clap(flatten)]
    pub policy: PolicyArgs,
    #[clap(flatten)]
    pub registry: RegistryArgs,
    #[clap(flatten)]
    pub cache: CacheArgs,
    #[clap(flatten)]
    pub reports: ReportArgs,
}

/// The TLS admission listener and request handling.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address of the TLS admission listener (`POST /validate`, `POST /mutate`).
    #[arg(long, env = "PORTCULLIS_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate chain served on the admission listener; re-read when it changes.
    #[arg(long, env = "PORTCULLIS_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for --tls-cert; re-read when it changes.
    #[arg(long, env = "PORTCULLIS_TLS_KEY")]
    pub tls_key: PathBuf,
    /// Time kept back from the API server's `?timeout=` to write the answer; image
    /// verification gets the rest.
    #[arg(long, env = "PORTCULLIS_TIMEOUT_MARGIN", default_value = "1s", value_parser = clap_duration)]
    pub timeout_margin: Duration,
    /// Deadline used when the request has no `?timeout=` (the API server's default is 10s).
    #[arg(long, env = "PORTCULLIS_DEFAULT_TIMEOUT", default_value = "10s", value_parser = clap_duration)]
    pub default_timeout: Duration,
    /// After SIGTERM/SIGINT: how long to keep accepting (while /readyz fails) so load balancers
    /// and endpoints notice before the listener closes.
    #[arg(long, env = "PORTCULLIS_SHUTDOWN_GRACE", default_value = "5s", value_parser = clap_duration)]
    pub shutdown_grace: Duration,
    /// After the listener closes: how long in-flight reviews may take to finish.
    #[arg(long, env = "PORTCULLIS_DRAIN_TIMEOUT", default_value = "15s", value_parser = clap_duration)]
    pub drain_timeout: Duration,
    /// How often the certificate and key files are checked for changes.
    #[arg(long, env = "PORTCULLIS_TLS_RELOAD_INTERVAL", default_value = "1s", value_parser = clap_duration)]
    pub tls_reload_interval: Duration,
}

/// The plaintext admin listener and logging.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Address of the plaintext admin listener (`/livez`, `/readyz`, `/metrics`).
    #[arg(long, env = "PORTCULLIS_ADMIN_LISTEN", default_value = "0.0.0.0:8080")]
    pub admin_listen: SocketAddr,
    /// Log format on stderr.
    #[arg(long, env = "PORTCULLIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces (a span per review, a child per image verification).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Where policies come from.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// A directory of YAML policy files (`*.yaml`, `*.yml`; hidden entries such as a ConfigMap's
    /// `..data` are skipped) or a single file. Repeatable. Watched and reloaded on change. Used
    /// together with the cluster's policy objects when the watch is on; needed when it is off.
    #[arg(long = "policy", env = "PORTCULLIS_POLICY", value_delimiter = ',')]
    pub paths: Vec<PathBuf>,
    /// Watch the policy custom resources (ClusterImagePolicy, ClusterGuardrailPolicy,
    /// ImagePolicy, GuardrailPolicy) and write their status. auto: when --kubeconfig, KUBECONFIG
    /// or an in-cluster service account is present.
    #[arg(long, env = "PORTCULLIS_CLUSTER_POLICIES", value_enum, default_value_t = ClusterPolicies::Auto)]
    pub cluster_policies: ClusterPolicies,
    /// The kubeconfig that says where the API server is and who we are (else the standard
    /// resolution: KUBECONFIG, ~/.kube/config, the in-cluster service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// How often the policy paths are checked for changes.
    #[arg(long, env = "PORTCULLIS_POLICY_RELOAD_INTERVAL", default_value = "1s", value_parser = clap_duration)]
    pub policy_reload_interval: Duration,
    /// A Sigstore `trusted_root.json` that keyless authorities name (`spec.authorities.keyless.
    /// trustedRoot: NAME`), e.g. a mounted ConfigMap. Repeatable; reloaded with the policies.
    #[arg(
        long = "trusted-root",
        env = "PORTCULLIS_TRUSTED_ROOTS",
        value_name = "NAME=FILE",
        value_delimiter = ',',
        value_parser = named_path
    )]
    pub trusted_roots: Vec<NamedPath>,
    /// What happens to an image no ClusterImagePolicy covers: allow (silently), warn (admit with
    /// a warning naming the image) or deny.
    #[arg(
        long,
        env = "PORTCULLIS_NO_MATCH",
        value_name = "allow|warn|deny",
        default_value = "warn"
    )]
    pub no_match: NoMatch,
    /// Namespaces where PolicyExceptions count (`*`: every namespace). An exception elsewhere is
    /// loaded but inactive. Unset: no exception counts.
    #[arg(
        long,
        env = "PORTCULLIS_EXCEPTION_NAMESPACES",
        value_name = "NAMESPACE",
        value_delimiter = ','
    )]
    pub exception_namespaces: Vec<String>,
}

/// `NAME=FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPath {
    pub name: String,
    pub path: PathBuf,
}

pub fn named_path(s: &str) -> Result<NamedPath, String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => Ok(NamedPath {
            name: name.to_string(),
            path: PathBuf::from(path),
        }),
        _ => Err(format!("expected NAME=FILE, got {s:?}")),
    }
}

/// How registries are reached (consumed by the verifier).
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Registry credentials: a docker `config.json` or a Kubernetes `.dockerconfigjson`.
    #[arg(long, env = "PORTCULLIS_REGISTRY_CONFIG")]
    pub registry_config: Option<PathBuf>,
    #[clap(flatten)]
    pub mirrors: MirrorArgs,
    /// A registry `HOST[:PORT]` that may be reached over plain HTTP. Repeatable.
    #[arg(
        long = "allow-http-registry",
        env = "PORTCULLIS_ALLOW_HTTP_REGISTRY",
        value_delimiter = ','
    )]
    pub allow_http_registries: Vec<String>,
    /// Verify each workload's images with its own registry credentials: the pod's
    /// `imagePullSecrets` and its ServiceAccount's (`kubernetes.io/dockerconfigjson` and
    /// `kubernetes.io/dockercfg` secrets), tried before --registry-config, matched to images as
    /// the kubelet matches them. Needs the cluster connection (--kubeconfig or in-cluster, not
    /// --cluster-policies=off) and RBAC to get secrets and serviceaccounts.
    #[arg(long, env = "PORTCULLIS_POD_PULL_SECRETS")]
    pub pod_pull_secrets: bool,
    /// How long a pull secret or ServiceAccount read for --pod-pull-secrets is reused.
    #[arg(long, env = "PORTCULLIS_PULL_SECRET_TTL", default_value = "30s", value_parser = clap_duration)]
    pub pull_secret_ttl: Duration,
    /// Requests in flight at once per registry host; more wait their turn (within their
    /// review's deadline). A 429 or 503 pauses every request to that host for its Retry-After,
    /// so a rate-limited registry refuses at most about this many requests per pause.
    #[arg(long, env = "PORTCULLIS_REGISTRY_MAX_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub registry_max_concurrency: u32,
}

/// The verifier's verdict cache.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// How long a successful verification is reused.
    #[arg(long, env = "PORTCULLIS_CACHE_TTL", default_value = "5m", value_parser = clap_duration)]
    pub cache_ttl: Duration,
    /// How long a failed verification that is about the image (not the network) is reused.
    #[arg(long, env = "PORTCULLIS_CACHE_NEGATIVE_TTL", default_value = "30s", value_parser = clap_duration)]
    pub cache_negative_ttl: Duration,
    /// Maximum number of cached verdicts.
    #[arg(long, env = "PORTCULLIS_CACHE_SIZE", default_value_t = 10_000)]
    pub cache_size: u64,
    /// How long a tag's digest is reused. Where admitted objects are pinned to the verified
    /// digest (Pods; controllers with mutateDigestControllers) a re-pushed tag cannot slip in;
    /// elsewhere keep it short. 0s resolves the tag on every review.
    #[arg(long, env = "PORTCULLIS_CACHE_TAG_TTL", default_value = "30s", value_parser = clap_duration)]
    pub cache_tag_ttl: Duration,
    /// Verifications cut off by their review's deadline that may run on at once to cache their
    /// verdict for the retry; beyond that a cut-off verification is stopped. 0: none. Waiting
    /// ones cost little (requests per registry are bounded by --registry-max-concurrency).
    #[arg(
        long,
        env = "PORTCULLIS_BACKGROUND_VERIFICATIONS",
        default_value_t = 1024
    )]
    pub background_verifications: usize,
    /// Longest a verification runs from its start, its review answered or not.
    #[arg(long, env = "PORTCULLIS_BACKGROUND_LIFETIME", default_value = "2m", value_parser = clap_duration)]
    pub background_lifetime: Duration,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[clap(flatten)]
        serve: ServeArgs,
    }

    /// The required flags, then `extra`.
    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let required = [
            "portcullis",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--policy",
            "p",
        ];
        Cli::try_parse_from(required.iter().chain(extra))
    }

    #[test]
    fn flags_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--policy",
            "/p1",
            "--policy",
            "/p2",
            "--allow-http-registry",
            "127.0.0.1:5000",
            "--registry-mirror",
            "ghcr.io=127.0.0.1:5000/ghcr",
            "--timeout-margin",
            "500ms",
            "--log-format",
            "text",
        ])
        .unwrap();
        let s = cli.serve;
        assert_eq!(s.policy.paths, [PathBuf::from("/p1"), PathBuf::from("/p2")]);
        assert_eq!(s.server.timeout_margin, Duration::from_millis(500));
        assert_eq!(s.cache.cache_ttl, Duration::from_secs(300));
        assert_eq!(s.cache.cache_tag_ttl, Duration::from_secs(30));
        assert_eq!(s.registry.allow_http_registries, ["127.0.0.1:5000"]);
        assert_eq!(
            s.registry.mirrors.registry_mirrors,
            ["ghcr.io=127.0.0.1:5000/ghcr"
                .parse::<portcullis_verifier::Mirror>()
                .unwrap()]
        );
        assert_eq!(s.admin.log_format, LogFormat::Text);
        assert_eq!(s.server.listen.port(), 8443);
        assert_eq!(s.policy.no_match, NoMatch::Warn);
        assert_eq!(s.registry.registry_max_concurrency, 16);
        assert_eq!(s.cache.background_verifications, 1024);
        assert_eq!(s.cache.background_lifetime, Duration::from_secs(120));
    }

    #[test]
    fn registry_and_background_bounds_parse_and_zero_concurrency_is_refused() {
        let s = parse(&[
            "--registry-max-concurrency",
            "4",
            "--background-verifications",
            "0",
            "--background-lifetime",
            "2m",
        ])
        .unwrap()
        .serve;
        assert_eq!(s.registry.registry_max_concurrency, 4);
        assert_eq!(s.cache.background_verifications, 0);
        assert_eq!(s.cache.background_lifetime, Duration::from_secs(120));
        let e = parse(&["--registry-max-concurrency", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--registry-max-concurrency"), "{e}");
    }

    #[test]
    fn no_match_takes_allow_warn_or_deny() {
        let s = parse(&["--no-match", "deny"]).unwrap().serve;
        assert_eq!(s.policy.no_match, NoMatch::Deny);
        let e = parse(&["--no-match", "block"]).unwrap_err().to_string();
        assert!(e.contains("expected allow, warn or deny"), "{e}");
    }

    #[test]
    fn exception_namespaces_are_a_list_and_default_to_none() {
        assert!(
            parse(&[])
                .unwrap()
                .serve
                .policy
                .exception_namespaces
                .is_empty()
        );
        let s = parse(&["--exception-namespaces", "team-a,ops"])
            .unwrap()
            .serve;
        assert_eq!(s.policy.exception_namespaces, ["team-a", "ops"]);
    }

    #[test]
    fn bad_duration_is_a_clear_error() {
        let e = parse(&["--cache-ttl", "300"]).unwrap_err().to_string();
        assert!(e.contains("missing unit"), "{e}");
    }

    #[test]
    fn trusted_roots_are_name_file_pairs() {
        let cli = parse(&[
            "--trusted-root",
            "public=/t/a.json",
            "--trusted-root",
            "private=b.json",
        ])
        .unwrap();
        assert_eq!(
            cli.serve.policy.trusted_roots,
            [
                NamedPath {
                    name: "public".into(),
                    path: "/t/a.json".into()
                },
                NamedPath {
                    name: "private".into(),
                    path: "b.json".into()
                }
            ]
        );
        let e = parse(&["--registry-mirror", "ghcr.io"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("REGISTRY=HOST"), "{e}");
        for bad in ["a.json", "=a.json", "name="] {
            let e = parse(&["--trusted-root", bad]).unwrap_err().to_string();
            assert!(e.contains("expected NAME=FILE"), "{bad}: {e}");
        }
    }
}
