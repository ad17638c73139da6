//! `imapspec run` as a CI pipeline uses it: exit codes, and every report format
//! (JSON, JUnit, HTML, Markdown), plus `report merge` into a server × scenario
//! matrix. The HTML is also loaded in headless Chromium when it is installed.

mod support;

use std::path::Path;

use support::imapspec;

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or("")
}

#[test]
fn reports_from_a_faulted_and_a_clean_run() {
    let dir = support::temp_dir("reports");
    let (json, junit, html, md) = (
        dir.join("r.json"),
        dir.join("r.xml"),
        dir.join("r.html"),
        dir.join("r.md"),
    );
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--fault",
        "stale-noop-after-expunge",
        "--server-name",
        "faulted",
        "--report-json",
        s(&json),
        "--report-junit",
        s(&junit),
        "--report-html",
        s(&html),
        "--report-md",
        s(&md),
        "--transcripts",
        s(&dir.join("t1")),
    ]);
    assert_eq!(code, 1, "a violation exits 1\n{out}{err}");
    assert!(
        out.starts_with("FAILED outlook/"),
        "failures come first: {out}"
    );
    assert!(
        out.contains("rule: ") && out.contains(">"),
        "the offending transcript line is shown: {out}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid json");
    assert_eq!(report["schema_version"], 2);
    let results = report["results"].as_array().expect("results");
    assert!(results
        .iter()
        .all(|r| r["id"].is_string() && r["status"].is_string()));
    let failed = results
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("a failed scenario");
    assert!(failed["findings"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["check"] == "uid.no-reuse")));

    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("<testsuites") && xml.contains(":: uid.no-reuse") && xml.contains("<failure")
    );
    assert!(
        xml.contains("RFC 3501 2.3.1.1") && xml.contains("expected:"),
        "failure text names the rule and the RFC"
    );

    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.contains("id=\"summary\"") && page.contains("<mark>") && page.contains("0x800CCCDC")
    );
    assert!(
        !page.contains("<script src") && !page.contains("<link "),
        "self-contained"
    );

    let summary = std::fs::read_to_string(&md).expect("md");
    assert!(summary.contains("| `outlook/") && summary.contains("failed"));

    let clean = dir.join("clean.json");
    let (code, out, _) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--report-json",
        s(&clean),
        "-q",
        "--transcripts",
        s(&dir.join("t2")),
    ]);
    assert_eq!(code, 0, "{out}");
    let matrix = dir.join("matrix.html");
    let notes = dir.join("notes.toml");
    std::fs::write(
        &notes,
        "[[note]]\nserver = \"faulted\"\nscenario = \"outlook/seed000-noop-75ms-after-expunge\"\ntext = \"checked by hand: the fault reproduces seed 000\"\n",
    )
    .expect("notes");
    let (code, out, err) = imapspec(&[
        "report",
        "merge",
        s(&json),
        s(&clean),
        "--html",
        s(&matrix),
        "--notes",
        s(&notes),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let m = std::fs::read_to_string(&matrix).expect("matrix");
    assert!(m.contains("stale-noop-after-expunge") && m.contains("<th>faulted</th>"));
    assert!(
        m.contains("checked by hand: the fault reproduces seed 000"),
        "the note is in its cell"
    );
    // Every cell that is not `passed` says why, with the RFC's words and the
    // line the server sent; the hand-checked note follows.
    let row = out
        .lines()
        .find(|l| l.starts_with("| `outlook/seed000-noop-75ms-after-expunge` |"))
        .unwrap_or_default();
    assert!(
        row.contains("| failed [") && row.ends_with("| passed |"),
        "{out}"
    );
    let n = row
        .split('[')
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or("?");
    let why = out
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "{n}. `outlook/seed000-noop-75ms-after-expunge` on faulted: failed — "
            ))
        })
        .unwrap_or_else(|| panic!("no reason for cell [{n}]: {out}"));
    assert!(
        why.contains("RFC 3501")
            && why.contains("the server sent `* ")
            && why.contains("\"")
            && why.ends_with("checked by hand: the fault reproduces seed 000"),
        "{why}"
    );
    // A note naming no run is a mistake, said so.
    std::fs::write(
        &notes,
        "[[note]]\nserver = \"dovecto\"\nscenario = \"x\"\ntext = \"t\"\n",
    )
    .expect("notes");
    let (code, _, err) = imapspec(&["report", "merge", s(&json), s(&clean), "--notes", s(&notes)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("dovecto") && err.contains("--server-name"),
        "{err}"
    );

    chromium_loads(&html);
    chromium_loads(&matrix);
}

