//! Every check fires on a bad transcript and stays silent on its good twin.
//! The table must cover every check that can be judged from a transcript.

use std::io::Cursor;
use std::sync::Arc;

use imapspec::checks::{Checker, Judged, CHECKS};
use imapspec::transcript::{read_lines, Format};
use imapspec::wire::Limits;

/// Runs every check on a generic transcript; returns (check id, line) pairs.
fn findings(transcript: &str) -> Vec<(&'static str, u64)> {
    let mut checker = Checker::default();
    let name: Arc<str> = Arc::from("case");
    read_lines(
        &mut Cursor::new(transcript.as_bytes()),
        Format::Generic,
        &name,
        &Limits::default(),
        &mut |e| checker.on_event(&e),
    )
    .expect("readable transcript");
    checker
        .into_findings()
        .list
        .iter()
        .map(|f| (f.check, f.origin.line))
        .collect()
}

/// A SELECT of 3 messages (UIDs 10, 11, 12 learned by FETCH), lines 1-12.
const SELECTED: &str = "\
S: * OK ready
C: a1 LOGIN u p
S: a1 OK done
C: a2 SELECT INBOX
S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
S: * 3 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY 7] ok
S: * OK [UIDNEXT 13] ok
S: a2 OK [READ-WRITE] done
C: a3 FETCH 1:3 (UID)
S: * 1 FETCH (UID 10)
S: * 2 FETCH (UID 11)
S: * 3 FETCH (UID 12)
S: a3 OK done
";

struct Case {
    check: &'static str,
    bad: &'static str,
    good: &'static str,
}

