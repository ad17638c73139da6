//! The reference server's limits (`ServerLimits`), each shown firing on a hostile
//! client and quiet on a well-behaved one: the pre-login literal flood, the
//! whole-command bound, the client that never reads a big FETCH, the connection
//! caps, the pre-login timeout, the AUTHENTICATE line over the limit and the
//! mailbox-name checks.
//!
//! Memory is measured exactly, not by RSS: this test binary counts every byte
//! its allocator hands out (the server runs in-process), and the tests take
//! turns so one test's peak is its own.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use imapspec::clock::Clock;
use imapspec::server::imap::ServerLimits;
use imapspec::server::{Config, Handle, Server, User};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{peak, reset_peak};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

const MB: usize = 1024 * 1024;

/// The tests of this binary run one at a time (peaks are per test).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

async fn start(limits: ServerLimits, clock: Clock) -> Handle {
    support::install_tls_provider();
    let config = Config {
        imap: "127.0.0.1:0".parse().ok(),
        users: vec![User {
            name: "alice".into(),
            password: "alicepw".into(),
            quota: None,
        }],
        clock,
        limits,
        ..Config::default()
    };
    Server::start(config).await.expect("server starts")
}

/// A raw client: bytes as written, lines as read, every read bounded in time.
struct Raw {
    s: BufReader<TcpStream>,
}