/// Headless Chromium renders the page with no console error and shows the summary.
fn chromium_loads(page: &Path) {
    if let Some(dom) = support::chromium_dom(page, "") {
        assert!(
            dom.contains("id=\"summary\""),
            "the summary is rendered: {dom:.300}"
        );
    }
}

#[test]
fn bad_scenarios_and_unreachable_servers() {
    let dir = support::temp_dir("bad-scn");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "id = \"x\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen o\no: NOOP\n  must-never x\n'''\n").expect("write");
    let (code, _, err) = imapspec(&["run", s(&bad)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.toml:9:") && err.contains("must-never"),
        "{err}"
    );

    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/rfc/noop-always-ok.toml",
        "--server",
        "imap://127.0.0.1:9",
        "--user",
        "a",
        "--password",
        "b",
    ]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("cannot connect") && out.contains("is the server running"),
        "{out}"
    );

    let (code, _, err) = imapspec(&["run", "--server", "imap://127.0.0.1:9"]);
    assert_eq!(code, 2, "no accounts is bad usage: {err}");
    assert!(err.contains("--user NAME --password PASS"), "{err}");
    let (code, _, err) = imapspec(&["run", "--fault", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown fault `nope`"), "{err}");
}

/// One deviation outside the scenarios' own checks (the seed 001 GMS flags
/// without backslashes, on every SELECT) is reported once, server-wide, with
/// a count; every scenario not about flags still passes and says what it
/// found; the run fails on it only under --strict (it is a SHOULD).
#[test]
fn a_server_wide_deviation_is_reported_once_and_hides_nothing() {
    let dir = support::temp_dir("server-wide");
    let json = dir.join("r.json");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--fault",
        "flags-without-backslash",
        "--report-json",
        s(&json),
        "--transcripts",
        s(&dir.join("t")),
    ]);
    assert_eq!(
        code, 0,
        "a SHOULD does not fail the run by itself\n{out}{err}"
    );
    assert!(out.contains("server-wide findings"), "{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid json");
    assert_eq!(report["schema_version"], 2);
    let results = report["results"].as_array().expect("results");
    for r in results {
        let about_flags = r["targets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|c| c == "flags.system-backslash"));
        if !about_flags {
            assert_eq!(r["status"], "passed", "{r}");
            assert!(
                r["other_checks"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == "flags.system-backslash")),
                "{r}"
            );
        }
    }
    let server = report["server_findings"]
        .as_array()
        .expect("server findings");
    let flags: Vec<_> = server
        .iter()
        .filter(|f| f["check"] == "flags.system-backslash")
        .collect();
    assert!(!flags.is_empty(), "{server:?}");
    // Folded: far fewer entries than occurrences, each with where it was seen.
    let times: u64 = flags.iter().map(|f| f["count"].as_u64().unwrap_or(0)).sum();
    assert!(times > flags.len() as u64, "{flags:?}");
    assert!(flags
        .iter()
        .all(|f| f["seen_in"].as_array().is_some_and(|s| !s.is_empty())
            && f["locations"]
                .as_array()
                .is_some_and(|l| !l.is_empty() && l.len() <= 5)));

    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook",
        "--fault",
        "flags-without-backslash",
        "--strict",
        "-q",
        "--transcripts",
        s(&dir.join("t2")),
    ]);
    assert_eq!(code, 1, "--strict fails on warnings\n{out}{err}");
}

/// `--timeout` bounds the whole run: what did not finish is reported, with
/// the reason, the reports are written, and the run fails.
#[test]
fn a_run_timeout_reports_what_did_not_run() {
    let dir = support::temp_dir("timeout");
    let json = dir.join("r.json");
    let (code, out, err) = imapspec(&[
        "run",
        "scenarios/outlook-express",
        "scenarios/thunderbird",
        "--timeout",
        "1ms",
        "--report-json",
        s(&json),
        "--transcripts",
        s(&dir.join("t")),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid json");
    assert_eq!(report["timed_out"], true);
    let results = report["results"].as_array().expect("results");
    // Every scenario of the two directories, run or reported as not run.
    let in_dirs: usize = ["scenarios/outlook-express", "scenarios/thunderbird"]
        .iter()
        .map(|d| {
            std::fs::read_dir(d)
                .expect("scenario directory")
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "toml"))
                })
                .count()
        })
        .sum();
    assert_eq!(results.len(), in_dirs);
    let stopped: Vec<_> = results.iter().filter(|r| r["status"] == "error").collect();
    assert!(!stopped.is_empty(), "{results:?}");
    assert!(stopped.iter().all(|r| r["reason"]
        .as_str()
        .is_some_and(|w| w.contains("--timeout 1ms"))));
}
