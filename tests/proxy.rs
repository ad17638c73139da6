//! `imapspec proxy` between a real client (Python's imaplib, curl) and the
//! reference server with a fault on: the fault's check is printed live, while
//! the client's session is still open; the bytes pass unchanged; the
//! transcript the proxy wrote gives the same findings to `imapspec check`; and
//! the password never reaches the transcript.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imapspec::clock::Clock;
use imapspec::proxy::{self, ProxyOptions};
use imapspec::wire::Limits;

/// What the proxy prints, kept for the test to read while it runs.
#[derive(Clone, Default)]
struct Live(Arc<Mutex<Vec<u8>>>);

impl Write for Live {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Live {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// A client that reproduces what `uid-reuse` breaks: it sees UID 2, the
/// message is expunged, a new one is appended and gets UID 2 again. It stops
/// after the FETCH that shows the reused UID and waits for a line on stdin,
/// so the test can look at the proxy's output while the session is open.
const CLIENT: &str = r#"
import imaplib, sys
c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login("alice", "alicepw")
for i in range(2):
    c.append("INBOX", None, None, b"From: a@x\r\nSubject: m%d\r\n\r\nbody\r\n" % i)
c.select("INBOX")
c.fetch("1:*", "(UID)")
c.store("2", "+FLAGS", "\\Deleted")
c.expunge()
c.append("INBOX", None, None, b"From: a@x\r\nSubject: again\r\n\r\nbody\r\n")
c.noop()
typ, data = c.fetch("2", "(UID)")
print("TRIGGERED", data, flush=True)
sys.stdin.readline()
c.logout()
print("DONE", flush=True)
"#;

fn python() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulted_server_is_caught_live_through_the_proxy() {
    if !python() {
        eprintln!("skipped: no python3");
        return;
    }
    let h = support::start_server(&["uid-reuse"], Clock::real(), None).await;
    let dir = support::temp_dir("proxy-live");
    let live = Live::default();
    let options = ProxyOptions {
        transcripts: Some(dir.join("transcripts")),
        findings: Some(dir.join("findings.jsonl")),
        max_connections: 10,
        ..ProxyOptions::new(
            "127.0.0.1:0".parse().expect("addr"),
            format!("imap://{}", h.imap.expect("imap"))
                .parse()
                .expect("url"),
        )
    };
    let p = proxy::start(options, Box::new(live.clone()))
        .await
        .expect("proxy starts");
    let port = p.addr.expect("plain listener").port().to_string();
    let mut client = Command::new("python3")
        .args(["-c", CLIENT, &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let stdout = client.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::task::spawn_blocking(move || {
        let l = lines.next();
        (l, lines)
    })
    .await
    .expect("join");
    let (line, mut lines) = first;
    let line = line.and_then(Result::ok).unwrap_or_default();
    assert!(line.starts_with("TRIGGERED"), "client: {line}");

    // The session is still open (the client waits on stdin): the finding must
    // be out already, with the client impact.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !live.text().contains("uid.no-reuse") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shown = live.text();
    assert!(shown.contains("uid.no-reuse"), "live output: {shown}");
    assert!(shown.contains("client impact: Outlook"), "{shown}");

    if let Some(mut stdin) = client.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let rest = tokio::task::spawn_blocking(move || lines.next())
        .await
        .expect("join")
        .and_then(Result::ok)
        .unwrap_or_default();
    assert_eq!(rest, "DONE", "the client ends its session normally");
    let _ = client.wait();
    let found = p.shutdown().await;
    h.shutdown().await;

    // The JSON lines are the findings, one per line, as they happened.
    let jsonl = std::fs::read_to_string(dir.join("findings.jsonl")).expect("findings file");
    assert_eq!(jsonl.lines().count(), found.len());
    assert!(jsonl.contains("\"uid.no-reuse\""));

    // The transcript: no password, and `imapspec check` finds the same.
    let transcripts: Vec<_> = std::fs::read_dir(dir.join("transcripts"))
        .expect("transcripts")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(transcripts.len(), 1, "{transcripts:?}");
    let text = std::fs::read_to_string(&transcripts[0]).expect("transcript");
    assert!(!text.contains("alicepw"), "the password is masked");
    assert!(text.contains("LOGIN \"alice\" \"***\""), "{text}");
    let offline = imapspec::cli::check::check_log(&transcripts[0], &Limits::default(), 1000);
    assert!(offline.error.is_none(), "{:?}", offline.error);
    let key = |f: &imapspec::finding::Finding| (f.check, f.message.clone(), f.origin.line);
    let mut a: Vec<_> = found.iter().map(key).collect();
    let mut b: Vec<_> = offline.findings.iter().map(key).collect();
    a.sort();
    b.sort();
    assert!(!a.is_empty());
    assert_eq!(a, b, "live and offline findings are identical");
}

/// Bytes pass unchanged both ways: curl's IMAP client fetches a message
/// through the proxy and gets exactly what the server has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_through_the_proxy_gets_the_message_unchanged() {
    let have_curl = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("imap"));
    if !have_curl {
        eprintln!("skipped: no curl with IMAP");
        return;
    }
    let h = support::start_server(&[], Clock::real(), None).await;
    let body =
        b"From: a@x\r\nSubject: exact bytes\r\n\r\nline one\r\n\tline two \xc3\xa9\r\n".to_vec();
    h.store
        .append(
            "alice",
            "INBOX",
            Arc::from(body.clone()),
            Default::default(),
            (0, 0),
            false,
        )
        .expect("append");
    let live = Live::default();
    let options = ProxyOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        format!("imap://{}", h.imap.expect("imap"))
            .parse()
            .expect("url"),
    );
    let p = proxy::start(options, Box::new(live.clone()))
        .await
        .expect("proxy");
    let url = format!(
        "imap://127.0.0.1:{}/INBOX;UID=1",
        p.addr.expect("plain listener").port()
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-s", "--max-time", "20", "-u", "alice:alicepw", &url])
            .output()
    })
    .await
    .expect("join")
    .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, body, "the message, byte for byte");
    let found = p.shutdown().await;
    h.shutdown().await;
    assert!(
        found.is_empty(),
        "a correct server, no finding: {}",
        live.text()
    );
}

