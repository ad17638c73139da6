//! STATUS.

use std::sync::Arc;

use imap_codec::imap_types::status::StatusDataItemName;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;
use crate::server::store::flags as fl;

impl Session {
    pub(in crate::server::imap) fn cmd_status(
        &mut self,
        tag: &str,
        name: &str,
        items: &[StatusDataItemName],
        io: &mut Io,
    ) {
        let names: Vec<String> = items.iter().map(|i| item_name(i).to_string()).collect();
        self.cmd_status_named(tag, name, &names, io);
    }

    /// STATUS with its items as names (the STATUS imap-codec does not read:
    /// `APPENDLIMIT`, RFC 7889). An item this server does not know is BAD.
    pub(in crate::server::imap) fn cmd_status_named(
        &mut self,
        tag: &str,
        name: &str,
        names: &[String],
        io: &mut Io,
    ) {
        if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(&n.as_str())) {
            io.write(&format!("{tag} BAD Unknown STATUS item {unknown}\r\n"));
            return;
        }
        if let Err(refused) = crate::server::imap::names::check_name(
            name.as_bytes(),
            self.ctx.limits.max_mailbox_name,
        ) {
            io.write(&format!("{tag} {}\r\n", refused.0));
            return;
        }
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        if let Some(line) = self.status_response(name, names) {
            io.write(&line);
        }
        io.write(&format!("{tag} OK STATUS completed\r\n"));
    }

    /// `* STATUS name (...)` for the items named (upper-case, as RFC 3501
    /// 6.3.10, RFC 7162 and RFC 8438 spell them); what STATUS and LIST's
    /// STATUS return option (RFC 5819) send. `None` if there is no such
    /// mailbox.
    pub(in crate::server::imap) fn status_response(
        &mut self,
        name: &str,
        items: &[String],
    ) -> Option<String> {
        let mb = self.ctx.store.mailbox(self.user_str(), name)?;
        let st = mb.lock();
        let mut parts = Vec::new();
        for item in items {
            match item.as_str() {
                "MESSAGES" => parts.push(format!("MESSAGES {}", st.messages.len())),
                "RECENT" => {
                    // \Recent not yet taken by any selection, plus what this
                    // session's own selection of the mailbox holds: what a
                    // SELECT or EXAMINE would report now (RFC 3501 2.3.2).
                    let mine = self
                        .selected
                        .as_ref()
                        .filter(|s| Arc::ptr_eq(&s.mailbox, &mb));
                    let n = st
                        .messages
                        .iter()
                        .filter(|m| {
                            m.recent_owner == 0 || mine.is_some_and(|s| s.recent.contains(&m.uid))
                        })
                        .count();
                    parts.push(format!("RECENT {n}"))
                }
                "UIDNEXT" => parts.push(format!("UIDNEXT {}", st.uid_next)),
                "UIDVALIDITY" => parts.push(format!("UIDVALIDITY {}", st.uid_validity)),
                "UNSEEN" => parts.push(format!(
                    "UNSEEN {}",
                    st.messages
                        .iter()
                        .filter(|m| !m.flags.has(fl::SEEN))
                        .count()
                )),
                "DELETED" => parts.push(format!(
                    "DELETED {}",
                    st.messages
                        .iter()
                        .filter(|m| m.flags.has(fl::DELETED))
                        .count()
                )),
                // RFC 8438 (STATUS=SIZE): "the total size of the mailbox in
                // octets".
                "SIZE" => parts.push(format!("SIZE {}", st.bytes)),
                // RFC 7889: the mailbox's upload limit; here the one the
                // capability announces, the same for every mailbox.
                "APPENDLIMIT" => parts.push(format!("APPENDLIMIT {}", self.ctx.limits.max_literal)),
                "HIGHESTMODSEQ" => {
                    // A CONDSTORE-enabling command (RFC 7162 3.1).
                    self.condstore = true;
                    parts.push(format!("HIGHESTMODSEQ {}", st.highest_modseq))
                }
                _ => {}
            }
        }
        Some(format!(
            "* STATUS {} ({})\r\n",
            self.shown_name(name),
            parts.join(" ")
        ))
    }
}

/// The STATUS items this server answers (RFC 3501 6.3.10, RFC 9051 6.3.11's
/// DELETED and SIZE, RFC 8438, RFC 7162, RFC 7889).
const KNOWN: [&str; 10] = [
    "MESSAGES",
    "RECENT",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "DELETED",
    "DELETED-STORAGE",
    "SIZE",
    "HIGHESTMODSEQ",
    "APPENDLIMIT",
];

/// A STATUS item as it is spelled on the wire.
fn item_name(item: &StatusDataItemName) -> &'static str {
    match item {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::DeletedStorage => "DELETED-STORAGE",
        StatusDataItemName::Size => "SIZE",
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
    }
}
