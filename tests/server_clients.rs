//! Real third-party clients against the reference server: Python's imaplib and
//! smtplib, the async-imap crate, lettre by SMTP, and mbsync (isync) syncing a
//! mailbox both ways.

mod support;

use std::process::Command;
use std::time::Duration;

use futures::TryStreamExt;
use imapspec::clock::Clock;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib_and_smtplib() {
    let h = support::start_server(&[], Clock::real(), None).await;
    let (imap, smtp) = (
        h.imap.expect("imap").to_string(),
        h.smtp.expect("smtp").to_string(),
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/python_clients.py"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(imap)
            .arg(smtp)
            .output()
    })
    .await
    .expect("join")
    .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    h.shutdown().await;
}

/// An async-imap session logged in as alice.
async fn async_imap_login(
    addr: std::net::SocketAddr,
) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login("alice", "alicepw")
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_imap_and_lettre() {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let h = support::start_server(&[], Clock::real(), None).await;
    let smtp = h.smtp.expect("smtp");
    let mailer: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(smtp.port())
            .build();
    let email = Message::builder()
        .from("sender@example.org".parse().expect("from"))
        .to("alice@localhost".parse().expect("to"))
        .subject("via lettre")
        .body("hello from lettre".to_string())
        .expect("message");
    mailer.send(email).await.expect("lettre delivers");

    let mut s = async_imap_login(h.imap.expect("imap")).await;
    let mb = s.select("INBOX").await.expect("select");
    assert_eq!(mb.exists, 1);
    let msgs: Vec<_> = s
        .fetch("1", "(UID FLAGS BODY.PEEK[])")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("stream");
    let body = msgs.first().and_then(|m| m.body()).expect("body");
    assert!(String::from_utf8_lossy(body).contains("hello from lettre"));
    let _: Vec<_> = s
        .uid_store("1", "+FLAGS (\\Seen)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("stream");
    let mut idle = s.idle();
    idle.init().await.expect("idle");
    let (fut, stop) = idle.wait_with_timeout(Duration::from_secs(5));
    drop(stop);
    let _ = fut.await;
    let mut s = idle.done().await.expect("done");
    s.logout().await.expect("logout");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_syncs_both_ways() {
    if Command::new("mbsync").arg("--version").output().is_err() {
        assert!(
            std::env::var("IMAPSPEC_REQUIRE_MBSYNC").as_deref() != Ok("1"),
            "IMAPSPEC_REQUIRE_MBSYNC=1 but mbsync is not installed (apt-get install -y isync)"
        );
        eprintln!("note: mbsync not installed (apt-get install -y isync); test not run");
        return;
    }
    let h = support::start_server(&[], Clock::real(), None).await;
    let store = &h.store;
    support::seed_inbox(store, 3, "server", "s");
    let dir = support::temp_dir("mbsync");
    let maildir = dir.join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir");
    let port = h.imap.expect("imap").port();
    let rc = dir.join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser alice\nPass alicepw\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nSync All\nExpunge Both\nSyncState *\n",
            maildir.display(),
            maildir.display()
        ),
    )
    .expect("rc");
    let run = |rc: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            Command::new("mbsync").arg("-c").arg(&rc).arg("-a").output()
        })
        .await
        .expect("join")
        .expect("mbsync runs")
    };
    let out = run(rc.clone()).await;
    assert!(
        out.status.success(),
        "mbsync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let cur = maildir.join("INBOX/cur");
    let new = maildir.join("INBOX/new");
    let count = |d: &std::path::Path| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    assert_eq!(count(&cur) + count(&new), 3, "server to local");
    // A local message goes up.
    std::fs::write(
        new.join("1700000000.local.host"),
        "From: b@x\r\nSubject: local\r\nMessage-ID: <l@x>\r\n\r\nlocal body\r\n",
    )
    .expect("local msg");
    let out = run(rc).await;
    assert!(
        out.status.success(),
        "mbsync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let n = store
        .mailbox("alice", "INBOX")
        .map(|m| m.lock().messages.len())
        .unwrap_or(0);
    assert_eq!(n, 4, "local to server");
    h.shutdown().await;
}

/// async-imap's CONDSTORE support against the server (RFC 7162): SELECT
/// (CONDSTORE) gives HIGHESTMODSEQ, CHANGEDSINCE answers only what changed,
/// with MODSEQ, and a conditional STORE of an already-changed message is
/// refused with MODIFIED while the others go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_imap_condstore() {
    let h = support::start_server(&[], Clock::real(), None).await;
    support::seed_inbox(&h.store, 3, "condstore", "c");
    let mut s = async_imap_login(h.imap.expect("imap")).await;
    let mb = s
        .select_condstore("INBOX")
        .await
        .expect("select (condstore)");
    let highest = mb
        .highest_modseq
        .expect("HIGHESTMODSEQ in the SELECT answer");
    let all: Vec<_> = s
        .uid_fetch("1:*", "(FLAGS) (CHANGEDSINCE 0)")
        .await
        .expect("fetch changedsince 0")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(all.len(), 3, "CHANGEDSINCE 0 is every message");
    assert!(all.iter().all(|m| m.modseq.is_some_and(|v| v <= highest)));
    let first = all.iter().filter_map(|m| m.uid).min().expect("a UID");
    let _: Vec<_> = s
        .uid_store(format!("{first}"), "+FLAGS (\\Seen)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("stream");
    let changed: Vec<_> = s
        .uid_fetch("1:*", &format!("(FLAGS) (CHANGEDSINCE {highest})"))
        .await
        .expect("fetch changedsince")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(changed.len(), 1, "only the message stored since");
    assert_eq!(changed[0].uid, Some(first));
    assert!(changed[0].modseq.is_some_and(|v| v > highest));
    // UNCHANGEDSINCE the old value: the stored message has moved on and is
    // refused (MODIFIED); the rest are changed.
    s.run_command(&format!(
        "UID STORE 1:* (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)"
    ))
    .await
    .expect("send");
    let mut modified = None;
    while let Some(r) = s.read_response().await.expect("read") {
        let text = format!("{:?}", r.parsed());
        if text.contains("Done") {
            modified = Some(text);
            break;
        }
    }
    let done = modified.expect("tagged completion");
    assert!(done.contains("Ok"), "{done}");
    assert!(
        done.to_ascii_uppercase().contains("MODIFIED"),
        "the completion carries MODIFIED: {done}"
    );
    s.logout().await.expect("logout");
    h.shutdown().await;
}

/// async-imap's COMPRESS=DEFLATE (`Session::compress`, async-compression's
/// DEFLATE streams: RFC 4978) against the server: compressed from the command
/// after COMPRESS on, SELECT, FETCH of headers and bodies, a STORE, NOOP,
/// and LOGOUT all go through both directions compressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_imap_compress_deflate() {
    let h = support::start_server(&[], Clock::real(), None).await;
    support::seed_inbox(&h.store, 3, "compressed", "z");
    let mut s = async_imap_login(h.imap.expect("imap")).await;
    let caps = s.capabilities().await.expect("capabilities");
    assert!(caps.has_str("COMPRESS=DEFLATE"), "offered after login");
    let mut s = s.compress(|z| z).await.expect("COMPRESS DEFLATE");
    let mb = s.select("INBOX").await.expect("select, compressed");
    assert_eq!(mb.exists, 3);
    let msgs: Vec<_> = s
        .uid_fetch(
            "1:*",
            "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])",
        )
        .await
        .expect("fetch, compressed")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(msgs.len(), 3);
    let last = msgs.iter().find(|m| m.uid == Some(3)).expect("UID 3");
    let header = last.header().expect("the header section");
    assert!(
        String::from_utf8_lossy(header).contains("Subject: compressed 3"),
        "{}",
        String::from_utf8_lossy(header)
    );
    let text = last.text().expect("the text section");
    assert!(String::from_utf8_lossy(text).contains("body 3"));
    let stored: Vec<_> = s
        .uid_store("2", "+FLAGS (\\Flagged)")
        .await
        .expect("store, compressed")
        .try_collect()
        .await
        .expect("stream");
    assert_eq!(stored.len(), 1);
    s.noop().await.expect("noop, compressed");
    s.logout().await.expect("logout, compressed");
    h.shutdown().await;
}
