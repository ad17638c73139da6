//! One connection's IMAP state (NotAuthenticated → Authenticated → Selected →
//! Logout) and the command handlers.
//!
//! A selected session keeps its own view of the mailbox (the UID of each
//! sequence number it has announced) and a cursor into the mailbox's change feed.
//! `sync` turns the changes other sessions made into untagged EXISTS, EXPUNGE and
//! FETCH responses, and sends EXPUNGE only where RFC 3501 7.4.1 allows it: never
//! while answering FETCH, STORE or SEARCH.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as MailboxName};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;

use super::io::{Io, ReadError};
use super::ServerCtx;
use crate::server::faults::Fault;
use crate::server::seqset;
use crate::server::store::{flags as fl, Change, FlagSet, Mailbox, StoreError};

pub enum Outcome {
    Continue,
    StartTls,
    Idle(String),
    Authenticate {
        tag: String,
        initial: Option<Vec<u8>>,
    },
    Logout,
}

/// The selected mailbox as this session has announced it.
pub struct Selected {
    pub name: String,
    pub mailbox: Arc<Mailbox>,
    pub read_only: bool,
    /// UID of each sequence number announced to the client.
    pub uids: Vec<u32>,
    /// Next change of the mailbox's feed to look at.
    pub cursor: u64,
    pub recent: u32,
    /// `stale-noop-after-expunge`: an expunge was reported; the next NOOP lags.
    pub lagging_index: bool,
}

pub struct Session {
    pub id: u64,
    pub ctx: Arc<ServerCtx>,
    user: Option<String>,
    pub selected: Option<Selected>,
}

const CAPS: &str = "IMAP4rev1 LITERAL+ IDLE UIDPLUS MOVE ENABLE ID NAMESPACE UNSELECT QUOTA QUOTA=RES-STORAGE AUTH=PLAIN";

impl Session {
    pub fn new(id: u64, ctx: Arc<ServerCtx>) -> Self {
        Session {
            id,
            ctx,
            user: None,
            selected: None,
        }
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    fn capabilities(&self, io: &Io) -> String {
        if self.ctx.tls.is_some() && !io.is_tls() {
            format!("{CAPS} STARTTLS")
        } else {
            CAPS.to_string()
        }
    }

    pub fn greet(&self, io: &mut Io) {
        let caps = self.capabilities(io);
        io.write(&format!(
            "* OK [CAPABILITY {caps}] imapspec reference server ready\r\n"
        ));
    }

    fn no_backslash(&self) -> bool {
        self.ctx.faults.has(&Fault::FlagsWithoutBackslash)
    }

    /// A flag list as the server writes it (the GMS fault drops backslashes).
    pub fn flag_list(&self, names: &[String]) -> String {
        let strip = self.no_backslash();
        let v: Vec<&str> = names
            .iter()
            .map(|n| {
                let system = [
                    "\\Seen",
                    "\\Answered",
                    "\\Flagged",
                    "\\Deleted",
                    "\\Draft",
                    "\\Recent",
                ]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(n));
                if strip && system {
                    &n[1..]
                } else {
                    n.as_str()
                }
            })
            .collect();
        format!("({})", v.join(" "))
    }

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

