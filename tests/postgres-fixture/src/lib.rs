//! A real PostgreSQL for tests, on any machine:
//!
//! 1. the server `CONNECTOR_HOST_TEST_POSTGRES` names (a URL), when set (`throwaway`
//!    skips straight to 3);
//! 2. else one answering at 127.0.0.1:5432 as user `postgres`;
//! 3. else a throw-away server started from the system's binaries (`initdb` and `pg_ctl`
//!    from PATH or `/usr/lib/postgresql/*/bin`) in a temporary folder, on a free port,
//!    stopped when the test process exits.
//!
//! Each test gets a database of its own ([`database`]), dropped when it is dropped. If no
//! PostgreSQL can be had, tests fail and say how to get one; `CONNECTOR_HOST_SKIP_POSTGRES=1`
//! skips them instead, loudly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Names a server to use instead of finding or starting one.
pub const URL_ENV: &str = "CONNECTOR_HOST_TEST_POSTGRES";
/// Set to 1 to skip PostgreSQL tests on a machine without PostgreSQL.
pub const SKIP_ENV: &str = "CONNECTOR_HOST_SKIP_POSTGRES";

/// A server tests may create databases on.
struct Server {
    /// URL without a database name: `postgres://user@host:port`.
    base: String,
}

/// A database for one test, dropped with it.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    /// Its URL, for `--db`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs statements on it directly: for tests that set up what no API may write
    /// (a schema from the future, say).
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        run_sql(&self.url, sql)
    }

    /// The first column of every row `sql` returns, as text.
    pub fn texts(&self, sql: &str) -> Result<Vec<String>, String> {
        let (url, sql) = (self.url.clone(), sql.to_string());
        on_own_runtime(async move {
            let client = connect(&url).await?;
            let rows = client.query(&sql, &[]).await.map_err(describe)?;
            rows.iter()
                .map(|r| r.try_get::<_, String>(0).map_err(describe))
                .collect()
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(server) = SERVER.get().and_then(Option::as_ref) {
            let _ = admin(
                &server.base,
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            );
        }
    }
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Names a file where each skipped test appends its name, for the suite's runner to
/// report after the run: a test runner shows a skipped test as passed.
pub const SKIP_REPORT_ENV: &str = "CONNECTOR_HOST_SKIP_REPORT";

/// A fresh, empty database; `None` only when [`SKIP_ENV`] is set and no server can be had
/// (the calling test is then noted in the [`SKIP_REPORT_ENV`] file).
/// Panics, saying how to get PostgreSQL, when none can be had otherwise.
pub fn database() -> Option<TestDatabase> {
    let Some(server) = SERVER.get_or_init(find_server).as_ref() else {
        note_skip();
        return None;
    };
    let name = format!(
        "connector_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    admin(&server.base, &format!("CREATE DATABASE \"{name}\""))
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    Some(TestDatabase {
        url: format!("{}/{name}", server.base),
        name,
    })
}

fn find_server() -> Option<Server> {
    let wanted = std::env::var(URL_ENV).ok();
    if let Some(url) = wanted.filter(|u| u != "throwaway") {
        let base = url.trim_end_matches('/').to_string();
        let base = match base.rsplit_once('/') {
            Some((head, _db)) if head.contains("://") && head.len() > "postgres://".len() => {
                head.to_string()
            }
            _ => base,
        };
        admin(&base, "SELECT 1").unwrap_or_else(|e| panic!("{URL_ENV}={url} does not answer: {e}"));
        return Some(Server { base });
    }
    let local = "postgres://postgres@127.0.0.1:5432".to_string();
    let throwaway_only = std::env::var(URL_ENV).as_deref() == Ok("throwaway");
    if !throwaway_only && admin(&local, "SELECT 1").is_ok() {
        return Some(Server { base: local });
    }
    match start_throwaway() {
        Ok(base) => Some(Server { base }),
        Err(why) if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!(
                "\n!!! SKIPPING POSTGRESQL TESTS ({SKIP_ENV}=1): {why}\n!!! The PostgreSQL backend is NOT tested on this run.\n"
            );
            None
        }
        Err(why) => panic!(
            "no PostgreSQL for the tests: {why}. Install the server binaries (Debian: `apt-get install postgresql`), \
             start one at 127.0.0.1:5432, or set {URL_ENV}=postgres://USER@HOST:PORT; \
             {SKIP_ENV}=1 skips these tests"
        ),
    }
}

