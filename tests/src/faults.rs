//! Faults the simulator can inject, each on the Nth request or on a seeded random
//! fraction of requests: what rate limits, outages, broken networks and API changes look
//! like from the connector's side.

use serde::Deserialize;
use std::time::Duration;

/// One kind of misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 429, with or without `Retry-After` (seconds).
    RateLimited {
        /// The header's value, if sent.
        retry_after: Option<u32>,
    },
    /// An HTTP 5xx.
    ServerError {
        /// 500, 502 or 503.
        status: u16,
    },
    /// Half a body, then the connection is cut.
    ResetMidBody,
    /// An answer slower than `millis`.
    Slow {
        /// Delay before answering.
        millis: u64,
    },
    /// A good answer whose body trickles in over `millis`, a few bytes at a time, each
    /// piece soon after the last: only a bound on the whole request stops waiting early.
    Trickle {
        /// Time from the first piece of the body to the last.
        millis: u64,
    },
    /// A JSON body cut short.
    TruncatedJson,
    /// Not JSON at all.
    MalformedJson,
    /// JSON of the wrong shape (`nodes` is an object).
    WrongShape,
    /// GraphQL `errors` beside partial `data`.
    ErrorsWithPartialData,
    /// A page whose `endCursor` repeats the request's `after`.
    RepeatedCursor,
    /// `hasNextPage: true` without an `endCursor`.
    NextPageWithoutCursor,
    /// An issues page with no nodes, yet `hasNextPage: true` with a cursor never sent
    /// before (inventory answers pass unchanged).
    EmptyPageWithFreshCursor,
    /// HTTP 401 as if the token had gone stale.
    Unauthorized,
    /// The inventory refuses the scope (only on `cloudResourcesV2`).
    InventoryDenied,
}

impl Fault {
    /// How long the fault delays the answer.
    pub fn delay(&self) -> Duration {
        match self {
            Fault::Slow { millis } => Duration::from_millis(*millis),
            _ => Duration::ZERO,
        }
    }

    /// Whether the fault rewrites the answer's JSON (the rest break its delivery).
    pub fn changes_content(&self) -> bool {
        matches!(
            self,
            Fault::WrongShape
                | Fault::ErrorsWithPartialData
                | Fault::RepeatedCursor
                | Fault::NextPageWithoutCursor
                | Fault::EmptyPageWithFreshCursor
        )
    }
}

/// Which endpoint a fault strikes; each counts its own requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// The GraphQL API.
    #[default]
    Graphql,
    /// The OAuth token endpoint (faults that replace or break an answer: throttling,
    /// server errors, slow, trickling, reset, truncated or malformed bodies).
    Token,
}

/// Which requests a fault hits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The Nth GraphQL request from now (1-based), once.
    Nth(u64),
    /// Requests number `from` and later, `count` of them in a row.
    Run {
        /// First request hit (1-based, counted from when the fault was set).
        from: u64,
        /// How many consecutive requests.
        count: u64,
    },
    /// A fraction of all requests, drawn from `seed`.
    Fraction {
        /// Share of requests hit, 0 to 1.
        share: f64,
        /// Seed of the draw.
        seed: u64,
    },
}

/// A fault and when it strikes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaultRule {
    /// What happens.
    pub fault: Fault,
    /// To which requests.
    pub trigger: Trigger,
    /// At which endpoint (GraphQL unless said).
    #[serde(default)]
    pub endpoint: Endpoint,
}

impl FaultRule {
    /// `fault` on the GraphQL requests that `trigger` picks.
    pub fn new(fault: Fault, trigger: Trigger) -> Self {
        FaultRule {
            fault,
            trigger,
            endpoint: Endpoint::Graphql,
        }
    }

    /// The same rule at the token endpoint.
    pub fn at_token_endpoint(self) -> Self {
        FaultRule {
            endpoint: Endpoint::Token,
            ..self
        }
    }

    /// Whether request `n` (1-based, counted since the rule was set) is hit.
    pub fn hits(&self, n: u64) -> bool {
        match self.trigger {
            Trigger::Nth(k) => n == k,
            Trigger::Run { from, count } => n >= from && n < from + count,
            Trigger::Fraction { share, seed } => {
                let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 <= share
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers() {
        let rule = |trigger| FaultRule {
            fault: Fault::TruncatedJson,
            trigger,
            endpoint: Endpoint::Graphql,
        };
        assert!(rule(Trigger::Nth(3)).hits(3) && !rule(Trigger::Nth(3)).hits(4));
        let run = rule(Trigger::Run { from: 2, count: 3 });
        assert_eq!(
            (1..7).filter(|n| run.hits(*n)).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        let half = rule(Trigger::Fraction {
            share: 0.5,
            seed: 7,
        });
        let hit = (1..=1000).filter(|n| half.hits(*n)).count();
        assert!((400..600).contains(&hit), "{hit}");
        assert_eq!(
            (1..=50).filter(|n| half.hits(*n)).count(),
            (1..=50).filter(|n| half.hits(*n)).count()
        );
        let parsed: FaultRule = serde_json::from_str(
            r#"{"fault": {"kind": "rate_limited", "retry_after": 2}, "trigger": {"nth": 1}}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.fault,
            Fault::RateLimited {
                retry_after: Some(2)
            }
        );
        assert_eq!(parsed.endpoint, Endpoint::Graphql);
        let parsed: FaultRule = serde_json::from_str(
            r#"{"fault": {"kind": "server_error", "status": 503}, "trigger": {"nth": 2}, "endpoint": "token"}"#,
        )
        .unwrap();
        assert_eq!(parsed.endpoint, Endpoint::Token);
    }
}
