//! Namespace-aware scenarios: on a server whose personal namespace is
//! `INBOX.` (NAMESPACE `(("INBOX." "."))`, as Courier and Cyrus without
//! altnamespace answer), where a top-level CREATE fails, the scenarios that
//! create mailboxes name them `$ns/NAME` and pass; the report names the
//! namespace, and the transcripts show the real names.

use std::sync::Arc;

use imapspec::runner::target::EmbeddedSetup;
use imapspec::runner::{self, RunOptions, RunReport, Status, Target};
use imapspec::scenario::Scenario;

const CREATING: &[&str] = &[
    "apple/ios-append-sent.toml",
    "apple/ios-namespace-list-status.toml",
    "thunderbird/five-connections.toml",
    "thunderbird/move-to-trash.toml",
    "rfc/select-required-responses.toml",
];

async fn run_on_courier_like(scenarios: Vec<Scenario>, name: &str) -> RunReport {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let target = Target::embedded_with(
        &scenarios,
        &[],
        EmbeddedSetup {
            speedup: 200.0,
            personal_namespace: Some("INBOX.".into()),
        },
    )
    .await
    .expect("embedded server");
    let target = Arc::new(target);
    let options = RunOptions {
        jobs: 2,
        max_wait: None,
        transcripts: std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("namespace-{name}-{}", std::process::id())),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_that_create_mailboxes_pass_under_an_inbox_dot_namespace() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios: Vec<Scenario> = CREATING
        .iter()
        .map(|f| imapspec::scenario::load(&dir.join(f)).expect("parses"))
        .collect();
    let report = run_on_courier_like(scenarios, "bundled").await;
    let ns = report.namespace.clone().expect("namespace learnt");
    assert_eq!(
        (
            ns.prefix.as_str(),
            ns.delimiter.as_str(),
            ns.source.as_str()
        ),
        ("INBOX.", ".", "NAMESPACE")
    );
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .map(|r| {
            format!(
                "{} {}: {:?} {:?}",
                r.status.as_str(),
                r.id,
                r.reason,
                r.failures
            )
        })
        .collect();
    assert!(bad.is_empty(), "under INBOX.:\n{}", bad.join("\n"));
    // The transcripts show the names the server knows.
    let trash = report
        .results
        .iter()
        .find(|r| r.id == "thunderbird/move-to-trash")
        .and_then(|r| r.transcript.clone())
        .expect("transcript");
    let text = std::fs::read_to_string(trash).expect("readable");
    assert!(text.contains("CREATE INBOX.Trash"), "{text}");
    let text = imapspec::report::run::terminal(&report);
    assert!(text.contains("prefix \"INBOX.\""), "{text}");
}

/// The server really refuses top-level names: a scenario that does not use
/// `$ns` fails there (so the test above shows the mapping doing the work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_level_create_fails_there() {
    let dir = std::env::temp_dir().join(format!("imapspec-ns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("top-level.toml");
    std::fs::write(
        &file,
        "id = \"t/top-level\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen c\nc: CREATE Sent\nc: logout\n'''\n",
    )
    .expect("write");
    let s = imapspec::scenario::load(&file).expect("parses");
    let report = run_on_courier_like(vec![s], "top-level").await;
    assert_eq!(
        report.results[0].status,
        Status::Failed,
        "{:?}",
        report.results[0]
    );
    assert!(
        report.results[0].failures[0]
            .message
            .contains("NO [CANNOT]"),
        "{:?}",
        report.results[0].failures
    );
}