/// Appends the current test's name (its thread's) to the skip report, if one is named.
fn note_skip() {
    use std::io::Write;
    let Some(path) = std::env::var_os(SKIP_REPORT_ENV) else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("a test outside the test runner")
        .to_string();
    // One short line per write: appends from parallel test processes do not interleave.
    let noted = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{test}\n").as_bytes()));
    if let Err(e) = noted {
        eprintln!(
            "cannot note the skipped test in {}: {e}",
            Path::new(&path).display()
        );
    }
}

/// Runs `sql` on the server's `postgres` database.
fn admin(base: &str, sql: &str) -> Result<(), String> {
    run_sql(&format!("{base}/postgres"), sql)
}

fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    on_own_runtime(async move {
        connect(&url)
            .await?
            .batch_execute(&sql)
            .await
            .map_err(describe)
    })
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(describe)?;
    tokio::spawn(connection);
    Ok(client)
}

fn describe(e: tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// Runs `work` on a runtime of its own, on a thread of its own: tests may already be
/// inside a tokio runtime.
fn on_own_runtime<T: Send + 'static>(
    work: impl Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(work)
    })
    .join()
    .map_err(|_| "the database thread panicked".to_string())?
}

/// Where `initdb` and `pg_ctl` are: PATH, then Debian's versioned folders, newest first.
fn server_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    })
}

/// A server started from the system's binaries in a folder of its own.
struct Started {
    bin: PathBuf,
    data: PathBuf,
    /// The unprivileged user it runs as, when the tests run as root.
    run_as: Option<String>,
    port: u16,
}

