//! `ci/gate.sh`, the release gate users put in their pipelines, run for real
//! against the embedded reference server: its exit status (0 pass, 1 a check
//! failed, 2 bad usage, 3 unreachable), the report files it writes and the
//! paths it prints, and the options it passes through to `imapspec run`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

/// The scenario the `stale-noop-after-expunge` fault is caught by (seed 000).
const SEED000: &str = "scenarios/outlook/seed000-noop-75ms-after-expunge.toml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `bash ci/gate.sh ARGS` with `IMAPSPEC` naming the built binary; returns
/// (exit code, stdout, stderr).
fn gate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("bash")
        .arg(root().join("ci/gate.sh"))
        .args(args)
        .env("IMAPSPEC", env!("CARGO_BIN_EXE_imapspec"))
        .current_dir(root())
        .output()
        .expect("run bash ci/gate.sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The four reports exist, are the kind they say, and their paths are printed.
fn assert_reports(out_dir: &Path, stdout: &str) {
    for (kind, file) in [
        ("json", "report.json"),
        ("junit", "report.xml"),
        ("html", "report.html"),
        ("markdown", "report.md"),
    ] {
        let p = out_dir.join(file);
        let line = format!("report {kind} {}", p.display());
        assert!(
            stdout.lines().any(|l| l == line),
            "no '{line}' in:\n{stdout}"
        );
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let ok = match kind {
            "json" => serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "junit" => text.contains("<testsuites"),
            "html" => text.contains("<html"),
            _ => !text.trim().is_empty(),
        };
        assert!(ok, "{} is not a {kind} report:\n{text}", p.display());
    }
}

fn report(out_dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(out_dir.join("report.json")).expect("report.json");
    serde_json::from_slice(&bytes).expect("report.json is JSON")
}

#[test]
fn a_clean_embedded_run_exits_0_and_writes_every_report() {
    let dir = support::temp_dir("gate-pass");
    let out_dir = dir.join("out");
    // Every bundled scenario, as the README's first command runs them.
    let (code, stdout, stderr) = gate(&["--out", path(&out_dir), "--", "-q"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_reports(&out_dir, &stdout);
    let r = report(&out_dir);
    let results = r["results"].as_array().cloned().unwrap_or_default();
    assert!(results.len() >= 30, "{stdout}");
    assert!(results.iter().all(|x| x["status"] == "passed"), "{stdout}");
    assert!(stdout.contains("gate.sh: passed"), "{stdout}");
}

#[test]
fn a_fault_the_suite_catches_exits_1_with_the_reports_written() {
    let dir = support::temp_dir("gate-fail");
    let out_dir = dir.join("out");
    let (code, stdout, stderr) = gate(&[
        "--out",
        path(&out_dir),
        "--",
        "-q",
        "--fault",
        "stale-noop-after-expunge",
        SEED000,
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_reports(&out_dir, &stdout);
    let r = report(&out_dir);
    assert_eq!(r["results"][0]["status"], "failed", "{stdout}");
    let junit = std::fs::read_to_string(out_dir.join("report.xml")).expect("junit");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(stdout.contains("gate.sh: FAILED"), "{stdout}");
}

#[test]
fn bad_usage_exits_2_and_says_what_was_wrong() {
    let dir = support::temp_dir("gate-usage");
    let cases: [(&[&str], &str); 6] = [
        (&["--bogus"], "unknown option '--bogus'"),
        (&["--server"], "--server needs a value"),
        (&["--partition", "two/4"], "want K/N"),
        (&["--partition", "5/4"], "1 <= K <= N"),
        (
            &["--baseline", "/nonexistent/baseline.toml"],
            "no such readable file",
        ),
        // imapspec's own usage error (an unknown scenario path) keeps its 2.
        (
            &["--out", path(&dir), "--", "/nonexistent/scenario.toml"],
            "no such scenario",
        ),
    ];
    for (args, wording) in cases {
        let (code, stdout, stderr) = gate(args);
        assert_eq!(code, 2, "{args:?}\n{stdout}\n{stderr}");
        assert!(
            stderr.contains(wording) || stdout.contains(wording),
            "{args:?}: no '{wording}' in\n{stdout}\n{stderr}"
        );
    }
    // imapspec not found.
    let out = Command::new("bash")
        .arg(root().join("ci/gate.sh"))
        .env("IMAPSPEC", dir.join("no-such-imapspec"))
        .output()
        .expect("run gate.sh");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an executable file"));
    // --help is not an error, and documents the exit status.
    let (code, stdout, _) = gate(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("3  the server could not be reached"),
        "{stdout}"
    );
}

#[test]
fn an_unreachable_server_exits_3() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = support::temp_dir("gate-unreachable");
    let url = format!("imap://127.0.0.1:{port}");
    let (code, stdout, stderr) = gate(&[
        "--server",
        &url,
        "--user",
        "alice",
        "--password",
        "alicepw",
        "--out",
        path(&dir),
        "--",
        "-q",
        SEED000,
    ]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("could not be reached"), "{stdout}");
}

#[test]
fn a_baseline_keeps_a_known_deviation_from_failing_and_fails_once_it_is_fixed() {
    let dir = support::temp_dir("gate-baseline");
    let baseline = dir.join("baseline.toml");
    std::fs::write(
        &baseline,
        r#"# Known deviations of the server under test (here: the embedded server
# with the seed 000 fault switched on).
[[deviation]]
scenario = "outlook/seed000-noop-75ms-after-expunge"
server = "faulty"
reason = "seed 000: NOOP after an expunge reports the old EXISTS"

[[deviation]]
check = "uid.strictly-ascending"
server = "faulty"
reason = "the phantom message of seed 000 has an old UID"
"#,
    )
    .expect("write baseline");
    let faulty = dir.join("faulty");
    let (code, stdout, stderr) = gate(&[
        "--baseline",
        path(&baseline),
        "--server-name",
        "faulty",
        "--out",
        path(&faulty),
        "--",
        "-q",
        "--fault",
        "stale-noop-after-expunge",
        SEED000,
    ]);
    assert_eq!(code, 0, "known deviations do not fail\n{stdout}\n{stderr}");
    assert_reports(&faulty, &stdout);
    // Still shown.
    let md = std::fs::read_to_string(faulty.join("report.md")).expect("markdown");
    assert!(md.contains("seed000-noop-75ms-after-expunge"), "{md}");

    // Fixed: the listed deviations no longer occur, which fails until removed.
    let fixed = dir.join("fixed");
    let (code, stdout, stderr) = gate(&[
        "--baseline",
        path(&baseline),
        "--server-name",
        "faulty",
        "--out",
        path(&fixed),
        "--",
        "-q",
        SEED000,
    ]);
    assert_eq!(
        code, 1,
        "a baseline entry that no longer occurs fails\n{stdout}\n{stderr}"
    );
    assert_reports(&fixed, &stdout);
}

/// The gate against Dovecot, as the README shows it: a clean run exits 0;
/// with a baseline whose deviation Dovecot does not have, the stale entry
/// fails (1) until it is removed; an entry for another server is not applied.
#[test]
fn the_gate_against_dovecot_with_and_without_a_baseline() {
    let Some(d) = support::dovecot() else { return };
    let dir = support::temp_dir("gate-dovecot");
    let server = |out: &Path, baseline: Option<&Path>| {
        let mut args = vec![
            "--server".to_string(),
            d.imap.clone(),
            "--user".into(),
            "alice".into(),
            "--password".into(),
            "alicepw".into(),
            "--user".into(),
            "bob".into(),
            "--password".into(),
            "bobpw".into(),
            "--server-name".into(),
            "dovecot".into(),
            "--out".into(),
            path(out).to_string(),
        ];
        if let Some(b) = baseline {
            args.extend(["--baseline".into(), path(b).to_string()]);
        }
        args.extend(
            [
                "--",
                "-q",
                "--insecure",
                "--max-wait",
                "700ms",
                "scenarios/rfc",
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        gate(&refs)
    };
    let clean = dir.join("clean");
    let (code, stdout, stderr) = server(&clean, None);
    assert_eq!(code, 0, "Dovecot passes the gate\n{stdout}\n{stderr}");
    assert_reports(&clean, &stdout);

    let baseline = dir.join("baseline.toml");
    std::fs::write(
        &baseline,
        "[[deviation]]\ncheck = \"uid.range-star\"\nserver = \"dovecot\"\nreason = \"believed: UID FETCH n:* answered with nothing (it is not)\"\n\n[[deviation]]\ncheck = \"noop.always-ok\"\nserver = \"courier\"\nreason = \"another server's entry\"\n",
    )
    .expect("baseline");
    let stale = dir.join("stale");
    let (code, stdout, stderr) = server(&stale, Some(&baseline));
    assert_eq!(
        code, 1,
        "a deviation Dovecot does not have fails\n{stdout}\n{stderr}"
    );
    // One stale entry: Dovecot's; the Courier one is not judged here.
    assert!(stdout.contains("1 fixed entry to remove"), "{stdout}");
    let md = std::fs::read_to_string(stale.join("report.md")).expect("markdown");
    assert!(
        md.contains("uid.range-star") && md.contains("fixed"),
        "{md}"
    );
    assert_reports(&stale, &stdout);

    // Only the other server's entry left: not applied, so nothing is stale.
    std::fs::write(
        &baseline,
        "[[deviation]]\ncheck = \"noop.always-ok\"\nserver = \"courier\"\nreason = \"another server's entry\"\n",
    )
    .expect("baseline");
    let other = dir.join("other");
    let (code, stdout, stderr) = server(&other, Some(&baseline));
    assert_eq!(
        code, 0,
        "another server's entry is not judged here\n{stdout}\n{stderr}"
    );
}

#[test]
fn a_partition_is_passed_through() {
    let dir = support::temp_dir("gate-partition");
    let mut ids = Vec::new();
    for k in 1..=2 {
        let out_dir = dir.join(format!("p{k}"));
        let part = format!("{k}/2");
        let (code, stdout, stderr) =
            gate(&["--partition", &part, "--out", path(&out_dir), "--", "-q"]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let r = report(&out_dir);
        let share: Vec<String> = r["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect();
        assert!(!share.is_empty(), "partition {part} ran nothing");
        ids.extend(share);
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "the two shares overlap");
    assert!(n >= 30, "the two shares cover the bundled scenarios ({n})");
}

/// The value after `key` on the first line that has it (`key: value` or
/// `value: "4"` after a `name: KEY` line), quotes dropped.
fn yaml_value(text: &str, key: &str) -> Option<String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim().trim_start_matches("- ");
        if let Some(v) = t.strip_prefix(&format!("{key}:")) {
            return Some(v.trim().trim_matches('"').to_string());
        }
        if t == format!("name: {key}") {
            let v = lines.next()?.trim().strip_prefix("value:")?;
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

#[test]
fn the_sharding_recipes_agree_on_the_number_of_shards() {
    // Schemas are checked by ci/validate.sh (in .ci/run); this checks what no
    // schema can: the same N everywhere, and share K+1 for completion index K.
    let read = |p: &str| std::fs::read_to_string(root().join(p)).expect(p);
    let shards = read("ci/k8s/imapspec-shards.yaml");
    let merge = read("ci/k8s/imapspec-merge.yaml");
    let n = yaml_value(&shards, "IMAPSPEC_SHARDS").expect("IMAPSPEC_SHARDS in the shards Job");
    assert_eq!(
        yaml_value(&shards, "completionMode").as_deref(),
        Some("Indexed")
    );
    assert_eq!(yaml_value(&shards, "completions"), Some(n.clone()));
    assert_eq!(yaml_value(&shards, "parallelism"), Some(n.clone()));
    assert_eq!(yaml_value(&merge, "IMAPSPEC_SHARDS"), Some(n.clone()));
    assert!(shards.contains("k=$((JOB_COMPLETION_INDEX + 1))"));
    assert!(shards.contains("--partition \"$k/$IMAPSPEC_SHARDS\""));
    assert!(merge.contains("imapspec report merge"));

    let gh = read("ci/github/sharded-workflow.yml");
    let gh_n = yaml_value(&gh, "SHARDS").expect("SHARDS in the sharded workflow");
    let ks = yaml_value(&gh, "k").expect("matrix k");
    let ks: Vec<&str> = ks
        .split('#')
        .next()
        .unwrap_or("")
        .trim_matches(|c| c == '[' || c == ']' || c == ' ')
        .split(',')
        .map(str::trim)
        .collect();
    let want: Vec<String> = (1..=gh_n.parse::<usize>().expect("SHARDS is a number"))
        .map(|k| k.to_string())
        .collect();
    assert_eq!(ks, want, "matrix k is 1..SHARDS");
    assert!(gh.contains("partition: ${{ matrix.k }}/${{ env.SHARDS }}"));
}
