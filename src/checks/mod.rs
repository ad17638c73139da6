//! The RFC invariants, each with a stable id, the section it enforces, a severity
//! and the clients known to break when it fails.
//!
//! `Checker` owns the `Model`. For every event it first runs each check against
//! the model as it stood *before* the event (what the client knew), then applies
//! the event. Checks are plain functions grouped one file per id prefix
//! (`uid.rs` holds `uid.*`), named after the spec section they enforce.

mod autologout;
mod bye;
mod exists;
mod expunge;
mod fetch;
mod flags;
mod idle;
mod mailbox;
mod noop;
mod quota;
mod response;
mod select;
mod starttls;
mod tag;
mod uid;
mod uidnext;

use std::collections::HashMap;

use crate::event::{Event, EventKind};
use crate::finding::{excerpt, Finding, Severity};
use crate::model::{Model, SessionModel};

/// How a check can be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judged {
    /// From any transcript, live or recorded.
    Transcript,
    /// Only by a scenario that provokes the situation and looks again afterwards.
    Scenario,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckInfo {
    pub id: &'static str,
    pub rfc: &'static str,
    /// The rule, in one sentence a person can read.
    pub rule: &'static str,
    pub severity: Severity,
    /// Clients known to break, and how.
    pub clients: &'static str,
    pub judged: Judged,
}

const fn check(
    id: &'static str,
    rfc: &'static str,
    rule: &'static str,
    severity: Severity,
    clients: &'static str,
    judged: Judged,
) -> CheckInfo {
    CheckInfo {
        id,
        rfc,
        rule,
        severity,
        clients,
        judged,
    }
}

use Judged::{Scenario, Transcript};
use Severity::{Violation, Warning};

/// Every check, in the order they are listed to users.
pub const CHECKS: &[CheckInfo] = &[
    check("uid.strictly-ascending", "RFC 3501 2.3.1.1", "UIDs ascend with sequence numbers: a message's UID is above the UID of every message before it.", Violation, "Outlook: 0x800CCCDC \"Your server reported a UID that does not comply with the IMAP standard\"", Transcript),
    check("uid.no-reuse", "RFC 3501 2.3.1.1", "A UID never names another message in the same mailbox and UIDVALIDITY, even after the first message is expunged.", Violation, "Outlook: 0x800CCCDC; clients that cache by UID show the wrong message", Transcript),
    check("uid.new-above-uidnext", "RFC 3501 2.3.1.1", "A message that appears after SELECT has a UID above every UID the client has seen and at least the UIDNEXT announced.", Violation, "Outlook: 0x800CCCDC", Transcript),
    check("uidnext.monotonic", "RFC 3501 2.3.1.1", "UIDNEXT never goes down within one UIDVALIDITY.", Violation, "clients that sync by UIDNEXT miss or refetch mail", Transcript),
    check("exists.no-shrink", "RFC 3501 7.3.1, 7.4.1", "EXISTS never announces fewer messages than the client knows of; only EXPUNGE removes messages.", Violation, "clients lose their sequence-number map", Transcript),
    check("expunge.forbidden-context", "RFC 3501 7.4.1, 5.5", "No EXPUNGE while answering FETCH, STORE or SEARCH (UID forms allowed), nor when no command is in progress (IDLE aside).", Violation, "all clients: sequence numbers shift under a command that relies on them", Transcript),
    check("expunge.in-range", "RFC 3501 7.4.1", "An EXPUNGE names a sequence number that exists.", Violation, "clients drop the wrong message", Transcript),
    check("fetch.in-range", "RFC 3501 7.4.2", "A FETCH response names a sequence number the server has announced with EXISTS.", Violation, "clients index past their message list", Transcript),
    check("fetch.uid-in-uid-command", "RFC 3501 6.4.8", "FETCH responses to UID FETCH and UID STORE carry the UID item.", Violation, "clients cannot tell which UID the data belongs to", Transcript),
    check("fetch.uid-stable", "RFC 3501 2.3.1.1", "A FETCH naming sequence number n and UID u agrees with the UID the client already knows for n.", Violation, "Outlook: 0x800CCCDC", Transcript),
    check("select.required-responses", "RFC 3501 6.3.1", "SELECT and EXAMINE give FLAGS, EXISTS, RECENT, OK [UIDVALIDITY] and OK [UIDNEXT], and complete with [READ-WRITE] or [READ-ONLY].", Violation, "clients cannot detect new mail or a mailbox reset", Transcript),
    check("flags.system-backslash", "RFC 3501 2.3.2", "System flags carry their backslash: `Seen` without it is a keyword, not \\Seen.", Warning, "clients show read mail as unread, or treat `Deleted` as a user label", Transcript),
    check("tag.one-completion", "RFC 3501 2.2.2", "Each command gets exactly one tagged completion, with its own tag.", Violation, "all clients: a command never completes, or the wrong one does", Transcript),
    check("noop.always-ok", "RFC 3501 6.1.2", "NOOP always completes OK.", Violation, "Outlook and other pollers treat a failed NOOP as a dead connection", Transcript),
    check("idle.continuation", "RFC 2177 3", "IDLE is answered with a `+` continuation, and DONE with a tagged OK.", Violation, "clients hang waiting for `+`, or drop the connection", Transcript),
    check("autologout.min-30min", "RFC 3501 5.4", "The server does not log a client out before 30 minutes of inactivity.", Violation, "Outlook Express: 0x800CCC0F \"Your server has unexpectedly terminated the connection\"", Transcript),
    check("bye.before-close", "RFC 3501 7.1.5", "The server sends an untagged BYE before it closes a connection.", Violation, "Outlook Express: 0x800CCC0F \"Your server has unexpectedly terminated the connection\"", Transcript),
    check("response.syntax", "RFC 3501 9", "Every response parses by the formal syntax (CRLF line ends, no stray spaces, text after status).", Violation, "strict clients stop reading the connection", Transcript),
    check("response.bounded", "RFC 3501 4.3", "A response stays within the harness's bounds on line length and literal size.", Warning, "clients with fixed buffers fail", Transcript),
    check("append.atomic", "RFC 3501 6.3.11", "An APPEND cut off mid-literal stores nothing; a completed one is stored exactly once.", Violation, "BlackBerry: outbox messages stuck or duplicated", Scenario),
    check("quota.overquota-code", "RFC 9208 4.3, RFC 5530 3", "An APPEND refused over quota says NO [OVERQUOTA]; SMTP delivery over quota is a temporary 4xx, not a bounce.", Violation, "clients report a generic failure; senders get bounces for a full mailbox", Transcript),
    check("mailbox.inuse-code", "RFC 5530 3", "A mailbox that is locked or busy answers NO [INUSE] (or another RFC 5530 code), not an opaque I/O error.", Violation, "Outlook and others show \"System I/O error\" and give up instead of retrying", Transcript),
    check("starttls.no-injection", "RFC 3501 6.2.1, RFC 2595 3.1", "Plaintext sent after STARTTLS in the same packet is discarded, never answered.", Violation, "security: a man in the middle can inject commands into the TLS session", Transcript),
];

