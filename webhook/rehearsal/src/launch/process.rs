//! Runs a [`Plan`]: writes the materialised volumes, starts the process with exactly the planned
//! args and env (the parent's environment is not inherited, as a container's is not), its output
//! in `serve.log`, waits (bounded) for the readiness probe to answer 200, and stops it by PID:
//! SIGTERM, then SIGKILL after a bounded wait. Dropping a [`Webhook`] kills a process that is
//! still running, so an error anywhere never leaves it behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

use super::plan::Plan;

/// A started webhook process.
#[derive(Debug)]
pub struct Webhook {
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl Webhook {
    /// Writes the plan's files, starts the process and waits until it is ready.
    pub async fn start(
        plan: &Plan,
        work_dir: &Path,
        ready_timeout: Duration,
    ) -> anyhow::Result<Self> {
        for d in &plan.dirs {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        for (path, bytes) in &plan.files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        let log = work_dir.join("serve.log");
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(&plan.program)
            .args(&plan.args)
            .env_clear()
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .current_dir(work_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", plan.program.display()))?;
        let pid = child.id().context("the started process has no PID")?;
        let mut webhook = Self {
            child: Some(child),
            pid,
            log,
        };
        webhook.wait_ready(plan, ready_timeout).await?;
        Ok(webhook)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the process's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn wait_ready(&mut self, plan: &Plan, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let (port, path) = match &plan.ready {
            Some((port, path)) => (*port, path.clone()),
            None => bail!("the container has no httpGet readiness or startup probe to wait for"),
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited before it was ready ({status}); last lines of {}:\n{}",
                    plan.program.display(),
                    self.log.display(),
                    self.log_tail(15)
                );
            }
            if let Ok(Ok((200, _))) = tokio::time::timeout(
                Duration::from_secs(2),
                portcullis_testkit::http_get(addr, &path),
            )
            .await
            {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "not ready after {timeout:?} (GET http://{addr}{path}); last lines of {}:\n{}",
                    self.log.display(),
                    self.log_tail(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the process by PID: SIGTERM, up to `grace` for it to exit, then SIGKILL.
    pub async fn stop(&mut self, grace: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .context("PID out of range")?;
        // The process may have exited since try_wait: ESRCH is fine.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                child.start_kill()?;
                child.wait().await?;
            }
        }
        Ok(())
    }
}
