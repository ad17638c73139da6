//! What is known about each mailbox across every connection in a run or a log.
//!
//! Besides the UIDs expunged and the highest UIDNEXT per mailbox epoch, this
//! holds the facts that must agree between sessions: the UIDs handed out by
//! APPENDUID and COPYUID (RFC 4315), a hash of each immutable attribute seen per
//! UID (RFC 3501 2.3.1.1), which read-write session was given `\Recent` for a
//! UID (2.3.2), and the flag changes a STORE under EXAMINE asked for (6.3.2).
//! Every table is bounded; past its bound new facts are simply not kept.

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};

use crate::event::SessionId;

/// A mailbox of one account in one UIDVALIDITY epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxKey {
    pub user: String,
    pub mailbox: String,
    pub uid_validity: u32,
}

impl MailboxKey {
    /// `INBOX` is case-insensitive (RFC 3501 5.1); other names are kept as sent.
    pub fn new(user: &str, mailbox: &str, uid_validity: u32) -> MailboxKey {
        let mailbox = if mailbox.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            mailbox.to_string()
        };
        MailboxKey {
            user: user.to_string(),
            mailbox,
            uid_validity,
        }
    }
}

/// Most UIDs remembered per table and mailbox.
pub const MAX_FACTS: usize = 250_000;

#[derive(Debug, Default)]
pub struct MailboxHistory {
    /// UID → model clock at which an EXPUNGE of it was seen.
    pub expunged: HashMap<u32, u64>,
    /// EXPUNGEs of messages whose UID the session did not know: some UID
    /// is gone, which one is not known.
    pub unknown_expunges: u64,
    /// Highest UIDNEXT announced in this epoch.
    pub max_uid_next: u32,
    /// (model clock, the highest UIDNEXT known by then), from UIDNEXT codes
    /// and APPENDUID/COPYUID, rising in both. Across connections the harness
    /// sees replies in its own order, not the server's, so a UID assigned by
    /// a command is held only to what was known before that command was sent.
    pub uid_next_log: RisingLog,
    /// (model clock, the highest mod-sequence known by then), from MODSEQ
    /// items and HIGHESTMODSEQ codes, rising in both; held to what was known
    /// before a command was sent, as `uid_next_log`.
    pub modseq_log: RisingLog,
    /// UIDs the server named in APPENDUID/COPYUID → the line that named them.
    pub assigned: HashMap<u32, u64>,
    /// Hash of (UID, item) → (hash of the value, line it was first seen on).
    pub facts: HashMap<u64, (u64, u64)>,
    /// UID → the read-write session that was shown it with `\Recent`.
    pub recent_in: HashMap<u32, SessionId>,
    /// STOREs under EXAMINE that completed: UID → (flag bits asked to be set,
    /// flag bits asked to be cleared, line of the STORE).
    pub examine_stores: HashMap<u32, (u8, u8, u64)>,
}

impl MailboxHistory {
    /// Records that UIDNEXT was at least `n` at model clock `now`.
    pub fn saw_uid_next(&mut self, now: u64, n: u32) {
        self.uid_next_log.saw(now, u64::from(n));
    }

    /// The highest UIDNEXT known before model clock `clock`.
    pub fn uid_next_before(&self, clock: u64) -> u32 {
        u32::try_from(self.uid_next_log.before(clock)).unwrap_or(u32::MAX)
    }

    pub fn fact_key(uid: u32, item: &str) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        uid.hash(&mut h);
        item.hash(&mut h);
        h.finish()
    }
}

/// (model clock, the highest value known by then) of a quantity that may
/// only grow, rising in both, at most 4,096 steps.
#[derive(Debug, Default)]
pub struct RisingLog(Vec<(u64, u64)>);

impl RisingLog {
    /// Records that the value was at least `v` at model clock `now`.
    pub fn saw(&mut self, now: u64, v: u64) {
        if self.0.last().is_some_and(|&(_, last)| last >= v) {
            return;
        }
        if self.0.len() >= 4096 {
            // The oldest floors are the lowest: dropping them loses least.
            self.0.remove(0);
        }
        self.0.push((now, v));
    }

    /// The highest value known before model clock `clock` (0 if none).
    pub fn before(&self, clock: u64) -> u64 {
        let i = self.0.partition_point(|&(at, _)| at < clock);
        i.checked_sub(1).map_or(0, |i| self.0[i].1)
    }
}

/// Inserts unless the table is full.
pub fn bounded_insert<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() < MAX_FACTS || map.contains_key(&key) {
        map.insert(key, value);
    }
}

#[derive(Debug, Default)]
pub struct AccountModel {
    mailboxes: HashMap<MailboxKey, MailboxHistory>,
    /// The special uses (RFC 6154) each mailbox is known to have, by user and
    /// name, with the model clock they were learned at: from a LIST that
    /// showed them, or a `CREATE ... (USE ...)` that succeeded.
    special_uses: HashMap<(String, String), KnownUses>,
}

/// What is known of one mailbox's special uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUses {
    pub uses: Vec<String>,
    /// Model clock of the event they were learned from.
    pub at: u64,
    /// Where they were learned (a line of the transcript), for the finding.
    pub line: u64,
}

impl AccountModel {
    /// The special uses `mailbox` of `user` was known to have.
    pub fn special_uses(&self, user: &str, mailbox: &str) -> Option<&KnownUses> {
        self.special_uses
            .get(&(user.to_string(), mailbox.to_string()))
    }

    pub fn learn_special_uses(&mut self, user: &str, mailbox: &str, known: KnownUses) {
        bounded_insert(
            &mut self.special_uses,
            (user.to_string(), mailbox.to_string()),
            known,
        );
    }

    /// A DELETE, RENAME or SETMETADATA of the user may change any mailbox's
    /// special uses (a RENAME moves the children too): what was known goes.
    pub fn forget_special_uses(&mut self, user: &str) {
        self.special_uses.retain(|(u, _), _| u != user);
    }

    pub fn get(&self, key: &MailboxKey) -> Option<&MailboxHistory> {
        self.mailboxes.get(key)
    }

    pub fn entry(&mut self, key: &MailboxKey) -> &mut MailboxHistory {
        self.mailboxes.entry(key.clone()).or_default()
    }
}
