//! `imapspec proxy` terminating TLS on both sides: a client's STARTTLS on a
//! plain upstream (pipelined plaintext discarded), implicit TLS towards an
//! `imap+starttls://` upstream, and STARTTLS answered by the proxy. In each the
//! tap reads the whole session (a fault's finding appears live), records
//! `tls` as a live session does, and `imapspec check` agrees.

mod proxy_support;
mod support;

use std::process::{Command, Stdio};

use imapspec::clock::Clock;
use proxy_support::Live;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads until `end` is in what was read (10 s, 1 MB at most).
async fn read_until<R: tokio::io::AsyncRead + Unpin>(r: &mut R, end: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains(end) && got.len() < 1 << 20 {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_starttls_is_terminated_and_pipelined_plaintext_dropped() {
    let h = support::start_server(&[], Clock::real(), None).await;
    let dir = support::temp_dir("proxy-starttls");
    let live = Live::default();
    let p = proxy_support::start(&format!("imap://{}", h.imap.expect("imap")), &dir, &live).await;
    let mut tcp = tokio::net::TcpStream::connect(p.addr.expect("plain"))
        .await
        .expect("connect");
    let greeting = read_until(&mut tcp, "\r\n").await;
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    // An injected command right behind STARTTLS, in the same segment.
    tcp.write_all(b"a STARTTLS\r\nb LOGIN alice alicepw\r\n")
        .await
        .expect("write");
    let ok = read_until(&mut tcp, "a OK").await;
    assert!(ok.contains("a OK"), "{ok}");
    assert!(!ok.contains("b "), "nothing for the injected command: {ok}");
    let connector = imapspec::session::connect::tls_connector(true).expect("connector");
    let name = imapspec::session::connect::server_name("localhost").expect("name");
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("TLS with the proxy");
    tls.write_all(b"c CAPABILITY\r\n").await.expect("write");
    let caps = read_until(&mut tls, "c OK").await;
    assert!(caps.contains("c OK"), "{caps}");
    assert!(
        !caps.contains("STARTTLS") && !caps.contains("b OK"),
        "the server is under TLS and never got the injected LOGIN: {caps}"
    );
    tls.write_all(b"d LOGIN alice alicepw\r\ne LOGOUT\r\n")
        .await
        .expect("write");
    let bye = read_until(&mut tls, "e OK").await;
    assert!(bye.contains("d OK") && bye.contains("e OK"), "{bye}");
    drop(tls);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let found = p.shutdown().await;
    h.shutdown().await;
    let t = proxy_support::transcripts(&dir);
    assert_eq!(t.len(), 1);
    let text = std::fs::read_to_string(&t[0]).expect("transcript");
    assert!(text.contains("] == tls"), "{text}");
    assert!(text.contains("discarded (RFC 3501 6.2.1)"), "{text}");
    // The proxy taps exactly what it forwards: the injected LOGIN never went on.
    assert!(!text.contains("b LOGIN"), "{text}");
    assert!(
        text.contains("c CAPABILITY") && text.contains("e LOGOUT"),
        "{text}"
    );
    assert!(!text.contains("alicepw"), "{text}");
    assert!(found.is_empty(), "a correct server: {}", live.text());
    proxy_support::assert_offline_identical(&dir, &found);
}

/// Python's imaplib reproduces `uid-reuse`: over TLS, in `mode`.
const CLIENT: &str = r#"
import imaplib, ssl, sys
ctx = ssl._create_unverified_context()
port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "imaps":
    c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
else:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.starttls(ssl_context=ctx)
c.login("alice", "alicepw")
for i in range(2):
    c.append("INBOX", None, None, b"From: a@x\r\nSubject: m%d\r\n\r\nbody\r\n" % i)
c.select("INBOX")
c.fetch("1:*", "(UID)")
c.store("2", "+FLAGS", "\\Deleted")
c.expunge()
c.append("INBOX", None, None, b"From: a@x\r\nSubject: again\r\n\r\nbody\r\n")
c.noop()
c.fetch("2", "(UID)")
c.logout()
print("DONE", flush=True)
"#;

async fn imaplib_through_tls(mode: &str) {
    if !Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: no python3");
        return;
    }
    let h = support::start_server(&["uid-reuse"], Clock::real(), None).await;
    let dir = support::temp_dir(&format!("proxy-{mode}"));
    let live = Live::default();
    // The proxy does STARTTLS with the server at connect.
    let upstream = format!("imap+starttls://localhost:{}", h.imap.expect("imap").port());
    let p = proxy_support::start(&upstream, &dir, &live).await;
    let port = match mode {
        "imaps" => p.tls_addr.expect("tls listener"),
        _ => p.addr.expect("plain listener"),
    }
    .port()
    .to_string();
    let mode_arg = mode.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", CLIENT, &port, &mode_arg])
            .stdin(Stdio::null())
            .output()
    })
    .await
    .expect("join")
    .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("DONE"),
        "client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(live.wait_for("uid.no-reuse").await, "{}", live.text());
    let found = p.shutdown().await;
    h.shutdown().await;
    let t = proxy_support::transcripts(&dir);
    assert_eq!(t.len(), 1);
    let text = std::fs::read_to_string(&t[0]).expect("transcript");
    assert!(text.contains("imapspec-proxy STARTTLS"), "{text}");
    assert!(text.contains("] == tls"), "{text}");
    if mode == "starttls" {
        assert!(text.contains("is answered by the proxy"), "{text}");
    }
    assert!(!text.contains("alicepw"), "{text}");
    assert!(found.iter().any(|f| f.check == "uid.no-reuse"));
    proxy_support::assert_offline_identical(&dir, &found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_client_to_a_starttls_upstream_is_read_whole() {
    imaplib_through_tls("imaps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_answered_by_the_proxy_when_the_upstream_is_tls_already() {
    imaplib_through_tls("starttls").await;
}

/// The command line: `--listen-tls` alone serves implicit TLS with a
/// generated certificate; a certificate file that is not there is a clear
/// error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_serves_implicit_tls_and_names_a_bad_certificate() {
    let bin = env!("CARGO_BIN_EXE_imapspec");
    let dir = support::temp_dir("proxy-cli");
    let missing = dir.join("missing.pem");
    let out = Command::new(bin)
        .args([
            "proxy",
            "--listen-tls",
            "127.0.0.1:0",
            "--upstream",
            "imap://127.0.0.1:9",
        ])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .expect("imapspec");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot read certificate") && err.contains("missing.pem"),
        "{err}"
    );

    let h = support::start_server(&[], Clock::real(), None).await;
    let upstream = format!("imap://{}", h.imap.expect("imap"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args([
                "proxy",
                "--listen-tls",
                "127.0.0.1:0",
                "--duration",
                "1s",
                "--upstream",
            ])
            .arg(&upstream)
            .output()
    })
    .await
    .expect("join")
    .expect("imapspec");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("proxy imaps://127.0.0.1:"), "{text}");
    assert!(
        !text.contains("proxy imap://"),
        "no plaintext listener: {text}"
    );
    h.shutdown().await;
}
