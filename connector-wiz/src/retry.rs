//! When and how long to wait before retrying a request: exponential backoff with full
//! jitter, capped, and the server's `Retry-After` when it sent one.

use std::time::Duration;

/// Retry limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry, doubled each time.
    pub base_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry). `unit` in [0, 1) is
    /// the jitter draw. A `Retry-After` is honoured (up to the cap) instead of backoff.
    pub fn delay(&self, retry: u32, retry_after: Option<u32>, unit: f64) -> Duration {
        if let Some(seconds) = retry_after {
            return Duration::from_secs(u64::from(seconds)).min(self.max_delay);
        }
        let exponential = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        exponential
            .min(self.max_delay)
            .mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A jitter draw in [0, 1) from the clock's sub-second nanoseconds and a counter;
/// it only has to decorrelate clients, not be unpredictable.
pub fn jitter_unit(counter: u32) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = (u64::from(nanos) ^ (u64::from(counter) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, None, 0.999_999),
            Duration::from_millis(500).mul_f64(0.999_999)
        );
        assert_eq!(p.delay(3, None, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(20, None, 1.0), Duration::from_secs(30));
        assert_eq!(p.delay(2, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(7), 0.1), Duration::from_secs(7));
        assert_eq!(p.delay(1, Some(3600), 0.1), Duration::from_secs(30));
    }

    #[test]
    fn jitter_is_a_unit_draw() {
        for i in 0..100 {
            let u = jitter_unit(i);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
