//! The ticker behind the file-polling reloads (policies, serving certificate).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

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