const CASES: &[Case] = &[
    Case {
        check: "uid.strictly-ascending",
        bad: "C: a4 NOOP\nS: * 4 EXISTS\nS: a4 OK done\nC: a5 FETCH 4 (UID)\nS: * 4 FETCH (UID 11)\nS: a5 OK done\n",
        good: "C: a4 NOOP\nS: * 4 EXISTS\nS: a4 OK done\nC: a5 FETCH 4 (UID)\nS: * 4 FETCH (UID 13)\nS: a5 OK done\n",
    },
    Case {
        // seed 000: the expunged message's UID comes back on a new message.
        check: "uid.no-reuse",
        bad: "C: a4 UID STORE 12 +FLAGS (\\Deleted)\nS: * 3 FETCH (FLAGS (\\Deleted) UID 12)\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 NOOP\nS: * 3 EXISTS\nS: a5 OK done\nC: a6 FETCH 3 (UID)\nS: * 3 FETCH (UID 12)\nS: a6 OK done\n",
        good: "C: a4 UID STORE 12 +FLAGS (\\Deleted)\nS: * 3 FETCH (FLAGS (\\Deleted) UID 12)\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 NOOP\nS: * 3 EXISTS\nS: a5 OK done\nC: a6 FETCH 3 (UID)\nS: * 3 FETCH (UID 13)\nS: a6 OK done\n",
    },
    Case {
        check: "uid.new-above-uidnext",
        bad: "C: a4 UID EXPUNGE 12\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 NOOP\nS: * 3 EXISTS\nS: a5 OK done\nC: a6 FETCH 3 (UID)\nS: * 3 FETCH (UID 12)\nS: a6 OK done\n",
        good: "C: a4 UID EXPUNGE 12\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 NOOP\nS: * 3 EXISTS\nS: a5 OK done\nC: a6 FETCH 3 (UID)\nS: * 3 FETCH (UID 14)\nS: a6 OK done\n",
    },
    Case {
        check: "uidnext.monotonic",
        bad: "C: a4 NOOP\nS: * OK [UIDNEXT 12] ok\nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * OK [UIDNEXT 14] ok\nS: a4 OK done\n",
    },
    Case {
        check: "exists.no-shrink",
        bad: "C: a4 NOOP\nS: * 2 EXISTS\nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * 2 EXPUNGE\nS: * 2 EXISTS\nS: a4 OK done\n",
    },
    Case {
        check: "expunge.forbidden-context",
        bad: "C: a4 FETCH 1 (FLAGS)\nS: * 2 EXPUNGE\nS: * 1 FETCH (FLAGS ())\nS: a4 OK done\n",
        good: "C: a4 UID FETCH 10 (FLAGS)\nS: * 2 EXPUNGE\nS: * 1 FETCH (UID 10 FLAGS ())\nS: a4 OK done\n",
    },
    Case {
        check: "expunge.in-range",
        bad: "C: a4 NOOP\nS: * 4 EXPUNGE\nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * 3 EXPUNGE\nS: a4 OK done\n",
    },
    Case {
        check: "fetch.in-range",
        bad: "C: a4 NOOP\nS: * 5 FETCH (FLAGS (\\Seen))\nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * 3 FETCH (FLAGS (\\Seen))\nS: a4 OK done\n",
    },
    Case {
        check: "fetch.uid-in-uid-command",
        bad: "C: a4 UID FETCH 10 (FLAGS)\nS: * 1 FETCH (FLAGS ())\nS: a4 OK done\n",
        good: "C: a4 UID FETCH 10 (FLAGS)\nS: * 1 FETCH (FLAGS () UID 10)\nS: a4 OK done\n",
    },
    Case {
        check: "fetch.uid-stable",
        bad: "C: a4 FETCH 2 (UID)\nS: * 2 FETCH (UID 99)\nS: a4 OK done\n",
        good: "C: a4 FETCH 2 (UID)\nS: * 2 FETCH (UID 11)\nS: a4 OK done\n",
    },
    Case {
        check: "select.required-responses",
        bad: "C: a4 EXAMINE Other\nS: * FLAGS (\\Seen)\nS: * 1 EXISTS\nS: * 0 RECENT\nS: * OK [UIDVALIDITY 3] ok\nS: a4 OK [READ-ONLY] done\n",
        good: "C: a4 EXAMINE Other\nS: * FLAGS (\\Seen)\nS: * 1 EXISTS\nS: * 0 RECENT\nS: * OK [UIDVALIDITY 3] ok\nS: * OK [UIDNEXT 2] ok\nS: a4 OK [READ-ONLY] done\n",
    },
    Case {
        check: "flags.system-backslash",
        bad: "C: a4 FETCH 1 (FLAGS)\nS: * 1 FETCH (FLAGS (Seen))\nS: a4 OK done\n",
        good: "C: a4 FETCH 1 (FLAGS)\nS: * 1 FETCH (FLAGS (\\Seen \\Draft))\nS: a4 OK done\n",
    },
    Case {
        check: "tag.one-completion",
        bad: "C: a4 NOOP\nS: a4 OK done\nS: a4 OK again\n",
        good: "C: a4 NOOP\nS: a4 OK done\n",
    },
    Case {
        check: "noop.always-ok",
        bad: "C: a4 NOOP\nS: a4 NO busy\n",
        good: "C: a4 NOOP\nS: a4 OK done\n",
    },
    Case {
        check: "idle.continuation",
        bad: "C: a4 IDLE\nS: a4 OK done\n",
        good: "C: a4 IDLE\nS: + idling\nC: DONE\nS: a4 OK done\n",
    },
    Case {
        check: "autologout.min-30min",
        bad: "100 C: a4 IDLE\n100 S: + idling\n700 S: * BYE Autologout\n700 == closed by server\n",
        good: "100 C: a4 IDLE\n100 S: + idling\n1960 S: * BYE Autologout\n1960 == closed by server\n",
    },
    Case {
        // seed 001: the idling session is dropped silently.
        check: "bye.before-close",
        bad: "C: a4 IDLE\nS: + idling\n== closed by server\n",
        good: "C: a4 IDLE\nS: + idling\nS: * BYE Autologout; idle for too long\n== closed by server\n",
    },
    Case {
        check: "response.syntax",
        bad: "C: a4 NOOP\nS: * 3 EXISTS \nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * 3 EXISTS\nS: a4 OK done\n",
    },
    Case {
        check: "response.bounded",
        bad: "C: a4 FETCH 1 (BODY[])\nS: * 1 FETCH (BODY[] {99999999}\nS: hi)\n",
        good: "C: a4 FETCH 1 (BODY[])\nS: * 1 FETCH (BODY[] {2}\nS: hi)\nS: a4 OK done\n",
    },
    Case {
        // seed 004
        check: "quota.overquota-code",
        bad: "C: a4 APPEND INBOX {2}\nS: + go\nC: hi\nS: a4 NO Quota exceeded\n",
        good: "C: a4 APPEND INBOX {2}\nS: + go\nC: hi\nS: a4 NO [OVERQUOTA] Quota exceeded\n",
    },
    Case {
        // RFC 7889: a message within the announced APPENDLIMIT refused as
        // too big at its literal's announcement (no `+`, no data); the good
        // twin's message is over the limit.
        check: "appendlimit.honoured",
        bad: "C: a4 CAPABILITY\nS: * CAPABILITY IMAP4rev1 APPENDLIMIT=100\nS: a4 OK done\nC: a5 APPEND INBOX {50}\nS: a5 NO [TOOBIG] Message too big\n",
        good: "C: a4 CAPABILITY\nS: * CAPABILITY IMAP4rev1 APPENDLIMIT=100\nS: a4 OK done\nC: a5 APPEND INBOX {500}\nS: a5 NO [TOOBIG] Message too big\n",
    },
    Case {
        // `* 2 EXISTS` (after an EXPUNGE) … `* 3 RECENT`; the good twin sends
        // RECENT before EXISTS, which is legal: the order is free.
        check: "recent.within-exists",
        bad: "C: a4 UID EXPUNGE 12\nS: * 3 EXPUNGE\nS: * 3 RECENT\nS: a4 OK done\n",
        good: "C: a4 NOOP\nS: * 3 RECENT\nS: * 4 EXISTS\nS: a4 OK done\n",
    },
    Case {
        // Two read-write sessions of one account shown UID 12 with \Recent.
        check: "recent.one-session",
        bad: "C: a4 FETCH 3 (FLAGS)\nS: * 3 FETCH (FLAGS (\\Recent))\nS: a4 OK done\n[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n[y] C: b2 SELECT INBOX\n[y] S: * FLAGS (\\Seen)\n[y] S: * 3 EXISTS\n[y] S: * 1 RECENT\n[y] S: * OK [UIDVALIDITY 7] ok\n[y] S: * OK [UIDNEXT 13] ok\n[y] S: b2 OK [READ-WRITE] done\n[y] C: b3 FETCH 3 (FLAGS UID)\n[y] S: * 3 FETCH (FLAGS (\\Recent) UID 12)\n[y] S: b3 OK done\n",
        good: "C: a4 FETCH 3 (FLAGS)\nS: * 3 FETCH (FLAGS (\\Recent))\nS: a4 OK done\n[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n[y] C: b2 SELECT INBOX\n[y] S: * FLAGS (\\Seen)\n[y] S: * 3 EXISTS\n[y] S: * 0 RECENT\n[y] S: * OK [UIDVALIDITY 7] ok\n[y] S: * OK [UIDNEXT 13] ok\n[y] S: b2 OK [READ-WRITE] done\n[y] C: b3 FETCH 3 (FLAGS UID)\n[y] S: * 3 FETCH (FLAGS () UID 12)\n[y] S: b3 OK done\n",
    },
    Case {
        // Cyrus/Dovecot form: FLAGS before UID; the good twin announces the
        // keyword with a new FLAGS first.
        check: "flags.keyword-announced",
        bad: "C: a4 UID FETCH 10 (FLAGS)\nS: * 1 FETCH (FLAGS (\\Answered $Label3) UID 10)\nS: a4 OK done\n",
        good: "C: a4 UID STORE 10 +FLAGS ($Label3)\nS: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3)\nS: * 1 FETCH (FLAGS (\\Answered $Label3) UID 10)\nS: a4 OK done\n",
    },
    Case {
        check: "fetch.immutable",
        bad: "C: a4 UID FETCH 10 (RFC822.SIZE INTERNALDATE)\nS: * 1 FETCH (UID 10 RFC822.SIZE 305 INTERNALDATE \"01-Dec-2026 10:00:00 +0000\")\nS: a4 OK done\nC: a5 FETCH 1 (RFC822.SIZE)\nS: * 1 FETCH (RFC822.SIZE 306)\nS: a5 OK done\n",
        good: "C: a4 UID FETCH 10 (RFC822.SIZE INTERNALDATE)\nS: * 1 FETCH (UID 10 RFC822.SIZE 305 INTERNALDATE \"01-Dec-2026 10:00:00 +0000\")\nS: a4 OK done\nC: a5 FETCH 1 (INTERNALDATE RFC822.SIZE)\nS: * 1 FETCH (INTERNALDATE \"01-Dec-2026 11:00:00 +0100\" RFC822.SIZE 305)\nS: a5 OK done\n",
    },
    Case {
        check: "uid.range-star",
        bad: "C: a4 UID FETCH 4000000:* (UID)\nS: a4 OK done\n",
        good: "C: a4 UID FETCH 4000000:* (UID)\nS: * 3 FETCH (UID 12)\nS: a4 OK done\n",
    },
    Case {
        // Session y EXAMINEs and STOREs \Flagged on UID 10; the read-write
        // session, which knew UID 10 unflagged, is then shown it flagged.
        check: "examine.read-only",
        bad: "C: a4 FETCH 1 (FLAGS)\nS: * 1 FETCH (FLAGS ())\nS: a4 OK done\n[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n[y] C: b2 EXAMINE INBOX\n[y] S: * FLAGS (\\Seen)\n[y] S: * 3 EXISTS\n[y] S: * 0 RECENT\n[y] S: * OK [UIDVALIDITY 7] ok\n[y] S: * OK [UIDNEXT 13] ok\n[y] S: b2 OK [READ-ONLY] done\n[y] C: b3 UID STORE 10 +FLAGS.SILENT (\\Flagged)\n[y] S: b3 OK done\nC: a5 NOOP\nS: * 1 FETCH (FLAGS (\\Flagged))\nS: a5 OK done\n",
        good: "C: a4 FETCH 1 (FLAGS)\nS: * 1 FETCH (FLAGS ())\nS: a4 OK done\n[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n[y] C: b2 EXAMINE INBOX\n[y] S: * FLAGS (\\Seen)\n[y] S: * 3 EXISTS\n[y] S: * 0 RECENT\n[y] S: * OK [UIDVALIDITY 7] ok\n[y] S: * OK [UIDNEXT 13] ok\n[y] S: b2 OK [READ-ONLY] done\n[y] C: b3 UID STORE 10 +FLAGS.SILENT (\\Flagged)\n[y] S: b3 NO Mailbox is read-only\nC: a5 NOOP\nS: a5 OK done\n",
    },
    Case {
        check: "server.stalled",
        bad: "C: a4 NOOP\n== note stalled: a4 never completed: the server sent nothing for 20s\n",
        good: "C: a4 NOOP\nS: a4 OK done\n",
    },
    Case {
        // RFC 3501 6.3.1: [READ-WRITE] is a SHOULD.
        check: "select.read-write-code",
        bad: "C: a4 SELECT Sent\nS: * FLAGS (\\Seen)\nS: * 0 EXISTS\nS: * 0 RECENT\nS: * OK [UIDVALIDITY 9] ok\nS: * OK [UIDNEXT 1] ok\nS: a4 OK selected\n",
        good: "C: a4 SELECT Sent\nS: * FLAGS (\\Seen)\nS: * 0 EXISTS\nS: * 0 RECENT\nS: * OK [UIDVALIDITY 9] ok\nS: * OK [UIDNEXT 1] ok\nS: a4 OK [READ-WRITE] selected\n",
    },
    Case {
        // seed 003
        check: "mailbox.inuse-code",
        bad: "C: a4 SELECT Big\nS: a4 NO System I/O error\n",
        good: "C: a4 SELECT Big\nS: a4 NO [INUSE] Mailbox is locked, try again\n",
    },
    Case {
        check: "starttls.no-injection",
        bad: "C: a4 STARTTLS\nC: a5 NOOP\nS: a4 OK begin TLS\n== tls\nS: a5 OK done\n",
        good: "C: a4 STARTTLS\nC: a5 NOOP\nS: a4 OK begin TLS\n== tls\nC: a6 NOOP\nS: a6 OK done\n",
    },
    Case {
        // A message's MODSEQ only grows (RFC 7162 3.1), within one session.
        check: "modseq.monotonic",
        bad: "C: a4 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (20))\nS: a4 OK done\nC: a5 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (19))\nS: a5 OK done\n",
        good: "C: a4 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (20))\nS: a4 OK done\nC: a5 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (21))\nS: a5 OK done\n",
    },
    Case {
        // RFC 7162 3.1.3: the session was shown MODSEQ 25 for message 1, so
        // a STORE (UNCHANGEDSINCE 20) must refuse it and name it in MODIFIED.
        check: "condstore.unchangedsince",
        bad: "C: a4 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (25))\nS: a4 OK done\nC: a5 STORE 1:2 (UNCHANGEDSINCE 20) +FLAGS (\\Seen)\nS: * 1 FETCH (UID 10 FLAGS (\\Seen) MODSEQ (26))\nS: * 2 FETCH (UID 11 FLAGS (\\Seen) MODSEQ (27))\nS: a5 OK done\n",
        good: "C: a4 FETCH 1 (MODSEQ)\nS: * 1 FETCH (UID 10 MODSEQ (25))\nS: a4 OK done\nC: a5 STORE 1:2 (UNCHANGEDSINCE 20) +FLAGS (\\Seen)\nS: * 2 FETCH (UID 11 FLAGS (\\Seen) MODSEQ (27))\nS: a5 OK [MODIFIED 1] done\n",
    },
    Case {
        // VANISHED only after `* ENABLED QRESYNC` (RFC 7162 3.2.10).
        check: "qresync.vanished-enabled",
        bad: "C: a4 UID EXPUNGE 10\nS: * VANISHED 10\nS: a4 OK done\n",
        good: "C: a4 ENABLE QRESYNC\nS: * ENABLED QRESYNC\nS: a4 OK done\nC: a5 UID EXPUNGE 10\nS: * VANISHED 10\nS: a5 OK done\nC: a6 FETCH 2 (UID)\nS: * 2 FETCH (UID 12)\nS: a6 OK done\n",
    },
    Case {
        // RFC 6154 2: LIST (SPECIAL-USE) returns only special-use mailboxes.
        // The good form is Dovecot's (the use after the children attribute).
        check: "specialuse.selection",
        bad: "C: a4 LIST (SPECIAL-USE) \"\" \"*\"\nS: * LIST (\\HasNoChildren \\Sent) \"/\" Sent\nS: * LIST (\\HasNoChildren) \"/\" Work\nS: a4 OK done\n",
        good: "C: a4 LIST (SPECIAL-USE) \"\" \"*\"\nS: * LIST (\\HasNoChildren \\Sent) \"/\" Sent\nS: * LIST (\\Trash \\HasChildren) \".\" \"INBOX.Trash\"\nS: a4 OK done\n",
    },
    Case {
        // RFC 6154 2 and 3: a CREATE with USE answered OK gave the mailbox
        // its use; a LIST RETURN (SPECIAL-USE) must show it.
        check: "specialuse.return",
        bad: "C: a3 CAPABILITY\nS: * CAPABILITY IMAP4rev1 SPECIAL-USE CREATE-SPECIAL-USE\nS: a3 OK done\nC: a4 CREATE MySent (USE (\\Sent))\nS: a4 OK done\nC: a5 LIST \"\" \"%\" RETURN (SPECIAL-USE)\nS: * LIST (\\HasNoChildren) \"/\" MySent\nS: a5 OK done\n",
        good: "C: a3 CAPABILITY\nS: * CAPABILITY IMAP4rev1 SPECIAL-USE CREATE-SPECIAL-USE\nS: a3 OK done\nC: a4 CREATE MySent (USE (\\Sent))\nS: a4 OK done\nC: a5 LIST \"\" \"%\" RETURN (SPECIAL-USE)\nS: * LIST (\\Sent \\HasNoChildren) \"/\" MySent\nS: a5 OK done\nC: a6 RENAME MySent Old\nS: a6 OK done\nC: a7 LIST \"\" \"%\" RETURN (SPECIAL-USE)\nS: * LIST (\\HasNoChildren) \"/\" MySent\nS: a7 OK done\nC: a8 LIST \"\" \"*\"\nS: * LIST () \"/\" Old\nS: a8 OK done\n",
    },
    Case {
        check: "search.rev2-esearch",
        bad: "C: a4 ENABLE IMAP4rev2\nS: * ENABLED IMAP4rev2\nS: a4 OK done\nC: a5 SEARCH ALL\nS: * SEARCH 1 2 3\nS: a5 OK done\n",
        // A server without IMAP4rev2 enables nothing and answers in rev1.
        good: "C: a4 ENABLE IMAP4rev2\nS: a4 OK done\nC: a5 SEARCH ALL\nS: * SEARCH 1 2 3\nS: a5 OK done\n",
    },
    Case {
        check: "search.rev2-esearch",
        bad: "C: a4 ENABLE IMAP4rev2\nS: * ENABLED IMAP4rev2\nS: a4 OK done\nC: a5 UID SEARCH ALL\nS: * SEARCH 10 11 12\nS: a5 OK done\n",
        // The IMAP4rev2 answer: ESEARCH, judged as RETURN (ALL).
        good: "C: a4 ENABLE IMAP4rev2\nS: * ENABLED IMAP4rev2\nS: a4 OK done\nC: a5 UID SEARCH ALL\nS: * ESEARCH (TAG \"a5\") UID ALL 10:12\nS: a5 OK done\n",
    },
    Case {
        // A sequence number past EXISTS when the SORT completes.
        check: "search.in-mailbox",
        bad: "C: a4 SORT (DATE) UTF-8 ALL\nS: * SORT 2 4 1\nS: a4 OK done\n",
        // New mail announced after the numbers, within the same command.
        good: "C: a4 SORT (DATE) UTF-8 ALL\nS: * SORT 2 4 1\nS: * 4 EXISTS\nS: a4 OK done\n",
    },
    Case {
        // RFC 4731 3.1: a single ESEARCH instead of the SEARCH response.
        check: "esearch.single-response",
        bad: "C: a4 SEARCH RETURN (MIN COUNT) FLAGGED\nS: * SEARCH 2 3\nS: a4 OK done\n",
        // Either order of the data is fine; RETURN (SAVE) alone needs none.
        good: "C: a4 SEARCH RETURN (MIN COUNT) FLAGGED\nS: * ESEARCH (TAG \"a4\") COUNT 2 MIN 2\nS: a4 OK done\nC: a5 SEARCH RETURN (SAVE) FLAGGED\nS: a5 OK done\n",
    },
    Case {
        check: "esearch.uid-indicator",
        bad: "C: a4 UID SEARCH RETURN (MIN) ALL\nS: * ESEARCH (TAG \"a4\") MIN 10\nS: a4 OK done\n",
        good: "C: a4 UID SEARCH RETURN (MIN) ALL\nS: * ESEARCH (TAG \"a4\") UID MIN 10\nS: a4 OK done\n",
    },
    Case {
        // COUNT asked for and missing.
        check: "esearch.requested",
        bad: "C: a4 SEARCH RETURN (COUNT ALL) FLAGGED\nS: * ESEARCH (TAG \"a4\") ALL 1:2\nS: a4 OK done\n",
        // No match: COUNT 0 and nothing else.
        good: "C: a4 SEARCH RETURN (COUNT ALL MIN) FLAGGED\nS: * ESEARCH (TAG \"a4\") COUNT 0\nS: a4 OK done\n",
    },
    Case {
        check: "esearch.consistent",
        bad: "C: a4 SEARCH RETURN (MIN COUNT ALL) FLAGGED\nS: * ESEARCH (TAG \"a4\") MIN 1 COUNT 3 ALL 1:2\nS: a4 OK done\n",
        good: "C: a4 SEARCH RETURN (MIN COUNT ALL) FLAGGED\nS: * ESEARCH (TAG \"a4\") ALL 3,1 COUNT 2 MIN 1\nS: a4 OK done\n",
    },
    Case {
        check: "sort.each-once",
        bad: "C: a4 THREAD REFERENCES UTF-8 ALL\nS: * THREAD (1 (2)(3 1))\nS: a4 OK done\n",
        good: "C: a4 THREAD REFERENCES UTF-8 ALL\nS: * THREAD (1 (2)(3))\nS: a4 OK done\n",
    },
];

