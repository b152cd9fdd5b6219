//! The outbound-HTTP allow-list of a run: a plugin may call exactly the scheme, host and
//! port of the URLs in its url-kind settings, nothing else. Pure, without wasmtime, so
//! every rule is unit-tested.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Url;

/// A destination as the allow-list compares them: scheme and host lower-cased, IPv6
/// brackets dropped, the scheme's default port filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address, without brackets.
    pub host: String,
    /// Port, explicit or the scheme's default.
    pub port: u16,
}

impl Destination {
    /// The destination of a URL's parts.
    pub fn new(scheme: &str, host: &str, port: Option<u16>) -> Self {
        let scheme = scheme.to_ascii_lowercase();
        let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
        Destination {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            scheme,
            port,
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An IPv6 address is bracketed, as in a URL, so its port reads apart from it.
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// What the operator granted one call: the destinations it may reach, and the secrets
/// it holds, which are scrubbed from everything it says.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Where it may send requests.
    pub allow: AllowList,
    /// Its secrets.
    pub redactor: crate::redact::Redactor,
}

/// The destinations a run may reach. Empty means nothing is allowed (fail-closed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<Destination>,
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The URL is not in the plugin's url settings.
    #[error("{0} is not one of the hosts in this integration's URL settings")]
    NotAllowed(String),
    /// Link-local and cloud metadata addresses are never reachable.
    #[error("{0} is a link-local or metadata address, which plugins may never reach")]
    MetadataAddress(String),
    /// The URL has no scheme or host.
    #[error("request URL has no scheme or host")]
    Malformed,
}

impl AllowList {
    /// The allow-list for the given URL setting values. Values that do not parse are
    /// ignored here; config validation reports them.
    pub fn from_urls<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hosts: Vec<Destination> = Vec::new();
        for url in urls.into_iter().filter_map(|u| Url::parse(u).ok()) {
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                continue;
            };
            let entry = Destination::new(url.scheme(), host, Some(port));
            if !hosts.contains(&entry) {
                hosts.push(entry);
            }
        }
        AllowList { hosts }
    }

    /// Checks a request destination given as a URL's parts.
    pub fn check(&self, scheme: &str, host: &str, port: Option<u16>) -> Result<(), Denied> {
        self.allows(&Destination::new(scheme, host, port))
    }

    /// Whether one of the URL settings names `destination`: a refusal of such a
    /// destination is the settings' to fix, any other the plugin's doing.
    pub fn names(&self, destination: &Destination) -> bool {
        self.hosts.contains(destination)
    }

    /// Checks a request destination.
    pub fn allows(&self, destination: &Destination) -> Result<(), Denied> {
        if destination.scheme.is_empty() || destination.host.is_empty() {
            return Err(Denied::Malformed);
        }
        if is_metadata_address(&destination.host) {
            return Err(Denied::MetadataAddress(destination.to_string()));
        }
        if self.names(destination) {
            Ok(())
        } else {
            Err(Denied::NotAllowed(destination.to_string()))
        }
    }
}

/// Why the policy refuses every request to `host` whatever the settings say (a
/// link-local or metadata address, in any notation), if it does: what checking a URL
/// setting as it is entered needs.
pub fn never_reachable(scheme: &str, host: &str, port: Option<u16>) -> Option<Denied> {
    let destination = Destination::new(scheme, host, port);
    is_metadata_address(&destination.host).then(|| Denied::MetadataAddress(destination.to_string()))
}

/// Where cloud metadata services answer: link-local addresses (169.254.0.0/16, where
/// AWS, Azure, GCP and most others serve it, and fe80::/10), AWS's IPv6 endpoint
/// `fd00:ec2::254`, Alibaba's `100.100.100.200`, and the well-known metadata host names.
fn is_metadata_address(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => is_metadata_ip(ip),
        Err(_) => matches!(
            bare.trim_end_matches('.').to_ascii_lowercase().as_str(),
            "metadata.google.internal" | "metadata" | "instance-data" | "metadata.tencentyun.com"
        ),
    }
}

/// Metadata addresses outside the link-local ranges.
const METADATA_V4: [Ipv4Addr; 1] = [Ipv4Addr::new(100, 100, 100, 200)];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// Whether `ip` is a metadata address, including an IPv4 one written as IPv6
/// (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, or NAT64 `64:ff9b::a.b.c.d`).
fn is_metadata_ip(ip: IpAddr) -> bool {
    let v4 = |ip: Ipv4Addr| ip.is_link_local() || METADATA_V4.contains(&ip);
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            let s = ip.segments();
            let embedded =
                Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            let carries_v4 = ip.to_ipv4_mapped().is_some()
                || s[..6] == [0; 6]
                || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            (s[0] & 0xffc0) == 0xfe80 || METADATA_V6.contains(&ip) || (carries_v4 && v4(embedded))
        }
    }
}

