//! One shared back-off and one concurrency bound per registry host.
//!
//! When any request to a host is answered 429 or 503, the host is paused: for the registry's
//! `Retry-After` (seconds or an HTTP date), else the client's backoff. Every request to that host
//! then waits for the pause to end before it is sent, so a throttled registry sees one refused
//! request per pause rather than one per waiting caller. A request whose deadline falls inside
//! the pause fails at once, naming the host and the time left,
//! instead of sleeping into its deadline
//! ([`crate::error::RegistryError::Paused`], made by the client). At most `max_concurrent` requests per host are in
//! flight at once; the others queue (within their deadline).
//!
//! It decides nothing about retries (the client's loop does) and keeps no per-request state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep_until, timeout_at};

/// Called when a host is paused: the host and the length of the pause.
pub type PauseObserver = Arc<dyn Fn(&str, Duration) + Send + Sync>;

/// A pause in force: until when, and the status that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub until: Instant,
    pub status: u16,
}

impl Pause {
    /// Time left from now (zero once over).
    pub fn remaining(&self) -> Duration {
        self.until.saturating_duration_since(Instant::now())
    }
}

/// The gates of every host one registry client talks to (shared by its clones).
pub(crate) struct HostGates {
    max_concurrent: usize,
    hosts: Mutex<HashMap<String, Arc<Gate>>>,
}

struct Gate {
    permits: Arc<Semaphore>,
    /// The current (or last) pause; subscribers learn of each new one.
    pause: watch::Sender<Option<Pause>>,
}

/// Why [`HostGates::enter`] let no request through.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The host is paused past the deadline.
    Paused(Pause),
    /// The deadline passed while queued for a slot.
    Deadline,
}

impl HostGates {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            max_concurrent: max_concurrent.max(1),
            hosts: Mutex::default(),
        }
    }

    fn gate(&self, host: &str) -> Arc<Gate> {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(hosts.entry(host.to_string()).or_insert_with(|| {
            Arc::new(Gate {
                permits: Arc::new(Semaphore::new(self.max_concurrent)),
                pause: watch::channel(None).0,
            })
        }))
    }

    /// Waits until `host` is not paused and a request slot is free; the slot is held until the
    /// permit is dropped. Fails at once when a pause ends at or past `deadline`.
    pub(crate) async fn enter(
        &self,
        host: &str,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, Refused> {
        let gate = self.gate(host);
        // Each turn either sleeps to the end of a pause or returns; pauses end, so this ends.
        loop {
            if let Some(pause) = gate.active_pause() {
                if pause.until >= deadline {
                    return Err(Refused::Paused(pause));
                }
                sleep_until(pause.until).await;
                continue;
            }
            let permit = timeout_at(deadline, Arc::clone(&gate.permits).acquire_owned())
                .await
                .map_err(|_| Refused::Deadline)?
                // The semaphore is never closed.
                .map_err(|_| Refused::Deadline)?;
            // A pause may have begun while this request queued for its slot.
            if gate.active_pause().is_none() {
                return Ok(permit);
            }
        }
    }

    /// Pauses `host` for `pause` from now (a longer pause already in force stands). Returns
    /// whether this started or lengthened the pause.
    pub(crate) fn pause(&self, host: &str, status: u16, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        self.gate(host)
            .pause
            .send_if_modified(|current| match current {
                Some(p) if p.until >= until => false,
                _ => {
                    *current = Some(Pause { until, status });
                    true
                }
            })
    }

    /// The pause in force on `host`, if any.
    pub(crate) fn paused(&self, host: &str) -> Option<Pause> {
        self.gate(host).active_pause()
    }

    /// A receiver that changes whenever `host` is paused (anew or for longer).
    pub(crate) fn watch(&self, host: &str) -> watch::Receiver<Option<Pause>> {
        self.gate(host).pause.subscribe()
    }
}

impl Gate {
    fn active_pause(&self) -> Option<Pause> {
        let pause = (*self.pause.borrow())?;
        (pause.until > Instant::now()).then_some(pause)
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date (`None` when it is neither). A date in
/// the past is no pause.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        let soon = SystemTime::now() + Duration::from_secs(120);
        let left = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(
            left > Duration::from_secs(100) && left <= Duration::from_secs(120),
            "{left:?}"
        );
        let past = SystemTime::now() - Duration::from_secs(120);
        assert_eq!(
            parse_retry_after(&httpdate::fmt_http_date(past)),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_past_the_deadline_refuses_at_once_and_a_shorter_one_is_waited_out() {
        let gates = HostGates::new(2);
        assert!(gates.pause("r.example", 429, Duration::from_secs(5)));
        assert!(
            !gates.pause("r.example", 429, Duration::from_secs(1)),
            "shorter pause ignored"
        );
        let start = Instant::now();
        match gates
            .enter("r.example", start + Duration::from_secs(3))
            .await
        {
            Err(Refused::Paused(p)) => {
                assert_eq!(p.status, 429);
                assert_eq!(p.remaining(), Duration::from_secs(5));
            }
            other => panic!("expected a refusal naming the pause, got {other:?}"),
        }
        assert_eq!(Instant::now(), start, "refused without sleeping");
        // Another host is not paused.
        assert!(
            gates
                .enter("other.example", start + Duration::from_secs(1))
                .await
                .is_ok()
        );
        let permit = gates
            .enter("r.example", start + Duration::from_secs(9))
            .await;
        assert!(permit.is_ok());
        assert_eq!(
            Instant::now(),
            start + Duration::from_secs(5),
            "entered when the pause ended"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_beyond_the_bound_queue_until_a_slot_frees_or_the_deadline() {
        let gates = HostGates::new(1);
        let deadline = Instant::now() + Duration::from_secs(1);
        let held = gates.enter("r.example", deadline).await.unwrap();
        assert!(matches!(
            gates.enter("r.example", deadline).await,
            Err(Refused::Deadline)
        ));
        drop(held);
        assert!(
            gates
                .enter("r.example", deadline + Duration::from_secs(1))
                .await
                .is_ok()
        );
    }
}
