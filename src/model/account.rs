//! What is known about each mailbox across every connection in a run or a log.

use rustc_hash::FxHashMap as HashMap;

/// A mailbox of one account in one UIDVALIDITY epoch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxKey {
    pub user: String,
    pub mailbox: String,
    pub uid_validity: u32,
}

#[derive(Debug, Default)]
pub struct MailboxHistory {
    /// UID → model clock at which an EXPUNGE of it was seen.
    pub expunged: HashMap<u32, u64>,
    /// Highest UIDNEXT announced in this epoch.
    pub max_uid_next: u32,
}

#[derive(Debug, Default)]
pub struct AccountModel {
    mailboxes: HashMap<MailboxKey, MailboxHistory>,
}

impl AccountModel {
    pub fn get(&self, key: &MailboxKey) -> Option<&MailboxHistory> {
        self.mailboxes.get(key)
    }

    pub fn entry(&mut self, key: &MailboxKey) -> &mut MailboxHistory {
        self.mailboxes.entry(key.clone()).or_default()
    }
}
