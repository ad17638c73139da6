//! The mail store: accounts, mailboxes, messages, UID allocation, and the change
//! feed that tells every session on a mailbox what the others did.
//!
//! All state lives in memory behind one `Mutex` per mailbox (never held across an
//! `.await`). With `--data-dir` every change is first queued to the `Journal`'s
//! writer (group commit: one fdatasync per batch) and applied only once its
//! record is on disk, in journal order, so what any client sees is on disk.
//! `recovery` replays the journal on start, reports and keeps damage, and uses
//! the `marks` so a UID is never given twice: UIDNEXT only grows, and a mailbox
//! deleted and created again (or whose UIDs cannot be proven) gets a new
//! UIDVALIDITY.

pub mod journal;
mod keywords;
pub mod marks;
pub mod recovery;
mod views;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

pub use journal::{Journal, SyncMode};
pub use keywords::{Keywords, MAX_KEYWORDS};
pub use recovery::StoreReport;
pub use views::Views;

/// System flags as bits; keywords are kept by name.
pub mod flags {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;
    pub const ALL: [(u8, &str); 5] = [
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (SEEN, "\\Seen"),
        (DRAFT, "\\Draft"),
    ];
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagSet {
    pub bits: u8,
    pub keywords: Vec<String>,
}

impl FlagSet {
    /// Parses journal/IMAP flag names (`\Seen`, `$Junk`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut f = FlagSet::default();
        for n in names {
            f.add(n);
        }
        f
    }

    pub fn add(&mut self, name: &str) {
        match flags::ALL
            .iter()
            .find(|(_, s)| s.eq_ignore_ascii_case(name))
        {
            Some((bit, _)) => self.bits |= bit,
            None if name.starts_with('\\') || name.is_empty() => {}
            None => {
                if !self.keywords.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                    self.keywords.push(name.to_string());
                }
            }
        }
    }

    pub fn remove(&mut self, name: &str) {
        match flags::ALL
            .iter()
            .find(|(_, s)| s.eq_ignore_ascii_case(name))
        {
            Some((bit, _)) => self.bits &= !bit,
            None => self.keywords.retain(|k| !k.eq_ignore_ascii_case(name)),
        }
    }

    pub fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    /// The names, system flags first, in a stable order.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = flags::ALL
            .iter()
            .filter(|(b, _)| self.bits & b != 0)
            .map(|(_, n)| n.to_string())
            .collect();
        v.extend(self.keywords.iter().cloned());
        v
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub uid: u32,
    pub flags: FlagSet,
    /// INTERNALDATE, seconds since the Unix epoch, and the zone offset in seconds.
    pub internal_date: i64,
    pub zone: i32,
    pub data: Arc<[u8]>,
    /// The selection (a `Views::open` token) that took this message's \Recent
    /// flag; 0 while no read-write selection has been told of it (RFC 3501
    /// 2.3.2), which is also what every message is after a restart ("If it is
    /// not possible to determine whether or not this session is the first
    /// session to be notified about a message, then that message SHOULD be
    /// considered recent.").
    pub recent_owner: u64,
    /// The mod-sequence of the message's last change (RFC 7162 3.1): given
    /// from the mailbox's counter when it arrived and at every flag change.
    pub modseq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Appended(u32),
    Expunged(u32),
    /// Flags changed by the session with this id (0: not a session).
    Flags(u32, u64),
}

/// How many changes a mailbox remembers; a session further behind resyncs.
pub const MAX_CHANGES: usize = 100_000;

