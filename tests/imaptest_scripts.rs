//! imaptest's scripted format run by `imapspec run`: the bundled scripts
//! (`scenarios/imaptest/`) pass on the reference server and on Dovecot, a
//! server fault fails the script it breaks with the check's id, the script's
//! own expectations fire when a reply does not match, each command is a JUnit
//! case, and a malformed script is an error that names its line.

mod support;

use std::path::{Path, PathBuf};

use support::imapspec;

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

fn json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn result<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["results"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no result {id} in {report}"))
}

/// Every script in `scenarios/imaptest` (files without an extension).
fn bundled() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/imaptest");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios/imaptest")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.contains('.'))
        .collect();
    names.sort();
    names
}

/// The commands each bundled script sends (its JUnit cases), counted by hand.
const COMMANDS: &[(&str, usize)] = &[
    ("env-blocks", 2),
    ("expunge", 5),
    ("literals", 4),
    ("pipelined", 3),
    ("select", 6),
    ("store", 5),
    ("uid-renumber", 6),
];

#[test]
fn bundled_scripts_pass_on_the_reference_server_each_command_a_junit_case() {
    let dir = support::temp_dir("imaptest-ref");
    let (j, x) = (dir.join("r.json"), dir.join("r.xml"));
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/imaptest",
        "--report-json",
        s(&j),
        "--report-junit",
        s(&x),
        "--transcripts",
        s(&dir.join("t")),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&j);
    let names = bundled();
    let listed: Vec<&str> = COMMANDS.iter().map(|c| c.0).collect();
    assert_eq!(names, listed, "each bundled script has its count here");
    let junit = std::fs::read_to_string(&x).expect("junit");
    for (name, commands) in COMMANDS {
        let r = result(&report, &format!("imaptest/{name}"));
        assert_eq!(r["status"], "passed", "{r}");
        let cases = r["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), *commands, "{name}: {cases:?}");
        assert!(cases.iter().all(|c| c["status"] == "passed"), "{cases:?}");
        for c in cases {
            let case = format!("imaptest/{name} :: line {}: ", c["line"]);
            assert!(junit.contains(&case), "{case} in the JUnit report");
        }
    }
}

#[test]
fn a_server_fault_fails_the_script_it_breaks_with_the_check_id() {
    let dir = support::temp_dir("imaptest-fault");
    let j = dir.join("r.json");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/imaptest",
        "--fault",
        "uid-reuse",
        "--report-json",
        s(&j),
        "--transcripts",
        s(&dir.join("t")),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let report = json(&j);
    let r = result(&report, "imaptest/uid-renumber");
    assert_eq!(r["status"], "failed");
    let checks: Vec<&str> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert!(checks.contains(&"uid.no-reuse"), "{checks:?}");
    // The script's own ban fired too, on the FETCH line's case.
    let failed: Vec<&serde_json::Value> = r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["command"]
        .as_str()
        .unwrap_or("")
        .contains("fetch 2 uid"));
    assert!(failed[0]["messages"][0]
        .as_str()
        .unwrap_or("")
        .contains("must not appear"));
    // The fault breaks only what reuses a UID.
    assert_eq!(result(&report, "imaptest/select")["status"], "passed");
}

#[test]
fn bundled_scripts_pass_on_dovecot() {
    let Some(d) = support::dovecot() else { return };
    let dir = support::temp_dir("imaptest-dovecot");
    let j = dir.join("r.json");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/imaptest",
        "--server",
        &d.imap,
        "--user",
        "alice",
        "--password",
        "alicepw",
        "--report-json",
        s(&j),
        "--transcripts",
        s(&dir.join("t")),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&j);
    for name in bundled() {
        let r = result(&report, &format!("imaptest/{name}"));
        assert_eq!(r["status"], "passed", "{r}");
    }
}

/// Writes a script (and optionally an mbox beside it) in a fresh folder.
fn script(name: &str, text: &str) -> PathBuf {
    let dir = support::temp_dir(&format!("imaptest-{name}"));
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write script");
    p
}

