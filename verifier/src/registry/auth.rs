//! Registry credentials and token auth.
//!
//! Credentials come from a docker `config.json` or a Kubernetes `.dockerconfigjson` secret (the
//! same format: `{"auths": {"host": {"auth": base64(user:pass)}}}`, or `username`/`password`).
//! Registries that answer 401 with a `Bearer` challenge get a token from the realm named in it
//! (the distribution token protocol); `Basic` challenges get the credentials directly. Which
//! entries apply to an image is the kubelet's rule ([`super::keyring`]); when several apply, the
//! client tries them most specific first.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use super::keyring::AuthKey;

/// A username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}:***)", self.username)
    }
}

/// Credentials by docker config key, matched to images the way the kubelet matches them
/// (see [`super::keyring`]): host, port, repository path prefix, `*` wildcards.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    entries: Vec<(AuthKey, Credential)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("registry config {path}: {cause}")]
    Config { path: String, cause: String },
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl Credentials {
    /// Reads a docker `config.json` or `.dockerconfigjson`.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let err = |cause: String| AuthError::Config {
            path: path.display().to_string(),
            cause,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::from_json(&text).map_err(err)
    }

    /// Parses the JSON of a docker config (`{"auths": {…}}`); the error is a plain message.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let cfg: DockerConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::from_auths(cfg.auths)
    }

    /// Parses the legacy `.dockercfg` form: the `auths` map alone, at the top level.
    pub fn from_dockercfg_json(text: &str) -> Result<Self, String> {
        let auths: HashMap<String, AuthEntry> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::from_auths(auths)
    }

    fn from_auths(auths: HashMap<String, AuthEntry>) -> Result<Self, String> {
        let mut keys: Vec<_> = auths.into_iter().collect();
        // The same entries in the same order whatever the map's iteration order.
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Self::default();
        for (key, entry) in keys {
            let cred = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) => {
                    let raw = B64
                        .decode(auth.trim())
                        .map_err(|e| format!("auths[{key}].auth is not base64: {e}"))?;
                    let raw = String::from_utf8(raw)
                        .map_err(|_| format!("auths[{key}].auth is not UTF-8"))?;
                    let (u, p) = raw
                        .split_once(':')
                        .ok_or_else(|| format!("auths[{key}].auth is not user:password"))?;
                    Credential {
                        username: u.into(),
                        password: p.into(),
                    }
                }
                (None, Some(username), Some(password)) => Credential { username, password },
                _ => continue,
            };
            out.entries.push((AuthKey::parse(&key), cred));
        }
        Ok(out)
    }

    /// The most specific host-wide credential for a registry (`host` or `host:port`).
    pub fn get(&self, registry: &str) -> Option<&Credential> {
        self.lookup(registry, "").into_iter().next()
    }

    /// Every credential whose key applies to `repository` at `registry`, most specific first
    /// (the order to try them in).
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<&Credential> {
        let mut found: Vec<_> = self
            .entries
            .iter()
            .filter(|(key, _)| key.matches(registry, repository))
            .collect();
        // Stable: among equally specific keys, the earlier entry first.
        found.sort_by_key(|(key, _)| std::cmp::Reverse(key.specificity()));
        found.into_iter().map(|(_, cred)| cred).collect()
    }

    /// Adds (or replaces) the credential for `key` (any docker config key form).
    pub fn insert(&mut self, key: &str, cred: Credential) {
        let key = AuthKey::parse(key);
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, cred));
    }

    /// Appends `other`'s entries after this one's (tried after them when equally specific).
    pub fn extend(&mut self, other: Credentials) {
        self.entries.extend(other.entries);
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut fields = HashMap::new();
        let mut rest = params;
        while let Some((k, v)) = rest.split_once('=') {
            let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let (value, tail) = match v.strip_prefix('"') {
                Some(q) => q.split_once('"').unwrap_or((q, "")),
                None => v.split_once(',').unwrap_or((v, "")),
            };
            fields.insert(k, value.to_string());
            rest = tail;
        }
        Some(Challenge::Bearer {
            realm: fields.remove("realm")?,
            service: fields.remove("service"),
            scope: fields.remove("scope"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_config_forms() {
        let json = r#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
            "127.0.0.1:5000": {"username": "ci", "password": "s3cret"},
            "ghcr.io": {"identitytoken": "x"}
        }}"#;
        let c = Credentials::from_json(json).unwrap();
        assert_eq!(
            c.get("docker.io").map(|c| c.username.as_str()),
            Some("user")
        );
        assert_eq!(
            c.get("127.0.0.1:5000").map(|c| c.password.as_str()),
            Some("s3cret")
        );
        assert!(c.get("ghcr.io").is_none());
        assert!(Credentials::from_json(r#"{"auths": {"x": {"auth": "!!"}}}"#).is_err());
    }

    #[test]
    fn lookup_tries_the_most_specific_key_first() {
        let json = r#"{"auths": {
            "*.example.com": {"username": "wild", "password": "w"},
            "registry.example.com": {"username": "host", "password": "h"},
            "https://registry.example.com/team": {"username": "team", "password": "t"},
            "other.example.com/team": {"username": "other", "password": "o"}
        }}"#;
        let c = Credentials::from_json(json).unwrap();
        let users = |registry: &str, repository: &str| -> Vec<String> {
            c.lookup(registry, repository)
                .into_iter()
                .map(|c| c.username.clone())
                .collect()
        };
        assert_eq!(
            users("registry.example.com", "team/app"),
            ["team", "host", "wild"]
        );
        assert_eq!(users("registry.example.com", "ops/app"), ["host", "wild"]);
        assert_eq!(users("other.example.com", "ops/app"), ["wild"]);
        assert_eq!(users("other.example.com", "team/app"), ["other", "wild"]);
        assert!(users("example.com", "team/app").is_empty());
        assert_eq!(
            c.get("registry.example.com").map(|c| c.username.as_str()),
            Some("host")
        );
    }

    #[test]
    fn legacy_dockercfg_and_merging() {
        let mut c =
            Credentials::from_dockercfg_json(r#"{"127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"}}"#)
                .unwrap();
        assert_eq!(
            c.get("127.0.0.1:5000").map(|c| c.username.as_str()),
            Some("user")
        );
        c.extend(
            Credentials::from_json(
                r#"{"auths": {"127.0.0.1:5000": {"username": "b", "password": "p"}}}"#,
            )
            .unwrap(),
        );
        let users: Vec<_> = c
            .lookup("127.0.0.1:5000", "app")
            .into_iter()
            .map(|c| c.username.as_str())
            .collect();
        assert_eq!(users, ["user", "b"], "equally specific: in the order added");
        c.insert(
            "127.0.0.1:5000",
            Credential {
                username: "c".into(),
                password: "p".into(),
            },
        );
        assert_eq!(c.len(), 1, "insert replaces every entry of its key");
        assert_eq!(
            c.get("127.0.0.1:5000").map(|c| c.username.as_str()),
            Some("c")
        );
    }

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull".into()),
            })
        );
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }
}
