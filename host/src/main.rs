//! `connector-host`: manage integrations, run connector plugins, show what they found.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
    bound_malloc_retention();
    let args = cli::Cli::parse();
    cli::logging::init(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::from(cli::exit::OK),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(cli::exit::code(&e))
        }
    }
}

/// Lets a closed pipe (`connector-host findings --json | head`) end the process quietly,
/// as it does other command-line tools, instead of failing a print.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Keeps glibc's malloc from holding memory the process no longer uses, which is most of
/// what many syncs at once cost beyond their live state (BENCHMARKS.md, issue 27):
/// - two arenas, not eight a core: each arena keeps what its threads freed at its own
///   high-water mark, and tokio moves a sync's work between threads;
/// - blocks of 128 KiB and more (lifted batches, page bodies, plans) mapped and given back
///   when freed. glibc would raise that threshold to the largest block freed so far, after
///   which such blocks come from the arenas and stay there.
///
/// 500 latency-bound syncs peaked at 1,977 to 2,071 MiB (five runs) against 2,020 to 2,170
/// (six), one 100k sync about 2 MiB lower, for 2 to 6% more of its CPU (the mappings'
/// system calls and fresh pages).
fn bound_malloc_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any other thread exists; mallopt only
    // sets malloc's parameters, and refuses values it does not take.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// The error and its causes on one line, each said once.
fn one_line(e: &anyhow::Error) -> String {
    let text = cli::exit::chain_text(e.chain().map(ToString::to_string));
    cli::table::safe(&text.replace('\n', " ")).into_owned()
}