#[derive(Debug)]
pub struct MailboxState {
    pub name: String,
    pub uid_validity: u32,
    pub uid_next: u32,
    /// Sorted by UID.
    pub messages: Vec<Message>,
    pub changes: VecDeque<Change>,
    /// Number of the first change in `changes` (changes are numbered from 0).
    pub change_base: u64,
    /// The last UID expunged (for the `uid-reuse` fault).
    pub last_expunged: u32,
    pub deleted: bool,
    /// Total size of the messages, kept up to date (quota, STATUS SIZE).
    pub bytes: u64,
    /// Keywords used in this mailbox (FLAGS, PERMANENTFLAGS).
    pub keywords: Keywords,
    /// The sessions that have this mailbox selected, and the expunged
    /// messages some of them have not been told about yet.
    pub views: Views,
    /// The mailbox's mod-sequence counter, HIGHESTMODSEQ (RFC 7162 3.1.2.1):
    /// every append, flag change and expunge takes the next value. It only
    /// grows within a UIDVALIDITY; a restart replays the journal in order and
    /// comes back to the same value.
    pub highest_modseq: u64,
    /// The UIDs expunged, each with the mod-sequence of its expunge (RFC 7162
    /// 3.2: "the server MUST associate the incremented mod-sequence with the
    /// UIDs of the expunged messages"), oldest first, at most `MAX_CHANGES`.
    pub vanished: VecDeque<(u64, u32)>,
    /// Expunges older than this mod-sequence have left `vanished`: a client
    /// resyncing from before it is told of every UID not in the mailbox.
    pub vanished_floor: u64,
    /// The special-use attributes (RFC 6154 2: `\Sent`, `\Trash`, ...),
    /// as CREATE (USE ...) or the new account's defaults set them.
    pub special_use: Vec<String>,
    /// A flag changed since the modseq index was last rebuilt (the
    /// `modseq-reset` fault rebuilds it at the next SELECT or EXAMINE).
    pub modseq_index_dirty: bool,
    /// Changes queued to the journal, in journal order, not yet applied.
    pending: VecDeque<Pending>,
}

/// A change whose journal record is queued; it is applied (and becomes visible
/// to every session) only once the record is on disk.
#[derive(Debug)]
struct Pending {
    ticket: Arc<journal::Ticket>,
    op: PendingOp,
}

#[derive(Debug)]
enum PendingOp {
    Append {
        uid: u32,
        flags: FlagSet,
        date: (i64, i32),
        data: Arc<[u8]>,
    },
    Flags {
        uid: u32,
        flags: FlagSet,
        by_session: u64,
    },
    Expunge {
        uid: u32,
    },
}

