//! STATUS.

use std::sync::Arc;

use imap_codec::imap_types::status::StatusDataItemName;

use crate::server::imap::io::Io;
use crate::server::imap::session::{quote, Session};
use crate::server::store::flags as fl;

impl Session {
    pub(in crate::server::imap) fn cmd_status(
        &mut self,
        tag: &str,
        name: &str,
        items: &[StatusDataItemName],
        io: &mut Io,
    ) {
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        let st = mb.lock();
        let mut parts = Vec::new();
        for item in items {
            match item {
                StatusDataItemName::Messages => {
                    parts.push(format!("MESSAGES {}", st.messages.len()))
                }
                StatusDataItemName::Recent => {
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
                StatusDataItemName::UidNext => parts.push(format!("UIDNEXT {}", st.uid_next)),
                StatusDataItemName::UidValidity => {
                    parts.push(format!("UIDVALIDITY {}", st.uid_validity))
                }
                StatusDataItemName::Unseen => parts.push(format!(
                    "UNSEEN {}",
                    st.messages
                        .iter()
                        .filter(|m| !m.flags.has(fl::SEEN))
                        .count()
                )),
                StatusDataItemName::Deleted => parts.push(format!(
                    "DELETED {}",
                    st.messages
                        .iter()
                        .filter(|m| m.flags.has(fl::DELETED))
                        .count()
                )),
                StatusDataItemName::HighestModSeq => {
                    // A CONDSTORE-enabling command (RFC 7162 3.1).
                    self.condstore = true;
                    parts.push(format!("HIGHESTMODSEQ {}", st.highest_modseq))
                }
                _ => {}
            }
        }
        io.write(&format!(
            "* STATUS {} ({})\r\n{tag} OK STATUS completed\r\n",
            quote(name),
            parts.join(" ")
        ));
    }
}
