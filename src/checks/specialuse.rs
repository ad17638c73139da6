//! `specialuse.selection` and `specialuse.return`: RFC 6154 2's rules on the
//! special-use attributes an extended LIST returns.
//!
//! A plain LIST need not show them ("MAY include"), so only a LIST that asks
//! for them is judged: with the SPECIAL-USE selection option it lists only
//! special-use mailboxes, and with the return option (or the selection
//! option, which implies it) it shows every use a mailbox is known to have.
//! A use is known from an earlier LIST that showed it or a `CREATE ... (USE
//! ...)` that succeeded, before this LIST was sent, with no DELETE, RENAME or
//! SETMETADATA of the account sent since (any of them may change it).

use super::{server_message, Context, Findings};
use crate::wire::extended::special_uses_of;
use crate::wire::ServerMessage;

pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::List { name, attributes }) = server_message(cx.event) else {
        return;
    };
    let Some(session) = cx.session else { return };
    let Some((pending, list)) = session.listing() else {
        return;
    };
    let uses = special_uses_of(attributes);
    let has = |a: &str| attributes.iter().any(|x| x.eq_ignore_ascii_case(a));
    // RECURSIVEMATCH may bring in a parent that does not match the other
    // options (RFC 5258 3.1); a \NonExistent name has no attributes to show.
    if list.selects("SPECIAL-USE")
        && !list.selects("RECURSIVEMATCH")
        && uses.is_empty()
        && !has("\\NonExistent")
    {
        out.report(
            "specialuse.selection",
            cx.event,
            format!(
                "LIST (SPECIAL-USE) returned {name}, which carries no special-use attribute (its attributes: {})",
                shown(attributes)
            ),
            None,
        );
    }
    if !list.returns_special_use() || has("\\NonExistent") {
        return;
    }
    let Some(known) = cx
        .model
        .account
        .special_uses(&session.user, name)
        .filter(|k| k.at < pending.sent)
    else {
        return;
    };
    let missing: Vec<&String> = known
        .uses
        .iter()
        .filter(|u| !uses.iter().any(|x| x.eq_ignore_ascii_case(u)))
        .collect();
    if !missing.is_empty() {
        out.report(
            "specialuse.return",
            cx.event,
            format!(
                "LIST with the SPECIAL-USE return option showed {name} without {} (known since line {}, and no DELETE, RENAME or SETMETADATA was sent since); its attributes: {}",
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                known.line,
                shown(attributes)
            ),
            None,
        );
    }
}

fn shown(attributes: &[String]) -> String {
    if attributes.is_empty() {
        "none".into()
    } else {
        attributes.join(" ")
    }
}
