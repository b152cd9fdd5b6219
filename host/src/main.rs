//! `connector-host`: manage integrations, run connector plugins, show what they found.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_default_sigpipe();
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

/// The error and its causes on one line, each said once.
fn one_line(e: &anyhow::Error) -> String {
    let text = cli::exit::chain_text(e.chain().map(ToString::to_string));
    cli::table::safe(&text.replace('\n', " ")).into_owned()
}
