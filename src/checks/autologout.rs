//! `autologout.min-30min`: RFC 3501 5.4 — "If a server has an inactivity autologout
//! timer, the duration of that timer MUST be at least 30 minutes."
//!
//! A server-initiated end (an untagged BYE that answers no LOGOUT, or a close) is
//! taken as an inactivity logout when no command other than IDLE is in progress
//! and the client has been silent for at least `MIN_SILENCE`; shorter silences are
//! other kinds of closes, judged by other checks. Needs timestamps in the log.

use std::time::Duration;

use super::{server_message, Context, Findings};
use crate::event::EventKind;
use crate::source::human_duration;
use crate::wire::{CommandKind, Direction, ServerMessage, StatusKind};

pub const RFC_MINIMUM: Duration = Duration::from_secs(30 * 60);
const MIN_SILENCE: Duration = Duration::from_secs(10);

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(session) = cx.session else { return };
    let server_ends = match &cx.event.kind {
        EventKind::Closed {
            by: Some(Direction::Server),
        } => session.bye.is_none(),
        EventKind::Server { .. } => {
            matches!(
                server_message(cx.event),
                Some(ServerMessage::Status {
                    tag: None,
                    kind: StatusKind::Bye,
                    ..
                })
            ) && session.bye.is_none()
        }
        _ => false,
    };
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
    if silent >= MIN_SILENCE && silent < RFC_MINIMUM {
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