#[test]
fn every_check_fires_on_bad_and_is_silent_on_good() {
    let selected_lines = SELECTED.lines().count() as u64;
    for case in CASES {
        let bad = findings(&format!("{SELECTED}{}", case.bad));
        let good = findings(&format!("{SELECTED}{}", case.good));
        assert!(
            bad.iter()
                .any(|(c, l)| *c == case.check && *l > selected_lines),
            "{} did not fire on its bad transcript; findings: {bad:?}",
            case.check
        );
        assert!(
            good.is_empty(),
            "the good transcript for {} has findings: {good:?}",
            case.check
        );
    }
}

/// RFC 9051 6.3.2: an IMAP4rev2 SELECT answers with LIST and need not send
/// RECENT; a rev1 SELECT the other way round.
#[test]
fn rev2_select_needs_list_not_recent() {
    let enable = "C: a4 ENABLE IMAP4rev2\nS: * ENABLED IMAP4rev2\nS: a4 OK done\n";
    let head = "C: a5 SELECT Other\nS: * FLAGS (\\Seen)\nS: * 1 EXISTS\n";
    let tail = "S: * OK [UIDVALIDITY 3] ok\nS: * OK [UIDNEXT 2] ok\nS: a5 OK [READ-WRITE] done\n";
    let list = "S: * LIST (\\HasNoChildren) \"/\" Other\n";
    let ids = |t: &str| -> Vec<&'static str> { findings(t).into_iter().map(|(c, _)| c).collect() };
    assert_eq!(
        ids(&format!("{SELECTED}{enable}{head}{list}{tail}")),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&format!("{SELECTED}{enable}{head}{tail}")),
        vec!["select.required-responses"]
    );
    // Without ENABLE the session is rev1: RECENT is required, LIST is not.
    assert_eq!(
        ids(&format!("{SELECTED}{head}{tail}")),
        vec!["select.required-responses"]
    );
    assert_eq!(
        ids(&format!("{SELECTED}{head}S: * 0 RECENT\n{tail}")),
        Vec::<&str>::new()
    );
}

