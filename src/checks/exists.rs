//! `exists.no-shrink`: RFC 3501 7.3.1 and 7.4.1 — EXISTS never announces fewer
//! messages than the client knows of; only EXPUNGE removes messages.

use super::{server_message, Context, Findings};
use crate::wire::ServerMessage;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Exists(n)) = server_message(cx.event) else {
        return;
    };
    let Some(mb) = cx.session.and_then(|s| s.mailbox.as_ref()) else {
        return;
    };
    if mb.seen_exists && *n < mb.exists {
        out.report(
            "exists.no-shrink",
            cx.event,
            format!(
                "EXISTS says {n} messages, but the client knows of {} and was sent no EXPUNGE for the difference",
                mb.exists
            ),
            None,
        );
    }
}
