//! The client-side model: what a careful client knows after each event.
//!
//! `Model::apply` records; it never judges. Checks read the model *before* an event
//! is applied and compare it with what the event says. Per connection there is a
//! `SessionModel` (protocol state, commands in flight, the selected
//! `MailboxModel`); across connections and reconnects there is an `AccountModel`
//! that remembers, per mailbox and UIDVALIDITY, which UIDs were expunged and the
//! highest UID and UIDNEXT seen, so a UID reused after an expunge is caught even
//! when two different sessions saw the two messages.

pub mod account;
pub mod mailbox;
pub mod seqmap;
pub mod session;

pub use account::{AccountModel, MailboxKey};
pub use mailbox::MailboxModel;
pub use session::{Pending, ProtocolState, SessionModel};

use std::sync::Arc;

use crate::event::{Event, EventKind, SessionId};
use crate::wire::Direction;

#[derive(Debug, Default)]
pub struct Model {
    sessions: rustc_hash::FxHashMap<SessionId, SessionModel>,
    pub account: AccountModel,
    /// Number of events applied so far; orders events across sessions.
    pub clock: u64,
}

impl Model {
    pub fn session(&self, id: &SessionId) -> Option<&SessionModel> {
        self.sessions.get(id)
    }

    /// Another session than `id` has mailbox `key` selected (and is not
    /// closed): its changes may reach `id` as unsolicited responses.
    pub fn shared_with_others(&self, id: &SessionId, key: &account::MailboxKey) -> bool {
        self.sessions.iter().any(|(other, s)| {
            other != id
                && s.bye.is_none()
                && s.mailbox.as_ref().and_then(|m| m.key.as_ref()) == Some(key)
        })
    }

    pub fn apply(&mut self, event: &Event) {
        self.clock += 1;
        let now = self.clock;
        // One lookup for a known session. Not `entry`: it would clone the
        // name's `Arc` on every event, and its count is shared with the
        // reader thread (the two cores then fight over that cache line).
        let known = match self.sessions.get_mut(&event.session) {
            Some(session) => {
                Self::apply_to(session, event, now, &mut self.account);
                true
            }
            None => false,
        };
        if !known {
            let mut session = SessionModel::new(event.at);
            Self::apply_to(&mut session, event, now, &mut self.account);
            self.sessions.insert(Arc::clone(&event.session), session);
        }
        if let EventKind::Closed { .. } = event.kind {
            self.sessions.remove(&event.session);
        }
    }

    fn apply_to(session: &mut SessionModel, event: &Event, now: u64, account: &mut AccountModel) {
        match &event.kind {
            EventKind::Client { message, .. } => session.apply_client(message, event, now, account),
            EventKind::Server { message, .. } => session.apply_server(message, event, now, account),
            EventKind::TlsStarted => session.tls_started(),
            EventKind::Closed { .. } | EventKind::Note { .. } => {}
        }
    }

    /// The side that last spoke on a connection (for logs that do not say who
    /// closed it).
    pub fn last_speaker(&self, id: &SessionId) -> Option<Direction> {
        self.sessions.get(id).and_then(|s| s.last_speaker)
    }
}
