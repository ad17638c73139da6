//! COMPRESS=DEFLATE (RFC 4978) in the reference server, on the wire: the RFC's
//! example exchange (STARTTLS, LOGIN, COMPRESS), a mobile client's session
//! through compression (SELECT, FETCH, IDLE woken by another session's
//! APPEND), the refusals (a second COMPRESS, an unknown algorithm, before
//! login, STARTTLS after it), a compression bomb answered within the line
//! limit in bounded memory, and a corrupt stream answered with BYE.
//!
//! The client here is raw bytes over loopback with the crate's own
//! `wire::deflate`, so what is asserted is what a client sees after inflating.

mod support;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::time::Duration;

use imapspec::clock::Clock;
use imapspec::wire::deflate::{Deflater, Inflater};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// Bound on any one answer: a hang guard, not a speed assertion.
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

struct Client {
    stream: Option<Box<dyn Duplex>>,
    z: Option<(Inflater, Deflater)>,
    /// Bytes received (inflated once compression is on), not yet taken.
    plain: Vec<u8>,
    /// Compressed bytes not yet inflated.
    raw: Vec<u8>,
    next: u32,
}

struct Answer {
    untagged: Vec<String>,
    tagged: String,
}

impl Answer {
    fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }
}

impl Client {
    async fn connect(h: &imapspec::server::Handle) -> Client {
        let tcp = TcpStream::connect(h.imap.expect("imap"))
            .await
            .expect("connect");
        let mut c = Client::over(Box::new(tcp));
        let greeting = c.line().await.expect("greeting");
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c
    }

    fn over(stream: Box<dyn Duplex>) -> Client {
        Client {
            stream: Some(stream),
            z: None,
            plain: Vec::new(),
            raw: Vec::new(),
            next: 1,
        }
    }

    async fn login(h: &imapspec::server::Handle) -> Client {
        let mut c = Client::connect(h).await;
        let a = c.cmd("LOGIN alice alicepw").await;
        assert_eq!(a.status(), "OK", "{}", a.tagged);
        c
    }

    fn stream(&mut self) -> &mut Box<dyn Duplex> {
        self.stream.as_mut().expect("connected")
    }

    async fn send(&mut self, bytes: &[u8]) {
        let wire = match self.z.as_mut() {
            Some((_, d)) => {
                let mut w = Vec::new();
                d.compress(bytes, &mut w).expect("compress");
                w
            }
            None => bytes.to_vec(),
        };
        self.send_wire(&wire).await;
    }

    /// Bytes as they go on the wire, whatever compression says.
    async fn send_wire(&mut self, wire: &[u8]) {
        let s = self.stream();
        s.write_all(wire).await.expect("write");
        s.flush().await.expect("flush");
    }

    /// One line (literals inlined), or `None` once the server closed.
    async fn line(&mut self) -> Option<String> {
        let mut out = Vec::new();
        loop {
            let Some(at) = memchr(&self.plain) else {
                if !self.fill().await {
                    return None;
                }
                continue;
            };
            let mut l: Vec<u8> = self.plain.drain(..=at).collect();
            if let Some(n) = literal_len(&l) {
                while self.plain.len() < n {
                    if !self.fill().await {
                        return None;
                    }
                }
                l.extend(self.plain.drain(..n));
                out.extend(l);
                continue;
            }
            out.extend(l);
            return Some(String::from_utf8_lossy(&out).trim_end().to_string());
        }
    }

    /// Reads more; false at EOF.
    async fn fill(&mut self) -> bool {
        let mut buf = vec![0u8; 16 * 1024];
        let n = tokio::time::timeout(ANSWER_WITHIN, self.stream().read(&mut buf))
            .await
            .expect("the server answers in time")
            .unwrap_or(0);
        if n == 0 {
            return false;
        }
        match self.z.as_mut() {
            None => self.plain.extend_from_slice(&buf[..n]),
            Some((i, _)) => {
                self.raw.extend_from_slice(&buf[..n]);
                loop {
                    let (taken, produced) = i
                        .inflate(&self.raw, &mut self.plain, 64 * 1024)
                        .expect("the server's stream inflates");
                    self.raw.drain(..taken);
                    if taken == 0 && produced == 0 {
                        break;
                    }
                }
            }
        }
        true
    }

