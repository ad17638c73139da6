//! Live sessions against small scripted servers on loopback: a server with seed
//! 000's bug (live findings = offline findings, not empty), a silent drop, a
//! stall and a flood. The harness gives findings or clear errors, never hangs.

mod support;

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use imapspec::cli::check::check_log;
use imapspec::runner::recorder::{Recorder, SharedRecorder};
use imapspec::session::{Session, SessionError, SessionOptions};
use imapspec::wire::Limits;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A server that answers each command (by its name after the tag) with scripted
/// lines, `{tag}` replaced by the command's tag. `None` closes the connection.
async fn scripted(script: Vec<(&'static str, Option<&'static str>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        let _ = w.write_all(b"* OK scripted server ready\r\n").await;
        let mut steps = script.into_iter();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or("").to_string();
            let Some((_, reply)) = steps.next() else {
                return;
            };
            match reply {
                Some(text) => {
                    let text = text.replace("{tag}", &tag);
                    if w.write_all(text.as_bytes()).await.is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    format!("imap://{addr}")
}

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
            read_timeout: Duration::from_millis(500),
            command_timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        ..SessionOptions::default()
    }
}

#[tokio::test]
async fn seed000_bug_live_equals_offline() {
    let url = scripted(vec![
        ("LOGIN", Some("{tag} OK logged in\r\n")),
        ("SELECT", Some("* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen)\r\n* 147 EXISTS\r\n* 5 RECENT\r\n* OK [UIDVALIDITY 1377145668] Ok\r\n* OK [UIDNEXT 3194] Ok\r\n{tag} OK [READ-WRITE] Ok\r\n")),
        ("FETCH", Some("* 147 FETCH (UID 3193)\r\n{tag} OK FETCH completed.\r\n")),
        ("UID STORE", Some("* 141 FETCH (FLAGS (\\Deleted \\Seen) UID 3170)\r\n* 141 EXPUNGE\r\n* 146 EXISTS\r\n{tag} OK STORE completed.\r\n")),
        ("NOOP", Some("* 147 EXISTS\r\n* 5 RECENT\r\n* 141 FETCH (FLAGS (\\Seen))\r\n{tag} OK NOOP completed\r\n")),
        ("FETCH", Some("* 147 FETCH (UID 3193)\r\n{tag} OK FETCH completed.\r\n")),
        ("LOGOUT", Some("* BYE bye\r\n{tag} OK done\r\n")),
    ])
    .await;
    let (rec, path) = recorder("seed000-live");
    let url = url.parse().expect("url");
    let mut s = Session::connect(&url, "outlook", &rec, &quick())
        .await
        .expect("connect");
    s.login("u", "p").await.expect("login");
    s.command_ok("SELECT Trash").await.expect("select");
    s.command_ok("FETCH 147 (UID)").await.expect("fetch");
    s.command_ok("UID STORE 3170 +FLAGS (\\Deleted \\Seen)")
        .await
        .expect("store");
    s.command_ok("NOOP").await.expect("noop");
    s.command_ok("FETCH 147 (UID)").await.expect("fetch again");
    s.logout().await.expect("logout");
    let live = {
        let mut r = rec.lock().expect("lock");
        r.flush().expect("flush");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    assert!(live.iter().any(|f| f.check == "uid.no-reuse"), "{live:#?}");
    let offline = check_log(&path, &Limits::default(), 1000);
    assert_eq!(
        offline.findings, live,
        "live and offline findings must be identical"
    );
}

#[tokio::test]
async fn silent_drop_during_idle_is_bye_before_close() {
    let url = scripted(vec![
        ("LOGIN", Some("{tag} OK logged in\r\n")),
        ("IDLE", Some("+ idling\r\n")),
        ("DONE", None),
    ])
    .await;
    let (rec, path) = recorder("drop-live");
    let mut s = Session::connect(&url.parse().expect("url"), "oe", &rec, &quick())
        .await
        .expect("connect");
    s.login("u", "p").await.expect("login");
    let tag = s.idle().await.expect("idle");
    let err = s
        .done(&tag)
        .await
        .expect_err("the server drops the connection");
    assert!(matches!(err, SessionError::Closed(_)), "{err}");
    let live = {
        let mut r = rec.lock().expect("lock");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    assert_eq!(
        live.iter().map(|f| f.check).collect::<Vec<_>>(),
        vec!["bye.before-close"]
    );
    rec.lock().expect("lock").flush().expect("flush");
    assert_eq!(check_log(&path, &Limits::default(), 1000).findings, live);
}

#[tokio::test]
async fn stalled_server_times_out_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let _ = sock.write_all(b"* OK hi\r\n").await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (rec, _) = recorder("stall");
    let url = format!("imap://{addr}").parse().expect("url");
    let mut s = Session::connect(&url, "s", &rec, &quick())
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let err = s.command("NOOP").await.expect_err("no answer");
    assert!(matches!(err, SessionError::Timeout(_)), "{err}");
    assert!(err.to_string().contains("sent nothing"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn flooding_server_is_cut_at_the_line_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = sock.into_split();
        let _ = w.write_all(b"* OK hi\r\n").await;
        let mut lines = BufReader::new(r).lines();
        if let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or("").to_string();
            let junk = vec![b'x'; 1 << 20];
            // 32 MB of one line, bounded in count.
            for _ in 0..32 {
                if w.write_all(&junk).await.is_err() {
                    return;
                }
            }
            let _ = w
                .write_all(format!("\r\n{tag} OK done\r\n").as_bytes())
                .await;
        }
    });
    let (rec, _) = recorder("flood");
    let url = format!("imap://{addr}").parse().expect("url");
    let mut s = Session::connect(&url, "s", &rec, &quick())
        .await
        .expect("connect");
    let reply = s.command("NOOP").await.expect("completes after the flood");
    assert!(reply
        .untagged
        .iter()
        .all(|e| e.raw.len() <= Limits::default().max_line + 2));
    let findings = {
        let mut r = rec.lock().expect("lock");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    assert!(
        findings.iter().any(|f| f.check == "response.bounded"),
        "{findings:#?}"
    );
}

#[tokio::test]
async fn append_refused_before_the_literal_is_not_a_tag_error() {
    // RFC 3501 7.5: the server may answer a synchronising literal with a tagged
    // NO instead of `+`; the client then never sends the literal. Seen on a real
    // server for `APPEND "Sent" {305}` to a mailbox that did not exist.
    let url = scripted(vec![
        ("LOGIN", Some("{tag} OK logged in\r\n")),
        (
            "APPEND",
            Some("{tag} NO [TRYCREATE] Mailbox does not exist\r\n"),
        ),
        ("NOOP", Some("{tag} OK NOOP completed\r\n")),
        ("LOGOUT", Some("* BYE bye\r\n{tag} OK done\r\n")),
    ])
    .await;
    let (rec, path) = recorder("append-no");
    let mut s = Session::connect(&url.parse().expect("url"), "c", &rec, &quick())
        .await
        .expect("connect");
    s.login("u", "p").await.expect("login");
    let err = s
        .append("Sent", "", &[b'x'; 305])
        .await
        .expect_err("refused before +");
    assert!(matches!(err, SessionError::Refused(_)), "{err}");
    s.command_ok("NOOP").await.expect("noop after the refusal");
    s.logout().await.expect("logout");
    let live = {
        let mut r = rec.lock().expect("lock");
        r.flush().expect("flush");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    assert_eq!(live, vec![], "no finding on a legal refusal");
    // The transcript keeps the client's line before the server's reply.
    let text = std::fs::read_to_string(&path).expect("transcript");
    let append = text.find("APPEND \"Sent\" {305}").expect("append line");
    let refusal = text.find("NO [TRYCREATE]").expect("refusal line");
    assert!(append < refusal, "{text}");
    assert_eq!(check_log(&path, &Limits::default(), 1000).findings, live);
}

/// A server that greets, then answers the first command line with `reply`
/// (bytes written `chunk` at a time, `pause` apart), then holds the
/// connection open without a word for a bounded time.
async fn hostile(reply: Vec<u8>, chunk: usize, pause: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let (r, mut w) = sock.into_split();
        let _ = w.write_all(b"* OK hostile server ready\r\n").await;
        let mut lines = BufReader::new(r).lines();
        if let Ok(Some(_)) = lines.next_line().await {
            for piece in reply.chunks(chunk.max(1)) {
                if w.write_all(piece).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
    });
    format!("imap://{addr}")
}

fn brief() -> SessionOptions {
    SessionOptions {
        limits: Limits {
            read_timeout: Duration::from_millis(400),
            command_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
        ..SessionOptions::default()
    }
}

/// Runs LOGIN against `url`; returns the error, the live findings and the
/// transcript's text, after checking the offline findings are the same.
async fn first_command_fails(url: String, name: &str) -> (SessionError, Vec<&'static str>, String) {
    let (rec, path) = recorder(name);
    let mut s = Session::connect(&url.parse().expect("url"), "c", &rec, &brief())
        .await
        .expect("connect");
    let err = s.login("u", "p").await.expect_err("never completes");
    let live = {
        let mut r = rec.lock().expect("lock");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    let text = std::fs::read_to_string(&path).expect("transcript");
    assert_eq!(check_log(&path, &Limits::default(), 1000).findings, live);
    (err, live.iter().map(|f| f.check).collect(), text)
}

#[tokio::test]
async fn wrong_tag_on_the_first_command_is_a_finding_with_its_bytes_kept() {
    let url = hostile(b"zzz OK logged in\r\n".to_vec(), 64, Duration::ZERO).await;
    let (err, checks, text) = first_command_fails(url, "wrong-tag").await;
    assert!(err.to_string().contains("answered with tag zzz"), "{err}");
    assert!(checks.contains(&"tag.one-completion"), "{checks:?}");
    assert!(checks.contains(&"server.stalled"), "{checks:?}");
    assert!(text.contains("S: zzz OK logged in"), "{text}");
}

#[tokio::test]
async fn a_dripping_server_is_not_called_silent() {
    // One byte every 50 ms, never a whole line within the command's bound.
    let url = hostile(
        b"* 1 EXISTS and then some more words".to_vec(),
        1,
        Duration::from_millis(50),
    )
    .await;
    let (err, checks, text) = first_command_fails(url, "drip").await;
    let why = err.to_string();
    assert!(!why.contains("sent nothing"), "{why}");
    assert!(why.contains("never finished the message"), "{why}");
    assert!(checks.contains(&"server.stalled"), "{checks:?}");
    assert!(
        text.contains("* 1 EXI"),
        "the bytes stay in the transcript: {text}"
    );
}

#[tokio::test]
async fn an_endless_line_is_not_called_a_close_by_the_server() {
    let line = vec![b'x'; 3 << 20];
    let url = hostile(line, 64 * 1024, Duration::ZERO).await;
    let (err, checks, _) = first_command_fails(url, "endless").await;
    let why = err.to_string();
    assert!(!why.contains("closed by the server"), "{why}");
    assert!(why.contains("never ended"), "{why}");
    assert!(checks.contains(&"server.stalled"), "{checks:?}");
}
