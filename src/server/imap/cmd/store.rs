//! STORE and UID STORE.

use std::sync::Arc;

use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;
use crate::server::store::FlagSet;

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(in crate::server::imap) fn cmd_store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: &[Flag<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        self.sync(false, uid, io);
        let targets = self.resolve(set, uid);
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        let mb = Arc::clone(&sel.mailbox);
        let names: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        let mut updates = Vec::new();
        {
            let st = mb.lock();
            for &(_, u) in &targets {
                let Some(i) = st.index_of(u) else { continue };
                let mut f = st.messages[i].flags.clone();
                match kind {
                    StoreType::Replace => f = FlagSet::from_names(names.iter().map(String::as_str)),
                    StoreType::Add => names.iter().for_each(|n| f.add(n)),
                    StoreType::Remove => names.iter().for_each(|n| f.remove(n)),
                }
                updates.push((u, f));
            }
        }
        if let Err(e) = self
            .ctx
            .store
            .set_flags(self.user_str(), &mb, &updates, self.id)
        {
            self.reply_store(tag, "STORE", Err(e), io);
            return;
        }
        let st = mb.lock();
        self.announce_keywords(&st, io);
        if matches!(response, StoreResponse::Answer) {
            for &(seq, u) in &targets {
                let Some(i) = st.index_of(u) else { continue };
                let m = &st.messages[i];
                let mut names = m.flags.names();
                if self.is_recent(u) {
                    names.push("\\Recent".into());
                }
                let list = self.flag_list(&names);
                if uid {
                    io.write(&format!("* {seq} FETCH (FLAGS {list} UID {u})\r\n"));
                } else {
                    io.write(&format!("* {seq} FETCH (FLAGS {list})\r\n"));
                }
            }
        }
        drop(st);
        io.write(&format!(
            "{tag} OK {}STORE completed\r\n",
            if uid { "UID " } else { "" }
        ));
    }
}
