//! APPEND of one message or of several (MULTIAPPEND, RFC 3502), and the
//! APPEND a disconnect cut short. A message over the APPENDLIMIT (RFC 7889)
//! never gets here: its literal is refused when announced (`read_command`).

use std::sync::Arc;

use crate::server::faults::Fault;
use crate::server::imap::io::Io;
use crate::server::imap::session::Session;
use crate::server::store::{FlagSet, StoreError};
use crate::wire::extended::AppendMessage;

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
        let data = match crate::server::message::stored_form(data) {
            Ok(d) => d,
            Err(why) => {
                io.write(&format!(
                    "{tag} NO [UNKNOWN-CTE] Cannot store {}\r\n",
                    why.0
                ));
                return;
            }
        };
        let date = date.unwrap_or_else(|| (chrono::Utc::now().timestamp(), 0));
        let reuse = self.ctx.faults.has(&Fault::UidReuse);
        let fs = FlagSet::from_names(flags.iter().map(String::as_str));
        match self
            .ctx
            .store
            .append(self.user_str(), name, Arc::from(&*data), fs, date, reuse)
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

    /// RFC 3502 6.3.11: "If the append is unsuccessful for any reason, the
    /// mailbox MUST be restored to its state before the APPEND attempt; no
    /// partial appending is permitted." Every message is checked (not empty,
    /// flags, date-time) before any is stored; the store appends them as one
    /// (`Store::append_all`). The UIDs go back as RFC 4315's `[APPENDUID
    /// uidvalidity uid-set]` ("resp-code-apnd = "APPENDUID" SP nz-number SP
    /// append-uid", "append-uid = uniqueid / uid-set": a set only for
    /// MULTIAPPEND).
    pub(in crate::server::imap) fn cmd_multiappend(
        &mut self,
        tag: &str,
        name: &str,
        messages: &[AppendMessage],
        command: &[u8],
        io: &mut Io,
    ) {
        if let Err(refused) = crate::server::imap::names::check_name(
            name.as_bytes(),
            self.ctx.limits.max_mailbox_name,
        ) {
            io.write(&format!("{tag} {}\r\n", refused.0));
            return;
        }
        let now = (chrono::Utc::now().timestamp(), 0);
        let mut items = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let n = i + 1;
            let data = m.bytes(command);
            if data.is_empty() {
                io.write(&format!(
                    "{tag} NO [CANNOT] Message {n} is empty; nothing was appended\r\n"
                ));
                return;
            }
            // RFC 3501 9: `flag-list = "(" [flag *(SP flag)] ")"`, and `flag`
            // has no \Recent ("\Recent" is `flag-fetch` only).
            if m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")) {
                io.write(&format!(
                    "{tag} BAD Message {n}: \\Recent cannot be set by APPEND (RFC 3501 9)\r\n"
                ));
                return;
            }
            let date = match &m.date {
                None => now,
                Some(d) => match date_time(d) {
                    Some(d) => d,
                    None => {
                        io.write(&format!(
                            "{tag} BAD Message {n}: date-time \"{d}\" is not dd-Mon-yyyy hh:mm:ss +zzzz (RFC 3501 9)\r\n"
                        ));
                        return;
                    }
                },
            };
            let data = match crate::server::message::stored_form(data) {
                Ok(d) => d,
                Err(why) => {
                    io.write(&format!(
                        "{tag} NO [UNKNOWN-CTE] Message {n}: cannot store {}; nothing was appended\r\n",
                        why.0
                    ));
                    return;
                }
            };
            let fs = FlagSet::from_names(m.flags.iter().map(String::as_str));
            items.push((Arc::from(&*data), fs, date));
        }
        match self.ctx.store.append_all(self.user_str(), name, items) {
            Ok((validity, uids)) => {
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.name == crate::server::store::normalize(name))
                {
                    self.sync(true, false, io);
                }
                io.write(&format!(
                    "{tag} OK [APPENDUID {validity} {}] APPEND completed\r\n",
                    crate::server::imap::session::uid_list(&uids)
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

/// RFC 3501 9: `date-time = DQUOTE date-day-fixed "-" date-month "-"
/// date-year SP time SP zone DQUOTE` (the quotes already gone), with
/// `date-day-fixed = (SP DIGIT) / 2DIGIT`. As (seconds, zone offset).
fn date_time(s: &str) -> Option<(i64, i32)> {
    let s = s.strip_prefix(' ').unwrap_or(s);
    let d = chrono::DateTime::parse_from_str(s, "%d-%b-%Y %H:%M:%S %z").ok()?;
    Some((d.timestamp(), d.offset().local_minus_utc()))
}
