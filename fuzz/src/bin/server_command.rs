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
    afl::fuzz!(|data: &[u8]| {
        TARGET.with(|cell| {
            let mut cell = cell.borrow_mut();
            // Built on the first input, inside the fork server's child: a
            // runtime made before the fork would have lost its worker threads
            // in every child (fork copies only the calling thread), and each
            // input would hang.
            if cell.is_none() {
                match ServerTarget::new() {
                    Ok(t) => *cell = Some(t),
                    Err(e) => {
                        eprintln!("cannot build the runtime: {e}");
                        std::process::exit(2);
                    }
                }
            }
            if let Some(target) = cell.as_mut() {
                target.run(data);
            }
        });
    });
}
