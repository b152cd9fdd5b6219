//! Who can reach an address the console listens on, and so what it needs.

use std::net::IpAddr;

/// How far an address reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// This machine alone.
    Loopback,
    /// A private network (RFC 1918, unique-local, link-local).
    Private,
    /// Anyone who can route to it, including every interface (`0.0.0.0`, `::`).
    Public,
}

impl Exposure {
    /// The reach of `ip`.
    pub fn of(ip: IpAddr) -> Exposure {
        if ip.is_loopback() {
            return Exposure::Loopback;
        }
        let private = match ip {
            IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        };
        match private {
            true => Exposure::Private,
            false => Exposure::Public,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_counts_as_public() {
        let of = |s: &str| Exposure::of(s.parse().unwrap());
        assert_eq!(of("127.0.0.1"), Exposure::Loopback);
        assert_eq!(of("::1"), Exposure::Loopback);
        assert_eq!(of("10.1.2.3"), Exposure::Private);
        assert_eq!(of("192.168.0.9"), Exposure::Private);
        assert_eq!(of("fd00::1"), Exposure::Private);
        assert_eq!(of("0.0.0.0"), Exposure::Public);
        assert_eq!(of("::"), Exposure::Public);
        assert_eq!(of("203.0.113.7"), Exposure::Public);
    }
}
