//! `cargo xtask mutants`: whether the host's unit tests notice when the rules and the
//! security-critical pure modules are broken. cargo-mutants changes their code one small
//! way at a time (a `+` into a `-`, a function returning a default) and runs the host's
//! unit tests against each change; a change no test fails on is a "missed" mutant. It
//! takes 45 to 60 minutes on two cores, so it is a tool for the team, not a CI gate.

use anyhow::{Context, bail};
use std::process::{Command, Stdio};

/// The files mutated: the rules (`policy/`) and the pure modules that guard secrets,
/// leases and the plugins' network access.
pub const FILES: &[&str] = &[
    "host/src/policy/outcome.rs",
    "host/src/policy/failure.rs",
    "host/src/policy/ingest.rs",
    "host/src/policy/inventory.rs",
    "host/src/policy/lease.rs",
    "host/src/plugin/policy.rs",
    "host/src/redact.rs",
    "host/src/secrets.rs",
    "host/src/schedule.rs",
];

/// The cargo-mutants release the recipe was written for: its flags and its summary line.
const VERSION_REQ: &str = "^27";

/// Installs cargo-mutants when it is missing, then mutates [`FILES`] (or, when `extra`
/// names files with `--file`, those instead) and runs the host's unit tests
/// (`cargo test -p connector-host --lib`) against each mutant. `extra` goes to cargo-mutants as it is, e.g. `--re 'lower_hex'` or `--list`.
/// Its report lands in `mutants.out` under the target folder, out of the source tree.
pub fn mutants(paths: &crate::Paths, extra: &[String]) -> anyhow::Result<()> {
    let extra = match extra {
        [dashes, rest @ ..] if dashes == "--" => rest,
        all => all,
    };
    ensure_cargo_mutants()?;
    let out = paths.target.join("mutants");
    let mut cmd = Command::new(crate::cargo());
    cmd.current_dir(&paths.workspace)
        // Its own target folder: the mutated host never lands where the tests and the
        // demo look for one, and an hour of builds never hold the lock of the usual one.
        .env("CARGO_TARGET_DIR", out.join("target"))
        .arg("mutants")
        .args(["--test-package", "connector-host"])
        // The host's unit tests, and only they are built: `--lib` for every cargo command
        // (the same as `-- --lib`, which would still build the binary and the integration
        // tests for each mutant; cargo refuses `--lib` given twice).
        .arg("--cargo-arg=--lib")
        .arg("--output")
        .arg(&out);
    if !extra.iter().any(|a| a == "--file" || a == "-f") {
        for file in FILES {
            cmd.args(["--file", file]);
        }
    }
    cmd.args(extra);
    println!("xtask: {cmd:?}");
    let status = cmd.status().context("start cargo mutants")?;
    println!(
        "xtask: cargo-mutants' report is in {}",
        out.join("mutants.out").display()
    );
    // cargo-mutants exits 2 when some mutants were missed, 3 when some timed out: the
    // figures above are the result, not a failure of the recipe.
    match status.code() {
        Some(0 | 2 | 3) => Ok(()),
        _ => bail!("cargo mutants failed with {status}"),
    }
}

/// Installs cargo-mutants from crates.io unless a `cargo mutants` of the release the
/// recipe expects is already there.
fn ensure_cargo_mutants() -> anyhow::Result<()> {
    let installed = Command::new(crate::cargo())
        .args(["mutants", "--version"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("mutants 27.")
        });
    if installed {
        return Ok(());
    }
    println!("xtask: installing cargo-mutants {VERSION_REQ} from crates.io (once)");
    crate::run(Command::new(crate::cargo()).args([
        "install",
        "cargo-mutants",
        "--version",
        VERSION_REQ,
        "--locked",
    ]))
}
