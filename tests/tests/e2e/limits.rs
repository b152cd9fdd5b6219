//! Limits that hold for a whole run, and what the host keeps of a hostile plugin's run:
//! a spinning plugin shares its CPU, a slow `describe` is stopped, all of a call's
//! memories share one budget, refusals, header maps and stderr cost bounded memory, a
//! checkpoint never follows a refused batch, a busy sync leaves other processes their
//! turns at the SQLite store, and what a plugin writes reaches a terminal escaped.

use crate::harness::{Host, TestClock, wait_for};
use std::time::{Duration, Instant};
use wiz_sim::{SimConfig, Simulator};

/// Peak resident memory of a process while it runs, in KiB, read from /proc until it
/// exits; returns it with the exit status.
fn watch_peak_rss(mut child: std::process::Child) -> (u64, std::process::ExitStatus) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        if let Some(exit) = child.try_wait().expect("wait") {
            return (peak, exit);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the host with `args`, which must fail; its peak RSS in KiB, and its stderr.
fn failing_run_peak(host: &Host, args: &[&str]) -> (u64, String) {
    let mut child = host
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start connector-host");
    let stderr_reader = {
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut err, &mut text).unwrap();
            text
        })
    };
    let (peak, status) = watch_peak_rss(child);
    assert!(!status.success());
    (peak, stderr_reader.join().unwrap())
}

/// CPU time process `pid` has used so far, in clock ticks (`None` once it is gone).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A connection to the host's SQLite store that waits for its write lock as another host
/// does, with the host's own busy handler, so it takes the turns a busy writer leaves.
/// (SQLite's own busy timeout tries each 100 ms once it has waited a while, and would
/// nearly always miss them.)
fn another_writer(host: &Host) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(host.db()).unwrap();
    db.busy_handler(Some(connector_host::store::sqlite::retry_for_lock))
        .unwrap();
    db
}

/// Peak RSS in KiB of `sync big` with `--max-mib-in-flight mib` (and as much for the
/// whole process, which would otherwise cap it at its default), while the test holds the
/// store's write lock, as a slow disk or a busy writer would. The lock is taken once the
/// run has started (held from before, it would stop the host at the run's first write,
/// before the plugin emits anything) and kept until the host has used no CPU for two
/// seconds (the plugin waits for room to emit, the writer for the lock: whatever is
/// queued, is queued), at most 50 s, within the writer's 60 s busy timeout.
fn big_batches_peak(host: &Host, mib: &str) -> u64 {
    let db = another_writer(host);
    let child = host
        .command(&[
            "sync",
            "big",
            "--full",
            "--max-mib-in-flight",
            mib,
            "--max-mib-in-flight-per-process",
            mib,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start connector-host");
    wait_for(60, "the run to start", || {
        db.query_row(
            "SELECT count(*) FROM runs WHERE status = 'running'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .is_ok_and(|running| running == 1)
    });
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let pid = child.id();
    let release = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(50);
        let (mut last_ticks, mut busy_at) = (0, Instant::now());
        while Instant::now() < deadline && busy_at.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(100));
            let Some(ticks) = cpu_ticks(pid) else { break };
            // More than 30 ms of CPU in these 100 ms: still working. Waiting for the lock
            // costs the writer's busy handler a wake-up each millisecond, a few ms of CPU
            // a second: counted since the last busy moment, it would look like work.
            if ticks > last_ticks + 3 {
                busy_at = Instant::now();
            }
            last_ticks = ticks;
        }
        db.execute_batch("ROLLBACK").unwrap();
    });
    let (peak, status) = watch_peak_rss(child);
    release.join().unwrap();
    assert!(status.success(), "the sync with {mib} MiB in flight");
    peak
}

