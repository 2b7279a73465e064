//! The request plumbing of [`RegistryClient`]: one request sent with auth, through the host's
//! gate (shared rate-limit pause, bounded requests in flight; see [`super::host_gate`]), retried
//! on 429/5xx and connection failures within the caller's deadline, and its body read bounded.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::time::{Instant, sleep, timeout_at};

use super::auth::Challenge;
use super::host_gate::{Refused, parse_retry_after};
use super::login::fingerprint;
use super::{MAX_DOC, RegistryClient, error_chain, header_str};
use crate::error::RegistryError;
use crate::reference::ImageRef;

impl RegistryClient {
    /// Sends a pull request built by `build` (see [`Self::send`]): the answer when it is 200,
    /// `None` when it is 404, an error for any other status.
    pub(super) async fn fetch(
        &self,
        image: &ImageRef,
        what: &str,
        deadline: Instant,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Option<Response>, RegistryError> {
        let resp = self.send(image, what, deadline, false, build).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(resp)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(self.unexpected(image, what, s)),
        }
    }

    /// Sends a request built by `build`, adding auth, retrying and bounding it by `deadline`.
    pub(super) async fn send(
        &self,
        image: &ImageRef,
        what: &str,
        deadline: Instant,
        push: bool,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let target = self.target(image);
        let registry = target.registry.to_string();
        let scope = format!(
            "repository:{}:{}",
            target.repository,
            if push { "pull,push" } else { "pull" }
        );
        let candidates = self.candidates(&target);
        // Tokens are kept per credential set, so no caller rides on another's credentials.
        let token_key = format!("{registry} {scope} {}", fingerprint(&candidates));
        // One authentication per candidate credential (one anonymous one when there is none).
        let max_auths = candidates.len().max(1);
        let mut auths = 0usize;
        let mut tries = 0u32;
        loop {
            tries += 1;
            // Waits out a pause of this host (or fails at once when it ends past the deadline)
            // and holds one of the host's request slots until the answer's headers are in.
            let permit = match self.gates.enter(&registry, deadline).await {
                Ok(permit) => permit,
                Err(Refused::Paused(pause)) => {
                    return Err(RegistryError::Paused {
                        registry,
                        status: pause.status,
                        left_ms: u64::try_from(pause.remaining().as_millis()).unwrap_or(u64::MAX),
                    });
                }
                Err(Refused::Deadline) => return Err(self.deadline(image, what)),
            };
            let mut req = build(&self.http);
            if let Some(tok) = self.token(&token_key) {
                req = req.header(AUTHORIZATION, tok);
            }
            let result = match timeout_at(deadline, req.send()).await {
                Err(_) => return Err(self.deadline(image, what)),
                Ok(r) => r,
            };
            let resp = match result {
                Ok(resp) => resp,
                Err(e) => {
                    drop(permit);
                    self.observe(&registry, None);
                    let cause = error_chain(&e);
                    if tries < self.cfg.max_tries.max(1)
                        && self.back_off(tries, deadline).await == Backoff::Slept
                    {
                        continue;
                    }
                    return Err(RegistryError::Unreachable { registry, cause });
                }
            };
            let status = resp.status();
            drop(permit);
            self.observe(&registry, Some(status.as_u16()));
            match status {
                StatusCode::UNAUTHORIZED if auths < max_auths => {
                    let challenge = header_str(resp.headers(), WWW_AUTHENTICATE.as_str())
                        .and_then(|h| Challenge::parse(&h));
                    let Some(challenge) = challenge else {
                        return Err(self.unauthorized(image, status));
                    };
                    // The next candidate; a token endpoint refusing it moves on to the one after.
                    let value = loop {
                        let cred = candidates.get(auths);
                        auths += 1;
                        match self
                            .authenticate(image, challenge.clone(), &scope, cred, deadline)
                            .await
                        {
                            Ok(value) => break value,
                            Err(RegistryError::Unauthorized { .. }) if auths < max_auths => {}
                            Err(e) => return Err(e),
                        }
                    };
                    self.set_token(&token_key, value);
                    tries -= 1;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(self.unauthorized(image, status));
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    // The whole host waits; the next turn's `enter` waits the pause out (or
                    // names it, when it ends past the deadline).
                    let retry_after = header_str(resp.headers(), RETRY_AFTER.as_str())
                        .and_then(|v| parse_retry_after(&v));
                    let pause = retry_after.unwrap_or_else(|| self.backoff(tries));
                    if self.gates.pause(&registry, status.as_u16(), pause)
                        && let Some(o) = &self.cfg.pause_observer
                    {
                        o(&registry, pause);
                    }
                    if tries >= self.cfg.max_tries.max(1) {
                        return Err(RegistryError::Throttled {
                            registry,
                            status: status.as_u16(),
                            tries,
                        });
                    }
                }
                StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => {
                    if tries >= self.cfg.max_tries.max(1)
                        || self.back_off(tries, deadline).await == Backoff::PastDeadline
                    {
                        return Err(RegistryError::Throttled {
                            registry,
                            status: status.as_u16(),
                            tries,
                        });
                    }
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Sleeps this request's own exponential backoff before attempt `tries + 1` (after a
    /// connection failure, 502 or 504), unless it would pass the deadline.
    async fn back_off(&self, tries: u32, deadline: Instant) -> Backoff {
        let pause = self.backoff(tries);
        if Instant::now() + pause >= deadline {
            return Backoff::PastDeadline;
        }
        sleep(pause).await;
        Backoff::Slept
    }

    /// The backoff after attempt `tries` when the registry gives no `Retry-After`.
    fn backoff(&self, tries: u32) -> Duration {
        self.cfg.backoff * 2u32.saturating_pow(tries.saturating_sub(1))
    }

    pub(super) async fn read_body(
        &self,
        image: &ImageRef,
        what: &str,
        mut resp: Response,
        deadline: Instant,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut out = Vec::new();
        loop {
            let chunk = timeout_at(deadline, resp.chunk())
                .await
                .map_err(|_| self.deadline(image, what))?
                .map_err(|e| RegistryError::Unreachable {
                    registry: self.target(image).registry.into(),
                    cause: format!("reading {what}: {}", error_chain(&e)),
                })?;
            let Some(chunk) = chunk else { return Ok(out) };
            if out.len() + chunk.len() > MAX_DOC {
                return Err(self.protocol(image, what, format!("larger than {MAX_DOC} bytes")));
            }
            out.extend_from_slice(&chunk);
        }
    }
}

/// What [`RegistryClient::back_off`] did before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backoff {
    /// Slept the pause: make the next attempt.
    Slept,
    /// The pause would end past the deadline: give up now rather than sleep past it.
    PastDeadline,
}
