//! Logging in to a registry: which credentials to try for a request (the caller's, then the
//! configured ones, each most specific key first) and the answer to one `WWW-Authenticate`
//! challenge with one of them: `Basic` directly, `Bearer` through the token realm.

use std::sync::Arc;

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use tokio::time::{Instant, timeout_at};

use super::auth::Challenge;
use super::{Credential, RegistryClient, Target, error_chain};
use crate::error::RegistryError;
use crate::reference::ImageRef;

impl RegistryClient {
    /// The credentials to try for `target`, in order: the caller's, then the configured ones.
    pub(super) fn candidates(&self, target: &Target<'_>) -> Vec<Credential> {
        let mut out: Vec<Credential> = Vec::new();
        let sources = self.caller.iter().map(Arc::as_ref);
        for creds in sources.chain(std::iter::once(&self.cfg.credentials)) {
            for cred in creds.lookup(target.registry, &target.repository) {
                if !out.contains(cred) {
                    out.push(cred.clone());
                }
            }
        }
        out
    }

    pub(super) async fn authenticate(
        &self,
        image: &ImageRef,
        challenge: Challenge,
        scope: &str,
        cred: Option<&Credential>,
        deadline: Instant,
    ) -> Result<String, RegistryError> {
        let basic = |c: &Credential| {
            use base64::Engine as _;
            let raw = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        };
        match challenge {
            Challenge::Basic => cred
                .map(basic)
                .ok_or_else(|| self.unauthorized(image, StatusCode::UNAUTHORIZED)),
            Challenge::Bearer { realm, service, .. } => {
                let mut url = reqwest::Url::parse(&realm)
                    .map_err(|e| self.protocol(image, "token realm", format!("{realm:?}: {e}")))?;
                if let Some(s) = service {
                    url.query_pairs_mut().append_pair("service", &s);
                }
                url.query_pairs_mut().append_pair("scope", scope);
                let mut req = self.http.request(Method::GET, url);
                if let Some(c) = cred {
                    req = req.header(AUTHORIZATION, basic(c));
                }
                let resp = timeout_at(deadline, req.send())
                    .await
                    .map_err(|_| self.deadline(image, "token"))?
                    .map_err(|e| RegistryError::Unreachable {
                        registry: self.target(image).registry.into(),
                        cause: format!("token endpoint {realm}: {}", error_chain(&e)),
                    })?;
                if !resp.status().is_success() {
                    return Err(self.unauthorized(image, resp.status()));
                }
                let body = self.read_body(image, "token", resp, deadline).await?;
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&body)
                    .map_err(|e| self.protocol(image, "token", e.to_string()))?;
                t.token
                    .or(t.access_token)
                    .map(|t| format!("Bearer {t}"))
                    .ok_or_else(|| self.protocol(image, "token", "no token in answer".into()))
            }
        }
    }
}

/// A short digest of a credential list, naming it in token keys without holding the secrets.
pub(super) fn fingerprint(credentials: &[Credential]) -> String {
    use sha2::Digest as _;
    if credentials.is_empty() {
        return "anonymous".into();
    }
    let mut hash = sha2::Sha256::new();
    for c in credentials {
        hash.update(c.username.as_bytes());
        hash.update([0]);
        hash.update(c.password.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..8])
}
