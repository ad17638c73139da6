//! `quota.overquota-code`: RFC 9208 4.3 and RFC 5530 3 — a refusal over quota
//! says `NO [OVERQUOTA]`, so clients can tell "mailbox full" from "broken" (seed 004).

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, RespCode, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind: StatusKind::No,
        code,
        text,
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(p) = cx.session.and_then(|s| s.pending(tag)) else {
        return;
    };
    let stores = matches!(
        p.command,
        CommandKind::Append { .. } | CommandKind::Copy { .. } | CommandKind::Move { .. }
    );
    if stores && code.as_ref() != Some(&RespCode::OverQuota) && mentions_quota(text) {
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
    [
        "quota",
        "mailbox full",
        "mailbox is full",
        "exceed",
        "too large",
    ]
    .iter()
    .any(|k| t.contains(k))
}
