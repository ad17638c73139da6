//! The durable store under a crash: SIGKILL the server during concurrent APPENDs
//! and SMTP deliveries, restart it on the same data dir, and every acknowledged
//! message is there exactly once, whole, with UIDs never reused and UIDVALIDITY
//! unchanged.

mod support;

use std::collections::HashMap;
use std::io::BufWriter;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imapspec::event::EventKind;
use imapspec::runner::recorder::Recorder;
use imapspec::session::{Session, SessionOptions};
use imapspec::wire::{RespCode, ServerMessage, StatusKind};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

struct Running {
    child: Child,
    imap: String,
    smtp: String,
}

fn start(dir: &Path) -> Running {
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new(env!("CARGO_BIN_EXE_imapspec"))
        .args([
            "serve",
            "--imap",
            "127.0.0.1:0",
            "--smtp",
            "127.0.0.1:0",
            "--user",
            "alice:alicepw",
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn imapspec serve");
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string))
            };
            if let (Some(imap), Some(smtp)) = (get("imap"), get("smtp")) {
                return Running { child, imap, smtp };
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not write its ready file");
}

fn message(id: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nTo: alice@localhost\r\nSubject: {id}\r\nMessage-ID: <{id}@crash>\r\n\r\nbody of {id}\r\nEND-OF-MESSAGE\r\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_appends_and_deliveries_loses_nothing_acknowledged() {
    support::install_tls_provider();
    let dir = support::temp_dir("durable");
    let server = start(&dir);
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let rec = Recorder::new(Box::new(BufWriter::new(std::io::sink())), "crash").expect("recorder");
    let url: imapspec::session::ServerUrl = format!("imap://{}", server.imap).parse().expect("url");
    let opts = SessionOptions::default();

    let validity_before = {
        let mut s = Session::connect(&url, "probe", &rec, &opts)
            .await
            .expect("connect");
        s.login("alice", "alicepw").await.expect("login");
        let r = s.command_ok("SELECT INBOX").await.expect("select");
        uid_validity(&r.untagged).expect("UIDVALIDITY")
    };

    let mut tasks = Vec::new();
    for w in 0..3 {
        let (acked, rec, url) = (acked.clone(), rec.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let opts = SessionOptions::default();
            let Ok(mut s) = Session::connect(&url, &format!("w{w}"), &rec, &opts).await else {
                return;
            };
            if s.login("alice", "alicepw").await.is_err() {
                return;
            }
            for i in 0..400 {
                let id = format!("imap-{w}-{i}");
                match s.append("INBOX", "", &message(&id)).await {
                    Ok(r) if r.status == StatusKind::Ok => acked.lock().expect("lock").push(id),
                    _ => return,
                }
            }
        }));
    }
    {
        let acked = acked.clone();
        let smtp = server.smtp.clone();
        tasks.push(tokio::spawn(async move {
            let (host, port) = smtp.rsplit_once(':').expect("addr");
            let port: u16 = port.parse().expect("port");
            let mailer: AsyncSmtpTransport<Tokio1Executor> =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(port)
                    .timeout(Some(Duration::from_secs(5)))
                    .build();
            for i in 0..400 {
                let id = format!("smtp-{i}");
                let envelope = lettre::address::Envelope::new(
                    Some("a@example.org".parse().expect("from")),
                    vec!["alice@localhost".parse().expect("to")],
                )
                .expect("envelope");
                match mailer.send_raw(&envelope, &message(&id)).await {
                    Ok(_) => acked.lock().expect("lock").push(id),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut server = server;
    // SIGKILL: no chance to flush or say goodbye.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGKILL);
    }
    let _ = server.child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    eprintln!("acknowledged before SIGKILL: {} messages", acked.len());
    assert!(
        acked.len() > 20,
        "some messages were acknowledged before the kill ({})",
        acked.len()
    );

    let mut server = start(&dir);
    let url: imapspec::session::ServerUrl = format!("imap://{}", server.imap).parse().expect("url");
    let mut s = Session::connect(&url, "check", &rec, &opts)
        .await
        .expect("reconnect");
    s.login("alice", "alicepw").await.expect("login");
    let sel = s.command_ok("SELECT INBOX").await.expect("select");
    assert_eq!(
        uid_validity(&sel.untagged),
        Some(validity_before),
        "UIDVALIDITY unchanged"
    );
    let r = s
        .command_ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
        .await
        .expect("fetch");
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut last_uid = 0;
    for e in &r.untagged {
        let EventKind::Server {
            message: ServerMessage::Fetch { uid: Some(uid), .. },
            ..
        } = &e.kind
        else {
            continue;
        };
        assert!(*uid > last_uid, "UIDs ascend and are never reused");
        last_uid = *uid;
        let raw = String::from_utf8_lossy(&e.raw);
        let subject = raw
            .split("Subject: ")
            .nth(1)
            .and_then(|s| s.split("\r\n").next())
            .expect("subject")
            .to_string();
        assert!(
            raw.contains(&format!("body of {subject}\r\nEND-OF-MESSAGE")),
            "message {subject} is whole"
        );
        *seen.entry(subject).or_insert(0) += 1;
    }
    for id in &acked {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "{id} was acknowledged: it must be there exactly once"
        );
    }
    assert!(seen.values().all(|&n| n == 1), "no duplicates");
    let next = s
        .command_ok("STATUS INBOX (UIDNEXT)")
        .await
        .expect("status");
    drop(next);
    let _ = s
        .append("INBOX", "", &message("after-restart"))
        .await
        .expect("append after restart");
    let r = s.command_ok("UID FETCH * (UID)").await.expect("fetch last");
    let new_uid = r.untagged.iter().find_map(|e| match &e.kind {
        EventKind::Server {
            message: ServerMessage::Fetch { uid: Some(u), .. },
            ..
        } => Some(*u),
        _ => None,
    });
    assert!(
        new_uid.is_some_and(|u| u > last_uid),
        "a new message gets a UID above every earlier one"
    );
    let _ = s.logout().await;
    let _ = server.child.kill();
    let _ = server.child.wait();
}

fn uid_validity(events: &[imapspec::event::Event]) -> Option<u32> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Server {
            message:
                ServerMessage::Status {
                    code: Some(RespCode::UidValidity(v)),
                    ..
                },
            ..
        } => Some(*v),
        _ => None,
    })
}
