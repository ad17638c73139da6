//! Dovecot rawlog pairs, with and without timestamps, read as one session.

mod support;

use imapspec::cli::check::check_log;
use imapspec::transcript::Format;
use imapspec::wire::Limits;

fn write_pair(dir: &std::path::Path, name: &str, client: &str, server: &str) -> std::path::PathBuf {
    let base = dir.join(name);
    std::fs::write(base.with_extension("in"), client).expect("write .in");
    std::fs::write(base.with_extension("out"), server).expect("write .out");
    base.with_extension("in")
}

#[test]
fn timestamped_rawlog_is_merged_by_time_and_checked() {
    let dir = support::temp_dir("rawlog-ts");
    let path = write_pair(
        &dir,
        "20261122-101500-42",
        "1700000000.000100 a1 SELECT INBOX\r\n1700000000.000300 a2 FETCH 2 (UID)\r\n",
        "1700000000.000000 * OK ready\r\n\
         1700000000.000200 * FLAGS (\\Seen)\r\n1700000000.000200 * 2 EXISTS\r\n1700000000.000200 * 0 RECENT\r\n\
         1700000000.000200 * OK [UIDVALIDITY 1] x\r\n1700000000.000200 * OK [UIDNEXT 5] x\r\n\
         1700000000.000200 a1 OK [READ-WRITE] done\r\n\
         1700000000.000400 * 2 FETCH (UID 3)\r\n1700000000.000400 a2 OK done\r\n\
         1700000000.000500 * 1 EXPUNGE\r\n",
    );
    let r = check_log(&path, &Limits::default(), 100);
    assert_eq!(r.format, Some(Format::Rawlog));
    assert!(r.error.is_none(), "{:?}", r.error);
    let ids: Vec<_> = r
        .findings
        .iter()
        .map(|f| (f.check, f.origin.line))
        .collect();
    // The last EXPUNGE comes with no command in progress, at line 10 of the .out file.
    assert_eq!(
        ids,
        vec![("expunge.forbidden-context", 10)],
        "{:#?}",
        r.findings
    );
    assert!(r.findings[0].origin.file.ends_with(".out"));
}

#[test]
fn plain_rawlog_is_interleaved_by_the_protocol() {
    let dir = support::temp_dir("rawlog-plain");
    let path = write_pair(
        &dir,
        "20261122-101500-43",
        "a1 NOOP\r\na2 NOOP\r\n",
        "* OK ready\r\na1 OK done\r\na2 NO busy\r\n",
    );
    let r = check_log(&path, &Limits::default(), 100);
    assert!(r.error.is_none(), "{:?}", r.error);
    let ids: Vec<_> = r.findings.iter().map(|f| f.check).collect();
    assert_eq!(ids, vec!["noop.always-ok"]);
}

/// Lines as Dovecot writes them: `SECONDS.MICROS line`, `t` seconds after a base.
fn stamped(lines: &[(u32, &str)]) -> String {
    lines
        .iter()
        .map(|(t, l)| format!("{}.000000 {l}\r\n", 1_700_000_000 + t))
        .collect()
}

/// Session A (at `a`): sees UIDs 10, 11, 12 in INBOX, then EXPUNGE removes UID 12.
fn write_session_a(dir: &std::path::Path, a: u32) -> std::path::PathBuf {
    write_pair(
        dir,
        "20261122-101500-100",
        &stamped(&[
            (a + 1, "a1 SELECT INBOX"),
            (a + 3, "a2 FETCH 1:3 (UID)"),
            (a + 5, "a3 EXPUNGE"),
        ]),
        &stamped(&[
            (a, "* OK ready"),
            (a + 2, "* FLAGS (\\Seen \\Deleted)"),
            (a + 2, "* 3 EXISTS"),
            (a + 2, "* 0 RECENT"),
            (a + 2, "* OK [UIDVALIDITY 7] x"),
            (a + 2, "* OK [UIDNEXT 13] x"),
            (a + 2, "a1 OK [READ-WRITE] done"),
            (a + 4, "* 1 FETCH (UID 10)"),
            (a + 4, "* 2 FETCH (UID 11)"),
            (a + 4, "* 3 FETCH (UID 12)"),
            (a + 4, "a2 OK done"),
            (a + 6, "* 3 EXPUNGE"),
            (a + 6, "a3 OK done"),
        ]),
    )
}

