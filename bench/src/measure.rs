//! Measuring processes and threads: wall time, CPU time and peak resident memory, from
//! the kernel's own accounting (wait4's rusage, the thread CPU clock).

use anyhow::{Context, bail};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// What one child process cost.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// From spawn to exit.
    pub wall: Duration,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size, MiB.
    pub peak_rss_mib: f64,
}

/// Runs `cmd` to its end and measures it; fails when it exits unsuccessfully.
pub fn run(cmd: &mut Command) -> anyhow::Result<Usage> {
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("start {cmd:?}"))?;
    let usage = wait(child, started)?;
    Ok(usage)
}

/// Waits for `child` (started at `started`) and measures it; fails when it exits
/// unsuccessfully. The child is reaped here, so it must not be waited for again.
pub fn wait(child: Child, started: Instant) -> anyhow::Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; the pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
    let wall = started.elapsed();
    if reaped != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("process {pid} ended unsuccessfully (wait status {status})");
    }
    Ok(Usage {
        wall,
        cpu: timeval(rusage.ru_utime) + timeval(rusage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_mib: rusage.ru_maxrss as f64 / 1024.0,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// CPU time used so far by this whole process (all threads).
pub fn process_cpu() -> Duration {
    // SAFETY: as above; RUSAGE_SELF always succeeds.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut rusage) };
    timeval(rusage.ru_utime) + timeval(rusage.ru_stime)
}

/// CPU time used so far by the calling thread.
pub fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: t is valid for the call; the thread CPU clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The median of some durations (at least one).
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The `percent`th percentile of some durations (at least one), nearest rank.
pub fn percentile(samples: &[Duration], percent: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}
