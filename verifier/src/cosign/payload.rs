//! The simple-signing payload cosign signs for an image: it binds the signature to a manifest
//! digest (and names the repository, which cosign does not enforce on verify; neither do we,
//! so that images can be copied between registries with their signatures).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::reference::{Digest, ImageRef};

/// The payload `type` cosign writes and requires.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    /// Free-form annotations (`-a key=value` on `cosign sign`); `null` when there are none.
    #[serde(default)]
    pub optional: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: ImageDigest,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageDigest {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for `image` at `digest`, as cosign writes it.
    pub fn new(image: &ImageRef, digest: &Digest) -> Self {
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: image.name(),
                },
                image: ImageDigest {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: PAYLOAD_TYPE.into(),
            },
            optional: None,
        }
    }

    /// Parses payload bytes; the error is a human-readable cause.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let p: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if p.critical.kind != PAYLOAD_TYPE {
            return Err(format!(
                "payload type is {:?}, expected {PAYLOAD_TYPE:?}",
                p.critical.kind
            ));
        }
        Ok(p)
    }

    pub fn digest(&self) -> &str {
        &self.critical.image.docker_manifest_digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_cosign() {
        let img: ImageRef = "127.0.0.1:5000/app:v1".parse().unwrap();
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&SimpleSigning::new(&img, &d)).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        assert_eq!(
            SimpleSigning::parse(json.as_bytes()).unwrap().digest(),
            d.as_str()
        );
        assert!(SimpleSigning::parse(json.replace("container image", "blob").as_bytes()).is_err());
    }
}
