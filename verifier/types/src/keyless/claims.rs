//! The claims Fulcio copies from an OIDC token into certificate extensions under
//! `1.3.6.1.4.1.57264.1.*`, by their Fulcio names, and how their values are encoded.
//!
//! Arcs 1–6 are the deprecated v1 set, whose values are raw string bytes (arc 1, the OIDC
//! issuer, is still what certificates issued before 2023 carry); arcs 8–22 are the v2 set, each
//! value a DER UTF8String. There is deliberately no fallback between the two sets (their formats
//! differ, e.g. repository `org/repo` in arc 5 and `https://github.com/org/repo` in arc 12): a
//! policy names the extension it means. [`super::identity`] matches policies against them.

use serde::Serialize;

/// The arc under which Fulcio puts its extensions.
pub const FULCIO_OID_PREFIX: &str = "1.3.6.1.4.1.57264.1.";

/// A Fulcio certificate extension, by its Fulcio name. Arcs 1–6 are the deprecated v1 set
/// (raw string values); 8 and up are the v2 set (DER UTF8String values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Claim {
    IssuerV1,
    GithubWorkflowTrigger,
    GithubWorkflowSha,
    GithubWorkflowName,
    GithubWorkflowRepository,
    GithubWorkflowRef,
    Issuer,
    BuildSignerUri,
    BuildSignerDigest,
    RunnerEnvironment,
    SourceRepositoryUri,
    SourceRepositoryDigest,
    SourceRepositoryRef,
    SourceRepositoryIdentifier,
    SourceRepositoryOwnerUri,
    SourceRepositoryOwnerIdentifier,
    BuildConfigUri,
    BuildConfigDigest,
    BuildTrigger,
    RunInvocationUri,
    SourceRepositoryVisibilityAtSigning,
}

impl Claim {
    pub const ALL: [Claim; 21] = [
        Claim::IssuerV1,
        Claim::GithubWorkflowTrigger,
        Claim::GithubWorkflowSha,
        Claim::GithubWorkflowName,
        Claim::GithubWorkflowRepository,
        Claim::GithubWorkflowRef,
        Claim::Issuer,
        Claim::BuildSignerUri,
        Claim::BuildSignerDigest,
        Claim::RunnerEnvironment,
        Claim::SourceRepositoryUri,
        Claim::SourceRepositoryDigest,
        Claim::SourceRepositoryRef,
        Claim::SourceRepositoryIdentifier,
        Claim::SourceRepositoryOwnerUri,
        Claim::SourceRepositoryOwnerIdentifier,
        Claim::BuildConfigUri,
        Claim::BuildConfigDigest,
        Claim::BuildTrigger,
        Claim::RunInvocationUri,
        Claim::SourceRepositoryVisibilityAtSigning,
    ];

    /// The last arc of the OID (`1.3.6.1.4.1.57264.1.<arc>`).
    pub fn arc(self) -> u32 {
        let i = Claim::ALL.iter().position(|c| *c == self).unwrap_or(0) as u32;
        if i < 6 { i + 1 } else { i + 2 }
    }

    pub fn oid(self) -> String {
        format!("{FULCIO_OID_PREFIX}{}", self.arc())
    }

    /// Fulcio's kebab-case name, e.g. `source-repository-ref`.
    pub fn name(self) -> &'static str {
        match self {
            Claim::IssuerV1 => "issuer-v1",
            Claim::GithubWorkflowTrigger => "github-workflow-trigger",
            Claim::GithubWorkflowSha => "github-workflow-sha",
            Claim::GithubWorkflowName => "github-workflow-name",
            Claim::GithubWorkflowRepository => "github-workflow-repository",
            Claim::GithubWorkflowRef => "github-workflow-ref",
            Claim::Issuer => "issuer",
            Claim::BuildSignerUri => "build-signer-uri",
            Claim::BuildSignerDigest => "build-signer-digest",
            Claim::RunnerEnvironment => "runner-environment",
            Claim::SourceRepositoryUri => "source-repository-uri",
            Claim::SourceRepositoryDigest => "source-repository-digest",
            Claim::SourceRepositoryRef => "source-repository-ref",
            Claim::SourceRepositoryIdentifier => "source-repository-identifier",
            Claim::SourceRepositoryOwnerUri => "source-repository-owner-uri",
            Claim::SourceRepositoryOwnerIdentifier => "source-repository-owner-identifier",
            Claim::BuildConfigUri => "build-config-uri",
            Claim::BuildConfigDigest => "build-config-digest",
            Claim::BuildTrigger => "build-trigger",
            Claim::RunInvocationUri => "run-invocation-uri",
            Claim::SourceRepositoryVisibilityAtSigning => "source-repository-visibility-at-signing",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Claim::ALL.into_iter().find(|c| c.name() == name)
    }

    pub(crate) fn from_arc(arc: u32) -> Option<Self> {
        Claim::ALL.into_iter().find(|c| c.arc() == arc)
    }
}

/// The text of a DER UTF8String (tag 0x0c), with a short or long-form length.
pub(crate) fn der_utf8_string(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    if tag != 0x0c {
        return None;
    }
    let (len, body) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if body.len() != len {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_fulcio_oids() {
        assert_eq!(Claim::IssuerV1.oid(), "1.3.6.1.4.1.57264.1.1");
        assert_eq!(Claim::GithubWorkflowRef.arc(), 6);
        assert_eq!(Claim::Issuer.oid(), "1.3.6.1.4.1.57264.1.8");
        assert_eq!(Claim::SourceRepositoryUri.arc(), 12);
        assert_eq!(Claim::SourceRepositoryRef.arc(), 14);
        assert_eq!(Claim::SourceRepositoryVisibilityAtSigning.arc(), 22);
        assert_eq!(Claim::from_name("build-trigger"), Some(Claim::BuildTrigger));
        assert_eq!(Claim::from_arc(7), None);
    }

    #[test]
    fn der_utf8_strings() {
        assert_eq!(der_utf8_string(b"\x0c\x03abc").as_deref(), Some("abc"));
        let long = "x".repeat(200);
        let mut der = vec![0x0c, 0x81, 200];
        der.extend_from_slice(long.as_bytes());
        assert_eq!(der_utf8_string(&der), Some(long));
        assert_eq!(der_utf8_string(b"\x13\x03abc"), None, "PrintableString");
        assert_eq!(der_utf8_string(b"\x0c\x04abc"), None, "short");
    }
}
