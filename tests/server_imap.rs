//! The reference server, driven by imapspec's own recording client with every
//! check on: a full session finds nothing; each fault shows its field bug on the
//! wire and trips the check DESIGN.md names, while the same steps without the
//! fault stay clean.

mod support;

use std::io::BufWriter;
use std::time::Duration;

use imapspec::clock::Clock;
use imapspec::event::EventKind;
use imapspec::runner::recorder::{Recorder, SharedRecorder};
use imapspec::session::{Session, SessionOptions};
use imapspec::wire::{ServerMessage, StatusKind};

fn msg(i: u32) -> Vec<u8> {
    format!(
        "From: \"Alice A.\" <alice@example.org>\r\nTo: bob@example.org, \"Carol\" <carol@example.org>\r\nSubject: hello {i}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{i}@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain {i}\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html {i}</p>\r\n--b--\r\n"
    )
    .into_bytes()
}

fn recorder() -> SharedRecorder {
    Recorder::new(Box::new(BufWriter::new(std::io::sink())), "server-test").expect("recorder")
}

fn opts(clock: &Clock) -> SessionOptions {
    SessionOptions {
        insecure: true,
        clock: clock.clone(),
        ..SessionOptions::default()
    }
}

fn findings(rec: &SharedRecorder) -> Vec<(&'static str, String)> {
    rec.lock()
        .expect("lock")
        .checker
        .findings
        .list
        .iter()
        .map(|f| (f.check, f.line.clone()))
        .collect()
}

async fn connect(
    h: &imapspec::server::Handle,
    rec: &SharedRecorder,
    name: &str,
    clock: &Clock,
) -> Session {
    let url = format!("imap://{}", h.imap.expect("imap"))
        .parse()
        .expect("url");
    let mut s = Session::connect(&url, name, rec, &opts(clock))
        .await
        .expect("connect");
    s.login("alice", "alicepw").await.expect("login");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_passes_every_check() {
    let clock = Clock::real();
    let h = support::start_server(&[], clock.clone(), None).await;
    let rec = recorder();
    let mut a = connect(&h, &rec, "a", &clock).await;
    a.command_ok("CAPABILITY").await.expect("capability");
    a.command_ok("CREATE Work").await.expect("create");
    a.command_ok("CREATE Work/Sub").await.expect("create sub");
    for i in 1..=3 {
        a.append("Work", "\\Flagged", &msg(i))
            .await
            .expect("append");
    }
    a.append_nonsync("Work", &msg(4))
        .await
        .expect("append literal+");
    a.command_ok("SELECT Work").await.expect("select");
    let r = a
        .command_ok("FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[1] BODY.PEEK[]<0.20>)")
        .await
        .expect("fetch");
    assert_eq!(r.untagged.len(), 4);
    a.command_ok("UID FETCH 2:* (FLAGS BODY[TEXT])")
        .await
        .expect("uid fetch sets seen");
    a.command_ok("STORE 1 +FLAGS (\\Answered $Label)")
        .await
        .expect("store");
    a.command_ok("UID STORE 1:* -FLAGS.SILENT (\\Flagged)")
        .await
        .expect("uid store");
    let s = a
        .command_ok("SEARCH UNSEEN SUBJECT hello")
        .await
        .expect("search");
    assert!(
        s.untagged
            .iter()
            .any(|e| String::from_utf8_lossy(&e.raw).starts_with("* SEARCH 1")),
        "{:?}",
        s.untagged
    );
    a.command_ok("UID SEARCH OR ANSWERED FROM alice")
        .await
        .expect("uid search");
    a.command_ok("COPY 1:2 Work/Sub").await.expect("copy");
    a.command_ok("UID MOVE 4 INBOX").await.expect("move");

    let mut b = connect(&h, &rec, "b", &clock).await;
    b.command_ok("SELECT Work").await.expect("select b");
    b.command_ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store b");
    b.command_ok("EXPUNGE").await.expect("expunge b");
    let n = a.command_ok("NOOP").await.expect("noop a");
    assert!(n.untagged.iter().any(|e| matches!(
        &e.kind,
        EventKind::Server {
            message: ServerMessage::Expunge(2),
            ..
        }
    )));

    let idle = a.idle().await.expect("idle");
    b.append("Work", "", &msg(9)).await.expect("append b");
    let mut saw = false;
    for _ in 0..40 {
        if let Some(e) = a
            .next_event_within(Duration::from_millis(100))
            .await
            .expect("idle read")
        {
            if matches!(
                &e.kind,
                EventKind::Server {
                    message: ServerMessage::Exists(3),
                    ..
                }
            ) {
                saw = true;
                break;
            }
        }
    }
    assert!(saw, "IDLE reports the new message at once");
    a.done(&idle).await.expect("done");
    a.command_ok("FETCH 3 (UID FLAGS)")
        .await
        .expect("fetch new");
    a.command_ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)")
        .await
        .expect("status");
    a.command_ok("LIST \"\" *").await.expect("list");
    a.command_ok("SUBSCRIBE Work").await.expect("subscribe");
    a.command_ok("LSUB \"\" *").await.expect("lsub");
    a.command_ok("NAMESPACE").await.expect("namespace");
    a.command_ok("ID NIL").await.expect("id");
    a.command_ok("GETQUOTAROOT INBOX").await.expect("quota");
    a.command_ok("EXAMINE Work/Sub").await.expect("examine");
    a.command_ok("UNSELECT").await.expect("unselect");
    a.command_ok("RENAME Work/Sub Attic").await.expect("rename");
    a.command_ok("DELETE Attic").await.expect("delete");
    let bad = a.command("FETCH").await.expect("bad command answered");
    assert_eq!(
        bad.status,
        StatusKind::Bad,
        "a malformed command gets BAD, not a drop"
    );
    b.logout().await.expect("logout b");
    a.logout().await.expect("logout a");

    let mut c = Session::connect(
        &format!("imaps://{}", h.imaps.expect("imaps"))
            .parse()
            .expect("url"),
        "c",
        &rec,
        &opts(&clock),
    )
    .await
    .expect("imaps");
    c.authenticate_plain("alice", "alicepw")
        .await
        .expect("auth plain");
    c.logout().await.expect("logout c");
    let mut d = Session::connect(
        &format!("imap://{}?starttls", h.imap.expect("imap"))
            .parse()
            .expect("url"),
        "d",
        &rec,
        &opts(&clock),
    )
    .await
    .expect("starttls");
    d.login("alice", "alicepw")
        .await
        .expect("login over starttls");
    d.logout().await.expect("logout d");

    assert_eq!(
        findings(&rec),
        vec![],
        "the reference server passes every check"
    );
    h.shutdown().await;
}

