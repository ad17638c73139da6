//! CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE.

use crate::server::imap::io::Io;
use crate::server::imap::session::{quote, store_reply, Session};
use crate::wire::extended::SPECIAL_USES;

impl Session {
    pub(in crate::server::imap) fn cmd_create(&mut self, tag: &str, name: &str, io: &mut Io) {
        let reply = match self.create_mailbox(name) {
            Ok(_) => "OK CREATE completed".to_string(),
            Err(reply) => reply,
        };
        io.write(&format!("{tag} {reply}\r\n"));
    }

    /// Makes a mailbox (and its superiors); the name made, or the tagged
    /// reply (after the tag) that refuses it.
    fn create_mailbox(&mut self, name: &str) -> Result<String, String> {
        if let Some(prefix) = &self.ctx.personal_namespace {
            // Like Courier: mailboxes live under the personal namespace.
            if !name.starts_with(prefix.as_str()) {
                return Err(format!(
                    "NO [CANNOT] Mailboxes are created under \"{prefix}\" (NAMESPACE)"
                ));
            }
        }
        let delimiter = self.ctx.delimiter();
        let name = name.trim_end_matches(delimiter);
        self.create_superiors(name);
        match self.ctx.store.create(self.user_str(), name) {
            Ok(()) => Ok(name.to_string()),
            Err(e) => Err(store_reply("CREATE", Err(e))),
        }
    }

    /// CREATE with a USE list (RFC 6154 3, CREATE-SPECIAL-USE).
    pub(in crate::server::imap) fn cmd_create_special_use(
        &mut self,
        tag: &str,
        name: &str,
        uses: &[String],
        io: &mut Io,
    ) {
        // RFC 6154 3: "If the server cannot create a mailbox with the
        // designated special use defined, for whatever reason, it MUST NOT
        // create the mailbox, and MUST respond to the CREATE command with a
        // tagged NO response. If the reason for the failure is related to
        // the special-use attribute (the specified special use is not
        // supported or cannot be assigned to the specified mailbox), the
        // server SHOULD include the new "USEATTR" response code in the tagged
        // response".
        let mut seen: Vec<String> = Vec::new();
        for attr in uses {
            let Some(known) = SPECIAL_USES.iter().find(|k| k.eq_ignore_ascii_case(attr)) else {
                io.write(&format!(
                    "{tag} NO [USEATTR] {attr} is not a special use this server supports\r\n"
                ));
                return;
            };
            if let Some(holder) = self.ctx.store.special_use_holder(self.user_str(), known) {
                // One mailbox per use, as Dovecot and Cyrus keep it: a second
                // \Sent would leave clients to guess.
                io.write(&format!(
                    "{tag} NO [USEATTR] {known} is already the use of {}\r\n",
                    quote(&holder)
                ));
                return;
            }
            if !seen.iter().any(|s| s == known) {
                seen.push(known.to_string());
            }
        }
        let made = match self.create_mailbox(name) {
            Ok(made) => made,
            Err(reply) => {
                io.write(&format!("{tag} {reply}\r\n"));
                return;
            }
        };
        let user = self.user_str().to_string();
        match self.ctx.store.set_special_use(&user, &made, &seen) {
            Ok(()) => io.write(&format!("{tag} OK CREATE completed\r\n")),
            Err(e) => {
                // "it MUST NOT create the mailbox": take it back.
                let _ = self.ctx.store.delete(&user, &made);
                self.reply_store(tag, "CREATE", Err(e), io);
            }
        }
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
