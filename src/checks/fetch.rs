//! `fetch.in-range` (RFC 3501 7.4.2), `fetch.uid-stable` (RFC 3501 2.3.1.1) and
//! `fetch.uid-in-uid-command` (RFC 3501 6.4.8).

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, ServerMessage};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch { seq, uid, .. }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    if let Some(mb) = &session.mailbox {
        if *seq > mb.exists {
            out.report(
                "fetch.in-range",
                cx.event,
                format!("FETCH for message {seq}, but the server has announced only {} messages (EXISTS)", mb.exists),
                None,
            );
        }
        if let (Some(u), Some(known)) = (uid, mb.uid_at(*seq)) {
            if *u != known {
                let prev = seq.checked_sub(1).and_then(|s| mb.uid_at(s)).unwrap_or(0);
                let next = mb.uid_at(seq.saturating_add(1)).unwrap_or(0);
                out.report(
                    "fetch.uid-stable",
                    cx.event,
                    format!("message {seq} is said to have UID {u}, but the client knows it as UID {known} and no EXPUNGE moved it"),
                    Some(format!("Outlook would show 0x800CCCDC: MsgSeqNum {seq}, New UID {u}, Prev UID {prev}, Next UID {next}")),
                );
            }
        }
    }
    let all_uid_fetch = !session.pending.is_empty()
        && session.pending.iter().all(|p| {
            !p.unparsed
                && matches!(
                    p.command,
                    CommandKind::Fetch { uid: true } | CommandKind::Store { uid: true }
                )
        });
    if uid.is_none() && all_uid_fetch {
        let p = &session.pending[0];
        out.report(
            "fetch.uid-in-uid-command",
            cx.event,
            format!(
                "FETCH response to {} (tag {}) has no UID item",
                p.command.name(),
                p.tag
            ),
            None,
        );
    }
}
