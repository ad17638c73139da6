//! The RFC invariants, each with a stable id, the section it enforces, a severity
//! and the clients known to break when it fails.
//!
//! `Checker` owns the `Model`. For every event it first runs each check against
//! the model as it stood *before* the event (what the client knew), then applies
//! the event. Checks are plain functions grouped one file per id prefix
//! (`uid.rs` holds `uid.*`), named after the spec section they enforce.

mod appendlimit;
mod autologout;
mod bye;
mod esearch;
mod examine;
mod exists;
mod expunge;
mod fetch;
mod flags;
mod idle;
mod mailbox;
mod modseq;
mod noop;
mod quota;
mod recent;
mod response;
mod search;
mod select;
mod server;
mod specialuse;
mod starttls;
mod tag;
mod uid;
mod uidnext;

use std::collections::{HashMap, VecDeque};

use crate::event::{Event, EventKind};
use crate::finding::{excerpt, Finding, Severity};
use crate::model::account::{AccountModel, MailboxKey};
use crate::model::{Model, SessionModel};

/// How a check can be judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judged {
    /// From any transcript, live or recorded.
    Transcript,
    /// Only by a scenario that provokes the situation and looks again afterwards.
    Scenario,
}

/// The keyword level of the RFC sentence a check enforces (one type with the
/// scenarios' expectation levels).
pub use crate::finding::Level;

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckInfo {
    pub id: &'static str,
    pub rfc: &'static str,
    /// The keyword level of the sentence in `quote`.
    pub level: Level,
    /// The RFC's own sentence the check enforces, word for word.
    pub quote: &'static str,
    /// The rule, in one sentence a person can read.
    pub rule: &'static str,
    /// Always `level.severity()`.
    pub severity: Severity,
    /// Clients known to break, and how.
    pub clients: &'static str,
    pub judged: Judged,
    /// The function that judges this check on each server event and close;
    /// `None` when another entry's function reports it too (the `uid.*`
    /// trio share one reading of the neighbours) or a scenario judges it.
    #[serde(skip)]
    pub inspect: Option<Inspect>,
}