#[test]
fn a_plugin_emitting_large_batches_to_a_slow_store_holds_the_ceiling_not_gigabytes() {
    let host = Host::new();
    host.add_hostile("big", "big-batches", "https://api.example", &["count=24"]);
    host.ok(&["plugins"]); // Compiled once, outside what is measured.
    let bounded = big_batches_peak(&host, "32");
    let unbounded = big_batches_peak(&host, "4096");
    eprintln!("peak RSS: {bounded} KiB with 32 MiB in flight, {unbounded} KiB with 4096");
    // 24 batches of 16 MiB: with 32 MiB in flight the host holds two or three of them.
    // Without a ceiling it holds the eight writes the queue takes, the writer's group
    // (one batch or up to eight, depending on what had queued when it began) and the
    // batch the plugin is emitting: at least ten (209 to 250 MiB against 96 to 105,
    // under stress-ng on both cores too). Five more than with the ceiling is a margin.
    assert!(
        unbounded > bounded + 5 * 16 * 1024,
        "peak RSS {bounded} KiB with the ceiling, {unbounded} KiB without"
    );
    // One batch over the ceiling is refused, saying why.
    let out = host.run(&["sync", "big", "--max-mib-in-flight", "8"]);
    let (_, stderr) = crate::harness::expect_failure(&out);
    assert!(
        stderr.contains("one batch of 17 MiB, over the ceiling of 8 MiB"),
        "{stderr}"
    );
}

#[test]
fn a_sync_that_keeps_the_sqlite_store_busy_leaves_other_processes_their_turn() {
    let host = Host::new();
    host.add_hostile("flood", "flood", "https://api.example", &[]);
    // Batches of 1,000 findings without end, emitted about as fast as the host stores
    // them: its writer mostly has a write queued when it commits one.
    let _flood = host.spawn(&["sync", "flood", "--max-records-per-run", "1000000"]);
    let db = another_writer(&host);
    wait_for(60, "the flood to store its first batches", || {
        db.query_row("SELECT count(*) FROM findings", [], |r| r.get::<_, i64>(0))
            .unwrap()
            >= 5_000
    });
    // Another process writes, eight times: each gets in at the next turn the sync's
    // writer leaves, after at most a group's span (250 ms), not once it has no write
    // queued. Without turns, a try each millisecond found the lock free between two
    // groups after 0.2 to 2.1 s, and waited over 600 ms about one time in three. Each
    // try waits for the sync to be writing again: the writer that found the lock taken
    // may still be asleep in its busy handler.
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(300));
        let asked = Instant::now();
        db.execute_batch("BEGIN IMMEDIATE").unwrap();
        let waited = asked.elapsed();
        db.execute_batch("UPDATE integrations SET name = name; COMMIT")
            .unwrap();
        eprintln!("waited {waited:?} for a turn");
        assert!(waited < Duration::from_millis(600), "waited {waited:?}");
    }
    // And a command of another host.
    host.add_hostile("other", "malformed", "https://api.example", &[]);
    // All got in while the flood went on writing, not once it had ended.
    let (stored, running): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM findings),
                    (SELECT count(*) FROM runs WHERE status = 'running')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        running, 1,
        "the flood still runs ({stored} findings stored)"
    );
}

