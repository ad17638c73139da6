//! One connection's IMAP state (NotAuthenticated → Authenticated → Selected →
//! Logout), the dispatch of each command to its handler in `cmd/`, and the
//! untagged updates a selected session is owed.
//!
//! A selected session keeps its own view of the mailbox (the UID of each
//! sequence number it has announced) and a cursor into the mailbox's change feed.
//! `sync` turns the changes other sessions made into untagged EXISTS, EXPUNGE and
//! FETCH responses, and sends EXPUNGE only where RFC 3501 7.4.1 allows it: never
//! while answering FETCH, STORE or SEARCH.

use std::collections::BTreeSet;
use std::sync::Arc;

use imap_codec::imap_types::command::{Command, CommandBody, StoreModifier};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::mailbox::Mailbox as MailboxName;
use imap_codec::imap_types::sequence::SequenceSet;

use super::cmd::{list_pattern, plain_list};
use super::io::Io;
use super::ServerCtx;
use crate::server::faults::Fault;
use crate::server::seqset;
use crate::server::store::{flags as fl, Change, Mailbox, MailboxState, Message, StoreError};
use crate::wire::extended::ExtendedCommand;

pub enum Outcome {
    Continue,
    StartTls,
    /// COMPRESS DEFLATE was answered OK: compression starts after the flush.
    Compress,
    Idle(String),
    Authenticate {
        tag: String,
        mechanism: super::cmd::Mechanism,
        initial: Option<Vec<u8>>,
    },
    Logout,
}

/// The selected mailbox as this session has announced it.
pub struct Selected {
    pub name: String,
    pub mailbox: Arc<Mailbox>,
    pub read_only: bool,
    /// This selection's registration with the mailbox (`Views::open`), and the
    /// owner it writes on the messages whose \Recent it takes.
    pub token: u64,
    /// UID of each sequence number announced to the client.
    pub uids: Vec<u32>,
    /// Next change of the mailbox's feed to look at.
    pub cursor: u64,
    /// UIDs in `uids` that are \Recent to this session: always a subset of the
    /// view, so the RECENT it reports is never above EXISTS.
    pub recent: BTreeSet<u32>,
    /// How many of the mailbox's keywords this session has been told of in
    /// FLAGS/PERMANENTFLAGS (the mailbox's list only grows).
    pub keywords_seen: usize,
    /// `stale-noop-after-expunge`: an expunge was reported; the next NOOP lags.
    pub lagging_index: bool,
    /// Selected by an IMAP4rev2 session, which has no \Recent: it neither
    /// takes the flag from others nor is told of it (RFC 9051 appendix E:
    /// "\Recent flag" and "RECENT response" are among what was removed).
    pub rev2: bool,
}

impl Selected {
    /// A selection of `mailbox` (whose state `st` the caller holds locked),
    /// registered with it, with nothing announced yet.
    pub fn open(
        name: &str,
        mailbox: Arc<Mailbox>,
        st: &mut MailboxState,
        read_only: bool,
        rev2: bool,
    ) -> Selected {
        let cursor = st.change_end();
        let token = st.views.open(cursor);
        Selected {
            name: crate::server::store::normalize(name),
            mailbox,
            read_only,
            token,
            uids: Vec::new(),
            cursor,
            recent: BTreeSet::new(),
            keywords_seen: 0,
            lagging_index: false,
            rev2,
        }
    }

    /// Adds a message to the view, taking its \Recent flag if nobody has.
    ///
    /// RFC 3501 2.3.2: "This session is the first session to have been
    /// notified about this message; if the session is read-write, subsequent
    /// sessions will not see \Recent set for this message." A read-only
    /// selection sees it without taking it (6.3.2: EXAMINE "MUST NOT cause
    /// messages to lose the \Recent flag"). A selection ends with the
    /// session's SELECT/EXAMINE/CLOSE/UNSELECT, and the next one is a
    /// "subsequent session": messages it took stay taken.
    pub fn take_in(&mut self, m: &mut Message) {
        self.uids.push(m.uid);
        if m.recent_owner == 0 && !self.rev2 {
            if !self.read_only {
                m.recent_owner = self.token;
            }
            self.recent.insert(m.uid);
        }
    }

