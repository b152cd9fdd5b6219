//! Project automation, so a fresh machine needs only rustup and cargo:
//!
//! - `cargo xtask build`: the WebAssembly target if missing, the components, the host;
//! - `cargo xtask demo`: a full Wiz sync against the simulator into SQLite, then the tables;
//! - `cargo xtask lint`: rustfmt and clippy (native and wasm32), warnings as errors;
//! - `cargo xtask test`: lint, then the whole test suite;
//! - `cargo xtask bench [ARGS]`: the benchmarks, in a release build, against the baseline
//!   build of issue 27 (built once from the history; writes target/bench); ARGS go to
//!   `connector-bench` (`--only throughput`, say);
//! - `cargo xtask mutants [-- ARGS]`: cargo-mutants over the rules and the pure security
//!   modules against the host's unit tests (45 to 60 minutes; not a CI gate).

mod baseline;
mod mutants;
mod wat_plugins;

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const WASM_TARGET: &str = "wasm32-wasip2";
/// A component the tests, the demo or the benchmarks need.
struct Component {
    /// Cargo package.
    package: &'static str,
    /// What cargo writes: a library's name with underscores, a binary's as it is.
    built: &'static str,
    /// Name of the copy.
    file: &'static str,
    /// Folder of the copy, under the target directory.
    folder: &'static str,
    /// Cargo features it is built with (a variant of a component is built on its own).
    features: &'static str,
}

/// Plugin components built for the tests and the demo. Plugins the host must refuse live
/// apart, so that they do not warn in every test that loads the plugins folder.
const COMPONENTS: &[Component] = &[
    Component {
        package: "connector-wiz",
        built: "connector_wiz.wasm",
        file: "wiz.wasm",
        folder: "plugins",
        features: "",
    },
    Component {
        package: "connector-github",
        built: "connector_github.wasm",
        file: "github-dependabot.wasm",
        folder: "plugins",
        features: "",
    },
    Component {
        package: "connector-feed",
        built: "connector_feed.wasm",
        file: "json-feed.wasm",
        folder: "example-plugins",
        features: "",
    },
    Component {
        package: "hostile",
        built: "hostile.wasm",
        file: "hostile.wasm",
        folder: "plugins",
        features: "",
    },
    Component {
        package: "streams-probe",
        built: "streams_probe.wasm",
        file: "streams-probe.wasm",
        folder: "plugin-variants",
        features: "",
    },
    Component {
        package: "hostile-io",
        built: "hostile_io.wasm",
        file: "hostile-io.wasm",
        folder: "refused-plugins",
        features: "",
    },
];
/// Variants of the hostile plugin that tests put in place of the plain one: an upgrade
/// that adds a default host, and a `describe` that never returns. Each is its own cargo
/// run, since features unify within one.
const VARIANTS: &[Component] = &[
    Component {
        package: "hostile",
        built: "hostile.wasm",
        file: "hostile-upgraded.wasm",
        folder: "plugin-variants",
        features: "upgraded",
    },
    Component {
        package: "hostile",
        built: "hostile.wasm",
        file: "hostile-spinning-describe.wasm",
        folder: "plugin-variants",
        features: "spinning-describe",
    },
];
/// The benchmark's command component. It reuses the connector's code without the plugin
/// bindings, so it is built on its own: built together, cargo would unify the features.
const PARSE_PAGE: Component = Component {
    package: "parse-page",
    built: "parse-page.wasm",
    file: "parse-page.wasm",
    folder: "bench",
    features: "",
};

