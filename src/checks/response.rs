//! `response.syntax` (RFC 3501 9, Formal Syntax) and `response.bounded`.

use super::{Context, Findings};
use crate::event::EventKind;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let EventKind::Server {
        syntax_error,
        truncated,
        incomplete,
        ..
    } = &cx.event.kind
    else {
        return;
    };
    if let Some(why) = truncated {
        out.report(
            "response.bounded",
            cx.event,
            format!("response cut: {why}"),
            None,
        );
    }
    if *incomplete {
        out.report(
            "response.syntax",
            cx.event,
            "the connection ended in the middle of this response".into(),
            None,
        );
    } else if let Some(why) = syntax_error {
        out.report(
            "response.syntax",
            cx.event,
            format!("response does not parse: {why}"),
            None,
        );
    }
}