/// The registry entry for an id.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// What a check sees: the event, the connection's model before it, all of the model.
pub struct Context<'a> {
    pub event: &'a Event,
    pub session: Option<&'a SessionModel>,
    pub model: &'a Model,
}

/// Collects findings; keeps at most `max_per_check` of each check (the rest are
/// counted), so a log of a billion bad lines still has bounded memory.
#[derive(Debug)]
pub struct Findings {
    pub list: Vec<Finding>,
    pub dropped: HashMap<&'static str, u64>,
    per_check: HashMap<&'static str, usize>,
    max_per_check: usize,
}

impl Findings {
    pub fn new(max_per_check: usize) -> Self {
        Findings {
            list: Vec::new(),
            dropped: HashMap::new(),
            per_check: HashMap::new(),
            max_per_check,
        }
    }

    /// Records that `check` failed on the event, with a specific message.
    pub fn report(
        &mut self,
        check: &'static str,
        event: &Event,
        message: String,
        client_impact: Option<String>,
    ) {
        let Some(info) = info(check) else { return };
        let n = self.per_check.entry(info.id).or_insert(0);
        *n += 1;
        if *n > self.max_per_check {
            *self.dropped.entry(info.id).or_insert(0) += 1;
            return;
        }
        self.list.push(Finding {
            check: info.id,
            severity: info.severity,
            session: event.session.to_string(),
            origin: event.origin.clone(),
            line: excerpt(&event.raw, 300),
            message,
            client_impact,
        });
    }

    pub fn total(&self) -> u64 {
        self.list.len() as u64 + self.dropped.values().sum::<u64>()
    }
}

/// Runs every check on a stream of events.
#[derive(Debug)]
pub struct Checker {
    pub model: Model,
    pub findings: Findings,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            model: Model::default(),
            findings: Findings::new(1000),
        }
    }
}

impl Checker {
    pub fn on_event(&mut self, event: &Event) {
        let cx = Context {
            event,
            session: self.model.session(&event.session),
            model: &self.model,
        };
        let out = &mut self.findings;
        match &event.kind {
            EventKind::Server { .. } => {
                response::inspect(&cx, out);
                flags::inspect(&cx, out);
                uid::inspect(&cx, out);
                uidnext::inspect(&cx, out);
                fetch::inspect(&cx, out);
                exists::inspect(&cx, out);
                expunge::inspect(&cx, out);
                select::inspect(&cx, out);
                tag::inspect(&cx, out);
                noop::inspect(&cx, out);
                idle::inspect(&cx, out);
                quota::inspect(&cx, out);
                mailbox::inspect(&cx, out);
                starttls::inspect(&cx, out);
                autologout::inspect(&cx, out);
            }
            EventKind::Closed { .. } => {
                autologout::inspect(&cx, out);
                bye::inspect(&cx, out);
            }
            EventKind::Client { .. } | EventKind::TlsStarted | EventKind::Note { .. } => {}
        }
        self.model.apply(event);
    }

    pub fn into_findings(self) -> Findings {
        self.findings
    }
}

/// The server message of a server event.
pub(crate) fn server_message(event: &Event) -> Option<&crate::wire::ServerMessage> {
    match &event.kind {
        EventKind::Server { message, .. } => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_sections_named() {
        let mut ids: Vec<_> = super::CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), super::CHECKS.len());
        assert!(super::CHECKS.iter().all(|c| c.rfc.starts_with("RFC ")));
    }
}
