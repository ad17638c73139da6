//! STATUS.

use imap_codec::imap_types::status::StatusDataItemName;

use crate::server::imap::io::Io;
use crate::server::imap::session::{quote, Session};
use crate::server::store::flags as fl;

impl Session {
    pub(in crate::server::imap) fn cmd_status(
        &self,
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
                StatusDataItemName::Recent => parts.push(format!(
                    "RECENT {}",
                    st.messages.iter().filter(|m| m.recent_owner == 0).count()
                )),
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
