//! The bundled scenarios against two more real servers, Cyrus IMAP and
//! Courier-IMAP, as CI runs them (`.ci/run` starts both from unpacked Debian
//! packages). Each server's verdicts are compared with a table checked by hand:
//! every scenario not listed must pass, and every listed one must end as listed,
//! with a sentence saying why: a deviation of the server (with the RFC sentence it
//! breaks), a missing capability, or a wait capped by `--max-wait`. A new
//! finding fails the test (an imapspec regression or a server change, to be read
//! in the transcript), and so does a listed deviation that no longer shows.
//!
//! Left out: `iplanet/large-inbox-100k` (filling 100,000 messages takes ~6 min
//! on Cyrus and hours on Courier, whose APPEND slows as a Maildir grows).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

mod support;

/// The cap on every wait (`--max-wait`): above Courier's five-second pause after
/// a failed login, so the 28- and 35-minute IDLE scenarios end inconclusive.
const MAX_WAIT: &str = "20s";

/// Left out of these runs, and why (see the top of the file).
const LEFT_OUT: &[&str] = &["iplanet/large-inbox-100k.toml"];

/// One scenario that does not simply pass on a server.
struct Verdict {
    id: &'static str,
    status: &'static str,
    /// The scenario's own findings (check ids), beside its failed expectations.
    findings: &'static [&'static str],
    why: &'static str,
}

/// What the RFC says about SELECT's OK [UIDNEXT] (Courier omits it everywhere).
const NO_UIDNEXT: &str = "RFC 3501 6.3.1: the server MUST send OK [UIDNEXT <n>] \
    (\"REQUIRED OK untagged responses: UNSEEN, PERMANENTFLAGS, UIDNEXT, UIDVALIDITY\"); \
    Courier's SELECT answers FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UIDVALIDITY, MYRIGHTS and no UIDNEXT";

/// An imaptest script is judged by every check, so the SELECT of its start
/// state (or its own) fails it on Courier; `imaptest/select` also expects the
/// UIDNEXT itself.
const NO_UIDNEXT_SCRIPT: &str = "the script's SELECT gets no OK [UIDNEXT n] (as above); every \
    check judges an imaptest script, select.required-responses among them";

