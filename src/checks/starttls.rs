//! `starttls.no-injection`: RFC 3501 6.2.1 and RFC 2595 3.1 — bytes the client sent
//! in plaintext after STARTTLS, before TLS began, are discarded, never answered.

use super::{server_message, Context, Findings};
use crate::wire::ServerMessage;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status { tag: Some(tag), .. }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    let injected =
        session.pending(tag).is_some_and(|p| p.injected) || session.discarded.contains(tag);
    if injected {
        out.report(
            "starttls.no-injection",
            cx.event,
            format!("the server answered command {tag}, which was sent in plaintext after STARTTLS and before TLS began; it must be discarded"),
            Some("security: an attacker on the path can inject commands that run inside the TLS session".into()),
        );
    }
}
