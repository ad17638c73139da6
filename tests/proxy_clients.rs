//! Real clients through `imapspec proxy`, TLS terminated by the proxy: mbsync
//! (isync) with STARTTLS against the reference server with a fault on (the
//! fault's check is printed while mbsync is still running, and `imapspec
//! check` on the proxy's transcripts finds the same), against the correct
//! server (no finding), and against Dovecot when there is one (no finding);
//! fetchmail with STARTTLS against the faulted server. Skipped when the client
//! is missing, unless `IMAPSPEC_REQUIRE_MBSYNC=1` / `IMAPSPEC_REQUIRE_FETCHMAIL=1`.

mod proxy_support;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use imapspec::clock::Clock;
use proxy_support::Live;

fn have_mbsync() -> bool {
    if Command::new("mbsync").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("IMAPSPEC_REQUIRE_MBSYNC").as_deref() != Ok("1"),
        "IMAPSPEC_REQUIRE_MBSYNC=1 but mbsync is not installed (apt-get install -y isync)"
    );
    eprintln!("note: mbsync not installed (apt-get install -y isync); test not run");
    false
}

/// Runs mbsync once through the proxy on `port` (STARTTLS, the proxy's
/// certificate trusted); returns when it ended, after checking it succeeded.
async fn mbsync(dir: &Path, port: u16, user: &str, pass: &str) -> Instant {
    let maildir = dir.join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir");
    let rc = dir.join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount test\nHost localhost\nPort {port}\nUser {user}\nPass {pass}\n\
             SSLType STARTTLS\nCertificateFile {}\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nSync All\nExpunge Both\nSyncState *\n",
            dir.join("cert.pem").display(),
            maildir.display(),
            maildir.display()
        ),
    )
    .expect("rc");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("mbsync").arg("-c").arg(&rc).arg("-a").output()
    })
    .await
    .expect("join")
    .expect("mbsync runs");
    let ended = Instant::now();
    assert!(
        out.status.success(),
        "mbsync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |d: &str| {
        std::fs::read_dir(maildir.join("INBOX").join(d))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    assert!(
        count("cur") + count("new") >= 2,
        "mbsync fetched the messages"
    );
    ended
}

