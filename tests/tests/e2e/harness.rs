//! Drives the real `connector-host` binary with the real plugin components, each test
//! in its own folder (database, key), against an in-process Wiz simulator.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wiz_sim::Simulator;

/// The secret of the simulator's full-access account.
pub const FULL_SECRET: &str = "sim-secret-full";

/// The build's target folder.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn required_path(var: &str, default: PathBuf) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        path.exists(),
        "{} not found; run the suite with `cargo xtask test`, which builds the host and the components",
        path.display()
    );
    path
}

/// One test's host environment.
pub struct Host {
    dir: tempfile::TempDir,
    bin: PathBuf,
    plugins: PathBuf,
    cache: PathBuf,
    /// The PostgreSQL database the host stores in, instead of a SQLite file.
    postgres: Option<postgres_fixture::TestDatabase>,
    /// The URL of the PostgreSQL database it stores in, when it does.
    database_url: Option<String>,
}

impl Host {
    /// A fresh environment with an empty database.
    pub fn new() -> Self {
        let bin = required_path(
            "CONNECTOR_HOST_BIN",
            target_dir().join("debug/connector-host"),
        );
        let plugins = required_path("TEST_PLUGINS_DIR", target_dir().join("plugins"));
        // Compiled components are keyed by content hash, so tests can share one cache.
        let cache = plugins
            .parent()
            .unwrap_or(&plugins)
            .join("compiled-plugins-test");
        Host {
            dir: tempfile::tempdir().expect("temp dir"),
            bin,
            plugins,
            cache,
            postgres: None,
            database_url: None,
        }
    }

    /// A fresh environment storing in a PostgreSQL database of its own; `None` when
    /// PostgreSQL tests are skipped (`CONNECTOR_HOST_SKIP_POSTGRES=1`).
    pub fn postgres() -> Option<Self> {
        let database = postgres_fixture::database()?;
        let mut host = Host::on_postgres_url(database.url().to_string());
        host.postgres = Some(database);
        Some(host)
    }

    /// A fresh environment storing in the PostgreSQL database at `url` (a server of the
    /// test's own).
    pub fn on_postgres_url(url: String) -> Self {
        let mut host = Host::new();
        host.database_url = Some(url);
        host
    }

    /// The PostgreSQL database, when the host stores in one.
    pub fn postgres_database(&self) -> Option<&postgres_fixture::TestDatabase> {
        self.postgres.as_ref()
    }

