//! EXPUNGE and UID EXPUNGE.

use std::sync::Arc;

use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::imap::io::Io;
use crate::server::imap::session::{deleted_uids, Session};

impl Session {
    pub(in crate::server::imap) fn cmd_expunge(
        &mut self,
        tag: &str,
        set: Option<&SequenceSet>,
        io: &mut Io,
    ) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        let only: Option<Vec<u32>> =
            set.map(|s| self.resolve(s, true).into_iter().map(|(_, u)| u).collect());
        let uids = deleted_uids(&sel.mailbox, only.as_deref());
        let mb = Arc::clone(&sel.mailbox);
        if let Err(e) = self.ctx.store.expunge(self.user_str(), &mb, &uids) {
            self.reply_store(tag, "EXPUNGE", Err(e), io);
            return;
        }
        self.sync(true, false, io);
        io.write(&format!("{tag} OK EXPUNGE completed\r\n"));
    }
}
