//! A fault-injecting HTTP/1.1 reverse proxy for registry tests, on hyper 1.
//!
//! Every request is recorded (method + path, and when it started and its response ended, for
//! [`Proxy::round_trips`]) and forwarded to the upstream over a fresh
//! connection, bodies streamed both ways (chunked uploads included). `Location` headers naming
//! the upstream (`http://127.0.0.1:REGPORT/v2/...`, as distribution writes them) are rewritten
//! to the proxy so clients keep going through it. Faults: answer the next n requests with a
//! status (and `Retry-After`) without forwarding, drop every connection (`set_down`), or delay
//! each response. An unreachable upstream gets `502 Bad Gateway`. Stops when dropped.
//!
//! Started with [`Proxy::with_referrers_api`], it also serves the OCI 1.1 referrers API that the
//! registry behind it lacks (see [`crate::referrers_api`]).

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::referrers_api::{self, ReferrersApi};
use crate::round_trips::round_trips;

pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// A running proxy. See the module docs.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    down: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    upstream: SocketAddr,
    state: Mutex<State>,
    /// Present when the proxy serves the referrers API itself.
    referrers: Option<ReferrersApi>,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<Record>,
    /// The id of the next request (never reused, so a late end finds no other request).
    next_id: u64,
    fail_remaining: usize,
    fail_status: u16,
    fail_retry_after: Option<u64>,
    delay: Duration,
    /// Set by [`Proxy::throttle_above`].
    throttle: Option<Throttle>,
}

/// One request as the proxy saw it.
#[derive(Debug)]
struct Record {
    id: u64,
    method: String,
    path: String,
    started: Instant,
    /// When its response was fully handed to the connection (`None`: not yet).
    ended: Option<Instant>,
}

impl Proxy {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Proxy> {
        Proxy::start_with(upstream, None).await
    }

    /// Like [`Proxy::start`], and also serves the OCI 1.1 referrers API for what is pushed through
    /// it (see [`crate::referrers_api`]).
    pub async fn with_referrers_api(upstream: SocketAddr) -> Result<Proxy> {
        Proxy::start_with(upstream, Some(ReferrersApi::default())).await
    }

    async fn start_with(upstream: SocketAddr, referrers: Option<ReferrersApi>) -> Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            upstream,
            state: Mutex::new(State::default()),
            referrers,
        });
        let (down, down_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), down_rx));
        Ok(Proxy { shared, down, task })
    }

    /// `127.0.0.1:PORT` of the proxy: use it as the registry host in references.
    pub fn addr(&self) -> String {
        self.shared.addr.to_string()
    }

    /// The proxy's socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// All requests seen so far, in order, as `(method, path)` (path without the query).
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }

    /// The round trips the requests seen so far took (see [`crate::round_trips`]): the longest
    /// chain of requests each started after the previous one's response ended. A request still
    /// unanswered counts as ending now. Loopback answers in well under a millisecond, so requests
    /// a client sends together may not overlap here: with [`Proxy::set_delay`] each one lasts at
    /// least the delay, and the count is the client's.
    pub fn round_trips(&self) -> usize {
        let now = Instant::now();
        let intervals: Vec<(Instant, Instant)> = self
            .shared
            .lock()
            .requests
            .iter()
            .map(|r| (r.started, r.ended.unwrap_or(now).max(r.started)))
            .collect();
        round_trips(&intervals)
    }

    /// How many requests so far satisfy `filter(method, path)`.
    pub fn count(&self, filter: impl Fn(&str, &str) -> bool) -> usize {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| filter(&r.method, &r.path))
            .count()
    }

    /// Forgets the recorded requests (and so their round trips).
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Answers the next `n` requests itself with `status` (and `Retry-After: secs` when given)
    /// and a registry-style JSON error body, without forwarding them.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        let mut state = self.shared.lock();
        state.fail_remaining = n;
        state.fail_status = status;
        state.fail_retry_after = retry_after;
    }

    /// `true`: close open connections and every new one at once, without an answer.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// Delays each response by `delay` (zero to stop delaying).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.lock().delay = delay;
    }

    /// Lists `descriptor` (JSON with at least `digest`) among the referrers of `subject` in `repo`
    /// whatever the manifest says, as a registry that lies would. An error when the proxy does not
    /// serve the referrers API.
    pub fn list_referrer(
        &self,
        repo: &str,
        subject: &str,
        descriptor: serde_json::Value,
    ) -> Result<()> {
        let api = self.shared.referrers.as_ref().ok_or_else(|| {
            anyhow::anyhow!("no referrers API on this proxy: start it with with_referrers_api")
        })?;
        api.list(repo, subject, descriptor);
        Ok(())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the records from the assertions that follow.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ended(&self, id: u64) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(r) = state.requests.iter_mut().rev().find(|r| r.id == id) {
            r.ended.get_or_insert(now);
        }
    }
}

