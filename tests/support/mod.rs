//! Shared test helpers: a private Dovecot on loopback, and temp folders.
#![allow(dead_code)]

use std::path::PathBuf;
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
