//! Project automation, so a fresh machine needs only rustup and cargo:
//!
//! - `cargo xtask build`: the WebAssembly target if missing, the components, the host;
//! - `cargo xtask demo`: a full Wiz sync against the simulator into SQLite, then the tables;
//! - `cargo xtask lint`: rustfmt and clippy (native and wasm32), warnings as errors;
//! - `cargo xtask test`: lint, then the whole test suite.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const WASM_TARGET: &str = "wasm32-wasip2";
/// Plugin components built for the tests and the demo: (package, file name, folder under
/// the target directory). Plugins the host must refuse live apart, so that they do not
/// warn in every test that loads the plugins folder.
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("connector-wiz", "wiz.wasm", "plugins"),
    ("hostile", "hostile.wasm", "plugins"),
    ("hostile-io", "hostile-io.wasm", "refused-plugins"),
];

fn main() -> std::process::ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = Paths::discover().and_then(|paths| match task.as_str() {
        "build" => build(&paths),
        "demo" => demo(&paths),
        "lint" => lint(&paths),
        "test" => test(&paths),
        _ => bail!("usage: cargo xtask <build|demo|lint|test>"),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where things are.
struct Paths {
    workspace: PathBuf,
    target: PathBuf,
}

impl Paths {
    fn discover() -> anyhow::Result<Self> {
        let out = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("run cargo metadata")?;
        if !out.status.success() {
            bail!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let get = |k: &str| {
            meta[k]
                .as_str()
                .map(PathBuf::from)
                .with_context(|| format!("cargo metadata has no {k}"))
        };
        Ok(Paths {
            workspace: get("workspace_root")?,
            target: get("target_directory")?,
        })
    }

    /// Folder holding the built plugin components.
    fn plugins(&self) -> PathBuf {
        self.target.join("plugins")
    }

    fn host_bin(&self) -> PathBuf {
        self.target.join("debug/connector-host")
    }

    fn sim_bin(&self) -> PathBuf {
        self.target.join("debug/wiz-sim")
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Installs the WebAssembly target through rustup when it is missing.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("run rustup (is it installed?)")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {WASM_TARGET} target");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Builds the plugin components and copies them into the plugins folder.
fn build_components(paths: &Paths) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&paths.workspace).args([
        "build",
        "--target",
        WASM_TARGET,
        "--profile",
        "component",
    ]);
    for (package, _, _) in COMPONENTS {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)?;
    for (package, file, folder) in COMPONENTS {
        let built = paths
            .target
            .join(WASM_TARGET)
            .join("component")
            .join(format!("{}.wasm", package.replace('-', "_")));
        let folder = paths.target.join(folder);
        std::fs::create_dir_all(&folder)?;
        std::fs::copy(&built, folder.join(file))
            .with_context(|| format!("copy {}", built.display()))?;
    }
    Ok(())
}

fn build(paths: &Paths) -> anyhow::Result<()> {
    build_components(paths)?;
    run(Command::new(cargo()).current_dir(&paths.workspace).args([
        "build",
        "-p",
        "connector-host",
        "-p",
        "connector-tests",
        "--bins",
    ]))
}

fn lint(paths: &Paths) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let cargo_in_workspace = || {
        let mut cmd = Command::new(cargo());
        cmd.current_dir(&paths.workspace);
        cmd
    };
    run(cargo_in_workspace().args(["fmt", "--all", "--check"]))?;
    run(cargo_in_workspace().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let mut wasm = cargo_in_workspace();
    wasm.args(["clippy", "--target", WASM_TARGET]);
    for (package, _, _) in COMPONENTS {
        wasm.args(["-p", package]);
    }
    run(wasm.args(["--", "-D", "warnings"]))
}

fn test(paths: &Paths) -> anyhow::Result<()> {
    lint(paths)?;
    build(paths)?;
    run(Command::new(cargo())
        .current_dir(&paths.workspace)
        .args(["test", "--workspace"])
        .env("CONNECTOR_HOST_BIN", paths.host_bin())
        .env("TEST_PLUGINS_DIR", paths.plugins()))
}

/// Kills the child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo(paths: &Paths) -> anyhow::Result<()> {
    build(paths)?;
    let dir = paths.target.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(dir.join("plugins"))?;
    std::fs::copy(
        paths.plugins().join("wiz.wasm"),
        dir.join("plugins/wiz.wasm"),
    )?;

    let mut sim = Command::new(paths.sim_bin());
    sim.args(["--listen", "127.0.0.1:0", "--issues", "600"])
        .stdout(Stdio::piped());
    let mut sim = KillOnDrop(sim.spawn().context("start wiz-sim")?);
    let mut sim_out = BufReader::new(sim.0.stdout.take().context("simulator stdout")?);
    let mut first_line = String::new();
    sim_out.read_line(&mut first_line)?;
    // Keep draining the simulator's output so it never writes into a closed pipe.
    std::thread::spawn(move || {
        sim_out
            .lines()
            .map_while(Result::ok)
            .for_each(|line| println!("{line}"))
    });
    let base = first_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .context("simulator did not print its address")?
        .to_string();
    println!("== Wiz simulator at {base} (600 issues)");

    let host = |args: &[&str]| -> anyhow::Result<()> {
        println!("\n$ connector-host {}", args.join(" "));
        run(Command::new(paths.host_bin())
            .args(args)
            .env("CONNECTOR_HOST_DB", dir.join("connector-host.db"))
            .env("CONNECTOR_HOST_PLUGINS", dir.join("plugins"))
            .env(
                "CONNECTOR_HOST_CACHE",
                paths.target.join("compiled-plugins"),
            )
            .env("WIZ_CLIENT_SECRET", "sim-secret-full")
            .env_remove("CONNECTOR_HOST_KEY"))
    };
    host(&["plugins"])?;
    host(&[
        "integration",
        "add",
        "wiz-demo",
        "--connector",
        "wiz",
        "--set",
        &format!("api-url={base}"),
        "--set",
        &format!("auth-url={base}/oauth/token"),
        "--set",
        "client-id=sim-client",
        "--set",
        "page-size=100",
        "--secret-env",
        "client-secret=WIZ_CLIENT_SECRET",
    ])?;
    host(&["integration", "show", "wiz-demo"])?;
    host(&["test-connection", "wiz-demo"])?;
    host(&["sync", "wiz-demo"])?;
    host(&["findings", "wiz-demo"])?;
    host(&["assets", "wiz-demo"])?;
    host(&["history", "wiz-demo"])?;
    println!(
        "\nThe demo store is {}; run connector-host with --db there to explore it.",
        dir.join("connector-host.db").display()
    );
    Ok(())
}
