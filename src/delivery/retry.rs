//! When to try a failed batch again: a pure function of the schedule and of how many
//! attempts have been made, so it can be tested without a clock.

use std::time::Duration;

/// The wait before the next attempt, after attempt number `retry_count` (0 for the first
/// attempt) failed; `None` when every retry is used and the batch has failed.
pub fn next_retry_delay(schedule: &[Duration], retry_count: u32) -> Option<Duration> {
    schedule.get(retry_count as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_waits_then_give_up() {
        let schedule: Vec<Duration> =
            [30, 120, 300, 600, 1800, 3600, 7200].into_iter().map(Duration::from_secs).collect();
        assert_eq!(next_retry_delay(&schedule, 0), Some(Duration::from_secs(30)));
        assert_eq!(next_retry_delay(&schedule, 6), Some(Duration::from_secs(7200)));
        assert_eq!(next_retry_delay(&schedule, 7), None);
        assert_eq!(next_retry_delay(&[], 0), None);
    }
}