const READ_WAIT: Duration = Duration::from_secs(20);

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Self::connect_from(addr, "127.0.0.1").await
    }

    /// Connects from a given loopback address (all of 127/8 is loopback).
    async fn connect_from(addr: SocketAddr, from: &str) -> Raw {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.bind(format!("{from}:0").parse().expect("addr"))
            .expect("bind");
        let s = tokio::time::timeout(READ_WAIT, sock.connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Raw {
            s: BufReader::new(s),
        }
    }

    async fn send(&mut self, b: &[u8]) {
        self.s.get_mut().write_all(b).await.expect("write");
    }

    /// One line; "" at EOF.
    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(READ_WAIT, self.s.read_until(b'\n', &mut buf))
            .await
            .expect("a line in time")
            .unwrap_or(0);
        if n == 0 {
            return String::new();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Lines up to and including the one starting with `tag ` (or EOF).
    async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let l = self.line().await;
            let done = l.is_empty() || l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                break;
            }
        }
        out
    }

    /// True if the server closes the connection (after any bytes still sent).
    async fn closed(&mut self) -> bool {
        let mut sink = vec![0u8; 64 * 1024];
        for _ in 0..100_000 {
            match tokio::time::timeout(READ_WAIT, self.s.read(&mut sink)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
        false
    }

    async fn login(&mut self) {
        let g = self.line().await;
        assert!(g.starts_with("* OK"), "greeting: {g}");
        self.send(b"l LOGIN alice alicepw\r\n").await;
        let r = self.until_tagged("l").await;
        assert!(
            r.last().is_some_and(|l| l.starts_with("l OK")),
            "login: {r:?}"
        );
    }
}

/// Waits (bounded) until the server holds `n` IMAP connections.
async fn wait_connections(h: &Handle, n: usize) -> bool {
    for _ in 0..600 {
        if h.imap_connections() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prelogin_literal_flood_is_refused_when_announced() {
    let _serial = serial().await;
    let h = start(ServerLimits::default(), Clock::real()).await;
    let addr = h.imap.expect("imap");
    let base = reset_peak();

    // A synchronising 64 MiB literal before login: refused at once, no `+`.
    let mut c = Raw::connect(addr).await;
    c.line().await;
    c.send(b"a LOGIN {67108864}\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("a NO [TOOBIG]"), "sync literal refused: {r}");
    assert!(r.contains("before login"), "{r}");

    // Many non-synchronising 64 MiB literals in one command: the first
    // announcement ends the connection with BYE, before any of it is read.
    let mut flood = b"b LOGIN {67108864+}\r\n".to_vec();
    for _ in 0..31 {
        flood.extend_from_slice(&[b'x'; 4096]);
        flood.extend_from_slice(b" {67108864+}\r\n");
    }
    c.send(&flood).await;
    let r = c.line().await;
    assert!(r.starts_with("* BYE [TOOBIG]"), "flood ends with BYE: {r}");
    assert!(c.closed().await, "and the connection is closed");

    // Many empty literals cannot make a pre-login command big either.
    let mut c = Raw::connect(addr).await;
    c.line().await;
    let mut empties = b"e LOGIN {0+}\r\n".to_vec();
    for _ in 0..20_000 {
        empties.extend_from_slice(b" {0+}\r\n");
    }
    c.send(&empties).await;
    let r = c.line().await;
    assert!(r.starts_with("* BYE [TOOBIG]"), "empty literals: {r}");

    // The budget is per connection, across commands: two LOGINs with 3 KB
    // literals fit in no 4 KiB budget.
    let mut c = Raw::connect(addr).await;
    c.line().await;
    for (tag, ok) in [("c1", true), ("c2", false)] {
        c.send(format!("{tag} LOGIN {{3000}}\r\n").as_bytes()).await;
        let r = c.line().await;
        if ok {
            assert!(r.starts_with('+'), "within budget: {r}");
            c.send(&[b'u'; 3000]).await;
            c.send(b" nopass\r\n").await;
            let r = c.line().await;
            assert!(r.starts_with("c1 NO [AUTHENTICATIONFAILED]"), "{r}");
        } else {
            assert!(r.starts_with("c2 NO [TOOBIG]"), "over budget: {r}");
        }
    }
    // A LOGIN with small literals still works on this same connection.
    c.send(b"c3 LOGIN {5}\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(b"alice alicepw\r\n").await;
    let r = c.until_tagged("c3").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c3 OK")), "{r:?}");
    // After login a big literal is fine: APPEND of 1 MB.
    c.send(format!("c4 APPEND INBOX {{{}}}\r\n", MB).as_bytes())
        .await;
    assert!(c.line().await.starts_with('+'));
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    m.resize(MB, b'y');
    c.send(&m).await;
    c.send(b"\r\n").await;
    let r = c.until_tagged("c4").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c4 OK")), "{r:?}");

    // The flood cost nothing near one 64 MiB literal (the APPEND did 1 MB).
    let grew = peak().saturating_sub(base);
    assert!(grew < 16 * MB, "peak grew by {} MB", grew / MB);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_bounded_with_all_its_literals() {
    let _serial = serial().await;
    let limits = ServerLimits {
        max_literal: 80_000,
        max_command: 100_000,
        ..ServerLimits::default()
    };
    let h = start(limits, Clock::real()).await;
    let mut c = Raw::connect(h.imap.expect("imap")).await;
    c.login().await;
    // RFC 7889: the literal limit is the APPENDLIMIT announced.
    c.send(b"k CAPABILITY\r\n").await;
    let caps = c.until_tagged("k").await.join("\n");
    assert!(caps.contains(" APPENDLIMIT=80000"), "{caps}");
    // Each literal is under the literal limit; together they are over the
    // command limit: the second is refused when announced.
    c.send(b"r RENAME {60000}\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(&[b'a'; 60000]).await;
    c.send(b" {60000}\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("r NO [TOOBIG] Command of more than"), "{r}");
    // One literal over the literal limit (the APPENDLIMIT): refused with
    // the tagged NO [TOOBIG] instead of `+`, before a byte of it is sent.
    c.send(b"s APPEND INBOX {90000}\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("s NO [TOOBIG] Literal of 90000 bytes"), "{r}");
    // A MULTIAPPEND whose messages are each within it but together over the
    // command limit: refused at the second announcement, nothing stored.
    c.send(b"m APPEND INBOX {60000}\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(&[b'a'; 60000]).await;
    c.send(b" {60000}\r\n").await;
    let r = c.line().await;
    assert!(r.starts_with("m NO [TOOBIG] Command of more than"), "{r}");
    assert_eq!(
        h.store
            .mailbox("alice", "INBOX")
            .map(|m| m.lock().messages.len()),
        Some(0)
    );
    // The connection goes on.
    c.send(b"n NOOP\r\n").await;
    let r = c.until_tagged("n").await;
    assert!(r.last().is_some_and(|l| l.starts_with("n OK")), "{r:?}");
    h.shutdown().await;
}

/// A server with `n` messages of `size` bytes in alice's INBOX and a short
/// write timeout (real time: it guards against a peer, see `ServerLimits`).
async fn big_mailbox(n: usize, size: usize) -> Handle {
    big_mailbox_with(n, size, Duration::from_secs(1)).await
}

async fn big_mailbox_with(n: usize, size: usize, write_timeout: Duration) -> Handle {
    let limits = ServerLimits {
        write_timeout,
        ..ServerLimits::default()
    };
    let h = start(limits, Clock::real()).await;
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    m.resize(size, b'z');
    let body: Arc<[u8]> = Arc::from(m);
    for _ in 0..n {
        h.store
            .append(
                "alice",
                "INBOX",
                Arc::clone(&body),
                Default::default(),
                (0, 0),
                false,
            )
            .expect("append");
    }
    h
}

/// Sends `command` and never reads: the server's memory must stay bounded, it
/// must go on serving others, and close this connection after the write timeout.
async fn never_read(h: &Handle, command: &str, full_answer: usize) {
    let addr = h.imap.expect("imap");
    let mut c = Raw::connect(addr).await;
    c.login().await;
    c.send(b"s SELECT INBOX\r\n").await;
    c.until_tagged("s").await;
    let base = reset_peak();
    c.send(command.as_bytes()).await;

    // Meanwhile another client is served.
    let mut other = Raw::connect(addr).await;
    other.login().await;
    other.send(b"o1 SELECT INBOX\r\no2 NOOP\r\n").await;
    let r = other.until_tagged("o2").await;
    assert!(r.last().is_some_and(|l| l.starts_with("o2 OK")), "{r:?}");

    // The stalled answer ends with its connection after the write timeout.
    assert!(
        wait_connections(h, 1).await,
        "the non-reading connection was not closed ({} open)",
        h.imap_connections()
    );
    let grew = peak().saturating_sub(base);
    eprintln!(
        "{}: peak allocation +{} KB while stalled (answer {} MB)",
        &command.trim_end()[..command.trim_end().len().min(40)],
        grew / 1024,
        full_answer / MB
    );
    assert!(
        grew < 32 * MB,
        "the stalled FETCH held {} MB (the whole answer is {} MB)",
        grew / MB,
        full_answer / MB
    );
    // What the client can still read is what the kernel had buffered, not
    // the whole answer, and then the close.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(READ_WAIT, c.s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("no close after the write timeout"),
        }
    }
    assert!(got < full_answer, "read {got} of {full_answer} bytes");
    other.send(b"o3 LOGOUT\r\n").await;
    other.until_tagged("o3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_a_big_fetch_is_bounded_and_closed() {
    let _serial = serial().await;
    let h = big_mailbox(100, MB).await;
    never_read(&h, "f FETCH 1:* BODY[]\r\n", 100 * MB).await;
    h.shutdown().await;
}

/// The write timeout is on progress, not on the whole answer: a client that
/// reads slowly but steadily (about 640 KB/s here, 32 KiB every 50 ms) gets
/// all of an 8 MB FETCH, which takes it several times the 3 s write timeout
/// beyond what the kernel buffers (a few MB on loopback). Progress is seen at
/// the kernel's granularity: a full send buffer of S bytes turns writable
/// again only when about S/3 has drained, so the timeout must cover that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_reader_gets_the_whole_answer() {
    let _serial = serial().await;
    let h = big_mailbox_with(8, MB, Duration::from_secs(3)).await;
    let mut c = Raw::connect(h.imap.expect("imap")).await;
    c.login().await;
    c.send(b"s SELECT INBOX\r\n").await;
    c.until_tagged("s").await;
    c.send(b"f FETCH 1:* BODY.PEEK[]\r\n").await;
    let started = std::time::Instant::now();
    let mut got = 0usize;
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    while started.elapsed() < Duration::from_secs(120) {
        let n = match tokio::time::timeout(READ_WAIT, c.s.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        got += n;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
        if tail.windows(5).any(|w| w == b"f OK ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        tail.windows(5).any(|w| w == b"f OK "),
        "the slow reader was cut off after {} KB of {} MB",
        got / 1024,
        8
    );
    assert!(got > 8 * MB);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_item_named_many_times_is_streamed() {
    let _serial = serial().await;
    let h = big_mailbox(1, MB).await;
    let items = vec!["BODY.PEEK[]"; 300].join(" ");
    never_read(&h, &format!("f FETCH 1 ({items})\r\n"), 300 * MB).await;
    // A client that reads gets every item whole.
    let mut c = Raw::connect(h.imap.expect("imap")).await;
    c.login().await;
    c.send(b"s SELECT INBOX\r\ng FETCH 1 (BODY.PEEK[] BODY.PEEK[]<0.5>)\r\n")
        .await;
    c.until_tagged("s").await;
    let head = c.line().await;
    assert!(head.ends_with(&format!("BODY[] {{{MB}}}\r\n")), "{head}");
    let mut body = vec![0u8; MB];
    c.s.read_exact(&mut body).await.expect("literal");
    assert!(body.starts_with(b"Subject: big") && body.ends_with(b"zzz"));
    let rest = c.line().await;
    assert_eq!(rest, " BODY[]<0> {5}\r\n");
    let r = c.until_tagged("g").await;
    assert!(r[0].starts_with("Subje)"), "{r:?}");
    assert!(r.last().is_some_and(|l| l.starts_with("g OK")), "{r:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_answer_bye_unavailable() {
    let _serial = serial().await;
    let limits = ServerLimits {
        max_connections: 3,
        max_connections_per_ip: 2,
        ..ServerLimits::default()
    };
    let h = start(limits, Clock::real()).await;
    let addr = h.imap.expect("imap");
    let mut a1 = Raw::connect_from(addr, "127.0.0.1").await;
    let mut a2 = Raw::connect_from(addr, "127.0.0.1").await;
    assert!(a1.line().await.starts_with("* OK"));
    assert!(a2.line().await.starts_with("* OK"));
    // A third from the same address: over the per-IP cap.
    let mut a3 = Raw::connect_from(addr, "127.0.0.1").await;
    let r = a3.line().await;
    assert!(r.starts_with("* BYE [UNAVAILABLE]"), "per-IP cap: {r}");
    assert!(r.contains("from 127.0.0.1"), "{r}");
    assert!(a3.closed().await);
    // Another address still gets in, up to the global cap.
    let mut b1 = Raw::connect_from(addr, "127.0.0.2").await;
    assert!(b1.line().await.starts_with("* OK"));
    let mut c1 = Raw::connect_from(addr, "127.0.0.3").await;
    let r = c1.line().await;
    assert!(r.starts_with("* BYE [UNAVAILABLE]"), "global cap: {r}");
    assert!(c1.closed().await);
    // A place given back is free again.
    a1.send(b"x LOGOUT\r\n").await;
    assert!(a1.closed().await);
    assert!(wait_connections(&h, 2).await);
    let mut c2 = Raw::connect_from(addr, "127.0.0.3").await;
    assert!(c2.line().await.starts_with("* OK"));
    c2.login_after_greeting().await;
    h.shutdown().await;
}

impl Raw {
    async fn login_after_greeting(&mut self) {
        self.send(b"l LOGIN alice alicepw\r\n").await;
        let r = self.until_tagged("l").await;
        assert!(r.last().is_some_and(|l| l.starts_with("l OK")), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_does_not_log_in_is_closed_with_bye() {
    let _serial = serial().await;
    // 60 s of virtual time pass in 1 s.
    let clock = Clock::compressed(60.0);
    let h = start(ServerLimits::default(), clock).await;
    let addr = h.imap.expect("imap");
    // Commands before login do not put the deadline off: it runs from connect.
    let mut c = Raw::connect(addr).await;
    c.line().await;
    let mut bye = None;
    for i in 0..2000 {
        c.send(format!("n{i} NOOP\r\n").as_bytes()).await;
        let r = c.until_tagged(&format!("n{i}")).await;
        if let Some(b) = r.iter().find(|l| l.starts_with("* BYE")) {
            bye = Some(b.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let bye = bye.expect("a BYE before login times out");
    assert!(bye.contains("Not logged in within 1m"), "{bye}");
    assert!(c.closed().await);

    // A logged-in session has the 30-minute autologout, not the login timeout:
    // after two and a half virtual minutes of silence it is still served.
    let mut d = Raw::connect(addr).await;
    d.login().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    d.send(b"n NOOP\r\n").await;
    let r = d.until_tagged("n").await;
    assert!(r.last().is_some_and(|l| l.starts_with("n OK")), "{r:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticate_response_over_the_limit_gets_a_tagged_bad() {
    let _serial = serial().await;
    let h = start(ServerLimits::default(), Clock::real()).await;
    let mut c = Raw::connect(h.imap.expect("imap")).await;
    c.line().await;
    c.send(b"a AUTHENTICATE PLAIN\r\n").await;
    assert!(c.line().await.starts_with('+'));
    let mut huge = vec![b'A'; 70_000];
    huge.extend_from_slice(b"\r\n");
    c.send(&huge).await;
    let r = c.line().await;
    assert!(
        r.starts_with("a BAD [TOOBIG]"),
        "tagged BAD, no silent close: {r}"
    );
    // The connection goes on, and a proper AUTHENTICATE still works.
    c.send(b"b AUTHENTICATE PLAIN\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(b"AGFsaWNlAGFsaWNlcHc=\r\n").await; // "\0alice\0alicepw"
    let r = c.until_tagged("b").await;
    assert!(r.last().is_some_and(|l| l.starts_with("b OK")), "{r:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_that_names_a_mailbox_checks_the_name() {
    let _serial = serial().await;
    let h = start(ServerLimits::default(), Clock::real()).await;
    let mut c = Raw::connect(h.imap.expect("imap")).await;
    c.login().await;
    let ok = "a".repeat(1000);
    let long = "b".repeat(1001);
    let huge = "c".repeat(60_000);
    c.send(format!("k1 CREATE {ok}\r\nk2 CREATE x\r\nk3 SELECT INBOX\r\n").as_bytes())
        .await;
    for tag in ["k1", "k2", "k3"] {
        let r = c.until_tagged(tag).await;
        assert!(
            r.last()
                .is_some_and(|l| l.starts_with(&format!("{tag} OK"))),
            "{r:?}"
        );
    }
    // The same limit for every command (RENAME accepted what CREATE refused).
    for (i, cmd) in [
        format!("CREATE {long}"),
        format!("RENAME x {long}"),
        format!("RENAME x {huge}"),
        format!("RENAME {long} y"),
        format!("SELECT {long}"),
        format!("EXAMINE {long}"),
        format!("DELETE {long}"),
        format!("SUBSCRIBE {long}"),
        format!("UNSUBSCRIBE {long}"),
        format!("STATUS {long} (MESSAGES)"),
        format!("LIST \"\" {long}"),
        format!("LSUB {long} *"),
        format!("COPY 1:* {long}"),
        format!("MOVE 1:* {long}"),
        format!("GETQUOTAROOT {long}"),
        format!("APPEND {long} {{1}}\r\nx"),
    ]
    .iter()
    .enumerate()
    {
        let tag = format!("n{i}");
        c.send(format!("{tag} {cmd}\r\n").as_bytes()).await;
        let r = c.until_tagged(&tag).await;
        let last = r.last().cloned().unwrap_or_default();
        assert!(
            last.starts_with(&format!("{tag} NO [LIMIT] Mailbox name of")),
            "{}: {last}",
            &cmd[..cmd.len().min(20)]
        );
    }
    // Invalid UTF-8 is refused, not turned into U+FFFD (two such names would
    // have become one mailbox).
    for (tag, bad) in [("u1", &b"caf\xe9"[..]), ("u2", &b"caf\xff"[..])] {
        c.send(format!("{tag} CREATE {{{}}}\r\n", bad.len()).as_bytes())
            .await;
        assert!(c.line().await.starts_with('+'));
        c.send(bad).await;
        c.send(b"\r\n").await;
        let r = c.until_tagged(tag).await;
        let last = r.last().cloned().unwrap_or_default();
        assert!(last.starts_with(&format!("{tag} BAD")), "{last}");
        assert!(last.contains("UTF-8"), "{last}");
    }
    c.send(b"l LIST \"\" *\r\n").await;
    let r = c.until_tagged("l").await;
    assert!(
        !r.iter()
            .any(|l| l.contains('\u{fffd}') || l.contains("caf")),
        "{r:?}"
    );
    // INBOX, the two names made here, and a new account's five defaults.
    assert_eq!(r.iter().filter(|l| l.starts_with("* LIST")).count(), 3 + 5);
    // A 1,000-byte name renames to another.
    let ok2 = "d".repeat(1000);
    c.send(format!("r RENAME {ok} {ok2}\r\n").as_bytes()).await;
    let r = c.until_tagged("r").await;
    assert!(r.last().is_some_and(|l| l.starts_with("r OK")), "{r:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_connections_over_the_cap_get_421() {
    let _serial = serial().await;
    let config = Config {
        smtp: "127.0.0.1:0".parse().ok(),
        users: vec![User {
            name: "alice".into(),
            password: "alicepw".into(),
            quota: None,
        }],
        limits: ServerLimits {
            max_connections_per_ip: 1,
            ..ServerLimits::default()
        },
        ..Config::default()
    };
    support::install_tls_provider();
    let h = Server::start(config).await.expect("server starts");
    let addr = h.smtp.expect("smtp");
    let mut first = Raw::connect(addr).await;
    let g = first.line().await;
    assert!(g.starts_with("220"), "within the cap: {g}");
    let mut second = Raw::connect(addr).await;
    let r = second.line().await;
    assert!(r.starts_with("421 4.7.0"), "over the cap: {r}");
    assert!(second.closed().await);
    first.send(b"QUIT\r\n").await;
    assert!(first.line().await.starts_with("221"));
    assert!(first.closed().await);
    // The place is free again once the first has gone (bounded wait).
    let mut ok = false;
    for _ in 0..100 {
        let mut again = Raw::connect(addr).await;
        if again.line().await.starts_with("220") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a new SMTP connection after the first one closed");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imaps_connection_over_the_cap_hears_its_bye_inside_tls() {
    let _serial = serial().await;
    support::install_tls_provider();
    let config = Config {
        imaps: "127.0.0.1:0".parse().ok(),
        users: vec![User {
            name: "alice".into(),
            password: "alicepw".into(),
            quota: None,
        }],
        limits: ServerLimits {
            max_connections: 1,
            ..ServerLimits::default()
        },
        ..Config::default()
    };
    let h = Server::start(config).await.expect("server starts");
    let url: imapspec::session::ServerUrl = format!("imaps://{}", h.imaps.expect("imaps"))
        .parse()
        .expect("url");
    let rec = imapspec::runner::recorder::Recorder::new(
        Box::new(std::io::BufWriter::new(std::io::sink())),
        "limits",
    )
    .expect("recorder");
    let opts = imapspec::session::SessionOptions {
        insecure: true,
        ..Default::default()
    };
    let first = imapspec::session::Session::connect(&url, "a", &rec, &opts)
        .await
        .expect("within the cap");
    let second = imapspec::session::Session::connect(&url, "b", &rec, &opts).await;
    let err = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("greeted with BYE") && err.contains("Too many connections"),
        "over the cap, a BYE read through TLS: {err}"
    );
    drop(first);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_held_by_all_connections_are_bounded_together() {
    let _serial = serial().await;
    let limits = ServerLimits {
        max_literals_in_flight: 100_000,
        ..ServerLimits::default()
    };
    let h = start(limits, Clock::real()).await;
    let addr = h.imap.expect("imap");
    let mut a = Raw::connect(addr).await;
    a.login().await;
    let mut b = Raw::connect(addr).await;
    b.login().await;
    // A holds 80,000 bytes of the budget from its `+` on, while the literal
    // arrives.
    a.send(b"a APPEND INBOX {80000}\r\n").await;
    assert!(a.line().await.starts_with('+'));
    let mut m = b"Subject: held\r\n\r\n".to_vec();
    m.resize(80_000, b'h');
    a.send(&m[..40_000]).await;
    b.send(b"b APPEND INBOX {80000}\r\n").await;
    let r = b.line().await;
    assert!(
        r.starts_with("b NO [UNAVAILABLE]"),
        "over the shared budget: {r}"
    );
    // Once A's command is done its share is free again.
    a.send(&m[40_000..]).await;
    a.send(b"\r\n").await;
    let r = a.until_tagged("a").await;
    assert!(r.last().is_some_and(|l| l.starts_with("a OK")), "{r:?}");
    b.send(b"c APPEND INBOX {80000}\r\n").await;
    assert!(b.line().await.starts_with('+'), "the budget was given back");
    b.send(&m).await;
    b.send(b"\r\n").await;
    let r = b.until_tagged("c").await;
    assert!(r.last().is_some_and(|l| l.starts_with("c OK")), "{r:?}");
    h.shutdown().await;
}

/// What an idle connection costs starts with its task's future: the largest
/// state any connection can be in is allocated for every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_task_stays_small() {
    let _serial = serial().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let client = TcpStream::connect(addr).await.expect("connect");
    let (server, peer) = listener.accept().await.expect("accept");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let ctx = Arc::new(imapspec::server::imap::ServerCtx::new(
        Arc::new(imapspec::server::store::Store::memory()),
        imapspec::server::faults::Faults(Vec::new()),
        Clock::real(),
        None,
        Duration::from_secs(1800),
        Duration::from_secs(120),
        ServerLimits::default(),
        rx,
    ));
    let admitted = ctx.admission.admit(peer.ip());
    let task = imapspec::server::imap::serve_connection(server, Arc::clone(&ctx), false, admitted);
    let size = std::mem::size_of_val(&task);
    eprintln!("connection task future: {size} bytes");
    // Debug builds lay futures out larger than release; 4 KiB leaves no room
    // for a stack buffer held across an await.
    assert!(size < 4096, "a connection task's future is {size} bytes");
    drop(task);
    drop(client);
}
