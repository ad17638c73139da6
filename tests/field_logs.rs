//! The field logs of seeds 000 and 001, in their own formats: `imapspec check`
//! must give the findings an administrator needs, at the right lines. The rendered
//! findings are snapshot-tested; the key facts are also asserted directly.

use std::path::Path;

use imapspec::cli::check::check_log;
use imapspec::report::{self, Status};
use imapspec::wire::Limits;

fn check(path: &str) -> imapspec::report::LogResult {
    check_log(Path::new(path), &Limits::default(), 1000)
}

#[test]
fn seed000_outlook_uid_error_is_found_at_the_fetch_after_the_noop() {
    let r = check("transcripts/field/seed000-outlook-0x800CCCDC.log");
    assert_eq!(r.status, Status::Failed);
    let at_fetch: Vec<_> = r.findings.iter().filter(|f| f.origin.line == 22).collect();
    assert_eq!(
        at_fetch.first().map(|f| f.line.as_str()),
        Some("* 147 FETCH (UID 3193)")
    );
    let ids: Vec<&str> = at_fetch.iter().map(|f| f.check).collect();
    assert!(
        ids.contains(&"uid.no-reuse") && ids.contains(&"uid.new-above-uidnext"),
        "{ids:?}"
    );
    assert!(at_fetch.iter().all(|f| f
        .client_impact
        .as_deref()
        .is_some_and(|i| i.contains("0x800CCCDC")
            && i.contains("MsgSeqNum 147, New UID 3193, Prev UID 3193"))));
    // The earlier `* 147 FETCH (UID 3193)` (line 9, before the expunge) is fine.
    assert!(r.findings.iter().all(|f| f.origin.line != 9));
    insta::assert_snapshot!("seed000", report::terminal::render(&[r]));
}

#[test]
fn seed001_idle_drop_without_bye_in_both_logs() {
    for log in [
        "transcripts/field/seed001-gms-server.log",
        "transcripts/field/seed001-outlook-express-client.log",
    ] {
        let r = check(log);
        let bye: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.check == "bye.before-close")
            .collect();
        assert_eq!(bye.len(), 1, "{log}: {:#?}", r.findings);
        assert!(
            bye[0].message.contains("IDLE (tag 0007") && bye[0].message.contains("never sent DONE")
        );
        assert!(bye[0]
            .client_impact
            .as_deref()
            .is_some_and(|i| i.contains("0x800CCC0F")));
        // 30m53s of inactivity is within RFC 3501 5.4: no autologout finding.
        assert!(
            r.findings.iter().all(|f| f.check != "autologout.min-30min"),
            "{log}"
        );
        // The GMS flags without backslash are reported as warnings.
        assert!(r
            .findings
            .iter()
            .any(|f| f.check == "flags.system-backslash"));
    }
    let gms = check("transcripts/field/seed001-gms-server.log");
    let oe = check("transcripts/field/seed001-outlook-express-client.log");
    insta::assert_snapshot!("seed001-gms", report::terminal::render(&[gms]));
    insta::assert_snapshot!("seed001-oe", report::terminal::render(&[oe]));
}