/// A client that turns on COMPRESS=DEFLATE through the proxy (the harness's
/// own live session, which compresses after its COMPRESS's OK) against the
/// `uid-reuse` fault: the tap inflates both directions, so the reused UID
/// after COMPRESS is still caught live, the transcript holds the inflated
/// protocol after a note, and `imapspec check` on it finds the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_deflate_is_recorded_inflated_and_checked() {
    use imapspec::runner::recorder::Recorder;
    use imapspec::session::{Session, SessionOptions};

    let h = support::start_server(&["uid-reuse"], Clock::real(), None).await;
    let dir = support::temp_dir("proxy-compress");
    let live = Live::default();
    let options = ProxyOptions {
        transcripts: Some(dir.join("transcripts")),
        max_connections: 10,
        ..ProxyOptions::new(
            "127.0.0.1:0".parse().expect("addr"),
            format!("imap://{}", h.imap.expect("imap"))
                .parse()
                .expect("url"),
        )
    };
    let p = proxy::start(options, Box::new(live.clone()))
        .await
        .expect("proxy starts");
    let url = format!("imap://{}", p.addr.expect("plain listener"))
        .parse()
        .expect("url");
    let own = dir.join("client.transcript");
    let rec = Recorder::new(
        Box::new(std::fs::File::create(&own).expect("file")),
        &own.display().to_string(),
    )
    .expect("recorder");
    let mut s = Session::connect(&url, "c", &rec, &SessionOptions::default())
        .await
        .expect("connect through the proxy");
    s.login("alice", "alicepw").await.expect("login");
    let r = s.command("COMPRESS DEFLATE").await.expect("compress");
    assert_eq!(r.status.as_str(), "OK");
    assert!(s.is_compressed());
    for i in 0..2 {
        let body = format!("From: a@x\r\nSubject: m{i}\r\n\r\nbody\r\n");
        s.append("INBOX", "", body.as_bytes())
            .await
            .expect("append");
    }
    for cmd in [
        "SELECT INBOX",
        "FETCH 1:* (UID)",
        "STORE 2 +FLAGS (\\Deleted)",
        "EXPUNGE",
    ] {
        s.command(cmd).await.expect(cmd);
    }
    let body = "From: a@x\r\nSubject: again\r\n\r\nbody\r\n";
    s.append("INBOX", "", body.as_bytes())
        .await
        .expect("append");
    s.command("NOOP").await.expect("noop");
    s.command("FETCH 2 (UID)").await.expect("fetch");
    s.logout().await.expect("logout");
    let found = p.shutdown().await;
    h.shutdown().await;

    let shown = live.text();
    assert!(
        found.iter().any(|f| f.check == "uid.no-reuse"),
        "caught after COMPRESS: {shown}"
    );
    let transcripts: Vec<_> = std::fs::read_dir(dir.join("transcripts"))
        .expect("transcripts")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(transcripts.len(), 1, "{transcripts:?}");
    let text = std::fs::read_to_string(&transcripts[0]).expect("transcript");
    let on = text
        .find("note COMPRESS=DEFLATE on")
        .expect("the note where compression began");
    assert!(text[on..].contains("FETCH 2 (UID)"), "inflated: {text}");
    assert!(text[on..].contains("EXPUNGE"), "{text}");
    let offline = imapspec::cli::check::check_log(&transcripts[0], &Limits::default(), 1000);
    assert!(offline.error.is_none(), "{:?}", offline.error);
    let key = |f: &imapspec::finding::Finding| (f.check, f.message.clone(), f.origin.line);
    let mut a: Vec<_> = found.iter().map(key).collect();
    let mut b: Vec<_> = offline.findings.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "live and offline findings are identical");
}
