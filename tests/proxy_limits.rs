//! `imapspec proxy` keeps its memory bounded per connection whatever either
//! side sends: a 50 MB APPEND literal from the client and a 50 MB FETCH answer
//! from the server pass through whole, while the proxy's allocations stay
//! near the framer's bound (`Limits::max_message` per open message), far
//! below what passed.
//!
//! Memory is measured exactly, not by RSS: this test binary counts every byte
//! its allocator hands out (the proxy and both peers run in-process).

mod support;

use std::time::Duration;

use imapspec::proxy::{self, ProxyOptions};
use imapspec::wire::Limits;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{peak, reset_peak};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

const MB: usize = 1024 * 1024;
/// What passes each way: 50 MB.
const BIG: usize = 50 * MB;

/// A server that answers a greeting, swallows an APPEND literal of BIG bytes,
/// then answers a FETCH with a BIG literal; all written from one small buffer.
async fn fake_server(listener: TcpListener) -> std::io::Result<usize> {
    let (mut s, _) = listener.accept().await?;
    s.write_all(b"* OK fake server\r\n").await?;
    let head = b"a APPEND INBOX {52428800+}\r\n".len();
    let want = head + BIG + 2;
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < want {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(got);
        }
        got += n;
    }
    s.write_all(b"a OK APPEND done\r\n").await?;
    // `b FETCH 1 BODY[]`
    let n = s.read(&mut buf).await?;
    assert!(buf[..n].starts_with(b"b FETCH"), "{:?}", &buf[..n]);
    s.write_all(format!("* 1 FETCH (BODY[] {{{BIG}}}\r\n").as_bytes())
        .await?;
    write_lines(&mut s, BIG).await?;
    s.write_all(b")\r\nb OK FETCH done\r\n").await?;
    let _ = s.read(&mut buf).await;
    Ok(got)
}

/// `len` bytes of 1000-byte CRLF lines (len is a multiple of 1000 plus
/// a short last line), from one buffer.
async fn write_lines<W: AsyncWrite + Unpin>(w: &mut W, len: usize) -> std::io::Result<()> {
    let mut line = vec![b'x'; 1000];
    line[998] = b'\r';
    line[999] = b'\n';
    let block: Vec<u8> = line.repeat(64);
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        w.write_all(&block[..n]).await?;
        left -= n;
    }
    Ok(())
}

async fn read_until(r: &mut TcpStream, end: &[u8], max: usize) -> usize {
    let mut total = 0;
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while total < max {
        let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(30), r.read(&mut buf)).await
        else {
            break;
        };
        if n == 0 {
            break;
        }
        total += n;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
        if tail.windows(end.len()).any(|w| w == end) {
            break;
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_each_way_keep_the_proxy_bounded() {
    support::install_tls_provider();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = listener.local_addr().expect("addr");
    let server = tokio::spawn(fake_server(listener));
    let dir = support::temp_dir("proxy-limits");
    let mut options = ProxyOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        format!("imap://{up}").parse().expect("url"),
    );
    options.transcripts = Some(dir.join("transcripts"));
    let p = proxy::start(options, Box::new(std::io::sink()))
        .await
        .expect("proxy");
    let mut c = TcpStream::connect(p.addr.expect("plain"))
        .await
        .expect("connect");
    read_until(&mut c, b"\r\n", 1000).await;
    let base = reset_peak();

    c.write_all(b"a APPEND INBOX {52428800+}\r\n")
        .await
        .expect("write");
    write_lines(&mut c, BIG).await.expect("literal");
    c.write_all(b"\r\n").await.expect("write");
    let n = read_until(&mut c, b"a OK", 1000).await;
    assert!(n > 0, "the APPEND was answered");
    c.write_all(b"b FETCH 1 BODY[]\r\n").await.expect("write");
    let down = read_until(&mut c, b"b OK FETCH done\r\n", BIG + 1000).await;
    let grew = peak() - base;
    drop(c);
    let got = server.await.expect("join").expect("server");
    let _ = p.shutdown().await;

    assert_eq!(
        got,
        b"a APPEND INBOX {52428800+}\r\n".len() + BIG + 2,
        "all of the literal reached the server"
    );
    assert!(
        down > BIG,
        "all of the FETCH answer reached the client: {down}"
    );
    eprintln!(
        "peak allocation +{} KB for 2 x {} MB",
        grew / 1024,
        BIG / MB
    );
    // The framer keeps at most max_message (16 MiB) of the open message (the
    // two directions' big messages are not open at once here); the rest is
    // buffers: copy buffers, socket reads, the transcript writer.
    let bound = Limits::default().max_message + 4 * MB;
    assert!(
        grew < bound,
        "peak allocation +{} MB, bound {} MB",
        grew / MB,
        bound / MB
    );
}
