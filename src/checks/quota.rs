//! `quota.overquota-code`: RFC 9208 4.3.1 — "The OVERQUOTA response code SHOULD
//! be returned in the tagged NO response to an APPEND/COPY/MOVE when the addition
//! of the message(s) puts the target mailbox over any one of its quota limits."
//! (seed 004). A SHOULD, so a warning.
//!
//! Judged only where RFC 9208 applies: a server that announces `QUOTA` without
//! any `QUOTA=RES-*` implements RFC 2087, which has no OVERQUOTA code, and is not
//! judged. A refusal that carries another response code (`[TOOBIG]`, `[LIMIT]`)
//! has said what it is and is not taken for a quota refusal.

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, ServerMessage, StatusKind};

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
    let Some(session) = cx.session else { return };
    let Some(p) = session.pending(tag) else {
        return;
    };
    let rfc2087_only = session.has_capability("QUOTA")
        && !session
            .capabilities
            .iter()
            .any(|c| c.len() > 10 && c[..10].eq_ignore_ascii_case("QUOTA=RES-"));
    if rfc2087_only {
        return;
    }
    let stores = matches!(
        p.command,
        CommandKind::Append { .. } | CommandKind::Copy { .. } | CommandKind::Move { .. }
    );
    if stores && mentions_quota(text) {
        out.report(
            "quota.overquota-code",
            cx.event,
            format!(
                "{} refused for quota (\"{text}\") without the [OVERQUOTA] response code",
                p.command.name()
            ),
            Some(
                "clients report a generic error and may retry forever or discard the message"
                    .into(),
            ),
        );
    }
}

fn mentions_quota(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["quota", "mailbox full", "mailbox is full"]
        .iter()
        .any(|k| t.contains(k))
}
