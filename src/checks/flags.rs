//! `flags.system-backslash`: RFC 3501 2.3.2 — system flags start with a backslash.
//! `* FLAGS (Answered Flagged Deleted Seen Draft)` (seed 001's GMS server) parses,
//! since a keyword is any atom, but it names five keywords, not the system flags.

use super::{server_message, Context, Findings};
use crate::wire::decode::keyword_like_system_flag;
use crate::wire::{RespCode, ServerMessage};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let (flags, what) = match server_message(cx.event) {
        Some(ServerMessage::Flags(f)) => (f, "FLAGS"),
        Some(ServerMessage::Status {
            code: Some(RespCode::PermanentFlags(f)),
            ..
        }) => (f, "PERMANENTFLAGS"),
        Some(ServerMessage::Fetch { flags: Some(f), .. }) => (f, "FETCH FLAGS"),
        _ => return,
    };
    let bad: Vec<&str> = flags
        .iter()
        .filter(|f| keyword_like_system_flag(f))
        .map(|f| f.as_ref())
        .collect();
    if bad.is_empty() {
        return;
    }
    let fixed: Vec<String> = bad.iter().map(|f| format!("\\{f}")).collect();
    out.report(
        "flags.system-backslash",
        cx.event,
        format!(
            "{what} has {} without a backslash: these are keywords, not the system flags {}",
            bad.join(" "),
            fixed.join(" ")
        ),
        Some("clients show read mail as unread and cannot set or clear these flags".into()),
    );
}

/// `flags.keyword-announced`: RFC 3501 7.2.6 — "The flag parameter identifies
/// the flags (at a minimum, the system-defined flags) that are applicable for
/// this mailbox. ... The update from the FLAGS response MUST be recorded by the
/// client." A keyword on a message that the mailbox's FLAGS never listed is a
/// flag the server did not identify as applicable; the sentence carries no
/// keyword for the server, so this is a warning.
pub(super) fn inspect_keyword_announced(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Fetch {
        seq,
        flags: Some(flags),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some(mb) = &session.mailbox else { return };
    if !mb.seen_flags {
        // The log began after SELECT: what FLAGS said is not known.
        return;
    }
    let unannounced: Vec<&str> = flags
        .iter()
        .filter(|f| !f.starts_with('\\') && !keyword_like_system_flag(f))
        .filter(|f| !mb.mailbox_flags.iter().any(|m| m.eq_ignore_ascii_case(f)))
        // A keyword this session's own STORE created (PERMANENTFLAGS `\*`,
        // RFC 3501 7.1: "it is possible to create new keywords by attempting
        // to store those flags") is known to it; other sessions must be told.
        .filter(|f| {
            !session
                .stored_keywords
                .iter()
                .any(|k| k.eq_ignore_ascii_case(f))
        })
        .map(|f| f.as_ref())
        .collect();
    if unannounced.is_empty() {
        return;
    }
    out.report(
        "flags.keyword-announced",
        cx.event,
        format!(
            "message {seq} has the keyword{} {}, which the mailbox's FLAGS ({}) never announced; a server sends a new `* FLAGS` when a keyword comes into use",
            if unannounced.len() > 1 { "s" } else { "" },
            unannounced.join(" "),
            mb.mailbox_flags.iter().map(|f| f.as_ref()).collect::<Vec<_>>().join(" ")
        ),
        Some("clients that build their label list from FLAGS do not show the keyword".into()),
    );
}