const COURIER: &[Verdict] = &[
    Verdict {
        id: "rfc/binary-fetch-decoded",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce BINARY (RFC 3516)",
    },
    Verdict {
        id: "rfc/imap4rev2-session",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce IMAP4rev2 (RFC 9051)",
    },
    Verdict {
        id: "rfc/esearch-return-options",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce ESEARCH (RFC 4731)",
    },
    Verdict {
        id: "webmail/esearch-searchres",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce ESEARCH (RFC 4731) or SEARCHRES (RFC 5182)",
    },
    Verdict {
        id: "rfc/multiappend-all-or-nothing",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce MULTIAPPEND (RFC 3502)",
    },
    Verdict {
        id: "outlook/special-use-discovery",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce SPECIAL-USE (RFC 6154) or LIST-EXTENDED (RFC 5258)",
    },
    Verdict {
        id: "rfc/create-special-use-then-list",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce CREATE-SPECIAL-USE (RFC 6154 3)",
    },
    Verdict {
        id: "rfc/list-status-after-each-list",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce LIST-STATUS (RFC 5819)",
    },
    Verdict {
        id: "apple/ios-condstore-resync",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce CONDSTORE (RFC 7162)",
    },
    Verdict {
        id: "thunderbird/qresync-reconnect",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce QRESYNC (RFC 7162)",
    },
    Verdict {
        id: "rfc/condstore-unchangedsince-conflict",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce CONDSTORE (RFC 7162)",
    },
    Verdict {
        id: "rfc/vanished-only-after-enable-qresync",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce QRESYNC (RFC 7162)",
    },
    Verdict {
        id: "mobile/compress-deflate-sync",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce COMPRESS=DEFLATE (RFC 4978)",
    },
    Verdict {
        id: "apple/mail-id-then-idle",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce ID (RFC 2971)",
    },
    Verdict {
        id: "rfc/literals-sync-and-nonsync",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce LITERAL+ (RFC 7888)",
    },
    Verdict {
        id: "thunderbird/move-to-trash",
        status: "skipped",
        findings: &[],
        why: "Courier does not announce MOVE (RFC 6851)",
    },
    Verdict {
        id: "sun-mta/append-over-quota",
        status: "skipped",
        findings: &[],
        why: "Courier's quotas are maildirsize files, not SETQUOTA: no limit to exceed",
    },
    Verdict {
        id: "sun-mta/smtp-over-quota-is-temporary",
        status: "skipped",
        findings: &[],
        why: "no quota can be set (as above), and Courier-IMAP has no SMTP listener",
    },
    Verdict {
        id: "outlook-express/seed001-idle-no-done-31m",
        status: "inconclusive",
        findings: &[],
        why: "a 35-minute wait capped at --max-wait 20s",
    },
    Verdict {
        id: "thunderbird/idle-reissued-at-29m",
        status: "inconclusive",
        findings: &[],
        why: "a 28-minute wait capped at --max-wait 20s",
    },
    Verdict {
        id: "rfc/select-required-responses",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT,
    },
    Verdict {
        id: "imaptest/expunge",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT_SCRIPT,
    },
    Verdict {
        id: "imaptest/literals",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT_SCRIPT,
    },
    Verdict {
        id: "imaptest/select",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT_SCRIPT,
    },
    Verdict {
        id: "imaptest/store",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT_SCRIPT,
    },
    Verdict {
        id: "imaptest/uid-renumber",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT_SCRIPT,
    },
    Verdict {
        id: "thunderbird/five-connections",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT,
    },
    Verdict {
        id: "windows-mail/examine-read-only",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT,
    },
    Verdict {
        id: "windows-mail/select-expectations",
        status: "failed",
        findings: &["select.required-responses"],
        why: NO_UIDNEXT,
    },
    Verdict {
        id: "outlook/noop-poll-fetch-new-uids",
        status: "failed",
        findings: &[],
        why: "the client's `capture * OK [UIDNEXT {next}]` after SELECT finds nothing (no UIDNEXT, as above)",
    },
    Verdict {
        id: "thunderbird/idle-sees-new-mail",
        status: "failed",
        findings: &[],
        why: "no OK [UIDNEXT] to capture after SELECT (as above); the MAY-level wait for \
              EXISTS during IDLE also ends at 20s (Courier polls every 60 s), which is a note only",
    },
    Verdict {
        id: "rfc/bad-commands-get-bad",
        status: "failed",
        findings: &[],
        why: "`a2 FETCH` (no arguments) and `a3 XYZZY now` (unknown) get `NO Error in IMAP command \
              received by server.`; RFC 3501 6.4.5: \"BAD - command unknown or arguments invalid\", \
              7.1.3: BAD \"reports a protocol-level error in the client's command\", while NO \
              (7.1.2) is an operational error",
    },
    Verdict {
        id: "rfc/uid-range-star",
        status: "failed",
        findings: &[],
        why: "`a4 UID FETCH 4000000:* (UID FLAGS)` on a mailbox whose last UID is 1613 answers only \
              `a4 OK FETCH completed.`; RFC 3501 9 (seq-range): \"a unique identifier sequence \
              range of 3291:* includes the UID of the last message in the mailbox, even if that \
              value is less than 3291\" (the finding is uid.range-star, server-wide: the scenario \
              targets fetch.uid-in-uid-command)",
    },
];

/// Server-wide findings (checks other than a scenario's own) expected on Courier.
const COURIER_SERVER_WIDE: &[(&str, &str)] = &[
    ("select.required-responses", NO_UIDNEXT),
    ("uid.range-star", "see rfc/uid-range-star"),
    (
        "response.syntax",
        "`* QUOTA \"ROOT\"` with no resource list, after GETQUOTAROOT INBOX; RFC 2087 5.1: \
         quota_response ::= \"QUOTA\" SP astring SP quota_list, quota_list ::= \"(\" #quota_resource \")\"",
    ),
];

const CYRUS: &[Verdict] = &[
    Verdict {
        id: "rfc/utf8-accept-mailbox-names",
        status: "skipped",
        findings: &[],
        why: "Cyrus 3.6 does not announce UTF8=ACCEPT (RFC 6855)",
    },
    Verdict {
        id: "rfc/imap4rev2-session",
        status: "skipped",
        findings: &[],
        why: "Cyrus 3.6 does not announce IMAP4rev2 (RFC 9051)",
    },
    Verdict {
        id: "webmail/esearch-searchres",
        status: "skipped",
        findings: &[],
        why: "Cyrus 3.6 does not announce SEARCHRES (RFC 5182); it answers RETURN (SAVE) with BAD",
    },
    Verdict {
        id: "outlook-express/seed001-idle-no-done-31m",
        status: "inconclusive",
        findings: &[],
        why: "a 35-minute wait capped at --max-wait 20s",
    },
    Verdict {
        id: "thunderbird/idle-reissued-at-29m",
        status: "inconclusive",
        findings: &[],
        why: "a 28-minute wait capped at --max-wait 20s",
    },
    Verdict {
        id: "sun-mta/smtp-over-quota-is-temporary",
        status: "skipped",
        findings: &[],
        why: "Cyrus takes mail by LMTP, not SMTP: no --smtp listener to give",
    },
];

