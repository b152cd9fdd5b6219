//! How plugin destinations' host names become addresses: the operator's fixed answers
//! first (`--resolve NAME=ADDRESS`, like curl's), then the system's resolver. Both the
//! settings check and every request go through one [`Resolver`], and the sandbox's policy
//! checks whatever it answers, so a fixed answer can never open a refused address.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Answers host names for the sandbox. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    fixed: Arc<BTreeMap<String, Vec<IpAddr>>>,
}

/// One fixed answer, `NAME=ADDRESS`, as the operator typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedAnswer {
    /// The host name, lower-cased.
    pub name: String,
    /// The address it resolves to.
    pub address: IpAddr,
}

/// Why a `NAME=ADDRESS` answer does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixedAnswerError {
    /// No `=`, or nothing on one side of it.
    #[error("expected NAME=ADDRESS (for example wiz.internal=10.0.0.7), got {0:?}")]
    Shape(String),
    /// The right side is not an IP address.
    #[error("{0:?} is not an IP address (IPv4 like 10.0.0.7, or IPv6 like fd00::7)")]
    Address(String),
}

impl std::str::FromStr for FixedAnswer {
    type Err = FixedAnswerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, address) = text
            .split_once('=')
            .map(|(n, a)| (n.trim(), a.trim()))
            .filter(|(n, a)| !n.is_empty() && !a.is_empty())
            .ok_or_else(|| FixedAnswerError::Shape(text.to_string()))?;
        let bare = address.trim_start_matches('[').trim_end_matches(']');
        let address = bare
            .parse()
            .map_err(|_| FixedAnswerError::Address(address.to_string()))?;
        Ok(FixedAnswer {
            name: name.to_ascii_lowercase(),
            address,
        })
    }
}

impl Resolver {
    /// A resolver that answers each of `answers`' names with its addresses (a name given
    /// twice has both), and asks the system for every other name.
    pub fn with_fixed(answers: impl IntoIterator<Item = FixedAnswer>) -> Self {
        let mut fixed: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for answer in answers {
            let addresses = fixed.entry(answer.name).or_default();
            if !addresses.contains(&answer.address) {
                addresses.push(answer.address);
            }
        }
        Resolver {
            fixed: Arc::new(fixed),
        }
    }

    /// The addresses of `host` (a name or an address literal, brackets allowed), in the
    /// order to try them. An error is the system resolver's.
    pub async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(addresses) = self.fixed.get(&bare.to_ascii_lowercase()) {
            return Ok(addresses.clone());
        }
        let found = tokio::net::lookup_host((bare, port)).await?;
        Ok(found.map(|a| a.ip()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_or_say_what_shape_they_need() {
        let answer: FixedAnswer = "Wiz.Internal=[fd00::7]".parse().unwrap();
        assert_eq!(answer.name, "wiz.internal");
        assert_eq!(answer.address, "fd00::7".parse::<IpAddr>().unwrap());
        for (text, says) in [
            ("wiz.internal", "expected NAME=ADDRESS"),
            ("=10.0.0.7", "expected NAME=ADDRESS"),
            ("wiz.internal=", "expected NAME=ADDRESS"),
            ("wiz.internal=ten", "\"ten\" is not an IP address"),
        ] {
            let error = text.parse::<FixedAnswer>().unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[tokio::test]
    async fn fixed_names_are_answered_as_given_and_others_by_the_system() {
        let resolver = Resolver::with_fixed([
            "api.test=169.254.169.254".parse().unwrap(),
            "API.test=10.0.0.7".parse().unwrap(),
        ]);
        let fixed: Vec<IpAddr> = vec![
            "169.254.169.254".parse().unwrap(),
            "10.0.0.7".parse().unwrap(),
        ];
        assert_eq!(resolver.lookup("Api.Test", 443).await.unwrap(), fixed);
        let system = resolver.lookup("127.0.0.1", 80).await.unwrap();
        assert_eq!(system, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    }
}
