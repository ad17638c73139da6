//! The fault matrix on the foreign path: every fault switch, set on the
//! reference server run as a separate process (`imapspec serve --fault F`),
//! is caught by `imapspec run --server URL` — the harness reaching it only over
//! the wire, as it reaches any server in the field, with no embedded shortcut.
//! Only the scenarios written for the fault's check (their `targets`) run, so
//! the real-clock waits stay short.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use imapspec::scenario::{Action, Scenario, Step};
use imapspec::server::faults::FAULTS;

mod support;

/// The cap on every wait of a foreign run (`--max-wait`): above the faults'
/// short real-time durations below, so the fault shows before the cap.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// A scenario whose real-time waits add up to more than this is left out when
/// another one written for the same check remains (only to keep time low).
const LONG_SCENARIO: Duration = Duration::from_secs(30);

/// The argument each parameterised fault runs with: a real clock, so short.
fn with_arg(name: &str) -> String {
    match name {
        "idle-drop-without-bye" => "idle-drop-without-bye=2s".into(),
        "autologout" => "autologout=2s".into(),
        // The scenario written for it delivers 1,500 messages; any mailbox
        // over 100 then answers the I/O error.
        "io-error-over" => "io-error-over=100".into(),
        other => other.into(),
    }
}

/// The real time a scenario's waits take under `MAX_WAIT`.
fn waits(steps: &[Step]) -> Duration {
    steps
        .iter()
        .map(|s| match &s.action {
            Action::Wait(d) | Action::Stay { time: d, .. } => (*d).min(MAX_WAIT),
            Action::WaitFor { within, .. } | Action::ExpectClose { within, .. } => {
                (*within).min(MAX_WAIT)
            }
            Action::Repeat { count, body } => waits(body) * *count,
            _ => Duration::ZERO,
        })
        .sum()
}

/// The bundled scenarios written for one of `checks`, the long ones left out
/// where a shorter one remains.
fn scenarios_for(checks: &[&str]) -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let all = imapspec::scenario::load_dir(&dir).expect("bundled scenarios parse");
    let written: Vec<Scenario> = all
        .into_iter()
        .filter(|s| s.targets.iter().any(|t| checks.contains(&t.as_str())))
        .collect();
    let short: Vec<Scenario> = written
        .iter()
        .filter(|s| waits(&s.steps) <= LONG_SCENARIO)
        .cloned()
        .collect();
    if short.is_empty() {
        written
    } else {
        short
    }
}

/// The reference server as its own process on loopback ports.
struct Served {
    child: Child,
    imap: String,
    smtp: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, fault: &str, quota: bool) -> Served {
    let ready = dir.join("ready");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapspec"));
    cmd.args([
        "serve",
        "--imap",
        "127.0.0.1:0",
        "--smtp",
        "127.0.0.1:0",
        "--user",
        "u:pw",
        "--ready-file",
    ])
    .arg(&ready);
    if !fault.is_empty() {
        cmd.args(["--fault", fault]);
    }
    if quota {
        cmd.args(["--quota", "u=2000"]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("imapspec serve");
    let mut served = Served {
        child,
        imap: String::new(),
        smtp: String::new(),
    };
    // Bounded: 400 polls of 25 ms.
    for _ in 0..400 {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string))
            };
            if let (Some(imap), Some(smtp)) = (get("imap"), get("smtp")) {
                served.imap = imap;
                served.smtp = smtp;
                return served;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("imapspec serve --fault {fault} never became ready");
}

/// `imapspec run --server ...` of `scenarios` against a fresh faulted server:
/// the exit code and the JSON report.
fn run_foreign(
    fault: &str,
    quota: bool,
    scenarios: &[Scenario],
    strict: bool,
) -> (i32, serde_json::Value) {
    let dir = support::temp_dir(&format!(
        "foreign-{}{}",
        if fault.is_empty() { "none" } else { fault }.replace(['=', '/'], "-"),
        if strict { "-strict" } else { "" }
    ));
    let served = serve(&dir, fault, quota);
    let report = dir.join("report.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapspec"));
    cmd.arg("run");
    for s in scenarios {
        cmd.arg(&s.file);
    }
    cmd.args([
        "--server",
        &format!("imap://{}", served.imap),
        "--smtp",
        &format!("smtp://{}", served.smtp),
        "--user",
        "u",
        "--password",
        "pw",
        // The reference server's certificate is self-signed.
        "--insecure",
        "--max-wait",
        &format!("{}s", MAX_WAIT.as_secs()),
        // A bound on the whole run, far above what the waits need.
        "--timeout",
        "10m",
        "-q",
        "--report-json",
    ])
    .arg(&report)
    .arg("--transcripts")
    .arg(dir.join("transcripts"));
    if strict {
        cmd.arg("--strict");
    }
    let out = cmd.output().expect("imapspec run");
    drop(served);
    let code = out.status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "--fault {fault}: no JSON report ({e}); stdout: {}; stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let json = serde_json::from_str(&text).expect("the JSON report parses");
    (code, json)
}