const CYRUS_SERVER_WIDE: &[(&str, &str)] = &[];

/// The bundled scenario files, less `LEFT_OUT`.
fn scenario_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).expect("scenarios/") {
        let dir = dir.expect("scenarios/ entry").path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).expect("scenario folder") {
            let f = f.expect("scenario entry").path();
            let rel = f.strip_prefix(&root).expect("under scenarios/");
            let rel = rel.to_string_lossy().replace('\\', "/");
            // TOML scenarios and imaptest scripts (no extension; not their .mbox).
            let script = !rel.rsplit('/').next().unwrap_or("").contains('.');
            if (rel.ends_with(".toml") || script) && !LEFT_OUT.contains(&rel.as_str()) {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

/// Runs the chosen scenarios against `peer` and compares the verdicts with
/// `expected` and `server_wide`.
fn run_against(
    name: &str,
    peer: &support::Peer,
    expected: &[Verdict],
    server_wide: &[(&str, &str)],
) {
    let dir = support::temp_dir(&format!("{}-run", name.to_lowercase()));
    let json = dir.join("report.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapspec"));
    let server_name = name.to_lowercase();
    cmd.args(["run", "-q", "--server", &peer.imap, "--insecure"]);
    cmd.args(["--server-name", &server_name]);
    if let Some(imaps) = &peer.imaps {
        cmd.args(["--imaps", imaps]);
    }
    for (u, p) in peer.users.iter().take(2) {
        cmd.args(["--user", u, "--password", p]);
    }
    if let Some((u, p)) = &peer.admin {
        cmd.arg("--admin").arg(format!("{u}:{p}"));
    }
    cmd.args(["--max-wait", MAX_WAIT, "--report-json"])
        .arg(&json)
        .arg("--transcripts")
        .arg(dir.join("transcripts"))
        .args(scenario_files());
    let out = cmd.output().expect("imapspec run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if json.exists() {
        support::keep_for_matrix(&json, &server_name);
    }
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json).unwrap_or_else(|e| panic!("no report from {name}: {e}\n{stdout}")),
    )
    .expect("report is JSON");
    let results = report["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        results.len(),
        scenario_files().len(),
        "every chosen scenario has a verdict\n{stdout}"
    );

    let mut wrong = Vec::new();
    for r in &results {
        let id = r["id"].as_str().unwrap_or("?");
        let status = r["status"].as_str().unwrap_or("?");
        let findings: BTreeSet<&str> = r["findings"]
            .as_array()
            .map(|f| f.iter().filter_map(|x| x["check"].as_str()).collect())
            .unwrap_or_default();
        let (want_status, want_findings) = match expected.iter().find(|v| v.id == id) {
            Some(v) => (v.status, v.findings.iter().copied().collect()),
            None => ("passed", BTreeSet::new()),
        };
        if status != want_status || findings != want_findings {
            wrong.push(format!(
                "{id}: {status} {findings:?}, expected {want_status} {want_findings:?}; \
                 failures {}",
                r["failures"]
            ));
        }
    }
    for v in expected {
        assert!(
            results.iter().any(|r| r["id"] == v.id),
            "{name}: {} is listed but was not run",
            v.id
        );
        assert!(!v.why.is_empty(), "{}: every listed verdict says why", v.id);
    }
    let seen: BTreeSet<&str> = report["server_findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["check"].as_str()).collect())
        .unwrap_or_default();
    let want: BTreeSet<&str> = server_wide.iter().map(|(c, _)| *c).collect();
    if seen != want {
        wrong.push(format!(
            "server-wide findings {seen:?}, expected {want:?}: {}",
            report["server_findings"]
        ));
    }
    assert!(
        wrong.is_empty(),
        "{name}'s verdicts differ from the hand-checked table (read the transcripts in {}):\n{}\n{stdout}",
        dir.join("transcripts").display(),
        wrong.join("\n")
    );
    let fails = expected.iter().any(|v| v.status == "failed") || !server_wide.is_empty();
    assert_eq!(
        out.status.code(),
        Some(if fails { 1 } else { 0 }),
        "exit status\n{stdout}"
    );
}

#[test]
fn courier_verdicts_are_the_hand_checked_ones() {
    let Some(peer) = support::peer("COURIER") else {
        return;
    };
    run_against("Courier", &peer, COURIER, COURIER_SERVER_WIDE);
}

#[test]
fn cyrus_verdicts_are_the_hand_checked_ones() {
    let Some(peer) = support::peer("CYRUS") else {
        return;
    };
    run_against("Cyrus", &peer, CYRUS, CYRUS_SERVER_WIDE);
}
