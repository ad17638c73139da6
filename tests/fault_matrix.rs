//! The fault matrix: for every fault switch in DESIGN.md, the bundled suite run
//! against the faulted embedded server fails with the check the table names;
//! with no fault, every bundled scenario passes. This is the proof that each
//! check is real.

use std::sync::Arc;

use imapspec::runner::{self, RunOptions, RunReport, Status, Target};
use imapspec::server::faults::FAULTS;

async fn suite(faults: &[&str]) -> RunReport {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = imapspec::scenario::load_dir(&dir).expect("bundled scenarios parse");
    assert!(
        scenarios.len() >= 30,
        "at least 30 bundled scenarios ({})",
        scenarios.len()
    );
    let faults: Vec<String> = faults.iter().map(|f| f.to_string()).collect();
    let target = Arc::new(
        Target::embedded(&scenarios, &faults)
            .await
            .expect("embedded server"),
    );
    let transcripts = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "matrix-{}-{}",
        faults.join("_").replace(['=', '/'], "-"),
        std::process::id()
    ));
    let options = RunOptions {
        jobs: 4,
        max_wait: None,
        transcripts,
        limits: imapspec::wire::Limits::default(),
        strict: false,
        timeout: None,
        namespace: None,
    };
    let report = runner::run(scenarios, target.clone(), options, Arc::new(|_, _, _| {})).await;
    if let Ok(t) = Arc::try_unwrap(target) {
        t.stop().await;
    }
    report
}

/// The argument each parameterised fault runs with in the matrix.
fn with_arg(name: &str) -> String {
    match name {
        "idle-drop-without-bye" => "idle-drop-without-bye=31m".into(),
        "autologout" => "autologout=10m".into(),
        "io-error-over" => "io-error-over=1000".into(),
        other => other.into(),
    }
}

async fn fault_fails_its_check(name: &str) {
    let (_, _, _, checks) = FAULTS
        .iter()
        .find(|f| f.0 == name)
        .expect("fault in the table");
    let expected: Vec<&str> = checks.split(" / ").map(str::trim).collect();
    let fault = with_arg(name);
    let report = suite(&[&fault]).await;
    // The fault trips its check when the check's finding is reported — in a
    // scenario written for it (which then fails), or in the server-wide part —
    // and the run fails (exit 1): a violation fails it as it is, a warning
    // (a SHOULD) under --strict.
    let failing: Vec<(String, Vec<&str>)> = report
        .results
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| (r.id.clone(), r.findings.iter().map(|f| f.check).collect()))
        .collect();
    let reported: Vec<&imapspec::finding::Finding> = report
        .results
        .iter()
        .flat_map(|r| r.findings.iter().chain(&r.other_findings))
        .filter(|f| expected.contains(&f.check))
        .collect();
    assert!(
        !reported.is_empty(),
        "--fault {fault}: no finding of {expected:?}; failing: {failing:?}"
    );
    let violation = reported
        .iter()
        .any(|f| f.severity == imapspec::finding::Severity::Violation);
    let strict = RunReport {
        strict: true,
        ..report.clone()
    };
    assert!(
        if violation {
            report.fails()
        } else {
            strict.fails()
        },
        "--fault {fault}: {expected:?} reported but the run would not fail"
    );
    // And a scenario written for the check (not an imaptest script, which
    // every check judges) says so in its own status.
    assert!(
        report.results.iter().any(|r| !r.id.starts_with("imaptest/")
            && r.findings.iter().any(|f| expected.contains(&f.check))
            && (r.status == Status::Failed || !violation)),
        "--fault {fault}: no scenario written for {expected:?} reports it; failing: {failing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_every_bundled_scenario_passes() {
    let report = suite(&[]).await;
    let bad: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .map(|r| {
            (
                r.id.clone(),
                r.status,
                r.reason.clone(),
                r.failures.clone(),
                r.findings.iter().map(|f| f.check).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_fault_in_the_table_has_a_matrix_test() {
    let this = include_str!("fault_matrix.rs");
    for (name, ..) in FAULTS {
        assert!(
            this.contains(&format!("=> \"{name}\"")),
            "no matrix test for {name}"
        );
    }
}

macro_rules! matrix {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                fault_fails_its_check($name).await;
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
