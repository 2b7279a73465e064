//! Who signed: the identity a Fulcio certificate vouches for, and the policy it must match.
//!
//! A certificate's identity is its subject alternative name (an e-mail or a URI, e.g. a GitHub
//! workflow `https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1`), the OIDC
//! issuer that authenticated it, and optional claims Fulcio copies from the token into
//! extensions under `1.3.6.1.4.1.57264.1.*`. The issuer is read from the v2 extension `.1.8`
//! (a DER UTF8String) and, for certificates issued before it existed, the v1 `.1.1` (raw bytes).
//!
//! Regular expressions match like cosign's `--certificate-identity-regexp`: unanchored, so a
//! policy should write `^…$`. An empty list of identities matches nothing (fail closed).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::claims::der_utf8_string;
pub use super::claims::{Claim, FULCIO_OID_PREFIX};

/// An exact string or an (unanchored) regular expression.
#[derive(Clone)]
pub enum StringMatcher {
    Exact(String),
    Regex(regex::Regex),
}

impl StringMatcher {
    pub fn exact(s: impl Into<String>) -> Self {
        StringMatcher::Exact(s.into())
    }

    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(pattern).map(StringMatcher::Regex)
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatcher::Exact(s) => s == value,
            StringMatcher::Regex(r) => r.is_match(value),
        }
    }
}

impl fmt::Display for StringMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StringMatcher::Exact(s) => write!(f, "{s:?}"),
            StringMatcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

impl fmt::Debug for StringMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An accepted signer: subject, issuer (`None`: any issuer), and claims that must all match.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: StringMatcher,
    pub issuer: Option<StringMatcher>,
    pub claims: Vec<(Claim, StringMatcher)>,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subject {}", self.subject)?;
        match &self.issuer {
            Some(i) => write!(f, ", issuer {i}")?,
            None => write!(f, ", any issuer")?,
        }
        for (c, m) in &self.claims {
            write!(f, ", {} {m}", c.name())?;
        }
        Ok(())
    }
}

/// The identity in a certificate did not match the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: expected {expected}, certificate has {actual}")]
pub struct IdentityMismatch {
    /// `subject`, `issuer`, a claim name, or `identity` when several identities were tried.
    pub field: String,
    pub expected: String,
    pub actual: String,
}

impl Identity {
    pub fn new(subject: StringMatcher, issuer: Option<StringMatcher>) -> Self {
        Self {
            subject,
            issuer,
            claims: Vec::new(),
        }
    }

    pub fn with_claim(mut self, claim: Claim, value: StringMatcher) -> Self {
        self.claims.push((claim, value));
        self
    }

    /// Checks one certificate identity against this policy.
    pub fn check(&self, id: &CertIdentity) -> Result<(), IdentityMismatch> {
        let miss = |field: &str, expected: &StringMatcher, actual: &str| IdentityMismatch {
            field: field.into(),
            expected: expected.to_string(),
            actual: format!("{actual:?}"),
        };
        if !id.subjects.iter().any(|s| self.subject.matches(s)) {
            return Err(miss("subject", &self.subject, &id.subjects.join(", ")));
        }
        if let Some(want) = &self.issuer {
            let actual = id.issuer.as_deref().unwrap_or("");
            if id.issuer.is_none() || !want.matches(actual) {
                return Err(miss("issuer", want, actual));
            }
        }
        for (claim, want) in &self.claims {
            let actual = id.claims.get(claim.name());
            if !actual.is_some_and(|a| want.matches(a)) {
                return Err(miss(claim.name(), want, actual.map_or("", String::as_str)));
            }
        }
        Ok(())
    }
}

/// Passes when any identity matches; the failure names every identity tried.
pub fn check_any(identities: &[Identity], id: &CertIdentity) -> Result<(), IdentityMismatch> {
    let mut failures = Vec::new();
    for want in identities {
        match want.check(id) {
            Ok(()) => return Ok(()),
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        1 => Err(failures.remove(0)),
        _ => Err(IdentityMismatch {
            field: "identity".into(),
            expected: if identities.is_empty() {
                "a configured identity (none given)".into()
            } else {
                identities
                    .iter()
                    .map(|i| format!("({i})"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            },
            actual: id.to_string(),
        }),
    }
}

/// The identity a certificate vouches for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertIdentity {
    /// SAN e-mails and URIs (Fulcio issues exactly one).
    pub subjects: Vec<String>,
    /// The OIDC issuer (v2 extension, else v1).
    pub issuer: Option<String>,
    /// Every Fulcio extension present, by [`Claim::name`].
    pub claims: BTreeMap<String, String>,
}

impl fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subject {:?}, issuer {:?}",
            self.subject(),
            self.issuer.as_deref().unwrap_or("")
        )
    }
}

