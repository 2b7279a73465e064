//! A real OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) serving
//! plain HTTP on a free 127.0.0.1 port, its storage and log in a temporary directory.
//!
//! It can be stopped and restarted on the same port with the same storage, for tests of a
//! registry that goes away mid-test, and is killed when dropped. It has no referrers API
//! (cosign's tag fallback `sha256-<hex>.sig` is what works against it).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::{free_port, try_tool};

const READY_TIMEOUT: Duration = Duration::from_secs(10);
const PORT_ATTEMPTS: usize = 3;

/// A running `docker-registry serve` process. See the module docs.
#[derive(Debug)]
pub struct Registry {
    binary: PathBuf,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    /// An htpasswd file when the registry requires basic auth.
    htpasswd: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry and waits (≤ 10 s) until `GET /v2/` answers 200. An error naming the
    /// fix when `docker-registry` is missing (`make bootstrap` installs it).
    pub async fn start() -> Result<Registry> {
        let binary = try_tool("docker-registry").map_err(|why| anyhow!(why))?;
        Registry::start_with(binary, None).await
    }

    /// Like [`Registry::start`], with HTTP basic auth for one user (an htpasswd file written by
    /// `htpasswd -B`, from Debian's apache2-utils, which `make bootstrap` installs).
    pub async fn start_with_basic_auth(user: &str, password: &str) -> Result<Registry> {
        let binary = try_tool("docker-registry").map_err(|why| anyhow!(why))?;
        let htpasswd = try_tool("htpasswd").map_err(|why| anyhow!(why))?;
        let out = std::process::Command::new(htpasswd)
            .args(["-Bbn", user, password])
            .output()?;
        if !out.status.success() {
            return Err(anyhow!(
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let file = tempfile::Builder::new()
            .prefix("portcullis-htpasswd-")
            .tempfile()?;
        fs::write(file.path(), &out.stdout)?;
        let (_, path) = file.keep()?;
        Registry::start_with(binary, Some(path)).await
    }

    async fn start_with(binary: PathBuf, htpasswd: Option<PathBuf>) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-registry-")
            .tempdir()?;
        let mut registry = Registry {
            binary,
            dir,
            port: 0,
            child: None,
            htpasswd,
        };
        // free_port() only says the port was free a moment ago: retry on a lost race.
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            registry.port = free_port();
            registry.write_config()?;
            match registry.spawn_and_wait().await {
                Ok(()) => return Ok(registry),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("registry did not start")))
    }

    /// `127.0.0.1:PORT`, the registry host to put in image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The port the registry listens on (unchanged by [`Registry::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The registry's combined stdout/stderr log (kept across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// The last `lines` lines of the log, for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process is currently running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the process (SIGKILL by PID) and waits for it to exit. No-op when stopped.
    pub async fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            if child.try_wait()?.is_none() {
                child.start_kill().context("kill docker-registry")?;
            }
            child.wait().await.context("wait for docker-registry")?;
        }
        Ok(())
    }

    /// Stops the registry if running, then starts it again on the same port and storage.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.spawn_and_wait().await
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn write_config(&self) -> Result<()> {
        let data = self.dir.path().join("data");
        fs::create_dir_all(&data)?;
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n{auth}",
            data = data.display(),
            port = self.port,
            auth = match &self.htpasswd {
                Some(path) => format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    path.display()
                ),
                None => String::new(),
            },
        );
        fs::write(self.config_path(), config)?;
        Ok(())
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        let log = open_log(&self.log_path())?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", self.binary.display()))?;
        self.child = Some(child);
        match self.wait_ready().await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stop().await?;
                Err(e.context(format!("registry log:\n{}", self.log_tail(20))))
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()?;
        let url = format!("{}/v2/", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "docker-registry on port {} exited early: {status}",
                    self.port
                );
            }
            if let Ok(res) = http.get(&url).send().await
                && (res.status() == reqwest::StatusCode::OK
                    || (self.htpasswd.is_some()
                        && res.status() == reqwest::StatusCode::UNAUTHORIZED))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "docker-registry on port {} not ready after {READY_TIMEOUT:?}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // Best effort: kill_on_drop would do it too; the runtime reaps the process.
            let _ = child.start_kill();
        }
    }
}

fn open_log(path: &Path) -> Result<File> {
    Ok(OpenOptions::new().create(true).append(true).open(path)?)
}
