//! Reads a component's binary before anything compiles it: it must be a component, it
//! must export a contract version this host supports, and it may import only the
//! interfaces a connector needs (no filesystem, no sockets).

use wasmparser::{Encoding, Parser, Payload};

/// The contract package plugins export.
pub const CONTRACT_PACKAGE: &str = "safe:connector";
/// Contract minors this host runs (major 0, so each minor is its own line).
pub const SUPPORTED_CONTRACTS: &[(u64, u64)] = &[(0, 1)];

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
        "built for contract {found}, but this host runs contract {supported}; rebuild it against a supported version"
    )]
    UnsupportedContract {
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
/// only what plugins may use.
pub fn inspect(bytes: &[u8]) -> Result<(), InspectError> {
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
    check_contract(&contract_version)?;
    if let Some(bad) = imports
        .iter()
        .find(|i| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| i.starts_with(p)))
    {
        return Err(InspectError::ForbiddenImport(bad.clone()));
    }
    Ok(())
}

fn check_contract(version: &str) -> Result<(), InspectError> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    let supported = SUPPORTED_CONTRACTS
        .iter()
        .map(|(a, b)| format!("{a}.{b}.x"))
        .collect::<Vec<_>>()
        .join(", ");
    match (major, minor) {
        (Some(major), Some(minor)) if SUPPORTED_CONTRACTS.contains(&(major, minor)) => Ok(()),
        _ => Err(InspectError::UnsupportedContract {
            found: version.to_string(),
            supported,
        }),
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
        assert!(check_contract("0.1.0").is_ok());
        assert!(check_contract("0.1.7").is_ok());
        for bad in ["0.2.0", "1.0.0", "x"] {
            assert!(
                matches!(
                    check_contract(bad),
                    Err(InspectError::UnsupportedContract { .. })
                ),
                "{bad}"
            );
        }
    }
}
