//! AFL++ target: hostile client bytes through the reference server's command path
//! on a loopback connection (see `imapspec::fuzzing::ServerTarget`).

use std::cell::RefCell;

use imapspec::fuzzing::{self, ServerTarget};

thread_local! {
    // Held outside the closure: afl's catch_unwind wants an unwind-safe closure,
    // and a panic aborts the process anyway (`abort_on_panic`).
    static TARGET: RefCell<Option<ServerTarget>> = const { RefCell::new(None) };
}

fn main() {
    fuzzing::abort_on_panic();
    match ServerTarget::new() {
        Ok(t) => TARGET.with(|cell| *cell.borrow_mut() = Some(t)),
        Err(e) => {
            eprintln!("cannot build the runtime: {e}");
            std::process::exit(2);
        }
    }
    afl::fuzz!(|data: &[u8]| {
        TARGET.with(|cell| {
            if let Some(target) = cell.borrow_mut().as_mut() {
                target.run(data);
            }
        });
    });
}
