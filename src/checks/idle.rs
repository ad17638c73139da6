//! `idle.continuation`: RFC 2177 3 — IDLE is answered with `+`, DONE with a
//! tagged OK.

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind,
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(p) = cx.session.and_then(|s| s.pending(tag)) else {
        return;
    };
    if p.command != CommandKind::Idle || p.unparsed {
        return;
    }
    if *kind == StatusKind::Ok && !p.continued {
        out.report(
            "idle.continuation",
            cx.event,
            format!("IDLE (tag {tag}) completed OK without the server ever sending `+`"),
            Some("clients wait for `+` before idling and hang or time out".into()),
        );
    } else if p.continued && *kind != StatusKind::Ok {
        out.report(
            "idle.continuation",
            cx.event,
            format!(
                "DONE was answered {} instead of OK (IDLE tag {tag})",
                kind.as_str()
            ),
            None,
        );
    }
}