#[test]
fn special_use_rules_leave_what_rfc_6154_allows_alone() {
    let caps = "C: a3 CAPABILITY\nS: * CAPABILITY IMAP4rev1 SPECIAL-USE CREATE-SPECIAL-USE\nS: a3 OK done\n";
    let create = "C: a4 CREATE MySent (USE (\\Sent))\nS: a4 OK done\n";
    // A plain LIST need not show special uses (RFC 6154 2: "MAY include").
    let plain = "C: a5 LIST \"\" \"%\"\nS: * LIST (\\HasNoChildren) \"/\" MySent\nS: a5 OK done\n";
    assert_eq!(
        findings(&format!("{SELECTED}{caps}{create}{plain}")),
        vec![]
    );
    // Dovecot 2.3 answers OK to a CREATE with USE but has no
    // CREATE-SPECIAL-USE: the use was never promised.
    let ret0 =
        "C: a5 LIST \"\" \"%\" RETURN (SPECIAL-USE)\nS: * LIST () \"/\" MySent\nS: a5 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{create}{ret0}")), vec![]);
    // A refused CREATE gave no use.
    let refused = "C: a4 CREATE MySent (USE (\\Sent))\nS: a4 NO [USEATTR] one \\Sent is enough\n";
    let ret = "C: a5 LIST \"\" \"%\" RETURN (SPECIAL-USE)\nS: * LIST (\\HasNoChildren) \"/\" MySent\nS: a5 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{caps}{refused}{ret}")), vec![]);
    // Two LISTs in flight: which one a response answers cannot be told.
    let two = "C: a5 LIST (SPECIAL-USE) \"\" \"*\"\nC: a6 LIST \"\" \"*\"\nS: * LIST (\\HasNoChildren) \"/\" Work\nS: a5 OK done\nS: a6 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{two}")), vec![]);
    // RECURSIVEMATCH parents and RFC 5258's extended items (CHILDINFO), as
    // Cyrus and Dovecot send them, parse and are not judged.
    let rec = "C: a5 LIST (SPECIAL-USE RECURSIVEMATCH) \"\" \"%\"\nS: * LIST (\\HasChildren) \"/\" Work (\"CHILDINFO\" (\"SUBSCRIBED\"))\nS: a5 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{rec}")), vec![]);
    // The uses a LIST showed bind the next LIST that asks for them...
    let shown =
        "C: a5 LIST (SPECIAL-USE) \"\" \"*\"\nS: * LIST (\\Drafts) \"/\" Drafts\nS: a5 OK done\n";
    let lost = "C: a6 LIST \"\" \"*\" RETURN (SPECIAL-USE)\nS: * LIST (\\HasNoChildren) \"/\" Drafts\nS: a6 OK done\n";
    let f = findings(&format!("{SELECTED}{shown}{lost}"));
    assert!(f.iter().any(|(c, _)| *c == "specialuse.return"), "{f:?}");
    // ...unless a SETMETADATA (which can set /private/specialuse) came between.
    let meta = "C: a7 SETMETADATA Drafts (/private/specialuse NIL)\nS: a7 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{shown}{meta}{lost}")), vec![]);
}

/// ESEARCH results are judged by their correlator: a tag no command has, the
/// other checks' forms of an ESEARCH (sequence numbers past EXISTS, a UID
/// told expunged), and what is not judged (MIN/MAX/ALL left out when nothing
/// matched; an ESEARCH without correlator for the one SEARCH in progress).
#[test]
fn esearch_results_are_judged_by_their_correlator() {
    let ids = |t: &str| {
        findings(&format!("{SELECTED}{t}"))
            .into_iter()
            .map(|x| x.0)
            .collect::<Vec<_>>()
    };
    let stray = "C: a4 SEARCH RETURN (ALL) ALL\nS: * ESEARCH (TAG \"zz\") ALL 1:3\nS: * ESEARCH (TAG \"a4\") ALL 1:3\nS: a4 OK done\n";
    assert_eq!(ids(stray), vec!["esearch.single-response"]);
    let twice = "C: a4 SEARCH RETURN (ALL) ALL\nS: * ESEARCH (TAG \"a4\") ALL 1:3\nS: * ESEARCH (TAG \"a4\") ALL 1:3\nS: a4 OK done\n";
    assert_eq!(ids(twice), vec!["esearch.single-response"]);
    let past = "C: a4 SEARCH RETURN (MAX) ALL\nS: * ESEARCH (TAG \"a4\") MAX 4\nS: a4 OK done\n";
    assert_eq!(ids(past), vec!["search.in-mailbox"]);
    let expunged = "C: a4 UID EXPUNGE 12\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 UID SEARCH RETURN (ALL) ALL\nS: * ESEARCH (TAG \"a5\") UID ALL 10:12\nS: a5 OK done\n";
    assert_eq!(ids(expunged), vec!["search.in-mailbox"]);
    let no_match_min = "C: a4 SEARCH RETURN (MIN COUNT) DELETED\nS: * ESEARCH (TAG \"a4\") MIN 2 COUNT 0\nS: a4 OK done\n";
    assert_eq!(ids(no_match_min), vec!["esearch.requested"]);
    let min_above_max = "C: a4 UID SEARCH RETURN (MIN MAX) ALL\nS: * ESEARCH (TAG \"a4\") UID MIN 12 MAX 10\nS: a4 OK done\n";
    assert_eq!(ids(min_above_max), vec!["esearch.consistent"]);
    // Nothing matched: MIN, MAX, ALL are left out; no correlator for the one
    // SEARCH in progress; `$` in FETCH and SEARCH is read as a command.
    let fine = "C: a4 SEARCH RETURN (MIN MAX ALL) DELETED\nS: * ESEARCH\nS: a4 OK done\nC: a5 SEARCH RETURN (SAVE) ALL\nS: a5 OK done\nC: a6 FETCH $ (FLAGS)\nS: * 1 FETCH (FLAGS ())\nS: a6 OK done\nC: a7 UID SEARCH RETURN () $\nS: * ESEARCH (TAG \"a7\") UID ALL 10:12 MODSEQ 5\nS: a7 OK done\n";
    assert_eq!(ids(fine), Vec::<&str>::new());
}

