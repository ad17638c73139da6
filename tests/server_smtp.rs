//! The SMTP intake (`imapspec::server::smtp`) end to end over loopback: lettre as
//! a real client, and raw sockets for what a polite client never does (overlong
//! lines, pipelining, bare-LF smuggling, plaintext injected after STARTTLS, idling).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imapspec::server::smtp::{serve_connection, Delivery, DeliveryError, SmtpConfig};
use lettre::message::Message;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// In-memory store: a fixed user list, some of them over quota.
#[derive(Default)]
struct Store {
    users: Vec<&'static str>,
    full_for_now: Vec<&'static str>,
    full_for_good: Vec<&'static str>,
    messages: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Store {
    fn new() -> Self {
        Store {
            users: vec!["alice", "bob", "tmpfull", "permfull"],
            full_for_now: vec!["tmpfull"],
            full_for_good: vec!["permfull"],
            messages: Mutex::new(Vec::new()),
        }
    }

    fn messages(&self) -> Vec<(String, Vec<u8>)> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Delivery for Store {
    fn user_exists(&self, user: &str) -> bool {
        self.users.contains(&user)
    }

    fn deliver(&self, user: &str, message: &[u8]) -> Result<(), DeliveryError> {
        if self.full_for_now.contains(&user) {
            return Err(DeliveryError::OverQuotaTemporary);
        }
        if self.full_for_good.contains(&user) {
            return Err(DeliveryError::OverQuotaPermanent);
        }
        self.messages
            .lock()
            .map_err(|e| DeliveryError::Io(e.to_string()))?
            .push((user.to_string(), message.to_vec()));
        Ok(())
    }
}

struct Server {
    addr: SocketAddr,
    store: Arc<Store>,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn start(config: SmtpConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(Store::new());
    let (stop, _) = tokio::sync::watch::channel(false);
    let config = Arc::new(config);
    let (store2, stop2) = (store.clone(), stop.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mut rx = stop2.subscribe();
            let shutdown = async move {
                let _ = rx.wait_for(|stopped| *stopped).await;
            };
            tokio::spawn(serve_connection(
                stream,
                config.clone(),
                store2.clone(),
                shutdown,
            ));
        }
    });
    Server { addr, store, stop }
}

fn config() -> SmtpConfig {
    SmtpConfig::new("mx.test")
}

/// A line-oriented raw client over any stream; every read is bounded in time so
/// a broken server fails the test instead of hanging it.
struct Raw<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    fn new(stream: S) -> Self {
        Raw {
            io: BufReader::new(stream),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    /// One line, CRLF included; empty at EOF.
    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
            .await
            .expect("server answered in time")
            .unwrap();
        line
    }

    /// One whole reply (all lines of a multi-line one), lines without CRLF.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(line.ends_with("\r\n"), "reply line {line:?}");
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// The last line of the next reply.
    async fn last(&mut self) -> String {
        self.reply().await.pop().unwrap_or_default()
    }