fn main() -> std::process::ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = Paths::discover().and_then(|paths| match task.as_str() {
        "build" => build(&paths),
        "demo" => demo(&paths),
        "console" => console(&paths),
        "lint" => lint(&paths),
        "test" => test(&paths),
        "bench" => bench(&paths, &std::env::args().skip(2).collect::<Vec<_>>()),
        "mutants" => mutants::mutants(&paths, &std::env::args().skip(2).collect::<Vec<_>>()),
        _ => bail!("usage: cargo xtask <build|demo|console|lint|test|bench|mutants>"),
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

    /// Where the copy of a built component goes.
    fn copy_of(&self, component: &Component) -> PathBuf {
        self.target.join(component.folder).join(component.file)
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

/// Installs Debian's Chromium and ChromeDriver for the console's browser tests when they
/// are missing and this machine can (apt-get, as root); otherwise says what to install.
fn ensure_browser() -> anyhow::Result<()> {
    let present =
        found_command("chromedriver") && std::path::Path::new("/usr/bin/chromium").exists();
    ensure_debian_packages(
        present,
        &["chromium", "chromium-driver"],
        "the browser tests",
    )
}

/// Installs Debian's libfaketime, which the fleet tests use to run a worker whose clock
/// is off, when it is missing and this machine can.
fn ensure_faketime() -> anyhow::Result<()> {
    let present = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|arch| arch.path().join("faketime/libfaketime.so.1").is_file());
    ensure_debian_packages(present, &["faketime"], "the fleet tests")
}

fn found_command(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian's `packages` for `who` unless `present`, when this machine can
/// (apt-get, as root); otherwise says what to install.
fn ensure_debian_packages(present: bool, packages: &[&str], who: &str) -> anyhow::Result<()> {
    if present {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let listed = packages.join(" ");
    if !(root && found_command("apt-get")) {
        bail!("{who} need Debian's packages: {listed}");
    }
    println!("xtask: installing Debian's {listed} for {who}");
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null()))
}

/// axe-core, which the browser tests inject into every console page: installed from the
/// npm registry by `tests/browser/package-lock.json` (Debian's `npm` when it is missing
/// and this machine can install it). Returns the script's path.
fn ensure_axe(paths: &Paths) -> anyhow::Result<PathBuf> {
    let folder = paths.workspace.join("tests/browser");
    let script = folder.join("node_modules/axe-core/axe.min.js");
    if script.exists() {
        return Ok(script);
    }
    ensure_debian_packages(found_command("npm"), &["npm"], "the accessibility checks")?;
    println!("xtask: installing axe-core from the npm registry (tests/browser)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(&folder))?;
    Ok(script)
}

/// The schemathesis command (PyPI) that fuzzes the HTTP API against its OpenAPI
/// document: installed once into a virtual environment under the target folder.
fn ensure_schemathesis(paths: &Paths) -> anyhow::Result<PathBuf> {
    let venv = paths.target.join("tools/schemathesis");
    let st = venv.join("bin/st");
    if st.exists() {
        return Ok(st);
    }
    println!(
        "xtask: installing schemathesis from PyPI into {}",
        venv.display()
    );
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .context("the API tests need Python 3 with venv (Debian: python3-venv)")?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "schemathesis==4.*"])
        .stdout(Stdio::null()))?;
    Ok(st)
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

/// Builds the plugin components and the benchmark's component.
fn build_components(paths: &Paths) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    build_component_set(paths, COMPONENTS)?;
    for variant in VARIANTS {
        build_component_set(paths, std::slice::from_ref(variant))?;
    }
    wat_plugins::build_many_memories(
        &paths.workspace.join("wit/0.1.0"),
        &paths.target.join("plugin-variants"),
    )?;
    build_component_set(paths, &[PARSE_PAGE])
}

/// Builds `components` in one cargo run and copies each into its folder.
fn build_component_set(paths: &Paths, components: &[Component]) -> anyhow::Result<()> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(&paths.workspace).args([
        "build",
        "--target",
        WASM_TARGET,
        "--profile",
        "component",
    ]);
    for c in components {
        cmd.args(["-p", c.package]);
        if !c.features.is_empty() {
            cmd.args(["--features", c.features]);
        }
    }
    run(&mut cmd)?;
    for c in components {
        let built = paths
            .target
            .join(WASM_TARGET)
            .join("component")
            .join(c.built);
        let copy = paths.copy_of(c);
        std::fs::create_dir_all(paths.target.join(c.folder))?;
        std::fs::copy(&built, &copy).with_context(|| format!("copy {}", built.display()))?;
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
    for c in COMPONENTS {
        wasm.args(["-p", c.package]);
    }
    run(wasm.args(["--", "-D", "warnings"]))?;
    // The variants' code too: their features together compile as one.
    let mut variants = cargo_in_workspace();
    variants.args([
        "clippy",
        "--target",
        WASM_TARGET,
        "-p",
        "hostile",
        "--features",
    ]);
    let features: Vec<&str> = VARIANTS.iter().map(|v| v.features).collect();
    run(variants
        .arg(features.join(","))
        .args(["--", "-D", "warnings"]))
}

fn test(paths: &Paths) -> anyhow::Result<()> {
    lint(paths)?;
    ensure_browser()?;
    ensure_faketime()?;
    let axe = ensure_axe(paths)?;
    let schemathesis = ensure_schemathesis(paths)?;
    build(paths)?;
    let skip_report = paths.target.join("skipped-tests.txt");
    let _ = std::fs::remove_file(&skip_report);
    let skipping = std::env::var("CONNECTOR_HOST_SKIP_POSTGRES").as_deref() == Ok("1");
    if skipping {
        eprintln!(
            "warning: CONNECTOR_HOST_SKIP_POSTGRES=1: without a PostgreSQL server, its tests \
             are skipped, and the test runner will count them as passed"
        );
    }
    let tested = run(Command::new(cargo())
        .current_dir(&paths.workspace)
        .args(["test", "--workspace"])
        .env("SCHEMATHESIS", schemathesis)
        .env("AXE_SCRIPT", axe)
        .env("CONNECTOR_HOST_BIN", paths.host_bin())
        .env("TEST_PLUGINS_DIR", paths.plugins())
        .env("BENCH_COMPONENT", paths.copy_of(&PARSE_PAGE))
        .env("CONNECTOR_HOST_SKIP_REPORT", &skip_report));
    report_skips(&skip_report);
    tested
}

