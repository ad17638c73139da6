//! Sequence sets (`1:4,7,9:*`) resolved against a mailbox, for the server.
//!
//! A set is normalised before anything is expanded: its ranges are sorted and
//! merged, so `1:*,1:*,…` repeated 15,000 times costs what one `1:*` does, and
//! membership is a binary search.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// The inclusive ranges a set names, with `*` as `max`, each as (low, high),
/// sorted, disjoint and not adjacent. RFC 3501 9: `n:m` is the same as `m:n`,
/// and `*` is the largest number in use (so `559:*` names the last message
/// even when 559 is beyond it).
pub fn ranges(set: &SequenceSet, max: u32) -> Vec<(u32, u32)> {
    let mut r: Vec<(u32, u32)> = set
        .0
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
        .collect();
    normalise(&mut r);
    r
}

/// Sorts and merges overlapping or adjacent ranges in place.
pub fn normalise(r: &mut Vec<(u32, u32)>) {
    r.sort_unstable();
    let mut out = 0;
    for i in 0..r.len() {
        let (lo, hi) = r[i];
        if out > 0 && lo <= r[out - 1].1.saturating_add(1) {
            r[out - 1].1 = r[out - 1].1.max(hi);
        } else {
            r[out] = (lo, hi);
            out += 1;
        }
    }
    r.truncate(out);
}

fn value(v: &SeqOrUid, max: u32) -> u32 {
    match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => max,
    }
}

/// True if `n` is in the ranges (as `ranges` returns them).
pub fn contains(ranges: &[(u32, u32)], n: u32) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < n);
    ranges.get(i).is_some_and(|&(lo, _)| lo <= n)
}

/// The positions (0-based) and values in `sorted` that the ranges name, in
/// order: one binary search per range, then only what matches.
pub fn select(ranges: &[(u32, u32)], sorted: &[u32]) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        let start = sorted.partition_point(|&u| u < lo);
        for (i, &u) in sorted.iter().enumerate().skip(start) {
            if u > hi {
                break;
            }
            out.push((i, u));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_merges_overlaps_and_neighbours() {
        let mut r = vec![(5, 9), (1, 2), (3, 3), (8, 12), (20, 20), (1, 1)];
        normalise(&mut r);
        assert_eq!(r, vec![(1, 3), (5, 12), (20, 20)]);
        let mut r = vec![(1, u32::MAX), (4, 4)];
        normalise(&mut r);
        assert_eq!(r, vec![(1, u32::MAX)]);
        let mut r: Vec<(u32, u32)> = std::iter::repeat_n((1, 10_000), 15_000).collect();
        normalise(&mut r);
        assert_eq!(r, vec![(1, 10_000)]);
    }

    #[test]
    fn membership_and_selection() {
        let r = vec![(1, 3), (5, 12), (20, 20)];
        for (n, want) in [
            (0, false),
            (1, true),
            (3, true),
            (4, false),
            (12, true),
            (13, false),
            (20, true),
            (21, false),
        ] {
            assert_eq!(contains(&r, n), want, "{n}");
        }
        let uids = [2, 4, 6, 12, 19, 20, 30];
        assert_eq!(select(&r, &uids), vec![(0, 2), (2, 6), (3, 12), (5, 20)]);
        assert!(select(&[], &uids).is_empty());
    }
}