#[test]
fn search_results_are_judged_by_the_command_they_answer() {
    // A UID told expunged, returned by UID SEARCH: a finding; the sequence
    // form of the same number is the next message, not the expunged one.
    let expunged = "C: a4 UID EXPUNGE 12\nS: * 3 EXPUNGE\nS: a4 OK done\n";
    let uid = "C: a5 UID SEARCH ALL\nS: * SEARCH 10 11 12\nS: a5 OK done\n";
    let f = findings(&format!("{SELECTED}{expunged}{uid}"));
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec!["search.in-mailbox"],
        "{f:?}"
    );
    let seq = "C: a5 SEARCH ALL\nS: * SEARCH 1 2\nS: a5 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{expunged}{seq}")), vec![]);
    let seq_past = "C: a5 SEARCH ALL\nS: * SEARCH 1 2 3\nS: a5 OK done\n";
    let f = findings(&format!("{SELECTED}{expunged}{seq_past}"));
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec!["search.in-mailbox"],
        "{f:?}"
    );
    // SEARCH may repeat nothing the RFC forbids; a UID SORT may name UIDs
    // above any the session has seen (new mail not yet fetched).
    let uid_sort = "C: a5 UID SORT (ARRIVAL) UTF-8 ALL\nS: * SORT 12 10 11\nS: a5 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{uid_sort}")), vec![]);
    // Two SORTs in flight: a result cannot be told apart, so it is not judged.
    let two = "C: a5 SORT (DATE) UTF-8 ALL\nC: a6 SORT (SIZE) UTF-8 ALL\nS: * SORT 9\nS: a5 OK done\nS: * SORT 1\nS: a6 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{two}")), vec![]);
    // A THREAD nested deeper than imap-codec reads (8 lists) is still a
    // valid answer: `(1 (2 (3 ...)(103))(102))`, 20 levels.
    let mut tree = String::from("(20)");
    for k in (1..20).rev() {
        tree = format!("({k} {tree}({}))", k + 100);
    }
    let deep = format!(
        "C: a5 THREAD REFERENCES UTF-8 ALL\nS: * 200 EXISTS\nS: * THREAD {tree}\nS: a5 OK done\n"
    );
    assert_eq!(findings(&format!("{SELECTED}{deep}")), vec![]);
    // An EXPUNGE while answering a SORT renumbers its results (RFC 5256 3:
    // SORT is "a variant of SEARCH").
    let during = "C: a5 SORT (DATE) UTF-8 ALL\nS: * 3 EXPUNGE\nS: * SORT 1 2\nS: a5 OK done\n";
    let f = findings(&format!("{SELECTED}{during}"));
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec!["expunge.forbidden-context"],
        "{f:?}"
    );
}

#[test]
fn quota_code_is_not_asked_of_other_refusals_nor_of_rfc2087_servers() {
    // `NO [TOOBIG]` names its own reason (RFC 7889); "large" is not "quota".
    let toobig = "C: a4 APPEND INBOX {2}\nS: + go\nC: hi\nS: a4 NO [TOOBIG] Message too large\n";
    assert_eq!(findings(&format!("{SELECTED}{toobig}")), vec![]);
    // A server announcing only RFC 2087 QUOTA has no OVERQUOTA code to send.
    let rfc2087 = SELECTED.replace(
        "S: * OK ready\n",
        "S: * OK [CAPABILITY IMAP4rev1 QUOTA] ready\n",
    );
    let refused = "C: a4 APPEND INBOX {2}\nS: + go\nC: hi\nS: a4 NO Over quota\n";
    assert_eq!(findings(&format!("{rfc2087}{refused}")), vec![]);
    // The same refusal from an RFC 9208 server is a warning.
    let rfc9208 = SELECTED.replace(
        "S: * OK ready\n",
        "S: * OK [CAPABILITY IMAP4rev1 QUOTA QUOTA=RES-STORAGE] ready\n",
    );
    let f = findings(&format!("{rfc9208}{refused}"));
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec!["quota.overquota-code"]
    );
}

#[test]
fn an_empty_quota_list_is_judged_by_the_announced_grammar() {
    // Cyrus-style: a server announcing RFC 2087 QUOTA answers GETQUOTAROOT for
    // a root without limits with an empty resource list, which RFC 2087 allows.
    let exchange = "C: a4 GETQUOTAROOT INBOX\nS: * QUOTAROOT INBOX INBOX\nS: * QUOTA INBOX ()\nS: a4 OK Completed\n";
    let rfc2087 = SELECTED.replace(
        "S: * OK ready\n",
        "S: * OK [CAPABILITY IMAP4rev1 QUOTA] ready\n",
    );
    assert_eq!(findings(&format!("{rfc2087}{exchange}")), vec![]);
    // A server that announced RFC 9208 resources promised at least one.
    let rfc9208 = SELECTED.replace(
        "S: * OK ready\n",
        "S: * OK [CAPABILITY IMAP4rev1 QUOTA QUOTA=RES-STORAGE] ready\n",
    );
    let bad = format!("{rfc9208}{exchange}");
    let f = findings(&bad);
    assert_eq!(f, vec![("response.syntax", 18)]);
    let mut checker = Checker::default();
    let name: Arc<str> = Arc::from("case");
    read_lines(
        &mut Cursor::new(bad.as_bytes()),
        Format::Generic,
        &name,
        &Limits::default(),
        &mut |e| checker.on_event(&e),
    )
    .expect("readable transcript");
    assert!(checker.findings.list[0].message.contains("RFC 9208"));
    // A non-empty list is fine for both.
    let full = exchange.replace("()", "(STORAGE 10 512)");
    assert_eq!(findings(&format!("{rfc9208}{full}")), vec![]);
    // A broken extension response names the extension's RFC.
    let broken = exchange.replace("()", "(STORAGE ten 512)");
    let mut checker = Checker::default();
    read_lines(
        &mut Cursor::new(format!("{rfc2087}{broken}").as_bytes()),
        Format::Generic,
        &name,
        &Limits::default(),
        &mut |e| checker.on_event(&e),
    )
    .expect("readable transcript");
    let msgs: Vec<_> = checker
        .findings
        .list
        .iter()
        .map(|f| f.message.clone())
        .collect();
    assert!(msgs.len() == 1 && msgs[0].contains("RFC 2087"), "{msgs:?}");
}

#[test]
fn append_refused_before_continuation_is_read_as_two_commands() {
    // RFC 3501 7.5 allows a tagged NO instead of `+`; the next line is the
    // client's next command, not literal data (the false tag.one-completion).
    let t = "C: a4 APPEND \"Sent\" {305}\nS: a4 NO [TRYCREATE] Mailbox does not exist\nC: a5 NOOP\nS: a5 OK NOOP completed\n";
    assert_eq!(findings(&format!("{SELECTED}{t}")), vec![]);
    // A real second completion is still caught.
    let twice = format!("{t}S: a5 OK again\n");
    assert!(findings(&format!("{SELECTED}{twice}")).contains(&("tag.one-completion", 20)));
}

#[test]
fn appenduid_and_copyuid_are_uid_facts() {
    let append = |n: u32, uid: u32| {
        format!(
            "C: a{n} APPEND Sent {{2}}\nS: + go\nC: hi\nS: a{n} OK [APPENDUID 38505 {uid}] done\n"
        )
    };
    // The same UID handed out twice by APPENDUID (RFC 4315).
    let twice = format!("{SELECTED}{}{}", append(4, 1), append(5, 1));
    assert!(
        findings(&twice).contains(&("uid.no-reuse", 23)),
        "{:?}",
        findings(&twice)
    );
    assert_eq!(
        findings(&format!("{SELECTED}{}{}", append(4, 1), append(5, 2))),
        vec![]
    );
    // COPYUID then APPENDUID naming the same UID in the destination.
    let copy = "C: a4 UID COPY 10 Sent\nS: a4 OK [COPYUID 38505 10 7] done\n";
    let f = findings(&format!("{SELECTED}{copy}{}", append(5, 7)));
    assert!(f.iter().any(|x| x.0 == "uid.no-reuse"), "{f:?}");
    // An APPENDUID below the UIDNEXT that SELECT announced for INBOX (13).
    let low = "C: a4 APPEND INBOX {2}\nS: + go\nC: hi\nS: a4 OK [APPENDUID 7 5] done\n";
    let f = findings(&format!("{SELECTED}{low}"));
    assert_eq!(f, vec![("uid.new-above-uidnext", 19)]);
    let ok = low.replace("[APPENDUID 7 5]", "[APPENDUID 7 13]");
    assert_eq!(findings(&format!("{SELECTED}{ok}")), vec![]);
}

