//! `recent.within-exists` (RFC 3501 7.3.2) and `recent.one-session` (2.3.2).

use super::{server_message, Context, Findings};
use crate::wire::ServerMessage;

/// RFC 3501 7.3.2: "The RECENT response reports the number of messages with
/// the \Recent flag set." Those are messages of the mailbox, so never more than
/// EXISTS. RECENT and EXISTS may come in either order within one response, so
/// the two are compared when the command completes.
pub(super) fn inspect_within_exists(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status { tag: Some(_), .. }) = server_message(cx.event) else {
        return;
    };
    let Some(mb) = cx.session.and_then(|s| s.mailbox.as_ref()) else {
        return;
    };
    let Some((origin, raw)) = &mb.recent_line else {
        return;
    };
    if mb.recent > mb.exists {
        out.report_at(
            "recent.within-exists",
            &cx.event.session,
            origin,
            raw,
            format!(
                "RECENT says {} messages are recent, but the mailbox has only {} (EXISTS, less the EXPUNGEs since)",
                mb.recent, mb.exists
            ),
        );
    }
}

/// RFC 3501 2.3.2 (\Recent): "This session is the first session to have been
/// notified about this message; if the session is read-write, subsequent
/// sessions will not see \Recent set for this message." Its escape clause ("If
/// it is not possible to determine whether or not this session is the first
/// session to be notified about a message, then that message SHOULD be
/// considered recent") makes a repeat a warning.
pub(super) fn inspect_one_session(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq,
        uid,
        flags: Some(flags),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    if !flags.iter().any(|f| f.eq_ignore_ascii_case("\\Recent")) {
        return;
    }
    let Some(session) = cx.session else { return };
    let Some(mb) = &session.mailbox else { return };
    if session.rev2() {
        return;
    }
    let Some(uid) = uid.or_else(|| mb.uid_at(*seq)) else {
        return;
    };
    let Some(h) = mb.key.as_ref().and_then(|k| cx.model.account.get(k)) else {
        return;
    };
    if let Some(first) = h.recent_in.get(&uid) {
        if *first != cx.event.session {
            out.report(
                "recent.one-session",
                cx.event,
                format!(
                    "UID {uid} is shown with \\Recent, but read-write session {first} was already shown it with \\Recent"
                ),
                None,
            );
        }
    }
}