/// Session B: first (at `early`) sees UID 12 as message 3; then (at `late`)
/// selects INBOX again and is shown UID 12 for message 3 again. After A's
/// expunge that is a resurrected UID; before it, the same message still there.
fn write_session_b(dir: &std::path::Path, early: u32, late: u32) -> std::path::PathBuf {
    write_pair(
        dir,
        "20261122-101600-200",
        &stamped(&[
            (early + 1, "b1 EXAMINE INBOX"),
            (early + 3, "b2 FETCH 3 (UID)"),
            (late + 1, "b3 SELECT INBOX"),
            (late + 3, "b4 FETCH 3 (UID)"),
        ]),
        &stamped(&[
            (early, "* OK ready"),
            (early + 2, "* FLAGS (\\Seen \\Deleted)"),
            (early + 2, "* 3 EXISTS"),
            (early + 2, "* 0 RECENT"),
            (early + 2, "* OK [UIDVALIDITY 7] x"),
            (early + 2, "* OK [UIDNEXT 13] x"),
            (early + 2, "b1 OK [READ-ONLY] done"),
            (early + 4, "* 3 FETCH (UID 12)"),
            (early + 4, "b2 OK done"),
            (late + 2, "* FLAGS (\\Seen \\Deleted)"),
            (late + 2, "* 3 EXISTS"),
            (late + 2, "* 0 RECENT"),
            (late + 2, "* OK [UIDVALIDITY 7] x"),
            (late + 2, "* OK [UIDNEXT 13] x"),
            (late + 2, "b3 OK [READ-WRITE] done"),
            (late + 4, "* 3 FETCH (UID 12)"),
            (late + 4, "b4 OK done"),
        ]),
    )
}

fn findings_of(r: &imapspec::report::LogResult) -> Vec<(&'static str, u64)> {
    r.findings
        .iter()
        .map(|f| (f.check, f.origin.line))
        .collect()
}

#[test]
fn a_folder_of_rawlogs_is_one_account_merged_by_time() {
    let dir = support::temp_dir("rawlog-set");
    let a = write_session_a(&dir, 100);
    let b = write_session_b(&dir, 50, 200);
    let files = imapspec::cli::check::expand(std::slice::from_ref(&dir)).expect("expand");
    assert_eq!(files, vec![a.clone(), b.clone()]);
    let (results, notes) = imapspec::cli::check::check_logs(&files, &Limits::default(), 100);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.error.is_none()), "{results:#?}");
    assert_eq!(results[0].id, a.display().to_string());
    assert!(findings_of(&results[0]).is_empty(), "{:#?}", results[0]);
    // Line 16 of B's .out: `* 3 FETCH (UID 12)` after the second SELECT.
    assert_eq!(
        findings_of(&results[1]),
        vec![("uid.no-reuse", 16)],
        "{:#?}",
        results[1]
    );
    let f = &results[1].findings[0];
    assert!(f.origin.file.ends_with("20261122-101600-200.out"), "{f:?}");
    assert!(f.message.contains("expunged earlier"), "{f:?}");
    assert!(results[1].events > 0 && results[0].events > 0);

    // Each file on its own knows nothing of the other session: no finding.
    for path in [&a, &b] {
        let alone = check_log(path, &Limits::default(), 100);
        assert!(findings_of(&alone).is_empty(), "{alone:#?}");
    }
}

#[test]
fn a_session_wholly_before_the_expunge_is_not_a_reuse() {
    let dir = support::temp_dir("rawlog-set-before");
    // The same sessions, but all of B happens before A's EXPUNGE at +106.
    write_session_a(&dir, 100);
    write_session_b(&dir, 50, 60);
    let files = imapspec::cli::check::expand(std::slice::from_ref(&dir)).expect("expand");
    let (results, notes) = imapspec::cli::check::check_logs(&files, &Limits::default(), 100);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(results.len(), 2);
    for r in &results {
        assert!(r.error.is_none(), "{r:#?}");
        assert!(findings_of(r).is_empty(), "{r:#?}");
    }
}

