//! COPY, MOVE and their UID forms.

use std::sync::Arc;

use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::imap::io::Io;
use crate::server::imap::session::{uid_list, Session};

impl Session {
    pub(in crate::server::imap) fn cmd_copy(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        dest: &str,
        uid: bool,
        is_move: bool,
        io: &mut Io,
    ) {
        self.sync(!is_move || uid, uid, io);
        let targets = self.resolve(set, uid);
        let Some(sel) = &self.selected else { return };
        if is_move && sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        if self.ctx.store.mailbox(self.user_str(), dest).is_none() {
            io.write(&format!("{tag} NO [TRYCREATE] No such mailbox\r\n"));
            return;
        }
        let src = Arc::clone(&sel.mailbox);
        let msgs: Vec<_> = {
            let st = src.lock();
            targets
                .iter()
                .filter_map(|&(_, u)| st.visible(u).cloned())
                .collect()
        };
        let mut src_uids = Vec::new();
        let mut dst_uids = Vec::new();
        let mut validity = 0;
        for m in msgs {
            match self.ctx.store.append(
                self.user_str(),
                dest,
                m.data.clone(),
                m.flags.clone(),
                (m.internal_date, m.zone),
                false,
            ) {
                Ok((v, u)) => {
                    validity = v;
                    src_uids.push(m.uid);
                    dst_uids.push(u);
                }
                Err(e) => {
                    self.reply_store(tag, if is_move { "MOVE" } else { "COPY" }, Err(e), io);
                    return;
                }
            }
        }
        let code = if src_uids.is_empty() {
            String::new()
        } else {
            format!(
                "[COPYUID {validity} {} {}] ",
                uid_list(&src_uids),
                uid_list(&dst_uids)
            )
        };
        if is_move {
            if !code.is_empty() {
                io.write(&format!("* OK {code}Moved\r\n"));
            }
            if let Err(e) = self.ctx.store.expunge(self.user_str(), &src, &src_uids) {
                self.reply_store(tag, "MOVE", Err(e), io);
                return;
            }
            self.sync(true, uid, io);
            io.write(&format!("{tag} OK MOVE completed\r\n"));
        } else {
            if self
                .selected
                .as_ref()
                .is_some_and(|s| s.name == crate::server::store::normalize(dest))
            {
                self.sync(true, uid, io);
            }
            io.write(&format!("{tag} OK {code}COPY completed\r\n"));
        }
    }
}
