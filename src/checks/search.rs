//! `search.in-mailbox` and `sort.each-once`: the numbers a SEARCH, SORT,
//! THREAD or ESEARCH answers with (RFC 3501 7.2.5, RFC 5256 4, RFC 4731);
//! `search.rev2-esearch`: the response that carries them once IMAP4rev2 is
//! on (RFC 9051 6.4.4).
//!
//! The numbers "refer to those messages that match": a sequence number is a
//! position from 1 to the number of messages, so it is judged against EXISTS
//! when the command completes (the server may announce the new mail the
//! numbers include later within the same command); a UID the session has
//! been told is expunged names no message any more. A sorted list or a
//! thread tree of the matching messages holds each of them once.

use super::{completed_ok, server_message, Context, Findings};
use crate::wire::{FoundBy, ServerMessage};

/// At most this many repeated numbers are named in one finding.
const SHOWN: usize = 5;

/// The completion of a SEARCH, SORT or THREAD whose numbers passed EXISTS.
pub(super) fn inspect_completion(cx: &Context<'_>, out: &mut Findings) {
    let Some((session, pending, _)) = completed_ok(cx) else {
        return;
    };
    let (Some((max, origin)), Some(mb)) = (&pending.found_max, &session.mailbox) else {
        return;
    };
    if *max > mb.exists {
        out.report(
            "search.in-mailbox",
            cx.event,
            format!(
                "{} returned message {max} (line {}), but the mailbox has {} messages when it completes",
                pending.command.name(),
                origin.line,
                mb.exists
            ),
            Some("the client looks up a message that does not exist: webmail shows an empty row or an error, a sync client stops".into()),
        );
    }
}

/// `* SEARCH` in a session that enabled IMAP4rev2.
pub(super) fn inspect_rev2(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Found {
        by: FoundBy::Search,
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    if session.rev2() {
        out.report(
            "search.rev2-esearch",
            cx.event,
            "`* SEARCH` after IMAP4rev2 was enabled: an IMAP4rev2 client must ignore it (RFC 9051 6.4.4); the answer is ESEARCH".into(),
            None,
        );
    }
}

/// A result line: UIDs told expunged, and numbers repeated in SORT/THREAD.
pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    if let Some(ServerMessage::Esearch(e)) = server_message(cx.event) {
        return esearch_expunged(cx, e, out);
    }
    let Some(ServerMessage::Found { by, numbers }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    let uid = session.searching(*by).map(|p| p.command.is_uid());
    if let (Some(true), Some(mb)) = (uid, &session.mailbox) {
        if let Some(gone) = numbers.iter().find(|u| mb.expunged_here.contains(u)) {
            out.report(
                "search.in-mailbox",
                cx.event,
                format!(
                    "UID {} returned UID {gone}, which this session was told is expunged",
                    by.as_str()
                ),
                Some(
                    "the client shows a message it has already removed, or fails fetching it"
                        .into(),
                ),
            );
        }
    }
    if *by == FoundBy::Search {
        return;
    }
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    let mut repeated: Vec<u32> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    repeated.dedup();
    if !repeated.is_empty() {
        let shown: Vec<String> = repeated.iter().take(SHOWN).map(u32::to_string).collect();
        out.report(
            "sort.each-once",
            cx.event,
            format!(
                "{} lists {} {} more than once",
                by.as_str(),
                if repeated.len() == 1 {
                    "message"
                } else {
                    "messages"
                },
                shown.join(", ") + if repeated.len() > SHOWN { ", ..." } else { "" }
            ),
            None,
        );
    }
}

/// Most numbers of one ESEARCH looked up among the expunged UIDs.
const ESEARCH_LOOKUPS: usize = 100_000;

/// An ESEARCH with the UID indicator (RFC 4731) naming a UID this session
/// was told is expunged. Its sequence numbers are held against EXISTS at the
/// completion, like a SEARCH's (the model keeps the largest).
fn esearch_expunged(cx: &Context<'_>, e: &crate::wire::esearch::Esearch, out: &mut Findings) {
    let (true, Some(session)) = (e.uid, cx.session) else {
        return;
    };
    let Some(mb) = &session.mailbox else { return };
    if let Some(gone) = e
        .numbers(ESEARCH_LOOKUPS)
        .into_iter()
        .find(|u| mb.expunged_here.contains(u))
    {
        out.report(
            "search.in-mailbox",
            cx.event,
            format!("ESEARCH (UID) returned UID {gone}, which this session was told is expunged"),
            Some("the client shows a message it has already removed, or fails fetching it".into()),
        );
    }
}
