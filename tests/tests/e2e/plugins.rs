//! Loading: components are listed with their schema, bad files are refused with the
//! reason, and compiled code lands in the cache.

use crate::harness::Host;
use std::path::{Path, PathBuf};

/// A host whose plugins folder (in `scratch`) holds the Wiz plugin alone, with an empty
/// compile cache of its own; returns it with the plugins and cache folders.
fn host_with_only_wiz(scratch: &Path) -> (Host, PathBuf, PathBuf) {
    let (host, plugins) =
        Host::with_only_plugin(scratch, |h| h.built_plugins().join("wiz.wasm"), "wiz.wasm");
    (host, plugins, scratch.join("cache"))
}

#[test]
fn plugins_are_listed_bad_files_refused_and_compiled_code_cached() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins, cache) = host_with_only_wiz(scratch.path());
    std::fs::write(plugins.join("garbage.wasm"), b"this is not wasm").unwrap();
    std::fs::write(plugins.join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();

    let out = host.run(&["plugins"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("wiz 0.2.0 (contract 0.2.0)"), "{stdout}");
    for key in [
        "api-url",
        "client-id",
        "client-secret",
        "project-ids",
        "auth-url",
        "page-size",
    ] {
        assert!(stdout.contains(key), "{key}: {stdout}");
    }
    assert!(
        stderr.contains("core.wasm not loaded") && stderr.contains("core module"),
        "{stderr}"
    );
    assert!(stderr.contains("garbage.wasm not loaded"), "{stderr}");

    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&host.ok(&["plugins", "--json"])).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "wiz");
    assert_eq!(listed[0]["config_schema"][5]["key"], "page-size");
    assert_eq!(listed[0]["config_schema"][5]["max"], 500);
    assert_eq!(listed[0]["config_schema"][2]["kind"], "secret");

    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one compiled artifact for the one good component"
    );
    let modified = cached[0].metadata().unwrap().modified().unwrap();
    host.ok(&["plugins"]);
    assert_eq!(
        std::fs::metadata(cached[0].path())
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "the second run reuses the cache"
    );

    // An unwritable cache folder is a clear error, not a crash.
    let blocker = scratch.path().join("file-not-folder");
    std::fs::write(&blocker, b"").unwrap();
    let host = Host::new().with_plugins(&plugins, &blocker);
    let stderr = host.fails(&["plugins"]);
    assert!(
        stderr.contains("cache folder") && stderr.contains("not usable"),
        "{stderr}"
    );
}

#[test]
fn a_compile_cache_that_others_could_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().unwrap();
    let (_, plugins, cache) = host_with_only_wiz(scratch.path());
    let host = Host::new().with_plugins(&plugins, &cache);
    host.ok(&["plugins"]);
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "a new cache folder is the user's alone");

    // A folder someone made world-writable (as another user could, first, in /tmp).
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let refused = host.fails(&["plugins"]);
    assert!(
        refused.contains("is writable by others (mode 777)") && refused.contains("native code"),
        "{refused}"
    );
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    host.ok(&["plugins"]);
    // One that belongs to another user. Only root can hand a folder over; CI runs as
    // root, so there the check must run. A developer's run as themselves passes over
    // it, and says so.
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let must_run = me == 0 || std::env::var_os("CI").is_some();
    let other = if me == 65534 { 65533 } else { 65534 };
    match std::os::unix::fs::chown(&cache, Some(other), None) {
        Ok(()) => {
            let refused = host.fails(&["plugins"]);
            assert!(
                refused.contains(&format!("belongs to uid {other}")),
                "{refused}"
            );
        }
        Err(e) if must_run => panic!(
            "cannot hand the cache folder to uid {other} ({e}), so the owner check did not \
             run; CI runs it as root (CI={:?}, uid {me})",
            std::env::var_os("CI")
        ),
        Err(e) => eprintln!(
            "NOTICE: the check of a cache folder owned by another user did not run: \
             chown to uid {other} needs root ({e}); CI runs it"
        ),
    }
}

/// The one compiled entry in `cache`.
fn only_entry(cache: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn a_compiled_entry_planted_in_the_cache_is_recompiled_never_run() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins, cache) = host_with_only_wiz(scratch.path());
    // The host's own compiled hostile plugin, from a cache beside it.
    let (hostile_plugins, hostile_cache) = (scratch.path().join("h"), scratch.path().join("hc"));
    std::fs::create_dir_all(&hostile_plugins).unwrap();
    std::fs::copy(
        host.built_plugins().join("hostile.wasm"),
        hostile_plugins.join("hostile.wasm"),
    )
    .unwrap();
    let host = host.with_plugins(&hostile_plugins, &hostile_cache);
    host.ok(&["plugins"]);
    let hostile_entry = only_entry(&hostile_cache);
    let host = host.with_plugins(&plugins, &cache);
    host.ok(&["plugins"]);
    let wiz_entry = only_entry(&cache);

    // Planted under wiz's name: native code of another component.
    std::fs::copy(&hostile_entry, &wiz_entry).unwrap();
    let out = host.run(&["plugins"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("wiz") && !stdout.contains("hostile"),
        "{stdout}"
    );
    assert!(stderr.contains("did not write"), "{stderr}");
    assert_ne!(
        std::fs::read(&wiz_entry).unwrap(),
        std::fs::read(&hostile_entry).unwrap(),
        "the entry was compiled again"
    );

    // A symlink at the entry's name is replaced, not written through.
    let victim = scratch.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::remove_file(&wiz_entry).unwrap();
    std::os::unix::fs::symlink(&victim, &wiz_entry).unwrap();
    let stdout = host.ok(&["plugins"]);
    assert!(stdout.contains("wiz"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    assert!(!std::fs::symlink_metadata(&wiz_entry).unwrap().is_symlink());
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn a_plugin_that_uses_files_or_sockets_is_refused_at_load_and_others_still_load() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, plugins, cache) = host_with_only_wiz(scratch.path());
    std::fs::copy(
        host.built_plugins()
            .parent()
            .unwrap()
            .join("refused-plugins/hostile-io.wasm"),
        plugins.join("hostile-io.wasm"),
    )
    .unwrap();
    let out = host.run(&["plugins"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("hostile-io.wasm not loaded") && stderr.contains("imports wasi:filesystem"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("wiz 0.2.0"));
    // Nothing of it was compiled: the refusal comes first.
    let compiled = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "cwasm")
        })
        .count();
    assert_eq!(compiled, 1, "only wiz was compiled");
}

/// `-vvv` raises the host's own logging, not wasmtime's or Cranelift's: loading a plugin
/// into an empty compile cache writes a short log, without colour codes in a file, and
/// RUST_LOG still overrides the flags.
#[test]
fn verbose_logging_stays_small_on_a_cold_compile_cache() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, _, _) = host_with_only_wiz(scratch.path());

    let out = host.run(&["-vvv", "plugins"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        out.stderr.len() < 1024 * 1024,
        "{} bytes of log for one compile",
        out.stderr.len()
    );
    assert!(stderr.contains("compiled a component of"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "no colour codes when stderr is not a terminal"
    );
    // Only our own lines: the compile above, nothing from wasmtime or Cranelift (which
    // the log filter's unit test checks by target; the log shows no targets).
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let out = host.run(&["-vv", "plugins"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("loaded from the cache"));
    let out = host.run(&["plugins"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = host.run_with_env(&["-vvv", "plugins"], &[("RUST_LOG", "warn")]);
    assert!(
        out.stderr.is_empty(),
        "RUST_LOG overrides -v: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