#[test]
fn a_folder_mixing_rawlogs_and_other_logs_keeps_working() {
    let dir = support::temp_dir("rawlog-set-mixed");
    let a = write_session_a(&dir, 100);
    let b = write_session_b(&dir, 50, 200);
    // A plain rawlog (no timestamps) and a generic transcript beside them.
    let plain = write_pair(
        &dir,
        "20261122-101700-300",
        "a1 NOOP\r\na2 NOOP\r\n",
        "* OK ready\r\na1 OK done\r\na2 NO busy\r\n",
    );
    let generic = dir.join("session.log");
    std::fs::write(&generic, "S: * OK hi\nC: a1 NOOP\nS: a1 NO nope\n").expect("write");
    std::fs::write(dir.join("notes.md"), "not a log\n").expect("write");
    let files = imapspec::cli::check::expand(std::slice::from_ref(&dir)).expect("expand");
    assert_eq!(files, vec![a, b, plain, generic]);
    let (results, notes) = imapspec::cli::check::check_logs(&files, &Limits::default(), 100);
    assert!(results.iter().all(|r| r.error.is_none()), "{results:#?}");
    assert_eq!(findings_of(&results[1]), vec![("uid.no-reuse", 16)]);
    assert_eq!(results[2].format, Some(Format::Rawlog));
    let plain_ids: Vec<_> = results[2].findings.iter().map(|f| f.check).collect();
    assert_eq!(plain_ids, vec!["noop.always-ok"]);
    assert_ne!(results[3].format, Some(Format::Rawlog));
    let generic_ids: Vec<_> = results[3].findings.iter().map(|f| f.check).collect();
    assert_eq!(generic_ids, vec!["noop.always-ok"]);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("without timestamps"), "{notes:?}");
}

#[test]
fn check_command_reports_the_reuse_and_notes_the_plain_rawlog() {
    let dir = support::temp_dir("rawlog-set-cli");
    write_session_a(&dir, 100);
    write_session_b(&dir, 50, 200);
    write_pair(
        &dir,
        "20261122-101700-300",
        "a1 NOOP\r\n",
        "* OK ready\r\na1 OK done\r\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imapspec"))
        .arg("check")
        .arg(&dir)
        .output()
        .expect("run imapspec");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("uid.no-reuse"), "{stdout}");
    assert!(stdout.contains("20261122-101600-200.out:16"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains("without timestamps")),
        "{stdout}"
    );
}

#[test]
fn merge_orders_by_time_and_keeps_file_order_on_ties() {
    use imapspec::transcript::rawlog::{read_merged, Probe, Stream};
    let dir = support::temp_dir("rawlog-merge-order");
    // Pair 0 greets at +10 and +30; pair 1 at +10 (a tie) and +20.
    let p0 = write_pair(
        &dir,
        "a",
        "",
        &stamped(&[(10, "* OK zero-first"), (30, "* OK zero-second")]),
    );
    let p1 = write_pair(
        &dir,
        "b",
        "",
        &stamped(&[(10, "* OK one-first"), (20, "* OK one-second")]),
    );
    let paths = vec![p0, p1];
    let starts: Vec<_> = paths
        .iter()
        .map(|p| {
            let mut s = Stream::open(p, &Limits::default())
                .expect("open")
                .expect("a pair");
            match s.probe().expect("probe") {
                Probe::Timestamped(at) => at,
                Probe::Plain => panic!("timestamped"),
            }
        })
        .collect();
    let mut seen = Vec::new();
    let read = read_merged(&paths, &starts, &Limits::default(), &mut |i, e| {
        seen.push((i, String::from_utf8_lossy(&e.raw).trim_end().to_string()));
    });
    assert!(read.iter().all(|r| r.is_ok()));
    let texts: Vec<_> = seen
        .iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| (*i, t.as_str()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (0, "* OK zero-first"),
            (1, "* OK one-first"),
            (1, "* OK one-second"),
            (0, "* OK zero-second"),
        ]
    );
}