    /// Drops a UID from the view (an EXPUNGE was sent); its \Recent goes too.
    fn drop_at(&mut self, pos: usize) {
        let uid = self.uids.remove(pos);
        self.recent.remove(&uid);
    }

    /// `* FLAGS` and `* OK [PERMANENTFLAGS]` again if the mailbox has come to
    /// use keywords this session has not been told of (RFC 3501 7.2.6: "The
    /// update from the FLAGS response MUST be recorded by the client"), so a
    /// keyword is always announced before a FETCH shows it.
    pub fn announce_keywords(&mut self, st: &MailboxState, no_backslash: bool, io: &mut Io) {
        if st.keywords.len() > self.keywords_seen {
            self.keywords_seen = st.keywords.len();
            io.write(&mailbox_flags(&st.keywords, self.read_only, no_backslash));
        }
    }

    /// `* n EXISTS` and `* n RECENT` for the view as it stands; EXISTS
    /// alone to an IMAP4rev2 session.
    pub fn write_counts(&self, io: &mut Io) {
        if self.rev2 {
            io.write(&format!("* {} EXISTS\r\n", self.uids.len()));
        } else {
            io.write(&format!(
                "* {} EXISTS\r\n* {} RECENT\r\n",
                self.uids.len(),
                self.recent.len()
            ));
        }
    }
}

impl Drop for Selected {
    fn drop(&mut self) {
        self.mailbox.lock().views.close(self.token);
    }
}

pub struct Session {
    pub id: u64,
    pub ctx: Arc<ServerCtx>,
    pub(in crate::server::imap) user: Option<String>,
    pub selected: Option<Selected>,
    /// A CONDSTORE-enabling command was given (RFC 7162 3.1: "Once a
    /// CONDSTORE enabling command is issued by the client, the server MUST
    /// automatically include both UID and mod-sequence data in all
    /// subsequent untagged FETCH responses (until the connection is closed)").
    pub(in crate::server::imap) condstore: bool,
    /// `ENABLE QRESYNC` was answered (RFC 7162 3.2.3): expunges are reported
    /// with VANISHED, and SELECT takes the QRESYNC parameter.
    pub(in crate::server::imap) qresync: bool,
    /// `ENABLE IMAP4rev2` was answered (RFC 9051 appendix A: "If both
    /// IMAP4rev1 and IMAP4rev2 are advertised, an IMAP client that wants to
    /// use IMAP4rev2 MUST issue an "ENABLE IMAP4rev2" command"): no \Recent,
    /// SELECT answers with LIST and `[CLOSED]`, mailbox names travel as
    /// UTF-8.
    pub(in crate::server::imap) rev2: bool,
    /// `ENABLE UTF8=ACCEPT` was answered (RFC 6855 3): mailbox names travel
    /// as UTF-8, as in IMAP4rev2.
    pub(in crate::server::imap) utf8: bool,
    /// SEARCHRES's search result variable (RFC 5182 2.1): the UIDs of the
    /// messages a `SEARCH RETURN (SAVE ...)` saved, ascending; empty at first
    /// and after SELECT, EXAMINE, CLOSE and UNSELECT. See `searchres`.
    pub(in crate::server::imap) saved: Vec<u32>,
    /// The RETURN options of the SEARCH being handled (RFC 4731), read by
    /// `wire::esearch` before imap-codec saw the command; taken by
    /// `cmd_search`.
    pub(in crate::server::imap) search_return: Option<crate::wire::esearch::SearchReturn>,
}

