//! Verifications that outlive the caller that started them ([`Verifier::verify_or_continue`]).
//!
//! An admission review must be answered before its deadline, but a verification cut off by that
//! deadline has usually spent most of its registry requests already, and a controller retries
//! the same image moments later. So a verification that misses the cache runs in its own task
//! with a longer deadline (the background lifetime); the caller waits for it until its own
//! deadline, and if it is cut off the task keeps running and stores its verdict in the cache
//! (verdicts are cached, failures of the path to the registry are not: see [`crate::cached`]).
//! The retry is then answered from the cache.
//!
//! Bounded: at most `max_running` verifications run without a caller (a cut-off verification
//! beyond that is stopped and counted as dropped), each for at most `max_lifetime` from its
//! start (then it is stopped and counted as expired).
//!
//! A caller whose registry host is paused by a rate limit past its deadline is answered at once
//! with [`RegistryError::Paused`] rather than at its deadline; its verification waits the pause
//! out in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::ImageRequirement;
use crate::cached::Verifier;
use crate::error::{RegistryError, VerifyError};
use crate::reference::ImageRef;
use crate::registry::Pause;
use crate::requirement::Verdict;

/// Bounds on verifications that run on after their caller's deadline.
#[derive(Debug, Clone)]
pub struct BackgroundConfig {
    /// Verifications running without a caller at once (0: none; a cut-off one is stopped).
    pub max_running: usize,
    /// Longest a verification runs, from its start, caller or not.
    pub max_lifetime: Duration,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self {
            max_running: 1024,
            max_lifetime: Duration::from_secs(120),
        }
    }
}

/// What happened to a cut-off verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackgroundEvent {
    /// It went on running without its caller.
    Started,
    /// It finished within its lifetime (its verdict cached unless transient).
    Finished,
    /// Its lifetime ran out first.
    Expired,
    /// It was stopped at once: `max_running` were already running.
    Dropped,
}

impl BackgroundEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            BackgroundEvent::Started => "started",
            BackgroundEvent::Finished => "finished",
            BackgroundEvent::Expired => "expired",
            BackgroundEvent::Dropped => "dropped",
        }
    }
}

/// Called on every [`BackgroundEvent`], for metrics.
pub type BackgroundObserver = Arc<dyn Fn(BackgroundEvent) + Send + Sync>;

/// Totals of [`BackgroundEvent`]s.
#[derive(Debug, Default)]
pub struct BackgroundStats {
    pub started: AtomicU64,
    pub finished: AtomicU64,
    pub expired: AtomicU64,
    pub dropped: AtomicU64,
}

/// The bound and counters shared by a verifier's clones.
pub(crate) struct Background {
    cfg: BackgroundConfig,
    slots: Arc<Semaphore>,
    stats: BackgroundStats,
    observer: Option<BackgroundObserver>,
}

impl Background {
    pub(crate) fn new(cfg: BackgroundConfig, observer: Option<BackgroundObserver>) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(cfg.max_running)),
            cfg,
            stats: BackgroundStats::default(),
            observer,
        }
    }

    pub(crate) fn stats(&self) -> &BackgroundStats {
        &self.stats
    }

    fn record(&self, event: BackgroundEvent) {
        let counter = match event {
            BackgroundEvent::Started => &self.stats.started,
            BackgroundEvent::Finished => &self.stats.finished,
            BackgroundEvent::Expired => &self.stats.expired,
            BackgroundEvent::Dropped => &self.stats.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = &self.observer {
            o(event);
        }
    }

    /// Lets `task` run on without its caller until `until` if a slot is free; stops it otherwise.
    fn detach(self: &Arc<Self>, mut task: Task, until: Instant) {
        let Some(mut task) = task.0.take() else {
            return;
        };
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            task.abort();
            self.record(BackgroundEvent::Dropped);
            return;
        };
        self.record(BackgroundEvent::Started);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let _slot = slot;
            let event = match timeout_at(until, &mut task).await {
                Ok(Ok(verdict)) if !ran_out(&verdict) => BackgroundEvent::Finished,
                Ok(_) => BackgroundEvent::Expired,
                Err(_) => {
                    task.abort();
                    BackgroundEvent::Expired
                }
            };
            this.record(event);
        });
    }
}

