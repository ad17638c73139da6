//! AFL++ target: hostile client bytes through the reference server's command path
//! on a loopback connection (see `imapspec::fuzzing::ServerTarget`).
fn main() {
    imapspec::fuzzing::abort_on_panic();
    let mut target = match imapspec::fuzzing::ServerTarget::new() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot build the runtime: {e}");
            std::process::exit(2);
        }
    };
    afl::fuzz!(|data: &[u8]| {
        target.run(data);
    });
}