/// A check's judgement of one event against the model before it.
pub type Inspect = fn(&Context<'_>, &mut Findings);

#[allow(clippy::too_many_arguments)] // one registry row, read as a table
const fn check(
    id: &'static str,
    rfc: &'static str,
    level: Level,
    quote: &'static str,
    rule: &'static str,
    clients: &'static str,
    judged: Judged,
    inspect: Option<Inspect>,
) -> CheckInfo {
    CheckInfo {
        id,
        rfc,
        level,
        quote,
        rule,
        severity: level.severity(),
        clients,
        judged,
        inspect,
    }
}

use Judged::{Scenario, Transcript};
use Level::{Must, Should};

/// Every check, in the order they are listed to users.
///
/// Each level was read off the quoted sentence. Where the RFC states a rule as a
/// definition without a keyword ("It is tagged with the same tag as the client
/// command") and no client could work otherwise, the level is MUST; where the
/// text leaves the behaviour legal (a keyword named `Seen` is a valid keyword),
/// the finding is a warning.
pub const CHECKS: &[CheckInfo] = &[
    check("uid.strictly-ascending", "RFC 3501 2.3.1.1, 2.3.1.2", Must,
        "This position MUST be ordered by ascending unique identifier. (2.3.1.2)",
        "UIDs ascend with sequence numbers: a message's UID is above the UID of every message before it.",
        "Outlook: 0x800CCCDC \"Your server reported a UID that does not comply with the IMAP standard\"", Transcript, Some(uid::inspect)),
    check("uid.no-reuse", "RFC 3501 2.3.1.1, RFC 4315 3", Must,
        "A 32-bit value assigned to each message, which when used with the unique identifier validity value (see below) forms a 64-bit value that MUST NOT refer to any other message in the mailbox or any subsequent mailbox with the same name forever.",
        "A UID never names another message in the same mailbox and UIDVALIDITY, even after the first message is expunged; APPENDUID and COPYUID name UIDs too.",
        "Outlook: 0x800CCCDC; clients that cache by UID show the wrong message", Transcript, Some(uid::inspect_assigned)),
    check("uid.new-above-uidnext", "RFC 3501 2.3.1.1, RFC 4315 3", Must,
        "Unique identifiers MUST be strictly ascending in the mailbox at all times.",
        "A message that appears after SELECT (or an APPENDUID/COPYUID UID) is above every UID the client has seen and at least the UIDNEXT announced.",
        "Outlook: 0x800CCCDC", Transcript, None),
    check("uidnext.monotonic", "RFC 3501 2.3.1.1", Must,
        "First, the next unique identifier value MUST NOT change unless new messages are added to the mailbox; and second, the next unique identifier value MUST change whenever new messages are added to the mailbox, even if those new messages are subsequently expunged.",
        "UIDNEXT never goes down within one UIDVALIDITY.",
        "clients that sync by UIDNEXT miss or refetch mail", Transcript, Some(uidnext::inspect)),
    check("exists.no-shrink", "RFC 3501 5.2, 7.3.1", Must,
        "In particular, it is NOT permitted to send an EXISTS response that would reduce the number of messages in the mailbox; only the EXPUNGE response can do this.",
        "EXISTS never announces fewer messages than the client knows of; only EXPUNGE removes messages.",
        "clients lose their sequence-number map", Transcript, Some(exists::inspect)),
    check("expunge.forbidden-context", "RFC 3501 7.4.1, 5.5", Must,
        "An EXPUNGE response MUST NOT be sent when no command is in progress, nor while responding to a FETCH, STORE, or SEARCH command.",
        "No EXPUNGE while answering FETCH, STORE or SEARCH (UID forms allowed), nor when no command is in progress (IDLE aside).",
        "all clients: sequence numbers shift under a command that relies on them", Transcript, Some(expunge::inspect)),
    check("expunge.in-range", "RFC 3501 2.3.1.2, 7.4.1", Must,
        "A relative position from 1 to the number of messages in the mailbox. (2.3.1.2, the message sequence number)",
        "An EXPUNGE names a sequence number that exists.",
        "clients drop the wrong message", Transcript, None),
    check("fetch.in-range", "RFC 3501 2.3.1.2, 7.4.2", Must,
        "A relative position from 1 to the number of messages in the mailbox. (2.3.1.2, the message sequence number)",
        "A FETCH response names a sequence number the server has announced with EXISTS.",
        "clients index past their message list", Transcript, Some(fetch::inspect)),
    check("fetch.uid-in-uid-command", "RFC 3501 6.4.8", Must,
        "However, server implementations MUST implicitly include the UID message data item as part of any FETCH response caused by a UID command, regardless of whether a UID was specified as a message data item to the FETCH.",
        "FETCH responses to UID FETCH and UID STORE carry the UID item.",
        "clients cannot tell which UID the data belongs to", Transcript, None),
    check("fetch.uid-stable", "RFC 3501 2.3.1.1", Must,
        "The unique identifier of a message MUST NOT change during the session, and SHOULD NOT change between sessions.",
        "A FETCH naming sequence number n and UID u agrees with the UID the client already knows for n.",
        "Outlook: 0x800CCCDC", Transcript, None),
    check("select.required-responses", "RFC 3501 6.3.1, 6.3.2, RFC 9051 6.3.2", Must,
        "Before returning an OK to the client, the server MUST send the following untagged data to the client. (6.3.1: FLAGS, EXISTS, RECENT, and OK [UIDVALIDITY], [UIDNEXT], [PERMANENTFLAGS]) The text of the tagged OK response to the EXAMINE command MUST begin with the \"[READ-ONLY]\" response code. (6.3.2) RFC 9051 6.3.2 lists FLAGS, EXISTS and LIST as REQUIRED untagged responses, and UIDNEXT and UIDVALIDITY as REQUIRED OK untagged responses.",
        "SELECT and EXAMINE give FLAGS, EXISTS, RECENT (IMAP4rev1 only), LIST (IMAP4rev2 only), OK [UIDVALIDITY] and OK [UIDNEXT]; EXAMINE completes with [READ-ONLY].",
        "clients cannot detect new mail or a mailbox reset", Transcript, Some(select::inspect)),
    check("select.read-write-code", "RFC 3501 6.3.1", Should,
        "If the client is permitted to modify the mailbox, the server SHOULD prefix the text of the tagged OK response with the \"[READ-WRITE]\" response code.",
        "A SELECT completes with [READ-WRITE] or [READ-ONLY].",
        "clients cannot tell whether flag changes will stick", Transcript, None),
    check("flags.system-backslash", "RFC 3501 2.3.2, 7.2.6", Should,
        "A system flag is a flag name that is pre-defined in this specification.  All system flags begin with \"\\\". (2.3.2) The flag parameter identifies the flags (at a minimum, the system-defined flags) that are applicable for this mailbox. (7.2.6)",
        "System flags carry their backslash: `Seen` without it is a keyword, not \\Seen. A keyword named `Seen` is legal, so this is a warning.",
        "clients show read mail as unread, or treat `Deleted` as a user label", Transcript, Some(flags::inspect)),
    check("tag.one-completion", "RFC 3501 2.2.2", Must,
        "The server completion result response indicates the success or failure of the operation.  It is tagged with the same tag as the client command which began the operation.",
        "Each command gets exactly one tagged completion, with its own tag.",
        "all clients: a command never completes, or the wrong one does", Transcript, Some(tag::inspect)),
    check("noop.always-ok", "RFC 3501 6.1.2", Must,
        "The NOOP command always succeeds.",
        "NOOP always completes OK.",
        "Outlook and other pollers treat a failed NOOP as a dead connection", Transcript, Some(noop::inspect)),
    check("idle.continuation", "RFC 2177 3", Must,
        "The server requests a response to the IDLE command using the continuation (\"+\") response. ... At that point, the server MAY send any remaining queued untagged responses and then MUST immediately send the tagged response to the IDLE command and prepare to process other commands.",
        "IDLE is answered with a `+` continuation, and DONE with a tagged OK.",
        "clients hang waiting for `+`, or drop the connection", Transcript, Some(idle::inspect)),
    check("autologout.min-30min", "RFC 3501 5.4", Must,
        "If a server has an inactivity autologout timer, the duration of that timer MUST be at least 30 minutes.",
        "The server does not log a client out before 30 minutes of inactivity; a BYE that states another reason is not an autologout.",
        "Outlook Express: 0x800CCC0F \"Your server has unexpectedly terminated the connection\"", Transcript, Some(autologout::inspect)),
    check("bye.before-close", "RFC 3501 3.4, 7.1.5", Must,
        "A server MUST NOT unilaterally close the connection without sending an untagged BYE response that contains the reason for having done so.",
        "The server sends an untagged BYE before it closes a connection.",
        "Outlook Express: 0x800CCC0F \"Your server has unexpectedly terminated the connection\"", Transcript, Some(bye::inspect)),
    check("response.syntax", "RFC 3501 2.2, 9 (and the RFC of each announced extension)", Must,
        "All interactions transmitted by client and server are in the form of lines, that is, strings that end with a CRLF. (2.2) The following syntax specification uses the Augmented Backus-Naur Form (ABNF) notation as specified in [ABNF]. (9)",
        "Every response parses by the formal syntax of RFC 3501 or of the extension the server announced (CRLF line ends, no stray spaces, text after status); the finding names the RFC whose grammar was broken.",
        "strict clients stop reading the connection", Transcript, Some(response::inspect_syntax)),
    check("response.bounded", "RFC 3501 4.3 (no limit stated)", Should,
        "(No RFC sentence: RFC 3501 sets no limit on a response's length. The bound is the harness's own, so that a runaway or hostile server is visible; it is reported as a warning and reading goes on.)",
        "A response stays within the harness's bounds on line length and literal size.",
        "clients with fixed buffers fail", Transcript, Some(response::inspect_bounded)),
    check("append.atomic", "RFC 3501 6.3.11", Must,
        "If the append is unsuccessful for any reason, the mailbox MUST be restored to its state before the APPEND attempt; no partial appending is permitted.",
        "An APPEND cut off mid-literal stores nothing; a completed one is stored exactly once.",
        "BlackBerry: outbox messages stuck or duplicated", Scenario, None),
    check("quota.overquota-code", "RFC 9208 4.3.1, RFC 5530 3", Should,
        "The OVERQUOTA response code SHOULD be returned in the tagged NO response to an APPEND/COPY/MOVE when the addition of the message(s) puts the target mailbox over any one of its quota limits.",
        "An APPEND, COPY or MOVE refused over quota says NO [OVERQUOTA]. Not judged on a server that announces only RFC 2087 QUOTA (which has no such code), nor on a refusal that carries another response code.",
        "clients report a generic failure; senders get bounces for a full mailbox", Transcript, Some(quota::inspect)),
    check("appendlimit.honoured", "RFC 7889 (abstract)", Should,
        "This document defines an extension to the IMAP service whereby a server can inform the client about maximum message upload sizes, allowing the client to avoid sending APPEND commands that will fail because the messages are too large. (No keyword: reported as a warning.)",
        "A server announcing APPENDLIMIT=n does not refuse an APPEND of one message of at most n bytes with NO [TOOBIG]. Not judged for APPENDLIMIT without a value (per-mailbox limits), nor for a MULTIAPPEND (refused for its total).",
        "clients that size uploads by APPENDLIMIT cannot upload the message at all", Transcript, Some(appendlimit::inspect)),
    check("mailbox.inuse-code", "RFC 5530 3", Should,
        "INUSE: An operation has not been carried out because it involves sawing off a branch someone else is sitting on.  Someone else may be holding an exclusive lock needed for this operation, or the operation may involve deleting a resource someone else is using, typically a mailbox. (RFC 5530 defines the codes without a keyword requiring a server to use them: reported as a warning.)",
        "A mailbox that is locked or busy answers NO [INUSE] (or another RFC 5530 code), not an opaque I/O error.",
        "Outlook and others show \"System I/O error\" and give up instead of retrying", Transcript, Some(mailbox::inspect)),
    check("starttls.no-injection", "RFC 3501 6.2.1, RFC 2595 3.1", Must,
        "A [TLS] negotiation begins immediately after the CRLF at the end of the tagged OK response from the server.  Once a client issues a STARTTLS command, it MUST NOT issue further commands until a server response is seen and the [TLS] negotiation is complete.",
        "Plaintext sent after STARTTLS in the same packet is discarded, never answered: a command that came before TLS began is not a command of the TLS session.",
        "security: a man in the middle can inject commands into the TLS session", Transcript, Some(starttls::inspect)),
    check("recent.within-exists", "RFC 3501 7.3.2", Must,
        "The RECENT response reports the number of messages with the \\Recent flag set.",
        "RECENT never counts more messages than the mailbox has (EXISTS, less the EXPUNGEs since), judged when the command completes.",
        "clients show more new messages than there are", Transcript, Some(recent::inspect_within_exists)),
    check("recent.one-session", "RFC 3501 2.3.2", Should,
        "This session is the first session to have been notified about this message; if the session is read-write, subsequent sessions will not see \\Recent set for this message. ... If it is not possible to determine whether or not this session is the first session to be notified about a message, then that message SHOULD be considered recent.",
        "Only one read-write session is shown a message with \\Recent; a warning, since the RFC lets a server that cannot tell call it recent.",
        "clients that notify on \\Recent announce the same mail on every device", Transcript, Some(recent::inspect_one_session)),
    check("flags.keyword-announced", "RFC 3501 7.2.6", Should,
        "The flag parameter identifies the flags (at a minimum, the system-defined flags) that are applicable for this mailbox.  Flags other than the system flags can also exist, depending on server implementation.  The update from the FLAGS response MUST be recorded by the client.",
        "A keyword on a message is one the mailbox's FLAGS announced (a new `* FLAGS` comes when a keyword comes into use). The sentence has no keyword for the server: a warning.",
        "clients that build their label list from FLAGS do not show the keyword", Transcript, Some(flags::inspect_keyword_announced)),
    check("fetch.immutable", "RFC 3501 2.3.1.1", Must,
        "The combination of mailbox name, UIDVALIDITY, and UID must refer to a single immutable message on that server forever.  In particular, the internal date, [RFC-2822] size, envelope, body structure, and message texts (RFC822, RFC822.HEADER, RFC822.TEXT, and all BODY[...] fetch data items) must never change.",
        "RFC822.SIZE, INTERNALDATE, ENVELOPE, BODYSTRUCTURE and the body texts of a UID never change, in any session of the account (compared by hash; partial BODY[]<n> left out).",
        "clients that cache by UID show a stale or wrong message", Transcript, Some(fetch::inspect_immutable)),
    check("uid.range-star", "RFC 3501 6.4.8", Must,
        "Thus, any UID range with * as one of its endpoints indicates at least one message (the message with the highest numbered UID), unless the mailbox is empty.",
        "`UID FETCH n:*` on a non-empty mailbox answers at least one FETCH (the last message), even when n is above every UID.",
        "clients that sync with `UID FETCH last+1:*` never learn the highest UID", Transcript, Some(fetch::inspect_range_star)),
    check("examine.read-only", "RFC 3501 6.3.2", Must,
        "The EXAMINE command is identical to SELECT and returns the same output; however, the selected mailbox is identified as read-only.  No changes to the permanent state of the mailbox, including per-user state, are permitted;",
        "A STORE sent under EXAMINE never changes the flags another session sees.",
        "a client that opens a mailbox read-only to preview it changes what every other client sees", Transcript, Some(examine::inspect)),
    check("modseq.monotonic", "RFC 7162 3.1, 3.1.2.1, 3.2", Must,
        "Every time a metadata item is modified, the server MUST assign a new mod-sequence value to it that is greater than any mod-sequence value assigned before in the mailbox (3.1, as the harness reads it); HIGHESTMODSEQ is \"the highest mod-sequence value of all messages in the mailbox\" (3.1.2.1), and a QRESYNC server \"MUST increment the per-mailbox mod-sequence when one or more messages are expunged\" (3.2).",
        "A message's MODSEQ never goes down within a session, and a SELECT/EXAMINE's HIGHESTMODSEQ is never below a MODSEQ or HIGHESTMODSEQ of the same mailbox and UIDVALIDITY known before it was sent (without QRESYNC, only while nothing was expunged).",
        "iOS Mail, Thunderbird and every CONDSTORE/QRESYNC client: a resync with CHANGEDSINCE from the remembered value misses every flag change and expunge in between", Transcript, Some(modseq::inspect_monotonic)),
    check("qresync.vanished-enabled", "RFC 7162 3.2.3, 3.2.10, RFC 5161 3.1", Must,
        "Once a client has enabled QRESYNC, the server MUST use the VANISHED response without the EARLIER tag instead of the EXPUNGE response (3.2.10); the server MUST NOT send responses an extension defines until the client has enabled it (RFC 5161, as the harness reads it).",
        "VANISHED (with or without EARLIER) comes only after the server answered `ENABLE QRESYNC` with `* ENABLED QRESYNC` in that connection.",
        "clients without QRESYNC ignore VANISHED: expunged messages stay in their list and every later sequence number is off by one", Transcript, Some(modseq::inspect_vanished)),
    check("condstore.unchangedsince", "RFC 7162 3.1.3", Must,
        "If this list is non-empty, the server MUST return in the tagged response a MODIFIED response code.  The MODIFIED response code includes the message set (for STORE) or set of UIDs (for UID STORE) of all messages that failed the UNCHANGEDSINCE test.",
        "A STORE (UNCHANGEDSINCE n) names in MODIFIED every message of its set that the server had already shown this session with a MODSEQ above n.",
        "clients that merge flag changes with conditional STOREs (CONDSTORE's lost-update protection) silently overwrite another device's change", Transcript, Some(modseq::inspect_unchangedsince)),
    check("specialuse.selection", "RFC 6154 2", Must,
        "If the client specifies the \"SPECIAL-USE\" selection option, the LIST command MUST return only those mailboxes that have a special-use attribute set.",
        "A `LIST (SPECIAL-USE)` returns only mailboxes that carry a special-use attribute (\\Sent, \\Trash, ...); RECURSIVEMATCH parents and \\NonExistent names aside.",
        "Outlook 2016+, Apple Mail and Thunderbird take what this LIST returns as the Sent/Trash/Drafts folders: a plain folder listed here becomes one", Transcript, Some(specialuse::inspect)),
    check("specialuse.return", "RFC 6154 2, 3", Must,
        "If the client specifies the \"SPECIAL-USE\" return option, the LIST command MUST return the new special-use attributes on those mailboxes that have them set. The \"SPECIAL-USE\" return option is implied by the \"SPECIAL-USE\" selection option. (2) If the server cannot create a mailbox with the designated special use defined, for whatever reason, it MUST NOT create the mailbox (3)",
        "A LIST with the SPECIAL-USE return (or selection) option shows every special use the mailbox is known to have: one an earlier LIST showed, or a `CREATE ... (USE ...)` answered OK gave it, with no DELETE, RENAME or SETMETADATA sent since.",
        "clients lose the Sent/Trash folder they were set up with and save sent mail or deleted mail somewhere else (or nowhere)", Transcript, None),
    check("esearch.single-response", "RFC 4731 3.1", Must,
        "If one or more result options described above are specified, the extended SEARCH command MUST return a single ESEARCH response [IMAPABNF], instead of the SEARCH response.",
        "A SEARCH or UID SEARCH with RETURN options (other than SAVE alone) is answered by exactly one ESEARCH and no SEARCH response; an ESEARCH's (TAG \"x\") correlator names a SEARCH in progress.",
        "a client that asked for MIN, MAX or COUNT gets no result, counts the matches twice, or gives one search's result to another", Transcript, Some(esearch::inspect_completion)),
    check("esearch.uid-indicator", "RFC 4731 3.1", Must,
        "An extended UID SEARCH command MUST cause an ESEARCH response with the UID indicator present.",
        "The ESEARCH answering UID SEARCH has the UID indicator, and the one answering SEARCH does not (its numbers are sequence numbers, as SEARCH asks).",
        "the client reads UIDs as sequence numbers (or the reverse) and fetches, flags or deletes the wrong messages", Transcript, Some(esearch::inspect)),
    check("esearch.requested", "RFC 4731 3.1", Must,
        "If the SEARCH results in no matches, the server MUST NOT include the MIN result option in the ESEARCH response; however, it still MUST send the ESEARCH response. (MIN; the same for MAX and ALL) This result option MUST always be included in the ESEARCH response. (COUNT)",
        "An ESEARCH has COUNT whenever COUNT was asked for, and MIN, MAX and ALL when they were asked for and something matched; when nothing matched (COUNT 0) it has none of MIN, MAX and ALL.",
        "the client waits for data that never comes, or shows matches where there are none", Transcript, None),
    check("esearch.consistent", "RFC 4731 3.1", Must,
        "MIN Return the lowest message number/UID that satisfies the SEARCH criteria. MAX Return the highest message number/UID that satisfies the SEARCH criteria. ALL Return all message numbers/UIDs that satisfy the SEARCH criteria. COUNT Return number of the messages that satisfy the SEARCH criteria.",
        "The data of one ESEARCH agree: MIN ≤ MAX, MIN and MAX are the lowest and highest of ALL, COUNT is the number of messages ALL names, and COUNT 1 has MIN = MAX.",
        "the client shows a count that does not match the list, or pages to a message that is not a match", Transcript, None),
    check("search.in-mailbox", "RFC 3501 2.3.1.2, 7.2.5, RFC 5256 4, RFC 4731 3.1", Must,
        "The number(s) refer to those messages that match the search criteria.  For SEARCH, these are message sequence numbers; for UID SEARCH, these are unique identifiers. (7.2.5) A relative position from 1 to the number of messages in the mailbox. (2.3.1.2)",
        "The numbers a SEARCH, SORT, THREAD or ESEARCH returns name messages of the mailbox: a sequence number is at most EXISTS by the time the command completes, and a UID is not one this session was told is expunged.",
        "the client looks up a message that does not exist: webmail shows an empty row or an error page, a sync client stops the sync", Transcript, Some(search::inspect_completion)),
    check("search.rev2-esearch", "RFC 9051 6.4.4, 7.3.4", Must,
        "Note that IMAP4rev1 used SEARCH responses [RFC3501] instead of ESEARCH responses. Clients that support only IMAP4rev2 MUST ignore SEARCH responses.",
        "Once IMAP4rev2 is in force, SEARCH and UID SEARCH are answered with ESEARCH: the IMAP4rev1 `* SEARCH` response is one an IMAP4rev2 client must ignore, so its numbers are lost.",
        "an IMAP4rev2 client ignores the answer and finds nothing: search results come back empty, a resync that searches for changes misses them", Transcript, Some(search::inspect_rev2)),
    check("sort.each-once", "RFC 5256 4", Must,
        "The SORT response occurs as a result of a SORT or UID SORT command.  It contains zero or more numbers that are the message sequence numbers or unique identifiers, as appropriate.  These numbers are ordered according to the sort criteria.",
        "A SORT or THREAD response lists each message at most once: it is an ordering (or a tree) of the messages that match, not a list that may repeat one.",
        "webmail pages through SORT results by position: a repeated message shows twice and pushes another off the page", Transcript, Some(search::inspect)),
    check("server.stalled", "RFC 3501 2.2.2, 5.5", Must,
        "The server completion result response indicates the success or failure of the operation.  It is tagged with the same tag as the client command which began the operation.",
        "A command gets its completion: a server that stalls, drips bytes, sends an endless line or answers with another tag until the harness's bounds run out is reported, with what it sent.",
        "clients hang, then drop the connection", Transcript, Some(server::inspect)),
];

/// `docs/checks.md`: every check of the registry, with its level and the RFC
/// sentence it enforces (a test keeps the file equal to this).
pub fn checks_markdown() -> String {
    let mut s = String::from(
        "# Checks\n\n\
         Generated from the check registry (`src/checks/mod.rs`, `CHECKS`); do not edit by hand.\n\
         Regenerate with `IMAPSPEC_WRITE_DOCS=1 cargo test --test checks_fire checks_md`.\n\n\
         A MUST broken is a violation; a SHOULD broken is a warning. `transcript` checks are\n\
         judged on any live run or recorded log; `scenario` checks need a scenario that provokes\n\
         the situation.\n\n\
         | id | level | RFC | judged | rule |\n| --- | --- | --- | --- | --- |\n",
    );
    let cell = |t: &str| t.replace('|', "\\|");
    for c in CHECKS {
        let judged = match c.judged {
            Judged::Transcript => "transcript",
            Judged::Scenario => "scenario",
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {judged} | {} |\n",
            c.id,
            c.level.as_str(),
            c.rfc,
            cell(c.rule)
        ));
    }
    for c in CHECKS {
        s.push_str(&format!(
            "\n## `{}`\n\n{} ({}, {}).\n\n> {}\n",
            c.id,
            c.rule,
            c.rfc,
            c.level.as_str(),
            c.quote
        ));
        if !c.clients.is_empty() {
            s.push_str(&format!("\nClients hurt: {}\n", c.clients));
        }
    }
    s
}

