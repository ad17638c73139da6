//! The harness's live session under COMPRESS=DEFLATE (RFC 4978) against
//! scripted servers on loopback: after its own `COMPRESS DEFLATE` is answered
//! OK, a server's compression bomb (256 MiB of one line inflated from a
//! quarter of a megabyte) is cut at the line limit in bounded memory, and a
//! server whose stream does not inflate ends the session with a note saying
//! so, never a hang or a panic. The transcript keeps the inflated protocol.

mod support;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use imapspec::runner::recorder::{Recorder, SharedRecorder};
use imapspec::session::{Session, SessionError, SessionOptions};
use imapspec::wire::deflate::{Deflater, Inflater};
use imapspec::wire::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

fn recorder(name: &str) -> (SharedRecorder, std::path::PathBuf) {
    let dir = support::temp_dir(name);
    let path = dir.join("live.transcript");
    let out = BufWriter::new(File::create(&path).expect("file"));
    (
        Recorder::new(Box::new(out), &path.display().to_string()).expect("recorder"),
        path,
    )
}

fn quick() -> SessionOptions {
    SessionOptions {
        limits: Limits {
            read_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(30),
            ..Limits::default()
        },
        ..SessionOptions::default()
    }
}

/// A server that answers `COMPRESS DEFLATE` with OK and then sends
/// `after(tag of the next command)` on the wire as it is.
async fn compressing_server(after: fn(&str) -> Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let _ = sock.write_all(b"* OK hi\r\n").await;
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        // The plain COMPRESS command.
        while !got.ends_with(b"\r\n") {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let tag = String::from_utf8_lossy(&got)
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string();
        let _ = sock
            .write_all(format!("{tag} OK DEFLATE active\r\n").as_bytes())
            .await;
        // The next command, compressed.
        let mut inflater = Inflater::new();
        let mut plain = Vec::new();
        while !plain.ends_with(b"\r\n") {
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if inflater.inflate(&buf[..n], &mut plain, 1 << 16).is_err() {
                return;
            }
        }
        let tag = String::from_utf8_lossy(&plain)
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string();
        let _ = sock.write_all(&after(&tag)).await;
        let _ = sock.read(&mut buf).await;
    });
    format!("imap://{addr}")
}

fn bomb(tag: &str) -> Vec<u8> {
    let mut d = Deflater::new();
    let mut wire = Vec::new();
    let junk = vec![b'x'; 1 << 20];
    for _ in 0..256 {
        let _ = d.compress(&junk, &mut wire);
    }
    let _ = d.compress(format!("\r\n{tag} OK done\r\n").as_bytes(), &mut wire);
    wire
}

#[tokio::test]
async fn a_servers_compression_bomb_is_cut_at_the_line_limit() {
    let url = compressing_server(bomb).await.parse().expect("url");
    let (rec, path) = recorder("compress-bomb");
    let mut s = Session::connect(&url, "s", &rec, &quick())
        .await
        .expect("connect");
    let reply = s.command("COMPRESS DEFLATE").await.expect("compress");
    assert_eq!(reply.status.as_str(), "OK");
    assert!(s.is_compressed());
    let base = counting_alloc::reset_peak();
    let reply = s.command("NOOP").await.expect("completes after the bomb");
    let grew = counting_alloc::peak().saturating_sub(base);
    assert_eq!(reply.status.as_str(), "OK");
    assert!(reply
        .untagged
        .iter()
        .all(|e| e.raw.len() <= Limits::default().max_line + 2));
    assert!(
        grew < 64 << 20,
        "256 MiB inflated in bounded memory: the peak grew by {grew} bytes"
    );
    let findings = {
        let mut r = rec.lock().expect("lock");
        r.checker.finish();
        let _ = r.flush();
        r.checker.findings.list.clone()
    };
    assert!(
        findings.iter().any(|f| f.check == "response.bounded"),
        "{findings:#?}"
    );
    let transcript = std::fs::read_to_string(&path).expect("transcript");
    assert!(
        transcript.contains("note COMPRESS=DEFLATE on"),
        "{}",
        &transcript[..transcript.len().min(2000)]
    );
    assert!(transcript.contains("OK done"), "recorded inflated");
}

#[tokio::test]
async fn a_corrupt_server_stream_ends_the_session_with_a_note() {
    let url = compressing_server(|_| vec![0xff; 64])
        .await
        .parse()
        .expect("url");
    let (rec, path) = recorder("compress-corrupt");
    let mut s = Session::connect(&url, "s", &rec, &quick())
        .await
        .expect("connect");
    s.command("COMPRESS DEFLATE").await.expect("compress");
    let err = s.command("NOOP").await.expect_err("no answer can be read");
    assert!(matches!(err, SessionError::Closed(_)), "{err}");
    {
        let mut r = rec.lock().expect("lock");
        let _ = r.flush();
    }
    let transcript = std::fs::read_to_string(&path).expect("transcript");
    assert!(
        transcript
            .contains("the server's stream does not inflate (the compressed stream is corrupt"),
        "{transcript}"
    );
}
