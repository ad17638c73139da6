//! Shared test helpers: a private Dovecot on loopback, and temp folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Dovecot {
    pub imap: String,
    pub imaps: String,
}

/// The Dovecot under test: from `IMAPSPEC_DOVECOT_IMAP`/`_IMAPS` (CI starts it),
/// else started here with `tests/dovecot/dovecot.sh` if Dovecot is installed.
/// `None` (and a note on stderr) when there is none, unless
/// `IMAPSPEC_REQUIRE_DOVECOT=1`, which makes that a failure.
pub fn dovecot() -> Option<&'static Dovecot> {
    static DOVECOT: OnceLock<Option<Dovecot>> = OnceLock::new();
    let found = DOVECOT.get_or_init(|| {
        if let (Ok(imap), Ok(imaps)) = (
            std::env::var("IMAPSPEC_DOVECOT_IMAP"),
            std::env::var("IMAPSPEC_DOVECOT_IMAPS"),
        ) {
            return Some(Dovecot { imap, imaps });
        }
        let installed = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
            .iter()
            .any(|p| std::path::Path::new(p).exists());
        if !installed {
            return None;
        }
        let dir = temp_dir("dovecot");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/dovecot/dovecot.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "could not start Dovecot: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            return None;
        }
        let env = std::fs::read_to_string(dir.join("env")).ok()?;
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
        };
        Some(Dovecot {
            imap: get("IMAPSPEC_DOVECOT_IMAP")?,
            imaps: get("IMAPSPEC_DOVECOT_IMAPS")?,
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("IMAPSPEC_REQUIRE_DOVECOT").as_deref() != Ok("1"),
            "IMAPSPEC_REQUIRE_DOVECOT=1 but no Dovecot: set IMAPSPEC_DOVECOT_IMAP/_IMAPS or install dovecot-imapd"
        );
        eprintln!("note: no Dovecot here (apt-get install -y dovecot-imapd); Dovecot test not run");
    }
    found.as_ref()
}

/// A fresh folder under the target dir for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Starts the reference server in-process on loopback ports with alice/bob.
pub async fn start_server(
    faults: &[&str],
    clock: imapspec::clock::Clock,
    data_dir: Option<PathBuf>,
) -> imapspec::server::Handle {
    install_tls_provider();
    let config = imapspec::server::Config {
        imap: "127.0.0.1:0".parse().ok(),
        imaps: "127.0.0.1:0".parse().ok(),
        smtp: "127.0.0.1:0".parse().ok(),
        users: vec![
            imapspec::server::User {
                name: "alice".into(),
                password: "alicepw".into(),
                quota: None,
            },
            imapspec::server::User {
                name: "bob".into(),
                password: "bobpw".into(),
                quota: Some(2000),
            },
        ],
        data_dir,
        faults: faults.iter().map(|f| f.parse().expect("fault")).collect(),
        clock,
        ..imapspec::server::Config::default()
    };
    imapspec::server::Server::start(config)
        .await
        .expect("server starts")
}

/// A real server started by one of the `tests/<server>/<server>.sh` scripts, as
/// its `DIR/env` describes it (see `tests/peers/common.sh`).
pub struct Peer {
    pub imap: String,
    pub imaps: Option<String>,
    pub users: Vec<(String, String)>,
    pub admin: Option<(String, String)>,
}

/// The real server `name` (`CYRUS`, `COURIER`) from `IMAPSPEC_<NAME>_IMAP`,
/// `_IMAPS`, `_USERS`, `_PASSWORDS` and `_ADMIN_USER`/`_ADMIN_PASSWORD` (CI
/// sources the script's `DIR/env`). `None` (and a note on stderr) when they are
/// not set, unless `IMAPSPEC_REQUIRE_<NAME>=1`, which makes that a failure.
pub fn peer(name: &str) -> Option<Peer> {
    let get = |k: &str| std::env::var(format!("IMAPSPEC_{name}_{k}")).ok();
    let required = std::env::var(format!("IMAPSPEC_REQUIRE_{name}")).as_deref() == Ok("1");
    let script = name.to_lowercase();
    let Some(imap) = get("IMAP") else {
        assert!(
            !required,
            "IMAPSPEC_REQUIRE_{name}=1 but IMAPSPEC_{name}_IMAP is not set: \
             start tests/{script}/{script}.sh start DIR and source DIR/env"
        );
        eprintln!(
            "note: IMAPSPEC_{name}_IMAP not set (tests/{script}/{script}.sh start DIR, \
             then source DIR/env); {name} test not run"
        );
        return None;
    };
    let list = |k: &str| -> Vec<String> {
        get(k)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let (users, passwords) = (list("USERS"), list("PASSWORDS"));
    assert!(
        users.len() >= 2 && users.len() == passwords.len(),
        "IMAPSPEC_{name}_USERS / _PASSWORDS: want 2+ users with one password each, got {users:?} and {} passwords",
        passwords.len()
    );
    Some(Peer {
        imap,
        imaps: get("IMAPS"),
        users: users.into_iter().zip(passwords).collect(),
        admin: get("ADMIN_USER").zip(get("ADMIN_PASSWORD")),
    })
}

/// The DOM headless Chromium renders for `page?query`, or None without Chromium
/// (an error when IMAPSPEC_REQUIRE_CHROMIUM=1).
pub fn chromium_dom(page: &Path, query: &str) -> Option<String> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        assert!(
            std::env::var("IMAPSPEC_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "IMAPSPEC_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("note: chromium not installed; HTML filters not tried in a browser");
        return None;
    };
    let profile = temp_dir("chromium-gate");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}{query}", page.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && l.contains("ERROR"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Keeps a run's JSON report for the published matrix: `.ci/run` sets
/// IMAPSPEC_MATRIX_DIR and merges what the real-server tests leave there into
/// reports/matrix.* (and compares it with the committed one).
pub fn keep_for_matrix(report: &Path, server_name: &str) {
    let Some(dir) = std::env::var_os("IMAPSPEC_MATRIX_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create IMAPSPEC_MATRIX_DIR");
    std::fs::copy(report, dir.join(format!("{server_name}.json"))).expect("keep the report");
}

/// Runs the built `imapspec ARGS`; returns (exit code, stdout, stderr).
pub fn imapspec(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_imapspec"))
        .args(args)
        .output()
        .expect("run imapspec");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Appends `n` small messages to alice's INBOX: `Subject: {subject} i`,
/// `Message-ID: <{id}i@x>`, body `body i`.
pub fn seed_inbox(store: &imapspec::server::store::Store, n: u32, subject: &str, id: &str) {
    for i in 1..=n {
        let data = format!(
            "From: a@x\r\nSubject: {subject} {i}\r\nMessage-ID: <{id}{i}@x>\r\n\r\nbody {i}\r\n"
        );
        store
            .append(
                "alice",
                "INBOX",
                data.as_bytes().into(),
                Default::default(),
                (1_700_000_000, 0),
                false,
            )
            .expect("append");
    }
}
