//! The `imapspec` binary: parses the command line and maps the outcome to an exit
//! status. Everything else lives in the library.

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: `imapspec check` hands every event from
/// the reading thread to the checking one, and glibc frees memory allocated by
/// another thread slowly (about a sixth of the checker's time went to
/// malloc/free); load and serve allocate per command on many threads too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One TLS provider for the whole process (see CRATES.md: mixing providers panics).
    let _ = rustls::crypto::ring::default_provider().install_default();
    imapspec::cli::main().into()
}
