//! One benchmark's host: the real `connector-host` binary over its own database and
//! plugins folder, with a compiled-plugin cache the caller chooses.

use anyhow::{Context, bail};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wiz_sim::Simulator;

/// The client the simulator's default account answers to, with every scope.
const CLIENT_ID: &str = "sim-client";
const CLIENT_SECRET: &str = "sim-secret-full";

/// A host installation in a folder of its own.
pub struct HostEnv {
    bin: PathBuf,
    dir: PathBuf,
    cache: PathBuf,
    /// A database URL to store in instead of the folder's SQLite file.
    db_url: Option<String>,
    /// Variables set for every command on top of the benchmark's own.
    env: Vec<(String, String)>,
}

impl HostEnv {
    /// A fresh folder `dir` (emptied first) holding the plugin `wiz.wasm`.
    pub fn new(bin: &Path, plugin: &Path, dir: &Path, cache: &Path) -> anyhow::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("empty {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.join("plugins"))?;
        std::fs::copy(plugin, dir.join("plugins/wiz.wasm"))
            .with_context(|| format!("copy {}", plugin.display()))?;
        Ok(HostEnv {
            bin: bin.into(),
            dir: dir.into(),
            cache: cache.into(),
            db_url: None,
            env: Vec::new(),
        })
    }

    /// The same installation with `vars` in every command's environment.
    pub fn with_env(mut self, vars: &[(String, String)]) -> Self {
        self.env.extend_from_slice(vars);
        self
    }

    /// The same installation storing in the database at `url`.
    pub fn with_db_url(mut self, url: &str) -> Self {
        self.db_url = Some(url.to_string());
        self
    }

    /// The SQLite database.
    pub fn db(&self) -> PathBuf {
        self.dir.join("connector-host.db")
    }

    /// Where `serve` writes the admin's token: beside the store's key file, which is
    /// beside the SQLite file or, for PostgreSQL, in the user's configuration folder.
    pub fn admin_token_file(&self) -> PathBuf {
        match self.db_url {
            None => self.db().with_extension("admin-token"),
            Some(_) => (self.dir.join("config"))
                .join("connector-host")
                .join("secret.admin-token"),
        }
    }

    /// The folder's path for a file of its own.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `connector-host ARGS` with this installation's paths; output goes to files in the
    /// folder (stdout.txt, stderr.txt), so a long run never blocks on a full pipe.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<Command> {
        self.command_writing(args, "stdout.txt", "stderr.txt")
    }

    /// [`HostEnv::command`], its output going to `NAME.out` and `NAME.err` in the folder:
    /// for processes that run side by side.
    pub fn command_logging_to(&self, args: &[&str], name: &str) -> anyhow::Result<Command> {
        self.command_writing(args, &format!("{name}.out"), &format!("{name}.err"))
    }

    fn command_writing(&self, args: &[&str], out: &str, err: &str) -> anyhow::Result<Command> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env(
                "CONNECTOR_HOST_DB",
                self.db_url
                    .clone()
                    .unwrap_or_else(|| self.db().display().to_string()),
            )
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("CONNECTOR_HOST_PLUGINS", self.dir.join("plugins"))
            .env("CONNECTOR_HOST_CACHE", &self.cache)
            .env_remove("CONNECTOR_HOST_KEY")
            .env_remove("RUST_LOG")
            // The benchmark measures the host, not the pacing of requests to the simulator.
            .env(
                "CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_INTEGRATION",
                "100000",
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(File::create(self.file(out))?)
            .stderr(File::create(self.file(err))?);
        Ok(cmd)
    }

    /// What the last command wrote to standard output.
    pub fn stdout(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.file("stdout.txt"))?)
    }

    /// Runs `connector-host ARGS` and fails with its error output if it fails.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = self.command(args)?.status()?;
        if !status.success() {
            let stderr = std::fs::read_to_string(self.file("stderr.txt")).unwrap_or_default();
            bail!(
                "connector-host {} failed: {}",
                args.join(" "),
                stderr.trim()
            );
        }
        Ok(())
    }

    /// Waits until a `serve` started with [`HostEnv::command`] listens; its base URL.
    pub fn wait_for_console(&self, within: std::time::Duration) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + within;
        let marker = "HTTP API on ";
        loop {
            let log = std::fs::read_to_string(self.file("stderr.txt")).unwrap_or_default();
            if let Some(url) = log
                .lines()
                .find_map(|l| l.split_once(marker).map(|(_, u)| u))
            {
                let base = url.trim().trim_end_matches('/').trim_end_matches("/api/v1");
                return Ok(base.to_string());
            }
            if std::time::Instant::now() > deadline {
                bail!("serve did not start listening: {}", log.trim());
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }

    /// Adds a Wiz integration named `name` on `sim`, with `extra` settings and flags.
    pub fn add_wiz(&self, name: &str, sim: &Simulator, extra: &[&str]) -> anyhow::Result<()> {
        let mut args = wiz_sim::add_wiz_args(
            name,
            &sim.api_url(),
            &sim.auth_url(),
            CLIENT_ID,
            CLIENT_SECRET,
        );
        args.push("--no-test".into());
        args.extend(extra.iter().map(|e| e.to_string()));
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}
