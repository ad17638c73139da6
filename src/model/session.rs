//! `SessionModel`: one connection as the client sees it.

use crate::event::Event;
use crate::source::{Origin, Timestamp};
use crate::wire::decode::sasl_plain_user_b64;
use crate::wire::{ClientMessage, CommandKind, Direction, RespCode, ServerMessage, StatusKind};

use super::account::AccountModel;
use super::mailbox::MailboxModel;

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
}

impl SessionModel {
    pub fn new(opened_at: Option<Timestamp>) -> Self {
        SessionModel {
            state: ProtocolState::NotAuthenticated,
            user: String::new(),
            pending: Vec::new(),
            mailbox: None,
            capabilities: Vec::new(),
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
        }
    }

    pub fn pending(&self, tag: &str) -> Option<&Pending> {
        self.pending.iter().find(|p| p.tag == tag)
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
    /// announced IMAP4rev2 and not IMAP4rev1. RFC 9051 appendix A: "a server
    /// that supports both ... MUST act as an IMAP4rev1 server until the client
    /// issues ENABLE IMAP4rev2" (paraphrased from 9051 section 2.1 and A).
    pub fn rev2(&self) -> bool {
        self.rev2_enabled || (self.has_capability("IMAP4rev2") && !self.has_capability("IMAP4rev1"))
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
        _account: &mut AccountModel,
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
                    CommandKind::Login { user } => self.user = user.clone(),
                    CommandKind::Authenticate { user: Some(u), .. } => self.user = u.clone(),
                    _ => {}
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
                    self.capabilities = c.clone();
                }
            }
            ServerMessage::Continue { .. } => {
                // A `+` answers the oldest command that can wait for one.
                if let Some(p) = self.pending.iter_mut().find(|p| !p.continued) {
                    p.continued = true;
                }
            }
            ServerMessage::Capability(c) => self.capabilities = c.clone(),
            ServerMessage::Enabled(c) => {
                if c.iter().any(|c| c.eq_ignore_ascii_case("IMAP4rev2")) {
                    self.rev2_enabled = true;
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
                    self.apply_code(code, account);
                }
            }
            ServerMessage::Status {
                tag: Some(tag),
                kind,
                code,
                ..
            } => {
                if let Some(RespCode::Capability(c)) = code {
                    self.capabilities = c.clone();
                }
                if let Some(i) = self.pending.iter().position(|p| &p.tag == tag) {
                    let p = self.pending.remove(i);
                    self.complete(&p, *kind, code.as_ref(), account);
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
                    if let Some(uid) = mb.expunge(*seq) {
                        if let Some(key) = &mb.key {
                            account.entry(key).expunged.insert(uid, now);
                        }
                    }
                }
            }
            ServerMessage::Fetch { seq, uid, flags } => {
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
                }
            }
            ServerMessage::Data { .. }
            | ServerMessage::Quota { .. }
            | ServerMessage::Undecodable { .. } => {}
        }
    }

    fn apply_code(&mut self, code: &RespCode, account: &mut AccountModel) {
        let Some(mb) = self.mailbox.as_mut() else {
            if let RespCode::Capability(c) = code {
                self.capabilities = c.clone();
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
                }
            }
            RespCode::PermanentFlags(_) => mb.seen_permanent_flags = true,
            RespCode::Capability(c) => self.capabilities = c.clone(),
            _ => {}
        }
    }

    fn complete(
        &mut self,
        p: &Pending,
        kind: StatusKind,
        code: Option<&RespCode>,
        _account: &mut AccountModel,
    ) {
        let ok = kind == StatusKind::Ok;
        match &p.command {
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
