//! Registry mirrors: every request for one registry goes to another host, optionally under a
//! path prefix (`ghcr.io=registry.internal:5000/ghcr`), as an air-gapped cluster, a pull-through
//! cache or a local rehearsal needs.
//!
//! The image keeps its name everywhere it is shown and judged (policies match `ghcr.io/…`,
//! admitted pods are pinned to `ghcr.io/…@sha256:…`); only the HTTP requests change host and
//! repository. Signatures carry digests, not hosts, so a mirror that copied an image with its
//! signatures and attestations verifies exactly like the original. There is no fallback to the
//! upstream registry: a mirror that cannot answer is an error naming the mirror, because a quiet
//! fallback would hide that an air-gapped cluster is reaching out.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// `REGISTRY=HOST[:PORT][/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry as images name it (`ghcr.io`, `docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The host\[:port\] that serves it instead.
    pub host: String,
    /// A repository prefix on the mirror (`ghcr` makes `ghcr.io/a/b` → `HOST/ghcr/a/b`), or empty.
    pub prefix: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "registry mirror {text:?}: {why} (expected REGISTRY=HOST[:PORT][/PREFIX], e.g. ghcr.io=127.0.0.1:5000)"
)]
pub struct MirrorError {
    pub text: String,
    pub why: &'static str,
}

impl FromStr for Mirror {
    type Err = MirrorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why| MirrorError {
            text: text.to_string(),
            why,
        };
        let (registry, target) = text.split_once('=').ok_or_else(|| err("no '='"))?;
        let (host, prefix) = target.split_once('/').unwrap_or((target, ""));
        let prefix = prefix.trim_matches('/');
        if !is_host(registry) {
            return Err(err("the registry is not a host[:port]"));
        }
        if !is_host(host) {
            return Err(err("the mirror is not a host[:port]"));
        }
        if registry == host && prefix.is_empty() {
            return Err(err("a registry cannot mirror itself"));
        }
        let valid_segment = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !prefix.is_empty() && !prefix.split('/').all(valid_segment) {
            return Err(err("the prefix is not a repository path"));
        }
        Ok(Self {
            registry: registry.to_string(),
            host: host.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.registry, self.host)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl Mirror {
    /// The repository on the mirror for `repository` on the mirrored registry.
    pub fn repository<'a>(&self, repository: &'a str) -> Cow<'a, str> {
        if self.prefix.is_empty() {
            Cow::Borrowed(repository)
        } else {
            Cow::Owned(format!("{}/{repository}", self.prefix))
        }
    }
}

fn is_host(s: &str) -> bool {
    let (name, port) = match s.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (s, None),
    };
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        && port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_prefix() {
        let m: Mirror = "ghcr.io=127.0.0.1:5000".parse().unwrap();
        assert_eq!((m.host.as_str(), m.prefix.as_str()), ("127.0.0.1:5000", ""));
        assert_eq!(m.repository("acme/app"), "acme/app");
        let m: Mirror = "docker.io=mirror.internal/hub/".parse().unwrap();
        assert_eq!(m.registry, "docker.io");
        assert_eq!(m.repository("library/nginx"), "hub/library/nginx");
        assert_eq!(m.to_string(), "docker.io=mirror.internal/hub");
    }

    #[test]
    fn rejects_what_is_not_a_mirror() {
        for (text, why) in [
            ("ghcr.io", "no '='"),
            ("=127.0.0.1:5000", "the registry is not a host[:port]"),
            ("ghcr.io=", "the mirror is not a host[:port]"),
            ("ghcr.io=host:port", "the mirror is not a host[:port]"),
            ("ghcr.io=ghcr.io", "a registry cannot mirror itself"),
            (
                "ghcr.io=m.internal/Upper",
                "the prefix is not a repository path",
            ),
        ] {
            let e = text.parse::<Mirror>().unwrap_err();
            assert_eq!(e.why, why, "{text}");
            assert!(e.to_string().contains("REGISTRY=HOST"), "{e}");
        }
    }
}
