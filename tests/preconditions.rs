//! Preconditions, not false violations: the quota scenario against a scripted
//! foreign server that announces only RFC 2087 `QUOTA` and refuses over quota
//! with `NO Over quota` (the form QUOTA-only servers send). RFC 9208 1: "The
//! "QUOTA" capability denotes a server compliant with [RFC2087]. Some
//! responses and response codes defined in this document are not present in
//! such servers ... and clients MUST NOT rely on their presence in the absence
//! of any capability beginning with "QUOTA="."
//!
//! - with no STORAGE limit shown by GETQUOTAROOT, the scenario is skipped with
//!   the reason (the harness cannot set one), never failed;
//! - with a limit it will exceed, it runs, and the missing [OVERQUOTA] is a
//!   note (MAY there), not a violation nor a warning, and is counted once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use imapspec::finding::Level;
use imapspec::runner::{self, Account, RunOptions, RunReport, Status, Target};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the scripted server answers GETQUOTAROOT and counts stored bytes.
#[derive(Clone, Copy)]
struct Script {
    /// STORAGE limit in KiB, or none (GETQUOTAROOT shows a root, no limit).
    limit_kib: Option<u64>,
    /// Announce `QUOTA=RES-STORAGE` too (RFC 9208, where OVERQUOTA is a SHOULD).
    rfc9208: bool,
}

