//! cosign's classic storage format: signatures and attestations as OCI artifacts under the tags
//! `sha256-<hex>.sig` and `sha256-<hex>.att` in the image's own repository.
//!
//! - `.sig`: one layer per signature, media type `application/vnd.dev.cosign.simplesigning.v1+json`,
//!   the layer blob is the simple-signing payload and the annotation
//!   `dev.cosignproject.cosign/signature` carries the base64 DER ECDSA signature over it.
//! - `.att`: one layer per attestation, media type `application/vnd.dsse.envelope.v1+json`, the
//!   blob a DSSE envelope whose payload is an in-toto Statement; the signature is in the envelope.

pub mod bundle_write;
pub mod dsse;
pub mod payload;
pub mod sign;

use crate::reference::{Digest, ImageRef};

pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// The artifact kinds cosign attaches to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Artifact {
    Signature,
    Attestation,
}

impl Artifact {
    fn suffix(self) -> &'static str {
        match self {
            Artifact::Signature => "sig",
            Artifact::Attestation => "att",
        }
    }
}

/// `sha256-<hex>.sig` / `.att`: the tag holding an image digest's artifacts.
pub fn artifact_tag(digest: &Digest, kind: Artifact) -> String {
    format!("sha256-{}.{}", digest.hex(), kind.suffix())
}

/// The reference of the artifact tag in the image's repository.
pub fn artifact_ref(image: &ImageRef, digest: &Digest, kind: Artifact) -> ImageRef {
    image.with_tag(&artifact_tag(digest, kind))
}
