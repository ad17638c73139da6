//! `appendlimit.honoured`: a server that announces `APPENDLIMIT=n` (RFC 7889)
//! must not refuse a message of at most n bytes as too big. RFC 7889's
//! abstract: the server "can inform the client about maximum message upload
//! sizes, allowing the client to avoid sending APPEND commands that will fail
//! because the messages are too large" — a client that trusts the number
//! sends a message within it and must not get `NO [TOOBIG]` for it. (The
//! sentences of RFC 7889's body could not be read here to quote; the abstract
//! carries no keyword, so this is a warning.)
//!
//! Judged only on an APPEND of one message refused with `[TOOBIG]` while the
//! announced limit (capability `APPENDLIMIT=n`; an `APPENDLIMIT` without a
//! value means per-mailbox limits, not judged) is at least its size. A
//! MULTIAPPEND (RFC 3502) may be refused for its total size, which the
//! per-message limit does not bound. An APPEND over the limit that succeeds
//! is not judged either: the limit tells clients what to avoid.

use super::{server_message, Context, Findings};
use crate::wire::{CommandKind, RespCode, ServerMessage, StatusKind};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Status {
        tag: Some(tag),
        kind: StatusKind::No,
        code: Some(RespCode::Other(code)),
        ..
    }) = server_message(cx.event)
    else {
        return;
    };
    if !code.eq_ignore_ascii_case("TOOBIG") {
        return;
    }
    let Some(session) = cx.session else { return };
    let Some(p) = session.pending(tag) else {
        return;
    };
    let CommandKind::Append { sizes, .. } = &p.command else {
        return;
    };
    let [size] = sizes.as_slice() else { return };
    let Some(limit) = announced_limit(&session.capabilities) else {
        return;
    };
    if *size <= limit {
        out.report(
            "appendlimit.honoured",
            cx.event,
            format!(
                "APPEND of a {size}-byte message refused with [TOOBIG], but the server announced APPENDLIMIT={limit}"
            ),
            Some("clients that size their uploads by APPENDLIMIT cannot upload the message at all".into()),
        );
    }
}

/// The limit of `APPENDLIMIT=n` among the capabilities (RFC 7889:
/// `number64`), if one is announced with a value.
pub fn announced_limit(caps: &[String]) -> Option<u64> {
    caps.iter().find_map(|c| {
        let (name, value) = c.split_once('=')?;
        if !name.eq_ignore_ascii_case("APPENDLIMIT") {
            return None;
        }
        value.parse().ok()
    })
}
