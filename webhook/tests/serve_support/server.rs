//! A real `portcullis serve` process on kernel-chosen loopback ports, stopped by PID on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::*;

// === the real binary ===

/// A running `portcullis serve`, stopped (by PID) when dropped.
pub struct Server {
    pub child: Child,
    pub admission: SocketAddr,
    pub admin: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on loopback ports chosen by the kernel, with short reload intervals,
    /// and waits until both listeners are up.
    pub fn start(cert: &Path, key: &Path, policy_dir: &Path, extra: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .arg("--policy")
        .arg(policy_dir)
        .args([
            "--log-format",
            "json",
            "--policy-reload-interval",
            "100ms",
            "--tls-reload-interval",
            "100ms",
        ])
        .args(extra)
        .env("RUST_LOG", "info")
        .env_remove("PORTCULLIS_LISTEN")
        // No cluster watch unless a test asks for one.
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn portcullis serve");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let message = v["message"].as_str().unwrap_or("");
                        if message.ends_with("listener ready") {
                            let _ = tx.send((
                                message.to_string(),
                                v["addr"].as_str().unwrap_or("").to_string(),
                            ));
                        }
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let (mut admission, mut admin) = (None, None);
        while admission.is_none() || admin.is_none() {
            match rx.recv_timeout(EVENTUALLY) {
                Ok((message, addr)) if message.starts_with("Admission") => {
                    admission = addr.parse().ok()
                }
                Ok((_, addr)) => admin = addr.parse().ok(),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "portcullis serve did not start; logs:\n{}",
                        logs.lock().unwrap().join("\n")
                    );
                }
            }
        }
        Self {
            child,
            admission: admission.unwrap(),
            admin: admin.unwrap(),
            logs,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (or another signal name understood by `kill`) to this process only.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {}", self.pid());
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let give_up = tokio::time::Instant::now() + EVENTUALLY;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "portcullis serve did not exit; logs:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub async fn readyz(&self) -> (u16, String) {
        http_get(self.admin, "/readyz").await.unwrap()
    }

    /// Waits until `/readyz` reports a policy-reload error naming `source` (a policy file, a
    /// trusted root); returns its status and body.
    pub async fn reload_error_reported(&self, source: &str) -> (u16, String) {
        eventually(
            &format!("readyz to report a reload error in {source}"),
            || async {
                let (status, body) = self.readyz().await;
                (body.contains("policy-reload error") && body.contains(source))
                    .then_some((status, body))
            },
        )
        .await
    }

    pub async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await.unwrap().1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A temporary directory holding a serving certificate and a policy folder.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_der: Vec<u8>,
    pub policies: PathBuf,
}

impl Workdir {
    /// With the shipped restricted policy in the policy folder.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new();
        let tls = dir.path().join("tls");
        std::fs::create_dir(&tls).unwrap();
        let (cert, key, cert_der) = pki.write_leaf(&tls, "one");
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        let (_, restricted) = restricted_policy();
        std::fs::write(policies.join("pod-security-restricted.yaml"), restricted).unwrap();
        Self {
            dir,
            pki,
            cert,
            key,
            cert_der,
            policies,
        }
    }

    pub fn start(&self, extra: &[&str]) -> Server {
        Server::start(&self.cert, &self.key, &self.policies, extra)
    }

    /// `portcullis serve` with this folder's certificate and policies and `extra`, no cluster
    /// from the environment, run to its exit: for settings refused at startup.
    pub fn serve_to_exit(&self, extra: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("--tls-cert")
            .arg(&self.cert)
            .arg("--tls-key")
            .arg(&self.key)
            .arg("--policy")
            .arg(&self.policies)
            .args(extra)
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap()
    }

    /// A client of `server`'s admission listener, trusting this folder's CA.
    pub async fn connect(&self, server: &Server) -> Client {
        Client::connect(server.admission, &self.pki.ca_pem())
            .await
            .unwrap()
    }
}