#[test]
fn autologout_any_silence_and_stated_reasons() {
    // A 3-second autologout is the worst case, not an exempt one.
    let quick = "100 C: a4 NOOP\n100 S: a4 OK done\n103 S: * BYE Autologout; idle for too long\n103 == closed by server\n";
    let f = findings(&format!("{SELECTED}{quick}"));
    assert!(f.iter().any(|x| x.0 == "autologout.min-30min"), "{f:?}");
    // A close that states another reason is not an autologout.
    let shutdown = quick.replace(
        "Autologout; idle for too long",
        "Server shutting down for maintenance",
    );
    assert_eq!(findings(&format!("{SELECTED}{shutdown}")), vec![]);
}

#[test]
fn a_timeout_before_login_is_not_an_autologout() {
    // RFC 9051 5.4: the 30-minute floor applies only after authentication.
    let prelogin =
        "100 S: * OK ready\n160 S: * BYE Autologout; idle for too long\n160 == closed by server\n";
    assert_eq!(findings(prelogin), vec![]);
    // The same 60 s after a LOGIN is a violation.
    let after = "100 S: * OK ready\n100 C: a1 LOGIN u p\n100 S: a1 OK done\n160 S: * BYE Autologout; idle for too long\n160 == closed by server\n";
    assert!(findings(after)
        .iter()
        .any(|x| x.0 == "autologout.min-30min"));
}

#[test]
fn every_check_carries_its_level_and_quote() {
    for c in CHECKS {
        assert_eq!(c.severity, c.level.severity(), "{}", c.id);
        assert!(c.quote.len() > 20, "{} has no quote", c.id);
    }
}

#[test]
fn the_selected_prefix_itself_is_clean() {
    assert_eq!(findings(SELECTED), vec![]);
}

#[test]
fn every_transcript_check_has_a_case() {
    for c in CHECKS.iter().filter(|c| c.judged == Judged::Transcript) {
        assert!(
            CASES.iter().any(|k| k.check == c.id),
            "no fire/silent case for {}",
            c.id
        );
    }
}

#[test]
fn uid_reuse_is_caught_across_sessions() {
    // Session x sees UID 12 expunged; session y, selected later, is shown a
    // message with UID 12: a reuse even though no single session saw both.
    let log = "\
[x] S: * OK ready
[x] C: a1 LOGIN u p
[x] S: a1 OK done
[x] C: a2 SELECT INBOX
[x] S: * FLAGS (\\Seen)
[x] S: * 1 EXISTS
[x] S: * 0 RECENT
[x] S: * OK [UIDVALIDITY 7] ok
[x] S: * OK [UIDNEXT 13] ok
[x] S: a2 OK [READ-WRITE] done
[x] C: a3 FETCH 1 (UID)
[x] S: * 1 FETCH (UID 12)
[x] S: a3 OK done
[x] C: a4 UID EXPUNGE 12
[x] S: * 1 EXPUNGE
[x] S: a4 OK done
[y] S: * OK ready
[y] C: b1 LOGIN u p
[y] S: b1 OK done
[y] C: b2 SELECT INBOX
[y] S: * FLAGS (\\Seen)
[y] S: * 1 EXISTS
[y] S: * 0 RECENT
[y] S: * OK [UIDVALIDITY 7] ok
[y] S: * OK [UIDNEXT 14] ok
[y] S: b2 OK [READ-WRITE] done
[y] C: b3 FETCH 1 (UID)
[y] S: * 1 FETCH (UID 12)
[y] S: b3 OK done
";
    let f = findings(log);
    assert!(f.contains(&("uid.no-reuse", 28)), "{f:?}");
    let clean = log.replace("[y] S: * 1 FETCH (UID 12)", "[y] S: * 1 FETCH (UID 13)");
    assert_eq!(findings(&clean), vec![]);
}

#[test]
fn uid_checks_stay_quiet_under_concurrency() {
    // Found by `imapspec load` against Dovecot and the reference server: a
    // client may learn the UIDs of new messages out of order, and may still see
    // a message another session has expunged until its own EXPUNGE arrives.
    let log = "\
[x] S: * OK ready
[x] C: a1 LOGIN u p
[x] S: a1 OK done
[x] C: a2 SELECT INBOX
[x] S: * FLAGS (\\Seen)
[x] S: * 0 EXISTS
[x] S: * 0 RECENT
[x] S: * OK [UIDVALIDITY 7] ok
[x] S: * OK [UIDNEXT 1] ok
[x] S: a2 OK [READ-WRITE] done
[y] S: * OK ready
[y] C: b1 LOGIN u p
[y] S: b1 OK done
[y] C: b2 SELECT INBOX
[y] S: * FLAGS (\\Seen)
[y] S: * 0 EXISTS
[y] S: * 0 RECENT
[y] S: * OK [UIDVALIDITY 7] ok
[y] S: * OK [UIDNEXT 1] ok
[y] S: b2 OK [READ-WRITE] done
[x] C: a3 NOOP
[x] S: * 3 EXISTS
[x] S: a3 OK done
[x] C: a4 FETCH 3 (UID)
[x] S: * 3 FETCH (UID 3)
[x] S: a4 OK done
[x] C: a5 FETCH 1 (UID)
[x] S: * 1 FETCH (UID 1)
[x] S: a5 OK done
[y] C: b3 NOOP
[y] S: * 3 EXISTS
[y] S: b3 OK done
[y] C: b4 UID STORE 2 +FLAGS.SILENT (\\Deleted)
[y] S: b4 OK done
[y] C: b5 UID EXPUNGE 2
[y] S: * 2 EXPUNGE
[y] S: b5 OK done
[x] C: a6 FETCH 2 (UID)
[x] S: * 2 FETCH (UID 2)
[x] S: a6 OK done
";
    assert_eq!(findings(log), vec![]);
}

