//! Reads a component's binary before anything compiles it: it must be a component, it
//! must export a contract version this host supports, and it may import only the
//! interfaces a connector needs (no filesystem, no sockets).

use wasmparser::{Encoding, Parser, Payload};

/// The contract package plugins export.
pub const CONTRACT_PACKAGE: &str = "safe:connector";
/// Contract lines this host runs, as (major, minor): under major 0 each minor is a line
/// of its own, and any patch of a line runs.
pub const SUPPORTED_CONTRACTS: &[(u64, u64)] = &[(0, 1), (0, 2)];

/// The contract version a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContractVersion {
    /// Major.
    pub major: u64,
    /// Minor: under major 0, the line.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl std::str::FromStr for ContractVersion {
    type Err = ();

    /// `MAJOR.MINOR.PATCH`, digits only (a pre-release or build suffix is not a release).
    fn from_str(text: &str) -> Result<Self, ()> {
        let mut parts = text.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u64>().ok())
                .flatten()
        });
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) => {
                Ok(ContractVersion {
                    major,
                    minor,
                    patch,
                })
            }
            _ => Err(()),
        }
    }
}

/// The contract lines this host runs, as people read them (`0.1.x`).
fn supported_lines() -> String {
    SUPPORTED_CONTRACTS
        .iter()
        .map(|(major, minor)| format!("{major}.{minor}.x"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a binary is refused.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Not WebAssembly, or a core module rather than a component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// Unreadable WebAssembly.
    #[error("malformed component: {0}")]
    Malformed(#[from] wasmparser::BinaryReaderError),
    /// No `safe:connector/plugin` export.
    #[error(
        "does not export {CONTRACT_PACKAGE}/plugin; is it built against the connector contract?"
    )]
    NoContract,
    /// Built for a contract line this host does not run.
    #[error(
        "built for contract {found}, which this host does not run (it runs {supported}); rebuild it against one of those"
    )]
    UnsupportedContract {
        /// The plugin's contract version.
        found: String,
        /// What this host runs.
        supported: String,
    },
    /// Built for a newer line of a major this host runs: a newer host runs it.
    #[error(
        "built for contract {found}, newer than this host runs ({supported}); upgrade connector-host, or use a build of the plugin for one of those"
    )]
    NewerContract {
        /// The plugin's contract version.
        found: String,
        /// What this host runs.
        supported: String,
    },
    /// Imports something outside the sandbox.
    #[error("imports {0}, which plugins may not use (no filesystem, sockets or unknown host APIs)")]
    ForbiddenImport(String),
}

/// Interfaces a plugin may import: ours, HTTP, and the inert parts of WASI (clocks,
/// random, stdio that goes nowhere, empty environment, exit).
const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "safe:connector/types@0.",
    "safe:connector/host@0.",
    "wasi:http/types@0.2.",
    "wasi:http/outgoing-handler@0.2.",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/stdin@0.2.",
    "wasi:cli/stdout@0.2.",
    "wasi:cli/stderr@0.2.",
    "wasi:cli/environment@0.2.",
    "wasi:cli/exit@0.2.",
    "wasi:cli/terminal-",
];

/// Checks a component binary: a component, exporting a supported contract, importing
/// only what plugins may use. Returns the contract version it exports.
pub fn inspect(bytes: &[u8]) -> Result<ContractVersion, InspectError> {
    let mut imports = Vec::new();
    let mut contract = None;
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(InspectError::NotAComponent(
                        "it is a core module; build it as a component (wasm32-wasip2)".into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    imports.push(import?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let name = export?.name.name;
                    if let Some(version) = name.strip_prefix(&format!("{CONTRACT_PACKAGE}/plugin@"))
                    {
                        contract = Some(version.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    if depth == 0 && imports.is_empty() && contract.is_none() && !bytes.starts_with(b"\0asm") {
        return Err(InspectError::NotAComponent("no WebAssembly header".into()));
    }
    let contract_version = contract.ok_or(InspectError::NoContract)?;
    let version = check_contract(&contract_version)?;
    if let Some(bad) = imports
        .iter()
        .find(|i| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| i.starts_with(p)))
    {
        return Err(InspectError::ForbiddenImport(bad.clone()));
    }
    Ok(version)
}

/// The version of a contract this host runs, or why it does not: a line it does not
/// know, or a newer line of a major it runs.
fn check_contract(text: &str) -> Result<ContractVersion, InspectError> {
    let unsupported = || InspectError::UnsupportedContract {
        found: text.to_string(),
        supported: supported_lines(),
    };
    let version: ContractVersion = text.parse().map_err(|()| unsupported())?;
    if SUPPORTED_CONTRACTS.contains(&(version.major, version.minor)) {
        return Ok(version);
    }
    let newest_of_major = SUPPORTED_CONTRACTS
        .iter()
        .filter(|(major, _)| *major == version.major)
        .map(|(_, minor)| *minor)
        .max();
    match newest_of_major {
        Some(newest) if version.minor > newest => Err(InspectError::NewerContract {
            found: text.to_string(),
            supported: supported_lines(),
        }),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_core_modules_are_refused() {
        assert!(matches!(
            inspect(b"hello world"),
            Err(InspectError::Malformed(_) | InspectError::NotAComponent(_))
        ));
        // The smallest core module: magic + version 1.
        let core = b"\0asm\x01\0\0\0";
        assert!(matches!(inspect(core), Err(InspectError::NotAComponent(_))));
    }

    #[test]
    fn contract_versions() {
        assert_eq!(
            check_contract("0.1.7").unwrap(),
            ContractVersion {
                major: 0,
                minor: 1,
                patch: 7
            }
        );
        assert_eq!(check_contract("0.1.0").unwrap().to_string(), "0.1.0");
        let newer = check_contract("0.9.0").unwrap_err().to_string();
        assert!(
            newer.contains("newer than this host runs (0.1.x, 0.2.x)")
                && newer.contains("upgrade connector-host"),
            "{newer}"
        );
        for bad in [
            "1.0.0",
            "0.0.3",
            "x",
            "0.1",
            "0.1.0-rc1",
            "0.1.0.0",
            "0.+1.0",
        ] {
            let refused = check_contract(bad).unwrap_err();
            assert!(
                matches!(refused, InspectError::UnsupportedContract { .. }),
                "{bad}: {refused}"
            );
            assert!(
                refused.to_string().contains("it runs 0.1.x, 0.2.x"),
                "{refused}"
            );
        }
    }
}
