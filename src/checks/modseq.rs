//! `modseq.monotonic` and `qresync.vanished-enabled`: RFC 7162's CONDSTORE
//! and QRESYNC rules on mod-sequences and VANISHED.
//!
//! A message's MODSEQ only grows, and a mailbox's HIGHESTMODSEQ never falls
//! below what was known of it within one UIDVALIDITY (a server that lost its
//! mod-sequences must change UIDVALIDITY instead). Across connections the
//! harness sees replies in its own order, so another session's values bind a
//! SELECT only if they were known before the SELECT was sent (as for UIDNEXT).

use super::{completed_ok, server_message, Context, Findings};
use crate::model::session::Pending;
use crate::model::SessionModel;
use crate::wire::{CommandKind, ServerMessage};

pub(super) fn inspect_monotonic(cx: &Context<'_>, out: &mut Findings) {
    if let Some((session, p, _)) = completed_ok(cx) {
        select_highest_modseq(cx, session, p, out);
        return;
    }
    let Some(ServerMessage::Fetch {
        seq,
        uid,
        modseq: Some(m),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(mb) = &session.mailbox else { return };
    // Within one connection responses come in the server's order.
    let Some(uid) = uid.or_else(|| mb.uid_at(*seq)) else {
        return;
    };
    if let Some(prev) = mb.modseqs.get(&uid).filter(|p| m < p) {
        out.report(
            "modseq.monotonic",
            cx.event,
            format!(
                "MODSEQ of UID {uid} in {} went down from {prev} to {m} in the same session",
                mb.name
            ),
            None,
        );
    }
}

/// A SELECT/EXAMINE completes: its HIGHESTMODSEQ, now that the UIDVALIDITY
/// it belongs to is known.
fn select_highest_modseq(
    cx: &Context<'_>,
    session: &SessionModel,
    p: &Pending,
    out: &mut Findings,
) {
    let Some(mb) = &session.mailbox else { return };
    if !matches!(p.command, CommandKind::Select { .. }) {
        return;
    }
    let (Some((n, origin, raw)), Some(key)) = (&mb.select_highest_modseq, &mb.key) else {
        return;
    };
    let Some(h) = cx.model.account.get(key) else {
        return;
    };
    // CONDSTORE alone defines HIGHESTMODSEQ as the highest of the messages
    // in the mailbox, so expunging the top one may lower it; QRESYNC makes
    // an expunge take a new mod-sequence (RFC 7162 3.2: "MUST increment the
    // per-mailbox mod-sequence when one or more messages are expunged").
    let expunges_count = session.has_capability("QRESYNC");
    if !expunges_count && (!h.expunged.is_empty() || h.unknown_expunges > 0) {
        return;
    }
    let floor = h.modseq_log.before(p.sent);
    if *n < floor {
        out.report_at(
            "modseq.monotonic",
            &cx.event.session,
            origin,
            raw,
            format!(
                "HIGHESTMODSEQ {n} for {} is below the mod-sequence {floor} known before this {} was sent (same UIDVALIDITY {}): a client resyncing with CHANGEDSINCE misses every change in between",
                mb.name,
                p.command.name(),
                key.uid_validity
            ),
        );
    }
}

pub(super) fn inspect_vanished(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Vanished { earlier, .. }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    if !session.qresync_enabled {
        let what = if *earlier {
            "VANISHED (EARLIER)"
        } else {
            "VANISHED"
        };
        out.report(
            "qresync.vanished-enabled",
            cx.event,
            format!(
                "{what} sent to a client that has not enabled QRESYNC (no `* ENABLED QRESYNC` in this connection)"
            ),
            Some(
                "a client without QRESYNC does not know VANISHED: it keeps the expunged messages and its sequence numbers no longer match the server's".into(),
            ),
        );
    }
}

/// `condstore.unchangedsince`: a conditional STORE of a message the client
/// had been shown a MODSEQ above the UNCHANGEDSINCE value for must leave it
/// alone and name it in MODIFIED (RFC 7162 3.1.3).
pub(super) fn inspect_unchangedsince(cx: &Context<'_>, out: &mut Findings) {
    let Some((_, p, code)) = completed_ok(cx) else {
        return;
    };
    let Some(args) = &p.store else { return };
    let Some(limit) = args.unchanged_since else {
        return;
    };
    let modified = match code {
        Some(crate::wire::RespCode::Modified(set)) => set.0.as_slice(),
        _ => &[],
    };
    let missing: Vec<u32> = args
        .stale
        .iter()
        .map(|&(seq, uid)| if args.uid { uid } else { seq })
        .filter(|n| !modified.iter().any(|&(lo, hi)| (lo..=hi).contains(n)))
        .collect();
    if let Some(first) = missing.first() {
        let what = if args.uid { "UID" } else { "message" };
        out.report(
            "condstore.unchangedsince",
            cx.event,
            format!(
                "STORE (UNCHANGEDSINCE {limit}) completed without naming {what} {first} in MODIFIED ({} such), though the server had shown it a MODSEQ above {limit} before the STORE was sent",
                missing.len()
            ),
            Some("the conditional STORE overwrote another client's change: the lost update CONDSTORE exists to prevent".into()),
        );
    }
}
