//! Helpers for the proxy tests: the proxy's live output kept for reading,
//! a proxy in front of an upstream, and live/offline finding comparison.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imapspec::finding::Finding;
use imapspec::proxy::{self, ProxyHandle, ProxyOptions};
use imapspec::wire::Limits;

/// What the proxy prints, kept for the test to read while it runs, with
/// when each write came.
#[derive(Clone, Default)]
pub struct Live(Arc<Mutex<Vec<u8>>>, Arc<Mutex<Vec<(usize, Instant)>>>);

impl Write for Live {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut text = self.0.lock().unwrap_or_else(|p| p.into_inner());
        text.extend_from_slice(b);
        self.1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((text.len(), Instant::now()));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Live {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// When `what` was printed, if it was.
    pub fn printed_at(&self, what: &str) -> Option<Instant> {
        let at = self.text().find(what)?;
        let stamps = self.1.lock().unwrap_or_else(|p| p.into_inner());
        stamps.iter().find(|(end, _)| *end > at).map(|(_, t)| *t)
    }

    /// Waits (10 s at most) until the output contains `what`.
    pub async fn wait_for(&self, what: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.text().contains(what) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.text().contains(what)
    }
}

/// A PEM certificate and key for localhost, written to `dir`.
pub fn cert_files(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("cert file");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key file");
    (cert, key)
}

/// A proxy to `upstream` (plain and implicit TLS listeners), transcripts in
/// `dir/transcripts`.
pub async fn start(upstream: &str, dir: &Path, live: &Live) -> ProxyHandle {
    let mut options = ProxyOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        upstream.parse().expect("url"),
    );
    options.listen_tls = "127.0.0.1:0".parse().ok();
    options.tls_cert = Some(cert_files(dir));
    options.insecure = true;
    options.transcripts = Some(dir.join("transcripts"));
    options.findings = Some(dir.join("findings.jsonl"));
    proxy::start(options, Box::new(live.clone()))
        .await
        .expect("proxy starts")
}

/// Every transcript the proxy wrote.
pub fn transcripts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("transcripts"))
        .expect("transcripts")
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

type Key = (&'static str, String, u64);

fn keys(f: &[Finding]) -> Vec<Key> {
    let mut v: Vec<Key> = f
        .iter()
        .map(|f| (f.check, f.message.clone(), f.origin.line))
        .collect();
    v.sort();
    v
}

/// `imapspec check` on each transcript gives exactly the live findings.
pub fn assert_offline_identical(dir: &Path, live: &[Finding]) {
    let mut offline = Vec::new();
    for t in transcripts(dir) {
        let r = imapspec::cli::check::check_log(&t, &Limits::default(), 1000);
        assert!(r.error.is_none(), "{}: {:?}", t.display(), r.error);
        offline.extend(r.findings);
    }
    assert_eq!(
        keys(live),
        keys(&offline),
        "live and offline findings are identical"
    );
}
