//! The mail store: accounts, mailboxes, messages, UID allocation, and the change
//! feed that tells every session on a mailbox what the others did.
//!
//! All state lives in memory behind one `Mutex` per mailbox (never held across an
//! `.await`). With `--data-dir` every change is first written to an append-only
//! `Journal` and fsynced, then applied, so what a client was told is on disk; on
//! start the journal is replayed, and a torn last record (a crash mid-write) is
//! cut off. UIDs are never given twice: UIDNEXT only grows, and a mailbox
//! deleted and created again gets a new UIDVALIDITY.

pub mod journal;
mod keywords;
mod views;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

pub use journal::Journal;
pub use keywords::{Keywords, MAX_KEYWORDS};
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
}

impl MailboxState {
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

    pub fn remove_at(&mut self, i: usize) -> Message {
        let m = self.messages.remove(i);
        self.bytes = self.bytes.saturating_sub(m.data.len() as u64);
        self.last_expunged = m.uid;
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

pub struct Store {
    accounts: Mutex<FxHashMap<String, Account>>,
    journal: Option<Mutex<Journal>>,
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

    /// A durable store in `dir`: replays the journal found there.
    pub fn open(dir: &std::path::Path) -> Result<Self, StoreError> {
        let store = Store {
            accounts: Mutex::new(FxHashMap::default()),
            journal: None,
            next_validity: Mutex::new(validity_seed()),
            reuse_uids: Default::default(),
        };
        let journal = Journal::open(dir, &mut |rec| store.replay(rec))?;
        Ok(Store {
            journal: Some(Mutex::new(journal)),
            ..store
        })
    }

    fn accounts(&self) -> MutexGuard<'_, FxHashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, record: journal::Record<'_>) -> Result<(), StoreError> {
        match &self.journal {
            None => Ok(()),
            Some(j) => j.lock().unwrap_or_else(|p| p.into_inner()).write(&record),
        }
    }

    fn new_validity(&self) -> u32 {
        let mut v = self.next_validity.lock().unwrap_or_else(|p| p.into_inner());
        *v = v.wrapping_add(1).max(1);
        *v
    }

    /// Adds a user (or updates the password and quota), with an INBOX.
    pub fn add_user(
        &self,
        user: &str,
        password: &str,
        quota: Option<u64>,
    ) -> Result<(), StoreError> {
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
            Ok(()) | Err(StoreError::Exists) => Ok(()),
            Err(e) => Err(e),
        }
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
                    views: Views::default(),
                }),
                notify: tokio::sync::Notify::new(),
            }),
        );
        let mut v = self.next_validity.lock().unwrap_or_else(|p| p.into_inner());
        *v = (*v).max(uid_validity);
    }

    pub fn delete(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = normalize(name);
        if name == "INBOX" {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        if self.mailbox(user, &name).is_none() {
            return Err(StoreError::NoSuchMailbox);
        }
        self.log(journal::Record::Delete {
            user,
            mailbox: &name,
        })?;
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
        self.log(journal::Record::Rename {
            user,
            from: &from,
            to: &to,
        })?;
        self.apply_rename(user, &from, &to);
        Ok(())
    }

    fn apply_rename(&self, user: &str, from: &str, to: &str) {
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
                *v = v.wrapping_add(1).max(1);
                *v
            };
            let next = moved.last().map_or(1, |m| m.uid + 1);
            let keywords = mb.lock().keywords.clone();
            let bytes = moved.iter().map(|m| m.data.len() as u64).sum();
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
        st.keywords.check([&flags])?;
        let reuse_uid = reuse_uid || self.reuse_uids.load(std::sync::atomic::Ordering::Relaxed);
        let uid = if reuse_uid && st.last_expunged != 0 {
            st.last_expunged
        } else {
            st.uid_next
        };
        self.log(journal::Record::Append {
            user,
            mailbox: &st.name,
            uid_validity: st.uid_validity,
            uid,
            flags: &flags.names(),
            internal_date: internal_date.0,
            zone: internal_date.1,
            data: &data,
        })?;
        let validity = st.uid_validity;
        insert_message(&mut st, uid, flags, internal_date, data);
        drop(st);
        mb.notify.notify_waiters();
        Ok((validity, uid))
    }

    /// Replaces, adds or removes flags on the messages with these UIDs.
    pub fn set_flags(
        &self,
        user: &str,
        mb: &Mailbox,
        updates: &[(u32, FlagSet)],
        by_session: u64,
    ) -> Result<(), StoreError> {
        let mut st = mb.lock();
        st.keywords.check(updates.iter().map(|(_, f)| f))?;
        for (uid, flags) in updates {
            if st.index_of(*uid).is_none() {
                continue;
            }
            self.log(journal::Record::Flags {
                user,
                mailbox: &st.name,
                uid: *uid,
                flags: &flags.names(),
            })?;
            if let Some(i) = st.index_of(*uid) {
                st.keywords.define(flags);
                st.messages[i].flags = flags.clone();
                st.push_change(Change::Flags(*uid, by_session));
            }
        }
        drop(st);
        mb.notify.notify_waiters();
        Ok(())
    }

    /// Removes the messages with these UIDs.
    pub fn expunge(&self, user: &str, mb: &Mailbox, uids: &[u32]) -> Result<(), StoreError> {
        let mut st = mb.lock();
        for &uid in uids {
            if st.index_of(uid).is_none() {
                continue;
            }
            self.log(journal::Record::Expunge {
                user,
                mailbox: &st.name,
                uid,
            })?;
            if let Some(i) = st.index_of(uid) {
                st.expunge_at(i);
            }
        }
        drop(st);
        mb.notify.notify_waiters();
        Ok(())
    }

    /// Applies one journal record while replaying.
    fn replay(&self, rec: journal::Record<'_>) {
        match rec {
            journal::Record::Create {
                user,
                mailbox,
                uid_validity,
                uid_next,
            } => {
                self.ensure_account(user);
                self.apply_create(user, mailbox, uid_validity, uid_next);
            }
            journal::Record::Delete { user, mailbox } => self.apply_delete(user, mailbox),
            journal::Record::Rename { user, from, to } => self.apply_rename(user, from, to),
            journal::Record::Subscribe { user, mailbox, on } => {
                if let Some(a) = self.accounts().get_mut(user) {
                    if on {
                        a.subscribed.insert(mailbox.to_string());
                    } else {
                        a.subscribed.remove(mailbox);
                    }
                }
            }
            journal::Record::Append {
                user,
                mailbox,
                uid_validity,
                uid,
                flags,
                internal_date,
                zone,
                data,
            } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    if st.uid_validity == uid_validity {
                        let f = FlagSet::from_names(flags.iter().map(String::as_str));
                        insert_message(&mut st, uid, f, (internal_date, zone), Arc::from(data));
                        st.changes.clear();
                        st.change_base = 0;
                    }
                }
            }
            journal::Record::Flags {
                user,
                mailbox,
                uid,
                flags,
            } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    if let Some(i) = st.index_of(uid) {
                        let f = FlagSet::from_names(flags.iter().map(String::as_str));
                        st.keywords.define(&f);
                        st.messages[i].flags = f;
                    }
                }
            }
            journal::Record::Expunge { user, mailbox, uid } => {
                if let Some(mb) = self.mailbox(user, mailbox) {
                    let mut st = mb.lock();
                    if let Some(i) = st.index_of(uid) {
                        st.remove_at(i);
                    }
                }
            }
        }
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

fn validity_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
