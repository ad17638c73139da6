//! A real session against Dovecot — SELECT, FETCH, STORE, EXPUNGE from a second
//! session, NOOP, IDLE/DONE, over plain, STARTTLS and implicit TLS — with every
//! check on: zero findings live, and `imapspec check` on the recorded transcript
//! reports exactly the same findings.

mod support;

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use imapspec::cli::check::check_log;
use imapspec::event::EventKind;
use imapspec::runner::recorder::Recorder;
use imapspec::session::{Session, SessionOptions};
use imapspec::wire::{Limits, ServerMessage};

fn message(i: u32) -> Vec<u8> {
    format!(
        "From: alice@example.org\r\nTo: alice@example.org\r\nSubject: test {i}\r\nMessage-ID: <{i}@imapspec.test>\r\n\r\nbody {i}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_session_has_no_findings_live_or_offline() {
    support::install_tls_provider();
    let Some(dovecot) = support::dovecot() else {
        return;
    };
    let dir = support::temp_dir("live-dovecot");
    let path = dir.join("dovecot.transcript");
    let out = BufWriter::new(File::create(&path).expect("transcript file"));
    let rec = Recorder::new(Box::new(out), &path.display().to_string()).expect("recorder");
    let opts = SessionOptions {
        insecure: true,
        ..SessionOptions::default()
    };
    let mailbox = format!("imapspec-{}", std::process::id());
    let plain = dovecot.imap.parse().expect("imap url");
    let starttls = format!("{}?starttls", dovecot.imap)
        .parse()
        .expect("starttls url");
    let tls = dovecot.imaps.parse().expect("imaps url");

    let mut a = Session::connect(&plain, "a", &rec, &opts)
        .await
        .expect("connect a");
    a.login("alice", "alicepw").await.expect("login a");
    a.command_ok("CAPABILITY").await.expect("capability");
    let _ = a.command(&format!("DELETE {mailbox}")).await;
    a.command_ok(&format!("CREATE {mailbox}"))
        .await
        .expect("create");
    for i in 1..=4 {
        let r = a.append(&mailbox, "", &message(i)).await.expect("append");
        assert_eq!(r.status, imapspec::wire::StatusKind::Ok);
    }
    a.append_nonsync(&mailbox, &message(5))
        .await
        .expect("append literal+");
    a.command_ok(&format!("SELECT {mailbox}"))
        .await
        .expect("select");
    a.command_ok("FETCH 1:* (UID FLAGS)").await.expect("fetch");
    a.command_ok("UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Subject)])")
        .await
        .expect("uid fetch");
    a.command_ok("STORE 2 +FLAGS (\\Seen)")
        .await
        .expect("store");

    let mut b = Session::connect(&starttls, "b", &rec, &opts)
        .await
        .expect("connect b (STARTTLS)");
    b.authenticate_plain("alice", "alicepw")
        .await
        .expect("authenticate b");
    b.command_ok(&format!("SELECT {mailbox}"))
        .await
        .expect("select b");
    b.command_ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store b");
    b.command_ok("EXPUNGE").await.expect("expunge b");

    let noop = a.command_ok("NOOP").await.expect("noop");
    let saw_expunge = noop.untagged.iter().any(|e| {
        matches!(
            &e.kind,
            EventKind::Server {
                message: ServerMessage::Expunge(3),
                ..
            }
        )
    });
    assert!(saw_expunge, "session a should learn of b's EXPUNGE on NOOP");

    let idle = a.idle().await.expect("idle");
    b.append(&mailbox, "\\Flagged", &message(6))
        .await
        .expect("append b");
    let mut saw_exists = false;
    for _ in 0..50 {
        match a
            .next_event_within(Duration::from_millis(200))
            .await
            .expect("idle read")
        {
            Some(e)
                if matches!(
                    &e.kind,
                    EventKind::Server {
                        message: ServerMessage::Exists(5),
                        ..
                    }
                ) =>
            {
                saw_exists = true;
                break;
            }
            _ => {}
        }
    }
    assert!(saw_exists, "IDLE should report the new message as EXISTS 5");
    a.done(&idle).await.expect("done");
    a.command_ok("FETCH 5 (UID FLAGS)")
        .await
        .expect("fetch new");
    a.command_ok("UID SEARCH ALL").await.expect("search");

    let mut c = Session::connect(&tls, "c", &rec, &opts)
        .await
        .expect("connect c (IMAPS)");
    c.login("alice", "alicepw").await.expect("login c");
    c.command_ok(&format!("EXAMINE {mailbox}"))
        .await
        .expect("examine c");
    c.command_ok("FETCH 1:* (UID FLAGS)")
        .await
        .expect("fetch c");
    c.logout().await.expect("logout c");

    b.logout().await.expect("logout b");
    a.command_ok("UNSELECT").await.expect("unselect");
    a.command_ok(&format!("DELETE {mailbox}"))
        .await
        .expect("delete");
    a.logout().await.expect("logout a");

    let live = {
        let mut r = rec.lock().expect("recorder");
        r.flush().expect("flush");
        r.checker.finish();
        r.checker.findings.list.clone()
    };
    assert!(
        live.is_empty(),
        "Dovecot should pass every check; findings: {live:#?}"
    );

    let offline = check_log(&path, &Limits::default(), 1000);
    assert!(offline.error.is_none(), "{:?}", offline.error);
    assert_eq!(offline.findings, live, "live and offline findings differ");
    assert!(
        offline.events > 60,
        "the transcript holds the whole run ({} events)",
        offline.events
    );
    let text = std::fs::read_to_string(&path).expect("transcript");
    assert!(text.contains("[b] == tls"), "STARTTLS is recorded");
    assert!(
        text.contains("[a] S: * 3 EXPUNGE"),
        "the EXPUNGE is recorded"
    );
}
