//! Round trips: how many sequential waves of requests a client needed, from when each request
//! started and ended as the server saw it.
//!
//! Requests that overlap in time are one wave; a request that starts after another ended may
//! depend on its answer. The round trips are the length of the longest chain of requests in which
//! each starts after the previous one ended (strictly: equal instants overlap). This is what
//! latency multiplies by, whatever the number of requests. [`crate::Proxy::round_trips`] applies
//! it to the requests it saw; the intervals here are generic so the counting can be tested alone.

/// The length of the longest chain of `intervals` (`(start, end)`, `start <= end`) in which each
/// starts after the previous one ended. 0 for no intervals.
pub fn round_trips<T: Ord + Copy>(intervals: &[(T, T)]) -> usize {
    let mut by_end: Vec<(T, T)> = intervals.to_vec();
    by_end.sort_by_key(|&(start, end)| (end, start));
    // best[i]: the longest chain ending with by_end[i]; best_upto[i]: the max of best[..=i].
    let mut best_upto: Vec<usize> = Vec::with_capacity(by_end.len());
    for (i, &(start, _)) in by_end.iter().enumerate() {
        // The intervals that ended before this one started are a prefix of by_end.
        let before = by_end[..i].partition_point(|&(_, end)| end < start);
        let chain = 1 + before.checked_sub(1).map_or(0, |j| best_upto[j]);
        let upto = best_upto.last().copied().unwrap_or(0).max(chain);
        best_upto.push(upto);
    }
    best_upto.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::round_trips;

    #[test]
    fn nothing_is_no_round_trip() {
        assert_eq!(round_trips::<u32>(&[]), 0);
    }

    #[test]
    fn overlapping_requests_are_one_wave() {
        assert_eq!(round_trips(&[(0, 10), (1, 12), (5, 6), (6, 30)]), 1);
        // The short one ends before the last starts: that is a chain of two.
        assert_eq!(round_trips(&[(0, 10), (1, 12), (5, 6), (9, 30)]), 2);
    }

    #[test]
    fn a_request_starting_as_another_ends_overlaps_it() {
        assert_eq!(round_trips(&[(0, 10), (10, 20)]), 1);
        assert_eq!(round_trips(&[(0, 10), (11, 20)]), 2);
    }

    #[test]
    fn sequential_waves_add_up() {
        // HEAD; then .sig, referrers API and fallback tag together; then a blob; then another.
        let waves = [(0, 2), (3, 5), (3, 6), (4, 5), (7, 8), (9, 12)];
        assert_eq!(round_trips(&waves), 4);
    }

    #[test]
    fn the_longest_chain_counts_not_the_number_of_waves_seen_from_one_request() {
        // A long request overlapping a chain of three short ones: three round trips, not one.
        let intervals = [(0, 100), (1, 2), (3, 4), (5, 6)];
        assert_eq!(round_trips(&intervals), 3);
        // Order of the input does not matter.
        let shuffled = [(5, 6), (0, 100), (3, 4), (1, 2)];
        assert_eq!(round_trips(&shuffled), 3);
    }

    #[test]
    fn the_chain_through_short_requests_beats_the_one_through_a_long_one() {
        // Through the long (2,50): 3; through the short (3,4) and (5,6): 4.
        let intervals = [(0, 1), (2, 50), (3, 4), (5, 6), (60, 61)];
        assert_eq!(round_trips(&intervals), 4);
    }

    #[test]
    fn instantaneous_requests_chain_when_strictly_after() {
        assert_eq!(round_trips(&[(1, 1), (2, 2), (2, 2), (3, 3)]), 3);
    }
}