impl MailboxState {
    /// Takes the next mod-sequence (RFC 7162 3.1: each change gets a new,
    /// higher one).
    pub fn next_modseq(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Sets a message's flags; a real change takes a new mod-sequence.
    pub fn set_message_flags(&mut self, i: usize, flags: FlagSet) {
        self.keywords.define(&flags);
        if self.messages[i].flags != flags {
            self.messages[i].flags = flags;
            self.messages[i].modseq = self.next_modseq();
            self.modseq_index_dirty = true;
        }
    }

    /// The UIDs expunged after mod-sequence `since`, or `None` when the
    /// record does not reach back that far.
    pub fn vanished_since(&self, since: u64) -> Option<Vec<u32>> {
        if since < self.vanished_floor {
            return None;
        }
        let start = self.vanished.partition_point(|&(m, _)| m <= since);
        let mut uids: Vec<u32> = self.vanished.range(start..).map(|&(_, u)| u).collect();
        uids.sort_unstable();
        Some(uids)
    }

    pub fn change_end(&self) -> u64 {
        self.change_base + self.changes.len() as u64
    }

    pub fn push_change(&mut self, c: Change) {
        self.changes.push_back(c);
        if self.changes.len() > MAX_CHANGES {
            self.changes.pop_front();
            self.change_base += 1;
        }
    }

    pub fn index_of(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// The message with this UID, or the expunged one some selection has not
    /// been told about yet (see `Views`).
    pub fn visible(&self, uid: u32) -> Option<&Message> {
        match self.index_of(uid) {
            Some(i) => Some(&self.messages[i]),
            None => self.views.kept(uid),
        }
    }

    pub fn size(&self) -> u64 {
        self.bytes
    }

    /// Refuses flags that would take the mailbox past `MAX_KEYWORDS`, counting
    /// the keywords of changes queued but not yet applied (each is checked
    /// before it is journaled, so two at once must not both pass the limit).
    fn check_keywords<'f>(
        &'f self,
        flags: impl IntoIterator<Item = &'f FlagSet>,
    ) -> Result<(), StoreError> {
        let queued = self.pending.iter().filter_map(|p| match &p.op {
            PendingOp::Append { flags, .. } | PendingOp::Flags { flags, .. } => Some(flags),
            PendingOp::Expunge { .. } => None,
        });
        self.keywords.check(queued.chain(flags))
    }

    /// Applies, in journal order, every queued change whose record is settled
    /// (dropping those that failed). The journal writes records in queue order,
    /// so once one is on disk all before it are too.
    fn settle(&mut self) {
        while let Some(outcome) = self.pending.front().map(|p| p.ticket.outcome()) {
            let Some(durable) = outcome else { break };
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            if durable {
                self.apply(p.op);
            }
        }
    }

    fn apply(&mut self, op: PendingOp) {
        match op {
            PendingOp::Append {
                uid,
                flags,
                date,
                data,
            } => insert_message(self, uid, flags, date, data),
            PendingOp::Flags {
                uid,
                flags,
                by_session,
            } => {
                if let Some(i) = self.index_of(uid) {
                    self.set_message_flags(i, flags);
                    self.push_change(Change::Flags(uid, by_session));
                }
            }
            PendingOp::Expunge { uid } => {
                if let Some(i) = self.index_of(uid) {
                    self.expunge_at(i);
                }
            }
        }
    }

    /// Journals `op` (or, in memory, applies it at once). Returns the ticket to
    /// wait on, with the mailbox lock released, before calling `settle`.
    fn queue(
        &mut self,
        journal: Option<&Journal>,
        entry: impl FnOnce(&str) -> journal::Entry,
        op: PendingOp,
    ) -> Option<Arc<journal::Ticket>> {
        match journal {
            None => {
                self.apply(op);
                None
            }
            Some(j) => {
                let ticket = j.submit(entry(&self.name));
                self.pending.push_back(Pending {
                    ticket: Arc::clone(&ticket),
                    op,
                });
                Some(ticket)
            }
        }
    }

    /// Removes the message at `i`, giving the expunge its mod-sequence.
    pub fn remove_at(&mut self, i: usize) -> Message {
        let m = self.messages.remove(i);
        self.bytes = self.bytes.saturating_sub(m.data.len() as u64);
        self.last_expunged = m.uid;
        let modseq = self.next_modseq();
        self.vanished.push_back((modseq, m.uid));
        if self.vanished.len() > MAX_CHANGES {
            if let Some((gone, _)) = self.vanished.pop_front() {
                self.vanished_floor = gone;
            }
        }
        m
    }

    /// Expunges the message at `i`: removed, the change fed, and kept for the
    /// selections that have not been told yet.
    pub fn expunge_at(&mut self, i: usize) {
        let m = self.remove_at(i);
        let uid = m.uid;
        let change = self.change_end();
        self.views.keep(change, m);
        self.push_change(Change::Expunged(uid));
    }
}

/// One mailbox, shared by every session that has it selected.
#[derive(Debug)]
pub struct Mailbox {
    state: Mutex<MailboxState>,
    /// Woken on every change, for IDLE.
    pub notify: tokio::sync::Notify,
}

impl Mailbox {
    pub fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
pub struct Account {
    pub password: String,
    /// Storage quota in bytes (RFC 9208 STORAGE is in KiB; we keep bytes).
    pub quota: Option<u64>,
    pub mailboxes: BTreeMap<String, Arc<Mailbox>>,
    pub subscribed: BTreeSet<String>,
}

impl Account {
    pub fn used(&self) -> u64 {
        self.mailboxes.values().map(|m| m.lock().size()).sum()
    }
}

#[derive(Debug)]
pub enum StoreError {
    NoSuchMailbox,
    Exists,
    OverQuota,
    /// An implementation limit (RFC 5530 `LIMIT`).
    Limit(String),
    Io(String),
    Invalid(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NoSuchMailbox => write!(f, "no such mailbox"),
            StoreError::Exists => write!(f, "mailbox already exists"),
            StoreError::OverQuota => write!(f, "over quota"),
            StoreError::Limit(e) => write!(f, "{e}"),
            StoreError::Io(e) => write!(f, "storage error: {e}"),
            StoreError::Invalid(e) => write!(f, "{e}"),
        }
    }
}

/// `INBOX` in any case is INBOX (RFC 3501 5.1); other names are kept as sent.
pub fn normalize(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

/// A new account's mailboxes beside INBOX, and their special uses.
pub const DEFAULT_MAILBOXES: [(&str, &str); 5] = [
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

pub struct Store {
    accounts: Mutex<FxHashMap<String, Account>>,
    journal: Option<Journal>,
    /// Next UIDVALIDITY to hand out.
    next_validity: Mutex<u32>,
    /// The `uid-reuse` fault: every delivery path gives out the last expunged UID.
    reuse_uids: std::sync::atomic::AtomicBool,
}

impl Store {
    /// An in-memory store (nothing survives a restart).
    pub fn memory() -> Self {
        Store {
            accounts: Mutex::new(FxHashMap::default()),
            journal: None,
            next_validity: Mutex::new(validity_seed()),
            reuse_uids: Default::default(),
        }
    }

    /// Switches on the `uid-reuse` fault for every delivery path.
    pub fn set_uid_reuse(&self, on: bool) {
        self.reuse_uids
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn accounts(&self) -> MutexGuard<'_, FxHashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, record: journal::Record<'_>) -> Result<(), StoreError> {
        match &self.journal {
            None => Ok(()),
            Some(j) => j.write(journal::Entry::new(&record, None)),
        }
    }

    fn new_validity(&self) -> u32 {
        let mut v = self.next_validity.lock().unwrap_or_else(|p| p.into_inner());
        *v = v.wrapping_add(1).max(1);
        *v
    }

    /// Adds a user (or updates the password and quota), with an INBOX; true
    /// when the account is new (its INBOX was made now, not found in the
    /// journal).
    pub fn add_user(
        &self,
        user: &str,
        password: &str,
        quota: Option<u64>,
    ) -> Result<bool, StoreError> {
        let exists = self.accounts().contains_key(user);
        if !exists {
            self.accounts().insert(
                user.to_string(),
                Account {
                    password: password.to_string(),
                    quota,
                    mailboxes: BTreeMap::new(),
                    subscribed: BTreeSet::new(),
                },
            );
        } else if let Some(a) = self.accounts().get_mut(user) {
            a.password = password.to_string();
            a.quota = quota;
        }
        match self.create(user, "INBOX") {
            Ok(()) => Ok(true),
            Err(StoreError::Exists) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The mailboxes a new account starts with, each with its special use
    /// (RFC 6154 2), `prefix` being the personal namespace (`INBOX.`) or "".
    /// One that exists already is left as it is.
    pub fn create_default_mailboxes(&self, user: &str, prefix: &str) -> Result<(), StoreError> {
        for (name, attr) in DEFAULT_MAILBOXES {
            let name = format!("{prefix}{name}");
            match self.create(user, &name) {
                Ok(()) => self.set_special_use(user, &name, &[attr.to_string()])?,
                Err(StoreError::Exists) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.accounts()
            .get(user)
            .is_some_and(|a| constant_time_eq(a.password.as_bytes(), password.as_bytes()))
    }

    pub fn user_exists(&self, user: &str) -> bool {
        self.accounts().contains_key(user)
    }

    pub fn mailbox(&self, user: &str, name: &str) -> Option<Arc<Mailbox>> {
        self.accounts()
            .get(user)?
            .mailboxes
            .get(&normalize(name))
            .cloned()
    }

    pub fn mailbox_names(&self, user: &str) -> Vec<String> {
        self.accounts()
            .get(user)
            .map(|a| a.mailboxes.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn subscriptions(&self, user: &str) -> Vec<String> {
        self.accounts()
            .get(user)
            .map(|a| a.subscribed.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn quota(&self, user: &str) -> Option<(u64, u64)> {
        let accounts = self.accounts();
        let a = accounts.get(user)?;
        // Only accounts with a quota pay for adding up their mailboxes.
        let limit = a.quota?;
        Some((a.used(), limit))
    }

    pub fn create(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = normalize(name);
        // The length limit is the session's (`ServerLimits::max_mailbox_name`,
        // checked for every command alike); the store refuses what no name is.
        if name.is_empty() || name.contains(['\r', '\n', '\0']) {
            return Err(StoreError::Invalid("invalid mailbox name".into()));
        }
        if self.mailbox(user, &name).is_some() {
            return Err(StoreError::Exists);
        }
        let validity = self.new_validity();
        self.log(journal::Record::Create {
            user,
            mailbox: &name,
            uid_validity: validity,
            uid_next: 1,
        })?;
        self.apply_create(user, &name, validity, 1);
        Ok(())
    }

    fn apply_create(&self, user: &str, name: &str, uid_validity: u32, uid_next: u32) {
        let mut accounts = self.accounts();
        let Some(a) = accounts.get_mut(user) else {
            return;
        };
        a.mailboxes.insert(
            name.to_string(),
            Arc::new(Mailbox {
                state: Mutex::new(MailboxState {
                    name: name.to_string(),
                    uid_validity,
                    uid_next,
                    messages: Vec::new(),
                    changes: VecDeque::new(),
                    change_base: 0,
                    last_expunged: 0,
                    deleted: false,
                    bytes: 0,
                    keywords: Keywords::default(),
                    highest_modseq: 1,
                    vanished: VecDeque::new(),
                    vanished_floor: 0,
                    modseq_index_dirty: false,
                    special_use: Vec::new(),
                    views: Views::default(),
                    pending: VecDeque::new(),
                }),
                notify: tokio::sync::Notify::new(),
            }),
        );
        let mut v = self.next_validity.lock().unwrap_or_else(|p| p.into_inner());
        *v = (*v).max(uid_validity);
    }

    /// Sets a mailbox's special-use attributes (RFC 6154), journaled.
    pub fn set_special_use(
        &self,
        user: &str,
        name: &str,
        uses: &[String],
    ) -> Result<(), StoreError> {
        let name = normalize(name);
        let mb = self.mailbox(user, &name).ok_or(StoreError::NoSuchMailbox)?;
        self.log(journal::Record::SpecialUse {
            user,
            mailbox: &name,
            uses,
        })?;
        mb.lock().special_use = uses.to_vec();
        Ok(())
    }

    /// The mailbox holding a special use (`\Sent`), if any.
    pub fn special_use_holder(&self, user: &str, attr: &str) -> Option<String> {
        self.mailbox_names(user).into_iter().find(|n| {
            self.mailbox(user, n).is_some_and(|mb| {
                mb.lock()
                    .special_use
                    .iter()
                    .any(|u| u.eq_ignore_ascii_case(attr))
            })
        })
    }

    pub fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = normalize(name);
        if name == "INBOX" {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let mb = self.mailbox(user, &name).ok_or(StoreError::NoSuchMailbox)?;
        // Marked deleted under its lock as the record is queued, so no APPEND
        // can be journaled after the DELETE (a replay would re-make it).
        let ticket = {
            let mut st = mb.lock();
            if st.deleted {
                return Err(StoreError::NoSuchMailbox);
            }
            st.deleted = true;
            let record = journal::Record::Delete {
                user,
                mailbox: &name,
            };
            self.journal
                .as_ref()
                .map(|j| j.submit(journal::Entry::new(&record, None)))
        };
        if let Some(Err(e)) = ticket.map(|t| t.wait()) {
            mb.lock().deleted = false;
            return Err(e);
        }
        self.apply_delete(user, &name);
        Ok(())
    }

    fn apply_delete(&self, user: &str, name: &str) {
        let mut accounts = self.accounts();
        if let Some(mb) = accounts
            .get_mut(user)
            .and_then(|a| a.mailboxes.remove(name))
        {
            mb.lock().deleted = true;
            mb.notify.notify_waiters();
        }
    }

    pub fn rename(&self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        let (from, to) = (normalize(from), normalize(to));
        if self.mailbox(user, &from).is_none() {
            return Err(StoreError::NoSuchMailbox);
        }
        if self.mailbox(user, &to).is_some() {
            return Err(StoreError::Exists);
        }
        if to.is_empty() || to.contains(['\r', '\n', '\0']) {
            return Err(StoreError::Invalid("invalid mailbox name".into()));
        }
        // Renaming INBOX makes a new mailbox: its UIDVALIDITY goes in the record
        // so a replay gives it the same one.
        let validity = if from == "INBOX" {
            self.new_validity()
        } else {
            0
        };
        let Some(mb) = self.mailbox(user, &from) else {
            return Err(StoreError::NoSuchMailbox);
        };
        // The record is queued under the mailbox's lock and the mailbox takes
        // its new name there, so every APPEND journaled after the RENAME names
        // the new mailbox (INBOX keeps its name: its messages move instead).
        let ticket = {
            let mut st = mb.lock();
            let record = journal::Record::Rename {
                user,
                from: &from,
                to: &to,
                uid_validity: validity,
            };
            let t = self
                .journal
                .as_ref()
                .map(|j| j.submit(journal::Entry::new(&record, None)));
            if from != "INBOX" {
                st.name = to.clone();
            }
            t
        };
        if let Some(Err(e)) = ticket.map(|t| t.wait()) {
            if from != "INBOX" {
                mb.lock().name = from.clone();
            }
            return Err(e);
        }
        self.apply_rename(user, &from, &to, validity);
        Ok(())
    }

    /// `validity` is the new mailbox's when INBOX is renamed (0: pick one).
    fn apply_rename(&self, user: &str, from: &str, to: &str, validity: u32) {
        let mut accounts = self.accounts();
        let Some(a) = accounts.get_mut(user) else {
            return;
        };
        let Some(mb) = a.mailboxes.remove(from) else {
            return;
        };
        if from == "INBOX" {
            // RFC 3501 6.3.5: renaming INBOX moves its messages and leaves it empty.
            let moved = {
                let mut st = mb.lock();
                let msgs = std::mem::take(&mut st.messages);
                st.bytes = 0;
                for m in &msgs {
                    st.push_change(Change::Expunged(m.uid));
                }
                msgs
            };
            mb.notify.notify_waiters();
            a.mailboxes.insert(from.to_string(), mb.clone());
            let validity = {
                let mut v = self.next_validity.lock().unwrap_or_else(|p| p.into_inner());
                if validity == 0 {
                    *v = v.wrapping_add(1).max(1);
                } else {
                    *v = (*v).max(validity);
                }
                if validity == 0 {
                    *v
                } else {
                    validity
                }
            };
            let next = moved.last().map_or(1, |m| m.uid + 1);
            let keywords = mb.lock().keywords.clone();
            let bytes = moved.iter().map(|m| m.data.len() as u64).sum();
            let highest_modseq = moved.iter().map(|m| m.modseq).max().unwrap_or(1);
            a.mailboxes.insert(
                to.to_string(),
                Arc::new(Mailbox {
                    state: Mutex::new(MailboxState {
                        name: to.to_string(),
                        uid_validity: validity,
                        uid_next: next,
                        messages: moved,
                        changes: VecDeque::new(),
                        change_base: 0,
                        last_expunged: 0,
                        deleted: false,
                        bytes,
                        keywords,
                        views: Views::default(),
                        highest_modseq,
                        vanished: VecDeque::new(),
                        vanished_floor: 0,
                        modseq_index_dirty: false,
                        special_use: Vec::new(),
                        pending: VecDeque::new(),
                    }),
                    notify: tokio::sync::Notify::new(),
                }),
            );
        } else {
            mb.lock().name = to.to_string();
            a.mailboxes.insert(to.to_string(), mb);
        }
    }

    pub fn subscribe(&self, user: &str, name: &str, on: bool) -> Result<(), StoreError> {
        let name = normalize(name);
        self.log(journal::Record::Subscribe {
            user,
            mailbox: &name,
            on,
        })?;
        if let Some(a) = self.accounts().get_mut(user) {
            if on {
                a.subscribed.insert(name);
            } else {
                a.subscribed.remove(&name);
            }
        }
        Ok(())
    }

    /// Appends a message; returns (UIDVALIDITY, UID). `reuse_uid` (the
    /// `uid-reuse` fault) gives it the last expunged UID instead of UIDNEXT.
    pub fn append(
        &self,
        user: &str,
        name: &str,
        data: Arc<[u8]>,
        flags: FlagSet,
        internal_date: (i64, i32),
        reuse_uid: bool,
    ) -> Result<(u32, u32), StoreError> {
        let mb = self.mailbox(user, name).ok_or(StoreError::NoSuchMailbox)?;
        if let Some((used, limit)) = self.quota(user) {
            if used + data.len() as u64 > limit {
                return Err(StoreError::OverQuota);
            }
        }
        let mut st = mb.lock();
        if st.deleted {
            return Err(StoreError::NoSuchMailbox);
        }
        st.check_keywords([&flags])?;
        let reuse_uid = reuse_uid || self.reuse_uids.load(std::sync::atomic::Ordering::Relaxed);
        let uid = if reuse_uid && st.last_expunged != 0 {
            st.last_expunged
        } else {
            st.uid_next
        };
        let validity = st.uid_validity;
        // The UID is taken now (the next APPEND gets the one after, even before
        // this one is on disk); the message appears once its record is.
        st.uid_next = st.uid_next.max(uid.saturating_add(1));
        let names = flags.names();
        let ticket = st.queue(
            self.journal.as_ref(),
            |name| {
                journal::Entry::new(
                    &journal::Record::Append {
                        user,
                        mailbox: name,
                        uid_validity: validity,
                        uid,
                        flags: &names,
                        internal_date: internal_date.0,
                        zone: internal_date.1,
                        data: &data,
                    },
                    Some(Arc::clone(&data)),
                )
            },
            PendingOp::Append {
                uid,
                flags,
                date: internal_date,
                data: Arc::clone(&data),
            },
        );
        drop(st);
        let written = wait_and_settle(&mb, ticket);
        mb.notify.notify_waiters();
        written.map(|()| (validity, uid))
    }

    /// Appends several messages as one operation (MULTIAPPEND, RFC 3502: "A
    /// MULTIAPPEND APPEND operation is atomic; either all messages are
    /// successfully appended, or no messages are appended."). Returns
    /// UIDVALIDITY and the UIDs given, in order.
    ///
    /// Everything that can refuse one message (no mailbox, quota for the
    /// total, the keyword limit for all flags together) is judged before the
    /// first is queued, under one lock, so no other APPEND comes in between
    /// and the UIDs are consecutive. In a durable store a record that then
    /// fails to be written (a disk error) makes the messages already applied
    /// expunged again before the answer, so the mailbox holds none of them;
    /// other sessions may have seen them meanwhile. A crash between two of
    /// the records can leave the first ones on disk (the journal has no
    /// multi-record transaction): a known limit.
    pub fn append_all(
        &self,
        user: &str,
        name: &str,
        items: Vec<NewMessage>,
    ) -> Result<(u32, Vec<u32>), StoreError> {
        let mb = self.mailbox(user, name).ok_or(StoreError::NoSuchMailbox)?;
        if let Some((used, limit)) = self.quota(user) {
            let total: u64 = items.iter().map(|(d, ..)| d.len() as u64).sum();
            if used.saturating_add(total) > limit {
                return Err(StoreError::OverQuota);
            }
        }
        let mut st = mb.lock();
        if st.deleted {
            return Err(StoreError::NoSuchMailbox);
        }
        st.check_keywords(items.iter().map(|(_, f, _)| f))?;
        let validity = st.uid_validity;
        let mut uids = Vec::with_capacity(items.len());
        let mut tickets = Vec::with_capacity(items.len());
        for (data, flags, date) in items {
            let uid = st.uid_next;
            st.uid_next = uid.saturating_add(1);
            let names = flags.names();
            let ticket = st.queue(
                self.journal.as_ref(),
                |name| {
                    journal::Entry::new(
                        &journal::Record::Append {
                            user,
                            mailbox: name,
                            uid_validity: validity,
                            uid,
                            flags: &names,
                            internal_date: date.0,
                            zone: date.1,
                            data: &data,
                        },
                        Some(Arc::clone(&data)),
                    )
                },
                PendingOp::Append {
                    uid,
                    flags,
                    date,
                    data: Arc::clone(&data),
                },
            );
            uids.push(uid);
            tickets.extend(ticket);
        }
        drop(st);
        // Every ticket, not only the last: a failed batch need not stop the
        // writer from putting later records on disk.
        let failed = tickets.iter().any(|t| t.wait().is_err());
        mb.lock().settle();
        mb.notify.notify_waiters();
        if failed {
            let written: Vec<u32> = {
                let st = mb.lock();
                uids.iter()
                    .copied()
                    .filter(|&u| st.index_of(u).is_some())
                    .collect()
            };
            if !written.is_empty() {
                self.expunge(user, &mb, &written)?;
            }
            return Err(StoreError::Io(
                "the journal could not be written; nothing was appended".into(),
            ));
        }
        Ok((validity, uids))
    }

    /// Replaces, adds or removes flags on the messages with these UIDs.
    /// With `unchanged_since` (CONDSTORE's UNCHANGEDSINCE), a message whose
    /// mod-sequence is above it, or that has a flag change queued, is left
    /// alone; the UIDs so left are returned.
    pub fn set_flags(
        &self,
        user: &str,
        mb: &Mailbox,
        updates: &[(u32, FlagSet)],
        by_session: u64,
        unchanged_since: Option<u64>,
    ) -> Result<Vec<u32>, StoreError> {
        let mut st = mb.lock();
        st.check_keywords(updates.iter().map(|(_, f)| f))?;
        let mut last = None;
        let mut failed = Vec::new();
        for (uid, flags) in updates {
            let Some(i) = st.index_of(*uid) else {
                continue;
            };
            if let Some(limit) = unchanged_since {
                // Tested under the lock the change is queued under, so no
                // other STORE can slip in between (RFC 7162 3.1.3).
                let queued = st
                    .pending
                    .iter()
                    .any(|p| matches!(p.op, PendingOp::Flags { uid: q, .. } if q == *uid));
                if st.messages[i].modseq > limit || queued {
                    failed.push(*uid);
                    continue;
                }
            }
            let names = flags.names();
            let op = PendingOp::Flags {
                uid: *uid,
                flags: flags.clone(),
                by_session,
            };
            let entry = |name: &str| {
                journal::Entry::new(
                    &journal::Record::Flags {
                        user,
                        mailbox: name,
                        uid: *uid,
                        flags: &names,
                    },
                    None,
                )
            };
            last = st.queue(self.journal.as_ref(), entry, op).or(last);
        }
        drop(st);
        let written = wait_and_settle(mb, last);
        mb.notify.notify_waiters();
        written.map(|()| failed)
    }

    /// Removes the messages with these UIDs.
    pub fn expunge(&self, user: &str, mb: &Mailbox, uids: &[u32]) -> Result<(), StoreError> {
        let mut st = mb.lock();
        let mut last = None;
        for &uid in uids {
            if st.index_of(uid).is_none() {
                continue;
            }
            let entry = |name: &str| {
                journal::Entry::new(
                    &journal::Record::Expunge {
                        user,
                        mailbox: name,
                        uid,
                    },
                    None,
                )
            };
            last = st
                .queue(self.journal.as_ref(), entry, PendingOp::Expunge { uid })
                .or(last);
        }
        drop(st);
        let written = wait_and_settle(mb, last);
        mb.notify.notify_waiters();
        written
    }

    fn ensure_account(&self, user: &str) {
        self.accounts()
            .entry(user.to_string())
            .or_insert_with(|| Account {
                password: String::new(),
                quota: None,
                mailboxes: BTreeMap::new(),
                subscribed: BTreeSet::new(),
            });
    }
}

/// Waits (lock released) until the last queued record is on disk, then applies
/// what is settled. Every record of the command was queued before `last`, so
/// they are all settled by then.
fn wait_and_settle(mb: &Mailbox, last: Option<Arc<journal::Ticket>>) -> Result<(), StoreError> {
    let Some(ticket) = last else { return Ok(()) };
    let written = ticket.wait();
    mb.lock().settle();
    written
}

fn insert_message(
    st: &mut MailboxState,
    uid: u32,
    flags: FlagSet,
    date: (i64, i32),
    data: Arc<[u8]>,
) {
    st.keywords.define(&flags);
    let msg = Message {
        uid,
        flags,
        internal_date: date.0,
        zone: date.1,
        data,
        recent_owner: 0,
        modseq: st.next_modseq(),
    };
    st.bytes += msg.data.len() as u64;
    match st.messages.binary_search_by_key(&uid, |m| m.uid) {
        // Only the uid-reuse fault gets here with a UID that is taken; replace it.
        Ok(i) => {
            let old = std::mem::replace(&mut st.messages[i], msg);
            st.bytes = st.bytes.saturating_sub(old.data.len() as u64);
        }
        // Appends come in UID order, so this is a push in practice.
        Err(i) => st.messages.insert(i, msg),
    }
    st.uid_next = st.uid_next.max(uid.saturating_add(1));
    st.push_change(Change::Appended(uid));
}

/// One message for `Store::append_all`: its bytes, flags and internal
/// date (seconds, zone offset).
pub type NewMessage = (Arc<[u8]>, FlagSet, (i64, i32));

fn validity_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change queued but not yet on disk counts towards the keyword limit:
    /// two writers at once, each checked alone, must not both pass it.
    #[test]
    fn queued_keywords_count_towards_the_limit() {
        let store = Store::memory();
        store.add_user("alice", "pw", None).expect("user");
        let mb = store.mailbox("alice", "INBOX").expect("INBOX");
        let mut st = mb.lock();
        let names: Vec<String> = (0..MAX_KEYWORDS - 1).map(|i| format!("k{i}")).collect();
        st.keywords
            .define(&FlagSet::from_names(names.iter().map(String::as_str)));
        let first = FlagSet::from_names(["first"]);
        let second = FlagSet::from_names(["second"]);
        assert!(st.check_keywords([&first]).is_ok());
        // `first` is queued: its ticket never settles in this test.
        st.pending.push_back(Pending {
            ticket: Arc::new(journal::Ticket::default()),
            op: PendingOp::Flags {
                uid: 1,
                flags: first.clone(),
                by_session: 1,
            },
        });
        assert!(matches!(
            st.check_keywords([&second]),
            Err(StoreError::Limit(_))
        ));
        assert!(
            st.check_keywords([&first]).is_ok(),
            "the same keyword again"
        );
    }
}
