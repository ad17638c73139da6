//! `examine.read-only`: RFC 3501 6.3.2 — "The EXAMINE command is identical to
//! SELECT and returns the same output; however, the selected mailbox is
//! identified as read-only.  No changes to the permanent state of the mailbox,
//! including per-user state, are permitted".
//!
//! A STORE sent under EXAMINE that completed OK is remembered (its UIDs and the
//! system flags it set or cleared); another, read-write session that knew a
//! message's flags and is then shown them changed exactly as that STORE asked
//! has seen the permanent state change.

use super::{server_message, Context, Findings};
use crate::model::mailbox::flag_bits;
use crate::wire::ServerMessage;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq,
        uid,
        flags: Some(flags),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(mb) = cx.session.and_then(|s| s.mailbox.as_ref()) else {
        return;
    };
    if mb.read_only {
        // The examining session itself may keep session-only changes.
        return;
    }
    let (Some(uid), Some(old)) = (uid.or_else(|| mb.uid_at(*seq)), mb.flags_at(*seq)) else {
        return;
    };
    let Some(h) = mb.key.as_ref().and_then(|k| cx.model.account.get(k)) else {
        return;
    };
    let Some(&(sets, clears, line)) = h.examine_stores.get(&uid) else {
        return;
    };
    let new = flag_bits::of(flags);
    let appeared = sets & new & !old;
    let vanished = clears & old & !new;
    if appeared | vanished != 0 {
        out.report(
            "examine.read-only",
            cx.event,
            format!(
                "UID {uid} now shows the flag change a STORE under EXAMINE asked for (line {line}); a mailbox opened with EXAMINE is read-only"
            ),
            Some("a client that opens a mailbox read-only to preview it changes what every other client sees".into()),
        );
    }
}
