//! `bye.before-close`: RFC 3501 7.1.5 — the server sends an untagged BYE before it
//! closes a connection (seed 001: the idling Outlook Express session dropped silently).

use super::{Context, Findings};
use crate::event::EventKind;
use crate::source::human_duration;
use crate::wire::Direction;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let EventKind::Closed {
        by: Some(Direction::Server),
    } = cx.event.kind
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    if session.bye.is_some() {
        return;
    }
    let mut message =
        "the server closed the connection without sending an untagged BYE".to_string();
    if let (Some(now), Some(last)) = (cx.event.at, session.last_client_at) {
        message.push_str(&format!(
            ", {} after the client last spoke",
            human_duration(now.since(last))
        ));
    }
    if let Some(idle) = session
        .pending
        .iter()
        .find(|p| p.command == crate::wire::CommandKind::Idle)
    {
        message.push_str(&format!(
            "; the client was in IDLE (tag {}, line {}){}",
            idle.tag,
            idle.origin.line,
            if idle.done_sent {
                ""
            } else {
                " and never sent DONE (RFC 2177 asks clients to re-issue IDLE within 29 minutes)"
            }
        ));
    }
    out.report(
        "bye.before-close",
        cx.event,
        message,
        Some("Outlook Express shows 0x800CCC0F \"Your server has unexpectedly terminated the connection. Possible causes for this include server problems, network problems, or a long period of inactivity.\"".into()),
    );
}
