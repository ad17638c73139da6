//! `mailbox.inuse-code`: RFC 5530 3 — a busy or locked mailbox answers `NO [INUSE]`
//! (or another RFC 5530 code), not an opaque "System I/O error" (seed 003).

use super::{server_message, Context, Findings};
use crate::wire::{ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind: StatusKind::No,
        code: None,
        text,
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(p) = cx.session.and_then(|s| s.pending(tag)) else {
        return;
    };
    let t = text.to_ascii_lowercase();
    let opaque = [
        "i/o error",
        "io error",
        "locked",
        "in use",
        "temporarily unavailable",
        "try again",
    ]
    .iter()
    .any(|k| t.contains(k));
    if opaque {
        out.report(
            "mailbox.inuse-code",
            cx.event,
            format!(
                "{} failed with \"{text}\" and no response code; a busy or locked mailbox should say NO [INUSE] (or [UNAVAILABLE], [SERVERBUG])",
                p.command.name()
            ),
            Some("Outlook shows \"System I/O error\" and the user cannot open the mailbox; a client seeing [INUSE] would retry".into()),
        );
    }
}
