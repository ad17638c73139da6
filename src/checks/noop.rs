//! `noop.always-ok`: RFC 3501 6.1.2 — "The NOOP command always succeeds."

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind,
        text,
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(p) = cx.session.and_then(|s| s.pending(tag)) else {
        return;
    };
    if p.command == CommandKind::Noop && !p.unparsed && *kind != StatusKind::Ok {
        out.report(
            "noop.always-ok",
            cx.event,
            format!("NOOP completed {} ({text})", kind.as_str()),
            Some("Outlook and other NOOP pollers treat the connection as broken".into()),
        );
    }
}