    async fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.io.read_to_end(&mut rest))
            .await
            .expect("server closed in time")
            .unwrap();
        assert!(
            rest.is_empty(),
            "after close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

async fn connect(server: &Server) -> Raw<TcpStream> {
    let mut c = Raw::new(TcpStream::connect(server.addr).await.unwrap());
    assert_eq!(c.last().await, "220 mx.test imapspec ESMTP ready");
    c
}

async fn connect_ehlo(server: &Server) -> Raw<TcpStream> {
    let mut c = connect(server).await;
    c.send(b"EHLO client.test\r\n").await;
    assert!(c.last().await.starts_with("250 "));
    c
}

fn mailer(server: &Server) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.addr.port())
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn email(to: &str, body: &str) -> Message {
    Message::builder()
        .from("sender@example.org".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("hello")
        .body(body.to_string())
        .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn lettre_delivers_with_received_header_and_unstuffed_dots() {
    let server = start(config()).await;
    let body = "first line\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n";
    let sent = mailer(&server)
        .send(email("alice@example.org", body))
        .await
        .unwrap();
    assert_eq!(u16::from(sent.code()), 250);
    let messages = server.store.messages();
    assert_eq!(messages.len(), 1);
    let (user, bytes) = &messages[0];
    assert_eq!(user, "alice");
    assert!(bytes.starts_with(b"Received: from "), "{bytes:?}");
    assert!(contains(bytes, b"\tby mx.test (imapspec) with ESMTP;\r\n"));
    assert!(contains(bytes, b"Subject: hello\r\n"));
    // lettre stuffed these lines; the stored copy must be what the author wrote.
    assert!(contains(
        bytes,
        b"\r\nfirst line\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"
    ));
}

#[tokio::test]
async fn lettre_unknown_user_is_550() {
    let server = start(config()).await;
    let err = mailer(&server)
        .send(email("nobody@example.org", "hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(err.status().map(u16::from), Some(550));
    assert!(server.store.messages().is_empty());
}

#[tokio::test]
async fn lettre_temporary_over_quota_is_transient_452() {
    let server = start(config()).await;
    let err = mailer(&server)
        .send(email("tmpfull@example.org", "hi"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.status().map(u16::from), Some(452));
}

#[tokio::test]
async fn lettre_permanent_over_quota_is_552() {
    let server = start(config()).await;
    let err = mailer(&server)
        .send(email("permfull@example.org", "hi"))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(err.status().map(u16::from), Some(552));
}

#[tokio::test]
async fn ehlo_advertises_extensions_and_size() {
    let mut cfg = config();
    cfg.max_message = 12345;
    let server = start(cfg).await;
    let mut c = connect(&server).await;
    c.send(b"EHLO client.test\r\n").await;
    assert_eq!(
        c.reply().await,
        vec![
            "250-mx.test greets client.test",
            "250-PIPELINING",
            "250-8BITMIME",
            "250-SIZE 12345",
            "250 ENHANCEDSTATUSCODES"
        ]
    );
    c.send(b"HELO client.test\r\n").await;
    assert_eq!(c.last().await, "250 mx.test");
    c.send(b"STARTTLS\r\n").await;
    assert!(c.last().await.starts_with("502 5.5.1"));
    c.send(b"VRFY alice\r\n").await;
    assert!(c.last().await.starts_with("252 "));
    c.send(b"QUIT\r\n").await;
    assert_eq!(c.last().await, "221 2.0.0 mx.test closing");
    c.expect_eof().await;
}

#[tokio::test]
async fn bad_sequence_and_unknown_commands() {
    let server = start(config()).await;
    let mut c = connect(&server).await;
    c.send(b"MAIL FROM:<a@b>\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "MAIL before EHLO");
    c.send(b"EHLO client.test\r\n").await;
    c.reply().await;
    c.send(b"RCPT TO:<alice@x>\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "RCPT before MAIL");
    c.send(b"DATA\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "DATA before MAIL");
    c.send(b"MAIL FROM:<a@b>\r\n").await;
    assert_eq!(c.last().await, "250 2.1.0 ok");
    c.send(b"MAIL FROM:<a@b>\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "nested MAIL");
    c.send(b"DATA\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "DATA without RCPT");
    c.send(b"RSET\r\n").await;
    assert_eq!(c.last().await, "250 2.0.0 ok");
    c.send(b"RCPT TO:<alice@x>\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"), "RCPT after RSET");
    c.send(b"XYZZY\r\n").await;
    assert!(c.last().await.starts_with("500 5.5.1"));
    c.send(b"MAIL FROM:a@b\r\n").await;
    assert!(c.last().await.starts_with("501 "));
}

#[tokio::test]
async fn raw_line_over_4096_bytes_is_500_and_session_goes_on() {
    let server = start(config()).await;
    let mut c = connect(&server).await;
    // Exactly 4096 bytes with the CRLF: allowed.
    let mut fits = b"NOOP ".to_vec();
    fits.resize(4096 - 2, b'x');
    fits.extend_from_slice(b"\r\n");
    c.send(&fits).await;
    assert_eq!(c.last().await, "250 2.0.0 ok");
    // One byte more, and then a lot more: rejected once, at the line's end.
    let mut long = b"NOOP ".to_vec();
    long.resize(4096 - 1, b'x');
    long.extend_from_slice(b"\r\n");
    c.send(&long).await;
    assert_eq!(c.last().await, "500 5.5.2 line too long");
    let mut huge = b"NOOP ".to_vec();
    huge.resize(100_000, b'y');
    huge.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&huge).await;
    assert_eq!(c.last().await, "500 5.5.2 line too long");
    assert_eq!(c.last().await, "250 2.0.0 ok");
}

#[tokio::test]
async fn pipelined_transaction() {
    let server = start(config()).await;
    let mut c = connect(&server).await;
    c.send(
        b"EHLO client.test\r\nMAIL FROM:<s@example.org> SIZE=100 BODY=8BITMIME\r\n\
          RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\n\
          RCPT TO:<bob>\r\nDATA\r\n",
    )
    .await;
    assert!(c.last().await.starts_with("250 "));
    assert_eq!(c.last().await, "250 2.1.0 ok");
    assert_eq!(c.last().await, "250 2.1.5 ok");
    assert_eq!(c.last().await, "550 5.1.1 no such user");
    assert_eq!(c.last().await, "250 2.1.5 ok");
    assert!(c.last().await.starts_with("354 "));
    c.send(b"Subject: p\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    assert_eq!(c.last().await, "250 2.0.0 queued");
    assert_eq!(c.last().await, "250 2.0.0 ok");
    assert!(c.last().await.starts_with("221 "));
    c.expect_eof().await;
    let users: Vec<String> = server
        .store
        .messages()
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(users, vec!["alice", "bob"]);
}

#[tokio::test]
async fn bare_lf_dot_does_not_end_data() {
    let server = start(config()).await;
    let mut c = connect_ehlo(&server).await;
    c.send(b"MAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n")
        .await;
    c.last().await;
    c.last().await;
    assert!(c.last().await.starts_with("354 "));
    // Each of `\n.\n`, `\n.\r\n` and `\r\n.\n` would end DATA for some reader;
    // here none does, so the would-be second transaction is message text.
    c.send(
        b"Subject: s\r\n\r\nhello\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n\
          smuggled\n.\r\nmore\r\n.\nend\r\n.\r\nNOOP\r\n",
    )
    .await;
    assert_eq!(c.last().await, "250 2.0.0 queued");
    assert_eq!(c.last().await, "250 2.0.0 ok");
    let messages = server.store.messages();
    assert_eq!(messages.len(), 1);
    let (user, bytes) = &messages[0];
    assert_eq!(user, "alice");
    // Bare LFs are stored as CRLF, and the lone dots are kept as text.
    assert!(
        contains(
            bytes,
            b"\r\nhello\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n\
              smuggled\r\n.\r\nmore\r\n.\r\nend\r\n"
        ),
        "{}",
        String::from_utf8_lossy(bytes)
    );
}

#[tokio::test]
async fn message_size_limit() {
    let mut cfg = config();
    cfg.max_message = 1000;
    let server = start(cfg).await;
    let mut c = connect_ehlo(&server).await;
    c.send(b"MAIL FROM:<s@x> SIZE=1001\r\n").await;
    assert_eq!(c.last().await, "552 5.3.4 message too big");
    c.send(b"MAIL FROM:<s@x> SIZE=99999999999999999999999\r\n")
        .await;
    assert_eq!(c.last().await, "552 5.3.4 message too big");
    c.send(b"MAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n")
        .await;
    c.last().await;
    c.last().await;
    assert!(c.last().await.starts_with("354 "));
    let mut body = Vec::new();
    for _ in 0..30 {
        body.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    body.extend_from_slice(b".\r\nNOOP\r\n");
    c.send(&body).await;
    assert_eq!(c.last().await, "552 5.3.4 message too big");
    assert_eq!(c.last().await, "250 2.0.0 ok");
    assert!(server.store.messages().is_empty());
}

#[tokio::test]
async fn too_many_recipients() {
    let server = start(config()).await;
    let mut c = connect_ehlo(&server).await;
    let mut cmds = b"MAIL FROM:<s@x>\r\n".to_vec();
    for _ in 0..101 {
        cmds.extend_from_slice(b"RCPT TO:<alice@x>\r\n");
    }
    c.send(&cmds).await;
    assert_eq!(c.last().await, "250 2.1.0 ok");
    for _ in 0..100 {
        assert_eq!(c.last().await, "250 2.1.5 ok");
    }
    assert!(c.last().await.starts_with("452 4.5.3"));
}

#[tokio::test]
async fn idle_timeout_is_421() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(1000);
    let server = start(cfg).await;
    let mut c = connect(&server).await;
    assert_eq!(c.last().await, "421 4.4.2 timeout");
    c.expect_eof().await;

    // A line dripped slowly is held to one deadline for the whole line: bytes
    // at 0, 400 and 800 ms get 421 at about 1000 ms, not 1 s after the last byte.
    // (Writes stop before the deadline so no RST can race the 421.)
    let mut c = connect(&server).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        c.send(b"N").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(c.last().await, "421 4.4.2 timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1700),
        "{took:?}"
    );
    c.expect_eof().await;
}

#[tokio::test]
async fn shutdown_is_421() {
    let server = start(config()).await;
    let mut c = connect_ehlo(&server).await;
    server.stop.send_replace(true);
    assert!(c.last().await.starts_with("421 4.3.2"));
    c.expect_eof().await;
}

#[tokio::test]
async fn starttls_discards_plaintext_pipelined_after_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server_tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client_tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut cfg = config();
    cfg.tls = Some(Arc::new(server_tls));
    let server = start(cfg).await;
    let mut c = connect(&server).await;
    c.send(b"EHLO client.test\r\n").await;
    let ehlo = c.reply().await;
    assert!(ehlo.iter().any(|l| l == "250-STARTTLS"), "{ehlo:?}");
    // The injection: a command in the same write as STARTTLS, in plaintext.
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n").await;
    assert_eq!(c.last().await, "220 2.0.0 ready to start TLS");
    assert!(c.io.buffer().is_empty(), "nothing after 220 in plaintext");

    let tcp = c.io.into_inner();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_tls))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut c = Raw::new(tls);
    // Had the injected MAIL been obeyed, its reply would come first.
    c.send(b"NOOP\r\n").await;
    assert_eq!(c.reply().await, vec!["250 2.0.0 ok"]);
    // State was reset: EHLO again, and STARTTLS is no longer offered.
    c.send(b"MAIL FROM:<s@x>\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"));
    c.send(b"EHLO client.test\r\n").await;
    let ehlo = c.reply().await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    c.send(b"STARTTLS\r\n").await;
    assert!(c.last().await.starts_with("503 5.5.1"));
    c.send(b"MAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n")
        .await;
    assert_eq!(c.last().await, "250 2.1.0 ok");
    assert_eq!(c.last().await, "250 2.1.5 ok");
    assert!(c.last().await.starts_with("354 "));
    c.send(b"Subject: tls\r\n\r\nover tls\r\n.\r\nQUIT\r\n")
        .await;
    assert_eq!(c.last().await, "250 2.0.0 queued");
    assert!(c.last().await.starts_with("221 "));
    let messages = server.store.messages();
    assert_eq!(messages.len(), 1);
    assert!(contains(&messages[0].1, b"with ESMTPS;"));
    assert!(contains(&messages[0].1, b"\r\nover tls\r\n"));
}
