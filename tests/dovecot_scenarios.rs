//! The bundled scenarios against Dovecot, as a CI pipeline would run them: no
//! false finding. Waits are capped (`--max-wait 700ms`, just above Dovecot's
//! half-second IDLE notification delay), so the 30-minute scenarios are
//! inconclusive rather than passed; quota scenarios are skipped (no QUOTA
//! capability without Dovecot's quota plugin).

mod support;

use std::process::Command;

#[test]
fn bundled_scenarios_find_nothing_wrong_with_dovecot() {
    let Some(d) = support::dovecot() else { return };
    let dir = support::temp_dir("dovecot-run");
    let json = dir.join("dovecot.json");
    let out = Command::new(env!("CARGO_BIN_EXE_imapspec"))
        .args([
            "run",
            "--server",
            &d.imap,
            "--imaps",
            &d.imaps,
            "--insecure",
            "--server-name",
            "dovecot",
        ])
        .args([
            "--user",
            "alice",
            "--password",
            "alicepw",
            "--user",
            "bob",
            "--password",
            "bobpw",
        ])
        .args(["--max-wait", "700ms", "--report-json"])
        .arg(&json)
        .arg("--transcripts")
        .arg(dir.join("transcripts"))
        .output()
        .expect("imapspec run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    support::keep_for_matrix(&json, "dovecot");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
    let results = report["results"].as_array().cloned().unwrap_or_default();
    assert!(results.len() >= 30, "{stdout}");
    let bad: Vec<String> = results
        .iter()
        .filter(|r| {
            !matches!(
                r["status"].as_str(),
                Some("passed" | "skipped" | "inconclusive")
            )
        })
        .map(|r| {
            format!(
                "{} {}: {} {}",
                r["id"], r["status"], r["findings"], r["failures"]
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "Dovecot runs clean; a real deviation would need explaining:\n{}\n{stdout}",
        bad.join("\n")
    );
    // No finding anywhere: not in a scenario, not server-wide (schema 2).
    let own: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r["findings"].as_array().is_some_and(|f| !f.is_empty()))
        .collect();
    assert!(own.is_empty(), "findings on Dovecot: {own:?}");
    assert_eq!(
        report["server_findings"].as_array().map(Vec::len),
        Some(0),
        "server-wide findings on Dovecot: {}",
        report["server_findings"]
    );
    let passed = results.iter().filter(|r| r["status"] == "passed").count();
    assert!(
        passed >= 28,
        "most scenarios pass outright ({passed})\n{stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}
