//! `esearch.*`: the ESEARCH response of RFC 4731 (the `RETURN (...)` form of
//! SEARCH and UID SEARCH).
//!
//! An ESEARCH is tied to its command by its `(TAG "x")` correlator; one
//! without a correlator is taken as the answer of the one extended SEARCH in
//! progress when there is exactly one (the model's `esearch_answers`), and is
//! not judged against a command otherwise. What a response must hold is
//! judged against what its command asked for: COUNT always when asked, MIN,
//! MAX and ALL when something matched and never when nothing did, the UID
//! indicator exactly for UID SEARCH. The data must also agree with itself
//! (MIN is the lowest of ALL, COUNT the size of ALL). Data the client did not
//! ask for is not judged: no sentence of RFC 4731 that the harness could
//! check forbids it.

use super::{completed_ok, server_message, Context, Findings};
use crate::wire::esearch::{Esearch, SearchReturn};
use crate::wire::{CommandKind, ServerMessage};

/// One ESEARCH response.
pub(super) fn inspect(cx: &Context<'_>, out: &mut Findings) {
    let Some(ServerMessage::Esearch(e)) = server_message(cx.event) else {
        return;
    };
    consistent(cx, e, out);
    let Some(session) = cx.session else { return };
    let Some(p) = session.esearch_answers(e) else {
        if let Some(tag) = &e.tag {
            if !session.pending.iter().any(|p| &p.tag == tag) {
                out.report(
                    "esearch.single-response",
                    cx.event,
                    format!("ESEARCH names tag {tag:?}, but no command with that tag is in progress"),
                    Some("the client cannot match the result to its search: the search never completes for it, or another one gets these numbers".into()),
                );
            } else if let Some(p) = session
                .pending
                .iter()
                .find(|p| &p.tag == tag && !p.unparsed)
            {
                out.report(
                    "esearch.single-response",
                    cx.event,
                    format!(
                        "ESEARCH names tag {tag:?}, which is a {}, not a SEARCH",
                        p.command.name()
                    ),
                    None,
                );
            }
        }
        return;
    };
    let CommandKind::Search { uid, returns } = &p.command else {
        return;
    };
    // RFC 9051 6.4.4: in IMAP4rev2 a SEARCH without RETURN is answered by
    // ESEARCH as if it had asked for ALL.
    let rev2_all = SearchReturn {
        all: true,
        ..SearchReturn::default()
    };
    let r = match returns {
        Some(r) => r,
        None if session.rev2() => &rev2_all,
        None => return,
    };
    if *uid != e.uid {
        out.report(
            "esearch.uid-indicator",
            cx.event,
            if *uid {
                format!("the ESEARCH answering UID SEARCH {} has no UID indicator", p.tag)
            } else {
                format!(
                    "the ESEARCH answering SEARCH {} has the UID indicator: its numbers are UIDs where sequence numbers were asked for",
                    p.tag
                )
            },
            Some("the client reads UIDs as sequence numbers (or the reverse) and acts on the wrong messages".into()),
        );
    }
    let mut missing = Vec::new();
    if r.count && e.count.is_none() {
        missing.push("COUNT");
    }
    let matched =
        e.count.map(|c| c > 0).unwrap_or(false) || e.min.is_some() || e.max.is_some() || e.has_all;
    if matched {
        for (asked, got, name) in [
            (r.min, e.min.is_some(), "MIN"),
            (r.max, e.max.is_some(), "MAX"),
            (r.all, e.has_all, "ALL"),
        ] {
            if asked && !got {
                missing.push(name);
            }
        }
    }
    if !missing.is_empty() {
        out.report(
            "esearch.requested",
            cx.event,
            format!(
                "{} {} asked for {}, and the ESEARCH does not have it",
                p.command.name(),
                p.tag,
                missing.join(", ")
            ),
            Some("the client waits for data that never comes, or takes \"no matches\"".into()),
        );
    }
    if e.count == Some(0) {
        let present: Vec<&str> = [
            (e.min.is_some(), "MIN"),
            (e.max.is_some(), "MAX"),
            (e.has_all, "ALL"),
        ]
        .into_iter()
        .filter(|(p, _)| *p)
        .map(|(_, n)| n)
        .collect();
        if !present.is_empty() {
            out.report(
                "esearch.requested",
                cx.event,
                format!(
                    "COUNT 0: nothing matched, but the ESEARCH has {}",
                    present.join(", ")
                ),
                None,
            );
        }
    }
}

/// The data of one ESEARCH agree with each other (RFC 4731 3.1's
/// definitions: MIN the lowest, MAX the highest, ALL every one, COUNT how
/// many).
fn consistent(cx: &Context<'_>, e: &Esearch, out: &mut Findings) {
    let mut wrong = Vec::new();
    if let (Some(min), Some(max)) = (e.min, e.max) {
        if min > max {
            wrong.push(format!("MIN {min} is above MAX {max}"));
        }
    }
    if let Some(all) = &e.all {
        let (lo, hi) = (all.first().map(|r| r.0), all.last().map(|r| r.1));
        if let (Some(min), Some(lo)) = (e.min, lo) {
            if min != lo {
                wrong.push(format!("MIN {min} is not the lowest of ALL ({lo})"));
            }
        }
        if let (Some(max), Some(hi)) = (e.max, hi) {
            if max != hi {
                wrong.push(format!("MAX {max} is not the highest of ALL ({hi})"));
            }
        }
        if let (Some(count), Some(n)) = (e.count, e.all_count()) {
            if u64::from(count) != n {
                wrong.push(format!("COUNT {count}, but ALL names {n} messages"));
            }
        }
    }
    if let (Some(1), Some(min), Some(max)) = (e.count, e.min, e.max) {
        if min != max {
            wrong.push(format!("COUNT 1, but MIN {min} and MAX {max} differ"));
        }
    }
    if !wrong.is_empty() {
        out.report(
            "esearch.consistent",
            cx.event,
            format!("the ESEARCH contradicts itself: {}", wrong.join("; ")),
            Some("the client shows a count that does not match the list, or pages to a message that is not a match".into()),
        );
    }
}

/// The completion of an extended SEARCH: exactly one ESEARCH, no SEARCH.
pub(super) fn inspect_completion(cx: &Context<'_>, out: &mut Findings) {
    let Some((_, p, _)) = completed_ok(cx) else {
        return;
    };
    let CommandKind::Search {
        returns: Some(r), ..
    } = &p.command
    else {
        return;
    };
    if !r.wants_esearch() || !r.other.is_empty() {
        return;
    }
    let why = if p.esearches == 0 && p.plain_search {
        "was answered with a SEARCH response, not an ESEARCH".to_string()
    } else if p.esearches == 0 {
        "got no ESEARCH response".to_string()
    } else if p.esearches > 1 {
        format!("got {} ESEARCH responses, not one", p.esearches)
    } else if p.plain_search {
        "got a SEARCH response as well as its ESEARCH".to_string()
    } else {
        return;
    };
    out.report(
        "esearch.single-response",
        cx.event,
        format!("{} {} (RETURN options) {why}", p.command.name(), p.tag),
        Some(
            "a client that asked for MIN/MAX/COUNT has no result, or counts the messages twice"
                .into(),
        ),
    );
}