/// The registry entry for an id.
pub fn info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

/// What a check sees: the event, the connection's model before it, all of the model.
pub struct Context<'a> {
    pub event: &'a Event,
    pub session: Option<&'a SessionModel>,
    pub model: &'a Model,
}

/// Collects findings; keeps at most `max_per_check` of each check (the rest are
/// counted), so a log of a billion bad lines still has bounded memory.
#[derive(Debug)]
pub struct Findings {
    pub list: Vec<Finding>,
    pub dropped: HashMap<&'static str, u64>,
    per_check: HashMap<&'static str, usize>,
    max_per_check: usize,
    /// Findings that stand unless the message turns out to have been
    /// expunged (see `Suspect`); settled by `Checker::finish`.
    suspects: VecDeque<Suspect>,
}

/// A finding about a message that holds only if no session expunged it.
///
/// Across connections the harness sees replies in its own order, not the
/// server's: a session may be shown an expunged message's emptied data (RFC
/// 2180 4.1.3) before the expunging session's `* n EXPUNGE` reaches the
/// harness. Such a finding waits until the end of the run, when every
/// EXPUNGE that was sent has been seen.
#[derive(Debug)]
struct Suspect {
    mailbox: MailboxKey,
    uid: u32,
    finding: Finding,
}

/// Most suspects held; past it the oldest is settled with what is known then.
const MAX_SUSPECTS: usize = 1024;

