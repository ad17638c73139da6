//! SEARCH and UID SEARCH, with ESEARCH's RETURN options (RFC 4731) and
//! SEARCHRES's SAVE (RFC 5182; the saved variable itself is `searchres`'s).

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
        let returns = self.search_return.take();
        // No selection left (the mailbox went away in `sync`): answered there.
        let Some(hits) = self.search_hits(keys, uid, io) else {
            // RFC 5182 2.1 (from memory): "A SEARCH command with the SAVE
            // result option that caused the server to return the NO tagged
            // response sets the value of the search result variable to the
            // empty sequence."
            self.saved.clear();
            return;
        };
        // RFC 9051 6.4.4: "Note that IMAP4rev1 used SEARCH responses
        // [RFC3501] instead of ESEARCH responses. Clients that support only
        // IMAP4rev2 MUST ignore SEARCH responses." A rev2 session's SEARCH
        // without RETURN is answered as RETURN (ALL).
        let returns = returns.or_else(|| {
            self.rev2.then(|| crate::wire::esearch::SearchReturn {
                all: true,
                ..Default::default()
            })
        });
        if let Some(returns) = returns {
            self.answer_esearch(tag, &returns, &hits, uid, modseq_key, io);
            return;
        }
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

    /// RFC 4731 3.1: "If one or more result options described above are
    /// specified, the extended SEARCH command MUST return a single ESEARCH
    /// response [IMAP-ABNF], instead of the SEARCH response. An extended UID
    /// SEARCH command MUST cause an ESEARCH response with the UID indicator
    /// present." MIN, MAX and ALL are left out when nothing matched ("the
    /// server MUST NOT include the MIN result option in the ESEARCH response;
    /// however, it still MUST send the ESEARCH response"), COUNT never ("This
    /// result option MUST always be included in the ESEARCH response").
    /// (These sentences are quoted from memory of RFC 4731 3.1; they were
    /// not checked against the RFC's text here.) SAVE alone is answered by
    /// the tagged OK only, as in RFC 5182's first example.
    fn answer_esearch(
        &mut self,
        tag: &str,
        returns: &crate::wire::esearch::SearchReturn,
        hits: &[Hit],
        uid: bool,
        modseq_key: bool,
        io: &mut Io,
    ) {
        let number = |h: &Hit| if uid { h.uid } else { h.seq };
        if returns.save {
            let uids: Vec<u32> = hits.iter().map(|h| h.uid).collect();
            self.save_result(returns, &uids);
        }
        let done = format!(
            "{tag} OK {}SEARCH completed{}\r\n",
            if uid { "UID " } else { "" },
            if returns.save { ", result saved" } else { "" }
        );
        if !returns.wants_esearch() {
            io.write(&done);
            return;
        }
        let mut line = format!("* ESEARCH (TAG {})", super::super::session::quote(tag));
        if uid {
            line.push_str(" UID");
        }
        let (first, last) = (hits.first(), hits.last());
        if let (true, Some(h)) = (returns.min, first) {
            let _ = write!(line, " MIN {}", number(h));
        }
        if let (true, Some(h)) = (returns.max, last) {
            let _ = write!(line, " MAX {}", number(h));
        }
        if returns.count {
            let _ = write!(line, " COUNT {}", hits.len());
        }
        if returns.all && !hits.is_empty() {
            // Hits ascend by sequence number, hence by UID too.
            let numbers: Vec<u32> = hits.iter().map(number).collect();
            let _ = write!(line, " ALL {}", super::super::session::uid_ranges(&numbers));
        }
        if modseq_key && !hits.is_empty() {
            // RFC 7162 3.1.5: with a MODSEQ search criterion the ESEARCH
            // carries MODSEQ, the highest mod-sequence of the messages it
            // returns (of all found when ALL or COUNT was asked, else of the
            // MIN/MAX messages: this reading of 3.1.5 was not checked
            // against its text here).
            let highest = if returns.all || returns.count {
                hits.iter().map(|h| h.modseq).max()
            } else {
                [returns.min.then_some(first), returns.max.then_some(last)]
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|h| h.modseq)
                    .max()
            };
            if let Some(m) = highest {
                let _ = write!(line, " MODSEQ {m}");
            }
        }
        io.write(&format!("{line}\r\n{done}"));
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