impl Started {
    /// Runs one of the server's programs, as its user.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        run_server_program(&self.bin, self.run_as.as_deref(), program, args)
    }

    fn stop(&self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
        if let Some(dir) = self.data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn run_server_program(
    bin: &Path,
    run_as: Option<&str>,
    program: &str,
    args: &[&str],
) -> Result<(), String> {
    let mut cmd = match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    };
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Creates a cluster in a temporary folder and starts it on a free port, with `options`
/// added to the server's; `prepare` may put files into the data folder first, and
/// returns them to be handed to the server's user.
fn start_server(
    options: &[String],
    prepare: impl FnOnce(&Path) -> Result<Vec<PathBuf>, String>,
) -> Result<Started, String> {
    let bin = server_binaries().ok_or("no initdb/pg_ctl on PATH or in /usr/lib/postgresql")?;
    let dir = tempfile::Builder::new()
        .prefix("connector-test-pg")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    // PostgreSQL refuses to run as root: run it as an unprivileged user then.
    let run_as = (unsafe { libc::geteuid() } == 0)
        .then(unprivileged_user)
        .flatten();
    if let Some(user) = &run_as {
        chown(&dir, user)?;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let started = Started {
        bin,
        data,
        run_as,
        port,
    };
    let data_arg = started.data.display().to_string();
    started.run(
        "initdb",
        &[
            "-D",
            &data_arg,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )?;
    let written = prepare(&started.data)?;
    if let Some(user) = &started.run_as {
        for file in &written {
            chown(file, user)?;
        }
    }
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off {}",
        dir.display(),
        options.join(" ")
    );
    let log = dir.join("server.log").display().to_string();
    started.run(
        "pg_ctl",
        &["-D", &data_arg, "-o", &options, "-l", &log, "-w", "start"],
    )?;
    Ok(started)
}

/// The throw-away server, for stopping it at exit.
static THROWAWAY: OnceLock<Started> = OnceLock::new();

/// Starts a server in a temporary folder on a free port; returns its base URL.
fn start_throwaway() -> Result<String, String> {
    let started = start_server(&[], |_| Ok(Vec::new()))?;
    let base = format!("postgres://postgres@127.0.0.1:{}", started.port);
    let _ = THROWAWAY.set(started);
    // SAFETY: registering a plain extern "C" function with no captured state.
    unsafe { libc::atexit(stop_throwaway) };
    Ok(base)
}

extern "C" fn stop_throwaway() {
    if let Some(started) = THROWAWAY.get() {
        started.stop();
    }
}

/// A server of a test's own, which the test may restart or configure (TLS on): the
/// server the other tests share must not be. Stopped when dropped.
pub struct OwnServer(Started);

impl OwnServer {
    /// Its port on 127.0.0.1 (the user is `postgres`, the database `postgres`).
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.0.port)
    }

    /// Stops it at once, as a crash or a failover would (every connection cut, nothing
    /// flushed first), and starts it again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        let data = self.0.data.display().to_string();
        // Its output goes to the log as at the start: a server left writing to this
        // process's pipes would keep them open, and the wait for them, for ever.
        let log = self.0.data.with_file_name("server.log");
        let log = log.display().to_string();
        self.0.run(
            "pg_ctl",
            &["-D", &data, "-m", "immediate", "-w", "-l", &log, "restart"],
        )
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Starts a plain, durable server of the test's own; `None` only when [`SKIP_ENV`] is set and
/// none can be started (noted as for [`database`]). Panics, saying how to get the
/// server's binaries, otherwise.
pub fn own_server() -> Option<OwnServer> {
    // Durable, unlike the shared server: a test that crashes it must lose only what a
    // real server would (nothing committed).
    let durable =
        ["fsync=on", "synchronous_commit=on", "full_page_writes=on"].map(|o| format!("-c {o}"));
    own(start_server(&durable, |_| Ok(Vec::new())).map(OwnServer))
}

/// The server started, or `None` when it could not be and [`SKIP_ENV`] allows that.
fn own(started: Result<OwnServer, String>) -> Option<OwnServer> {
    match started {
        Ok(server) => Some(server),
        Err(why) if std::env::var(SKIP_ENV).as_deref() == Ok("1") => {
            eprintln!("\n!!! SKIPPING A TEST ON A POSTGRESQL OF ITS OWN ({SKIP_ENV}=1): {why}\n");
            note_skip();
            None
        }
        Err(why) => panic!(
            "cannot start a PostgreSQL for the test: {why}. Install the server binaries \
             (Debian: `apt-get install postgresql`), or set {SKIP_ENV}=1 to skip it"
        ),
    }
}

/// Starts a server that offers TLS with the certificate chain `cert_pem` and its key;
/// `None` only when [`SKIP_ENV`] is set and none can be started (noted as for
/// [`database`]). Panics, saying how to get the server's binaries, otherwise.
pub fn tls_server(cert_pem: &str, key_pem: &str) -> Option<OwnServer> {
    own(start_tls_server(cert_pem, key_pem))
}

fn start_tls_server(cert_pem: &str, key_pem: &str) -> Result<OwnServer, String> {
    let options = [
        "-c ssl=on".to_string(),
        "-c ssl_cert_file=server.crt".to_string(),
        "-c ssl_key_file=server.key".to_string(),
    ];
    let started = start_server(&options, |data| {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert, cert_pem).map_err(|e| e.to_string())?;
        std::fs::write(&key, key_pem).map_err(|e| e.to_string())?;
        // The server refuses a key others may read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        Ok(vec![cert, key])
    })?;
    Ok(OwnServer(started))
}

/// `postgres` if the system has that user (Debian's package makes it), else `nobody`.
fn unprivileged_user() -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let has = |name: &str| passwd.lines().any(|l| l.split(':').next() == Some(name));
    ["postgres", "nobody"]
        .into_iter()
        .find(|u| has(u))
        .map(Into::into)
}

fn chown(path: &Path, user: &str) -> Result<(), String> {
    let out = Command::new("chown")
        .arg(user)
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
    }
}