// === connections ===

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, down: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if *down.borrow() {
                    drop(stream);
                    continue;
                }
                connections.spawn(serve(stream, Arc::clone(&shared), down.clone()));
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>, mut down: watch::Receiver<bool>) {
    let service = service_fn(move |req| handle(Arc::clone(&shared), req));
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // Dropping the connection future closes the socket, mid-request or idle.
        _ = down.wait_for(|d| *d) => {}
    }
}

// === requests ===

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let (id, delay, injected) = {
        let mut state = shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.requests.push(Record {
            id,
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            started: Instant::now(),
            ended: None,
        });
        let injected = if state.fail_remaining > 0 {
            state.fail_remaining -= 1;
            Some((state.fail_status, state.fail_retry_after))
        } else {
            state.throttle.as_mut().and_then(Throttle::refuse)
        };
        (id, state.delay, injected)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let res = match injected {
        Some((status, retry_after)) => injected_response(status, retry_after),
        None => match route(&shared, req).await {
            Ok(res) => res,
            Err(e) => text_response(
                StatusCode::BAD_GATEWAY,
                &format!("proxy: upstream {}: {e}", shared.upstream),
            ),
        },
    };
    Ok(res.map(|body| Timed { body, shared, id }.boxed()))
}

/// A response body that records, when dropped, that its request ended. hyper drops it once the
/// last frame is handed to the connection (or the connection goes), before the client can have
/// read the end of it, so a request the client sends after reading the answer starts later.
struct Timed {
    body: Body,
    shared: Arc<Shared>,
    id: u64,
}

impl hyper::body::Body for Timed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.shared.ended(self.id);
    }
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Result<Response<Body>> {
    match &shared.referrers {
        Some(api) => referrers_api::route(api, req, |req| forward(shared, req)).await,
        None => forward(shared, req.map(BodyExt::boxed)).await,
    }
}

async fn forward(shared: &Shared, req: Request<Body>) -> Result<Response<Body>> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    parts.uri = path.parse()?;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(
        header::HOST,
        HeaderValue::from_str(&shared.upstream.to_string())?,
    );

    let stream = TcpStream::connect(shared.upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task drives the exchange until the response body is fully streamed.
    tokio::spawn(conn);
    let res = sender
        .send_request(Request::from_parts(parts, body))
        .await?;

    let (mut parts, body) = res.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let from = format!("http://{}", shared.upstream);
        if let Some(rest) = location.strip_prefix(&from) {
            let rewritten = format!("http://{}{rest}", shared.addr);
            parts
                .headers
                .insert(header::LOCATION, HeaderValue::from_str(&rewritten)?);
        }
    }
    Ok(Response::from_parts(parts, body.boxed()))
}

/// Connection-level headers that must not be passed on; hyper re-frames both bodies.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn injected_response(status: u16, retry_after: Option<u64>) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "DENIED",
        StatusCode::NOT_FOUND => "NAME_UNKNOWN",
        _ => "UNKNOWN",
    };
    let body = serde_json::json!({
        "errors": [{ "code": code, "message": "injected by portcullis-testkit proxy", "detail": null }]
    });
    let mut res = full_response(status, Bytes::from(body.to_string()), "application/json");
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    full_response(
        status,
        Bytes::from(text.to_owned()),
        "text/plain; charset=utf-8",
    )
}

fn full_response(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

// === throttling ===

/// A registry's rate limit: at most `per_second` requests are forwarded in each one-second
/// window; the others are answered `429 Too Many Requests` with `Retry-After`.
#[derive(Debug)]
struct Throttle {
    per_second: usize,
    retry_after: u64,
    window_start: Instant,
    forwarded: usize,
    refused: usize,
}

impl Throttle {
    /// `Some((429, Retry-After))` when this request is over the limit of the current window.
    fn refuse(&mut self) -> Option<(u16, Option<u64>)> {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.forwarded = 0;
        }
        if self.forwarded < self.per_second {
            self.forwarded += 1;
            return None;
        }
        self.refused += 1;
        Some((429, Some(self.retry_after)))
    }
}

impl Proxy {
    /// Rate-limits like a registry: above `per_second` requests in a one-second window, answers
    /// `429` with `Retry-After: retry_after` (seconds) without forwarding (`None`: no limit).
    /// Only forwarded requests count toward the limit; every request is still recorded.
    pub fn throttle_above(&self, limit: Option<(usize, u64)>) {
        self.shared.lock().throttle = limit.map(|(per_second, retry_after)| Throttle {
            per_second,
            retry_after,
            window_start: Instant::now(),
            forwarded: 0,
            refused: 0,
        });
    }

    /// How many requests the rate limit of [`Proxy::throttle_above`] refused (since it was set).
    pub fn throttled(&self) -> usize {
        self.shared
            .lock()
            .throttle
            .as_ref()
            .map_or(0, |t| t.refused)
    }
}
