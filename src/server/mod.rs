//! The reference IMAP + SMTP server (`imapspec serve`, and embedded in `imapspec run`).
//!
//! `Server::start(Config)` binds the listeners (IMAP with STARTTLS, IMAPS, SMTP),
//! spawns one task per connection, and returns a `Handle` with the bound
//! addresses and a clean `shutdown`. The server shares only `wire`, `clock` and
//! `source` with the harness; it never looks at the model or the checks.
//! Shutdown follows mini-redis: a watch channel tells every connection to say BYE
//! and stop; nothing is lost because every change is durable before it is
//! acknowledged.

pub mod faults;
pub mod imap;
pub mod message;
pub mod search;
pub mod seqset;
pub mod smtp;
pub mod sort;
pub mod store;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::Clock;
use faults::{Fault, Faults};
use imap::{ServerCtx, ServerLimits};
use store::Store;

/// RFC 3501 5.4: an inactivity autologout timer must be at least 30 minutes.
pub const MIN_AUTOLOGOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    /// Storage quota in bytes.
    pub quota: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub imap: Option<SocketAddr>,
    pub imaps: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    pub users: Vec<User>,
    pub data_dir: Option<PathBuf>,
    pub faults: Vec<Fault>,
    pub ready_file: Option<PathBuf>,
    pub clock: Clock,
    /// Never below 30 minutes (use the `autologout` fault for shorter).
    pub autologout: Duration,
    pub keepalive: Duration,
    /// PEM certificate chain and key; a self-signed pair is made when absent.
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    /// Mail to load at start: a folder tree `USER/MAILBOX/*.eml` or an mbox file
    /// (then into `preload_user`'s INBOX).
    pub preload: Option<PathBuf>,
    pub limits: ServerLimits,
    /// A personal namespace prefix ending in its delimiter (`INBOX.`), as
    /// Courier and Cyrus without altnamespace have: NAMESPACE and LIST report
    /// it, and CREATE outside it is refused. None: `(("" "/"))`.
    pub personal_namespace: Option<String>,
    /// How the durable store syncs its journal (group commit unless a
    /// benchmark asks for one fsync per record).
    pub journal_sync: store::SyncMode,
    /// A new account gets Sent, Drafts, Trash, Junk and Archive, each with
    /// its special-use attribute (RFC 6154 2), as Dovecot's and Cyrus's
    /// usual setups give; `imapspec serve --no-default-mailboxes` turns it off.
    pub default_mailboxes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            imap: None,
            imaps: None,
            smtp: None,
            users: Vec::new(),
            data_dir: None,
            faults: Vec::new(),
            ready_file: None,
            clock: Clock::real(),
            autologout: MIN_AUTOLOGOUT,
            keepalive: Duration::from_secs(120),
            tls_cert: None,
            preload: None,
            limits: ServerLimits::default(),
            personal_namespace: None,
            journal_sync: store::SyncMode::Group,
            default_mailboxes: true,
        }
    }
}

