//! CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE.

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) fn cmd_create(&mut self, tag: &str, name: &str, io: &mut Io) {
        if let Some(prefix) = &self.ctx.personal_namespace {
            // Like Courier: mailboxes live under the personal namespace.
            if !name.starts_with(prefix.as_str()) {
                io.write(&format!(
                    "{tag} NO [CANNOT] Mailboxes are created under \"{prefix}\" (NAMESPACE)\r\n"
                ));
                return;
            }
        }
        let delimiter = self.ctx.delimiter();
        let name = name.trim_end_matches(delimiter);
        self.create_superiors(name);
        let r = self.ctx.store.create(self.user_str(), name);
        self.reply_store(tag, "CREATE", r, io);
    }

    /// RFC 3501 6.3.3 (and 6.3.5 for RENAME): "the server SHOULD create any
    /// superior hierarchical names that are needed for the CREATE command to
    /// be successfully completed" — CREATE foo/bar/zap makes foo and foo/bar.
    /// One that exists already is kept as it is.
    fn create_superiors(&self, name: &str) {
        let delimiter = self.ctx.delimiter();
        for (i, _) in name.match_indices(delimiter) {
            let superior = &name[..i];
            if superior.is_empty()
                || self
                    .ctx
                    .personal_namespace
                    .as_deref()
                    .is_some_and(|p| p.starts_with(superior))
            {
                // The namespace prefix itself ("INBOX." holds "INBOX") is
                // not a name to create.
                continue;
            }
            if self.ctx.store.mailbox(self.user_str(), superior).is_none() {
                let _ = self.ctx.store.create(self.user_str(), superior);
            }
        }
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
        let user = self.user_str();
        if self.ctx.store.mailbox(user, from).is_some()
            && self.ctx.store.mailbox(user, to).is_none()
        {
            self.create_superiors(to);
        }
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