/// The finding `check` makes of `event`.
fn finding(
    check: &'static str,
    event: &Event,
    message: String,
    client_impact: Option<String>,
) -> Finding {
    let Some(info) = info(check) else {
        // A check's own code named an id the registry lacks: a bug here,
        // never input from a server, so it stops the run loudly.
        panic!("check id `{check}` is not in the registry (src/checks/mod.rs CHECKS)");
    };
    Finding {
        check: info.id,
        severity: info.severity,
        session: event.session.to_string(),
        origin: event.origin.clone(),
        line: excerpt(&event.raw, 300),
        message,
        client_impact,
    }
}

impl Findings {
    pub fn new(max_per_check: usize) -> Self {
        Findings {
            list: Vec::new(),
            dropped: HashMap::new(),
            per_check: HashMap::new(),
            max_per_check,
            suspects: VecDeque::new(),
        }
    }

    /// Records that `check` failed on the event, with a specific message.
    pub fn report(
        &mut self,
        check: &'static str,
        event: &Event,
        message: String,
        client_impact: Option<String>,
    ) {
        self.push(finding(check, event, message, client_impact));
    }

    fn push(&mut self, finding: Finding) {
        let n = self.per_check.entry(finding.check).or_insert(0);
        *n += 1;
        if *n > self.max_per_check {
            *self.dropped.entry(finding.check).or_insert(0) += 1;
            return;
        }
        self.list.push(finding);
    }