/// What the server announces (APPENDLIMIT, whose value is a limit, is added
/// by `capabilities`). LITERAL+ and not LITERAL-: RFC 7888's abstract, "LITERAL-
/// is the same as LITERAL+, but it disallows the alternate form of literals
/// unless they are 4096 bytes or less"; this server takes non-synchronising
/// literals of any size up to its limits (a larger one gets `* BYE [TOOBIG]`,
/// it cannot be skipped safely), so LITERAL+ says all there is (and covers
/// the LITERAL- that IMAP4rev2 includes). MULTIAPPEND: RFC 3502. IMAP4rev2 (RFC
/// 9051) beside IMAP4rev1: a session is rev1 until `ENABLE IMAP4rev2`
/// (appendix A: "If both IMAP4rev1 and IMAP4rev2 are advertised, an IMAP
/// client that wants to use IMAP4rev2 MUST issue an "ENABLE IMAP4rev2"
/// command"); what rev2 folds in from extensions (BINARY, ESEARCH, SEARCHRES,
/// LIST-EXTENDED, LIST-STATUS, MOVE, UNSELECT, UIDPLUS, SPECIAL-USE, STATUS
/// SIZE and DELETED, NAMESPACE, IDLE, SASL-IR, ENABLE) is all here.
/// UTF8=ACCEPT: RFC 9755 (which replaces RFC 6855), with RFC 6855's `APPEND
/// ... UTF8 (literal8)` still taken.
const CAPS: &str = "IMAP4rev1 IMAP4rev2 LITERAL+ MULTIAPPEND BINARY IDLE UIDPLUS MOVE ENABLE CONDSTORE QRESYNC ID NAMESPACE UNSELECT QUOTA QUOTA=RES-STORAGE SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE ESEARCH SEARCHRES SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES UTF8=ACCEPT AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER SASL-IR";

impl Session {
    pub fn new(id: u64, ctx: Arc<ServerCtx>) -> Self {
        Session {
            id,
            ctx,
            user: None,
            selected: None,
            condstore: false,
            qresync: false,
            rev2: false,
            utf8: false,
            saved: Vec::new(),
            search_return: None,
        }
    }

    /// Expunges go out as `* VANISHED` (RFC 7162 3.2.10), and the fault
    /// `vanished-without-qresync` sends them so to every client.
    pub(in crate::server::imap) fn reports_vanished(&self) -> bool {
        self.qresync || self.ctx.faults.has(&Fault::VanishedWithoutQresync)
    }

    /// Mailbox names are UTF-8 on the wire: IMAP4rev2 or UTF8=ACCEPT is on.
    fn utf8_names(&self) -> bool {
        self.rev2 || self.utf8
    }

    /// A mailbox name from a command, as the store keeps it: an IMAP4rev2
    /// session's UTF-8 in modified UTF-7 (`names`), a rev1 session's as sent.
    ///
    /// One hierarchy delimiter at the end is dropped: Thunderbird adds one
    /// to names it means without (Dovecot's `tb-extra-mailbox-sep`
    /// workaround), and no stored name ends with one (CREATE drops it, RFC
    /// 3501 6.3.3), so `Projects/2024/` can only mean `Projects/2024`.
    pub(in crate::server::imap) fn arg_name(&self, m: &MailboxName<'_>) -> String {
        self.arg_mailbox(name_of(m))
    }

    /// `arg_name` for a name read by `wire::extended` (MULTIAPPEND, STATUS).
    pub(in crate::server::imap) fn arg_mailbox(&self, text: String) -> String {
        let mut name = self.arg_text(text);
        let delimiter = self.ctx.delimiter();
        if name.len() > delimiter.len_utf8() && name.ends_with(delimiter) {
            name.truncate(name.len() - delimiter.len_utf8());
        }
        name
    }

    /// A name or LIST pattern from a command as the store spells it.
    pub(in crate::server::imap) fn arg_text(&self, text: String) -> String {
        if self.utf8_names() {
            super::names::utf7_encode(&text)
        } else {
            text
        }
    }