/// Says, after the runner's own summary, which tests skipped their PostgreSQL half and
/// how many: the runner reported them as passed.
fn report_skips(report: &Path) {
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let mut skipped: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    skipped.sort_unstable();
    skipped.dedup();
    if skipped.is_empty() {
        return;
    }
    eprintln!(
        "\nSKIPPED: {} test(s) did not test PostgreSQL (CONNECTOR_HOST_SKIP_POSTGRES=1), \
         though the runner counted them as passed:",
        skipped.len()
    );
    for test in skipped {
        eprintln!("  {test}");
    }
}

/// Builds the baseline (once), the host and the benchmark in release mode, and runs the
/// benchmarks. The baseline goes first: it shares the target folder, and today's build
/// then puts its own artefacts back in place.
fn bench(paths: &Paths, extra: &[String]) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let baseline = baseline::ensure(&paths.workspace, &paths.target, &cargo())?;
    build_components(paths)?;
    run(Command::new(cargo()).current_dir(&paths.workspace).args([
        "build",
        "--release",
        "-p",
        "connector-host",
        "-p",
        "connector-bench",
    ]))?;
    let release = paths.target.join("release");
    run(Command::new(release.join("connector-bench"))
        .arg("--host-bin")
        .arg(release.join("connector-host"))
        .arg("--plugin")
        .arg(paths.plugins().join("wiz.wasm"))
        .arg("--parse-page")
        .arg(paths.copy_of(&PARSE_PAGE))
        .arg("--out")
        .arg(paths.target.join("bench"))
        .arg("--baseline-host")
        .arg(&baseline.host)
        .arg("--baseline-plugin")
        .arg(&baseline.plugin)
        .args(baseline::ENV.iter().flat_map(|var| ["--baseline-env", var]))
        .args(extra))
}

/// Kills the child process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo's folder: its store, key and plugins.
fn demo_dir(paths: &Paths) -> PathBuf {
    paths.target.join("demo")
}

/// Starts the Wiz simulator with 600 issues; returns it with its base URL.
fn start_simulator(paths: &Paths) -> anyhow::Result<(KillOnDrop, String)> {
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
    Ok((sim, base))
}

/// The host, run on the demo's store.
fn demo_host(paths: &Paths, args: &[&str]) -> Command {
    let dir = demo_dir(paths);
    println!("\n$ connector-host {}", args.join(" "));
    let mut command = Command::new(paths.host_bin());
    command
        .args(args)
        .env("CONNECTOR_HOST_DB", dir.join("connector-host.db"))
        .env("CONNECTOR_HOST_PLUGINS", dir.join("plugins"))
        .env(
            "CONNECTOR_HOST_CACHE",
            paths.target.join("compiled-plugins"),
        )
        .env("WIZ_CLIENT_SECRET", "sim-secret-full")
        .env_remove("CONNECTOR_HOST_KEY");
    command
}

/// The settings that point the demo integration at a simulator.
fn simulator_settings(base: &str) -> Vec<String> {
    vec![
        "--set".into(),
        format!("api-url={base}"),
        "--set".into(),
        format!("auth-url={base}/oauth/token"),
    ]
}

fn demo(paths: &Paths) -> anyhow::Result<()> {
    build(paths)?;
    let dir = demo_dir(paths);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(dir.join("plugins"))?;
    std::fs::copy(
        paths.plugins().join("wiz.wasm"),
        dir.join("plugins/wiz.wasm"),
    )?;
    let (_sim, base) = start_simulator(paths)?;
    let host = |args: &[&str]| run(&mut demo_host(paths, args));
    let mut add = vec!["integration", "add", "wiz-demo", "--connector", "wiz"];
    let settings = simulator_settings(&base);
    add.extend(settings.iter().map(String::as_str));
    add.extend([
        "--set",
        "client-id=sim-client",
        "--set",
        "page-size=100",
        "--secret-env",
        "client-secret=WIZ_CLIENT_SECRET",
    ]);
    host(&["plugins"])?;
    host(&add)?;
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
    println!("Open the console on the demo's data with: cargo xtask console");
    Ok(())
}

/// Serves the console on the demo's store (run `demo` first), with a fresh simulator
/// behind its integration so Test Connection and Sync Now work, until Ctrl-C.
fn console(paths: &Paths) -> anyhow::Result<()> {
    build(paths)?;
    if !demo_dir(paths).join("connector-host.db").exists() {
        bail!("no demo store yet: run `cargo xtask demo` first");
    }
    let (_sim, base) = start_simulator(paths)?;
    let mut update = vec!["integration", "update", "wiz-demo", "--no-test"];
    let settings = simulator_settings(&base);
    update.extend(settings.iter().map(String::as_str));
    run(&mut demo_host(paths, &update))?;
    println!(
        "\nOpen http://127.0.0.1:8080/ and log in with the admin token from the file named below."
    );
    run(&mut demo_host(
        paths,
        &["serve", "--listen", "127.0.0.1:8080"],
    ))
}
