//! SEARCH and UID SEARCH.

use std::fmt::Write as _;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) fn cmd_search(
        &mut self,
        tag: &str,
        keys: &[imap_codec::imap_types::search::SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        let modseq_key = keys.iter().any(crate::server::search::uses_modseq);
        if modseq_key {
            // A CONDSTORE-enabling command (RFC 7162 3.1).
            self.condstore = true;
        }
        self.sync(false, uid, io);
        let Some(sel) = &self.selected else { return };
        let st = sel.mailbox.lock();
        let cx = crate::server::search::SearchContext::new(
            sel.uids.len() as u32,
            sel.uids.last().copied().unwrap_or(0),
        );
        let mut hits = Vec::new();
        let mut highest = 0;
        for (i, &u) in sel.uids.iter().enumerate() {
            // An expunge not yet reported is not yet seen either (RFC 2180
            // 4.1.1, see `Views`): the message is still searched.
            let Some(m) = st.visible(u) else { continue };
            let names = m.flags.names();
            let date = chrono::DateTime::from_timestamp(m.internal_date, 0)
                .map(|d| d.fixed_offset())
                .unwrap_or_default();
            let c = crate::server::search::Candidate {
                seq: i as u32 + 1,
                uid: u,
                flags: &names,
                recent: sel.recent.contains(&u),
                internal_date: date,
                size: m.data.len() as u32,
                raw: &m.data,
                modseq: m.modseq,
            };
            if keys
                .iter()
                .all(|k| crate::server::search::matches(k, &c, &cx))
            {
                hits.push(if uid { u } else { i as u32 + 1 });
                highest = highest.max(m.modseq);
            }
        }
        drop(st);
        let mut line = String::from("* SEARCH");
        let any = !hits.is_empty();
        for h in hits {
            let _ = write!(line, " {h}");
        }
        if modseq_key && any {
            // RFC 7162 3.1.6: the highest mod-sequence of the messages found.
            let _ = write!(line, " (MODSEQ {highest})");
        }
        io.write(&format!(
            "{line}\r\n{tag} OK {}SEARCH completed\r\n",
            if uid { "UID " } else { "" }
        ));
    }
}
