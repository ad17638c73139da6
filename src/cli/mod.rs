//! The `imapspec` command line: one struct per subcommand; the help text is the docs.

/// `println!` through [`out`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::out(&format!("{}\n", format!($($arg)*))) };
}
/// `print!` through [`out`].
macro_rules! outf {
    ($($arg:tt)*) => { $crate::cli::out(&format!($($arg)*)) };
}
pub(crate) use {outf, outln};

pub mod baseline;
pub mod check;
pub mod exit;
pub mod list;
pub mod load;
pub mod proxy;
pub mod replay;
pub mod report;
pub mod run;
pub mod serve;

use clap::{Parser, Subcommand};

pub use exit::Exit;

#[derive(Debug, Parser)]
#[command(
    name = "imapspec",
    version,
    about = "IMAP conformance and client-compatibility test harness",
    long_about = "imapspec checks IMAP server behaviour against the RFC invariants that real \
                  clients rely on, and says which client breaks and why.\n\n\
                  Exit status: 0 all passed; 1 a check failed; 2 bad usage or unreadable input; \
                  3 the server could not be reached or set up."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (default: the bundled ones) against a server, every check on.
    Run(Box<run::RunArgs>),
    /// Read recorded sessions and report violations, with the line of the log.
    Check(check::CheckArgs),
    /// List the checks, with ids, RFC sections and the clients they protect.
    List(list::ListArgs),
    /// Many concurrent simulated clients for a bounded time, every check on.
    Load(Box<load::LoadArgs>),
    /// Replay the client side of a recorded session against a server, every check on.
    Replay(Box<replay::ReplayArgs>),
    /// Run the reference IMAP + SMTP server until stopped; prints its addresses.
    Serve(Box<serve::ServeArgs>),
    /// A transparent proxy for a real client: every response checked live.
    Proxy(Box<proxy::ProxyArgs>),
    /// Work with reports: `merge` joins partitions' JSON reports into one run's,
    /// or whole runs' into a server × scenario matrix.
    Report(report::ReportArgs),
    /// Write a baseline (known deviations) from a JSON report's failures.
    Baseline(baseline::BaselineArgs),
}

/// Writes to stdout; a closed pipe (`imapspec list | head`) is not an error.
pub fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

/// The async runtime for a command; failing to make one is a setup error (3).
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            Exit::Unreachable
        })
}

/// Parses the command line and runs; returns the exit status.
pub fn main() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
        }
    };
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Baseline(args) => baseline::run(&args),
        Command::List(args) => list::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Proxy(args) => proxy::run(&args),
    }
}