/// Runs `steps` against a server with and without `fault`; the check must fire
/// only with the fault.
async fn fault_case<F, Fut>(fault: &str, check: &str, steps: F)
where
    F: Fn(imapspec::server::Handle, SharedRecorder, Clock) -> Fut,
    Fut: std::future::Future<Output = imapspec::server::Handle>,
{
    for faulty in [true, false] {
        let clock = Clock::compressed(2_000.0);
        let faults: Vec<&str> = if faulty { vec![fault] } else { vec![] };
        let h = support::start_server(&faults, clock.clone(), None).await;
        let rec = recorder();
        let h = steps(h, rec.clone(), clock).await;
        h.shutdown().await;
        let f = findings(&rec);
        if faulty {
            assert!(
                f.iter().any(|(c, _)| *c == check),
                "--fault {fault}: expected {check}, got {f:?}"
            );
        } else {
            assert_eq!(
                f,
                vec![],
                "without --fault {fault} the same steps are clean"
            );
        }
    }
}

async fn three_messages(s: &mut Session) {
    for i in 1..=3 {
        s.append("INBOX", "", &msg(i)).await.expect("append");
    }
    s.command_ok("SELECT INBOX").await.expect("select");
    s.command_ok("FETCH 1:* (UID)").await.expect("fetch uids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_stale_noop_after_expunge() {
    fault_case(
        "stale-noop-after-expunge",
        "uid.no-reuse",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "outlook", &clock).await;
            three_messages(&mut a).await;
            a.command_ok("UID STORE 2 +FLAGS (\\Deleted \\Seen)")
                .await
                .expect("store");
            a.command_ok("UID EXPUNGE 2").await.expect("expunge");
            a.command_ok("NOOP").await.expect("noop");
            let r = a.command_ok("FETCH 1:* (UID)").await.expect("fetch");
            assert!(!r.untagged.is_empty());
            a.logout().await.expect("logout");
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_idle_drop_without_bye() {
    fault_case(
        "idle-drop-without-bye=31m",
        "bye.before-close",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "oe", &clock).await;
            a.command_ok("SELECT INBOX").await.expect("select");
            let tag = a.idle().await.expect("idle");
            // 40 virtual minutes; the faulty server drops at 31, the good one says
            // BYE at 30 (autologout) — both end the session, only one with BYE.
            let mut ended = false;
            for _ in 0..400 {
                match a.next_event_within(Duration::from_secs(6)).await {
                    Ok(Some(e)) if matches!(e.kind, EventKind::Closed { .. }) => {
                        ended = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            assert!(ended, "the idle session ends");
            let _ = tag;
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_autologout_too_short() {
    fault_case(
        "autologout=5m",
        "autologout.min-30min",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "idle-client", &clock).await;
            a.command_ok("SELECT INBOX").await.expect("select");
            // Silent for 20 virtual minutes: a good server keeps the session.
            let until = clock.elapsed() + Duration::from_secs(20 * 60);
            while !a.is_closed() && clock.elapsed() < until {
                match a
                    .next_event_within(until.saturating_sub(clock.elapsed()))
                    .await
                {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            if !a.is_closed() {
                a.logout().await.expect("logout");
            }
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_expunge_during_fetch() {
    fault_case(
        "expunge-during-fetch",
        "expunge.forbidden-context",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "a", &clock).await;
            three_messages(&mut a).await;
            let mut b = connect(&h, &rec, "b", &clock).await;
            b.command_ok("SELECT INBOX").await.expect("select");
            b.command_ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
                .await
                .expect("store");
            b.command_ok("EXPUNGE").await.expect("expunge");
            let _ = a
                .command("FETCH 1:2 (FLAGS)")
                .await
                .expect("fetch answered");
            a.command_ok("NOOP").await.expect("noop");
            a.logout().await.expect("logout");
            b.logout().await.expect("logout");
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_uid_reuse() {
    fault_case("uid-reuse", "uid.no-reuse", |h, rec, clock| async move {
        let mut a = connect(&h, &rec, "a", &clock).await;
        three_messages(&mut a).await;
        a.command_ok("UID STORE 3 +FLAGS (\\Deleted)")
            .await
            .expect("store");
        a.command_ok("UID EXPUNGE 3").await.expect("expunge");
        a.append("INBOX", "", &msg(7)).await.expect("append");
        a.command_ok("FETCH 3 (UID)").await.expect("fetch");
        a.logout().await.expect("logout");
        h
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_flags_without_backslash() {
    fault_case(
        "flags-without-backslash",
        "flags.system-backslash",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "a", &clock).await;
            a.command_ok("SELECT INBOX").await.expect("select");
            a.logout().await.expect("logout");
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_io_error_over() {
    fault_case(
        "io-error-over=2",
        "mailbox.inuse-code",
        |h, rec, clock| async move {
            let mut a = connect(&h, &rec, "a", &clock).await;
            for i in 1..=3 {
                a.append("INBOX", "", &msg(i)).await.expect("append");
            }
            let _ = a.command("SELECT INBOX").await.expect("answered");
            a.logout().await.expect("logout");
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_overquota_permanent() {
    fault_case(
        "overquota-permanent",
        "quota.overquota-code",
        |h, rec, clock| async move {
            let url = format!("imap://{}", h.imap.expect("imap"))
                .parse()
                .expect("url");
            let mut b = Session::connect(&url, "bob", &rec, &opts(&clock))
                .await
                .expect("connect");
            b.login("bob", "bobpw").await.expect("login");
            let big = vec![b'x'; 3000];
            let r = b.append("INBOX", "", &big).await.expect("answered");
            assert_eq!(r.status, StatusKind::No);
            b.logout().await.expect("logout");
            h
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_append_stores_nothing_unless_faulted() {
    for faulty in [false, true] {
        let clock = Clock::real();
        let faults: Vec<&str> = if faulty {
            vec!["partial-append-on-disconnect"]
        } else {
            vec![]
        };
        let h = support::start_server(&faults, clock.clone(), None).await;
        let rec = recorder();
        let mut a = connect(&h, &rec, "bb", &clock).await;
        a.send_raw(b"a9 APPEND INBOX {100+}\r\nSubject: half\r\n\r\nonly part of it")
            .await
            .expect("send");
        a.close().await.expect("close");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = h
            .store
            .mailbox("alice", "INBOX")
            .map(|m| m.lock().messages.len())
            .unwrap_or(0);
        assert_eq!(n, usize::from(faulty), "faulty={faulty}");
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_discards_injected_plaintext() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = support::start_server(&[], Clock::real(), None).await;
    let mut tcp = tokio::net::TcpStream::connect(h.imap.expect("imap"))
        .await
        .expect("tcp");
    let mut buf = vec![0u8; 4096];
    let _ = tcp.read(&mut buf).await.expect("greeting");
    tcp.write_all(b"a STARTTLS\r\nb LOGIN alice alicepw\r\n")
        .await
        .expect("write");
    let n = tcp.read(&mut buf).await.expect("reply");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(text.starts_with("a OK"), "{text}");
    assert!(
        !text.contains("b OK"),
        "the injected LOGIN was not run in plaintext: {text}"
    );
    let connector = imapspec::session::connect::tls_connector(true).expect("tls");
    let name = imapspec::session::connect::server_name("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"c NOOP\r\n").await.expect("noop");
    let n = tls.read(&mut buf).await.expect("reply");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(
        text.starts_with("c OK"),
        "only the new command is answered inside TLS: {text}"
    );
    h.shutdown().await;
}

async fn read(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_input_get_clear_answers() {
    use tokio::io::AsyncWriteExt;
    let clock = Clock::real();
    let h = support::start_server(&[], clock.clone(), None).await;
    let mut tcp = tokio::net::TcpStream::connect(h.imap.expect("imap"))
        .await
        .expect("tcp");
    let _ = read(&mut tcp).await;
    tcp.write_all(b"a1 SELECT INBOX\r\n").await.expect("w");
    assert!(
        read(&mut tcp).await.starts_with("a1 NO"),
        "commands that need a login get NO"
    );
    tcp.write_all(b"a2 LOGIN alice wrong\r\n").await.expect("w");
    assert!(read(&mut tcp)
        .await
        .contains("a2 NO [AUTHENTICATIONFAILED]"));
    let long = format!("a3 NOOP {}\r\n", "x".repeat(70_000));
    tcp.write_all(long.as_bytes()).await.expect("w");
    let r = read(&mut tcp).await;
    assert!(
        r.contains("BAD [TOOBIG]"),
        "an over-long line gets BAD: {r}"
    );
    tcp.write_all(b"a4 APPEND INBOX {999999999}\r\n")
        .await
        .expect("w");
    let r = read(&mut tcp).await;
    assert!(
        r.contains("a4 NO [TOOBIG]"),
        "an over-size literal is refused before it is sent: {r}"
    );
    tcp.write_all(b"a5 NOOP\r\n").await.expect("w");
    assert!(
        read(&mut tcp).await.contains("a5 OK"),
        "and the session goes on"
    );
    tcp.write_all(b"a6 FETCH 1:* (\r\n").await.expect("w");
    let r = read(&mut tcp).await;
    assert!(
        r.starts_with("a6 BAD") && r.len() > 12,
        "malformed command: BAD with a reason: {r}"
    );
    drop(tcp);

    // More logins of one user than allowed: NO [LIMIT].
    let config = imapspec::server::Config {
        imap: "127.0.0.1:0".parse().ok(),
        users: vec![imapspec::server::User {
            name: "z".into(),
            password: "p".into(),
            quota: None,
        }],
        limits: imapspec::server::imap::ServerLimits {
            max_connections_per_user: 2,
            ..Default::default()
        },
        ..imapspec::server::Config::default()
    };
    let h2 = imapspec::server::Server::start(config)
        .await
        .expect("server");
    let rec = recorder();
    let url: imapspec::session::ServerUrl = format!("imap://{}", h2.imap.expect("imap"))
        .parse()
        .expect("url");
    let mut keep = Vec::new();
    for i in 0..2 {
        let mut s = Session::connect(&url, &format!("z{i}"), &rec, &opts(&clock))
            .await
            .expect("connect");
        s.login("z", "p").await.expect("login within the limit");
        keep.push(s);
    }
    let mut third = Session::connect(&url, "z3", &rec, &opts(&clock))
        .await
        .expect("connect");
    let r = third.command("LOGIN z p").await.expect("answered");
    assert_eq!(r.status, StatusKind::No);
    assert!(r.text.contains("Too many connections"), "{}", r.text);
    h2.shutdown().await;
    h.shutdown().await;
}

/// Commands pipelined in one write (RFC 3501 5.5: "a client MAY send
/// another command without waiting for the completion result response"),
/// a LITERAL+ APPEND among them: each is read whole, one at a time, and
/// answered in order. mbsync sends exactly this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_with_literals_are_each_answered() {
    use tokio::io::AsyncWriteExt;
    let h = support::start_server(&[], Clock::real(), None).await;
    let mut tcp = tokio::net::TcpStream::connect(h.imap.expect("imap"))
        .await
        .expect("tcp");
    let _ = read(&mut tcp).await;
    tcp.write_all(
        b"p1 LOGIN alice alicepw\r\np2 APPEND INBOX {12+}\r\nSubject: x\r\n\r\np3 SELECT INBOX\r\np4 FETCH 1 (BODY.PEEK[] UID)\r\np5 LOGOUT\r\n",
    )
    .await
    .expect("w");
    let mut all = String::new();
    while !all.contains("p5 OK") {
        let more = read(&mut tcp).await;
        if more.is_empty() {
            break;
        }
        all.push_str(&more);
    }
    let order: Vec<usize> = ["p1 OK", "p2 OK", "p3 OK", "p4 OK", "p5 OK"]
        .iter()
        .map(|t| all.find(t).unwrap_or(usize::MAX))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]) && order[4] != usize::MAX,
        "each pipelined command answered, in order: {all}"
    );
    assert!(
        all.contains("Subject: x"),
        "the APPENDed literal is the message: {all}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preload_from_a_folder_tree_and_an_mbox() {
    let dir = support::temp_dir("preload");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("alice/Archive")).expect("dirs");
    std::fs::create_dir_all(tree.join("alice/INBOX")).expect("dirs");
    std::fs::write(tree.join("alice/INBOX/1.eml"), "Subject: one\n\nbody\n").expect("eml");
    std::fs::write(tree.join("alice/Archive/1.eml"), "Subject: old\n\nbody\n").expect("eml");
    std::fs::write(tree.join("alice/Archive/2.eml"), "Subject: older\n\nbody\n").expect("eml");
    let mbox = dir.join("in.mbox");
    std::fs::write(&mbox, "From a@b Mon Jan  1 00:00:00 2024\nSubject: m1\n\n>From the start\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: m2\n\nx\n").expect("mbox");
    for (path, expect) in [
        (tree, vec![("INBOX", 1), ("Archive", 2)]),
        (mbox, vec![("INBOX", 2)]),
    ] {
        let config = imapspec::server::Config {
            imap: "127.0.0.1:0".parse().ok(),
            users: vec![imapspec::server::User {
                name: "alice".into(),
                password: "p".into(),
                quota: None,
            }],
            preload: Some(path),
            ..imapspec::server::Config::default()
        };
        let h = imapspec::server::Server::start(config)
            .await
            .expect("server");
        for (mb, n) in expect {
            let got = h
                .store
                .mailbox("alice", mb)
                .map(|m| m.lock().messages.len());
            assert_eq!(got, Some(n), "{mb}");
        }
        let first = h
            .store
            .mailbox("alice", "INBOX")
            .and_then(|m| m.lock().messages.first().map(|m| m.data.to_vec()));
        assert!(
            first.is_some_and(|d| d.windows(2).any(|w| w == b"\r\n")),
            "stored with CRLF line ends"
        );
        h.shutdown().await;
    }
}