#[test]
fn emptied_data_read_before_the_expunge_is_not_a_change() {
    // Found by `imapspec load` against Dovecot: session y expunges UID 10;
    // Dovecot shows session x, not yet told, the message's data emptied (RFC
    // 2180 4.1.3: "empty or NIL data", INTERNALDATE 1970, ENVELOPE of NILs);
    // the harness reads x's reply before y's `* 1 EXPUNGE`. Without that
    // EXPUNGE anywhere in the log, the same data is a change of UID 10. When
    // y did not know the UID it expunged, it may have been UID 10: no claim.
    let log = |y_knows: &str, expunge: &str| {
        format!(
            "\
[x] S: * OK ready
[x] C: a1 LOGIN u p
[x] S: a1 OK done
[x] C: a2 SELECT INBOX
[x] S: * FLAGS (\\Seen \\Deleted)
[x] S: * 1 EXISTS
[x] S: * 0 RECENT
[x] S: * OK [UIDVALIDITY 7] ok
[x] S: * OK [UIDNEXT 11] ok
[x] S: a2 OK [READ-WRITE] done
[x] C: a3 FETCH 1 (UID INTERNALDATE ENVELOPE)
[x] S: * 1 FETCH (UID 10 INTERNALDATE \"01-Dec-2026 10:00:00 +0000\" ENVELOPE (NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL \"<1@x>\"))
[x] S: a3 OK done
[y] S: * OK ready
[y] C: b1 LOGIN u p
[y] S: b1 OK done
[y] C: b2 SELECT INBOX
[y] S: * FLAGS (\\Seen \\Deleted)
[y] S: * 1 EXISTS
[y] S: * 0 RECENT
[y] S: * OK [UIDVALIDITY 7] ok
[y] S: * OK [UIDNEXT 11] ok
[y] S: b2 OK [READ-WRITE] done
{y_knows}[y] C: b3 STORE 1 +FLAGS.SILENT (\\Deleted)
[y] S: b3 OK done
[y] C: b4 EXPUNGE
[x] C: a4 FETCH 1 (INTERNALDATE ENVELOPE)
[x] S: * 1 FETCH (INTERNALDATE \"01-Jan-1970 00:00:00 +0000\" ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))
[x] S: a4 OK done
{expunge}[y] S: b4 OK done
"
        )
    };
    let knows = "[y] C: b5 FETCH 1 (UID)\n[y] S: * 1 FETCH (UID 10)\n[y] S: b5 OK done\n";
    let expunge = "[y] S: * 1 EXPUNGE\n";
    assert_eq!(findings(&log(knows, expunge)), vec![]);
    assert_eq!(findings(&log("", expunge)), vec![]);
    assert_eq!(findings(&log(knows, "")), vec![("fetch.immutable", 31)]);
}

#[test]
fn an_over_long_log_line_is_a_finding_and_reading_goes_on() {
    // A 2 MB `* SEARCH` (over MAX_LOG_LINE) in an otherwise valid log.
    let mut search = String::from("S: * SEARCH");
    let mut uid = 1u32;
    while search.len() < 2 << 20 {
        search.push_str(&format!(" {uid}"));
        uid += 1;
    }
    let log = format!("{SELECTED}C: a4 UID SEARCH ALL\n{search}\nS: a4 OK done\nC: a5 NOOP\nS: * 2 EXISTS\nS: a5 OK done\n");
    let f = findings(&log);
    assert!(f.contains(&("response.bounded", 17)), "{f:?}");
    // The lines after it are still read and judged.
    assert!(f.contains(&("exists.no-shrink", 20)), "{f:?}");
}

#[test]
fn checks_md_is_generated_from_the_registry() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/checks.md");
    let want = imapspec::checks::checks_markdown();
    if std::env::var_os("IMAPSPEC_WRITE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("write docs/checks.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/checks.md is out of date: run IMAPSPEC_WRITE_DOCS=1 cargo test --test checks_fire checks_md"
    );
    for c in CHECKS {
        assert!(have.contains(&format!("## `{}`", c.id)), "{}", c.id);
    }
}

#[test]
#[should_panic(expected = "not in the registry")]
fn an_unknown_check_id_fails_loudly() {
    let mut f = imapspec::checks::Findings::new(10);
    f.report_at(
        "no.such-check",
        "s",
        &imapspec::source::Origin::new(&Arc::from("x"), 1),
        b"x",
        String::new(),
    );
}

#[test]
fn appenduid_is_held_only_to_what_was_known_before_the_append_was_sent() {
    // Session y's SELECT reply (UIDNEXT 5) reaches the harness after x sent
    // its APPEND: the server may have given x's message UID 3 before y's
    // SELECT, so this is no finding. Seen with six concurrent load clients.
    let y_select = "[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n[y] C: b2 SELECT Sent\n[y] S: * FLAGS (\\Seen)\n[y] S: * 4 EXISTS\n[y] S: * 0 RECENT\n[y] S: * OK [UIDVALIDITY 9] ok\n[y] S: * OK [UIDNEXT 5] ok\n[y] S: b2 OK [READ-WRITE] done\n";
    let x_sends = "C: a4 APPEND Sent {2+}\nC: hi\n";
    let x_done = "S: a4 OK [APPENDUID 9 3] done\n";
    let raced = format!("{SELECTED}{x_sends}{y_select}{x_done}");
    assert_eq!(findings(&raced), vec![]);
    // Had y's UIDNEXT 5 been seen before x sent the APPEND, UID 3 is too low.
    let ordered = format!("{SELECTED}{y_select}{x_sends}{x_done}");
    assert!(
        findings(&ordered)
            .iter()
            .any(|f| f.0 == "uid.new-above-uidnext"),
        "{:?}",
        findings(&ordered)
    );
}

#[test]
fn a_uid_the_session_was_told_is_expunged_never_comes_back() {
    // The session saw UID 12 expunged; the server later names UID 12 again
    // on a message it never announced with EXISTS.
    let t = "C: a4 NOOP\nS: * 3 EXPUNGE\nS: a4 OK done\nC: a5 FETCH 1:* (UID)\nS: * 1 FETCH (UID 10)\nS: * 2 FETCH (UID 11)\nS: * 3 FETCH (UID 12)\nS: a5 OK done\n";
    let f = findings(&format!("{SELECTED}{t}"));
    assert!(f.contains(&("uid.no-reuse", 22)), "{f:?}");
    let clean = t.replace("S: * 3 FETCH (UID 12)\n", "");
    assert_eq!(findings(&format!("{SELECTED}{clean}")), vec![]);
}

#[test]
fn uidnext_of_another_session_binds_only_commands_sent_after_it_was_known() {
    // y's SELECT is sent before x's APPEND completes, and its answer (the older
    // UIDNEXT 11) is read after: the server may well have answered first.
    let select = |s: &str, tag: &str, next: u32| {
        format!(
            "[{s}] C: {tag} SELECT INBOX\n[{s}] S: * FLAGS (\\Seen)\n[{s}] S: * 0 EXISTS\n[{s}] S: * 0 RECENT\n[{s}] S: * OK [UIDVALIDITY 7] ok\n"
        ) + &format!("[{s}] S: * OK [UIDNEXT {next}] ok\n[{s}] S: {tag} OK [READ-WRITE] done\n")
    };
    let login = "[x] S: * OK ready\n[x] C: a1 LOGIN u p\n[x] S: a1 OK done\n[y] S: * OK ready\n[y] C: b1 LOGIN u p\n[y] S: b1 OK done\n";
    let x_select = select("x", "a2", 11);
    let append = "[x] C: a3 APPEND INBOX {1+}\n[x] C: m\n[x] S: a3 OK [APPENDUID 7 11] done\n";
    let y_select = select("y", "b2", 11);
    let (y_sent, y_answer) = y_select.split_at(y_select.find("[y] S:").unwrap_or(0));
    let raced = format!("{login}{x_select}{y_sent}{append}{y_answer}");
    assert_eq!(
        findings(&raced),
        vec![],
        "a reply to a command sent before UIDNEXT rose"
    );
    // Sent after the APPENDUID was read, the same answer is a step back.
    let late = format!("{login}{x_select}{append}{y_select}");
    assert!(
        findings(&late).iter().any(|f| f.0 == "uidnext.monotonic"),
        "{:?}",
        findings(&late)
    );
}

/// Two sessions on one mailbox: x sees HIGHESTMODSEQ and MODSEQ values, then
/// y SELECTs. `Y_HIGHEST` is y's HIGHESTMODSEQ line.
fn modseq_log(y_highest: &str, y_sent_first: bool) -> String {
    let x = "\
[x] S: * OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC] ready
[x] C: a1 LOGIN u p
[x] S: a1 OK done
[x] C: a2 SELECT INBOX (CONDSTORE)
[x] S: * FLAGS (\\Seen)
[x] S: * 2 EXISTS
[x] S: * 0 RECENT
[x] S: * OK [UIDVALIDITY 7] ok
[x] S: * OK [UIDNEXT 13] ok
[x] S: * OK [HIGHESTMODSEQ 40] ok
[x] S: a2 OK [READ-WRITE] done
[x] C: a3 UID STORE 11 +FLAGS (\\Seen)
[x] S: * 2 FETCH (UID 11 FLAGS (\\Seen) MODSEQ (41))
[x] S: a3 OK done
";
    let y_login = "\
[y] S: * OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC] ready
[y] C: b1 LOGIN u p
[y] S: b1 OK done
[y] C: b2 SELECT INBOX (CONDSTORE)
";
    let y_answer = format!(
        "\
[y] S: * FLAGS (\\Seen)
[y] S: * 2 EXISTS
[y] S: * 0 RECENT
[y] S: * OK [UIDVALIDITY 7] ok
[y] S: * OK [UIDNEXT 13] ok
[y] S: {y_highest}
[y] S: b2 OK [READ-WRITE] done
"
    );
    if y_sent_first {
        // y's SELECT went out before x learned 41: its answer may be older.
        format!("{y_login}{x}{y_answer}")
    } else {
        format!("{x}{y_login}{y_answer}")
    }
}

#[test]
fn highestmodseq_below_what_was_known_before_the_select_is_a_finding() {
    // Sent after x saw MODSEQ 41: HIGHESTMODSEQ 1 goes backwards (the
    // modseq-reset fault), 41 or more does not.
    let f = findings(&modseq_log("* OK [HIGHESTMODSEQ 1] ok", false));
    assert!(
        f.iter().any(|(c, l)| *c == "modseq.monotonic" && *l == 24),
        "{f:?}"
    );
    assert_eq!(
        findings(&modseq_log("* OK [HIGHESTMODSEQ 41] ok", false)),
        vec![]
    );
    // Sent before: y's answer may reflect the mailbox before x's STORE.
    assert_eq!(
        findings(&modseq_log("* OK [HIGHESTMODSEQ 40] ok", true)),
        vec![]
    );
    // And a new UIDVALIDITY is a new epoch: anything goes.
    let reset = modseq_log("* OK [HIGHESTMODSEQ 1] ok", false).replace(
        "[y] S: * OK [UIDVALIDITY 7] ok",
        "[y] S: * OK [UIDVALIDITY 8] ok",
    );
    assert_eq!(findings(&reset), vec![]);
}

#[test]
fn vanished_removes_messages_and_changedsince_may_answer_nothing() {
    // A QRESYNC client's view after `* VANISHED 11`: 2 messages, UIDs 10
    // and 12. A later FETCH of 2 is UID 12 (no uid.* finding), EXISTS 2 is
    // no shrink, and `UID FETCH 1:* ... (CHANGEDSINCE n)` with nothing
    // changed answers no FETCH without breaking uid.range-star.
    let log = format!(
        "{SELECTED}\
C: a4 ENABLE QRESYNC
S: * ENABLED QRESYNC
S: a4 OK done
C: a5 UID EXPUNGE 11
S: * VANISHED 11
S: a5 OK done
C: a6 NOOP
S: * 2 EXISTS
S: a6 OK done
C: a7 FETCH 2 (UID)
S: * 2 FETCH (UID 12)
S: a7 OK done
C: a8 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 90)
S: a8 OK done
"
    );
    assert_eq!(findings(&log), vec![]);
    // Without the VANISHED applied, EXISTS 2 after 3 would be a shrink.
    let plain = log.replace("S: * VANISHED 11\n", "");
    assert!(
        findings(&plain)
            .iter()
            .any(|(c, _)| *c == "exists.no-shrink"),
        "{:?}",
        findings(&plain)
    );
}

