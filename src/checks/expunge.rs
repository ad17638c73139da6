//! `expunge.forbidden-context` (RFC 3501 7.4.1 and 5.5) and `expunge.in-range`
//! (RFC 3501 7.4.1).

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, ServerMessage};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Expunge(seq)) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    if let Some(mb) = &session.mailbox {
        if *seq > mb.exists {
            out.report(
                "expunge.in-range",
                cx.event,
                format!(
                    "EXPUNGE of message {seq}, but the mailbox has only {} messages",
                    mb.exists
                ),
                None,
            );
        }
    }
    let forbidden = session.pending.iter().find(|p| {
        !p.unparsed
            && matches!(
                p.command,
                CommandKind::Fetch { uid: false }
                    | CommandKind::Store { uid: false }
                    | CommandKind::Search { uid: false, .. }
                    // RFC 5256 3: "a variant of SEARCH".
                    | CommandKind::Sort { uid: false }
                    | CommandKind::Thread { uid: false }
            )
    });
    if let Some(p) = forbidden {
        out.report(
            "expunge.forbidden-context",
            cx.event,
            format!(
                "EXPUNGE sent while answering {} (tag {}, line {}); sequence numbers must not change under FETCH, STORE or SEARCH",
                p.command.name(),
                p.tag,
                p.origin.line
            ),
            Some("every client: the sequence numbers of that command's answer now point at the wrong messages".into()),
        );
    } else if session.pending.is_empty() && session.greeted {
        out.report(
            "expunge.forbidden-context",
            cx.event,
            "EXPUNGE sent with no command in progress (and not in IDLE)".into(),
            Some("every client: a message disappears while the client may be using its sequence number".into()),
        );
    }
}
