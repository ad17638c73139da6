//! APPEND, and the APPEND a disconnect cut short.

use std::sync::Arc;

use crate::server::faults::Fault;
use crate::server::imap::io::Io;
use crate::server::imap::session::Session;
use crate::server::store::{FlagSet, StoreError};

impl Session {
    /// The APPEND was cut mid-literal by a disconnect. Nothing is stored, except
    /// under the `partial-append-on-disconnect` fault (seed 002's server).
    pub fn client_cut_append(&mut self, partial: &[u8]) {
        if !self.ctx.faults.has(&Fault::PartialAppendOnDisconnect) {
            return;
        }
        let Some(user) = self.user.clone() else {
            return;
        };
        let line = crate::wire::decode::first_line(partial).to_string();
        let mut words = line.split(' ');
        let (_tag, cmd, mailbox) = (words.next(), words.next(), words.next());
        if !cmd.is_some_and(|c| c.eq_ignore_ascii_case("APPEND")) {
            return;
        }
        let Some(mailbox) = mailbox.map(|m| m.trim_matches('"').to_string()) else {
            return;
        };
        let Some(nl) = memchr::memchr(b'\n', partial) else {
            return;
        };
        let body: Arc<[u8]> = Arc::from(&partial[nl + 1..]);
        let now = chrono::Utc::now().timestamp();
        let _ = self
            .ctx
            .store
            .append(&user, &mailbox, body, FlagSet::default(), (now, 0), false);
    }

    pub(in crate::server::imap) fn cmd_append(
        &mut self,
        tag: &str,
        name: &str,
        flags: &[String],
        date: Option<(i64, i32)>,
        data: &[u8],
        io: &mut Io,
    ) {
        if data.is_empty() {
            io.write(&format!("{tag} NO [CANNOT] Empty message\r\n"));
            return;
        }
        let date = date.unwrap_or_else(|| (chrono::Utc::now().timestamp(), 0));
        let reuse = self.ctx.faults.has(&Fault::UidReuse);
        let fs = FlagSet::from_names(flags.iter().map(String::as_str));
        match self
            .ctx
            .store
            .append(self.user_str(), name, Arc::from(data), fs, date, reuse)
        {
            Ok((validity, uid)) => {
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.name == crate::server::store::normalize(name))
                {
                    self.sync(true, false, io);
                }
                io.write(&format!(
                    "{tag} OK [APPENDUID {validity} {uid}] APPEND completed\r\n"
                ));
            }
            Err(StoreError::NoSuchMailbox) => {
                io.write(&format!("{tag} NO [TRYCREATE] No such mailbox\r\n"))
            }
            Err(StoreError::OverQuota) if self.ctx.faults.has(&Fault::OverquotaPermanent) => {
                io.write(&format!("{tag} NO Quota exceeded\r\n"))
            }
            Err(e) => self.reply_store(tag, "APPEND", Err(e), io),
        }
    }
}
