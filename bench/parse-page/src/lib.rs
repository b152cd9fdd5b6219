//! What the Wiz connector does with each page of issues, without the I/O: parse the
//! GraphQL answer, screen every issue by the guide's rules, and map the kept ones to an
//! asset and a finding. The benchmark runs it natively and inside a component.

use connector_sdk::ConnectorError;
use connector_wiz::mapping;
use connector_wiz::protocol::{HttpResponse, parse_issues_page};

/// Where the simulated tenant's portal links point; any base does.
const PORTAL_BASE: &str = "https://app.wiz.io";

/// Parses and maps one `issuesV2` answer; returns how many findings it produced.
pub fn parse_and_map(response: &HttpResponse) -> Result<usize, ConnectorError> {
    let page = parse_issues_page(response.clone())?;
    let mut findings = 0;
    for candidate in &page.get().candidates {
        std::hint::black_box(mapping::asset(candidate, None)?);
        std::hint::black_box(mapping::finding(candidate, PORTAL_BASE));
        findings += 1;
    }
    Ok(findings)
}

/// A 200 answer with `body`, as the connector's transport hands it over.
pub fn answer(body: Vec<u8>) -> HttpResponse {
    HttpResponse {
        status: 200,
        retry_after: None,
        body,
    }
}
