//! SELECT, EXAMINE, CLOSE, UNSELECT, NOOP and CHECK: entering and leaving the
//! Selected state, and asking for what changed.

use std::fmt::Write as _;
use std::sync::Arc;

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::faults::Fault;
use crate::server::imap::io::Io;
use crate::server::imap::session::{
    deleted_uids, flag_list_raw, mailbox_flags, uid_ranges, Selected, Session,
};
use crate::server::seqset;
use crate::server::store::{flags as fl, MailboxState};

/// The UIDs expunged after mod-sequence `since`, within `known` (ranges)
/// when given, ascending. When the mailbox's record of expunges does not
/// reach back to `since`, every UID below UIDNEXT that is not in the mailbox
/// is named: a UID the client never had is gone either way and harmless to
/// name, while one left out would stay in the client's cache forever.
pub(in crate::server::imap) fn vanished_uids(
    st: &MailboxState,
    since: u64,
    known: Option<&[(u32, u32)]>,
) -> Vec<u32> {
    // `known` is normalised (`seqset::ranges`): one binary search per UID,
    // however many ranges the client sent.
    let in_known = |u: u32| known.is_none_or(|r| seqset::contains(r, u));
    match st.vanished_since(since) {
        Some(uids) => uids.into_iter().filter(|&u| in_known(u)).collect(),
        None => {
            let present: std::collections::HashSet<u32> =
                st.messages.iter().map(|m| m.uid).collect();
            let ranges: Vec<(u32, u32)> = match known {
                Some(r) => r.to_vec(),
                None => vec![(1, st.uid_next.saturating_sub(1))],
            };
            let mut out = Vec::new();
            for (lo, hi) in ranges {
                for u in lo.max(1)..=hi.min(st.uid_next.saturating_sub(1)) {
                    if !present.contains(&u) {
                        out.push(u);
                    }
                    if out.len() >= 1_000_000 {
                        return out;
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

impl Session {
    pub(in crate::server::imap) fn cmd_select(
        &mut self,
        tag: &str,
        name: &str,
        read_only: bool,
        parameters: &[SelectParameter],
        io: &mut Io,
    ) {
        // RFC 5182 2.1: the search result variable is reset to the empty
        // sequence by SELECT and EXAMINE (quoted in `searchres`).
        self.saved.clear();
        let mut qresync = None;
        for p in parameters {
            match p {
                // A CONDSTORE-enabling command (RFC 7162 3.1.8).
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync {
                    uid_validity,
                    mod_sequence_value,
                    known_uids,
                    ..
                } => {
                    // RFC 7162 3.2.5: "A server MUST respond with a tagged BAD
                    // response if the Quick Resynchronization parameter to
                    // SELECT/EXAMINE command or the VANISHED UID FETCH modifier
                    // is specified and the client hasn't issued "ENABLE
                    // QRESYNC" in the current connection."
                    if !self.qresync {
                        io.write(&format!("{tag} BAD QRESYNC is not enabled\r\n"));
                        return;
                    }
                    qresync = Some((uid_validity.get(), mod_sequence_value.get(), known_uids));
                }
            }
        }
        // RFC 7162 3.2.11: with QRESYNC on, leaving a mailbox by selecting
        // another is marked with `OK [CLOSED]`, so the client can tell the
        // old mailbox's responses from the new one's.
        // RFC 9051 6.3.2 makes the same `[CLOSED]` part of IMAP4rev2.
        if self.selected.take().is_some() && (self.qresync || self.rev2) {
            io.write("* OK [CLOSED] Previous mailbox closed\r\n");
        }
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        let no_backslash = self.no_backslash();
        let reset_modseqs = self.ctx.faults.has(&Fault::ModseqReset);
        let (sel, unseen, validity, next, flags, highest, resync) = {
            let mut st = mb.lock();
            if reset_modseqs && st.modseq_index_dirty {
                // The fault: an index that lost its flag changes is rebuilt
                // from nothing when the mailbox is opened again, under the
                // same UIDVALIDITY.
                st.modseq_index_dirty = false;
                for m in st.messages.iter_mut() {
                    m.modseq = 1;
                }
                st.highest_modseq = 1;
            }
            let mut sel = Selected::open(name, Arc::clone(&mb), &mut st, read_only, self.rev2);
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
            let resync = qresync
                .filter(|(v, ..)| *v == st.uid_validity)
                .map(|(_, since, known)| self.qresync_answer(&st, &sel, since, known.as_ref()));
            (
                sel,
                unseen,
                st.uid_validity,
                st.uid_next,
                flags,
                st.highest_modseq,
                resync,
            )
        };
        io.write(&flags);
        sel.write_counts(io);
        if self.rev2 {
            // RFC 9051 6.3.2 lists LIST among SELECT's REQUIRED untagged
            // responses, with the mailbox's name and accurate attributes; the
            // first-unseen code is not among them.
            io.write(&self.list_line(name));
        } else if let Some(u) = unseen {
            io.write(&format!("* OK [UNSEEN {u}] First unseen\r\n"));
        }
        io.write(&format!("* OK [UIDVALIDITY {validity}] UIDs valid\r\n* OK [UIDNEXT {next}] Predicted next UID\r\n"));
        // RFC 7162 3.1.2.1: "A server supporting the persistent storage of
        // mod-sequences for the mailbox MUST send the OK untagged response
        // including HIGHESTMODSEQ response code with every successful SELECT
        // or EXAMINE command".
        io.write(&format!(
            "* OK [HIGHESTMODSEQ {highest}] Highest mod-sequence\r\n"
        ));
        if let Some(lines) = resync {
            io.write(&lines);
        }
        io.write(&format!(
            "{tag} OK [{}] {} completed\r\n",
            if read_only { "READ-ONLY" } else { "READ-WRITE" },
            if read_only { "EXAMINE" } else { "SELECT" }
        ));
        self.selected = Some(sel);
    }

    /// What SELECT (QRESYNC (uidvalidity modseq known-uids)) owes the client
    /// (RFC 7162 3.2.5.2): `* VANISHED (EARLIER)` for the known UIDs expunged
    /// since `since`, then the flags of every message changed since, with
    /// UID and MODSEQ.
    fn qresync_answer(
        &self,
        st: &MailboxState,
        sel: &Selected,
        since: u64,
        known: Option<&SequenceSet>,
    ) -> String {
        let max = st.uid_next.saturating_sub(1);
        let known = known.map(|k| seqset::ranges(k, max));
        let in_known = |u: u32| known.as_ref().is_none_or(|r| seqset::contains(r, u));
        let gone = vanished_uids(st, since, known.as_deref());
        let mut out = String::new();
        if !gone.is_empty() {
            let _ = write!(out, "* VANISHED (EARLIER) {}\r\n", uid_ranges(&gone));
        }
        let no_backslash = self.no_backslash();
        for (i, m) in st.messages.iter().enumerate() {
            if m.modseq > since && in_known(m.uid) {
                let mut names = m.flags.names();
                if sel.recent.contains(&m.uid) {
                    names.push("\\Recent".into());
                }
                let _ = write!(
                    out,
                    "* {} FETCH (UID {} FLAGS {} MODSEQ ({}))\r\n",
                    i + 1,
                    m.uid,
                    flag_list_raw(&names, no_backslash),
                    m.modseq
                );
            }
        }
        out
    }

    pub(in crate::server::imap) fn cmd_close(&mut self, tag: &str, io: &mut Io) {
        // No mailbox, no saved search result (RFC 5182 2.1).
        self.saved.clear();
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
        self.saved.clear();
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
                    sel.write_counts(io);
                }
            }
        }
    }
}
