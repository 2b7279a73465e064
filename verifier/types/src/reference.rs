//! Image references: `[registry[:port]/]repository[:tag][@sha256:hex]`, parsed with the same
//! defaults as the Docker CLI and the kubelet (`nginx` is `docker.io/library/nginx:latest`).
//!
//! Parsing is strict: an invalid reference is an error naming the offending part, never a guess.
//! Resolving a tag to a digest is the registry client's job (`portcullis_verifier::registry`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The registry that short names resolve to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The host that serves `docker.io`'s registry API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A content digest, `sha256:<64 lowercase hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error(
        "image reference {reference:?}: invalid repository {repository:?} (lowercase letters, digits and . _ - separators)"
    )]
    Repository {
        reference: String,
        repository: String,
    },
    #[error("image reference {reference:?}: invalid tag {tag:?}")]
    Tag { reference: String, tag: String },
    #[error("invalid digest {digest:?}: expected sha256: followed by 64 lowercase hex digits")]
    Digest { digest: String },
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(ReferenceError::Digest { digest: s.into() })
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = ReferenceError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ImageRef {
    /// The registry as written or defaulted (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host[:port] that serves this registry's API.
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag or digest to ask the registry for: the digest if pinned, else the tag
    /// (`latest` when neither was written).
    pub fn reference(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            (None, None) => "latest",
        }
    }

    /// The same repository at `digest`, keeping the tag for readability (`repo:tag@sha256:…`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository at another tag (used for cosign's `sha256-<hex>.sig` tags).
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository`, the name cosign signs in `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            Some(_) => (DEFAULT_REGISTRY.to_string(), name.to_string()),
            None => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if !valid_repository(&repository) {
            return Err(ReferenceError::Repository {
                reference: s.into(),
                repository,
            });
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(ReferenceError::Tag {
                reference: s.into(),
                tag: t.into(),
            });
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

impl TryFrom<String> for ImageRef {
    type Error = ReferenceError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ImageRef> for String {
    fn from(r: ImageRef) -> Self {
        r.to_string()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.split('/').all(|part| {
            let b = part.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && alnum(&b[0])
                && alnum(&b[b.len() - 1])
                && b.iter()
                    .all(|c| alnum(c) || matches!(c, b'.' | b'_' | b'-'))
        })
}

fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b";

    #[test]
    fn defaults_like_docker() {
        let r: ImageRef = "nginx".parse().unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("docker.io", "library/nginx", None)
        );
        assert_eq!(r.reference(), "latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r: ImageRef = "org/app:1.2".parse().unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("docker.io", "org/app", Some("1.2"))
        );
    }

    #[test]
    fn registry_with_port_tag_and_digest() {
        let r: ImageRef = format!("127.0.0.1:5000/team/app:v1@{D}").parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().map(Digest::as_str), Some(D));
        assert_eq!(r.reference(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/team/app:v1@{D}"));
        let r: ImageRef = "localhost/app".parse().unwrap();
        assert_eq!(r.registry(), "localhost");
        let r: ImageRef = "index.docker.io/library/busybox".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox");
    }

    #[test]
    fn rejects_invalid_parts() {
        assert_eq!("".parse::<ImageRef>(), Err(ReferenceError::Empty));
        assert!(matches!(
            "Nginx".parse::<ImageRef>(),
            Err(ReferenceError::Repository { .. })
        ));
        assert!(matches!(
            "nginx:-bad".parse::<ImageRef>(),
            Err(ReferenceError::Tag { .. })
        ));
        assert!(matches!(
            "nginx@sha256:abc".parse::<ImageRef>(),
            Err(ReferenceError::Digest { .. })
        ));
        assert!(matches!(
            "reg.io//x".parse::<ImageRef>(),
            Err(ReferenceError::Repository { .. })
        ));
    }

    #[test]
    fn digest_of_bytes() {
        let d = Digest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
