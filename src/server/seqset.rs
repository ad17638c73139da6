//! Sequence sets (`1:4,7,9:*`) resolved against a mailbox, for the server.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// The inclusive ranges a set names, with `*` as `max`, each as (low, high).
/// RFC 3501 9: `n:m` is the same as `m:n`, and `*` is the largest number in use
/// (so `559:*` names the last message even when 559 is beyond it).
pub fn ranges(set: &SequenceSet, max: u32) -> Vec<(u32, u32)> {
    set.0
        .as_ref()
        .iter()
        .map(|s| match s {
            Sequence::Single(v) => {
                let n = value(v, max);
                (n, n)
            }
            Sequence::Range(a, b) => {
                let (a, b) = (value(a, max), value(b, max));
                (a.min(b), a.max(b))
            }
        })
        .collect()
}

fn value(v: &SeqOrUid, max: u32) -> u32 {
    match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => max,
    }
}

/// True if `n` is in the set.
pub fn contains(ranges: &[(u32, u32)], n: u32) -> bool {
    ranges.iter().any(|&(a, b)| a <= n && n <= b)
}
