//! FETCH and UID FETCH: the sequence set resolved here, with CONDSTORE's
//! CHANGEDSINCE and QRESYNC's VANISHED modifiers (RFC 7162 3.1.4.1, 3.2.6);
//! the items rendered in `imap::fetch`.

use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::sequence::SequenceSet;

use super::select::vanished_uids;
use crate::server::imap::io::Io;
use crate::server::imap::session::{uid_ranges, Session};
use crate::server::seqset;

impl Session {
    pub(in crate::server::imap) async fn cmd_fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        modifiers: &[FetchModifier],
        io: &mut Io,
    ) {
        let changed_since = modifiers.iter().find_map(|m| match m {
            FetchModifier::ChangedSince(n) => Some(n.get()),
            FetchModifier::Vanished => None,
        });
        let vanished = modifiers.contains(&FetchModifier::Vanished);
        if vanished && !(uid && changed_since.is_some() && self.qresync) {
            // RFC 7162 3.2.6: VANISHED only in UID FETCH, with CHANGEDSINCE,
            // after ENABLE QRESYNC; "the server MUST respond with a tagged
            // BAD response" otherwise.
            io.write(&format!(
                "{tag} BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC\r\n"
            ));
            return;
        }
        let asks_modseq = match &items {
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => {
                v.iter().any(|n| matches!(n, MessageDataItemName::ModSeq))
            }
            MacroOrMessageDataItemNames::Macro(_) => false,
        };
        if changed_since.is_some() || asks_modseq {
            // CONDSTORE-enabling (RFC 7162 3.1).
            self.condstore = true;
        }
        self.sync(false, uid, io);
        let mut targets = self.resolve(set, uid);
        if let (Some(since), Some(sel)) = (changed_since, &self.selected) {
            let st = sel.mailbox.lock();
            if vanished {
                // RFC 7162 3.2.6: the UIDs of the set expunged since, first.
                let max = st.uid_next.saturating_sub(1);
                let gone = vanished_uids(&st, since, Some(&seqset::ranges(set, max)));
                if !gone.is_empty() {
                    io.write(&format!("* VANISHED (EARLIER) {}\r\n", uid_ranges(&gone)));
                }
            }
            // RFC 7162 3.1.4.1: only "messages that have a mod-sequence
            // value greater than" CHANGEDSINCE's.
            targets.retain(|&(_, u)| st.visible(u).is_some_and(|m| m.modseq > since));
        }
        crate::server::imap::fetch::fetch(
            self,
            tag,
            &targets,
            items,
            uid,
            changed_since.is_some(),
            io,
        )
        .await;
    }
}