    async fn answer(&mut self, tag: &str) -> Answer {
        let mut untagged = Vec::new();
        loop {
            let l = self.line().await.expect("the tagged answer");
            if l.starts_with(&format!("{tag} ")) {
                return Answer {
                    untagged,
                    tagged: l,
                };
            }
            untagged.push(l);
        }
    }

    async fn cmd(&mut self, command: &str) -> Answer {
        let tag = format!("t{}", self.next);
        self.next += 1;
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.answer(&tag).await
    }

    /// COMPRESS DEFLATE, and compression on both ways after its OK.
    async fn compress(&mut self) -> Answer {
        let a = self.cmd("COMPRESS DEFLATE").await;
        assert_eq!(a.status(), "OK", "{}", a.tagged);
        assert!(self.plain.is_empty(), "nothing plain after the OK");
        self.z = Some((Inflater::new(), Deflater::new()));
        a
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?;
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&c| c == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

async fn server() -> imapspec::server::Handle {
    support::start_server(&[], Clock::real(), None).await
}

#[tokio::test]
async fn rfc_4978_example_exchange() {
    // RFC 4978 3's example: STARTTLS, LOGIN (whose OK lists
    // COMPRESS=DEFLATE), then COMPRESS DEFLATE answered OK.
    let h = server().await;
    let mut tcp = TcpStream::connect(h.imap.expect("imap"))
        .await
        .expect("connect");
    let greeting = raw_line(&mut tcp).await;
    assert!(greeting.contains("STARTTLS"), "{greeting}");
    // Not before login: `command-auth =/ compress`.
    assert!(!greeting.contains("COMPRESS=DEFLATE"), "{greeting}");
    tcp.write_all(b"t1 STARTTLS\r\n").await.expect("write");
    let ok = raw_line(&mut tcp).await;
    assert!(ok.starts_with("t1 OK"), "{ok}");
    let connector = imapspec::session::connect::tls_connector(true).expect("tls");
    let name = imapspec::session::connect::server_name("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let mut c = Client::over(Box::new(tls));
    c.next = 2;
    let a = c.cmd("LOGIN alice alicepw").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    assert!(a.tagged.contains("COMPRESS=DEFLATE"), "{}", a.tagged);
    let a = c.compress().await;
    assert_eq!(a.tagged, "t3 OK DEFLATE active");
    // Inside TLS and DEFLATE: the session goes on.
    let a = c.cmd("NOOP").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    let a = c.cmd("CAPABILITY").await;
    assert!(
        a.untagged
            .iter()
            .any(|l| l.starts_with("* CAPABILITY") && !l.contains("COMPRESS=DEFLATE")),
        "COMPRESS=DEFLATE is not offered once on: {:?}",
        a.untagged
    );
    let a = c.cmd("LOGOUT").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    assert!(a.untagged.iter().any(|l| l.starts_with("* BYE")));
}

/// One line read a byte at a time (nothing read past it: TLS comes next).
async fn raw_line(tcp: &mut TcpStream) -> String {
    let mut l = Vec::new();
    let mut b = [0u8; 1];
    while !l.ends_with(b"\n") {
        let n = tokio::time::timeout(ANSWER_WITHIN, tcp.read(&mut b))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(n, 1, "the server closed");
        l.push(b[0]);
    }
    String::from_utf8_lossy(&l).trim_end().to_string()
}

#[tokio::test]
async fn select_fetch_idle_through_compression() {
    let h = server().await;
    support::seed_inbox(&h.store, 3, "Mobile", "m");
    let mut c = Client::login(&h).await;
    c.compress().await;
    let a = c.cmd("SELECT INBOX").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    assert!(
        a.untagged.iter().any(|l| l == "* 3 EXISTS"),
        "{:?}",
        a.untagged
    );
    let a = c
        .cmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])")
        .await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    let fetches: Vec<_> = a
        .untagged
        .iter()
        .filter(|l| l.contains(" FETCH "))
        .collect();
    assert_eq!(fetches.len(), 3, "{:?}", a.untagged);
    assert!(fetches[2].contains("Subject: Mobile 3"), "{}", fetches[2]);

    c.send(b"t9 IDLE\r\n").await;
    let cont = c.line().await.expect("continuation");
    assert!(cont.starts_with('+'), "{cont}");
    // New mail from another (plain) session reaches the compressed IDLE.
    let mut other = Client::login(&h).await;
    let body = "From: b@x\r\nSubject: New\r\n\r\nhi\r\n";
    other
        .send(format!("o1 APPEND INBOX {{{}+}}\r\n{body}\r\n", body.len()).as_bytes())
        .await;
    let a = other.answer("o1").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    let mut saw = Vec::new();
    loop {
        let l = c.line().await.expect("an IDLE update");
        let done = l == "* 4 EXISTS";
        saw.push(l);
        if done {
            break;
        }
        assert!(saw.len() < 10, "{saw:?}");
    }
    c.send(b"DONE\r\n").await;
    let a = c.answer("t9").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    let a = c
        .cmd("UID FETCH 4 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(
        a.untagged.iter().any(|l| l.contains("Subject: New")),
        "{:?}",
        a.untagged
    );
    let a = c.cmd("LOGOUT").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
}

#[tokio::test]
async fn refusals() {
    let h = server().await;
    let mut c = Client::connect(&h).await;
    // Before login: an authenticated-state command.
    let a = c.cmd("COMPRESS DEFLATE").await;
    assert_eq!(a.status(), "NO", "{}", a.tagged);
    let a = c.cmd("LOGIN alice alicepw").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    // "BAD Command unknown, invalid or unknown argument, ..."
    let a = c.cmd("COMPRESS LZ4").await;
    assert_eq!(a.status(), "BAD", "{}", a.tagged);
    c.compress().await;
    // "... or COMPRESS already active."
    let a = c.cmd("COMPRESS DEFLATE").await;
    assert_eq!(a.status(), "BAD", "{}", a.tagged);
    assert!(a.tagged.contains("[COMPRESSIONACTIVE]"), "{}", a.tagged);
    let a = c.cmd("STARTTLS").await;
    assert_eq!(a.status(), "BAD", "{}", a.tagged);
    // Still compressed and working.
    let a = c.cmd("NOOP").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
}

#[tokio::test]
async fn a_compression_bomb_is_answered_within_the_line_limit() {
    let h = server().await;
    let mut c = Client::login(&h).await;
    c.compress().await;
    // 256 MiB of zeros with no line end, then a NOOP: about 256 KB on the
    // wire. Compressed before the measurement starts.
    let mut d = Deflater::new();
    let mut bomb = Vec::new();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        d.compress(&zeros, &mut bomb).expect("compress");
    }
    d.compress(b"\r\nb1 NOOP\r\n", &mut bomb).expect("compress");
    assert!(bomb.len() < 1 << 20, "{} bytes on the wire", bomb.len());
    // Keep the deflater's state for the commands after the bomb.
    c.z = Some((Inflater::new(), d));
    let base = counting_alloc::reset_peak();
    c.send_wire(&bomb).await;
    let refused = c.line().await.expect("an answer");
    assert!(refused.starts_with("* BAD [TOOBIG]"), "{refused}");
    let a = c.answer("b1").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
    let grew = counting_alloc::peak().saturating_sub(base);
    assert!(
        grew < 8 << 20,
        "256 MiB inflated in bounded memory: the peak grew by {grew} bytes"
    );
    let a = c.cmd("NOOP").await;
    assert_eq!(a.status(), "OK", "{}", a.tagged);
}

#[tokio::test]
async fn a_corrupt_stream_gets_bye_and_close() {
    let h = server().await;
    let mut c = Client::login(&h).await;
    c.compress().await;
    // Not DEFLATE: a block type 3 (reserved) in the first byte.
    c.send_wire(&[0xff; 32]).await;
    let bye = c.line().await.expect("a BYE");
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(bye.contains("corrupt"), "{bye}");
    assert_eq!(c.line().await, None, "then the server closes");
}
