//! The file-polling reloads (policies, serving certificate): the ticker, and the loop that runs
//! a [`Watched`] store's reload on it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::metrics::Metrics;

/// Ticks every `interval`, the first at once, until `stop` fires.
pub struct Poll {
    tick: Interval,
    stop: watch::Receiver<bool>,
}

impl Poll {
    pub fn new(interval: Duration, stop: watch::Receiver<bool>) -> Self {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { tick, stop }
    }

    /// Waits for the next tick: true then, false once `stop` has fired.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.tick.tick() => true,
            _ = self.stop.changed() => false,
        }
    }
}

/// A store that re-reads its files when they change.
pub trait Watched: Send + Sync + 'static {
    /// What a reload that found a change yields.
    type Outcome: Send + 'static;
    /// The store in the log line of a reload task that failed ("Policy", "Certificate").
    const WHAT: &'static str;
    /// Re-reads the files (blocking I/O); `None` when nothing changed.
    fn check(&self) -> Option<Self::Outcome>;
    /// Logs and counts one outcome.
    fn report(&self, metrics: &Metrics, outcome: Self::Outcome);
}

/// Reloads `store` now and then every `interval` until `stop` fires, reporting each change. A
/// reload task that panicked is logged and the polling goes on.
pub async fn reload_every<S: Watched>(
    store: Arc<S>,
    interval: Duration,
    metrics: Metrics,
    stop: watch::Receiver<bool>,
) {
    let mut poll = Poll::new(interval, stop);
    while poll.next().await {
        let checked = store.clone();
        match tokio::task::spawn_blocking(move || checked.check()).await {
            Ok(Some(outcome)) => store.report(&metrics, outcome),
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "{} reload task failed", S::WHAT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticks_until_stopped() {
        let (tx, rx) = watch::channel(false);
        let mut poll = Poll::new(Duration::from_secs(5), rx);
        assert!(poll.next().await, "the first tick comes at once");
        assert!(poll.next().await, "then one every interval");
        tx.send(true).unwrap();
        assert!(!poll.next().await, "a stop ends the polling");
    }
}