/// Checks what an allowed host name resolved to: a name that leads to a link-local or
/// metadata address is refused, whatever it is called.
pub fn check_resolved(host: &str, addresses: &[IpAddr]) -> Result<(), Denied> {
    match addresses.iter().find(|ip| is_metadata_ip(**ip)) {
        Some(ip) => Err(Denied::MetadataAddress(format!(
            "{host} (resolves to {ip})"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        AllowList::from_urls([
            "https://api.us17.app.wiz.io/graphql",
            "https://auth.app.wiz.io/oauth/token",
            "http://127.0.0.1:8080/x",
            "not a url",
        ])
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(matches!(
            AllowList::default().check("https", "example.com", None),
            Err(Denied::NotAllowed(_))
        ));
    }

    #[test]
    fn exact_scheme_host_and_port_are_allowed() {
        let l = list();
        assert_eq!(l.check("https", "api.us17.app.wiz.io", None), Ok(()));
        assert_eq!(l.check("https", "API.US17.APP.WIZ.IO", Some(443)), Ok(()));
        assert_eq!(l.check("https", "auth.app.wiz.io", Some(443)), Ok(()));
        assert_eq!(l.check("http", "127.0.0.1", Some(8080)), Ok(()));
    }

    #[test]
    fn a_refusal_names_the_destination_as_scheme_host_and_port() {
        let refused = list().check("HTTPS", "Evil.Example", None).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "https://evil.example:443 is not one of the hosts in this integration's URL settings"
        );
        assert_eq!(
            Destination::new("http", "api.example", Some(8080)).to_string(),
            "http://api.example:8080"
        );
        assert_eq!(
            Destination::new("http", "fe80::1", Some(80)).to_string(),
            "http://[fe80::1]:80"
        );
        let metadata = list().check("http", "169.254.169.254", None).unwrap_err();
        assert_eq!(
            metadata.to_string(),
            "http://169.254.169.254:80 is a link-local or metadata address, which plugins may never reach"
        );
    }

    #[test]
    fn anything_else_is_denied() {
        let l = list();
        for (scheme, host, port) in [
            ("http", "api.us17.app.wiz.io", None),
            ("https", "api.us17.app.wiz.io", Some(8443)),
            ("https", "evil.example", None),
            ("https", "api.us17.app.wiz.io.evil.example", None),
            ("http", "127.0.0.1", Some(8081)),
            ("http", "localhost", Some(8080)),
        ] {
            assert!(
                l.check(scheme, host, port).is_err(),
                "{scheme}://{host}:{port:?}"
            );
        }
        assert_eq!(l.check("", "x", None), Err(Denied::Malformed));
    }

    #[test]
    fn names_resolving_to_link_local_addresses_are_denied() {
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(check_resolved("api.example", &[public]), Ok(()));
        for bad in ["169.254.169.254", "fe80::1", "::ffff:169.254.1.1"] {
            let err =
                check_resolved("sneaky.example", &[public, bad.parse().unwrap()]).unwrap_err();
            assert!(
                err.to_string().contains("sneaky.example (resolves to"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn every_cloud_metadata_address_is_one_in_any_notation() {
        for bad in [
            "169.254.169.254",
            "169.254.170.2",
            "100.100.100.200",
            "fd00:ec2::254",
            "[fd00:ec2::254]",
            "fe80::1",
            "::ffff:169.254.169.254",
            "::ffff:100.100.100.200",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "metadata.google.internal",
            "METADATA.GOOGLE.INTERNAL.",
            "metadata.tencentyun.com",
        ] {
            assert!(is_metadata_address(bad), "{bad}");
        }
        for fine in [
            "203.0.113.7",
            "100.100.100.201",
            "fd00:ec2::253",
            "::1",
            "10.0.0.1",
            "api.wiz.io",
        ] {
            assert!(!is_metadata_address(fine), "{fine}");
        }
        let err =
            check_resolved("sneaky.example", &["fd00:ec2::254".parse().unwrap()]).unwrap_err();
        assert!(matches!(err, Denied::MetadataAddress(_)), "{err}");
    }

    #[test]
    fn metadata_addresses_are_denied_even_when_configured() {
        let l = AllowList::from_urls([
            "http://169.254.169.254/latest",
            "http://[fe80::1]:80/",
            "http://metadata.google.internal/",
        ]);
        assert!(matches!(
            l.check("http", "169.254.169.254", None),
            Err(Denied::MetadataAddress(_))
        ));
        assert!(matches!(
            l.check("http", "[fe80::1]", Some(80)),
            Err(Denied::MetadataAddress(_))
        ));
        assert!(matches!(
            l.check("http", "metadata.google.internal", None),
            Err(Denied::MetadataAddress(_))
        ));
    }
}