/// Whether a verdict is the verification's own deadline passing.
fn ran_out(verdict: &Verdict) -> bool {
    matches!(
        verdict.as_ref(),
        Err(VerifyError::Deadline { .. }
            | VerifyError::Registry {
                source: RegistryError::Deadline { .. },
                ..
            })
    )
}

impl Verifier {
    /// Verifies `image` against `req` like [`Verifier::verify_requirement`], answering by
    /// `deadline`; a verification cut off by it runs on in the background (see the module docs)
    /// and caches its verdict for the next caller.
    pub async fn verify_or_continue(
        &self,
        image: &ImageRef,
        req: Arc<ImageRequirement>,
        deadline: Instant,
    ) -> Verdict {
        if let Some(verdict) = self.peek(image, &req).await {
            return verdict;
        }
        let started = Instant::now();
        let budget_ms = u64::try_from(deadline.saturating_duration_since(started).as_millis())
            .unwrap_or(u64::MAX);
        let until = deadline.max(started + self.background.cfg.max_lifetime);
        let (verifier, owned) = (self.clone(), image.clone());
        // Stopped if this call is dropped before it hands the task over (a caller's own timeout).
        let mut task = Task(Some(tokio::spawn(async move {
            verifier.verify_requirement(&owned, &req, until).await
        })));
        let mut pauses = self.registry().watch_pauses(image);
        let past_deadline = |p: Option<Pause>| p.filter(|p| p.until >= deadline);
        let mut cut_by = past_deadline(self.registry().paused(image));
        // Each turn ends the wait or sees a new pause; the deadline ends it in any case.
        while cut_by.is_none() {
            tokio::select! {
                joined = task.join() => return joined.unwrap_or_else(|e| failed(image, &e)),
                () = sleep_until(deadline) => break,
                changed = pauses.changed() => match changed {
                    Ok(()) => cut_by = past_deadline(*pauses.borrow_and_update()),
                    // The client outlives this call; without it, wait for the deadline alone.
                    Err(_) => {
                        sleep_until(deadline).await;
                        break;
                    }
                },
            }
        }
        self.background.detach(task, until);
        let host = self.registry().host_of(image).to_string();
        let paused = cut_by.or_else(|| self.registry().paused(image));
        Arc::new(Err(match paused {
            Some(pause) => VerifyError::Registry {
                image: image.to_string(),
                source: RegistryError::Paused {
                    registry: host,
                    status: pause.status,
                    left_ms: u64::try_from(pause.remaining().as_millis()).unwrap_or(u64::MAX),
                },
            },
            None => VerifyError::Deadline {
                image: image.to_string(),
                registry: host,
                budget_ms,
            },
        }))
    }

    /// Totals of what happened to cut-off verifications.
    pub fn background_stats(&self) -> &BackgroundStats {
        self.background.stats()
    }
}

/// A verification task, aborted when dropped unless [`Background::detach`] took it.
struct Task(Option<JoinHandle<Verdict>>);

impl Task {
    /// Waits for the task; cancel-safe (a select may drop this future and poll a new one).
    async fn join(&mut self) -> Result<Verdict, tokio::task::JoinError> {
        match &mut self.0 {
            Some(handle) => handle.await,
            // Taken only by `detach`, after the last join.
            None => std::future::pending().await,
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

fn failed(image: &ImageRef, e: &tokio::task::JoinError) -> Verdict {
    Arc::new(Err(VerifyError::Malformed {
        image: image.to_string(),
        what: "verification".into(),
        cause: format!("the verification task failed: {e}"),
    }))
}