    /// A stored mailbox name as this session is to be shown it, quoted: in
    /// UTF-8 to an IMAP4rev2 session (RFC 9051 appendix A: "Servers
    /// advertising both IMAP4rev1 and IMAP4rev2 MUST NOT generate
    /// UTF-8-quoted strings" to rev1 clients, who get the name as stored).
    pub(in crate::server::imap) fn shown_name(&self, stored: &str) -> String {
        if self.utf8_names() {
            if let Some(utf8) = super::names::utf7_decode(stored) {
                return quote_utf8(&utf8);
            }
        }
        quote(stored)
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub(in crate::server::imap) fn capabilities(&self, io: &Io) -> String {
        let mut caps = if self.ctx.tls.is_some() && !io.is_tls() {
            format!("{CAPS} STARTTLS")
        } else {
            CAPS.to_string()
        };
        super::cmd::add_compress_capability(self, io, &mut caps);
        // RFC 7889: the server informs "the client about maximum message
        // upload sizes"; one limit for every mailbox, the literal limit.
        caps.push_str(&format!(" APPENDLIMIT={}", self.ctx.limits.max_literal));
        caps
    }

    pub fn greet(&self, io: &mut Io) {
        let caps = self.capabilities(io);
        io.write(&format!(
            "* OK [CAPABILITY {caps}] imapspec reference server ready\r\n"
        ));
    }

    pub(in crate::server::imap) fn no_backslash(&self) -> bool {
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

    /// The command forms imap-codec does not read (`wire::extended`): the
    /// extended LIST, CREATE with USE, MULTIAPPEND and STATUS APPENDLIMIT.
    /// All need a logged-in session. `bytes` is the command as read (a
    /// MULTIAPPEND's messages are ranges of it).
    pub fn handle_extended(&mut self, tag: &str, cmd: ExtendedCommand, bytes: &[u8], io: &mut Io) {
        if self.user.is_none() {
            io.write(&format!("{tag} NO [AUTHENTICATIONFAILED] Log in first\r\n"));
            return;
        }
        match cmd {
            ExtendedCommand::List(mut list) => {
                list.reference = self.arg_text(std::mem::take(&mut list.reference));
                for p in &mut list.patterns {
                    *p = self.arg_text(std::mem::take(p));
                }
                self.cmd_list(tag, &list, false, io)
            }
            ExtendedCommand::Create { mailbox, uses } => {
                let mailbox = self.arg_text(mailbox);
                self.cmd_create_special_use(tag, &mailbox, &uses, io)
            }
            ExtendedCommand::MultiAppend { mailbox, messages } => {
                let mailbox = self.arg_mailbox(mailbox);
                self.cmd_multiappend(tag, &mailbox, &messages, bytes, io)
            }
            ExtendedCommand::Status { mailbox, items } => {
                let mailbox = self.arg_mailbox(mailbox);
                self.cmd_status_named(tag, &mailbox, &items, io)
            }
        }
    }

    /// Checks the state the command needs, then dispatches to its handler in
    /// `cmd/`.
    pub async fn handle(&mut self, cmd: Command<'_>, io: &mut Io) -> Outcome {
        let tag = cmd.tag.as_ref().to_string();
        if needs_auth(&cmd.body) && self.user.is_none() {
            io.write(&format!("{tag} NO [AUTHENTICATIONFAILED] Log in first\r\n"));
            return Outcome::Continue;
        }
        if needs_selected(&cmd.body) && self.selected.is_none() {
            io.write(&format!("{tag} BAD No mailbox selected\r\n"));
            return Outcome::Continue;
        }
        match cmd.body {
            CommandBody::Capability => self.cmd_capability(&tag, io),
            CommandBody::Noop => self.cmd_noop(&tag, "NOOP", io),
            CommandBody::Check => self.cmd_noop(&tag, "CHECK", io),
            CommandBody::Logout => return self.cmd_logout(&tag, io),
            CommandBody::StartTLS => return self.cmd_starttls(&tag, io),
            CommandBody::Compress { .. } => return self.cmd_compress(&tag, io),
            CommandBody::Login { username, password } => {
                self.cmd_login(&tag, username.as_ref(), password.declassify().as_ref(), io)
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                let initial = initial_response.map(|r| r.declassify().to_vec());
                return self.cmd_authenticate(tag, mechanism.as_ref(), initial, io);
            }
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.cmd_select(&tag, &self.arg_name(&mailbox), false, &parameters, io),
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.cmd_select(&tag, &self.arg_name(&mailbox), true, &parameters, io),
            CommandBody::Create { mailbox } => self.cmd_create(&tag, &self.arg_name(&mailbox), io),
            CommandBody::Delete { mailbox } => self.cmd_delete(&tag, &self.arg_name(&mailbox), io),
            CommandBody::Rename { from, to } => {
                self.cmd_rename(&tag, &self.arg_name(&from), &self.arg_name(&to), io)
            }
            CommandBody::Subscribe { mailbox } => {
                self.cmd_subscribe(&tag, &self.arg_name(&mailbox), true, io)
            }
            CommandBody::Unsubscribe { mailbox } => {
                self.cmd_subscribe(&tag, &self.arg_name(&mailbox), false, io)
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.cmd_list(
                &tag,
                &plain_list(
                    // A reference keeps its delimiter: it is a prefix.
                    self.arg_text(name_of(&reference)),
                    self.arg_text(list_pattern(&mailbox_wildcard)),
                ),
                false,
                io,
            ),
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.cmd_list(
                &tag,
                &plain_list(
                    // A reference keeps its delimiter: it is a prefix.
                    self.arg_text(name_of(&reference)),
                    self.arg_text(list_pattern(&mailbox_wildcard)),
                ),
                true,
                io,
            ),
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.cmd_status(&tag, &self.arg_name(&mailbox), item_names.as_ref(), io),
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let data: &[u8] = match &message {
                    LiteralOrLiteral8::Literal(l) => l.as_ref(),
                    LiteralOrLiteral8::Literal8(l) => l.data.as_ref(),
                };
                let names: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                let date = date.map(|d| {
                    let d = d.as_ref();
                    (d.timestamp(), d.offset().local_minus_utc())
                });
                self.cmd_append(&tag, &self.arg_name(&mailbox), &names, date, data, io);
            }
            CommandBody::Close => self.cmd_close(&tag, io),
            CommandBody::Unselect => self.cmd_unselect(&tag, io),
            CommandBody::Expunge => self.cmd_expunge(&tag, None, io),
            CommandBody::ExpungeUid { sequence_set } => {
                self.cmd_expunge(&tag, Some(&sequence_set), io)
            }
            CommandBody::Search { criteria, uid, .. } => {
                let keys: Vec<_> = criteria.as_ref().to_vec();
                self.cmd_search(&tag, &keys, uid, io);
            }
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => {
                let keys: Vec<_> = search_criteria.as_ref().to_vec();
                self.cmd_sort(
                    &tag,
                    sort_criteria.as_ref(),
                    charset.as_ref(),
                    &keys,
                    uid,
                    io,
                );
            }
            CommandBody::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => {
                let keys: Vec<_> = search_criteria.as_ref().to_vec();
                self.cmd_thread(&tag, &algorithm, charset.as_ref(), &keys, uid, io);
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.cmd_fetch(
                    &tag,
                    &sequence_set,
                    macro_or_item_names,
                    uid,
                    &modifiers,
                    io,
                )
                .await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                let unchanged_since = modifiers
                    .iter()
                    .map(|m| match m {
                        StoreModifier::UnchangedSince(n) => *n,
                    })
                    .next();
                let store = super::cmd::StoreArgs {
                    kind,
                    response,
                    flags: &flags,
                    uid,
                    unchanged_since,
                };
                self.cmd_store(&tag, &sequence_set, store, io)
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.cmd_copy(
                &tag,
                &sequence_set,
                &self.arg_name(&mailbox),
                uid,
                false,
                io,
            ),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.cmd_copy(&tag, &sequence_set, &self.arg_name(&mailbox), uid, true, io),
            CommandBody::Idle => {
                io.write("+ idling\r\n");
                return Outcome::Idle(tag);
            }
            CommandBody::Enable { capabilities } => {
                let names: Vec<String> = capabilities
                    .as_ref()
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                self.cmd_enable(&tag, &names, io)
            }
            CommandBody::Id { .. } => self.cmd_id(&tag, io),
            CommandBody::Namespace => self.cmd_namespace(&tag, io),
            CommandBody::GetQuotaRoot { mailbox } => {
                self.cmd_getquotaroot(&tag, &self.arg_name(&mailbox), io)
            }
            CommandBody::GetQuota { root } => self.cmd_getquota(&tag, root.as_ref(), io),
            CommandBody::SetQuota { .. } => self.cmd_setquota(&tag, io),
            other => io.write(&format!(
                "{tag} BAD {} is not supported by this server\r\n",
                other.name()
            )),
        }
        Outcome::Continue
    }

    pub(in crate::server::imap) fn user_str(&self) -> &str {
        self.user.as_deref().unwrap_or("")
    }

    pub(in crate::server::imap) fn reply_store(
        &self,
        tag: &str,
        what: &str,
        r: Result<(), StoreError>,
        io: &mut Io,
    ) {
        io.write(&format!("{tag} {}\r\n", store_reply(what, r)));
    }

    pub(in crate::server::imap) fn io_error_fault(&self, mb: &Mailbox) -> bool {
        self.ctx
            .faults
            .io_error_over()
            .is_some_and(|n| mb.lock().messages.len() as u64 > u64::from(n))
    }

    /// Whether the message with this UID is \Recent to this session.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.selected
            .as_ref()
            .is_some_and(|s| s.recent.contains(&uid))
    }

    /// Announces keywords new to this session (see `Selected::announce_keywords`).
    pub fn announce_keywords(&mut self, st: &MailboxState, io: &mut Io) {
        let no_backslash = self.no_backslash();
        if let Some(sel) = self.selected.as_mut() {
            sel.announce_keywords(st, no_backslash, io);
        }
    }

    /// Sends what changed in the selected mailbox since this session last looked.
    /// `allow_expunge` is false while answering FETCH, STORE or SEARCH.
    pub fn sync(&mut self, allow_expunge: bool, uid_fetch: bool, io: &mut Io) {
        let me = self.id;
        let no_backslash = self.no_backslash();
        let vanished = self.reports_vanished();
        // RFC 7162 3.1: UID and MODSEQ in every FETCH once CONDSTORE is on.
        let condstore = self.condstore;
        let uid_fetch = uid_fetch || condstore;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mb = Arc::clone(&sel.mailbox);
        let mut st = mb.lock();
        sel.announce_keywords(&st, no_backslash, io);
        if sel.cursor < st.change_base {
            // Too far behind the feed: compare views instead.
            if allow_expunge {
                let current: std::collections::HashSet<u32> =
                    st.messages.iter().map(|m| m.uid).collect();
                let mut seq = sel.uids.len();
                while seq > 0 {
                    if !current.contains(&sel.uids[seq - 1]) {
                        let uid = sel.uids[seq - 1];
                        sel.drop_at(seq - 1);
                        write_expunge(io, vanished, seq, uid);
                    }
                    seq -= 1;
                }
                let last = sel.uids.last().copied().unwrap_or(0);
                let before = sel.uids.len();
                let first_new = st.messages.partition_point(|m| m.uid <= last);
                for m in &mut st.messages[first_new..] {
                    sel.take_in(m);
                }
                if sel.uids.len() > before {
                    sel.write_counts(io);
                }
                sel.cursor = st.change_end();
                st.views.advance(sel.token, sel.cursor);
            }
            return;
        }
        // Arrivals join the view at once but are announced (EXISTS, RECENT)
        // only at the end, so an EXPUNGE of an older message can go out
        // first, and a message that came and went between two looks is never
        // shown. `announced` is how much of the view the client knows of.
        let mut announced = sel.uids.len();
        while sel.cursor < st.change_end() {
            let idx = (sel.cursor - st.change_base) as usize;
            let Some(change) = st.changes.get(idx).copied() else {
                break;
            };
            match change {
                Change::Appended(uid) => {
                    if sel.uids.last().is_none_or(|&l| uid > l) {
                        if let Some(i) = st.index_of(uid) {
                            sel.take_in(&mut st.messages[i]);
                        }
                    }
                }
                Change::Expunged(uid) => {
                    if !allow_expunge {
                        break;
                    }
                    if let Some(pos) = position_of(&sel.uids, uid) {
                        sel.drop_at(pos);
                        if pos < announced {
                            announced -= 1;
                            write_expunge(io, vanished, pos + 1, uid);
                            sel.lagging_index = true;
                        }
                    }
                }
                Change::Flags(uid, by) => {
                    // A message not announced yet is shown with its flags as
                    // they are when the client fetches it.
                    let pos = position_of(&sel.uids, uid).filter(|&p| p < announced);
                    if let (true, Some(pos), Some(i)) = (by != me, pos, st.index_of(uid)) {
                        let m = &st.messages[i];
                        let mut names = m.flags.names();
                        if sel.recent.contains(&uid) {
                            names.push("\\Recent".into());
                        }
                        let list = flag_list_raw(&names, no_backslash);
                        if condstore {
                            io.write(&format!(
                                "* {} FETCH (UID {uid} FLAGS {list} MODSEQ ({}))\r\n",
                                pos + 1,
                                m.modseq
                            ));
                        } else if uid_fetch {
                            io.write(&format!("* {} FETCH (UID {uid} FLAGS {list})\r\n", pos + 1));
                        } else {
                            io.write(&format!("* {} FETCH (FLAGS {list})\r\n", pos + 1));
                        }
                    }
                }
            }
            sel.cursor += 1;
        }
        if sel.uids.len() != announced {
            sel.write_counts(io);
        }
        st.views.advance(sel.token, sel.cursor);
    }

    /// The (sequence number, UID) pairs a sequence set names in this
    /// session's view, in order, each once. The set is normalised first
    /// (`seqset::ranges`), so the work is bounded by the view, not by how
    /// often the client repeated a range.
    pub(in crate::server::imap) fn resolve(&self, set: &SequenceSet, uid: bool) -> Vec<(u32, u32)> {
        let Some(sel) = &self.selected else {
            return Vec::new();
        };
        if uid {
            let max = sel.uids.last().copied().unwrap_or(0);
            let r = seqset::ranges(set, max);
            seqset::select(&r, &sel.uids)
                .into_iter()
                .map(|(i, u)| (i as u32 + 1, u))
                .collect()
        } else {
            let n = sel.uids.len() as u32;
            let mut out = Vec::new();
            for (lo, hi) in seqset::ranges(set, n) {
                for seq in lo.max(1)..=hi.min(n) {
                    out.push((seq, sel.uids[seq as usize - 1]));
                }
            }
            out
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

/// `* n EXPUNGE`, or `* VANISHED uid` to a client that enabled QRESYNC
/// (RFC 7162 3.2.10: "the server MUST use the VANISHED response without the
/// EARLIER tag instead of the EXPUNGE response").
fn write_expunge(io: &mut Io, vanished: bool, seq: usize, uid: u32) {
    if vanished {
        io.write(&format!("* VANISHED {uid}\r\n"));
    } else {
        io.write(&format!("* {seq} EXPUNGE\r\n"));
    }
}

/// UIDs, ascending, as an RFC 3501 sequence set of ranges (`1:3,7`).
pub(in crate::server::imap) fn uid_ranges(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.saturating_add(1) {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Index of `uid` in a session's view. The view ascends by UID (the
/// `stale-noop-after-expunge` phantom repeats the last one), so the first
/// match is found by binary search, not by scanning a million entries.
pub(in crate::server::imap) fn position_of(uids: &[u32], uid: u32) -> Option<usize> {
    let i = uids.partition_point(|&u| u < uid);
    (uids.get(i) == Some(&uid)).then_some(i)
}

/// `* FLAGS` and `* OK [PERMANENTFLAGS]` for a mailbox using these keywords:
/// the system flags and every keyword defined in it (RFC 3501 7.2.6), and for
/// a read-write selection `\*` while the mailbox can take more keywords (7.1:
/// "\* indicates that it is possible to create new keywords by attempting to
/// store those flags in the mailbox").
pub fn mailbox_flags(keywords: &[String], read_only: bool, no_backslash: bool) -> String {
    let mut names: Vec<String> = fl::ALL
        .iter()
        .map(|(_, n)| n.to_string())
        .chain(keywords.iter().cloned())
        .collect();
    let flags = flag_list_raw(&names, no_backslash);
    let permanent = if read_only {
        "()".to_string()
    } else {
        if keywords.len() < crate::server::store::MAX_KEYWORDS {
            names.push("\\*".to_string());
        }
        flag_list_raw(&names, no_backslash)
    };
    format!("* FLAGS {flags}\r\n* OK [PERMANENTFLAGS {permanent}] Limited\r\n")
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

pub(in crate::server::imap) fn deleted_uids(mb: &Mailbox, only: Option<&[u32]>) -> Vec<u32> {
    let st = mb.lock();
    st.messages
        .iter()
        .filter(|m| m.flags.has(fl::DELETED))
        .map(|m| m.uid)
        .filter(|u| only.is_none_or(|o| o.contains(u)))
        .collect()
}

pub(in crate::server::imap) fn uid_list(uids: &[u32]) -> String {
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

/// The tagged reply to a store operation, after the tag.
pub fn store_reply(what: &str, r: Result<(), StoreError>) -> String {
    match r {
        Ok(()) => format!("OK {what} completed"),
        Err(StoreError::NoSuchMailbox) => "NO [NONEXISTENT] No such mailbox".into(),
        Err(StoreError::Exists) => "NO [ALREADYEXISTS] Mailbox already exists".into(),
        Err(StoreError::OverQuota) => "NO [OVERQUOTA] Quota exceeded".into(),
        Err(StoreError::Limit(e)) => format!("NO [LIMIT] {e}"),
        Err(StoreError::Invalid(e)) => format!("NO [CANNOT] {e}"),
        Err(StoreError::Io(e)) => format!("NO [SERVERBUG] {e}"),
    }
}

/// A quoted string that may carry UTF-8 (RFC 9051 4.3: `quoted` allows
/// UTF8-2, UTF8-3, UTF8-4), or a literal for a CR or LF.
fn quote_utf8(s: &str) -> String {
    if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        return format!("{{{}}}\r\n{s}", s.len());
    }
    quoted(s)
}

/// A quoted string, or a literal if it cannot be quoted.
pub fn quote(s: &str) -> String {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b >= 0x80) {
        return format!("{{{}}}\r\n{s}", s.len());
    }
    quoted(s)
}

/// `s` between double quotes, its quotes and backslashes escaped.
fn quoted(s: &str) -> String {
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

/// Commands allowed before login (RFC 3501 6.1, 6.2; ID per RFC 2971).
fn needs_auth(body: &CommandBody<'_>) -> bool {
    !matches!(
        body,
        CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Logout
            | CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. }
            | CommandBody::Id { .. }
    )
}

/// Commands of the Selected state (RFC 3501 6.4).
fn needs_selected(body: &CommandBody<'_>) -> bool {
    matches!(
        body,
        CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
            | CommandBody::Search { .. }
            | CommandBody::Sort { .. }
            | CommandBody::Thread { .. }
            | CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
    )
}
