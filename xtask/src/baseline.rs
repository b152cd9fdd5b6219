//! The build that issue 27's targets are measured against: the host and Wiz plugin of
//! commit [`COMMIT`], built once from the repository's own history and kept in the target
//! folder, so that `cargo xtask bench` runs it and today's build alternately in one run.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The commit whose build the speed and memory targets are ratios of.
pub const COMMIT: &str = "ed107a4";

/// What the baseline called the settings the benchmark lifts: its per-integration
/// ceiling on requests had the name that is now the fleet's per-destination one.
pub const ENV: &[&str] = &["CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_HOST=100000"];

/// The baseline's binaries.
pub struct Baseline {
    pub host: PathBuf,
    pub plugin: PathBuf,
}

/// The baseline's host and plugin, built on first use. They are built in the shared
/// target folder, so that the dependencies both builds have in common compile once; each
/// artefact is then moved aside, and the caller's own build puts today's in its place.
pub fn ensure(workspace: &Path, target: &Path, cargo: &str) -> anyhow::Result<Baseline> {
    let kept = target.join("baseline").join(COMMIT);
    let baseline = Baseline {
        host: kept.join("connector-host"),
        plugin: kept.join("wiz.wasm"),
    };
    if baseline.host.is_file() && baseline.plugin.is_file() {
        return Ok(baseline);
    }
    let source = kept.join("source");
    if source.exists() {
        std::fs::remove_dir_all(&source)?;
    }
    std::fs::create_dir_all(&source)?;
    extract(workspace, &source)?;
    eprintln!("xtask: building the baseline ({COMMIT}) for the benchmarks, once");
    let build = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(cargo)
            .current_dir(&source)
            .env("CARGO_TARGET_DIR", target)
            .args(args)
            .status()
            .context("run cargo")?;
        match status.success() {
            true => Ok(()),
            false => bail!("building the baseline ({COMMIT}) failed: cargo {args:?}"),
        }
    };
    build(&["build", "--release", "--locked", "-p", "connector-host"])?;
    move_aside(&target.join("release/connector-host"), &baseline.host)?;
    build(&[
        "build",
        "--locked",
        "--target",
        "wasm32-wasip2",
        "--profile",
        "component",
        "-p",
        "connector-wiz",
    ])?;
    move_aside(
        &target.join("wasm32-wasip2/component/connector_wiz.wasm"),
        &baseline.plugin,
    )?;
    std::fs::remove_dir_all(&source)?;
    Ok(baseline)
}

/// Writes the tree of [`COMMIT`] into `into`, from the repository's history.
fn extract(workspace: &Path, into: &Path) -> anyhow::Result<()> {
    let mut archive = Command::new("git")
        .current_dir(workspace)
        .args(["archive", "--format=tar", COMMIT])
        .stdout(Stdio::piped())
        .spawn()
        .context("run git archive (the benchmark's baseline comes from the history)")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .stdin(archive.stdout.take().context("git archive's output")?)
        .status()
        .context("run tar")?;
    let archived = archive.wait()?;
    if !(archived.success() && tar.success()) {
        bail!("cannot extract {COMMIT} (a clone with its history is needed for the baseline)");
    }
    Ok(())
}

/// Moves a built artefact to where the baseline is kept: a copy, then the original
/// removed, so that a later build that left it in place cannot pass for today's.
fn move_aside(built: &Path, kept: &Path) -> anyhow::Result<()> {
    std::fs::copy(built, kept).with_context(|| format!("copy {}", built.display()))?;
    std::fs::remove_file(built)?;
    Ok(())
}
