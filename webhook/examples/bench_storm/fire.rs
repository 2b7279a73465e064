//! The open-loop load generator: reviews are sent on a clock (`rate` per second from the start),
//! never waiting for an answer before the next send, over TLS made the way the API server makes it
//! (the bench CA as the only trust anchor, the Service DNS name, `POST /validate?timeout=10s`).
//! By default HTTP/2 (ALPN `h2`), each review its own stream, as client-go's transport does: on one
//! connection until it has [`H2_STREAMS`] streams open (the server's advertised limit, hyper's
//! default), then on another, as Go's HTTP/2 client opens a new connection rather than queueing
//! when the limit is reached; with `http1`, a pool of HTTP/1.1 keep-alive connections where a
//! review takes an idle connection or opens a new one, so slow answers grow the pool instead of
//! delaying later sends.
//!
//! Each review's latency runs from its scheduled send time to its full answer (so a late send
//! counts against the webhook, not in its favour); a review unanswered `deadline` after its
//! scheduled time is past its deadline, as the API server would give up on it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::{http1::SendRequest, http2};
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::procs::SERVICE_DNS;

const PATH: &str = "/validate?timeout=10s";
/// Streams per HTTP/2 connection before another is opened: hyper's server default, which
/// `portcullis serve` advertises as SETTINGS_MAX_CONCURRENT_STREAMS.
const H2_STREAMS: usize = 200;
/// Connections opened before the clock starts (handshakes are not part of the first sends).
const PREOPEN: usize = 32;

/// An HTTP/2 connection and how many streams the load generator has open on it.
struct H2Conn {
    sender: http2::SendRequest<Full<Bytes>>,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

/// A stream open on an [`H2Conn`], given back when dropped (answered, failed or timed out).
struct StreamSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How one review ended.
#[derive(Debug, Clone)]
pub enum Verdict {
    Allowed,
    /// `allowed: false`, with the message.
    Denied(String),
    /// No complete answer before the deadline.
    Late,
    /// A transport error, a status other than 200, or an answer that is not a review.
    Broken(String),
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub latency: Duration,
    pub verdict: Verdict,
}

/// The admission listener and a TLS client trusting only the bench CA.
pub struct Target {
    addr: SocketAddr,
    connector: TlsConnector,
    http1: bool,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    h2: tokio::sync::Mutex<Vec<H2Conn>>,
    opened: std::sync::atomic::AtomicUsize,
}

impl Target {
    /// `http1`: a pool of HTTP/1.1 connections instead of one HTTP/2 connection.
    pub fn new(addr: SocketAddr, ca_pem: &str, http1: bool) -> Result<Arc<Self>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.context("bench CA: not a certificate")?)?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![if http1 {
            b"http/1.1".to_vec()
        } else {
            b"h2".to_vec()
        }];
        Ok(Arc::new(Self {
            addr,
            connector: TlsConnector::from(Arc::new(config)),
            http1,
            idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(Vec::new()),
            opened: Default::default(),
        }))
    }

    /// An HTTP/2 connection with a free stream (a new one when every open one is full), and the
    /// stream slot taken on it.
    async fn h2_sender(&self) -> Result<(http2::SendRequest<Full<Bytes>>, StreamSlot)> {
        let mut conns = self.h2.lock().await;
        conns.retain(|c| !c.sender.is_closed());
        let free = conns
            .iter()
            .find(|c| c.open.load(std::sync::atomic::Ordering::Relaxed) < H2_STREAMS);
        let conn = match free {
            Some(c) => c,
            None => {
                let tls = self.tls().await?;
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .handshake(TokioIo::new(tls))
                    .await?;
                tokio::spawn(conn);
                self.opened
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                conns.push(H2Conn {
                    sender,
                    open: Arc::default(),
                });
                conns.last().context("the connection just opened")?
            }
        };
        conn.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok((conn.sender.clone(), StreamSlot(Arc::clone(&conn.open))))
    }

    async fn tls(&self) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        Ok(self
            .connector
            .connect(ServerName::try_from(SERVICE_DNS)?, tcp)
            .await?)
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let tls = self.tls().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        // Ends when the sender is dropped (the connection closes) or the server hangs up.
        tokio::spawn(conn);
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(sender)
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn give_back(&self, sender: SendRequest<Full<Bytes>>) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sender);
    }

    /// Closes every idle connection (between passes, so a pass starts as a fresh API server).
    pub fn close_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    async fn post(&self, body: Bytes) -> Result<(u16, Bytes)> {
        let request = hyper::Request::post(PATH).header("content-type", "application/json");
        if !self.http1 {
            let (mut sender, _slot) = self.h2_sender().await?;
            sender.ready().await?;
            let uri = format!("https://{SERVICE_DNS}{PATH}");
            let response = sender
                .send_request(request.uri(uri).body(Full::new(body))?)
                .await?;
            let status = response.status().as_u16();
            return Ok((status, response.into_body().collect().await?.to_bytes()));
        }
        let mut sender = match self.take_idle() {
            Some(s) => s,
            None => self.connect().await?,
        };
        sender.ready().await?;
        let request = request.header("host", SERVICE_DNS).body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        self.give_back(sender);
        Ok((status, bytes))
    }
}

/// Sends `bodies` at `rate` per second (open loop) and waits for every answer or its deadline.
/// Sending stops at `cap` after the start; reviews not sent by then are not in the result.
pub async fn storm(
    target: &Arc<Target>,
    bodies: &[Bytes],
    rate: f64,
    deadline: Duration,
    cap: Duration,
) -> Result<Vec<Outcome>> {
    if target.http1 {
        for _ in 0..PREOPEN.min(bodies.len()) {
            let sender = target.connect().await.context("open a connection")?;
            target.give_back(sender);
        }
    } else {
        target
            .h2_sender()
            .await
            .context("open the HTTP/2 connection")?;
    }
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due - start > cap {
            break;
        }
        tokio::time::sleep_until(due).await;
        let (target, body) = (Arc::clone(target), body.clone());
        tasks.spawn(async move {
            let verdict = match tokio::time::timeout_at(due + deadline, target.post(body)).await {
                Err(_) => Verdict::Late,
                Ok(Err(e)) => Verdict::Broken(format!("{e:#}")),
                Ok(Ok((status, body))) => read_answer(status, &body),
            };
            (
                i,
                Outcome {
                    latency: due.elapsed(),
                    verdict,
                },
            )
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; bodies.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, outcome) = joined.context("a review task panicked")?;
        outcomes[i] = Some(outcome);
    }
    Ok(outcomes.into_iter().flatten().collect())
}

fn read_answer(status: u16, body: &[u8]) -> Verdict {
    let text = || String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
    if status != 200 {
        return Verdict::Broken(format!("HTTP {status}: {}", text()));
    }
    let Ok(review) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Broken(format!("not JSON: {}", text()));
    };
    let response = &review["response"];
    match response["allowed"].as_bool() {
        Some(true) => Verdict::Allowed,
        Some(false) => Verdict::Denied(
            response["status"]["message"]
                .as_str()
                .unwrap_or("(no message)")
                .to_string(),
        ),
        None => Verdict::Broken(format!("no response.allowed: {}", text())),
    }
}
