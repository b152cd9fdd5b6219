//! Who a request comes from: the peer's address, or, when the peer is a proxy the
//! operator trusts (`--trusted-proxy`), the client address and scheme it forwards in the
//! one header it is said to use (`--proxy-header`). Without a trusted proxy, `Forwarded`
//! and `X-Forwarded-*` are ignored: anyone can send them.

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client of a request, as the handlers see it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Its address: what the login throttle counts by.
    pub ip: IpAddr,
    /// Whether it reached us over TLS, ours or a trusted proxy's: cookies are then
    /// `Secure` and browsers are told to keep to HTTPS.
    pub https: bool,
    /// Whether it came through a trusted proxy, whose forwarded headers then count.
    pub via_proxy: bool,
}

/// Which header a trusted proxy puts the client in: one only, so that a client cannot
/// add the other (which a proxy that only appends to its own passes on untouched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For` and `X-Forwarded-Proto` (nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`, `proto=`).
    Forwarded,
}

/// Where requests come from: whether this host serves TLS itself, and the proxies whose
/// forwarded headers it believes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// Served over TLS.
    pub tls: bool,
    /// Proxies (`--trusted-proxy`) whose forwarded headers are read.
    pub trusted_proxies: Vec<IpNet>,
    /// Which of their headers.
    pub header: ProxyHeader,
}

impl Origins {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`. Through trusted proxies the
    /// client is the nearest forwarded address that is not itself a trusted proxy.
    /// Addresses are compared canonical: an IPv4 client seen on an IPv6 socket
    /// (`::ffff:a.b.c.d`) is that IPv4 address.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return Client {
                ip: peer,
                https: self.tls,
                via_proxy: false,
            };
        }
        let (hops, proto) = match self.header {
            ProxyHeader::XForwardedFor => (
                values(headers, "x-forwarded-for")
                    .filter_map(|v| node_address(&v))
                    .collect::<Vec<_>>(),
                values(headers, "x-forwarded-proto").last(),
            ),
            ProxyHeader::Forwarded => (
                pairs(headers, "forwarded")
                    .filter(|(k, _)| k.eq_ignore_ascii_case("for"))
                    .filter_map(|(_, v)| node_address(&v))
                    .collect(),
                pairs(headers, "forwarded")
                    .filter(|(k, _)| k.eq_ignore_ascii_case("proto"))
                    .map(|(_, v)| v)
                    .last(),
            ),
        };
        let ip = hops
            .iter()
            .rev()
            .copied()
            .find(|ip| !self.trusts(*ip))
            .or(hops.first().copied())
            .unwrap_or(peer);
        let https = proto.is_some_and(|p| p.eq_ignore_ascii_case("https"));
        Client {
            ip,
            https: self.tls || https,
            via_proxy: true,
        }
    }
}

/// Reads `--trusted-proxy`: a CIDR block (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or CIDR block (10.0.0.0/8, ::1)"))
}

/// The comma-separated values of every `name` header, in order.
fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `key=value` pairs of every `Forwarded` element (RFC 7239), values unquoted.
fn pairs<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = (String, String)> + 'a {
    values(headers, name).flat_map(|element| {
        element
            .split(';')
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                Some((
                    key.trim().to_string(),
                    value.trim().trim_matches('"').to_string(),
                ))
            })
            .collect::<Vec<_>>()
    })
}

/// A node's address, canonical: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]:443` or
/// `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = node.strip_prefix('[')?.split(']').next()?;
            inner.parse::<IpAddr>().ok()
        })
        .map(|ip| ip.to_canonical())
}

/// Puts the request's [`Client`] into its extensions, for the handlers and headers.
pub async fn identify(
    axum::extract::State(origins): axum::extract::State<std::sync::Arc<Origins>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let client = origins.client(peer, request.headers());
    request.extensions_mut().insert(client);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_count_only_from_a_trusted_proxy() {
        let behind = Origins {
            tls: false,
            trusted_proxies: vec![parse_trusted_proxy("10.0.0.0/8").unwrap()],
            header: ProxyHeader::XForwardedFor,
        };
        let sent = headers(&[
            ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
            ("x-forwarded-proto", "https"),
        ]);
        // From the proxy: the nearest untrusted hop, over TLS.
        assert_eq!(
            behind.client(ip("10.0.0.2"), &sent),
            Client {
                ip: ip("203.0.113.7"),
                https: true,
                via_proxy: true,
            }
        );
        // From anyone else: the peer, whatever it claims.
        assert_eq!(
            behind.client(ip("198.51.100.1"), &sent),
            Client {
                ip: ip("198.51.100.1"),
                https: false,
                via_proxy: false,
            }
        );
        // With no proxy trusted, the headers mean nothing.
        assert_eq!(
            Origins::default().client(ip("10.0.0.2"), &sent).ip,
            ip("10.0.0.2")
        );
        // A client that forges an earlier hop is still told by the proxy's own entry.
        let forged = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.7")]);
        assert_eq!(behind.client(ip("10.0.0.2"), &forged).ip, ip("203.0.113.7"));
        // A `Forwarded` the client added itself is not read when the proxy speaks
        // `X-Forwarded-For`: it cannot pick a new address for every guess.
        let added = headers(&[
            ("forwarded", "for=192.0.2.99;proto=https"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(
            behind.client(ip("10.0.0.2"), &added),
            Client {
                ip: ip("203.0.113.7"),
                https: false,
                via_proxy: true,
            }
        );
        // A proxy on an IPv6 socket sees IPv4 peers mapped; they are still trusted.
        assert_eq!(
            behind.client(ip("::ffff:10.0.0.2"), &sent).ip,
            ip("203.0.113.7")
        );
        assert_eq!(
            Origins::default().client(ip("::ffff:192.0.2.1"), &sent).ip,
            ip("192.0.2.1")
        );
    }

    #[test]
    fn forwarded_takes_every_node_form() {
        let behind = Origins {
            tls: false,
            trusted_proxies: vec![parse_trusted_proxy("127.0.0.1").unwrap()],
            header: ProxyHeader::Forwarded,
        };
        for (header, client) in [
            ("for=192.0.2.60;proto=https;by=203.0.113.43", "192.0.2.60"),
            ("for=\"192.0.2.60:4711\"", "192.0.2.60"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=192.0.2.43, for=198.51.100.17", "198.51.100.17"),
            ("for=unknown, for=192.0.2.9", "192.0.2.9"),
        ] {
            let got = behind.client(ip("127.0.0.1"), &headers(&[("forwarded", header)]));
            assert_eq!(got.ip, ip(client), "{header}");
        }
        let https = headers(&[("forwarded", "for=192.0.2.60;proto=https")]);
        assert!(behind.client(ip("127.0.0.1"), &https).https);
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.local").is_err());
    }
}
