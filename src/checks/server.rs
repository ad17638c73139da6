//! `server.stalled`: the harness's own diagnosis of a server that stopped
//! answering a command: it sent nothing, dripped bytes without finishing a
//! message, sent a line past every bound, or answered with a tag no command
//! has. The live session writes the diagnosis into the transcript as a note
//! (`== note stalled: ...`), so the finding is the same live and offline.

use super::{Context, Findings};
use crate::event::{EventKind, STALLED_NOTE};

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let EventKind::Note { text } = &cx.event.kind else {
        return;
    };
    if let Some(why) = text.trim_start().strip_prefix(STALLED_NOTE) {
        out.report(
            "server.stalled",
            cx.event,
            why.to_string(),
            Some("clients hang on the command, then drop the connection".into()),
        );
    }
}
