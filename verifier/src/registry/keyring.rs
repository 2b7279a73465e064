//! Which docker config `auths` keys apply to an image, the way the kubelet's credential keyring
//! decides it, so a pull secret means the same to verification as it does to the pull.
//!
//! A key is `host`, `host:port` or `host/path`, with or without `https://` / `http://`; `/v1/`
//! and `/v2/` right after the host mean the host itself (Docker Hub's legacy
//! `https://index.docker.io/v1/`). A key applies to an image when:
//! 1. the ports are equal (none on both sides, or the same number);
//! 2. the hosts have as many dot-separated labels, each matching as a glob (`*.example.com`
//!    covers `a.example.com`, not `example.com` nor `a.b.example.com`);
//! 3. the key's path is a prefix of the image's repository (a string prefix, as the kubelet
//!    compares it: `team` also covers `teamx/app`).
//!
//! Several keys may apply; the most specific is tried first: the longest path, then the fewest
//! wildcard labels. Docker Hub's hosts (`index.docker.io`, `registry-1.docker.io`) are read as
//! `docker.io`, the registry name image references use.
//!
//! This module does no I/O and knows nothing of credentials: [`super::auth::Credentials`] keeps
//! one [`AuthKey`] per entry and asks it.

/// A parsed `auths` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKey {
    /// Lower-cased host labels; a label may hold `*` / `?` glob characters.
    labels: Vec<String>,
    /// The port, empty when the key has none.
    port: String,
    /// The repository prefix, without its leading `/`; empty for a whole host.
    path: String,
}

impl AuthKey {
    pub fn parse(key: &str) -> Self {
        let rest = key.trim();
        let rest = rest
            .strip_prefix("https://")
            .or_else(|| rest.strip_prefix("http://"))
            .unwrap_or(rest);
        let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
        // `/v1/` and `/v2/` name the registry API root, i.e. the host itself.
        let path = match path {
            "v1" | "v2" | "/" => "",
            p => p
                .strip_prefix("v1/")
                .or_else(|| p.strip_prefix("v2/"))
                .unwrap_or(p),
        };
        let (host, port) = split_port(host_port);
        Self {
            labels: canonical_host(host).split('.').map(str::to_owned).collect(),
            port: port.to_owned(),
            path: path.to_owned(),
        }
    }

    /// Whether this key applies to `repository` at `registry` (`host` or `host:port`).
    pub fn matches(&self, registry: &str, repository: &str) -> bool {
        let (host, port) = split_port(registry);
        if port != self.port {
            return false;
        }
        let host = canonical_host(host);
        let labels: Vec<&str> = host.split('.').collect();
        labels.len() == self.labels.len()
            && repository.starts_with(&self.path)
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|(pattern, label)| glob(pattern.as_bytes(), label.as_bytes()))
    }

    /// Orders keys most specific first: the longer path, then fewer wildcard labels.
    pub fn specificity(&self) -> (usize, std::cmp::Reverse<usize>) {
        let wildcards = self
            .labels
            .iter()
            .filter(|l| l.contains(['*', '?']))
            .count();
        (self.path.len(), std::cmp::Reverse(wildcards))
    }
}

/// `host:port` → (`host`, `port`); a host without a numeric port → (`host`, "").
fn split_port(host_port: &str) -> (&str, &str) {
    match host_port.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port)
        }
        _ => (host_port, ""),
    }
}

/// Lower-cased, Docker Hub's API hosts read as `docker.io`.
fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host,
    }
}

/// Glob match of one host label: `*` any run of characters, `?` one character.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            glob(rest, text) || text.split_first().is_some_and(|(_, t)| glob(pattern, t))
        }
        (Some((b'?', rest)), Some((_, t))) => glob(rest, t),
        (Some((p, rest)), Some((c, t))) if p == c => glob(rest, t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applies(key: &str, registry: &str, repository: &str) -> bool {
        AuthKey::parse(key).matches(registry, repository)
    }

    #[test]
    fn host_and_port_must_both_match() {
        assert!(applies(
            "registry.example.com",
            "registry.example.com",
            "a/b"
        ));
        assert!(applies(
            "https://registry.example.com/",
            "registry.example.com",
            "a"
        ));
        assert!(applies("http://127.0.0.1:5000", "127.0.0.1:5000", "app"));
        assert!(!applies("127.0.0.1:5000", "127.0.0.1:5001", "app"));
        assert!(!applies("127.0.0.1:5000", "127.0.0.1", "app"));
        assert!(!applies("127.0.0.1", "127.0.0.1:5000", "app"));
        assert!(!applies("example.com", "registry.example.com", "app"));
        assert!(applies("Registry.Example.COM", "registry.example.com", "a"));
    }

    #[test]
    fn a_path_is_a_repository_prefix() {
        assert!(applies("quay.io/coreos", "quay.io", "coreos/etcd"));
        assert!(applies("quay.io/coreos/", "quay.io", "coreos/etcd"));
        assert!(!applies("quay.io/coreos", "quay.io", "prometheus/node"));
        // A string prefix, as the kubelet compares it.
        assert!(applies("quay.io/core", "quay.io", "coreos/etcd"));
        assert!(!applies("quay.io/coreos/etcd-x", "quay.io", "coreos/etcd"));
    }

    #[test]
    fn wildcards_cover_one_label_each() {
        assert!(applies("*.example.com", "a.example.com", "app"));
        assert!(applies("https://*.example.com", "b.example.com", "app"));
        assert!(!applies("*.example.com", "example.com", "app"));
        assert!(!applies("*.example.com", "a.b.example.com", "app"));
        assert!(applies("*.*.example.com", "a.b.example.com", "app"));
        assert!(applies("reg-?.example.com", "reg-1.example.com", "app"));
        assert!(applies(
            "reg*.example.com:443",
            "registry.example.com:443",
            "x"
        ));
        assert!(!applies("*.example.com", "a.example.org", "app"));
    }

    #[test]
    fn docker_hub_keys_name_docker_io() {
        assert!(applies(
            "https://index.docker.io/v1/",
            "docker.io",
            "library/nginx"
        ));
        assert!(applies(
            "registry-1.docker.io",
            "docker.io",
            "library/nginx"
        ));
        assert!(applies("docker.io", "docker.io", "library/nginx"));
        assert!(applies("https://ghcr.io/v2/", "ghcr.io", "org/app"));
        assert!(applies("https://ghcr.io/v2/org", "ghcr.io", "org/app"));
        assert!(
            !applies("ghcr.io/v1app", "ghcr.io", "app"),
            "only the /v1/ segment is the root"
        );
    }

    #[test]
    fn the_longer_path_then_the_exact_host_is_more_specific() {
        let mut keys = [
            "*.example.com",
            "registry.example.com",
            "registry.example.com/team",
            "*.example.com/team/app",
        ]
        .map(AuthKey::parse);
        keys.sort_by_key(|k| std::cmp::Reverse(k.specificity()));
        let order: Vec<_> = keys.iter().map(|k| k.path.as_str()).collect();
        assert_eq!(order, ["team/app", "team", "", ""]);
        assert_eq!(
            keys[2].labels[0], "registry",
            "the exact host before the wildcard"
        );
    }
}
