//! What each registry host said about the OCI 1.1 referrers API, remembered for a while so that
//! [`RegistryClient::referrers`](super::RegistryClient::referrers) asks only the place that works:
//! the API on a registry that has it, the `sha256-<hex>` fallback tag on one that has not.
//!
//! A host not known (never asked, or its answer older than the TTL) is asked both at once. The
//! memo is small and bounded: at most [`MAX_HOSTS`] hosts, the one learned longest ago making
//! room for a new one. It only saves round trips: an answer that contradicts it (an API that
//! went away) is followed and learned anew, and a host forgotten is simply asked both again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long an answer is trusted.
pub const TTL: Duration = Duration::from_secs(10 * 60);
/// How many hosts are remembered.
pub const MAX_HOSTS: usize = 256;

/// Host → (has the referrers API, when that was learned).
#[derive(Debug)]
pub(crate) struct ReferrersMemo {
    hosts: Mutex<HashMap<String, (bool, Instant)>>,
    ttl: Duration,
    max_hosts: usize,
}

impl Default for ReferrersMemo {
    fn default() -> Self {
        Self::with_limits(TTL, MAX_HOSTS)
    }
}

impl ReferrersMemo {
    fn with_limits(ttl: Duration, max_hosts: usize) -> Self {
        Self {
            hosts: Mutex::default(),
            ttl,
            max_hosts: max_hosts.max(1),
        }
    }

    /// Whether `host` has the referrers API, if known.
    pub(crate) fn has_api(&self, host: &str) -> Option<bool> {
        self.has_api_at(host, Instant::now())
    }

    /// Remembers whether `host` has the referrers API.
    pub(crate) fn learn(&self, host: &str, has_api: bool) {
        self.learn_at(host, has_api, Instant::now());
    }

    fn has_api_at(&self, host: &str, now: Instant) -> Option<bool> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let &(has_api, learned) = hosts.get(host)?;
        (now.saturating_duration_since(learned) < self.ttl).then_some(has_api)
    }

    fn learn_at(&self, host: &str, has_api: bool, now: Instant) {
        // A panic elsewhere while holding the lock cannot leave the map half-written.
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        // Full: the answer learned longest ago (expired ones first, as they are older) goes.
        if !hosts.contains_key(host)
            && hosts.len() >= self.max_hosts
            && let Some(oldest) = hosts
                .iter()
                .min_by_key(|(_, (_, learned))| *learned)
                .map(|(h, _)| h.clone())
        {
            hosts.remove(&oldest);
        }
        hosts.insert(host.to_owned(), (has_api, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_host_is_unknown_and_a_learned_one_known() {
        let memo = ReferrersMemo::default();
        assert_eq!(memo.has_api("r.example"), None);
        memo.learn("r.example", false);
        assert_eq!(memo.has_api("r.example"), Some(false));
        memo.learn("r.example", true);
        assert_eq!(memo.has_api("r.example"), Some(true));
        assert_eq!(memo.has_api("other.example"), None);
    }

    #[test]
    fn an_answer_is_forgotten_after_the_ttl() {
        let memo = ReferrersMemo::default();
        let t0 = Instant::now();
        memo.learn_at("r.example", true, t0);
        assert_eq!(memo.has_api_at("r.example", t0 + TTL / 2), Some(true));
        assert_eq!(memo.has_api_at("r.example", t0 + TTL), None);
    }

    #[test]
    fn at_most_max_hosts_are_kept_the_oldest_making_room() {
        let memo = ReferrersMemo::with_limits(TTL, 3);
        let t0 = Instant::now();
        for (i, host) in ["a", "b", "c"].into_iter().enumerate() {
            memo.learn_at(host, true, t0 + Duration::from_secs(i as u64));
        }
        // Relearning a known host takes no room.
        memo.learn_at("a", false, t0 + Duration::from_secs(3));
        let now = t0 + Duration::from_secs(4);
        memo.learn_at("d", true, now);
        assert_eq!(memo.has_api_at("b", now), None, "b was the oldest");
        for host in ["a", "c", "d"] {
            assert!(memo.has_api_at(host, now).is_some(), "{host} is kept");
        }
        assert_eq!(memo.hosts.lock().unwrap().len(), 3);
    }
}