/// One connection of a small RFC 3501 server with RFC 2087 QUOTA: every
/// command completes OK (SELECT with its required responses), APPEND stores
/// until the limit and then answers `NO Over quota`.
async fn serve(stream: TcpStream, script: Script, stored: Arc<AtomicUsize>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"* OK scripted IMAP ready\r\n").await;
    // Bounded: a test session sends a few dozen commands.
    for _ in 0..1000 {
        let mut line = String::new();
        match r.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end().to_string();
        let mut words = line.split_whitespace();
        let tag = words.next().unwrap_or("*").to_string();
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        let mut out = String::new();
        match verb.as_str() {
            "CAPABILITY" if script.rfc9208 => {
                out.push_str("* CAPABILITY IMAP4rev1 QUOTA QUOTA=RES-STORAGE\r\n")
            }
            "CAPABILITY" => out.push_str("* CAPABILITY IMAP4rev1 QUOTA\r\n"),
            "SELECT" | "EXAMINE" => {
                let n = stored.load(Ordering::SeqCst) / 300;
                out.push_str(&format!(
                    "* FLAGS (\\Seen \\Deleted)\r\n* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                    n + 1
                ));
                out.push_str(&format!("{tag} OK [READ-WRITE] done\r\n"));
                let _ = w.write_all(out.as_bytes()).await;
                continue;
            }
            "GETQUOTAROOT" => {
                let used = stored.load(Ordering::SeqCst) as u64 / 1024;
                out.push_str("* QUOTAROOT INBOX \"\"\r\n");
                if let Some(l) = script.limit_kib {
                    out.push_str(&format!("* QUOTA \"\" (STORAGE {used} {l})\r\n"));
                }
            }
            "APPEND" => {
                let size: usize = line
                    .rsplit_once('{')
                    .and_then(|(_, n)| n.trim_end_matches(['}', '+']).parse().ok())
                    .unwrap_or(0);
                if !line.ends_with("+}") {
                    let _ = w.write_all(b"+ go ahead\r\n").await;
                }
                let mut body = vec![0u8; size.min(1 << 20)];
                if r.read_exact(&mut body).await.is_err() {
                    return;
                }
                let mut rest = String::new();
                let _ = r.read_line(&mut rest).await;
                let over = script
                    .limit_kib
                    .is_some_and(|l| (stored.load(Ordering::SeqCst) + size) as u64 > l * 1024);
                if over {
                    out.push_str(&format!("{tag} NO Over quota\r\n"));
                } else {
                    stored.fetch_add(size, Ordering::SeqCst);
                    out.push_str(&format!("{tag} OK APPEND completed\r\n"));
                }
                let _ = w.write_all(out.as_bytes()).await;
                continue;
            }
            "LOGOUT" => {
                let _ = w
                    .write_all(format!("* BYE bye\r\n{tag} OK LOGOUT completed\r\n").as_bytes())
                    .await;
                return;
            }
            _ => {}
        }
        out.push_str(&format!("{tag} OK done\r\n"));
        if w.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn run_against(script: Script) -> RunReport {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenario =
        imapspec::scenario::load(&dir.join("sun-mta/append-over-quota.toml")).expect("parses");
    run_scenario_against(script, scenario).await
}

async fn run_scenario_against(script: Script, scenario: imapspec::scenario::Scenario) -> RunReport {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let stored = Arc::new(AtomicUsize::new(0));
    let accept = tokio::spawn(async move {
        for _ in 0..100 {
            let Ok((c, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(serve(c, script, stored.clone()));
        }
    });
    let target = Target::Foreign {
        url: format!("imap://{addr}").parse().expect("url"),
        tls_url: None,
        accounts: vec![Account {
            user: "u".into(),
            password: "p".into(),
        }],
        smtp: None,
        insecure: true,
        clock: imapspec::clock::Clock::real(),
        admin: None,
    };
    let options = RunOptions {
        jobs: 1,
        max_wait: None,
        transcripts: std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "preconditions-{}-{}-{}",
            script.limit_kib.unwrap_or(0),
            script.rfc9208,
            std::process::id()
        )),
        limits: imapspec::wire::Limits::default(),
        strict: false,
        timeout: None,
        namespace: None,
    };
    let report = runner::run(
        vec![scenario],
        Arc::new(target),
        options,
        Arc::new(|_, _, _| {}),
    )
    .await;
    accept.abort();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_quota_on_the_server_is_a_skip_with_the_reason() {
    let report = run_against(Script {
        limit_kib: None,
        rfc9208: false,
    })
    .await;
    let r = &report.results[0];
    assert_eq!(r.status, Status::Skipped, "{r:?}");
    let why = r.reason.as_deref().unwrap_or("");
    assert!(why.contains("--admin"), "{why}");
    assert!(!report.fails(), "a skip does not fail the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_only_server_refusing_without_overquota_gets_a_note_once() {
    // 2 KiB: the scenario's ~2,100 bytes exceed it, as it was written to.
    let report = run_against(Script {
        limit_kib: Some(2),
        rfc9208: false,
    })
    .await;
    let r = &report.results[0];
    assert_eq!(r.status, Status::Passed, "{r:?}");
    assert!(
        r.findings.is_empty() && r.other_findings.is_empty(),
        "no finding on a QUOTA-only server: {:?} {:?}",
        r.findings,
        r.other_findings
    );
    let notes: Vec<_> = r
        .failures
        .iter()
        .filter(|f| f.level == Level::May)
        .collect();
    assert_eq!(notes.len(), 1, "one refusal, one note: {:?}", r.failures);
    assert!(notes[0].message.contains("OVERQUOTA"), "{:?}", notes[0]);
    assert!(!report.fails());
}

/// Where RFC 9208 applies, the same refusal is a warning — one, from the check
/// that read the response, not a second from the scenario's `on-fail`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rfc9208_server_refusing_without_overquota_is_one_warning() {
    let report = run_against(Script {
        limit_kib: Some(2),
        rfc9208: true,
    })
    .await;
    let r = &report.results[0];
    let quota: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.check == "quota.overquota-code")
        .collect();
    assert_eq!(quota.len(), 1, "{:?}", r.findings);
    assert_eq!(quota[0].severity, imapspec::finding::Severity::Warning);
    assert_eq!(
        r.status,
        Status::Passed,
        "a SHOULD never fails by itself: {r:?}"
    );
    let strict = RunReport {
        strict: true,
        ..report.clone()
    };
    assert!(!report.fails() && strict.fails());
}

/// A cut APPEND needs no LITERAL+: on a server without it (this one), the
/// half literal goes after the server's `+` (RFC 3501 7.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_cut_without_literal_plus_waits_for_the_continuation() {
    let dir = std::env::temp_dir().join(format!("imapspec-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("cut.toml");
    std::fs::write(
        &file,
        "id = \"t/cut\"\ntitle = \"t\"\nclient = \"c\"\nsource = \"s\"\nusers = [\"u\"]\nscript = '''\nopen c\nc: append-cut INBOX cut-1\nc: drop\n'''\n",
    )
    .expect("write");
    let scenario = imapspec::scenario::load(&file).expect("parses");
    let report = run_scenario_against(
        Script {
            limit_kib: None,
            rfc9208: false,
        },
        scenario,
    )
    .await;
    let r = &report.results[0];
    assert_eq!(r.status, Status::Passed, "{r:?}");
    let text =
        std::fs::read_to_string(r.transcript.as_deref().expect("transcript")).expect("readable");
    let append = text
        .lines()
        .position(|l| l.contains("APPEND \"INBOX\" {"))
        .expect("the APPEND line");
    assert!(
        !text.lines().nth(append).unwrap_or("").contains("+}"),
        "{text}"
    );
    let plus = text
        .lines()
        .position(|l| l.contains("S: + go ahead"))
        .expect("the server's continuation");
    let data = text
        .lines()
        .position(|l| l.contains("Subject: cut-1"))
        .expect("half the literal");
    assert!(append < plus && plus < data, "order: {text}");
}
