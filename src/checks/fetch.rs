//! `fetch.in-range` (RFC 3501 7.4.2), `fetch.uid-stable` (RFC 3501 2.3.1.1) and
//! `fetch.uid-in-uid-command` (RFC 3501 6.4.8).

use super::{server_message, Context, Findings};
use crate::model::account::MailboxHistory;
use crate::wire::{CommandKind, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq, uid, facts, ..
    }) = server_message(cx.event)
    else {
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
    // RFC 3501 6.4.8: the UID item is "sent as part of any FETCH response
    // caused by a UID command". A FETCH of flags alone may not be caused by
    // it: it may be an unsolicited flag update (RFC 3501 7.4.2) after another
    // session's STORE. While another session has this mailbox open such a
    // response is not judged (a finding must be sure).
    let maybe_unsolicited = facts.is_empty()
        && session
            .mailbox
            .as_ref()
            .and_then(|m| m.key.as_ref())
            .is_some_and(|k| cx.model.shared_with_others(&cx.event.session, k));
    if uid.is_none() && all_uid_fetch && !maybe_unsolicited {
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

/// `fetch.immutable`: RFC 3501 2.3.1.1 — "The combination of mailbox name,
/// UIDVALIDITY, and UID must refer to a single immutable message on that server
/// forever.  In particular, the internal date, [RFC-2822] size, envelope, body
/// structure, and message texts (RFC822, RFC822.HEADER, RFC822.TEXT, and all
/// BODY[...] fetch data items) must never change." Values are compared by hash,
/// across every session of the account.
pub(super) fn inspect_immutable(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq, uid, facts, ..
    }) = server_message(cx.event)
    else {
        return;
    };
    if facts.is_empty() {
        return;
    }
    let Some(mb) = cx.session.and_then(|s| s.mailbox.as_ref()) else {
        return;
    };
    let Some(uid) = uid.or_else(|| mb.uid_at(*seq)) else {
        return;
    };
    let Some((key, h)) = mb
        .key
        .as_ref()
        .and_then(|k| Some((k, cx.model.account.get(k)?)))
    else {
        return;
    };
    // Another session expunged it; this one, not yet told, still sees it.
    // What a server shows of such a message is RFC 2180 4.1's choice (4.1.3:
    // empty or NIL data, as Dovecot sends: RFC822.SIZE 0), not a change of
    // the message.
    if h.expunged.contains_key(&uid) {
        return;
    }
    let changed: Vec<String> = facts
        .iter()
        .filter_map(|f| {
            let (hash, line) = h.facts.get(&MailboxHistory::fact_key(uid, &f.item))?;
            (*hash != f.hash).then(|| format!("{} (first given at line {line})", f.item))
        })
        .collect();
    if !changed.is_empty() {
        // The expunge may be another session's whose `* n EXPUNGE` the
        // harness has not read yet (replies of different connections arrive
        // in no fixed order): judged at the end of the run.
        out.report_unless_expunged(
            "fetch.immutable",
            cx,
            key,
            uid,
            format!(
                "UID {uid} of {} has changed {}; these never change for a UID in one UIDVALIDITY",
                mb.name,
                changed.join(", ")
            ),
            Some("clients that cache by UID show a stale or wrong message".into()),
        );
    }
}

/// `uid.range-star`: RFC 3501 6.4.8 — "Thus, any UID range with * as one of
/// its endpoints indicates at least one message (the message with the highest
/// numbered UID), unless the mailbox is empty."
pub(super) fn inspect_range_star(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind: StatusKind::Ok,
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(p) = session.pending(tag) else {
        return;
    };
    let Some(mb) = &session.mailbox else { return };
    if p.range_star && !p.shared && !p.unparsed && p.fetches == 0 && mb.open && mb.exists > 0 {
        out.report(
            "uid.range-star",
            cx.event,
            format!(
                "UID FETCH with a range ending in * (line {}) completed with no FETCH response, but the mailbox has {} messages: n:* always includes the last one",
                p.origin.line, mb.exists
            ),
            Some("clients that sync with `UID FETCH last+1:*` never learn the highest UID".into()),
        );
    }
}
