//! `tag.one-completion`: RFC 3501 2.2.2 — each command gets exactly one tagged
//! completion, with its own tag.

use super::{server_message, Context, Findings};
use crate::wire::ServerMessage;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status { tag: Some(tag), .. }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    if session.pending(tag).is_some() || session.discarded.contains(tag) {
        return;
    }
    if session.last_client_origin.is_none() {
        // The log starts in the middle of a session: the command came before it.
        return;
    }
    let message = if session.completed.contains(tag) {
        format!("tag {tag} completed a second time")
    } else {
        format!("tag {tag} answers no command the client sent")
    };
    out.report("tag.one-completion", cx.event, message, None);
}
