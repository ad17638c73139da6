//! `uidnext.monotonic`: RFC 3501 2.3.1.1 — UIDNEXT never decreases within a
//! UIDVALIDITY, across sessions and reconnects too.
//!
//! Across connections the harness sees replies in its own order, not the
//! server's: a SELECT sent before another session's APPEND completed may be
//! answered with the older UIDNEXT and still be read later. So another
//! session's UIDNEXT binds this one only if it was known before the command
//! that carries this answer was sent (found by `imapspec load`: 12 clients on
//! one INBOX gave a false `UIDNEXT 1 … below 2`).

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
    // The answer was produced after the earliest command still in progress was
    // sent; with none (an unsolicited code), after the SELECT was sent.
    let sent = session
        .pending
        .iter()
        .map(|p| p.sent)
        .min()
        .unwrap_or(mb.selected_at);
    if let Some(h) = key.and_then(|k| cx.model.account.get(&k)) {
        let floor = h.uid_next_before(sent);
        if *n < floor {
            out.report(
                "uidnext.monotonic",
                cx.event,
                format!(
                    "UIDNEXT {n} for {} is below the UIDNEXT {floor} known before the command was sent (same UIDVALIDITY)",
                    mb.name
                ),
                None,
            );
        }
    }
}
