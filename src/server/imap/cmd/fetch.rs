//! FETCH and UID FETCH: the sequence set resolved here, the items rendered in
//! `imap::fetch`.

use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) async fn cmd_fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        io: &mut Io,
    ) {
        self.sync(false, uid, io);
        let targets = self.resolve(set, uid);
        crate::server::imap::fetch::fetch(self, tag, &targets, items, uid, io).await;
    }
}
