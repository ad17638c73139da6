//! Who is looking at a mailbox: each selection's cursor into the change feed,
//! and the expunged messages some selection has not been told about yet.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::Message;

/// Expunged messages kept for FETCH: at most this many per mailbox...
const KEEP_EXPUNGED_MESSAGES: usize = 10_000;
/// ...and at most this many bytes of them. Past either bound the oldest is
/// dropped, and a FETCH of it gets `NO [EXPUNGEISSUED]` (RFC 2180 4.1.2).
const KEEP_EXPUNGED_BYTES: u64 = 32 * 1024 * 1024;

/// Who is looking at a mailbox: each selection's cursor into the change feed,
/// and the messages expunged since the slowest of them last looked.
///
/// RFC 2180 4.1.1: the server "MAY allow the EXPUNGE of a multi-accessed
/// mailbox but keep the messages available to satisfy subsequent FETCH
/// commands until it is able to send an EXPUNGE response to each client."
/// This server does, as Dovecot and Cyrus do: the alternative (4.1.2, `NO
/// [EXPUNGEISSUED]`) is also allowed, but clients and load tools count that NO
/// as a failure, and a FETCH that returns the data it was asked for is what a
/// client that has not yet been told of the expunge expects.
#[derive(Debug, Default)]
pub struct Views {
    next_token: u64,
    /// Selection token → number of the next change it has not looked at.
    cursors: FxHashMap<u64, u64>,
    /// Expunged messages by UID, with the number of their `Expunged` change.
    kept: FxHashMap<u32, (u64, Message)>,
    /// The same, oldest first, for dropping.
    kept_order: VecDeque<(u64, u32)>,
    kept_bytes: u64,
}

impl Views {
    /// A new selection, starting at change `cursor`; returns its token (never 0).
    pub fn open(&mut self, cursor: u64) -> u64 {
        self.next_token += 1;
        let token = self.next_token;
        self.cursors.insert(token, cursor);
        token
    }

    /// The selection has looked at every change before `cursor`.
    pub fn advance(&mut self, token: u64, cursor: u64) {
        if let Some(c) = self.cursors.get_mut(&token) {
            *c = cursor;
        }
        self.prune();
    }

    pub fn close(&mut self, token: u64) {
        self.cursors.remove(&token);
        self.prune();
    }

    /// The expunged message with this UID, while some selection may still
    /// ask for it.
    pub fn kept(&self, uid: u32) -> Option<&Message> {
        self.kept.get(&uid).map(|(_, m)| m)
    }

    /// Keeps an expunged message (its `Expunged` change is number `change`)
    /// while some selection may still ask for it.
    pub(super) fn keep(&mut self, change: u64, m: Message) {
        if self.cursors.is_empty() {
            return;
        }
        self.kept_bytes += m.data.len() as u64;
        self.kept_order.push_back((change, m.uid));
        if let Some((_, old)) = self.kept.insert(m.uid, (change, m)) {
            self.kept_bytes = self.kept_bytes.saturating_sub(old.data.len() as u64);
        }
        self.prune();
    }

    /// Drops what every selection has been told of, and the oldest past the
    /// bounds.
    fn prune(&mut self) {
        if self.kept_order.is_empty() {
            return;
        }
        let slowest = self.cursors.values().copied().min().unwrap_or(u64::MAX);
        while let Some(&(change, uid)) = self.kept_order.front() {
            let over = self.kept_order.len() > KEEP_EXPUNGED_MESSAGES
                || self.kept_bytes > KEEP_EXPUNGED_BYTES;
            if change >= slowest && !over {
                break;
            }
            self.kept_order.pop_front();
            if self.kept.get(&uid).is_some_and(|(c, _)| *c == change) {
                if let Some((_, m)) = self.kept.remove(&uid) {
                    self.kept_bytes = self.kept_bytes.saturating_sub(m.data.len() as u64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::server::store::FlagSet;

    fn message(uid: u32, bytes: usize) -> Message {
        Message {
            uid,
            flags: FlagSet::default(),
            internal_date: 0,
            zone: 0,
            data: Arc::from(vec![b'x'; bytes]),
            recent_owner: 0,
            modseq: 1,
        }
    }

    #[test]
    fn kept_until_every_selection_has_looked() {
        let mut v = Views::default();
        let (a, b) = (v.open(0), v.open(0));
        assert_ne!(a, b);
        assert!(a != 0 && b != 0);
        v.keep(5, message(7, 10));
        assert!(v.kept(7).is_some());
        v.advance(a, 6);
        assert!(v.kept(7).is_some(), "b has not looked yet");
        v.advance(b, 5);
        assert!(v.kept(7).is_some(), "b stopped just before the expunge");
        v.advance(b, 6);
        assert!(v.kept(7).is_none());
        v.keep(9, message(8, 10));
        v.close(a);
        assert!(v.kept(8).is_some());
        v.close(b);
        assert!(v.kept(8).is_none(), "nobody left to ask");
        v.keep(10, message(9, 10));
        assert!(v.kept(9).is_none(), "nobody selected: nothing kept");
    }

    #[test]
    fn kept_messages_are_bounded_in_count_and_bytes() {
        let mut v = Views::default();
        let _stale = v.open(0);
        for uid in 1..=(KEEP_EXPUNGED_MESSAGES as u32 + 5) {
            v.keep(u64::from(uid), message(uid, 1));
        }
        assert!(
            v.kept(5).is_none() && v.kept(6).is_some(),
            "oldest dropped first"
        );
        assert_eq!(v.kept.len(), KEEP_EXPUNGED_MESSAGES);
        let big = (KEEP_EXPUNGED_BYTES / 4) as usize;
        for uid in 100_000..100_010 {
            v.keep(u64::from(uid), message(uid, big));
        }
        assert!(v.kept_bytes <= KEEP_EXPUNGED_BYTES, "{}", v.kept_bytes);
        assert!(v.kept(100_009).is_some());
        assert!(v.kept(100_000).is_none());
    }
}
