//! The processes the admission bench starts, and the PKI they serve with.
//!
//! - [`Pki`]: a test CA (the webhook configuration's `caBundle`) and a serving certificate for
//!   the Service DNS name, written to the bench's temporary directory.
//! - [`start_echo`]: the floor, this example re-executed as `bench_admission echo-server`: the
//!   webhook's own TLS listener (`serve::tls`, same rustls configuration) in front of an axum
//!   router that reads the body and answers a fixed "allowed" review. It exits when its stdin
//!   closes, so it cannot outlive the bench even if the bench is killed.
//! - [`start_portcullis`]: the real release binary, `portcullis serve`, on free loopback ports,
//!   logging as deployed (JSON at info) to a file.
//!
//! Every process is a [`Proc`]: SIGKILLed by PID and reaped when dropped, on every path
//! (including a panic unwinding through `main`).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

pub use portcullis_testkit::http_get;

/// The DNS name the API server uses for the webhook Service.
pub const SERVICE_DNS: &str = "portcullis.portcullis-system.svc";

/// What the floor answers to every request.
const ECHO_ANSWER: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"bench","allowed":true}}"#;

// === PKI ===

/// A CA and a serving certificate (PEM files in the bench directory).
pub struct Pki {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn write(dir: &Path) -> Pki {
        let ca = portcullis_testkit::TestCa::new("portcullis bench CA").unwrap();
        let (cert, key) = ca
            .issue("portcullis bench", &[SERVICE_DNS, "127.0.0.1"])
            .unwrap();
        let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            cert: cert_path,
            key: key_path,
        }
    }
}

// === impl Proc ===

/// A child process, stopped (SIGKILL by PID) and reaped when dropped.
pub struct Proc {
    child: Child,
    name: &'static str,
    log: Option<PathBuf>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` and `VmHWM` (peak) from `/proc/PID/status`, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_else(|e| panic!("{} (pid {}) status: {e}", self.name, self.pid()));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Panics with the log tail when the process has exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = self
                .log
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "{} exited ({status}); last log lines:\n{}",
                self.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// === the floor ===

/// Starts this example as `echo-server` and returns it with its listening address.
pub fn start_echo(pki: &Pki) -> (Proc, SocketAddr) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .arg("echo-server")
        .arg(&pki.cert)
        .arg(&pki.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the echo server");
    let stdout = child.stdout.take().unwrap();
    let mut proc = Proc {
        child,
        name: "echo server",
        log: None,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    proc.check_alive();
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("echo server did not report its address: {line:?}"));
    (proc, addr)
}

/// The `echo-server` side: serves until stdin closes.
pub fn echo_main(cert: &Path, key: &Path) -> ExitCode {
    use axum::routing::post;
    use portcullis_webhook::serve::{CertStore, install_crypto_provider, tls};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        install_crypto_provider();
        let config = CertStore::load(cert, key).unwrap().server_config().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening {}", listener.local_addr().unwrap()).unwrap();
        stdout.flush().unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            let _ = stop.send(true);
        });
        let answer = |body: axum::body::Bytes| async move {
            drop(body);
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                ECHO_ANSWER,
            )
        };
        let app = axum::Router::new()
            .route("/validate", post(answer))
            .route("/mutate", post(answer));
        tls::serve(listener, config, app, stopped, Duration::from_secs(1)).await;
    });
    ExitCode::SUCCESS
}

// === portcullis serve ===

/// A running `portcullis serve`.
pub struct Portcullis {
    pub proc: Proc,
    pub admission: SocketAddr,
    pub admin: SocketAddr,
}

/// Starts `portcullis serve` on free loopback ports and waits (≤ 20 s) for `/readyz`.
pub async fn start_portcullis(
    bin: &Path,
    dir: &Path,
    pki: &Pki,
    policies: &Path,
    extra: &[&str],
) -> Portcullis {
    let mut last = String::new();
    // free_port() only says a port was free a moment ago: retry on a lost race.
    for attempt in 0..3 {
        let admission: SocketAddr = format!("127.0.0.1:{}", portcullis_testkit::free_port())
            .parse()
            .unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", portcullis_testkit::free_port())
            .parse()
            .unwrap();
        let log = dir.join(format!("serve-{attempt}.log"));
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(admission.to_string())
            .arg("--admin-listen")
            .arg(admin.to_string())
            .arg("--tls-cert")
            .arg(&pki.cert)
            .arg("--tls-key")
            .arg(&pki.key)
            .arg("--policy")
            .arg(policies)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PORTCULLIS_") {
                cmd.env_remove(name);
            }
        }
        // The deployment's defaults: JSON logs at info, one line per review (here to a file).
        cmd.env("RUST_LOG", "info");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut proc = Proc {
            child,
            name: "portcullis serve",
            log: Some(log.clone()),
        };
        let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::time::Instant::now() < give_up {
            if matches!(proc.child.try_wait(), Ok(Some(_))) {
                break;
            }
            if let Ok((200, _)) = http_get(admin, "/readyz").await {
                return Portcullis {
                    proc,
                    admission,
                    admin,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last = std::fs::read_to_string(&log).unwrap_or_default();
    }
    panic!("portcullis serve did not become ready; log:\n{last}");
}

/// Sum of the samples of `name` (any labels) in a Prometheus text body.
pub fn metric_sum(metrics: &str, name: &str, label_filter: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| l.contains(label_filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