    /// Like `report`, for a finding that stands only if UID `uid` of `mailbox`
    /// is never seen expunged by the end of the run (see `Suspect`).
    pub fn report_unless_expunged(
        &mut self,
        check: &'static str,
        cx: &Context<'_>,
        mailbox: &MailboxKey,
        uid: u32,
        message: String,
        client_impact: Option<String>,
    ) {
        if self.suspects.len() >= MAX_SUSPECTS {
            if let Some(oldest) = self.suspects.pop_front() {
                self.settle_one(oldest, &cx.model.account);
            }
        }
        self.suspects.push_back(Suspect {
            mailbox: mailbox.clone(),
            uid,
            finding: finding(check, cx.event, message, client_impact),
        });
    }

    fn settle_one(&mut self, s: Suspect, account: &AccountModel) {
        // An EXPUNGE of a message whose UID its session did not know may
        // have been this one: not sure, so no finding.
        let expunged = account
            .get(&s.mailbox)
            .is_some_and(|h| h.expunged.contains_key(&s.uid) || h.unknown_expunges > 0);
        if !expunged {
            self.push(s.finding);
        }
    }

    /// Reports every suspect whose message was not seen expunged.
    fn settle(&mut self, account: &AccountModel) {
        // Held in the order they were found, as every other finding.
        for s in std::mem::take(&mut self.suspects) {
            self.settle_one(s, account);
        }
    }

