//! SEARCH and UID SEARCH.

use std::fmt::Write as _;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

/// A message a search found: its sequence number, UID and mod-sequence.
#[derive(Debug, Clone, Copy)]
pub(in crate::server::imap) struct Hit {
    pub seq: u32,
    pub uid: u32,
    pub modseq: u64,
}

impl Session {
    pub(in crate::server::imap) fn cmd_search(
        &mut self,
        tag: &str,
        keys: &[imap_codec::imap_types::search::SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        let modseq_key = keys.iter().any(crate::server::search::uses_modseq);
        // No selection left (the mailbox went away in `sync`): answered there.
        let Some(hits) = self.search_hits(keys, uid, io) else {
            return;
        };
        let mut line = String::from("* SEARCH");
        for h in &hits {
            let _ = write!(line, " {}", if uid { h.uid } else { h.seq });
        }
        if modseq_key && !hits.is_empty() {
            // RFC 7162 3.1.6: the highest mod-sequence of the messages found.
            let highest = hits.iter().map(|h| h.modseq).max().unwrap_or(0);
            let _ = write!(line, " (MODSEQ {highest})");
        }
        io.write(&format!(
            "{line}\r\n{tag} OK {}SEARCH completed\r\n",
            if uid { "UID " } else { "" }
        ));
    }

    /// The messages of the selected mailbox that match every key, in
    /// sequence-number order, after the session is brought up to date (the
    /// search is of what the client can see). SEARCH, SORT and THREAD share it.
    pub(in crate::server::imap) fn search_hits(
        &mut self,
        keys: &[imap_codec::imap_types::search::SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) -> Option<Vec<Hit>> {
        if keys.iter().any(crate::server::search::uses_modseq) {
            // A CONDSTORE-enabling command (RFC 7162 3.1).
            self.condstore = true;
        }
        self.sync(false, uid, io);
        let sel = self.selected.as_ref()?;
        let st = sel.mailbox.lock();
        let cx = crate::server::search::SearchContext::new(
            sel.uids.len() as u32,
            sel.uids.last().copied().unwrap_or(0),
        );
        let mut hits = Vec::new();
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
                hits.push(Hit {
                    seq: i as u32 + 1,
                    uid: u,
                    modseq: m.modseq,
                });
            }
        }
        Some(hits)
    }
}