async fn through_proxy(faults: &[&str]) -> (Live, Vec<imapspec::finding::Finding>, Instant) {
    let h = support::start_server(faults, Clock::real(), None).await;
    support::seed_inbox(&h.store, 3, "m", "m");
    let dir = support::temp_dir("proxy-mbsync");
    let live = Live::default();
    let p = proxy_support::start(&format!("imap://{}", h.imap.expect("imap")), &dir, &live).await;
    let ended = mbsync(&dir, p.addr.expect("plain").port(), "alice", "alicepw").await;
    let found = p.shutdown().await;
    h.shutdown().await;
    for t in proxy_support::transcripts(&dir) {
        let text = std::fs::read_to_string(&t).expect("transcript");
        assert!(
            text.contains("] == tls"),
            "mbsync's STARTTLS, terminated: {text}"
        );
        assert!(!text.contains("alicepw"), "{text}");
    }
    proxy_support::assert_offline_identical(&dir, &found);
    (live, found, ended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_with_starttls_shows_the_fault_live() {
    if !have_mbsync() {
        return;
    }
    let (live, found, ended) = through_proxy(&["flags-without-backslash"]).await;
    let at = live.printed_at("flags.system-backslash");
    assert!(
        at.is_some_and(|t| t < ended),
        "printed while mbsync ran: {}",
        live.text()
    );
    assert!(live.text().contains("client impact"), "{}", live.text());
    assert!(found.iter().any(|f| f.check == "flags.system-backslash"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_with_starttls_against_the_correct_server_finds_nothing() {
    if !have_mbsync() {
        return;
    }
    let (live, found, _) = through_proxy(&[]).await;
    assert!(found.is_empty(), "{}", live.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_with_starttls_against_dovecot_finds_nothing() {
    if !have_mbsync() {
        return;
    }
    let Some(d) = support::dovecot() else { return };
    let dir = support::temp_dir("proxy-mbsync-dovecot");
    let live = Live::default();
    // Something to fetch.
    let up: imapspec::session::ServerUrl = d.imap.parse().expect("url");
    let append = format!(
        "import imaplib\nc = imaplib.IMAP4('{}', {})\nc.login('alice', 'alicepw')\n\
         [c.append('INBOX', None, None, b'From: a@x\\r\\nSubject: d%d\\r\\n\\r\\nbody\\r\\n' % i) for i in range(2)]\nc.logout()\n",
        up.host, up.port
    );
    let ok = Command::new("python3")
        .args(["-c", &append])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "seeding Dovecot");
    let p = proxy_support::start(&d.imap, &dir, &live).await;
    mbsync(&dir, p.addr.expect("plain").port(), "alice", "alicepw").await;
    let found = p.shutdown().await;
    assert!(found.is_empty(), "{}", live.text());
    proxy_support::assert_offline_identical(&dir, &found);
    let t = proxy_support::transcripts(&dir);
    assert!(!t.is_empty());
    let text = std::fs::read_to_string(&t[0]).expect("transcript");
    assert!(text.contains("] == tls"), "{text}");
}

/// fetchmail (Debian's `fetchmail`) with STARTTLS required, through the proxy
/// to the reference server with `flags-without-backslash` on: it fetches the
/// messages and the fault's check is printed before fetchmail ends. Skipped
/// when fetchmail is missing, unless `IMAPSPEC_REQUIRE_FETCHMAIL=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetchmail_with_starttls_shows_the_fault_live() {
    if Command::new("fetchmail").arg("--version").output().is_err() {
        assert!(
            std::env::var("IMAPSPEC_REQUIRE_FETCHMAIL").as_deref() != Ok("1"),
            "IMAPSPEC_REQUIRE_FETCHMAIL=1 but fetchmail is not installed (apt-get install -y fetchmail)"
        );
        eprintln!("note: fetchmail not installed (apt-get install -y fetchmail); test not run");
        return;
    }
    let h = support::start_server(&["flags-without-backslash"], Clock::real(), None).await;
    support::seed_inbox(&h.store, 3, "m", "m");
    let dir = support::temp_dir("proxy-fetchmail");
    let live = Live::default();
    let p = proxy_support::start(&format!("imap://{}", h.imap.expect("imap")), &dir, &live).await;
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).expect("out");
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\nset logfile {}\n\
             poll localhost port {} protocol IMAP timeout 20\n  user \"alice\" password \"alicepw\"\n  \
             sslproto 'TLS1.2+' sslcertck sslcertfile {}\n  keep fetchall\n  mda \"cat >> {}/mbox\"\n",
            dir.join("fetchmail.log").display(),
            p.addr.expect("plain").port(),
            dir.join("cert.pem").display(),
            out_dir.display()
        ),
    )
    .expect("rc");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).expect("mode 600");
    let home = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("fetchmail")
            .env("HOME", &home)
            .env("FETCHMAILHOME", &home)
            .args(["-f"])
            .arg(&rc)
            .args(["--nodetach", "-v"])
            .output()
    })
    .await
    .expect("join")
    .expect("fetchmail runs");
    let ended = Instant::now();
    let log = std::fs::read_to_string(dir.join("fetchmail.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "fetchmail: {}{}{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mbox = std::fs::read_to_string(out_dir.join("mbox")).unwrap_or_default();
    assert_eq!(mbox.matches("Message-ID: <m").count(), 3, "{mbox}");
    let found = p.shutdown().await;
    h.shutdown().await;
    assert!(
        live.printed_at("flags.system-backslash")
            .is_some_and(|t| t < ended),
        "printed while fetchmail ran: {}",
        live.text()
    );
    assert!(found.iter().any(|f| f.check == "flags.system-backslash"));
    for t in proxy_support::transcripts(&dir) {
        let text = std::fs::read_to_string(&t).expect("transcript");
        assert!(
            text.contains("] == tls"),
            "fetchmail's STARTTLS, terminated: {text}"
        );
        assert!(!text.contains("alicepw"), "{text}");
    }
    proxy_support::assert_offline_identical(&dir, &found);
}
