//! `imapspec load` in brief: concurrent clients with every check on find nothing
//! wrong with the reference server or with Dovecot (the concurrency false
//! positives it once found stay fixed), and the run is bounded in time.

mod support;

use std::time::Duration;

use imapspec::clock::Clock;
use imapspec::load::{self, LoadOptions};

async fn load_clean(url: &str, user: &str, password: &str) {
    let options = LoadOptions {
        url: url.parse().expect("url"),
        accounts: vec![(user.into(), password.into())],
        clients: 6,
        duration: Duration::from_secs(2),
        insecure: true,
    };
    let recorder = load::quiet_recorder().expect("recorder");
    let started = std::time::Instant::now();
    let summary = load::run(&options, recorder.clone()).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded in time"
    );
    assert!(
        summary.client_errors.is_empty(),
        "{:?}",
        summary.client_errors
    );
    assert!(summary.commands > 100, "{summary:?}");
    let findings = recorder.lock().expect("lock").checker.findings.list.clone();
    assert!(findings.is_empty(), "{url}: {findings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_find_nothing_wrong_with_the_reference_server() {
    let h = support::start_server(&[], Clock::real(), None).await;
    load_clean(
        &format!("imap://{}", h.imap.expect("imap")),
        "alice",
        "alicepw",
    )
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_find_nothing_wrong_with_dovecot() {
    support::install_tls_provider();
    let Some(d) = support::dovecot() else { return };
    load_clean(&d.imap, "carol", "carolpw").await;
}
