//! The command line as a user runs it: exit codes 0/1/2 and the wording of errors.

mod support;

use support::imapspec;

#[test]
fn check_exit_codes_and_json_report() {
    let dir = support::temp_dir("cli");
    let json = dir.join("report.json");
    let (code, out, _) = imapspec(&[
        "check",
        "transcripts/field",
        "--report-json",
        json.to_str().unwrap_or(""),
    ]);
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid json");
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["results"].as_array().map(Vec::len), Some(3));
    assert!(report["results"][0]["findings"][0]["check"].is_string());

    let clean = dir.join("clean.log");
    std::fs::write(&clean, "S: * OK hi\nC: a1 NOOP\nS: a1 OK done\n").expect("write");
    let (code, out, _) = imapspec(&["check", clean.to_str().unwrap_or("")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed"));
}

#[test]
fn bad_logs_give_exit_2_with_file_and_line() {
    let dir = support::temp_dir("cli-bad");
    let garbage = dir.join("garbage.log");
    std::fs::write(&garbage, b"\x00\x01\x02\xff\xfe binary\n").expect("write");
    let (code, out, _) = imapspec(&["check", garbage.to_str().unwrap_or("")]);
    assert_eq!(code, 2);
    assert!(
        out.contains("garbage.log") && out.contains("unknown log format"),
        "{out}"
    );

    let mixed = dir.join("mixed.log");
    std::fs::write(
        &mixed,
        "S: * OK hi\nC: a1 NOOP\nIMAP: 12:24:17 [rx] a1 OK done\n",
    )
    .expect("write");
    let (code, out, _) = imapspec(&["check", mixed.to_str().unwrap_or("")]);
    assert_eq!(code, 2);
    assert!(
        out.contains("mixed.log:3:") && out.contains("not in the generic"),
        "{out}"
    );

    let bad_escape = dir.join("escape.log");
    std::fs::write(&bad_escape, "S: * OK hi\nS= \\q\n").expect("write");
    let (code, out, _) = imapspec(&["check", bad_escape.to_str().unwrap_or("")]);
    assert_eq!(code, 2);
    assert!(out.contains("escape.log:2:"), "{out}");

    let empty = dir.join("empty.log");
    std::fs::write(&empty, "").expect("write");
    let (code, out, _) = imapspec(&["check", empty.to_str().unwrap_or("")]);
    assert_eq!(code, 2);
    assert!(out.contains("empty"), "{out}");

    let (code, _, err) = imapspec(&["check", "no/such/file.log"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.log: no such file"), "{err}");

    let (code, _, _) = imapspec(&["check"]);
    assert_eq!(code, 2, "missing LOG is bad usage");
}

#[test]
fn truncated_log_reports_the_cut_message() {
    let dir = support::temp_dir("cli-cut");
    let cut = dir.join("cut.log");
    // The log ends inside a literal: a finding at the line where the message began.
    std::fs::write(
        &cut,
        "S: * OK hi\nC: a1 FETCH 1 (BODY[])\nS: * 1 FETCH (BODY[] {100}\nS: only part\n",
    )
    .expect("write");
    let (code, out, _) = imapspec(&["check", cut.to_str().unwrap_or("")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cut.log:3") && out.contains("ended in the middle"),
        "{out}"
    );
}

#[test]
fn list_names_every_check() {
    let (code, out, _) = imapspec(&["list"]);
    assert_eq!(code, 0);
    for c in imapspec::checks::CHECKS {
        assert!(out.contains(c.id), "{} missing from list", c.id);
    }
}

#[test]
fn replay_a_recorded_session_against_another_server() {
    let dir = support::temp_dir("replay");
    let t = dir.join("t");
    let (code, out, _) = imapspec(&[
        "run",
        "scenarios/rfc/idle-done.toml",
        "--transcripts",
        t.to_str().unwrap_or(""),
        "-q",
    ]);
    assert_eq!(code, 0, "{out}");
    let log = t.join("rfc__idle-done.transcript");
    for (fault, expect_finding) in [(None, false), (Some("flags-without-backslash"), true)] {
        let ready = dir.join(format!("ready-{expect_finding}"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_imapspec"));
        cmd.args([
            "serve",
            "--imap",
            "127.0.0.1:0",
            "--user",
            "bob:pw",
            "--ready-file",
            ready.to_str().unwrap_or(""),
        ]);
        if let Some(f) = fault {
            cmd.args(["--fault", f]);
        }
        let mut server = cmd
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("serve");
        let mut addr = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                addr = text
                    .lines()
                    .find_map(|l| l.strip_prefix("imap ").map(str::to_string));
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let addr = addr.expect("server ready");
        let (code, out, err) = imapspec(&[
            "replay",
            log.to_str().unwrap_or(""),
            "--server",
            &format!("imap://{addr}"),
            "--user",
            "bob",
            "--password",
            "pw",
        ]);
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("replayed"), "{out}");
        assert_eq!(
            out.contains("flags.system-backslash"),
            expect_finding,
            "{out}"
        );
    }
}
