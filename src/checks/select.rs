//! `select.required-responses` (RFC 3501 6.3.1, 6.3.2, RFC 9051 6.3.2: what
//! SELECT and EXAMINE MUST say) and `select.read-write-code` (6.3.1: "the server SHOULD prefix the
//! text of the tagged OK response with the "[READ-WRITE]" response code").

use super::{completed_ok, Context, Findings};
use crate::wire::{CommandKind, RespCode};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some((session, p, code)) = completed_ok(cx) else {
        return;
    };
    let CommandKind::Select { .. } = p.command else {
        return;
    };
    let Some(mb) = &session.mailbox else { return };
    let mut missing = Vec::new();
    if !mb.seen_flags {
        missing.push("* FLAGS");
    }
    if !mb.seen_exists {
        missing.push("* n EXISTS");
    }
    // IMAP4rev2 (RFC 9051) dropped RECENT; a server announcing both revisions
    // is rev1 until the client enables rev2 (RFC 9051 appendix A).
    if !mb.seen_recent && !session.rev2() {
        missing.push("* n RECENT");
    }
    // RFC 9051 6.3.2 adds LIST to the REQUIRED untagged responses of an
    // IMAP4rev2 SELECT ("The server MUST return a LIST response with the
    // mailbox name").
    if session.rev2() && !mb.seen_list {
        missing.push("* LIST (IMAP4rev2)");
    }
    if mb.uid_validity.is_none() {
        missing.push("* OK [UIDVALIDITY n]");
    }
    if mb.uid_next_at_select.is_none() {
        missing.push("* OK [UIDNEXT n]");
    }
    let access_code = matches!(code, Some(RespCode::ReadWrite | RespCode::ReadOnly));
    let examine = matches!(
        p.command,
        CommandKind::Select {
            read_only: true,
            ..
        }
    );
    if examine && code != Some(&RespCode::ReadOnly) {
        // 6.3.2: "The text of the tagged OK response to the EXAMINE command
        // MUST begin with the "[READ-ONLY]" response code."
        missing.push("[READ-ONLY] on the tagged OK");
    } else if !examine && !access_code {
        out.report(
            "select.read-write-code",
            cx.event,
            format!(
                "SELECT of {} completed without [READ-WRITE] or [READ-ONLY]",
                mb.name
            ),
            None,
        );
    }
    if !missing.is_empty() {
        out.report(
            "select.required-responses",
            cx.event,
            format!("{} of {} completed without {}", p.command.name(), mb.name, missing.join(", ")),
            Some("a client without UIDVALIDITY/UIDNEXT cannot tell new mail or a mailbox reset from its cache".into()),
        );
    }
}
