//! `uid.strictly-ascending`, `uid.no-reuse`, `uid.new-above-uidnext`:
//! RFC 3501 2.3.1.1, Unique Identifier (UID) Message Attribute.
//!
//! These are the checks behind Outlook's 0x800CCCDC; each finding says what Outlook
//! would show, in its own words (seed 000).

use super::{server_message, Context, Findings};
use crate::model::MailboxKey;
use crate::wire::{CommandKind, RespCode, ServerMessage};

/// How far to look for the nearest known UID on each side.
const REACH: u32 = 64;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq,
        uid: Some(uid),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(mb) = &session.mailbox else { return };
    let (seq, uid) = (*seq, *uid);
    if mb.uid_at(seq).is_some() {
        // Known already: equal is fine, different is fetch.uid-stable's to report.
        return;
    }
    let (below, above) = mb.neighbours(seq, REACH);
    let outlook = || {
        let prev = seq.checked_sub(1).and_then(|s| mb.uid_at(s)).unwrap_or(0);
        let next = mb.uid_at(seq.saturating_add(1)).unwrap_or(0);
        Some(format!(
            "Outlook would show 0x800CCCDC \"Your server reported a UID that does not comply with \
             the IMAP standard\": MsgSeqNum {seq}, New UID {uid}, Prev UID {prev}, Next UID {next}"
        ))
    };

    if let Some((s, u)) = below.filter(|&(_, u)| u >= uid) {
        out.report(
            "uid.strictly-ascending",
            cx.event,
            format!("message {seq} has UID {uid}, but message {s} before it has UID {u}; UIDs must ascend with sequence numbers"),
            outlook(),
        );
    } else if let Some((s, u)) = above.filter(|&(_, u)| u <= uid) {
        out.report(
            "uid.strictly-ascending",
            cx.event,
            format!("message {seq} has UID {uid}, but message {s} after it has UID {u}; UIDs must ascend with sequence numbers"),
            outlook(),
        );
    }

    let twin = [below, above]
        .into_iter()
        .flatten()
        .find(|&(_, u)| u == uid);
    let expunged = mb
        .key
        .as_ref()
        .and_then(|k| cx.model.account.get(k))
        .and_then(|h| h.expunged.get(&uid).copied())
        // A reuse only if the client could not still legally see the expunged
        // message: it was expunged before this selection began. (That the
        // server announced the message to this session only after another
        // session's expunge proves nothing: a server tells a session of new
        // mail and of expunges when it may, and until it has sent the EXPUNGE
        // the session still sees the message, RFC 3501 7.4.1; Dovecot under
        // concurrent load does exactly this.)
        .filter(|&when| when < mb.selected_at);
    let told = mb.expunged_here.contains(&uid);
    if let Some((s, _)) = twin {
        out.report(
            "uid.no-reuse",
            cx.event,
            format!("UID {uid} is given to message {seq}, but it already names message {s} in this mailbox"),
            outlook(),
        );
    } else if told {
        out.report(
            "uid.no-reuse",
            cx.event,
            format!("UID {uid} names message {seq}, but this session was told that the message with UID {uid} was expunged; an expunged UID never comes back"),
            outlook(),
        );
    } else if expunged.is_some() {
        out.report(
            "uid.no-reuse",
            cx.event,
            format!("UID {uid} names message {seq}, but a message with UID {uid} was expunged earlier in this mailbox (same UIDVALIDITY); a UID must never be given to another message"),
            outlook(),
        );
    }

    if mb.is_new(seq) {
        // Above every UID of the messages before it: those at lower sequence
        // numbers (a client may learn UIDs out of order, so not the highest
        // UID seen anywhere).
        if let Some((s, u)) = below.filter(|&(_, u)| uid <= u) {
            out.report(
                "uid.new-above-uidnext",
                cx.event,
                format!("message {seq} appeared after SELECT with UID {uid}, which is not above the UID {u} of message {s} before it"),
                outlook(),
            );
        } else if let Some(next) = mb.uid_next_at_select.filter(|&n| uid < n) {
            out.report(
                "uid.new-above-uidnext",
                cx.event,
                format!("message {seq} appeared after SELECT with UID {uid}, below the UIDNEXT {next} announced by SELECT"),
                outlook(),
            );
        }
    }
}

/// APPENDUID and COPYUID (RFC 4315 3) are UID facts: APPENDUID is "followed by
/// the UIDVALIDITY of the destination mailbox and the UID assigned to the
/// appended message in the destination mailbox". A UID they name must not have named another message
/// (`uid.no-reuse`), and a UID given to a new message is at least the UIDNEXT
/// announced before (`uid.new-above-uidnext`; RFC 3501 2.3.1.1).
pub(super) fn inspect_assigned(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag,
        code: Some(code),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let (uid_validity, uids, what) = match code {
        RespCode::AppendUid { uid_validity, uids } => (*uid_validity, uids, "APPENDUID"),
        RespCode::CopyUid { uid_validity, uids } => (*uid_validity, uids, "COPYUID"),
        _ => return,
    };
    let pending = match tag {
        Some(t) => session.pending(t),
        None => session
            .pending
            .iter()
            .find(|p| matches!(p.command, CommandKind::Move { .. })),
    };
    let Some(p) = pending else { return };
    let mailbox = match (&p.command, what) {
        (CommandKind::Append { mailbox, .. }, "APPENDUID") => mailbox,
        (CommandKind::Copy { mailbox, .. } | CommandKind::Move { mailbox, .. }, "COPYUID") => {
            mailbox
        }
        _ => return,
    };
    let key = MailboxKey::new(&session.user, mailbox, uid_validity);
    let Some(h) = cx.model.account.get(&key) else {
        return;
    };
    for uid in uids.iter(10_000) {
        if let Some(line) = h.assigned.get(&uid) {
            out.report(
                "uid.no-reuse",
                cx.event,
                format!("{what} gives UID {uid} in {mailbox}, but line {line} already gave UID {uid} to another message (UIDVALIDITY {uid_validity})"),
                None,
            );
            return;
        }
        // Across connections the harness sees replies in its own order: only
        // what it knew before this command was sent binds the server.
        if h.expunged.get(&uid).is_some_and(|&at| at < p.sent) {
            out.report(
                "uid.no-reuse",
                cx.event,
                format!("{what} gives UID {uid} in {mailbox}, a UID already expunged there (UIDVALIDITY {uid_validity})"),
                None,
            );
            return;
        }
        let floor = h.uid_next_before(p.sent);
        if uid < floor {
            out.report(
                "uid.new-above-uidnext",
                cx.event,
                format!(
                    "{what} gives UID {uid} in {mailbox}, below the UIDNEXT {floor} known before the command was sent"
                ),
                None,
            );
            return;
        }
    }
}