#[test]
fn requests_a_plugin_drops_leave_no_slot_of_the_shared_pace_booked() {
    let host = Host::new();
    let listener = crate::harness::Listener::start("127.0.0.1:0", Duration::ZERO);
    host.add_hostile("dropper", "drop-requests", &listener.url, &["count=10000"]);
    // 10 requests a second, to the run and to one host: 10,000 phantom slots would push
    // the next request 1,000 s away.
    let out = host.run_with_env(
        &["sync", "dropper", "--run-timeout-s", "90"],
        &[
            ("CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_HOST", "10"),
            (
                "CONNECTOR_HOST_MAX_REQUESTS_PER_SECOND_PER_INTEGRATION",
                "10",
            ),
        ],
    );
    let (_, stderr) = crate::harness::expect_failure(&out);
    let took: u64 = stderr
        .split("one more took ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("the plugin timed its request: {stderr}"));
    assert!(took < 5_000, "the request after the drops waited {took} ms");
    assert!(stderr.contains("Ok(200)"), "{stderr}");
}

#[test]
fn a_flood_of_refused_requests_costs_a_counter_not_memory() {
    let host = Host::new();
    let sync_peak = |name: &str, count: u64| {
        host.add_hostile(
            name,
            "refused-flood",
            "https://api.example",
            &["target=https://refused.example/", &format!("count={count}")],
        );
        failing_run_peak(&host, &["sync", name])
    };
    let (small_peak, _) = sync_peak("few", 1_000);
    let (large_peak, stderr) = sync_peak("many", 200_000);
    let error = host.json(&["history", "many"])[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with("the sandbox blocked 200000 request(s): ")
            && error.contains("refused.example")
            && error.contains("(and 199999 more)"),
        "{error}"
    );
    assert!(error.len() < 600, "the stored error stays short: {error}");
    // One warning per distinct refusal, not one per request.
    assert!(
        stderr.matches("plugin request denied").count() <= 5,
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(
        large_peak < small_peak + 16 * 1024,
        "RSS stays flat: {small_peak} KiB for 1000 refusals, {large_peak} KiB for 200000"
    );
}

#[test]
fn a_flood_of_header_maps_hits_the_resource_cap_not_the_hosts_memory() {
    let host = Host::new();
    host.add_hostile("fields", "fields-flood", "https://api.example", &[]);
    let (peak, stderr) = failing_run_peak(&host, &["sync", "fields"]);
    let error = host.json(&["history", "fields"])[0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("the plugin crashed") && error.contains("resource table"),
        "{error}\n{}",
        &stderr[..stderr.len().min(2000)]
    );
    // 4096 handles of at most 32 KiB each, and the host's own working set.
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn a_component_with_many_memories_fills_one_budget_not_one_per_memory() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(
        scratch.path(),
        |h| h.plugin_variant("many-memories.wasm"),
        "many-memories.wasm",
    );
    let (peak, stderr) = failing_run_peak(&host, &["plugins", "--memory-limit-mib", "64"]);
    assert!(
        stderr.contains("many-memories.wasm not loaded") && stderr.contains("crashed"),
        "{stderr}"
    );
    // Seven memories of 64 MiB each would be 448 MiB; one budget keeps them all to 64.
    assert!(peak < 192 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn a_plugin_that_fills_its_stderr_still_reports_its_panic() {
    let host = Host::new();
    host.add_hostile("chatty", "chatter", "https://api.example", &[]);
    let stderr = host.fails(&["sync", "chatty"]);
    assert!(
        stderr.contains("hostile plugin panicked after 1 MiB of chatter"),
        "the last of stderr is kept: {stderr}"
    );
    assert!(stderr.len() < 4096, "{stderr}");
}

#[test]
fn no_checkpoint_is_stored_after_a_refused_batch() {
    let host = Host::new();
    host.add_hostile(
        "ckpt",
        "checkpoint-after-refusal",
        "https://api.example",
        &[],
    );
    let stderr = host.fails(&["sync", "ckpt", "--max-records-per-run", "1000"]);
    assert!(
        stderr.contains("per-run ceiling of 1000 records"),
        "{stderr}"
    );
    assert!(
        host.ids("findings", "ckpt", "id")
            .contains(&"good-finding".to_string())
    );
    // The next run is handed the checkpoint stored after the first batch, not the one
    // the plugin sent after `emit` refused a batch.
    let stderr = host.fails(&["sync", "ckpt"]);
    assert!(
        stderr.contains("resumed from checkpoint `after-the-stored-batch`"),
        "{stderr}"
    );
}

#[test]
fn a_describe_that_never_returns_is_stopped_in_seconds() {
    let scratch = tempfile::tempdir().unwrap();
    let (host, _) = Host::with_only_plugin(
        scratch.path(),
        |h| h.plugin_variant("hostile-spinning-describe.wasm"),
        "hostile.wasm",
    );
    let started = Instant::now();
    let out = host.run(&["plugins"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("hostile.wasm not loaded") && stderr.contains("10s deadline"),
        "{stderr}"
    );
    // Compiling the component takes a few seconds of its own in a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_spinning_plugin_on_one_cpu_starves_nothing() {
    let sim = Simulator::start(SimConfig::new(71, 60)).unwrap();
    let host = Host::new();
    host.add_hostile("spin", "loop", &sim.api_url(), &[]);
    crate::harness::assert_success(&host.add_wiz(
        "w",
        &sim,
        "sim-client",
        crate::harness::FULL_SECRET,
        &["page-size=10"],
    ));
    for name in ["spin", "w"] {
        host.ok(&["integration", "update", name, "--auto-sync-days", "1"]);
    }
    let clock = TestClock::new(host.dir(), "2030-01-01T00:00:00Z");
    let path = clock.path();
    // Two at once on the one CPU: the spinning sync must not hold the other back.
    let server = host.spawn_on_one_cpu(&Host::scheduler_args(
        &path,
        &["--max-concurrent-syncs", "2"],
    ));
    wait_for(30, "both first schedules", || {
        let log = server.log_text();
        ["spin", "w"]
            .iter()
            .all(|n| log.contains(&format!("integration `{n}`: first auto sync at")))
    });
    clock.set("2030-01-01T01:15:00Z");
    let spin_started = Instant::now();
    let status_of = |name: &str| -> String {
        host.json(&["history", name])
            .first()
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    wait_for(30, "the spinning sync to start", || {
        status_of("spin") == "running"
    });
    // The other integration's sync runs to its end beside the spinning one.
    wait_for(60, "w's auto sync", || status_of("w") == "succeeded");
    assert_eq!(status_of("spin"), "running");
    // Past the lease's 60 s, the spinning run still holds it: its renewal ran.
    let lease_ttl = Duration::from_secs(65);
    if let Some(left) = lease_ttl.checked_sub(spin_started.elapsed()) {
        std::thread::sleep(left);
    }
    let refused = host.fails(&["sync", "spin"]);
    assert!(refused.contains("already syncing"), "{refused}");

    // SIGTERM cancels the sync; the README promises that a cancelled sync which does not
    // end within 5 s (`plugin::runtime::CANCEL_GRACE`) is stopped where it is. The
    // spinning plugin never ends on its own, so serve stops after the whole grace and
    // no later than the grace plus what follows it: the cancel flag is seen within
    // 100 ms, then the run's history row is closed (one SQLite transaction) and the
    // process exits, tens of milliseconds each. Measured on a 2-core machine, this
    // debug build pinned to one CPU: 5.44 s at load 5, 6.52 s while the whole suite
    // ran beside it; three seconds over the grace covers that with room, and is still
    // far short of a second grace period.
    let grace = Duration::from_secs(5);
    let margin = Duration::from_secs(3);
    let stopping = Instant::now();
    assert!(server.stop().success());
    let took = stopping.elapsed();
    assert!(
        took >= grace,
        "serve stopped in {took:?}, before the plugin had its {grace:?} of grace"
    );
    assert!(
        took <= grace + margin,
        "serve stopped in {took:?}; a cancelled sync has {grace:?} of grace"
    );
    let run = &host.json(&["history", "spin"])[0];
    assert_eq!(run["status"], "cancelled", "{run}");
}

#[test]
fn escape_sequences_from_a_plugin_are_shown_not_sent_to_the_terminal() {
    let host = Host::new();
    host.add_hostile("esc", "escape", "https://api.example", &[]);
    let out = host.run(&["sync", "esc"]);
    crate::harness::assert_success(&out);
    for args in [
        &["findings", "esc"][..],
        &["assets", "esc"],
        &["history", "esc"],
        &["finding", "show", "shady-finding"],
    ] {
        let out = host.run(args);
        crate::harness::assert_success(&out);
        assert!(
            !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let findings = host.ok(&["findings", "esc"]);
    assert!(findings.contains("\\u{1b}]0;window title"), "{findings}");
    assert!(
        !out.stderr.contains(&0x1b),
        "the sync's warning is escaped too"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\\u{1b}[1Awarning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // JSON carries the text as it is, escaped by JSON.
    let json = host.json(&["findings", "esc"]);
    assert!(json[0]["title"].as_str().unwrap().starts_with('\u{1b}'));
}

#[test]
fn verbose_logs_name_the_path_of_a_request_not_its_query() {
    let sim = Simulator::start(SimConfig::new(72, 5)).unwrap();
    let host = Host::new();
    host.add_hostile(
        "q",
        "fetch",
        &format!("{}/probe", sim.api_url()),
        &["client-secret=query-borne-value"],
    );
    let out = host.run(&["sync", "q", "-vv"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("request leaves the sandbox: GET http://"),
        "{stderr}"
    );
    assert!(stderr.contains("/probe"), "{stderr}");
    assert!(!stderr.contains("stolen="), "{stderr}");
}
