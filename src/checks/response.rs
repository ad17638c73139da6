//! `response.syntax` (RFC 3501 2.2 and 9, and the grammar of each extension the
//! server announced) and `response.bounded`.
//!
//! A response is judged by the grammar of what the server announced: a `QUOTA`
//! response from a server announcing `QUOTA=RES-*` by RFC 9208, from one
//! announcing plain `QUOTA` by RFC 2087 (where `* QUOTA INBOX ()`, no limits, is
//! valid). Each finding names the RFC whose grammar was broken.

use super::{server_message, Context, Findings};
use crate::event::EventKind;
use crate::model::SessionModel;
use crate::wire::ServerMessage;

pub(super) fn inspect_syntax(cx: &Context<'_>, out: &mut Findings) {
    let EventKind::Server {
        syntax_error,
        incomplete,
        ..
    } = &cx.event.kind
    else {
        return;
    };
    if *incomplete {
        out.report(
            "response.syntax",
            cx.event,
            "the connection ended in the middle of this response".into(),
            None,
        );
    } else if let Some(why) = syntax_error {
        // UTF-8 text is RFC 9051's grammar once IMAP4rev2 is on, and taken as
        // such after ENABLE UTF8=ACCEPT (see `decode::UTF8_TEXT`).
        if why == crate::wire::decode::UTF8_TEXT
            && cx.session.is_some_and(|s| s.rev2() || s.utf8_enabled)
        {
            return;
        }
        let grammar = grammar_of(&cx.event.raw, cx.session);
        out.report(
            "response.syntax",
            cx.event,
            format!("response does not parse by the formal syntax of {grammar}: {why}"),
            None,
        );
    } else if let Some(ServerMessage::Quota { resources: 0 }) = server_message(cx.event) {
        // RFC 9208 7: quota-list = "(" quota-resource *(SP quota-resource) ")".
        // RFC 2087 allows the empty list; only a server that announced the
        // RFC 9208 resource types promised the stricter grammar.
        if cx.session.is_some_and(announces_rfc9208) {
            out.report(
                "response.syntax",
                cx.event,
                "response does not parse by the formal syntax of RFC 9208 7: a QUOTA response lists at least one resource (`quota-list = \"(\" quota-resource *(SP quota-resource) \")\"`); the server announced QUOTA=RES-*, so RFC 2087's empty list does not apply".into(),
                None,
            );
        }
    }
}

pub(super) fn inspect_bounded(cx: &Context<'_>, out: &mut Findings) {
    let EventKind::Server {
        truncated: Some(why),
        ..
    } = &cx.event.kind
    else {
        return;
    };
    out.report(
        "response.bounded",
        cx.event,
        format!("response cut: {why}"),
        None,
    );
}

fn announces_rfc9208(session: &SessionModel) -> bool {
    session
        .capabilities
        .iter()
        .any(|c| c.len() > 10 && c[..10].eq_ignore_ascii_case("QUOTA=RES-"))
}

/// The grammar a response is judged by: the extension that defines the
/// response named by its first word, else RFC 3501 9.
fn grammar_of(raw: &[u8], session: Option<&SessionModel>) -> &'static str {
    let line = crate::wire::decode::first_line(raw);
    let mut words = line.split(' ');
    let first = words.next().unwrap_or("");
    let mut name = words.next().unwrap_or("");
    if first == "*" && name.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
        // `* n FETCH`, `* n EXISTS`: the name is the third word.
        name = words.next().unwrap_or("");
    }
    let name = name.to_ascii_uppercase();
    if first != "*" {
        return "RFC 3501 9";
    }
    match name.as_str() {
        "QUOTA" | "QUOTAROOT" => {
            if session.is_some_and(announces_rfc9208) {
                "RFC 9208 7"
            } else {
                "RFC 2087 5"
            }
        }
        "ENABLED" => "RFC 5161 4",
        "ID" => "RFC 2971 4",
        "NAMESPACE" => "RFC 2342 6",
        "VANISHED" => "RFC 7162 7",
        "ESEARCH" => "RFC 4731 3",
        "METADATA" => "RFC 5464 9",
        "SORT" => "RFC 5256 5",
        "THREAD" => "RFC 5256 5",
        "ACL" | "LISTRIGHTS" | "MYRIGHTS" => "RFC 4314 5",
        _ => "RFC 3501 9",
    }
}