#[test]
fn the_scripts_expectations_fire_when_replies_do_not_match() {
    let cases = [
        ("status", "state: auth\n\nno noop\n", "expected NO, got `a"),
        (
            "prefix",
            "state: created\n\nselect $mailbox\nok [read-only]\n",
            "does not begin with `[read-only]`",
        ),
        (
            "untagged",
            "state: created\n\nok select $mailbox\n* 5 exists\n",
            "no untagged reply matched `* 5 exists`",
        ),
        (
            "ban",
            "state: created\n\nok select $mailbox\n! 0 exists\n",
            "matched `! 0 exists`, which must not appear",
        ),
        (
            "extra",
            "state: created\nignore_extra_untagged: no\n\nok select $mailbox\n* 0 exists\n",
            "is not in the script (ignore_extra_untagged: no)",
        ),
        (
            "unbound",
            "state: auth\n\nok uid fetch $never uid\n",
            "`$never` has no value yet",
        ),
        (
            "flags-noextra",
            "state: selected\nmessages: 0\n\nok append $mailbox (\\seen \\draft) {{{\nSubject: x\n\nx\n}}}\nok fetch 1 flags\n* 1 fetch (flags (\\seen))\n",
            "no untagged reply matched `* 1 fetch (flags (\\seen))`",
        ),
    ];
    for (name, text, want) in cases {
        let p = script(name, text);
        let j = p.with_extension("json");
        let (code, out, err) = imapspec(&["run", s(&p), "--report-json", s(&j)]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        let report = json(&j);
        let r = &report["results"][0];
        assert_eq!(r["status"], "failed", "{name}: {r}");
        let said: Vec<&str> = r["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .filter_map(|f| f["message"].as_str())
            .collect();
        let said = said.join("\n");
        assert!(said.contains(want), "{name}: want {want:?} in {said}");
    }
    // And the same scripts, written to match, pass: the expectations are not
    // failing by themselves.
    let good = script(
        "good",
        "state: created\nignore_extra_untagged: no\n\nselect $mailbox\n* 0 exists\n* 0 recent\n* ok [uidvalidity $]\n* ok [uidnext $]\n* ok [highestmodseq $]\n* flags $\n* ok [permanentflags $]\nok [read-write]\n",
    );
    let (code, out, err) = imapspec(&["run", s(&good)]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn malformed_scripts_are_errors_that_name_the_line() {
    let cases = [
        (
            "header",
            "state: sideways\n\nok noop\n",
            ":1:",
            "one of nonauth",
        ),
        (
            "key",
            "colour: blue\n\nok noop\n",
            ":1:",
            "unknown header `colour:`",
        ),
        (
            "conn",
            "connections: 2\n\nok noop\n",
            ":3:",
            "begins with its connection number",
        ),
        (
            "conn-range",
            "connections: 2\n\n3 ok noop\n",
            ":3:",
            "connection 3",
        ),
        (
            "status",
            "\nselect $mailbox\n* 0 exists\n",
            ":2:",
            "no status line",
        ),
        (
            "literal",
            "ok append $mailbox {{{\nx\n",
            ":1:",
            "without its `}}}`",
        ),
        ("endif", "!ifenv HOME\nok noop\n", ":1:", "no `!endif`"),
        ("reply", "* 1 exists\n", ":1:", "before any command"),
    ];
    for (name, text, line, want) in cases {
        let p = script(name, text);
        let (code, out, err) = imapspec(&["run", s(&p)]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        let shown = format!("{}{line}", p.display());
        assert!(err.contains(&shown), "{name}: want {shown} in {err}");
        assert!(err.contains(want), "{name}: want {want:?} in {err}");
    }
    // `append` with no message and no fixture beside the script.
    let p = script("nofixture", "state: selected\n\nok append\n");
    let (code, _, err) = imapspec(&["run", s(&p)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("needs nofixture.mbox or default.mbox"),
        "{err}"
    );
}
