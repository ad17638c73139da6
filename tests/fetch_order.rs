//! The bundled suite against a server that lists FETCH items in another order.
//!
//! RFC 3501 7.4.2: "The data are pairs of data item names and their values in
//! parentheses" — in no fixed order; 6.4.8's own example answers with
//! `* 23 FETCH (FLAGS (\Seen) UID 4827313)`, and Cyrus IMAP 3.6.1 sends
//! `* 3 FETCH (FLAGS (\Recent) UID 101609)`. A loopback proxy in front of the
//! embedded server reverses the items of every FETCH response (so UID, which
//! the reference server lists first, comes last); every bundled scenario must
//! still pass, with the same compressed clock as the plain suite.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use imapspec::runner::{self, RunOptions, Status, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reverses the items of `* N FETCH (...)`; other lines, and FETCH lines with
/// literals (which this small reader does not parse), are left alone.
fn reorder(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let body = text.strip_suffix("\r\n")?;
    let (head, rest) = body.split_once(" FETCH (")?;
    if !head.starts_with("* ") || rest.contains('{') {
        return None;
    }
    let inner = rest.strip_suffix(')')?;
    let items = split_items(inner)?;
    if items.len() < 4 {
        return None;
    }
    let mut pairs: Vec<String> = items.chunks(2).map(|c| c.join(" ")).collect();
    pairs.reverse();
    Some(format!("{head} FETCH ({})\r\n", pairs.join(" ")).into_bytes())
}

/// Top-level items of a FETCH list: atoms (with `[...]` sections), quoted
/// strings and parenthesised lists.
fn split_items(s: &str) -> Option<Vec<String>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        let (mut paren, mut bracket, mut quoted) = (0i32, 0i32, false);
        while i < b.len() {
            let c = b[i];
            if quoted {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    quoted = false;
                }
            } else {
                match c {
                    b'"' => quoted = true,
                    b'(' => paren += 1,
                    b')' => paren -= 1,
                    b'[' => bracket += 1,
                    b']' => bracket -= 1,
                    b' ' if paren == 0 && bracket == 0 => break,
                    _ => {}
                }
            }
            i += 1;
        }
        if paren != 0 || bracket != 0 || quoted {
            return None;
        }
        out.push(s[start..i].to_string());
    }
    (out.len() % 2 == 0).then_some(out)
}

#[test]
fn the_reorder_proxy_moves_uid_last() {
    assert_eq!(
        reorder(b"* 3 FETCH (UID 101609 FLAGS (\\Recent))\r\n").as_deref(),
        Some(&b"* 3 FETCH (FLAGS (\\Recent) UID 101609)\r\n"[..])
    );
    assert_eq!(
        reorder(b"* 1 FETCH (UID 4 BODY[HEADER.FIELDS (A B)] \"x y\")\r\n").as_deref(),
        Some(&b"* 1 FETCH (BODY[HEADER.FIELDS (A B)] \"x y\" UID 4)\r\n"[..])
    );
    assert!(reorder(b"* 1 FETCH (UID 4)\r\n").is_none());
    assert!(reorder(b"* 1 FETCH (UID 4 BODY[] {3}\r\n").is_none());
    assert!(reorder(b"* 1 EXISTS\r\n").is_none());
}

/// One proxied connection: client bytes pass through (and a STARTTLS or a
/// COMPRESS DEFLATE turns the connection into a byte pipe); server lines are
/// reordered until then.
async fn pipe(client: TcpStream, upstream: SocketAddr, rewrites: Arc<AtomicUsize>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let tls = Arc::new(AtomicBool::new(false));
    let tls_up = tls.clone();
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // After STARTTLS or COMPRESS DEFLATE (RFC 4978) the server's
            // bytes are no longer lines to reorder.
            let seen = |word: &[u8]| {
                buf[..n]
                    .windows(word.len())
                    .any(|w| w.eq_ignore_ascii_case(word))
            };
            if seen(b"STARTTLS") || seen(b"COMPRESS DEFLATE") {
                tls_up.store(true, Ordering::SeqCst);
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    });
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut out = Vec::with_capacity(pending.len());
        if tls.load(Ordering::SeqCst) {
            out.append(&mut pending);
        } else {
            // One pass over the buffer (a 100,000-line FETCH must not cost
            // quadratic time here, or the proxy starves the server it fronts).
            let mut at = 0;
            while let Some(end) = pending[at..].windows(2).position(|w| w == b"\r\n") {
                let line = &pending[at..at + end + 2];
                match reorder(line) {
                    Some(r) => {
                        rewrites.fetch_add(1, Ordering::Relaxed);
                        out.extend_from_slice(&r);
                    }
                    None => out.extend_from_slice(line),
                }
                at += end + 2;
            }
            pending.drain(..at);
        }
        if cw.write_all(&out).await.is_err() {
            break;
        }
    }
    let _ = cw.shutdown().await;
    up.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_scenario_passes_when_uid_comes_last() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenarios = imapspec::scenario::load_dir(&dir).expect("bundled scenarios parse");
    // A slower compressed clock than the plain suite's: the proxy adds a hop,
    // and this test is about item order, not about timing on a busy machine.
    let mut target = Target::embedded_with(
        &scenarios,
        &[],
        imapspec::runner::target::EmbeddedSetup {
            speedup: 200.0,
            personal_namespace: None,
        },
    )
    .await
    .expect("embedded server");
    let upstream = target.embedded_imap().expect("an IMAP listener");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front = listener.local_addr().expect("address");
    let rewrites = Arc::new(AtomicUsize::new(0));
    let counter = rewrites.clone();
    let accept = tokio::spawn(async move {
        // Bounded: the suite opens a few hundred connections at most.
        for _ in 0..10_000 {
            let Ok((c, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(pipe(c, upstream, counter.clone()));
        }
    });
    target.route_imap_through(front);
    let target = Arc::new(target);
    let transcripts = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fetch-order-{}", std::process::id()));
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
    accept.abort();
    if let Ok(t) = Arc::try_unwrap(target) {
        t.stop().await;
    }
    assert!(
        rewrites.load(Ordering::Relaxed) > 20,
        "the proxy reordered FETCH responses ({})",
        rewrites.load(Ordering::Relaxed)
    );
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .map(|r| {
            format!(
                "{} {}: {:?} {:?} {:?}",
                r.status.as_str(),
                r.id,
                r.reason,
                r.failures,
                r.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
            )
        })
        .collect();
    assert!(bad.is_empty(), "with UID listed last:\n{}", bad.join("\n"));
}
