//! SELECT, EXAMINE, CLOSE, UNSELECT, NOOP and CHECK: entering and leaving the
//! Selected state, and asking for what changed.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::server::faults::Fault;
use crate::server::imap::io::Io;
use crate::server::imap::session::{deleted_uids, mailbox_flags, Selected, Session};
use crate::server::store::flags as fl;

impl Session {
    pub(in crate::server::imap) fn cmd_select(
        &mut self,
        tag: &str,
        name: &str,
        read_only: bool,
        io: &mut Io,
    ) {
        self.selected = None;
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        let no_backslash = self.no_backslash();
        let (sel, unseen, validity, next, flags) = {
            let mut st = mb.lock();
            let mut sel = Selected::open(name, Arc::clone(&mb), &mut st, read_only);
            sel.uids.reserve(st.messages.len());
            let mut unseen = None;
            for (i, m) in st.messages.iter_mut().enumerate() {
                sel.take_in(m);
                if unseen.is_none() && !m.flags.has(fl::SEEN) {
                    unseen = Some(i + 1);
                }
            }
            sel.keywords_seen = st.keywords.len();
            let flags = mailbox_flags(&st.keywords, read_only, no_backslash);
            (sel, unseen, st.uid_validity, st.uid_next, flags)
        };
        let _ = write!(
            io.out_string(),
            "{flags}* {} EXISTS\r\n* {} RECENT\r\n",
            sel.uids.len(),
            sel.recent.len()
        );
        if let Some(u) = unseen {
            io.write(&format!("* OK [UNSEEN {u}] First unseen\r\n"));
        }
        io.write(&format!("* OK [UIDVALIDITY {validity}] UIDs valid\r\n* OK [UIDNEXT {next}] Predicted next UID\r\n"));
        io.write(&format!(
            "{tag} OK [{}] {} completed\r\n",
            if read_only { "READ-ONLY" } else { "READ-WRITE" },
            if read_only { "EXAMINE" } else { "SELECT" }
        ));
        self.selected = Some(sel);
    }

    pub(in crate::server::imap) fn cmd_close(&mut self, tag: &str, io: &mut Io) {
        if let Some(sel) = self.selected.take() {
            if !sel.read_only {
                let deleted = deleted_uids(&sel.mailbox, None);
                let _ = self
                    .ctx
                    .store
                    .expunge(self.user_str(), &sel.mailbox, &deleted);
            }
        }
        io.write(&format!("{tag} OK CLOSE completed\r\n"));
    }

    pub(in crate::server::imap) fn cmd_unselect(&mut self, tag: &str, io: &mut Io) {
        self.selected = None;
        io.write(&format!("{tag} OK UNSELECT completed\r\n"));
    }

    /// NOOP or CHECK (`what` names which).
    pub(in crate::server::imap) fn cmd_noop(&mut self, tag: &str, what: &str, io: &mut Io) {
        self.noop(io);
        io.write(&format!("{tag} OK {what} completed\r\n"));
    }

    /// NOOP/CHECK: report every change, and the seed-000 lagging index if on.
    fn noop(&mut self, io: &mut Io) {
        self.sync(true, false, io);
        if !self.ctx.faults.has(&Fault::StaleNoopAfterExpunge) {
            return;
        }
        if let Some(sel) = self.selected.as_mut() {
            if sel.lagging_index {
                // The index has not heard of the expunge yet: it still counts the
                // expunged message, so the client sees one message too many, and
                // the last message's UID at the phantom's sequence number.
                sel.lagging_index = false;
                if let Some(&last) = sel.uids.last() {
                    sel.uids.push(last);
                    io.write(&format!(
                        "* {} EXISTS\r\n* {} RECENT\r\n",
                        sel.uids.len(),
                        sel.recent.len()
                    ));
                }
            }
        }
    }
}
