//! GETQUOTAROOT, GETQUOTA and SETQUOTA (RFC 9208).

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) fn cmd_getquotaroot(&self, tag: &str, name: &str, io: &mut Io) {
        if self.ctx.store.mailbox(self.user_str(), name).is_none() {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
        } else {
            if self.ctx.store.quota(self.user_str()).is_some() {
                io.write(&format!("* QUOTAROOT {} \"\"\r\n", self.shown_name(name)));
                self.quota_line(io);
            } else {
                // No quota: the mailbox has no quota root (RFC 9208 4.3.2).
                io.write(&format!("* QUOTAROOT {}\r\n", self.shown_name(name)));
            }
            io.write(&format!("{tag} OK GETQUOTAROOT completed\r\n"));
        }
    }

    pub(in crate::server::imap) fn cmd_getquota(&self, tag: &str, root: &[u8], io: &mut Io) {
        if !root.is_empty() || self.ctx.store.quota(self.user_str()).is_none() {
            io.write(&format!("{tag} NO [NONEXISTENT] No such quota root\r\n"));
        } else {
            self.quota_line(io);
            io.write(&format!("{tag} OK GETQUOTA completed\r\n"));
        }
    }

    pub(in crate::server::imap) fn cmd_setquota(&self, tag: &str, io: &mut Io) {
        io.write(&format!(
            "{tag} NO [NOPERM] Quotas are set by the administrator\r\n"
        ));
    }

    fn quota_line(&self, io: &mut Io) {
        if let Some((used, limit)) = self.ctx.store.quota(self.user_str()) {
            io.write(&format!(
                "* QUOTA \"\" (STORAGE {} {})\r\n",
                used.div_ceil(1024),
                limit / 1024
            ));
        }
    }
}
