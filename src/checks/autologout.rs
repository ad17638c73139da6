//! `autologout.min-30min`: RFC 3501 5.4 — "If a server has an inactivity autologout
//! timer, the duration of that timer MUST be at least 30 minutes."
//!
//! A server-initiated end (an untagged BYE that answers no LOGOUT, or a close)
//! with no command other than IDLE in progress is an inactivity logout, however
//! short the silence before it (a server that logs out after 3 s is the worst
//! case, not an exempt one), unless it states another reason: RFC 3501 3.4 asks
//! for "an untagged BYE response that contains the reason", and a BYE whose
//! text gives a reason other than inactivity ("shutting down", "too many
//! errors") is taken at its word. A close with no reason at all counts once
//! the client has been silent for `MIN_UNEXPLAINED` (a close right after a
//! reply is a crash or a drop, `bye.before-close`'s). Needs timestamps.
//!
//! The 30-minute floor is for sessions that have logged in: RFC 9051 5.4, which
//! restates 3501's rule, says "This is only applied to sessions after
//! authentication" and "doesn't have any restrictions on an autologout timer
//! used before successful client authentication". So a session known to be
//! unauthenticated (its greeting seen, no LOGIN/AUTHENTICATE completed) is not
//! judged; one whose log starts mid-session is (it may well be logged in).

use std::time::Duration;

use super::{server_message, Context, Findings};
use crate::event::EventKind;
use crate::source::human_duration;
use crate::wire::{CommandKind, Direction, ServerMessage, StatusKind};

pub const RFC_MINIMUM: Duration = Duration::from_secs(30 * 60);
const MIN_UNEXPLAINED: Duration = Duration::from_secs(1);

/// Words of a BYE that say nothing about why.
const GENERIC: &[&str] = &[
    "bye",
    "goodbye",
    "logout",
    "logging",
    "logged",
    "out",
    "closing",
    "connection",
    "server",
    "imap",
    "imap4",
    "imap4rev1",
    "the",
    "is",
    "now",
];

/// Words by which a BYE says the client was idle.
const INACTIVITY: &[&str] = &[
    "idle",
    "inactiv",
    "autologout",
    "auto-logout",
    "timeout",
    "timed out",
    "time out",
];

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(session) = cx.session else { return };
    // (ends, the reason the server gave: Some(true) inactivity, Some(false)
    // another reason, None no reason)
    let (server_ends, stated) = match &cx.event.kind {
        EventKind::Closed {
            by: Some(Direction::Server),
        } => (session.bye.is_none(), None),
        EventKind::Server { .. } => match server_message(cx.event) {
            Some(ServerMessage::Status {
                tag: None,
                kind: StatusKind::Bye,
                text,
                ..
            }) if session.bye.is_none() => {
                let t = text.to_ascii_lowercase();
                let reason = t
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| !w.is_empty() && !GENERIC.contains(&w));
                let stated = if INACTIVITY.iter().any(|k| t.contains(k)) {
                    Some(true)
                } else if reason {
                    Some(false)
                } else {
                    None
                };
                (true, stated)
            }
            _ => (false, None),
        },
        _ => (false, None),
    };
    if stated == Some(false) || session.state == crate::model::ProtocolState::Logout {
        return;
    }
    let before_login =
        session.greeted && session.state == crate::model::ProtocolState::NotAuthenticated;
    if before_login {
        return;
    }
    if !server_ends
        || session
            .pending
            .iter()
            .any(|p| !matches!(p.command, CommandKind::Idle))
    {
        return;
    }
    let (Some(now), Some(last)) = (cx.event.at, session.last_client_at) else {
        return;
    };
    let silent = now.since(last);
    let long_enough = stated == Some(true) || silent >= MIN_UNEXPLAINED;
    if long_enough && silent < RFC_MINIMUM {
        let since = session
            .last_client_origin
            .as_ref()
            .map(|o| format!(" (the client last spoke at line {})", o.line))
            .unwrap_or_default();
        out.report(
            "autologout.min-30min",
            cx.event,
            format!(
                "the server ended the session after {} of client inactivity{since}; RFC 3501 5.4 requires at least 30 minutes",
                human_duration(silent)
            ),
            Some("Outlook Express shows 0x800CCC0F \"Your server has unexpectedly terminated the connection\"".into()),
        );
    }
}