#[test]
fn appendlimit_leaves_what_rfc_7889_does_not_judge_alone() {
    let caps =
        |c: &str| format!("C: a4 CAPABILITY\nS: * CAPABILITY IMAP4rev1 {c}\nS: a4 OK done\n");
    // Per-mailbox limits (no value), a refusal without TOOBIG, a MULTIAPPEND
    // refused for its total: not judged.
    let refused = "C: a5 APPEND INBOX {50}\nS: a5 NO [TOOBIG] Message too big\n";
    assert_eq!(
        findings(&format!("{SELECTED}{}{refused}", caps("APPENDLIMIT"))),
        vec![]
    );
    let other = "C: a5 APPEND INBOX {50}\nS: a5 NO [LIMIT] Too many\n";
    assert_eq!(
        findings(&format!("{SELECTED}{}{other}", caps("APPENDLIMIT=100"))),
        vec![]
    );
    let multi = "C: a5 APPEND INBOX {2+}\nC: hi {60}\nS: a5 NO [TOOBIG] Command too big\n";
    assert_eq!(
        findings(&format!("{SELECTED}{}{multi}", caps("APPENDLIMIT=100"))),
        vec![]
    );
    // The same refusal of one message within the limit, as a non-synchronising
    // literal that was read: judged.
    let nonsync = "C: a5 APPEND INBOX {2+}\nC: hi\nS: a5 NO [TOOBIG] Message too big\n";
    let f = findings(&format!("{SELECTED}{}{nonsync}", caps("APPENDLIMIT=100")));
    assert_eq!(
        f.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec!["appendlimit.honoured"]
    );
}

#[test]
fn a_multiappend_and_its_appenduid_set_are_read() {
    // RFC 3502 with RFC 4315's `append-uid = uniqueid / uid-set`: the UIDs
    // given become UID facts, and the answer is well-formed.
    let t = "C: a4 APPEND INBOX (\\Seen) {2+}\nC: hi (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {2+}\nC: ho\nS: a4 OK [APPENDUID 7 13:14] APPEND completed\nC: a5 NOOP\nS: * 5 EXISTS\nS: a5 OK done\nC: a6 FETCH 4:5 (UID)\nS: * 4 FETCH (UID 13)\nS: * 5 FETCH (UID 14)\nS: a6 OK done\n";
    assert_eq!(findings(&format!("{SELECTED}{t}")), vec![]);
    // A UID the APPENDUID set gave, seen on another message: a reuse.
    let reuse = t.replace("(UID 14)", "(UID 13)");
    let f = findings(&format!("{SELECTED}{reuse}"));
    assert!(f.iter().any(|x| x.0.starts_with("uid.")), "{f:?}");
}

/// BINARY (RFC 3516): the decoded size is as immutable as the message text
/// (4.3: BINARY.SIZE "MUST match the size of the <nstring> or <literal8> that
/// will be returned"), while a partial answer, with its origin as Dovecot and
/// Cyrus send it or without as RFC 9051's grammar has it, is neither a syntax
/// error nor a change of the message.
#[test]
fn binary_size_is_immutable_and_partial_binary_is_read_in_both_forms() {
    let good = format!(
        "{SELECTED}\
C: a4 UID FETCH 10 (BINARY.SIZE[1] BINARY.PEEK[1])\n\
S: * 1 FETCH (UID 10 BINARY.SIZE[1] 5 BINARY[1] ~{{5}}\n\
S: \0abcd)\n\
S: a4 OK done\n\
C: a5 FETCH 1 (BINARY.PEEK[1]<2.3>)\n\
S: * 1 FETCH (BINARY[1]<2> {{3}}\n\
S: bcd)\n\
S: a5 OK done\n\
C: a6 FETCH 1 (BINARY.PEEK[1]<0.2>)\n\
S: * 1 FETCH (BINARY[1] ~{{2}}\n\
S: \0a)\n\
S: a6 OK done\n\
C: a7 FETCH 1 (BINARY.SIZE[1])\n\
S: * 1 FETCH (BINARY.SIZE[1] 5)\n\
S: a7 OK done\n"
    );
    assert_eq!(findings(&good), vec![]);
    let bad = good.replace(
        "S: * 1 FETCH (BINARY.SIZE[1] 5)",
        "S: * 1 FETCH (BINARY.SIZE[1] 7)",
    );
    let lines: Vec<&str> = bad.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("BINARY.SIZE[1] 7"))
        .map_or(0, |i| i as u64 + 1);
    assert_eq!(findings(&bad), vec![("fetch.immutable", at)]);
}

/// UTF-8 in a status response's text: RFC 3501's `TEXT-CHAR` is 7-bit, RFC
/// 9051's `text` takes UTF-8 once IMAP4rev2 is on, and Courier sends it after
/// ENABLE UTF8=ACCEPT (`a5 OK "INBOX.Entwürfe" created.`).
#[test]
fn utf8_status_text_is_judged_by_what_the_session_enabled() {
    let created = "C: a5 CREATE \"Entw\u{fc}rfe\"\nS: a5 OK \"Entw\u{fc}rfe\" created.\n";
    let rev1 = format!("{SELECTED}{created}");
    let at = rev1.lines().count() as u64;
    assert_eq!(findings(&rev1), vec![("response.syntax", at)]);
    for enable in ["UTF8=ACCEPT", "IMAP4rev2"] {
        let enabled = format!(
            "{SELECTED}C: a4 ENABLE {enable}\nS: * ENABLED {enable}\nS: a4 OK done\n{created}"
        );
        assert_eq!(findings(&enabled), vec![], "{enable}");
    }
    // Asked for but not enabled: still RFC 3501's grammar.
    let refused =
        format!("{SELECTED}C: a4 ENABLE UTF8=ACCEPT\nS: * ENABLED\nS: a4 OK done\n{created}");
    assert_eq!(findings(&refused).len(), 1);
}