    /// What `--db` says: the SQLite file, or the PostgreSQL URL.
    pub fn db_arg(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self.db().display().to_string(),
        }
    }

    /// The same environment with another plugins folder and compile cache.
    pub fn with_plugins(mut self, plugins: &Path, cache: &Path) -> Self {
        self.plugins = plugins.to_path_buf();
        self.cache = cache.to_path_buf();
        self
    }

    /// A host whose plugins folder, in `scratch`, holds one component alone, as `name`,
    /// with an empty compile cache of its own there; `pick` chooses the component among
    /// the built ones. Returns the host and its plugins folder (to put an upgrade in).
    pub fn with_only_plugin(
        scratch: &Path,
        pick: impl FnOnce(&Host) -> PathBuf,
        name: &str,
    ) -> (Host, PathBuf) {
        let plugins = scratch.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        let host = Host::new();
        std::fs::copy(pick(&host), plugins.join(name)).unwrap();
        let host = host.with_plugins(&plugins, &scratch.join("cache"));
        (host, plugins)
    }

    /// `serve` as the scheduler alone (parallel tests cannot all listen on the default
    /// port), on the test's clock file, looking for due syncs every 40 ms and logging
    /// at debug level (each look that finds nothing to do says so); then `extra`.
    pub fn scheduler_args<'a>(clock_file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "serve",
            "--no-http",
            "-vv",
            "--clock-file",
            clock_file,
            "--poll-interval-ms",
            "40",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// The folder holding the built test plugins.
    pub fn built_plugins(&self) -> PathBuf {
        required_path("TEST_PLUGINS_DIR", target_dir().join("plugins"))
    }

    /// A variant of a test plugin (`hostile-upgraded.wasm`, …), built beside them.
    pub fn plugin_variant(&self, file: &str) -> PathBuf {
        let plugins = self.built_plugins();
        plugins
            .parent()
            .unwrap_or(&plugins)
            .join("plugin-variants")
            .join(file)
    }

    /// Writes to `to` another build of the component `from`: the same code and the same
    /// name and version, with a custom section appended (as a rebuild with other
    /// debug info would give), so its digest differs.
    pub fn changed_build(from: &Path, to: &Path) {
        let mut bytes = std::fs::read(from).unwrap();
        let name = b"rebuilt";
        let payload = b"another build";
        // Custom section: id 0, size, then the name (length-prefixed) and the payload;
        // every length here fits one LEB128 byte.
        bytes.push(0);
        bytes.push((1 + name.len() + payload.len()) as u8);
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(payload);
        std::fs::write(to, bytes).unwrap();
    }

    /// The SQLite database file (when the host stores in SQLite).
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("host.db")
    }

    /// The test's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the host with `args` in the background; output goes to files in the test's folder.
    pub fn spawn(&self, args: &[&str]) -> Background {
        self.spawn_command(self.command(args))
    }

    /// [`spawn`](Self::spawn), the process and its threads confined to one CPU
    /// (`taskset`), as on a machine with one core.
    pub fn spawn_on_one_cpu(&self, args: &[&str]) -> Background {
        let mut pinned = Command::new("taskset");
        pinned.args(["--cpu-list", "0"]).arg(&self.bin).args(args);
        self.spawn_command(self.with_environment(pinned))
    }

    fn spawn_command(&self, mut command: Command) -> Background {
        // Files of its own, so several processes of one test (a fleet of workers) each
        // have their log.
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = |name: &str| std::fs::File::create(self.dir().join(name)).expect("log file");
        let child = command
            .stdout(log(&format!("background-{n}.out")))
            .stderr(log(&format!("background-{n}.err")))
            .spawn()
            .expect("start connector-host");
        Background {
            child: Some(child),
            log: self.dir().join(format!("background-{n}.err")),
        }
    }

    /// Runs the host with `args` and extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        cmd.output().expect("run connector-host")
    }

    /// Runs the host with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run connector-host")
    }

    /// The host command with `args` in this environment, for a test that runs it itself.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        self.with_environment(cmd)
    }

    /// `cmd` with this environment's database, plugins and cache, and nothing inherited
    /// that would change the host's behaviour.
    fn with_environment(&self, mut cmd: Command) -> Command {
        cmd.env("CONNECTOR_HOST_DB", self.db_arg())
            // A database URL keeps its key in the user's config folder: the test's own.
            .env("XDG_CONFIG_HOME", self.dir().join("config"))
            .env("CONNECTOR_HOST_PLUGINS", &self.plugins)
            .env("CONNECTOR_HOST_CACHE", &self.cache)
            .env_remove("CONNECTOR_HOST_KEY")
            .env_remove("CONNECTOR_HOST_KEY_FILE")
            .env_remove("RUST_LOG")
            // The plugins here send 100 requests a second to the simulator (see
            // `add_wiz_at`); the tests of the ceilings set their own.
            .env(
                "CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_INTEGRATION",
                "1000",
            )
            .env_remove("CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_HOST")
            .env("USER", "e2e-tester");
        cmd
    }

    /// Runs the host and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success(),
            "connector-host {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout.into_owned()
    }

    /// Runs the host and expects failure; returns stderr, which must be one line of cause.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            !out.status.success(),
            "connector-host {args:?} should fail\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let last = stderr.lines().last().unwrap_or_default().to_string();
        assert!(
            last.starts_with("error: "),
            "the cause must be the last stderr line: {stderr}"
        );
        last
    }

    /// Runs a `--json` view and parses it.
    pub fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args)).expect("--json prints a JSON array")
    }

    /// Adds a Wiz integration against `sim`; `extra` are more `--set` values.
    pub fn add_wiz(
        &self,
        name: &str,
        sim: &Simulator,
        client_id: &str,
        secret: &str,
        extra: &[&str],
    ) -> Output {
        self.add_wiz_at(
            name,
            &sim.api_url(),
            &sim.auth_url(),
            client_id,
            secret,
            extra,
        )
    }

    /// Adds a Wiz integration with explicit API and token URLs.
    pub fn add_wiz_at(
        &self,
        name: &str,
        api_url: &str,
        auth_url: &str,
        client_id: &str,
        secret: &str,
        extra: &[&str],
    ) -> Output {
        let mut args = wiz_sim::add_wiz_args(name, api_url, auth_url, client_id, secret);
        for e in extra {
            args.extend(["--set".to_string(), e.to_string()]);
        }
        // The default ceiling of 3 requests a second would make the suite crawl; the
        // ceiling itself has its own test.
        if !extra
            .iter()
            .any(|e| e.starts_with("max-requests-per-second="))
        {
            args.extend(["--set", "max-requests-per-second=100"].map(String::from));
        }
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// An integration's findings without the field that names it, to compare what two
    /// integrations store.
    pub fn findings_of(&self, name: &str) -> Vec<Value> {
        self.json(&["findings", name])
            .into_iter()
            .map(|mut f| {
                f.as_object_mut()
                    .expect("a finding object")
                    .remove("integration");
                f
            })
            .collect()
    }

    /// Adds an integration of the `hostile` test plugin in `mode`, untested; `extra` are
    /// more `--set` values.
    pub fn add_hostile(&self, name: &str, mode: &str, api_url: &str, extra: &[&str]) {
        let (api, mode) = (format!("api-url={api_url}"), format!("mode={mode}"));
        let mut args = vec![
            "integration",
            "add",
            name,
            "--connector",
            "hostile",
            "--set",
            &api,
            "--set",
            &mode,
            "--no-test",
        ];
        for set in extra {
            args.extend(["--set", set]);
        }
        self.ok(&args);
    }

    /// Sorted values of `field` in a JSON view.
    pub fn ids(&self, view: &str, name: &str, field: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .json(&[view, name])
            .iter()
            .map(|r| r[field].as_str().expect("string id").to_string())
            .collect();
        ids.sort();
        ids
    }
}

