//! Registry credentials and token auth.
//!
//! Credentials come from a docker `config.json` or a Kubernetes `.dockerconfigjson` secret (the
//! same format: `{"auths": {"host": {"auth": base64(user:pass)}}}`, or `username`/`password`).
//! Registries that answer 401 with a `Bearer` challenge get a token from the realm named in it
//! (the distribution token protocol); `Basic` challenges get the credentials directly.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

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

/// Credentials by registry host.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
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

    /// Parses the JSON of a docker config; the error is a plain message.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let cfg: DockerConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut by_host = HashMap::new();
        for (key, entry) in cfg.auths {
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
            by_host.insert(normalize_host(&key), cred);
        }
        Ok(Self { by_host })
    }

    /// The credential for a registry host (`docker.io` matches Docker Hub's legacy keys).
    pub fn get(&self, registry: &str) -> Option<&Credential> {
        self.by_host.get(&normalize_host(registry))
    }

    pub fn insert(&mut self, registry: &str, cred: Credential) {
        self.by_host.insert(normalize_host(registry), cred);
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://reg:5000/` → `reg:5000`.
fn normalize_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        other => other.to_string(),
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
