//! `SessionModel`: one connection as the client sees it.

use crate::event::Event;
use crate::source::{Origin, Timestamp};
use crate::wire::decode::sasl_plain_user_b64;
use crate::wire::extended::{special_uses_of, ListCommand};
use crate::wire::{ClientMessage, CommandKind, Direction, RespCode, ServerMessage, StatusKind};

use super::account::{bounded_insert, AccountModel, KnownUses, MailboxHistory};
use super::mailbox::{flag_bits, MailboxModel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolState {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

/// A command sent and not yet completed.
#[derive(Debug, Clone)]
pub struct Pending {
    pub tag: String,
    pub command: CommandKind,
    pub origin: Origin,
    pub at: Option<Timestamp>,
    /// The strict parser refused the command (a client quirk, not judged).
    pub unparsed: bool,
    /// The server sent `+` for it.
    pub continued: bool,
    /// The client sent DONE (IDLE only).
    pub done_sent: bool,
    /// Sent after a STARTTLS in the same flight, before TLS began: the server
    /// must discard it (RFC 3501 6.2.1).
    pub injected: bool,
    /// A `UID FETCH` whose set names `*` (`n:*`): RFC 3501 6.4.8 makes it
    /// include the last message, so a non-empty mailbox answers at least once.
    pub range_star: bool,
    /// FETCH responses that came while this was the only command in progress.
    pub fetches: u32,
    /// Another command was in progress at some time with this one, so FETCH
    /// responses cannot be attributed to it.
    pub shared: bool,
    /// A STORE's set, whether it is of UIDs, and the flag bits it sets and clears.
    pub store: Option<StoreArgs>,
    /// Model clock when the command was sent.
    pub sent: u64,
    /// The highest sequence number a SEARCH, SORT or THREAD response gave
    /// for this (non-UID) command, and where: judged against EXISTS when the
    /// command completes, since the server may announce new mail after the
    /// numbers within the same command.
    pub found_max: Option<(u32, Origin)>,
    /// ESEARCH responses naming this command by its correlator (RFC 4731).
    pub esearches: u32,
    /// A `* SEARCH` came while this extended SEARCH was the only SEARCH in
    /// progress.
    pub plain_search: bool,
}

/// What a STORE command asked for, as far as system flags go.
#[derive(Debug, Clone)]
pub struct StoreArgs {
    pub set: Vec<(u32, u32)>,
    pub uid: bool,
    pub sets: u8,
    pub clears: u8,
    /// CONDSTORE's `(UNCHANGEDSINCE n)` (RFC 7162 3.1.3).
    pub unchanged_since: Option<u64>,
    /// With UNCHANGEDSINCE: the messages of the set (sequence number, UID)
    /// this session had been shown a MODSEQ above n for before it sent the
    /// STORE, which the server therefore must leave alone and name in
    /// MODIFIED.
    pub stale: Vec<(u32, u32)>,
}

#[derive(Debug)]
pub struct SessionModel {
    pub state: ProtocolState,
    pub user: String,
    pub pending: Vec<Pending>,
    pub mailbox: Option<MailboxModel>,
    pub capabilities: Vec<String>,
    pub opened_at: Option<Timestamp>,
    pub last_client_at: Option<Timestamp>,
    pub last_client_origin: Option<Origin>,
    pub last_speaker: Option<Direction>,
    pub bye: Option<Origin>,
    pub greeted: bool,
    pub tls: bool,
    /// Tags of the last completed commands (bounded), to tell a repeated
    /// completion from an unknown tag.
    pub completed: std::collections::VecDeque<String>,
    /// Tags of commands sent after STARTTLS in plaintext, which the server had to
    /// discard when TLS began.
    pub discarded: Vec<String>,
    /// The server answered `ENABLE IMAP4rev2` with `* ENABLED IMAP4rev2`.
    pub rev2_enabled: bool,
    /// The capabilities last announced name IMAP4rev2 and not IMAP4rev1
    /// (kept with `capabilities`: `rev2` is asked on every FETCH).
    rev2_only: bool,
    /// The server answered `ENABLE QRESYNC` with `* ENABLED QRESYNC`
    /// (RFC 7162 3.2.3): VANISHED may come from then on.
    pub qresync_enabled: bool,
    /// The server answered `ENABLE UTF8=ACCEPT` with `* ENABLED UTF8=ACCEPT`
    /// (RFC 6855 3, RFC 9755).
    pub utf8_enabled: bool,
    /// Keywords this session's own STOREs named (bounded): created at its
    /// request (RFC 3501 7.1, PERMANENTFLAGS `\*`), so it knows of them.
    pub stored_keywords: Vec<String>,
}

impl SessionModel {
    pub fn new(opened_at: Option<Timestamp>) -> Self {
        SessionModel {
            state: ProtocolState::NotAuthenticated,
            user: String::new(),
            pending: Vec::new(),
            mailbox: None,
            capabilities: Vec::new(),
            rev2_only: false,
            opened_at,
            last_client_at: opened_at,
            last_client_origin: None,
            last_speaker: None,
            bye: None,
            greeted: false,
            tls: false,
            completed: Default::default(),
            discarded: Vec::new(),
            rev2_enabled: false,
            qresync_enabled: false,
            utf8_enabled: false,
            stored_keywords: Vec::new(),
        }
    }

    pub fn pending(&self, tag: &str) -> Option<&Pending> {
        self.pending.iter().find(|p| p.tag == tag)
    }

    /// The one LIST in progress, whose answer the untagged LIST responses
    /// are (`None` when none is, or several are: then which one a response
    /// answers cannot be told).
    pub fn listing(&self) -> Option<(&Pending, &ListCommand)> {
        let mut lists = self.pending.iter().filter_map(|p| match &p.command {
            CommandKind::List(l) => Some((p, l.as_ref())),
            _ => None,
        });
        let one = lists.next()?;
        lists.next().is_none().then_some(one)
    }

    /// The IDLE in progress (the server answered `+`), if any.
    pub fn idling(&self) -> Option<&Pending> {
        self.pending
            .iter()
            .find(|p| p.command == CommandKind::Idle && p.continued)
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
    }

    /// IMAP4rev2 (RFC 9051) rules apply: the client enabled it, or the server
    /// announced IMAP4rev2 and not IMAP4rev1. RFC 9051 appendix A: "If both
    /// IMAP4rev1 and IMAP4rev2 are advertised, an IMAP client that wants to
    /// use IMAP4rev2 MUST issue an "ENABLE IMAP4rev2" command."
    pub fn rev2(&self) -> bool {
        self.rev2_enabled || self.rev2_only
    }

    /// Takes the capabilities the server announced.
    fn set_capabilities(&mut self, c: &[String]) {
        self.capabilities = c.to_vec();
        self.rev2_only = self.has_capability("IMAP4rev2") && !self.has_capability("IMAP4rev1");
    }

    pub(super) fn tls_started(&mut self) {
        self.tls = true;
        let (injected, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.injected);
        self.pending = kept;
        self.discarded = injected.into_iter().map(|p: Pending| p.tag).collect();
    }

    pub(super) fn apply_client(
        &mut self,
        message: &ClientMessage,
        event: &Event,
        now: u64,
        account: &mut AccountModel,
    ) {
        self.last_client_at = event.at.or(self.last_client_at);
        self.last_client_origin = Some(event.origin.clone());
        self.last_speaker = Some(Direction::Client);
        match message {
            ClientMessage::Command {
                tag,
                command,
                unparsed,
            } => {
                let injected = !self.tls
                    && self
                        .pending
                        .iter()
                        .any(|p| p.command == CommandKind::StartTls);
                match command {
                    CommandKind::Select { mailbox, read_only } => {
                        self.mailbox = Some(MailboxModel::new(mailbox.clone(), *read_only, now));
                    }
                    CommandKind::Delete | CommandKind::Rename => {
                        account.forget_special_uses(&self.user)
                    }
                    CommandKind::Other { name } if name == "SETMETADATA" => {
                        account.forget_special_uses(&self.user)
                    }
                    CommandKind::Login { user } => self.user = user.clone(),
                    CommandKind::Authenticate { user: Some(u), .. } => self.user = u.clone(),
                    _ => {}
                }
                let line = crate::wire::decode::first_line(&event.raw);
                let words: Vec<&str> = line.split(' ').take(5).collect();
                // A CHANGEDSINCE modifier (RFC 7162 3.1.4.1) answers only the
                // messages changed since: none at all is a right answer.
                let range_star = matches!(command, CommandKind::Fetch { uid: true })
                    && words.get(3).is_some_and(|set| set.contains('*'))
                    && !line.to_ascii_uppercase().contains("CHANGEDSINCE");
                let mut store = match command {
                    CommandKind::Store { uid } => store_args(&line, *uid),
                    _ => None,
                };
                if let (Some(args), Some(mb)) = (store.as_mut(), self.mailbox.as_ref()) {
                    if let Some(limit) = args.unchanged_since {
                        args.stale = stale_messages(mb, &args.set, args.uid, limit);
                    }
                }
                for k in store_keywords(&line, command) {
                    if self.stored_keywords.len() < 256
                        && !self
                            .stored_keywords
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(&k))
                    {
                        self.stored_keywords.push(k);
                    }
                }
                let shared = !self.pending.is_empty();
                for p in self.pending.iter_mut() {
                    p.shared = true;
                }
                self.pending.push(Pending {
                    tag: tag.clone(),
                    command: command.clone(),
                    origin: event.origin.clone(),
                    at: event.at,
                    unparsed: *unparsed,
                    continued: false,
                    done_sent: false,
                    injected,
                    range_star,
                    fetches: 0,
                    shared,
                    store,
                    sent: now,
                    found_max: None,
                    esearches: 0,
                    plain_search: false,
                });
            }
            ClientMessage::IdleDone => {
                if let Some(p) = self
                    .pending
                    .iter_mut()
                    .find(|p| p.command == CommandKind::Idle)
                {
                    p.done_sent = true;
                }
            }
            ClientMessage::AuthData => {
                if let Some(user) = sasl_plain_user_b64(&event.raw) {
                    self.user = user;
                }
            }
            ClientMessage::Undecodable { .. } => {}
        }
    }

    pub(super) fn apply_server(
        &mut self,
        message: &ServerMessage,
        event: &Event,
        now: u64,
        account: &mut AccountModel,
    ) {
        self.last_speaker = Some(Direction::Server);
        match message {
            ServerMessage::Greeting { kind, code, .. } => {
                self.greeted = true;
                if *kind == StatusKind::PreAuth {
                    self.state = ProtocolState::Authenticated;
                }
                if *kind == StatusKind::Bye {
                    self.bye = Some(event.origin.clone());
                }
                if let Some(RespCode::Capability(c)) = code {
                    self.set_capabilities(c);
                }
            }
            ServerMessage::Continue { .. } => {
                // A `+` answers the oldest command that can wait for one.
                if let Some(p) = self.pending.iter_mut().find(|p| !p.continued) {
                    p.continued = true;
                }
            }
            ServerMessage::Capability(c) => self.set_capabilities(c),
            ServerMessage::Enabled(c) => {
                if c.iter().any(|c| c.eq_ignore_ascii_case("IMAP4rev2")) {
                    self.rev2_enabled = true;
                }
                if c.iter().any(|c| c.eq_ignore_ascii_case("QRESYNC")) {
                    self.qresync_enabled = true;
                }
                if c.iter().any(|c| c.eq_ignore_ascii_case("UTF8=ACCEPT")) {
                    self.utf8_enabled = true;
                }
            }
            ServerMessage::Status {
                tag: None,
                kind,
                code,
                ..
            } => {
                if *kind == StatusKind::Bye {
                    self.bye = Some(event.origin.clone());
                }
                if let Some(code) = code {
                    if let RespCode::CopyUid { .. } = code {
                        // RFC 6851 3.3: MOVE gives COPYUID in an untagged OK.
                        if let Some(p) = self
                            .pending
                            .iter()
                            .find(|p| matches!(p.command, CommandKind::Move { .. }))
                        {
                            let p = p.clone();
                            self.learn_assigned(&p, code, event, now, account);
                        }
                    }
                    if let (RespCode::HighestModSeq(n), Some(mb)) = (code, self.mailbox.as_mut()) {
                        if !mb.open {
                            mb.select_highest_modseq =
                                Some((*n, event.origin.clone(), event.raw.clone()));
                        }
                    }
                    self.apply_code(code, now, account);
                }
            }
            ServerMessage::Status {
                tag: Some(tag),
                kind,
                code,
                ..
            } => {
                if let Some(RespCode::Capability(c)) = code {
                    self.set_capabilities(c);
                }
                if let Some(mb) = self.mailbox.as_mut() {
                    mb.recent_line = None;
                }
                if let Some(i) = self.pending.iter().position(|p| &p.tag == tag) {
                    let p = self.pending.remove(i);
                    if let Some(code) = code {
                        self.learn_assigned(&p, code, event, now, account);
                    }
                    if *kind == StatusKind::Ok {
                        self.learn_examine_store(&p, event, account);
                    }
                    self.complete(&p, *kind, code.as_ref(), account, now, event.origin.line);
                }
                self.completed.push_back(tag.clone());
                if self.completed.len() > 64 {
                    self.completed.pop_front();
                }
            }
            ServerMessage::Exists(n) => {
                if let Some(mb) = self.mailbox.as_mut() {
                    mb.grow_to(*n, now);
                    mb.seen_exists = true;
                }
            }
            ServerMessage::Recent(n) => {
                if let Some(mb) = self.mailbox.as_mut() {
                    mb.recent = *n;
                    mb.seen_recent = true;
                    mb.recent_line = Some((event.origin.clone(), event.raw.clone()));
                }
            }
            ServerMessage::Flags(flags) => {
                if let Some(mb) = self.mailbox.as_mut() {
                    mb.seen_flags = true;
                    mb.mailbox_flags = flags.clone();
                }
            }
            ServerMessage::Expunge(seq) => {
                if let Some(mb) = self.mailbox.as_mut() {
                    match mb.expunge(*seq) {
                        Some(uid) => {
                            mb.told_expunged(uid);
                            if let Some(key) = &mb.key {
                                account.entry(key).expunged.insert(uid, now);
                            }
                        }
                        None => {
                            if let Some(key) = &mb.key {
                                let h = account.entry(key);
                                h.unknown_expunges = h.unknown_expunges.saturating_add(1);
                            }
                        }
                    }
                }
            }
            ServerMessage::Vanished { earlier, uids } => {
                let Some(mb) = self.mailbox.as_mut() else {
                    return;
                };
                let Some(key) = mb.key.clone() else { return };
                for uid in uids.iter(100_000) {
                    // VANISHED (EARLIER) names messages already gone from
                    // the view the client was given (RFC 7162 3.2.10); a
                    // plain VANISHED removes them from it, as EXPUNGE does.
                    if !earlier {
                        match mb.messages.position(uid) {
                            Some(i) => {
                                mb.expunge(i as u32 + 1);
                                mb.told_expunged(uid);
                            }
                            None => {
                                let h = account.entry(&key);
                                h.unknown_expunges = h.unknown_expunges.saturating_add(1);
                            }
                        }
                    }
                    bounded_insert(&mut account.entry(&key).expunged, uid, now);
                }
            }
            ServerMessage::Fetch {
                seq,
                uid,
                flags,
                facts,
                modseq,
            } => {
                if let [only] = self.pending.as_mut_slice() {
                    only.fetches = only.fetches.saturating_add(1);
                }
                let rev2 = self.rev2();
                if let Some(mb) = self.mailbox.as_mut() {
                    if *seq > mb.exists {
                        // The client learns of a message it was not told exists;
                        // it believes the FETCH (checks report it).
                        mb.set_exists(*seq);
                    }
                    if let Some(uid) = uid {
                        mb.learn_uid(*seq, *uid);
                    }
                    if let Some(flags) = flags {
                        mb.learn_flags(*seq, flags);
                    }
                    let uid = uid.or_else(|| mb.uid_at(*seq));
                    if let (Some(uid), Some(m)) = (uid, modseq) {
                        if mb.modseqs.len() < 250_000 || mb.modseqs.contains_key(&uid) {
                            mb.modseqs.insert(uid, *m);
                        }
                    }
                    if let (Some(key), Some(m)) = (&mb.key, modseq) {
                        account.entry(key).modseq_log.saw(now, *m);
                    }
                    if let (Some(uid), Some(key)) = (uid, &mb.key) {
                        let h = account.entry(key);
                        for f in facts {
                            let k = MailboxHistory::fact_key(uid, &f.item);
                            if !h.facts.contains_key(&k) {
                                bounded_insert(&mut h.facts, k, (f.hash, event.origin.line));
                            }
                        }
                        let recent = flags
                            .as_ref()
                            .is_some_and(|f| f.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")));
                        if recent && !mb.read_only && !rev2 && !h.recent_in.contains_key(&uid) {
                            bounded_insert(&mut h.recent_in, uid, event.session.clone());
                        }
                    }
                }
            }
            ServerMessage::List { name, attributes } => {
                if let Some(mb) = self.mailbox.as_mut() {
                    mb.seen_list = true;
                }
                let uses = special_uses_of(attributes);
                if !uses.is_empty() && self.listing().is_some() {
                    account.learn_special_uses(
                        &self.user,
                        name,
                        KnownUses {
                            uses,
                            at: now,
                            line: event.origin.line,
                        },
                    );
                }
            }
            ServerMessage::Found { by, numbers } => {
                let max = numbers.iter().copied().max().unwrap_or(0);
                if let Some(p) = self.searching_at(*by).map(|i| &mut self.pending[i]) {
                    if matches!(
                        p.command,
                        CommandKind::Search {
                            returns: Some(_),
                            ..
                        }
                    ) {
                        p.plain_search = true;
                    }
                    if !p.command.is_uid() && p.found_max.as_ref().is_none_or(|(m, _)| *m < max) {
                        p.found_max = Some((max, event.origin.clone()));
                    }
                }
            }
            ServerMessage::Esearch(e) => {
                // The correlator names the command it answers (RFC 4466
                // 2.6.2); without one, or with UID data, there is no
                // sequence number to hold against EXISTS.
                let max = e.largest().unwrap_or(0);
                if let Some(p) = self.esearch_answers_at(e).map(|i| &mut self.pending[i]) {
                    p.esearches = p.esearches.saturating_add(1);
                    if !e.uid
                        && !p.command.is_uid()
                        && p.found_max.as_ref().is_none_or(|(m, _)| *m < max)
                    {
                        p.found_max = Some((max, event.origin.clone()));
                    }
                }
            }
            ServerMessage::Data { .. }
            | ServerMessage::Quota { .. }
            | ServerMessage::Undecodable { .. } => {}
        }
    }

    /// The one command in progress whose results a `* SEARCH`, `* SORT` or
    /// `* THREAD` response is; `None` when there is none or several could be.
    pub fn searching(&self, by: crate::wire::FoundBy) -> Option<&Pending> {
        self.searching_at(by).map(|i| &self.pending[i])
    }

    /// The SEARCH (or SORT, RFC 5267's ESORT) in progress that an ESEARCH's
    /// `(TAG "x")` correlator names; without a correlator, the one extended
    /// SEARCH in progress; `None` when there is no such command.
    pub fn esearch_answers(&self, e: &crate::wire::esearch::Esearch) -> Option<&Pending> {
        self.esearch_answers_at(e).map(|i| &self.pending[i])
    }

    fn esearch_answers_at(&self, e: &crate::wire::esearch::Esearch) -> Option<usize> {
        let Some(tag) = e.tag.as_deref() else {
            // No correlator: the one extended SEARCH in progress, if only one.
            let mut found = self.pending.iter().enumerate().filter(|(_, p)| {
                !p.unparsed
                    && matches!(
                        p.command,
                        CommandKind::Search {
                            returns: Some(_),
                            ..
                        }
                    )
            });
            let (first, _) = found.next()?;
            return found.next().is_none().then_some(first);
        };
        self.pending.iter().position(|p| {
            p.tag == tag
                && !p.unparsed
                && matches!(
                    p.command,
                    CommandKind::Search { .. } | CommandKind::Sort { .. }
                )
        })
    }

    fn searching_at(&self, by: crate::wire::FoundBy) -> Option<usize> {
        let mut found = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.unparsed && by.answers(&p.command));
        let (first, _) = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// APPENDUID and COPYUID name the UIDs given in the destination mailbox
    /// (RFC 4315 3): UID facts like any FETCH UID.
    fn learn_assigned(
        &self,
        p: &Pending,
        code: &RespCode,
        event: &Event,
        now: u64,
        account: &mut AccountModel,
    ) {
        let (uid_validity, uids, mailbox) = match (code, &p.command) {
            (RespCode::AppendUid { uid_validity, uids }, CommandKind::Append { mailbox, .. }) => {
                (*uid_validity, uids, mailbox)
            }
            (
                RespCode::CopyUid { uid_validity, uids },
                CommandKind::Copy { mailbox, .. } | CommandKind::Move { mailbox, .. },
            ) => (*uid_validity, uids, mailbox),
            _ => return,
        };
        let key = super::MailboxKey::new(&self.user, mailbox, uid_validity);
        let h = account.entry(&key);
        let mut top = 0;
        for uid in uids.iter(10_000) {
            bounded_insert(&mut h.assigned, uid, event.origin.line);
            top = top.max(uid);
        }
        h.saw_uid_next(now, top.saturating_add(1));
    }

    /// A STORE that completed OK in a mailbox opened with EXAMINE: remember
    /// what it asked for, so another session seeing it applied is caught
    /// (RFC 3501 6.3.2).
    fn learn_examine_store(&self, p: &Pending, event: &Event, account: &mut AccountModel) {
        let (Some(store), Some(mb)) = (&p.store, &self.mailbox) else {
            return;
        };
        let Some(key) = &mb.key else { return };
        if !mb.read_only || (store.sets | store.clears) == 0 {
            return;
        }
        let uids: Vec<u32> = if store.uid {
            store
                .set
                .iter()
                .flat_map(|&(a, b)| a..=b)
                .take(10_000)
                .collect()
        } else {
            store
                .set
                .iter()
                .flat_map(|&(a, b)| a..=b)
                .take(10_000)
                .filter_map(|s| mb.uid_at(s))
                .collect()
        };
        let h = account.entry(key);
        for uid in uids {
            bounded_insert(
                &mut h.examine_stores,
                uid,
                (
                    store.sets,
                    store.clears,
                    event.origin.line.min(p.origin.line),
                ),
            );
        }
    }

    fn apply_code(&mut self, code: &RespCode, now: u64, account: &mut AccountModel) {
        let Some(mb) = self.mailbox.as_mut() else {
            if let RespCode::Capability(c) = code {
                self.set_capabilities(c);
            }
            return;
        };
        match code {
            RespCode::UidValidity(v) => mb.set_uid_validity(&self.user, *v),
            RespCode::UidNext(n) => {
                mb.uid_next = Some(*n);
                if !mb.open {
                    mb.uid_next_at_select = Some(*n);
                }
                if let Some(key) = &mb.key {
                    let h = account.entry(key);
                    h.max_uid_next = h.max_uid_next.max(*n);
                    h.saw_uid_next(now, *n);
                }
            }
            RespCode::PermanentFlags(_) => mb.seen_permanent_flags = true,
            RespCode::Capability(c) => self.set_capabilities(c),
            RespCode::HighestModSeq(n) => {
                if let Some(key) = &mb.key {
                    account.entry(key).modseq_log.saw(now, *n);
                }
            }
            _ => {}
        }
    }

    fn complete(
        &mut self,
        p: &Pending,
        kind: StatusKind,
        code: Option<&RespCode>,
        account: &mut AccountModel,
        now: u64,
        line: u64,
    ) {
        let ok = kind == StatusKind::Ok;
        match &p.command {
            // RFC 6154 3: a server that cannot give the mailbox the special
            // use "MUST NOT create the mailbox": an OK means it has them.
            // Only from a server that announced CREATE-SPECIAL-USE: Dovecot
            // 2.3 takes the USE list without it and ignores it.
            CommandKind::Create { mailbox, uses }
                if ok && !uses.is_empty() && self.has_capability("CREATE-SPECIAL-USE") =>
            {
                account.learn_special_uses(
                    &self.user,
                    mailbox,
                    KnownUses {
                        uses: special_uses_of(uses),
                        at: now,
                        line,
                    },
                )
            }
            CommandKind::Login { .. } | CommandKind::Authenticate { .. } if ok => {
                self.state = ProtocolState::Authenticated
            }
            CommandKind::Select { .. } => {
                if ok {
                    if let Some(mb) = self.mailbox.as_mut() {
                        mb.open = true;
                        mb.baseline = mb.exists;
                        if code == Some(&RespCode::ReadOnly) {
                            mb.read_only = true;
                        }
                    }
                    self.state = ProtocolState::Selected;
                } else {
                    // RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected.
                    self.mailbox = None;
                    self.state = ProtocolState::Authenticated;
                }
            }
            CommandKind::Close | CommandKind::Unselect if ok => {
                self.mailbox = None;
                self.state = ProtocolState::Authenticated;
            }
            CommandKind::Logout => self.state = ProtocolState::Logout,
            _ => {}
        }
    }
}

/// `tag [UID] STORE set [+|-]FLAGS[.SILENT] (flags)`: the set and the system
/// flag bits set or cleared; `None` for anything else (or a set with `*`).
fn store_args(line: &str, uid: bool) -> Option<StoreArgs> {
    let mut words = line.splitn(if uid { 5 } else { 4 }, ' ');
    words.next()?;
    if uid {
        words.next()?;
    }
    words.next()?;
    let set = parse_set(words.next()?)?;
    let mut rest = words.next()?;
    let mut unchanged_since = None;
    if let Some(modifiers) = rest.strip_prefix('(') {
        // `(UNCHANGEDSINCE n)` before the item (RFC 7162 3.1.3, RFC 4466).
        let (list, after) = modifiers.split_once(')')?;
        let mut m = list.split(' ');
        while let Some(name) = m.next() {
            if name.eq_ignore_ascii_case("UNCHANGEDSINCE") {
                unchanged_since = m.next().and_then(|v| v.parse().ok());
            }
        }
        rest = after.trim_start();
    }
    let (item, flags) = rest.split_once(' ')?;
    let item = item.to_ascii_uppercase();
    let bits = flags
        .trim_matches(|c| c == '(' || c == ')')
        .split(' ')
        .map(|f| match f.to_ascii_lowercase().as_str() {
            "\\seen" => flag_bits::SEEN,
            "\\answered" => flag_bits::ANSWERED,
            "\\flagged" => flag_bits::FLAGGED,
            "\\deleted" => flag_bits::DELETED,
            "\\draft" => flag_bits::DRAFT,
            _ => 0,
        })
        .fold(0, |a, b| a | b);
    let (sets, clears) = if item.starts_with('+') {
        (bits, 0)
    } else if item.starts_with('-') {
        (0, bits)
    } else {
        // FLAGS: replaces; only what it sets is certain to differ.
        (bits, 0)
    };
    Some(StoreArgs {
        set,
        uid,
        sets,
        clears,
        unchanged_since,
        stale: Vec::new(),
    })
}

/// The messages of a STORE's set (sequence number, UID) whose MODSEQ, as
/// last shown to this session, is above `limit`; at most 10,000.
fn stale_messages(mb: &MailboxModel, set: &[(u32, u32)], uid: bool, limit: u64) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    // Bounded per STORE whatever a log holds: at most 100,000 messages
    // looked at, each by binary search in the set made sorted and disjoint.
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(set.len());
    let mut sorted = set.to_vec();
    sorted.sort_unstable();
    for (lo, hi) in sorted {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let top = mb
        .exists
        .min(super::mailbox::MAX_TRACKED as u32)
        .min(100_000);
    for seq in 1..=top {
        if out.len() >= 10_000 {
            break;
        }
        let Some(u) = mb.uid_at(seq) else { continue };
        let key = if uid { u } else { seq };
        let i = merged.partition_point(|&(_, hi)| hi < key);
        if merged.get(i).is_none_or(|&(lo, _)| lo > key) {
            continue;
        }
        if mb.modseqs.get(&u).is_some_and(|&m| m > limit) {
            out.push((seq, u));
        }
    }
    out
}

fn parse_set(text: &str) -> Option<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for part in text.split(',').take(1000) {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        out.push((a.min(b), a.max(b)));
    }
    Some(out)
}

/// The keywords (flags without a backslash) a STORE names.
fn store_keywords(line: &str, command: &CommandKind) -> Vec<String> {
    if !matches!(command, CommandKind::Store { .. }) {
        return Vec::new();
    }
    let Some(open) = line.find('(') else {
        return Vec::new();
    };
    line[open + 1..]
        .trim_end_matches(')')
        .split(' ')
        .filter(|f| !f.is_empty() && !f.starts_with('\\'))
        .take(64)
        .map(str::to_string)
        .collect()
}
