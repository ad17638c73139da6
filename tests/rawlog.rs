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
