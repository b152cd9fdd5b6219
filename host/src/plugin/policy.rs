//! The outbound-HTTP allow-list of a run: a plugin may call exactly the scheme, host and
//! port of the URLs in its url-kind settings, nothing else. Pure, without wasmtime, so
//! every rule is unit-tested.

use std::net::IpAddr;
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
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
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

    /// Checks a request destination.
    pub fn allows(&self, destination: &Destination) -> Result<(), Denied> {
        if destination.scheme.is_empty() || destination.host.is_empty() {
            return Err(Denied::Malformed);
        }
        if is_metadata_address(&destination.host) {
            return Err(Denied::MetadataAddress(destination.to_string()));
        }
        if self.hosts.contains(destination) {
            Ok(())
        } else {
            Err(Denied::NotAllowed(destination.to_string()))
        }
    }
}

/// Link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services live,
/// and the well-known metadata host names.
fn is_metadata_address(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => is_link_local(ip),
        Err(_) => matches!(
            host,
            "metadata.google.internal" | "metadata" | "instance-data"
        ),
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_link_local(),
        IpAddr::V6(ip) => {
            (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

/// Checks what an allowed host name resolved to: a name that leads to a link-local or
/// metadata address is refused, whatever it is called.
pub fn check_resolved(host: &str, addresses: &[IpAddr]) -> Result<(), Denied> {
    match addresses.iter().find(|ip| is_link_local(**ip)) {
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
