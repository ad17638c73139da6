//! The `imapspec` binary: parses the command line and maps the outcome to an exit
//! status. Everything else lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // One TLS provider for the whole process (see CRATES.md: mixing providers panics).
    let _ = rustls::crypto::ring::default_provider().install_default();
    imapspec::cli::main().into()
}
