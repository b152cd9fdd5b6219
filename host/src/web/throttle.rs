//! The login throttle: failed token checks by client address, kept in a fixed number of
//! slots so that memory stays bounded and no step scans more than one slot, whatever
//! the number of addresses. It only ever slows down failures: a valid token is never
//! refused by it (see [`super::auth::check_token`]).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed token checks an address may make within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 10;
/// How far back failed checks count.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses the throttle holds at once; a new one takes the slot its hash names.
const SLOTS: usize = 4096;

/// One address's recent failures.
#[derive(Default)]
struct Slot {
    ip: Option<IpAddr>,
    failures: VecDeque<Instant>,
}

/// Recent failed token checks by address, in [`SLOTS`] slots. Two addresses whose keyed
/// hashes meet share a slot, the newer evicting the older: with a per-process random key,
/// nobody can aim a collision at a given address.
pub struct LoginThrottle {
    slots: Vec<Mutex<Slot>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
        }
    }
}

/// What failures count by: an IPv4 address, or an IPv6 /64 (one subscriber's network,
/// whose addresses a client may rotate through at will).
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

impl LoginThrottle {
    fn slot(&self, ip: IpAddr) -> std::sync::MutexGuard<'_, Slot> {
        let index = (self.hasher.hash_one(ip) % SLOTS as u64) as usize;
        self.slots[index].lock().expect("throttle slot lock")
    }

    /// How long `ip` must wait before its next failure is checked, if it must.
    pub fn wait(&self, ip: IpAddr, at: Instant) -> Option<Duration> {
        let ip = counted_as(ip);
        let mut slot = self.slot(ip);
        if slot.ip != Some(ip) {
            return None;
        }
        while slot
            .failures
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) > FAILURE_WINDOW)
        {
            slot.failures.pop_front();
        }
        let oldest = *slot.failures.front()?;
        (slot.failures.len() >= MAX_FAILURES)
            .then(|| FAILURE_WINDOW.saturating_sub(at.saturating_duration_since(oldest)))
    }

    /// Notes a failed check from `ip`.
    pub fn failed(&self, ip: IpAddr, at: Instant) {
        let ip = counted_as(ip);
        let mut slot = self.slot(ip);
        if slot.ip != Some(ip) {
            *slot = Slot {
                ip: Some(ip),
                failures: VecDeque::with_capacity(MAX_FAILURES),
            };
        }
        slot.failures.push_back(at);
        if slot.failures.len() > MAX_FAILURES {
            slot.failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_that_keeps_failing_waits_then_may_try_again() {
        let throttle = LoginThrottle::default();
        let (ip, start) = (IpAddr::from([10, 0, 0, 1]), Instant::now());
        for i in 0..MAX_FAILURES {
            assert_eq!(
                throttle.wait(ip, start),
                None,
                "failure {i} is still allowed"
            );
            throttle.failed(ip, start);
        }
        let wait = throttle.wait(ip, start + Duration::from_secs(1)).unwrap();
        assert!(wait <= FAILURE_WINDOW && wait >= FAILURE_WINDOW - Duration::from_secs(2));
        assert_eq!(
            throttle.wait(IpAddr::from([10, 0, 0, 2]), start),
            None,
            "others are not"
        );
        let later = start + FAILURE_WINDOW + Duration::from_secs(1);
        assert_eq!(throttle.wait(ip, later), None, "the window passes");
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let throttle = LoginThrottle::default();
        let at = Instant::now();
        for i in 0..MAX_FAILURES as u16 {
            let rotated = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, i, i, i);
            throttle.failed(IpAddr::V6(rotated), at);
        }
        let next = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(throttle.wait(next, at).is_some(), "the /64 is throttled");
        let other = "2001:db8:1:3::1".parse().unwrap();
        assert!(throttle.wait(other, at).is_none(), "the next /64 is not");
    }

    #[test]
    fn a_million_addresses_fit_in_the_same_slots() {
        let throttle = LoginThrottle::default();
        let at = Instant::now();
        for n in 0u32..1_000_000 {
            throttle.failed(IpAddr::from(n.to_be_bytes()), at);
        }
        assert_eq!(throttle.slots.len(), SLOTS);
        let held: usize = throttle
            .slots
            .iter()
            .map(|s| s.lock().unwrap().failures.len())
            .sum();
        assert!(held <= SLOTS * MAX_FAILURES, "{held}");
        // The newest address still counts.
        let last = IpAddr::from(999_999u32.to_be_bytes());
        for _ in 1..MAX_FAILURES {
            throttle.failed(last, at);
        }
        assert!(throttle.wait(last, at).is_some());
    }
}
