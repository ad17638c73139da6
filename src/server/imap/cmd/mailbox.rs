//! CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE.

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) fn cmd_create(&mut self, tag: &str, name: &str, io: &mut Io) {
        let r = self
            .ctx
            .store
            .create(self.user_str(), name.trim_end_matches('/'));
        self.reply_store(tag, "CREATE", r, io);
    }

    pub(in crate::server::imap) fn cmd_delete(&mut self, tag: &str, name: &str, io: &mut Io) {
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.name == crate::server::store::normalize(name))
        {
            self.selected = None;
        }
        let r = self.ctx.store.delete(self.user_str(), name);
        self.reply_store(tag, "DELETE", r, io);
    }

    pub(in crate::server::imap) fn cmd_rename(
        &mut self,
        tag: &str,
        from: &str,
        to: &str,
        io: &mut Io,
    ) {
        let r = self.ctx.store.rename(self.user_str(), from, to);
        self.reply_store(tag, "RENAME", r, io);
    }

    /// SUBSCRIBE (`on`) or UNSUBSCRIBE.
    pub(in crate::server::imap) fn cmd_subscribe(
        &mut self,
        tag: &str,
        name: &str,
        on: bool,
        io: &mut Io,
    ) {
        let r = self.ctx.store.subscribe(self.user_str(), name, on);
        self.reply_store(tag, if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" }, r, io);
    }
}
