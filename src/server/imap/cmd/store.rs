//! STORE and UID STORE, with CONDSTORE's UNCHANGEDSINCE (RFC 7162 3.1.3).

use std::sync::Arc;

use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::faults::Fault;
use crate::server::imap::io::Io;
use crate::server::imap::session::{uid_ranges, Session};
use crate::server::store::FlagSet;

/// What a STORE asks besides its sequence set.
pub struct StoreArgs<'a> {
    pub kind: StoreType,
    pub response: StoreResponse,
    pub flags: &'a [Flag<'a>],
    pub uid: bool,
    /// `(UNCHANGEDSINCE n)`: only messages whose mod-sequence is at most n
    /// are changed.
    pub unchanged_since: Option<u64>,
}

impl Session {
    pub(in crate::server::imap) fn cmd_store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        args: StoreArgs<'_>,
        io: &mut Io,
    ) {
        let uid = args.uid;
        if args.unchanged_since.is_some() {
            // A CONDSTORE-enabling command (RFC 7162 3.1).
            self.condstore = true;
        }
        self.sync(false, uid, io);
        let targets = self.resolve(set, uid);
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        let mb = Arc::clone(&sel.mailbox);
        let names: Vec<String> = args.flags.iter().map(|f| f.to_string()).collect();
        let mut updates = Vec::new();
        {
            let st = mb.lock();
            for &(_, u) in &targets {
                let Some(i) = st.index_of(u) else { continue };
                let mut f = st.messages[i].flags.clone();
                match args.kind {
                    StoreType::Replace => f = FlagSet::from_names(names.iter().map(String::as_str)),
                    StoreType::Add => names.iter().for_each(|n| f.add(n)),
                    StoreType::Remove => names.iter().for_each(|n| f.remove(n)),
                }
                updates.push((u, f));
            }
        }
        // The fault `unchangedsince-ignored`: the test is skipped.
        let unchanged_since = args
            .unchanged_since
            .filter(|_| !self.ctx.faults.has(&Fault::UnchangedsinceIgnored));
        let failed =
            match self
                .ctx
                .store
                .set_flags(self.user_str(), &mb, &updates, self.id, unchanged_since)
            {
                Ok(failed) => failed,
                Err(e) => {
                    self.reply_store(tag, "STORE", Err(e), io);
                    return;
                }
            };
        let st = mb.lock();
        self.announce_keywords(&st, io);
        // RFC 7162 3.1.3: under UNCHANGEDSINCE "An untagged FETCH response
        // MUST be sent, even if the .SILENT suffix is specified, and the
        // response MUST include the MODSEQ message data item."
        let answer =
            matches!(args.response, StoreResponse::Answer) || args.unchanged_since.is_some();
        let mut modified = Vec::new();
        for &(seq, u) in &targets {
            if failed.contains(&u) {
                modified.push(if uid { u } else { seq });
                continue;
            }
            if !answer {
                continue;
            }
            let Some(i) = st.index_of(u) else { continue };
            let m = &st.messages[i];
            let mut names = m.flags.names();
            if self.is_recent(u) {
                names.push("\\Recent".into());
            }
            let list = self.flag_list(&names);
            if self.condstore {
                io.write(&format!(
                    "* {seq} FETCH (FLAGS {list} UID {u} MODSEQ ({}))\r\n",
                    m.modseq
                ));
            } else if uid {
                io.write(&format!("* {seq} FETCH (FLAGS {list} UID {u})\r\n"));
            } else {
                io.write(&format!("* {seq} FETCH (FLAGS {list})\r\n"));
            }
        }
        drop(st);
        let what = if uid { "UID STORE" } else { "STORE" };
        if modified.is_empty() {
            io.write(&format!("{tag} OK {what} completed\r\n"));
        } else {
            // RFC 7162 3.1.3: "the server MUST return in the tagged response
            // a MODIFIED response code" naming the messages (sequence
            // numbers, or UIDs for UID STORE) that failed the test.
            modified.sort_unstable();
            io.write(&format!(
                "{tag} OK [MODIFIED {}] Conditional {what} failed for some messages\r\n",
                uid_ranges(&modified)
            ));
        }
    }
}