    /// Like `report`, for a finding about an earlier message (`origin`, `raw`)
    /// that could only be judged now.
    pub fn report_at(
        &mut self,
        check: &'static str,
        session: &str,
        origin: &crate::source::Origin,
        raw: &[u8],
        message: String,
    ) {
        let event = Event {
            session: std::sync::Arc::from(session),
            at: None,
            origin: origin.clone(),
            raw: raw.to_vec(),
            kind: EventKind::Note {
                text: String::new(),
            },
        };
        self.report(check, &event, message, None);
    }

    pub fn total(&self) -> u64 {
        self.list.len() as u64 + self.dropped.values().sum::<u64>()
    }
}

/// The registry's judging functions, gathered once: every server event runs
/// all of them, and walking the whole `CHECKS` table for each cost about 5%
/// of `imapspec check`'s instructions.
static INSPECTS: std::sync::LazyLock<Vec<Inspect>> =
    std::sync::LazyLock::new(|| CHECKS.iter().filter_map(|c| c.inspect).collect());

/// Runs every check on a stream of events.
#[derive(Debug)]
pub struct Checker {
    pub model: Model,
    pub findings: Findings,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            model: Model::default(),
            findings: Findings::new(1000),
        }
    }
}

impl Checker {
    pub fn on_event(&mut self, event: &Event) {
        if matches!(
            event.kind,
            EventKind::Server { .. } | EventKind::Closed { .. } | EventKind::Note { .. }
        ) {
            let cx = Context {
                event,
                session: self.model.session(&event.session),
                model: &self.model,
            };
            for inspect in INSPECTS.iter() {
                inspect(&cx, &mut self.findings);
            }
        }
        self.model.apply(event);
    }