/// A running server.
pub struct Handle {
    pub imap: Option<SocketAddr>,
    pub imaps: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    pub store: Arc<Store>,
    pub clock: Clock,
    admission: Arc<imap::admission::Admission>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Handle {
    /// The listening addresses, one line each, as written to `--ready-file`.
    pub fn ready_lines(&self) -> String {
        let mut s = String::new();
        for (name, addr) in [
            ("imap", self.imap),
            ("imaps", self.imaps),
            ("smtp", self.smtp),
        ] {
            if let Some(a) = addr {
                s.push_str(&format!("{name} {a}\n"));
            }
        }
        s
    }

    /// IMAP and IMAPS connections open now (as the connection caps count them).
    pub fn imap_connections(&self) -> usize {
        self.admission.open()
    }

    /// Tells every connection to say BYE and stop, and stops the listeners.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        // Give connections a moment to send their BYE.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug)]
pub struct ServerError(pub String);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServerError {}

pub struct Server;

impl Server {
    pub async fn start(config: Config) -> Result<Handle, ServerError> {
        let store = match &config.data_dir {
            Some(dir) => {
                Store::open_with(dir, config.journal_sync)
                    .map_err(|e| ServerError(format!("data dir {}: {e}", dir.display())))?
                    .0
            }
            None => Store::memory(),
        };
        let store = Arc::new(store);
        for u in &config.users {
            let new = store
                .add_user(&u.name, &u.password, u.quota)
                .map_err(|e| ServerError(format!("cannot add user {}: {e}", u.name)))?;
            if new && config.default_mailboxes {
                let prefix = config.personal_namespace.as_deref().unwrap_or("");
                store
                    .create_default_mailboxes(&u.name, prefix)
                    .map_err(|e| ServerError(format!("cannot make {}'s mailboxes: {e}", u.name)))?;
            }
        }
        if let Some(p) = &config.preload {
            preload(&store, p, &config.users).map_err(ServerError)?;
        }
        store.set_uid_reuse(config.faults.contains(&Fault::UidReuse));
        let tls = Arc::new(tls::server_config(config.tls_cert.as_ref()).map_err(ServerError)?);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let faults = Faults(config.faults.clone());
        let mut ctx = ServerCtx::new(
            Arc::clone(&store),
            faults.clone(),
            config.clock.clone(),
            Some(Arc::clone(&tls)),
            config.autologout.max(MIN_AUTOLOGOUT),
            config.keepalive,
            config.limits.clone(),
            rx.clone(),
        );
        ctx.personal_namespace = config.personal_namespace.clone();
        let ctx = Arc::new(ctx);
        let mut tasks = Vec::new();
        let mut bound = [None, None, None];
        for (i, addr) in [config.imap, config.imaps, config.smtp]
            .into_iter()
            .enumerate()
        {
            let Some(addr) = addr else { continue };
            let listener =
                listen(addr).map_err(|e| ServerError(format!("cannot listen on {addr}: {e}")))?;
            bound[i] = listener.local_addr().ok();
            let task = match i {
                0 | 1 => {
                    let ctx = Arc::clone(&ctx);
                    let implicit = i == 1;
                    tokio::spawn(accept_loop(listener, move |sock, peer| {
                        // Counted from accept on: the caps bound sockets held,
                        // TLS handshakes and greetings included.
                        let admitted = ctx.admission.admit(peer.ip());
                        let ctx = Arc::clone(&ctx);
                        tokio::spawn(imap::serve_connection(sock, ctx, implicit, admitted));
                    }))
                }
                _ => {
                    let delivery = Arc::new(StoreDelivery {
                        store: Arc::clone(&store),
                        permanent: faults.has(&Fault::OverquotaPermanent),
                    });
                    let smtp_cfg = Arc::new(smtp::SmtpConfig {
                        tls: Some(Arc::clone(&tls)),
                        ..smtp::SmtpConfig::new("localhost")
                    });
                    let rx = rx.clone();
                    // SMTP has its own places under the same caps as IMAP.
                    let admission = imap::admission::Admission::new(
                        config.limits.max_connections,
                        config.limits.max_connections_per_ip,
                    );
                    let write_timeout = config.limits.write_timeout;
                    tokio::spawn(accept_loop(listener, move |sock, peer| {
                        let admitted = admission.admit(peer.ip());
                        let (d, c, mut rx) =
                            (Arc::clone(&delivery), Arc::clone(&smtp_cfg), rx.clone());
                        tokio::spawn(async move {
                            let Ok(_permit) = admitted else {
                                return refuse_smtp(sock, write_timeout).await;
                            };
                            let _ = smtp::serve_connection(sock, c, d, async move {
                                let _ = rx.changed().await;
                            })
                            .await;
                        });
                    }))
                }
            };
            tasks.push(task);
        }
        let handle = Handle {
            imap: bound[0],
            imaps: bound[1],
            smtp: bound[2],
            store,
            clock: config.clock.clone(),
            admission: Arc::clone(&ctx.admission),
            shutdown: tx,
            tasks,
        };
        if let Some(f) = &config.ready_file {
            let tmp = f.with_extension("tmp");
            std::fs::write(&tmp, handle.ready_lines())
                .and_then(|_| std::fs::rename(&tmp, f))
                .map_err(|e| {
                    ServerError(format!("cannot write the ready file {}: {e}", f.display()))
                })?;
        }
        Ok(handle)
    }
}

/// A listener with a backlog deep enough for thousands of clients connecting at
/// once (the default of 128 drops SYNs and costs each a 1 s retry).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Accepts until the task is aborted; a failed accept (out of file descriptors)
/// backs off instead of spinning.
async fn accept_loop(
    listener: TcpListener,
    mut on: impl FnMut(tokio::net::TcpStream, SocketAddr) + Send + 'static,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                backoff = Duration::from_millis(10);
                on(sock, peer);
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// An SMTP connection over the caps: RFC 5321 3.1 lets a server that will not
/// serve a client open with 421 ("Service not available, closing transmission
/// channel") and close; 4.x.x so the sender retries later.
async fn refuse_smtp(mut sock: tokio::net::TcpStream, write_timeout: Duration) {
    use tokio::io::AsyncWriteExt as _;
    let reply = b"421 4.7.0 Too many connections; try again later\r\n";
    let _ = tokio::time::timeout(write_timeout, async {
        let _ = sock.write_all(reply).await;
        let _ = sock.shutdown().await;
    })
    .await;
}

/// SMTP delivery into the store's INBOX.
struct StoreDelivery {
    store: Arc<Store>,
    permanent: bool,
}

impl smtp::Delivery for StoreDelivery {
    fn user_exists(&self, user: &str) -> bool {
        self.store.user_exists(user)
    }

    fn deliver(&self, user: &str, message: &[u8]) -> Result<(), smtp::DeliveryError> {
        let now = chrono::Utc::now().timestamp();
        match self.store.append(
            user,
            "INBOX",
            Arc::from(message),
            store::FlagSet::default(),
            (now, 0),
            false,
        ) {
            Ok(_) => Ok(()),
            Err(store::StoreError::OverQuota) if self.permanent => {
                Err(smtp::DeliveryError::OverQuotaPermanent)
            }
            Err(store::StoreError::OverQuota) => Err(smtp::DeliveryError::OverQuotaTemporary),
            Err(e) => Err(smtp::DeliveryError::Io(e.to_string())),
        }
    }
}

/// Loads `USER/MAILBOX/*.eml` folders, or an mbox file into the first user's INBOX.
fn preload(store: &Store, path: &std::path::Path, users: &[User]) -> Result<(), String> {
    let now = chrono::Utc::now().timestamp();
    let add = |user: &str, mailbox: &str, data: Vec<u8>| -> Result<(), String> {
        if store.mailbox(user, mailbox).is_none() {
            store
                .create(user, mailbox)
                .map_err(|e| format!("preload: cannot create {user}/{mailbox}: {e}"))?;
        }
        store
            .append(
                user,
                mailbox,
                Arc::from(crlf(&data)),
                store::FlagSet::default(),
                (now, 0),
                false,
            )
            .map(|_| ())
            .map_err(|e| format!("preload: cannot store into {user}/{mailbox}: {e}"))
    };
    if path.is_file() {
        let user = users
            .first()
            .map(|u| u.name.clone())
            .ok_or("preload of an mbox needs a --user")?;
        let text = std::fs::read(path).map_err(|e| format!("preload {}: {e}", path.display()))?;
        for msg in split_mbox(&text) {
            add(&user, "INBOX", msg)?;
        }
        return Ok(());
    }
    let users_dir =
        std::fs::read_dir(path).map_err(|e| format!("preload {}: {e}", path.display()))?;
    for u in users_dir.flatten() {
        let user = u.file_name().to_string_lossy().to_string();
        if !store.user_exists(&user) {
            return Err(format!(
                "preload: folder {} names no user given with --user",
                u.path().display()
            ));
        }
        for mb in std::fs::read_dir(u.path())
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let mailbox = mb.file_name().to_string_lossy().to_string();
            let mut files: Vec<_> = std::fs::read_dir(mb.path())
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|f| f.path())
                .collect();
            files.sort();
            for f in files
                .into_iter()
                .filter(|f| f.extension().is_some_and(|e| e == "eml"))
            {
                let data =
                    std::fs::read(&f).map_err(|e| format!("preload {}: {e}", f.display()))?;
                add(&user, &mailbox, data)?;
            }
        }
    }
    Ok(())
}

fn split_mbox(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(m);
            }
            cur = Some(Vec::new());
            continue;
        }
        let line = line
            .strip_prefix(b">")
            .filter(|l| l.starts_with(b"From "))
            .unwrap_or(line);
        cur.get_or_insert_with(Vec::new).extend_from_slice(line);
    }
    out.extend(cur);
    out.into_iter()
        .filter(|m| !m.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// Line ends as CRLF, as IMAP requires of stored messages.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}
