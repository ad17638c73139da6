//! `select.required-responses`: RFC 3501 6.3.1 — what SELECT and EXAMINE must say.

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, RespCode, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind: StatusKind::Ok,
        code,
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(p) = session.pending(tag) else {
        return;
    };
    let CommandKind::Select { .. } = p.command else {
        return;
    };
    let Some(mb) = &session.mailbox else { return };
    let mut missing = Vec::new();
    if !mb.seen_flags {
        missing.push("* FLAGS");
    }
    if !mb.seen_exists {
        missing.push("* n EXISTS");
    }
    // IMAP4rev2 (RFC 9051) dropped RECENT; require it only from rev1 servers.
    if !mb.seen_recent && !session.has_capability("IMAP4rev2") {
        missing.push("* n RECENT");
    }
    if mb.uid_validity.is_none() {
        missing.push("* OK [UIDVALIDITY n]");
    }
    if mb.uid_next_at_select.is_none() {
        missing.push("* OK [UIDNEXT n]");
    }
    if !matches!(code, Some(RespCode::ReadWrite | RespCode::ReadOnly)) {
        missing.push("[READ-WRITE] or [READ-ONLY] on the tagged OK");
    }
    if !missing.is_empty() {
        out.report(
            "select.required-responses",
            cx.event,
            format!("{} of {} completed without {}", p.command.name(), mb.name, missing.join(", ")),
            Some("a client without UIDVALIDITY/UIDNEXT cannot tell new mail or a mailbox reset from its cache".into()),
        );
    }
}