/// Asserts success of an [`Output`].
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts failure of an [`Output`] and returns its (stdout, stderr).
pub fn expect_failure(out: &Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !out.status.success(),
        "expected failure\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// A host process running in the background; killed when dropped.
pub struct Background {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Background {
    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait(30)
    }

    /// Sends the signal named (`TERM`, `STOP`, `CONT`, …).
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIG{name} to {pid}");
    }

    /// Waits up to `seconds` for the process to end on its own.
    pub fn wait(&mut self, seconds: u64) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the host did not end within {seconds} s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// How many files (sockets included) the process has open now.
    pub fn open_files(&self) -> usize {
        let pid = self.child.as_ref().expect("running").id();
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
    }

    /// What it wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the scheduler logs at each look for due syncs that finds none due or running.
const IDLE: &str = "scheduler idle: no sync due or running";

/// Waits until the scheduler has looked for due syncs, at the clock's current time, and
/// found none due and none running: then every sync it started has ended, and it will
/// start no other until the clock moves.
pub fn wait_idle(server: &Background) {
    // The first idle look logged from now may have read the clock before the test moved
    // it; the second began after the first was logged.
    let seen = server.log_text().matches(IDLE).count();
    wait_for(60, "the scheduler to be idle", || {
        server.log_text().matches(IDLE).count() >= seen + 2
    });
}

/// A `serve` with its HTTP API, on a free loopback port.
pub struct Served {
    /// The process.
    pub background: Background,
    /// `http://127.0.0.1:PORT/api/v1`.
    pub api: String,
    /// The admin token, read from the file the host created.
    pub admin_token: String,
}

impl Served {
    /// The API's answer to `path` as the admin, which must be a success (a blocking
    /// call, also from a multi-threaded test runtime).
    pub fn api_json(&self, path: &str) -> Value {
        tokio::task::block_in_place(|| {
            let response = reqwest::blocking::Client::new()
                .get(format!("{}{path}", self.api))
                .bearer_auth(&self.admin_token)
                .send()
                .unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.json().unwrap()
        })
    }
}

impl Host {
    /// The admin token file: beside the key file.
    pub fn admin_token_file(&self) -> PathBuf {
        match &self.database_url {
            Some(_) => self.dir().join("config/connector-host/secret.admin-token"),
            None => self.db().with_extension("admin-token"),
        }
    }

    /// Starts `serve` with its HTTP API on a free loopback port unless `extra` says
    /// `--listen` (failed logins answered after 50 ms, not the default second), and
    /// waits until it listens.
    pub fn serve_http(&self, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--failed-login-delay-ms", "50"];
        if !extra.contains(&"--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        args.extend(extra);
        self.serve_http_with(&args)
    }

    /// Starts the host with exactly `args` (a `serve` with its HTTP API) and waits until
    /// it listens.
    pub fn serve_http_with(&self, args: &[&str]) -> Served {
        let background = self.spawn(args);
        let marker = "HTTP API on ";
        wait_for(60, "the HTTP API to listen", || {
            background.log_text().contains(marker)
        });
        let log = background.log_text();
        let api = log
            .lines()
            .find_map(|l| {
                l.split_once(marker)
                    .map(|(_, url)| url.trim().trim_end_matches('/'))
            })
            .expect("the address line")
            .to_string();
        let admin_token = std::fs::read_to_string(self.admin_token_file())
            .expect("the admin token file")
            .trim()
            .to_string();
        Served {
            background,
            api,
            admin_token,
        }
    }
}

/// Polls `condition` until it holds, failing after `seconds`.
pub fn wait_for(seconds: u64, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// A clock file the host's scheduler reads "now" from.
pub struct TestClock(PathBuf);

impl TestClock {
    /// A clock in `dir`, set to `now`.
    pub fn new(dir: &Path, now: &str) -> Self {
        let clock = TestClock(dir.join("clock"));
        clock.set(now);
        clock
    }

    /// Moves the clock.
    pub fn set(&self, now: &str) {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, now).expect("write clock");
        std::fs::rename(&tmp, &self.0).expect("move clock");
    }

    /// The file's path, for `--clock-file`.
    pub fn path(&self) -> String {
        self.0.display().to_string()
    }
}

/// A loopback HTTP server that answers every request with an empty 200 after `hold`,
/// noting when each arrived and how many it held at once: a destination plugins may
/// reach, or a bystander they must not.
pub struct Listener {
    /// `http://` and the address it listens on.
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// Connections accepted, whether or not they sent a request.
    accepted: usize,
    arrivals: Vec<std::time::Instant>,
    /// What each connection sent first (up to 4 KiB), in the order read.
    requests: Vec<String>,
    open: usize,
    most_open: usize,
}

impl Listener {
    /// Listens on `address` (port 0 for any free one).
    pub fn start(address: &str, hold: std::time::Duration) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind(address)
            .unwrap_or_else(|e| panic!("the test listener needs {address}: {e}"));
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
        let counted = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counted.lock().unwrap().accepted += 1;
                let seen = counted.clone();
                std::thread::spawn(move || {
                    let mut request = [0u8; 4096];
                    let read = stream.read(&mut request).unwrap_or(0);
                    {
                        let mut s = seen.lock().unwrap();
                        s.arrivals.push(std::time::Instant::now());
                        s.requests
                            .push(String::from_utf8_lossy(&request[..read]).into_owned());
                        s.open += 1;
                        s.most_open = s.most_open.max(s.open);
                    }
                    std::thread::sleep(hold);
                    seen.lock().unwrap().open -= 1;
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                });
            }
        });
        Listener { url, seen }
    }

    /// When each connection arrived, in the order they were read.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.seen.lock().unwrap().arrivals.clone()
    }

    /// What each connection sent first (its request line, headers and the start of its
    /// body), in the order read.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().requests.clone()
    }

    /// How many connections it has accepted: a plugin that connects and sends nothing
    /// is counted too.
    pub fn connections(&self) -> usize {
        self.seen.lock().unwrap().accepted
    }

    /// The most it held open at once.
    pub fn most_open(&self) -> usize {
        self.seen.lock().unwrap().most_open
    }
}
