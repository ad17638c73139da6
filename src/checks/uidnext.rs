//! `uidnext.monotonic`: RFC 3501 2.3.1.1 — UIDNEXT never decreases within a
//! UIDVALIDITY, across sessions and reconnects too.

use super::{server_message, Context, Findings};
use crate::model::MailboxKey;
use crate::wire::{RespCode, ServerMessage};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        code: Some(RespCode::UidNext(n)),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(mb) = &session.mailbox else { return };
    if let Some(prev) = mb.uid_next.filter(|p| n < p) {
        out.report(
            "uidnext.monotonic",
            cx.event,
            format!("UIDNEXT went down from {prev} to {n} in the same session and UIDVALIDITY"),
            None,
        );
        return;
    }
    let key = mb
        .uid_validity
        .map(|v| MailboxKey::new(&session.user, &mb.name, v));
    if let Some(h) = key.and_then(|k| cx.model.account.get(&k)) {
        if *n < h.max_uid_next {
            out.report(
                "uidnext.monotonic",
                cx.event,
                format!(
                    "UIDNEXT {n} for {} is below the UIDNEXT {} announced earlier (same UIDVALIDITY)",
                    mb.name, h.max_uid_next
                ),
                None,
            );
        }
    }
}
