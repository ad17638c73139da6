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
