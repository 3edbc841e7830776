//! The estimated wait a queued customer is shown (`estimated_wait_ms`, PROTOCOL.md v1.1).
//!
//! Each chat accepted out of a queue leaves one sample: how long it waited, divided by the
//! position it joined the queue at, i.e. the time it took the team to serve one place in
//! line. A chat at position `p` is estimated to wait `p` times the median of the recent
//! samples of its category. The median keeps one chat forgotten over lunch from skewing the
//! estimate; dividing by the joining position keeps a busy hour's long queues from being
//! read as slow service. Only the last [`KEEP`] samples younger than [`WINDOW`] count, so
//! the estimate follows the team as it is now; without any it is unknown (`None`).
//!
//! The samples live only in memory: after a restart the estimate is unknown until chats are
//! accepted again. That is acceptable for an estimate and keeps the store's formats as they are.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::clock::Timestamp;

/// Samples kept per category: enough for a stable median, few enough to follow a change of
/// staffing within minutes.
pub const KEEP: usize = 20;
/// Samples older than this no longer describe the team on duty.
pub const WINDOW: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    accepted_at: Timestamp,
    /// The chat's wait divided by the position it joined the queue at.
    per_position_ms: u64,
}

/// Recent waits per category, and the estimate made from them.
#[derive(Debug, Default)]
pub struct RecentWaits {
    samples: HashMap<String, VecDeque<Sample>>,
}

impl RecentWaits {
    /// A chat of `category`, queued at `queued_at` in place `joined_position`, was accepted
    /// (or claimed) at `accepted_at`.
    pub fn record(
        &mut self,
        category: &str,
        queued_at: Timestamp,
        joined_position: u32,
        accepted_at: Timestamp,
    ) {
        let waited = queued_at.until(accepted_at).as_millis() as u64;
        let sample = Sample { accepted_at, per_position_ms: waited / u64::from(joined_position.max(1)) };
        let samples = self.samples.entry(category.to_owned()).or_default();
        samples.push_back(sample);
        while samples.len() > KEEP {
            samples.pop_front();
        }
    }

    /// The estimated wait, from now, of the chat at `position` in `category`'s queue;
    /// `None` without a sample younger than [`WINDOW`].
    pub fn estimate(&self, category: &str, position: u32, now: Timestamp) -> Option<u64> {
        Some(self.per_place(category, now)?.saturating_mul(u64::from(position.max(1))))
    }

    /// The median time a recent chat of `category` took to move up one place in line.
    pub fn per_place(&self, category: &str, now: Timestamp) -> Option<u64> {
        let oldest = Timestamp(now.0.saturating_sub(WINDOW.as_millis() as i64));
        let mut recent: Vec<u64> = self
            .samples
            .get(category)?
            .iter()
            .filter(|s| s.accepted_at >= oldest)
            .map(|s| s.per_position_ms)
            .collect();
        if recent.is_empty() {
            return None;
        }
        recent.sort_unstable();
        let n = recent.len();
        Some(match n % 2 {
            1 => recent[n / 2],
            _ => (recent[n / 2 - 1] + recent[n / 2]) / 2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn at(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    #[test]
    fn nothing_is_known_before_a_chat_was_accepted() {
        let w = RecentWaits::default();
        assert_eq!(w.estimate("general", 1, at(0)), None);
    }

    #[test]
    fn the_median_per_place_in_line_times_the_position() {
        let mut w = RecentWaits::default();
        // Waits of 30 s at place 1, 120 s at place 2 (60 s a place), and 40 s at place 1.
        w.record("general", at(0), 1, at(30_000));
        w.record("general", at(0), 2, at(120_000));
        w.record("general", at(100_000), 1, at(140_000));
        // Per place: 30, 60, 40 s; the median is 40 s.
        assert_eq!(w.estimate("general", 1, at(150_000)), Some(40_000));
        assert_eq!(w.estimate("general", 3, at(150_000)), Some(120_000));
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let mut w = RecentWaits::default();
        w.record("general", at(0), 1, at(10_000));
        w.record("general", at(0), 1, at(20_000));
        assert_eq!(w.estimate("general", 1, at(20_000)), Some(15_000));
    }

    #[test]
    fn one_forgotten_chat_does_not_skew_the_estimate() {
        let mut w = RecentWaits::default();
        for i in 0..4 {
            w.record("general", at(i * MIN), 1, at(i * MIN + 20_000));
        }
        w.record("general", at(0), 1, at(50 * MIN));
        assert_eq!(w.estimate("general", 1, at(50 * MIN)), Some(20_000));
    }

    #[test]
    fn categories_are_kept_apart() {
        let mut w = RecentWaits::default();
        w.record("billing", at(0), 1, at(90_000));
        assert_eq!(w.estimate("billing", 2, at(90_000)), Some(180_000));
        assert_eq!(w.estimate("general", 1, at(90_000)), None);
    }

    #[test]
    fn samples_older_than_the_window_are_forgotten() {
        let mut w = RecentWaits::default();
        w.record("general", at(0), 1, at(MIN));
        let window = WINDOW.as_millis() as i64;
        assert_eq!(w.estimate("general", 1, at(MIN + window)), Some(MIN as u64));
        assert_eq!(w.estimate("general", 1, at(MIN + window + 1)), None);
    }

    #[test]
    fn only_the_last_samples_count() {
        let mut w = RecentWaits::default();
        for _ in 0..KEEP {
            w.record("general", at(0), 1, at(100_000));
        }
        // KEEP fast chats push every slow one out.
        for _ in 0..KEEP {
            w.record("general", at(100_000), 1, at(105_000));
        }
        assert_eq!(w.estimate("general", 1, at(105_000)), Some(5_000));
    }

    #[test]
    fn a_clock_step_back_counts_as_no_wait() {
        let mut w = RecentWaits::default();
        w.record("general", at(10_000), 1, at(5_000));
        assert_eq!(w.estimate("general", 4, at(10_000)), Some(0));
    }
}
