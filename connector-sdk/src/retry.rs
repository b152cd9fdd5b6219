//! When and how long to wait before retrying a request: exponential backoff with full
//! jitter, capped, and exactly the server's `Retry-After` when it sent one.

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

/// What to do before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Wait this long (jittered backoff), then try again.
    Wait(Duration),
    /// Wait exactly as long as the server asked, then try again.
    Asked(Duration),
    /// The server asked for a wait (in seconds) longer than the policy's `max_delay`:
    /// retrying sooner would break its request, so the request fails as rate-limited.
    TooLong(u32),
}

impl RetryPolicy {
    /// What to do before retry number `retry` (1 for the first retry). `unit` in [0, 1)
    /// is the jitter draw. A server's wait is kept exactly, never shortened.
    pub fn backoff(&self, retry: u32, retry_after: Option<u32>, unit: f64) -> Backoff {
        if let Some(seconds) = retry_after {
            let asked = Duration::from_secs(u64::from(seconds));
            return if asked > self.max_delay {
                Backoff::TooLong(seconds)
            } else {
                Backoff::Asked(asked)
            };
        }
        let exponential = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        Backoff::Wait(
            exponential
                .min(self.max_delay)
                .mul_f64(unit.clamp(0.0, 1.0)),
        )
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

    fn wait(b: Backoff) -> Duration {
        match b {
            Backoff::Wait(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_down() {
        let p = RetryPolicy::default();
        assert_eq!(
            wait(p.backoff(1, None, 0.999_999)),
            Duration::from_millis(500).mul_f64(0.999_999)
        );
        assert_eq!(wait(p.backoff(3, None, 0.5)), Duration::from_secs(1));
        assert_eq!(wait(p.backoff(20, None, 1.0)), Duration::from_secs(30));
        assert_eq!(wait(p.backoff(2, None, 0.0)), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_kept_exactly_and_never_shortened() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.backoff(1, Some(7), 0.1),
            Backoff::Asked(Duration::from_secs(7))
        );
        assert_eq!(p.backoff(1, Some(0), 0.9), Backoff::Asked(Duration::ZERO));
        assert_eq!(
            p.backoff(1, Some(30), 0.1),
            Backoff::Asked(Duration::from_secs(30))
        );
        assert_eq!(p.backoff(1, Some(31), 0.1), Backoff::TooLong(31));
        assert_eq!(
            p.backoff(1, Some(u32::MAX), 0.1),
            Backoff::TooLong(u32::MAX)
        );
    }

    #[test]
    fn jitter_is_a_unit_draw() {
        for i in 0..100 {
            let u = jitter_unit(i);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
