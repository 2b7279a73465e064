//! The load generator: N keep-alive TLS connections made the way the API server makes them (the
//! CA bundle as the only root, the Service DNS name, HTTP/1.1), each posting AdmissionReviews to
//! `/validate?timeout=10s` back to back.
//!
//! Two modes, both bounded by a request count AND a time cap:
//! - closed loop: every connection sends its next review as soon as the previous answer is in,
//!   which gives the maximum throughput (and the latency at saturation);
//! - fixed rate: a pacer releases requests at `rate` per second (1 ms ticks, catching up after a
//!   late tick) to whichever connection is free. Latency is measured from the send, like `oha`
//!   without latency correction; the run also reports it from the release, which adds the wait
//!   for a free connection (coordinated omission) and exposes a server that falls behind.
//!
//! Every answer is checked (HTTP 200, and `"allowed":true|false` when the scenario knows what to
//! expect); mismatches are counted and the first one is kept for the report. Numbers are only
//! printed, never asserted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::procs::SERVICE_DNS;

const PATH: &str = "/validate?timeout=10s";

/// Where to send: the admission listener and a TLS client trusting only the bench CA.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    connector: TlsConnector,
}

impl Target {
    pub fn new(addr: SocketAddr, ca_pem: &str) -> Self {
        Self {
            addr,
            connector: portcullis_testkit::tls_connector(ca_pem).unwrap(),
        }
    }

    pub async fn connect(&self) -> Conn {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from(SERVICE_DNS).unwrap();
        let tls = self.connector.connect(name, tcp).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn {
            sender,
            _task: AbortOnDrop(task),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One keep-alive HTTP/1.1 connection over TLS.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    _task: AbortOnDrop,
}

impl Conn {
    pub async fn post(&mut self, body: Bytes) -> hyper::Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let request = hyper::Request::post(PATH)
            .header("host", SERVICE_DNS)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}

/// How much load, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub conns: usize,
    pub max_requests: usize,
    pub cap: Duration,
    /// `None`: closed loop. `Some(r)`: `r` requests per second.
    pub rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Send → answer, sorted.
    pub latencies: Vec<Duration>,
    /// Release by the pacer → answer, sorted (fixed rate only).
    pub from_release: Vec<Duration>,
    pub elapsed: Duration,
    pub unexpected: usize,
    pub first_unexpected: Option<String>,
}

impl Run {
    pub fn n(&self) -> usize {
        self.latencies.len()
    }

    pub fn p(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }

    pub fn p_release(&self, q: f64) -> Duration {
        percentile(&self.from_release, q)
    }

    pub fn throughput(&self) -> f64 {
        self.n() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    from_release: Vec<Duration>,
    unexpected: usize,
    first_unexpected: Option<String>,
}

/// Runs `load` against `target`; request `i` posts `bodies[i % len]`. `expect_allowed`: the
/// `allowed` every answer must carry (`None`: any, HTTP 200 only).
pub async fn run(
    target: &Target,
    bodies: Arc<Vec<Bytes>>,
    expect_allowed: Option<bool>,
    load: Load,
) -> Run {
    // Handshakes are not part of the measurement.
    let mut conns = Vec::with_capacity(load.conns);
    for _ in 0..load.conns {
        conns.push(target.connect().await);
    }
    let start = Instant::now();
    let deadline = start + load.cap;
    let next = Arc::new(AtomicUsize::new(0));
    let releases = load.rate.map(|rate| {
        let (tx, rx) = mpsc::channel(load.max_requests.max(1));
        tokio::spawn(pace(tx, rate, load.max_requests, start, deadline));
        Arc::new(Mutex::new(rx))
    });
    let workers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (bodies, next, releases) = (bodies.clone(), next.clone(), releases.clone());
            tokio::spawn(async move {
                let mut s = Samples::default();
                loop {
                    let released = match &releases {
                        None => None,
                        Some(rx) => match rx.lock().await.recv().await {
                            Some(at) => Some(at),
                            None => break,
                        },
                    };
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= load.max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let sent = Instant::now();
                    let answer = conn.post(bodies[i % bodies.len()].clone()).await;
                    let done = Instant::now();
                    s.latencies.push(done - sent);
                    if let Some(at) = released {
                        s.from_release.push(done - at);
                    }
                    let problem = match &answer {
                        Err(e) => Some(format!("transport error: {e}")),
                        Ok((200, body)) if answer_matches(body, expect_allowed) => None,
                        Ok((status, body)) => Some(format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(600)])
                        )),
                    };
                    if let Some(p) = problem {
                        s.unexpected += 1;
                        s.first_unexpected.get_or_insert(p);
                        if answer.is_err() {
                            break;
                        }
                    }
                }
                (s, Instant::now())
            })
        })
        .collect();
    let mut total = Run::default();
    let mut last = start;
    for worker in workers {
        let (s, finished) = worker.await.unwrap();
        last = last.max(finished);
        total.latencies.extend(s.latencies);
        total.from_release.extend(s.from_release);
        total.unexpected += s.unexpected;
        if total.first_unexpected.is_none() {
            total.first_unexpected = s.first_unexpected;
        }
    }
    total.latencies.sort_unstable();
    total.from_release.sort_unstable();
    total.elapsed = last - start;
    total
}

/// Releases `total` requests at `rate`/s from `start` until `deadline`, then closes the channel.
async fn pace(
    tx: mpsc::Sender<Instant>,
    rate: f64,
    total: usize,
    start: Instant,
    deadline: Instant,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut released = 0;
    while released < total {
        tick.tick().await;
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let due = (((now - start).as_secs_f64() * rate) as usize + 1).min(total);
        while released < due {
            if tx.send(now).await.is_err() {
                return;
            }
            released += 1;
        }
    }
}

fn answer_matches(body: &[u8], expect_allowed: Option<bool>) -> bool {
    let needle: &[u8] = match expect_allowed {
        None => return true,
        Some(true) => br#""allowed":true"#,
        Some(false) => br#""allowed":false"#,
    };
    body.windows(needle.len()).any(|w| w == needle)
}