    pub async fn handle(&mut self, cmd: Command<'_>, io: &mut Io) -> Outcome {
        let tag = cmd.tag.as_ref().to_string();
        let authed = self.user.is_some();
        let selected = self.selected.is_some();
        let needs_auth = !matches!(
            cmd.body,
            CommandBody::Capability
                | CommandBody::Noop
                | CommandBody::Logout
                | CommandBody::StartTLS
                | CommandBody::Login { .. }
                | CommandBody::Authenticate { .. }
                | CommandBody::Id { .. }
        );
        if needs_auth && !authed {
            io.write(&format!("{tag} NO [AUTHENTICATIONFAILED] Log in first\r\n"));
            return Outcome::Continue;
        }
        let needs_select = matches!(
            cmd.body,
            CommandBody::Check
                | CommandBody::Close
                | CommandBody::Unselect
                | CommandBody::Expunge
                | CommandBody::ExpungeUid { .. }
                | CommandBody::Search { .. }
                | CommandBody::Fetch { .. }
                | CommandBody::Store { .. }
                | CommandBody::Copy { .. }
                | CommandBody::Move { .. }
        );
        if needs_select && !selected {
            io.write(&format!("{tag} BAD No mailbox selected\r\n"));
            return Outcome::Continue;
        }
        match cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities(io);
                io.write(&format!(
                    "* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed\r\n"
                ));
            }
            CommandBody::Noop | CommandBody::Check => {
                self.noop(io);
                io.write(&format!(
                    "{tag} OK {} completed\r\n",
                    if matches!(cmd.body, CommandBody::Noop) {
                        "NOOP"
                    } else {
                        "CHECK"
                    }
                ));
            }
            CommandBody::Logout => {
                io.write(&format!(
                    "* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n"
                ));
                return Outcome::Logout;
            }
            CommandBody::StartTLS => {
                if self.ctx.tls.is_none() || io.is_tls() {
                    io.write(&format!("{tag} BAD STARTTLS not available\r\n"));
                } else if authed {
                    io.write(&format!("{tag} BAD STARTTLS only before login\r\n"));
                } else {
                    io.write(&format!("{tag} OK Begin TLS negotiation now\r\n"));
                    // Anything the client pipelined after STARTTLS is dropped.
                    io.discard_input();
                    return Outcome::StartTls;
                }
            }
            CommandBody::Login { username, password } => {
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let pass = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.login(&tag, &user, &pass, io);
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if authed {
                    io.write(&format!("{tag} BAD Already authenticated\r\n"));
                } else if !mechanism.as_ref().eq_ignore_ascii_case("PLAIN") {
                    io.write(&format!(
                        "{tag} NO [CANNOT] Only AUTHENTICATE PLAIN is supported\r\n"
                    ));
                } else {
                    return Outcome::Authenticate {
                        tag,
                        initial: initial_response.map(|r| r.declassify().to_vec()),
                    };
                }
            }
            CommandBody::Select { mailbox, .. } => self.select(&tag, &name_of(&mailbox), false, io),
            CommandBody::Examine { mailbox, .. } => self.select(&tag, &name_of(&mailbox), true, io),
            CommandBody::Create { mailbox } => {
                if let Some(prefix) = &self.ctx.personal_namespace {
                    // Like Courier: mailboxes live under the personal namespace.
                    let name = name_of(&mailbox);
                    if !name.starts_with(prefix.as_str()) {
                        io.write(&format!("{tag} NO [CANNOT] Mailboxes are created under \"{prefix}\" (NAMESPACE)\r\n"));
                        return Outcome::Continue;
                    }
                }
                let r = self
                    .ctx
                    .store
                    .create(self.user_str(), name_of(&mailbox).trim_end_matches('/'));
                self.reply_store(&tag, "CREATE", r, io);
            }
            CommandBody::Delete { mailbox } => {
                let name = name_of(&mailbox);
                if self
                    .selected
                    .as_ref()
                    .is_some_and(|s| s.name == crate::server::store::normalize(&name))
                {
                    self.selected = None;
                }
                let r = self.ctx.store.delete(self.user_str(), &name);
                self.reply_store(&tag, "DELETE", r, io);
            }
            CommandBody::Rename { from, to } => {
                let r = self
                    .ctx
                    .store
                    .rename(self.user_str(), &name_of(&from), &name_of(&to));
                self.reply_store(&tag, "RENAME", r, io);
            }
            CommandBody::Subscribe { mailbox } => {
                let r = self
                    .ctx
                    .store
                    .subscribe(self.user_str(), &name_of(&mailbox), true);
                self.reply_store(&tag, "SUBSCRIBE", r, io);
            }
            CommandBody::Unsubscribe { mailbox } => {
                let r = self
                    .ctx
                    .store
                    .subscribe(self.user_str(), &name_of(&mailbox), false);
                self.reply_store(&tag, "UNSUBSCRIBE", r, io);
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(
                &tag,
                &name_of(&reference),
                &list_pattern(&mailbox_wildcard),
                false,
                io,
            ),
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(
                &tag,
                &name_of(&reference),
                &list_pattern(&mailbox_wildcard),
                true,
                io,
            ),
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(&tag, &name_of(&mailbox), item_names.as_ref(), io),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let data: &[u8] = match &message {
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal(l) => {
                        l.as_ref()
                    }
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal8(l) => {
                        l.data.as_ref()
                    }
                };
                let names: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let date = date.map(|d| {
                    let d = d.as_ref();
                    (d.timestamp(), d.offset().local_minus_utc())
                });
                self.append(&tag, &name_of(&mailbox), &names, date, data, io);
            }
            CommandBody::Close => {
                if let Some(sel) = self.selected.take() {
                    if !sel.read_only {
                        let deleted = deleted_uids(&sel.mailbox, None);
                        let _ = self
                            .ctx
                            .store
                            .expunge(self.user_str(), &sel.mailbox, &deleted);
                    }
                }
                io.write(&format!("{tag} OK CLOSE completed\r\n"));
            }
            CommandBody::Unselect => {
                self.selected = None;
                io.write(&format!("{tag} OK UNSELECT completed\r\n"));
            }
            CommandBody::Expunge => self.expunge(&tag, None, io),
            CommandBody::ExpungeUid { sequence_set } => self.expunge(&tag, Some(&sequence_set), io),
            CommandBody::Search { criteria, uid, .. } => {
                let keys: Vec<_> = criteria.as_ref().to_vec();
                self.search(&tag, &keys, uid, io);
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                self.fetch(&tag, &sequence_set, macro_or_item_names, uid, io)
                    .await;
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => self.store(&tag, &sequence_set, kind, response, &flags, uid, io),
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&tag, &sequence_set, &name_of(&mailbox), uid, false, io),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(&tag, &sequence_set, &name_of(&mailbox), uid, true, io),
            CommandBody::Idle => {
                io.write("+ idling\r\n");
                return Outcome::Idle(tag);
            }
            CommandBody::Enable { .. } => {
                io.write(&format!("* ENABLED\r\n{tag} OK ENABLE completed\r\n"))
            }
            CommandBody::Id { .. } => io.write(&format!(
                "* ID (\"name\" \"imapspec\" \"version\" \"{}\")\r\n{tag} OK ID completed\r\n",
                env!("CARGO_PKG_VERSION")
            )),
            CommandBody::Namespace => io.write(&format!(
                "* NAMESPACE ((\"{}\" \"{}\")) NIL NIL\r\n{tag} OK NAMESPACE completed\r\n",
                self.ctx.personal_namespace.as_deref().unwrap_or(""),
                self.ctx.delimiter()
            )),
            CommandBody::GetQuotaRoot { mailbox } => {
                let name = name_of(&mailbox);
                if self.ctx.store.mailbox(self.user_str(), &name).is_none() {
                    io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
                } else {
                    if self.ctx.store.quota(self.user_str()).is_some() {
                        io.write(&format!("* QUOTAROOT {} \"\"\r\n", quote(&name)));
                        self.quota_line(io);
                    } else {
                        // No quota: the mailbox has no quota root (RFC 9208 4.3.2).
                        io.write(&format!("* QUOTAROOT {}\r\n", quote(&name)));
                    }
                    io.write(&format!("{tag} OK GETQUOTAROOT completed\r\n"));
                }
            }
            CommandBody::GetQuota { root } => {
                if !String::from_utf8_lossy(root.as_ref()).is_empty()
                    || self.ctx.store.quota(self.user_str()).is_none()
                {
                    io.write(&format!("{tag} NO [NONEXISTENT] No such quota root\r\n"));
                } else {
                    self.quota_line(io);
                    io.write(&format!("{tag} OK GETQUOTA completed\r\n"));
                }
            }
            CommandBody::SetQuota { .. } => io.write(&format!(
                "{tag} NO [NOPERM] Quotas are set by the administrator\r\n"
            )),
            other => {
                io.write(&format!(
                    "{tag} BAD {} is not supported by this server\r\n",
                    other.name()
                ));
            }
        }
        Outcome::Continue
    }

    fn user_str(&self) -> &str {
        self.user.as_deref().unwrap_or("")
    }

    fn login(&mut self, tag: &str, user: &str, pass: &str, io: &mut Io) {
        if self.user.is_some() {
            io.write(&format!("{tag} BAD Already authenticated\r\n"));
        } else if !self.ctx.store.check_password(user, pass) {
            io.write(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
            ));
        } else if !self.ctx.login(user) {
            io.write(&format!(
                "{tag} NO [LIMIT] Too many connections for {user}\r\n"
            ));
        } else {
            self.user = Some(user.to_string());
            io.write(&format!(
                "{tag} OK [CAPABILITY {}] Logged in\r\n",
                self.capabilities(io)
            ));
        }
    }

    /// AUTHENTICATE PLAIN, reading the SASL line after `+` if needed.
    pub async fn authenticate(&mut self, tag: &str, initial: Option<Vec<u8>>, io: &mut Io) -> bool {
        let raw = match initial {
            Some(r) => r,
            None => {
                io.write("+ \r\n");
                if io.flush().await.is_err() {
                    return false;
                }
                let line = match io
                    .read_line_within(self.ctx.limits.max_line, self.ctx.inactivity())
                    .await
                {
                    Ok(l) => l,
                    Err(_) => return false,
                };
                let text = String::from_utf8_lossy(&line).trim().to_string();
                if text == "*" {
                    io.write(&format!("{tag} BAD Authentication cancelled\r\n"));
                    return true;
                }
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(r) => r,
                    Err(_) => {
                        io.write(&format!("{tag} BAD Invalid base64\r\n"));
                        return true;
                    }
                }
            }
        };
        let mut parts = raw.split(|&b| b == 0);
        let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
        match (user, pass) {
            (Some(u), Some(p)) => {
                let (u, p) = (
                    String::from_utf8_lossy(u).into_owned(),
                    String::from_utf8_lossy(p).into_owned(),
                );
                self.login(tag, &u, &p, io);
            }
            _ => io.write(&format!("{tag} BAD Malformed PLAIN response\r\n")),
        }
        true
    }

    fn reply_store(&self, tag: &str, what: &str, r: Result<(), StoreError>, io: &mut Io) {
        match r {
            Ok(()) => io.write(&format!("{tag} OK {what} completed\r\n")),
            Err(StoreError::NoSuchMailbox) => {
                io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"))
            }
            Err(StoreError::Exists) => io.write(&format!(
                "{tag} NO [ALREADYEXISTS] Mailbox already exists\r\n"
            )),
            Err(StoreError::OverQuota) => {
                io.write(&format!("{tag} NO [OVERQUOTA] Quota exceeded\r\n"))
            }
            Err(StoreError::Invalid(e)) => io.write(&format!("{tag} NO [CANNOT] {e}\r\n")),
            Err(StoreError::Io(e)) => io.write(&format!("{tag} NO [SERVERBUG] {e}\r\n")),
        }
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

    fn io_error_fault(&self, mb: &Mailbox) -> bool {
        self.ctx
            .faults
            .io_error_over()
            .is_some_and(|n| mb.lock().messages.len() as u64 > u64::from(n))
    }

    fn select(&mut self, tag: &str, name: &str, read_only: bool, io: &mut Io) {
        self.selected = None;
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        let (uids, cursor, recent, unseen, validity, next) = {
            let mut st = mb.lock();
            let mut recent = 0;
            let mut unseen = None;
            let mut uids = Vec::with_capacity(st.messages.len());
            for (i, m) in st.messages.iter_mut().enumerate() {
                uids.push(m.uid);
                if !read_only && m.recent_owner == 0 {
                    m.recent_owner = self.id;
                }
                if m.recent_owner == self.id {
                    recent += 1;
                }
                if unseen.is_none() && !m.flags.has(fl::SEEN) {
                    unseen = Some(i + 1);
                }
            }
            (
                uids,
                st.change_end(),
                recent,
                unseen,
                st.uid_validity,
                st.uid_next,
            )
        };
        let system: Vec<String> = fl::ALL.iter().map(|(_, n)| n.to_string()).collect();
        let mut perm = system.clone();
        perm.push("\\*".to_string());
        let _ = write!(
            io.out_string(),
            "* FLAGS {}\r\n* OK [PERMANENTFLAGS {}] Limited\r\n* {} EXISTS\r\n* {recent} RECENT\r\n",
            self.flag_list(&system),
            if read_only { "()".to_string() } else { self.flag_list(&perm) },
            uids.len()
        );
        if let Some(u) = unseen {
            io.write(&format!("* OK [UNSEEN {u}] First unseen\r\n"));
        }
        io.write(&format!("* OK [UIDVALIDITY {validity}] UIDs valid\r\n* OK [UIDNEXT {next}] Predicted next UID\r\n"));
        io.write(&format!(
            "{tag} OK [{}] {} completed\r\n",
            if read_only { "READ-ONLY" } else { "READ-WRITE" },
            if read_only { "EXAMINE" } else { "SELECT" }
        ));
        self.selected = Some(Selected {
            name: crate::server::store::normalize(name),
            mailbox: mb,
            read_only,
            uids,
            cursor,
            recent,
            lagging_index: false,
        });
    }

    /// NOOP/CHECK: report every change, and the seed-000 lagging index if on.
    fn noop(&mut self, io: &mut Io) {
        self.sync(true, false, io);
        if !self.ctx.faults.has(&Fault::StaleNoopAfterExpunge) {
            return;
        }
        if let Some(sel) = self.selected.as_mut() {
            if sel.lagging_index {
                // The index has not heard of the expunge yet: it still counts the
                // expunged message, so the client sees one message too many, and
                // the last message's UID at the phantom's sequence number.
                sel.lagging_index = false;
                if let Some(&last) = sel.uids.last() {
                    sel.uids.push(last);
                    io.write(&format!(
                        "* {} EXISTS\r\n* {} RECENT\r\n",
                        sel.uids.len(),
                        sel.recent
                    ));
                }
            }
        }
    }

    /// Sends what changed in the selected mailbox since this session last looked.
    /// `allow_expunge` is false while answering FETCH, STORE or SEARCH.
    pub fn sync(&mut self, allow_expunge: bool, uid_fetch: bool, io: &mut Io) {
        let me = self.id;
        let no_backslash = self.no_backslash();
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut st = sel.mailbox.lock();
        if sel.cursor < st.change_base {
            // Too far behind the feed: compare views instead.
            let current: std::collections::HashSet<u32> =
                st.messages.iter().map(|m| m.uid).collect();
            if allow_expunge {
                let mut seq = sel.uids.len();
                while seq > 0 {
                    if !current.contains(&sel.uids[seq - 1]) {
                        sel.uids.remove(seq - 1);
                        io.write(&format!("* {seq} EXPUNGE\r\n"));
                    }
                    seq -= 1;
                }
                let known: std::collections::HashSet<u32> = sel.uids.iter().copied().collect();
                let last = sel.uids.last().copied().unwrap_or(0);
                let added: Vec<u32> = st
                    .messages
                    .iter()
                    .map(|m| m.uid)
                    .filter(|u| !known.contains(u) && *u > last)
                    .collect();
                if !added.is_empty() {
                    sel.uids.extend(added);
                    io.write(&format!("* {} EXISTS\r\n", sel.uids.len()));
                }
                sel.cursor = st.change_end();
            }
            return;
        }
        let mut exists_dirty = false;
        let mut recent_dirty = false;
        while sel.cursor < st.change_end() {
            let idx = (sel.cursor - st.change_base) as usize;
            let Some(change) = st.changes.get(idx).copied() else {
                break;
            };
            match change {
                Change::Appended(uid) => {
                    if sel.uids.last().is_none_or(|&l| uid > l) {
                        sel.uids.push(uid);
                        exists_dirty = true;
                        if !sel.read_only {
                            if let Some(i) = st.index_of(uid) {
                                if st.messages[i].recent_owner == 0 {
                                    st.messages[i].recent_owner = me;
                                    sel.recent += 1;
                                    recent_dirty = true;
                                }
                            }
                        }
                    }
                }
                Change::Expunged(uid) => {
                    if !allow_expunge {
                        break;
                    }
                    if exists_dirty {
                        io.write(&format!("* {} EXISTS\r\n", sel.uids.len()));
                        exists_dirty = false;
                    }
                    if let Some(pos) = position_of(&sel.uids, uid) {
                        sel.uids.remove(pos);
                        io.write(&format!("* {} EXPUNGE\r\n", pos + 1));
                        sel.lagging_index = true;
                        // RFC 3501 7.3.2: RECENT counts messages of the
                        // mailbox, so never more than EXISTS (found by
                        // recent.within-exists). Whether the expunged message
                        // was recent is no longer known here, so the count is
                        // only capped; exact tracking is for the server's owners.
                        sel.recent = sel.recent.min(sel.uids.len() as u32);
                    }
                }
                Change::Flags(uid, by) => {
                    if by != me {
                        if exists_dirty {
                            io.write(&format!("* {} EXISTS\r\n", sel.uids.len()));
                            exists_dirty = false;
                        }
                        if let (Some(pos), Some(i)) =
                            (position_of(&sel.uids, uid), st.index_of(uid))
                        {
                            let m = &st.messages[i];
                            let mut names = m.flags.names();
                            if m.recent_owner == me {
                                names.push("\\Recent".into());
                            }
                            let list = flag_list_raw(&names, no_backslash);
                            if uid_fetch {
                                io.write(&format!(
                                    "* {} FETCH (UID {uid} FLAGS {list})\r\n",
                                    pos + 1
                                ));
                            } else {
                                io.write(&format!("* {} FETCH (FLAGS {list})\r\n", pos + 1));
                            }
                        }
                    }
                }
            }
            sel.cursor += 1;
        }
        if exists_dirty {
            io.write(&format!("* {} EXISTS\r\n", sel.uids.len()));
        }
        if recent_dirty {
            io.write(&format!("* {} RECENT\r\n", sel.recent));
        }
    }

    /// IDLE until DONE; false if the connection must end.
    pub async fn idle(&mut self, tag: &str, io: &mut Io) -> bool {
        let ctx = Arc::clone(&self.ctx);
        let mut shutdown = ctx.shutdown.clone();
        let started = ctx.clock.elapsed();
        let drop_at = ctx.faults.idle_drop().map(|d| started + d);
        // Under the idle-drop fault the drop replaces the autologout, as on
        // seed 001's server (which timed out the session without a BYE).
        let deadline = match drop_at {
            Some(_) => started + Duration::from_secs(365 * 24 * 3600),
            None => started + ctx.inactivity(),
        };
        loop {
            let mailbox = self.selected.as_ref().map(|s| Arc::clone(&s.mailbox));
            let notified = async {
                match &mailbox {
                    Some(mb) => mb.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(notified);
            self.sync(true, false, io);
            if io.flush().await.is_err() {
                return false;
            }
            let now = ctx.clock.elapsed();
            let until_logout = deadline.saturating_sub(now);
            let until_drop = drop_at.map(|d| d.saturating_sub(now));
            let keepalive = ctx.keepalive.min(until_logout);
            tokio::select! {
                line = io.read_line(ctx.limits.max_line) => {
                    return match line {
                        Ok(l) if l.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                            self.sync(true, false, io);
                            io.write(&format!("{tag} OK IDLE terminated\r\n"));
                            true
                        }
                        Ok(_) => {
                            io.write(&format!("{tag} BAD Expected DONE\r\n"));
                            true
                        }
                        Err(ReadError::TooLong) => {
                            io.write(&format!("{tag} BAD Expected DONE\r\n"));
                            true
                        }
                        Err(_) => false,
                    };
                }
                _ = &mut notified => {}
                _ = ctx.clock.sleep(keepalive) => {
                    if ctx.clock.elapsed() >= deadline {
                        io.write(&format!(
                            "* BYE Autologout; idle for more than {}\r\n",
                            crate::source::human_duration(ctx.inactivity())
                        ));
                        return false;
                    }
                    io.write("* OK Still here\r\n");
                }
                _ = async {
                    match until_drop {
                        Some(d) => ctx.clock.sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // Seed 001's server: the idling session is dropped, no BYE.
                    io.out.clear();
                    io.conn = super::io::Conn::Gone;
                    return false;
                }
                _ = shutdown.changed() => {
                    io.write("* BYE Server shutting down\r\n");
                    return false;
                }
            }
        }
    }

    fn list(&self, tag: &str, reference: &str, pattern: &str, lsub: bool, io: &mut Io) {
        let what = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            io.write(&format!(
                "* LIST (\\Noselect) \"{}\" \"\"\r\n{tag} OK LIST completed\r\n",
                self.ctx.delimiter()
            ));
            return;
        }
        let full = format!("{reference}{pattern}");
        let names = if lsub {
            self.ctx.store.subscriptions(self.user_str())
        } else {
            self.ctx.store.mailbox_names(self.user_str())
        };
        let all = self.ctx.store.mailbox_names(self.user_str());
        for name in names {
            if wildcard_match(&full, &name) {
                let children = all.iter().any(|n| {
                    n.len() > name.len() && n.starts_with(&name) && n.as_bytes()[name.len()] == b'/'
                });
                let attr = if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                };
                io.write(&format!(
                    "* {what} ({attr}) \"{}\" {}\r\n",
                    self.ctx.delimiter(),
                    quote(&name)
                ));
            }
        }
        io.write(&format!("{tag} OK {what} completed\r\n"));
    }

    fn status(&self, tag: &str, name: &str, items: &[StatusDataItemName], io: &mut Io) {
        let Some(mb) = self.ctx.store.mailbox(self.user_str(), name) else {
            io.write(&format!("{tag} NO [NONEXISTENT] No such mailbox\r\n"));
            return;
        };
        if self.io_error_fault(&mb) {
            io.write(&format!("{tag} NO System I/O error\r\n"));
            return;
        }
        let st = mb.lock();
        let mut parts = Vec::new();
        for item in items {
            match item {
                StatusDataItemName::Messages => {
                    parts.push(format!("MESSAGES {}", st.messages.len()))
                }
                StatusDataItemName::Recent => parts.push(format!(
                    "RECENT {}",
                    st.messages.iter().filter(|m| m.recent_owner == 0).count()
                )),
                StatusDataItemName::UidNext => parts.push(format!("UIDNEXT {}", st.uid_next)),
                StatusDataItemName::UidValidity => {
                    parts.push(format!("UIDVALIDITY {}", st.uid_validity))
                }
                StatusDataItemName::Unseen => parts.push(format!(
                    "UNSEEN {}",
                    st.messages
                        .iter()
                        .filter(|m| !m.flags.has(fl::SEEN))
                        .count()
                )),
                StatusDataItemName::Deleted => parts.push(format!(
                    "DELETED {}",
                    st.messages
                        .iter()
                        .filter(|m| m.flags.has(fl::DELETED))
                        .count()
                )),
                _ => {}
            }
        }
        io.write(&format!(
            "* STATUS {} ({})\r\n{tag} OK STATUS completed\r\n",
            quote(name),
            parts.join(" ")
        ));
    }

    fn append(
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

    /// The UIDs a sequence set names in this session's view.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, u32)> {
        let Some(sel) = &self.selected else {
            return Vec::new();
        };
        if uid {
            let max = sel.uids.last().copied().unwrap_or(0);
            let r = seqset::ranges(set, max);
            sel.uids
                .iter()
                .enumerate()
                .filter(|(_, u)| seqset::contains(&r, **u))
                .map(|(i, u)| (i as u32 + 1, *u))
                .collect()
        } else {
            let r = seqset::ranges(set, sel.uids.len() as u32);
            let mut out = Vec::new();
            for (lo, hi) in r {
                for seq in lo.max(1)..=hi.min(sel.uids.len() as u32) {
                    out.push((seq, sel.uids[seq as usize - 1]));
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }

    fn expunge(&mut self, tag: &str, set: Option<&SequenceSet>, io: &mut Io) {
        let Some(sel) = &self.selected else { return };
        if sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        let only: Option<Vec<u32>> =
            set.map(|s| self.resolve(s, true).into_iter().map(|(_, u)| u).collect());
        let uids = deleted_uids(&sel.mailbox, only.as_deref());
        let mb = Arc::clone(&sel.mailbox);
        if let Err(e) = self.ctx.store.expunge(self.user_str(), &mb, &uids) {
            self.reply_store(tag, "EXPUNGE", Err(e), io);
            return;
        }
        self.sync(true, false, io);
        io.write(&format!("{tag} OK EXPUNGE completed\r\n"));
    }

    fn search(
        &mut self,
        tag: &str,
        keys: &[imap_codec::imap_types::search::SearchKey<'_>],
        uid: bool,
        io: &mut Io,
    ) {
        self.sync(false, uid, io);
        let Some(sel) = &self.selected else { return };
        let st = sel.mailbox.lock();
        let cx = crate::server::search::SearchContext {
            max_seq: sel.uids.len() as u32,
            max_uid: sel.uids.last().copied().unwrap_or(0),
        };
        let mut hits = Vec::new();
        for (i, &u) in sel.uids.iter().enumerate() {
            let Some(idx) = st.index_of(u) else { continue };
            let m = &st.messages[idx];
            let names = m.flags.names();
            let date = chrono::DateTime::from_timestamp(m.internal_date, 0)
                .map(|d| d.fixed_offset())
                .unwrap_or_default();
            let c = crate::server::search::Candidate {
                seq: i as u32 + 1,
                uid: u,
                flags: &names,
                recent: m.recent_owner == self.id,
                internal_date: date,
                size: m.data.len() as u32,
                raw: &m.data,
            };
            if keys
                .iter()
                .all(|k| crate::server::search::matches(k, &c, &cx))
            {
                hits.push(if uid { u } else { i as u32 + 1 });
            }
        }
        drop(st);
        let mut line = String::from("* SEARCH");
        for h in hits {
            let _ = write!(line, " {h}");
        }
        io.write(&format!(
            "{line}\r\n{tag} OK {}SEARCH completed\r\n",
            if uid { "UID " } else { "" }
        ));
    }

    async fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        uid: bool,
        io: &mut Io,
    ) {
        self.sync(false, uid, io);
        let targets = self.resolve(set, uid);
        super::fetch::fetch(self, tag, &targets, items, uid, io).await;
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
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
        if matches!(response, StoreResponse::Answer) {
            let st = mb.lock();
            for &(seq, u) in &targets {
                let Some(i) = st.index_of(u) else { continue };
                let m = &st.messages[i];
                let mut names = m.flags.names();
                if m.recent_owner == self.id {
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
        io.write(&format!(
            "{tag} OK {}STORE completed\r\n",
            if uid { "UID " } else { "" }
        ));
    }

    fn copy(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        dest: &str,
        uid: bool,
        is_move: bool,
        io: &mut Io,
    ) {
        self.sync(!is_move || uid, uid, io);
        let targets = self.resolve(set, uid);
        let Some(sel) = &self.selected else { return };
        if is_move && sel.read_only {
            io.write(&format!("{tag} NO [READ-ONLY] Mailbox is read-only\r\n"));
            return;
        }
        if self.ctx.store.mailbox(self.user_str(), dest).is_none() {
            io.write(&format!("{tag} NO [TRYCREATE] No such mailbox\r\n"));
            return;
        }
        let src = Arc::clone(&sel.mailbox);
        let msgs: Vec<_> = {
            let st = src.lock();
            targets
                .iter()
                .filter_map(|&(_, u)| st.index_of(u).map(|i| st.messages[i].clone()))
                .collect()
        };
        let mut src_uids = Vec::new();
        let mut dst_uids = Vec::new();
        let mut validity = 0;
        for m in msgs {
            match self.ctx.store.append(
                self.user_str(),
                dest,
                m.data.clone(),
                m.flags.clone(),
                (m.internal_date, m.zone),
                false,
            ) {
                Ok((v, u)) => {
                    validity = v;
                    src_uids.push(m.uid);
                    dst_uids.push(u);
                }
                Err(e) => {
                    self.reply_store(tag, if is_move { "MOVE" } else { "COPY" }, Err(e), io);
                    return;
                }
            }
        }
        let code = if src_uids.is_empty() {
            String::new()
        } else {
            format!(
                "[COPYUID {validity} {} {}] ",
                uid_list(&src_uids),
                uid_list(&dst_uids)
            )
        };
        if is_move {
            if !code.is_empty() {
                io.write(&format!("* OK {code}Moved\r\n"));
            }
            if let Err(e) = self.ctx.store.expunge(self.user_str(), &src, &src_uids) {
                self.reply_store(tag, "MOVE", Err(e), io);
                return;
            }
            self.sync(true, uid, io);
            io.write(&format!("{tag} OK MOVE completed\r\n"));
        } else {
            if self
                .selected
                .as_ref()
                .is_some_and(|s| s.name == crate::server::store::normalize(dest))
            {
                self.sync(true, uid, io);
            }
            io.write(&format!("{tag} OK {code}COPY completed\r\n"));
        }
    }
}

impl Io {
    /// The output buffer as a `String` sink for `write!`.
    pub fn out_string(&mut self) -> OutString<'_> {
        OutString(&mut self.out)
    }
}

pub struct OutString<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for OutString<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Index of `uid` in a session's view. The view ascends by UID (the
/// `stale-noop-after-expunge` phantom repeats the last one), so the first
/// match is found by binary search, not by scanning a million entries.
fn position_of(uids: &[u32], uid: u32) -> Option<usize> {
    let i = uids.partition_point(|&u| u < uid);
    (uids.get(i) == Some(&uid)).then_some(i)
}

pub fn flag_list_raw(names: &[String], no_backslash: bool) -> String {
    let v: Vec<&str> = names
        .iter()
        .map(|n| {
            if no_backslash && n.starts_with('\\') && n != "\\*" {
                &n[1..]
            } else {
                n.as_str()
            }
        })
        .collect();
    format!("({})", v.join(" "))
}

fn deleted_uids(mb: &Mailbox, only: Option<&[u32]>) -> Vec<u32> {
    let st = mb.lock();
    st.messages
        .iter()
        .filter(|m| m.flags.has(fl::DELETED))
        .map(|m| m.uid)
        .filter(|u| only.is_none_or(|o| o.contains(u)))
        .collect()
}

fn uid_list(uids: &[u32]) -> String {
    uids.iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn name_of(m: &MailboxName<'_>) -> String {
    match m {
        MailboxName::Inbox => "INBOX".to_string(),
        MailboxName::Other(o) => String::from_utf8_lossy(o.as_ref()).into_owned(),
    }
}

fn list_pattern(p: &ListMailbox<'_>) -> String {
    match p {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    }
}

/// LIST wildcards: `*` matches anything, `%` anything but the delimiter `/`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let (p, n) = if pattern.to_ascii_uppercase().starts_with("INBOX") && name == "INBOX" {
        (format!("INBOX{}", &pattern[5..]), name.to_string())
    } else {
        (pattern.to_string(), name.to_string())
    };
    // Bounded: mailbox names and patterns are short (command line limit).
    go(p.as_bytes(), n.as_bytes())
}

/// A quoted string, or a literal if it cannot be quoted.
pub fn quote(s: &str) -> String {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b >= 0x80) {
        return format!("{{{}}}\r\n{s}", s.len());
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}