/// Every finding of the report: the scenarios' own and the server-wide ones.
fn findings(report: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all: Vec<&serde_json::Value> = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .collect();
    all.extend(report["server_findings"].as_array().into_iter().flatten());
    all
}

fn fault_fails_its_check_on_the_foreign_path(name: &str) {
    let (_, _, _, checks) = FAULTS
        .iter()
        .find(|f| f.0 == name)
        .expect("fault in the table");
    let expected: Vec<&str> = checks.split(" / ").map(str::trim).collect();
    let scenarios = scenarios_for(&expected);
    assert!(
        !scenarios.is_empty(),
        "no bundled scenario targets {expected:?}"
    );
    let fault = with_arg(name);
    // The quota scenarios run on a foreign server only where GETQUOTAROOT
    // shows a limit they will exceed: the operator's quota.
    let quota = name == "overquota-permanent";
    let (code, report) = run_foreign(&fault, quota, &scenarios, false);
    let all = findings(&report);
    let reported: Vec<&&serde_json::Value> = all
        .iter()
        .filter(|f| f["check"].as_str().is_some_and(|c| expected.contains(&c)))
        .collect();
    let statuses: Vec<(String, String)> = report["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| (r["id"].to_string(), r["status"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !reported.is_empty(),
        "--fault {fault} (foreign): no finding of {expected:?}; scenarios: {statuses:?}"
    );
    // The run fails (exit 1): a violation as it is, a warning (a SHOULD)
    // under --strict.
    let violation = reported
        .iter()
        .any(|f| f["severity"].as_str() == Some("violation"));
    if violation {
        assert_eq!(
            code, 1,
            "--fault {fault} (foreign): {expected:?} reported as a violation but exit {code}"
        );
    } else {
        let (strict_code, strict_report) = run_foreign(&fault, quota, &scenarios, true);
        assert!(
            findings(&strict_report)
                .iter()
                .any(|f| f["check"].as_str().is_some_and(|c| expected.contains(&c))),
            "--fault {fault} (foreign, --strict): {expected:?} no longer reported"
        );
        assert_eq!(
            strict_code, 1,
            "--fault {fault} (foreign): {expected:?} reported as a warning but --strict exits {strict_code}"
        );
    }
    // The control: the same scenarios, run the same way against the same
    // server without the fault, report none of these checks and fail none,
    // so what the matrix sees is the fault.
    let (_, control) = run_foreign("", quota, &scenarios, true);
    let quiet: Vec<String> = findings(&control)
        .iter()
        .filter(|f| f["check"].as_str().is_some_and(|c| expected.contains(&c)))
        .map(|f| f.to_string())
        .collect();
    assert!(quiet.is_empty(), "without a fault (foreign): {quiet:#?}");
    let failed: Vec<String> = control["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["status"].as_str() != Some("passed") && r["status"].as_str() != Some("inconclusive")
        })
        .map(|r| r.to_string())
        .collect();
    assert!(failed.is_empty(), "without a fault (foreign): {failed:#?}");
}

#[test]
fn every_fault_in_the_table_has_a_foreign_matrix_test() {
    let this = include_str!("fault_matrix_foreign.rs");
    for (name, ..) in FAULTS {
        assert!(
            this.contains(&format!("=> \"{name}\"")),
            "no foreign matrix test for {name}"
        );
    }
}

macro_rules! matrix {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                fault_fails_its_check_on_the_foreign_path($name);
            }
        )*
    };
}

matrix! {
    stale_noop_after_expunge => "stale-noop-after-expunge",
    idle_drop_without_bye => "idle-drop-without-bye",
    autologout => "autologout",
    expunge_during_fetch => "expunge-during-fetch",
    uid_reuse => "uid-reuse",
    flags_without_backslash => "flags-without-backslash",
    partial_append_on_disconnect => "partial-append-on-disconnect",
    io_error_over => "io-error-over",
    overquota_permanent => "overquota-permanent",
    modseq_reset => "modseq-reset",
    vanished_without_qresync => "vanished-without-qresync",
    unchangedsince_ignored => "unchangedsince-ignored",
    done_drops_pipelined => "done-drops-pipelined",
}