    /// Ends the run: settles the findings that waited for every EXPUNGE to
    /// be seen. Call it before reading `findings` at the end of a run;
    /// events after it start a new wait.
    pub fn finish(&mut self) {
        self.findings.settle(&self.model.account);
    }

    pub fn into_findings(mut self) -> Findings {
        self.finish();
        self.findings
    }
}

/// The command this event completes with a tagged OK: its session, the
/// command as sent, and the completion's response code.
pub(crate) fn completed_ok<'a>(
    cx: &Context<'a>,
) -> Option<(
    &'a SessionModel,
    &'a crate::model::session::Pending,
    Option<&'a crate::wire::RespCode>,
)> {
    let Some(crate::wire::ServerMessage::Status {
        tag: Some(tag),
        kind: crate::wire::StatusKind::Ok,
        code,
        ..
    }) = server_message(cx.event)
    else {
        return None;
    };
    let session = cx.session?;
    Some((session, session.pending(tag)?, code.as_ref()))
}

/// The server message of a server event.
pub(crate) fn server_message(event: &Event) -> Option<&crate::wire::ServerMessage> {
    match &event.kind {
        EventKind::Server { message, .. } => Some(message),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_sections_named() {
        let mut ids: Vec<_> = super::CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), super::CHECKS.len());
        assert!(super::CHECKS.iter().all(|c| c.rfc.starts_with("RFC ")));
    }
}