impl CertIdentity {
    /// The first SAN (the signer), or "".
    pub fn subject(&self) -> &str {
        self.subjects.first().map_or("", String::as_str)
    }

    pub(crate) fn from_x509(cert: &X509Certificate<'_>) -> Result<Self, String> {
        let mut out = Self::default();
        for ext in cert.extensions() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                for name in &san.general_names {
                    match name {
                        GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                            out.subjects.push((*s).to_string())
                        }
                        _ => {}
                    }
                }
            }
            let oid = ext.oid.to_id_string();
            let Some(claim) = oid
                .strip_prefix(FULCIO_OID_PREFIX)
                .and_then(|arc| arc.parse().ok())
                .and_then(Claim::from_arc)
            else {
                continue;
            };
            let value = if claim.arc() >= 8 {
                der_utf8_string(ext.value)
                    .ok_or_else(|| format!("extension {oid} is not a DER UTF8String"))?
            } else {
                String::from_utf8(ext.value.to_vec())
                    .map_err(|_| format!("extension {oid} is not UTF-8"))?
            };
            out.claims.insert(claim.name().to_string(), value);
        }
        out.issuer = out
            .claims
            .get(Claim::Issuer.name())
            .or_else(|| out.claims.get(Claim::IssuerV1.name()))
            .cloned();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(subject: &str, issuer: Option<&str>) -> CertIdentity {
        CertIdentity {
            subjects: vec![subject.into()],
            issuer: issuer.map(Into::into),
            claims: [(
                "source-repository-ref".to_string(),
                "refs/tags/v1".to_string(),
            )]
            .into(),
        }
    }

    #[test]
    fn exact_regex_issuer_and_claims() {
        let cert = id(
            "https://github.com/o/r/.github/workflows/a.yml@refs/tags/v1",
            Some("https://token.actions.githubusercontent.com"),
        );
        let gh = StringMatcher::exact("https://token.actions.githubusercontent.com");
        let ok = Identity::new(
            StringMatcher::regex("^https://github.com/o/r/").unwrap(),
            Some(gh.clone()),
        )
        .with_claim(
            Claim::SourceRepositoryRef,
            StringMatcher::exact("refs/tags/v1"),
        );
        assert_eq!(ok.check(&cert), Ok(()));
        let wrong_subject = Identity::new(
            StringMatcher::exact("https://github.com/o/r"),
            Some(gh.clone()),
        );
        assert_eq!(wrong_subject.check(&cert).unwrap_err().field, "subject");
        let wrong_issuer = Identity::new(
            StringMatcher::regex("o/r").unwrap(),
            Some(StringMatcher::exact("https://accounts.google.com")),
        );
        assert_eq!(wrong_issuer.check(&cert).unwrap_err().field, "issuer");
        let wrong_claim = ok
            .clone()
            .with_claim(Claim::BuildTrigger, StringMatcher::exact("push"));
        assert_eq!(wrong_claim.check(&cert).unwrap_err().field, "build-trigger");
        // A required issuer is never satisfied by a certificate without one.
        let no_issuer = id("a@b.c", None);
        let any = Identity::new(StringMatcher::exact("a@b.c"), None);
        assert_eq!(any.check(&no_issuer), Ok(()));
        let need = Identity::new(
            StringMatcher::exact("a@b.c"),
            Some(StringMatcher::regex(".*").unwrap()),
        );
        assert_eq!(need.check(&no_issuer).unwrap_err().field, "issuer");
        // Several identities: any one passes; none passing names all of them.
        assert_eq!(check_any(&[wrong_subject.clone(), ok], &cert), Ok(()));
        let e = check_any(&[wrong_subject, wrong_issuer], &cert).unwrap_err();
        assert_eq!(e.field, "identity");
        assert!(e.expected.contains(" or "), "{e}");
        assert_eq!(check_any(&[], &cert).unwrap_err().field, "identity");
    }
}
