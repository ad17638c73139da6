//! AFL++ target: hostile bytes through the harness (see `imapspec::fuzzing`).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        imapspec::fuzzing::harness_stream(data);
    });
}
