//! `imapspec proxy` benchmark: the latency it adds per command (NOOP round
//! trips direct vs through the proxy, plaintext and TLS on both sides) and the
//! memory it holds per open connection (logged in, INBOX selected, idle).
//!
//! `cargo bench --bench proxy` runs the full sizes (5,000 NOOPs per path, 200
//! connections); without `--bench` in argv (under `cargo test --all-targets`)
//! a smoke version (300 NOOPs, 20 connections) in about a second. The server
//! and the proxy run in this process on a runtime of their own (2 threads),
//! the client on another; memory is counted exactly by this binary's
//! allocator (allocated bytes, not RSS): open connections direct, then the
//! same number through the proxy; the difference over the count is the
//! proxy's cost per connection. Results are printed as `proxy: ...` lines;
//! docs/benchmarks.md has the figures measured on the reference machine.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use imapspec::proxy::{self, ProxyOptions};
use imapspec::server::{Config, Server, User};

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Reads until a line starting with `tag ` is complete (10 s at most).
async fn until_tagged(
    s: &mut (impl AsyncRead + Unpin),
    tag: &str,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let want = format!("{tag} ");
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).collect();
            if line.starts_with(want.as_bytes()) {
                return Ok(());
            }
            continue;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .map_err(|_| err("timed out"))??;
        if n == 0 {
            return Err(err("closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn open(addr: SocketAddr, tls: bool) -> io::Result<(Box<dyn Stream>, Vec<u8>)> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut s: Box<dyn Stream> = if tls {
        let connector = imapspec::session::connect::tls_connector(true).map_err(err)?;
        let name = imapspec::session::connect::server_name("localhost").map_err(err)?;
        Box::new(connector.connect(name, tcp).await?)
    } else {
        Box::new(tcp)
    };
    let mut buf = Vec::new();
    // The greeting.
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(err("no greeting"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.clear();
    s.write_all(b"l LOGIN alice alicepw\r\ns SELECT INBOX\r\n")
        .await?;
    until_tagged(&mut s, "l", &mut buf).await?;
    until_tagged(&mut s, "s", &mut buf).await?;
    Ok((s, buf))
}

/// Median and mean NOOP round trip, in microseconds.
async fn noops(addr: SocketAddr, tls: bool, n: usize) -> io::Result<(f64, f64)> {
    let (mut s, mut buf) = open(addr, tls).await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let tag = format!("n{i}");
        let t = Instant::now();
        s.write_all(format!("{tag} NOOP\r\n").as_bytes()).await?;
        until_tagged(&mut s, &tag, &mut buf).await?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mean = times.iter().sum::<f64>() / n as f64;
    times.sort_by(f64::total_cmp);
    Ok((times[n / 2], mean))
}

/// Bytes allocated (by everything in this process) per connection held open.
async fn per_connection(addr: SocketAddr, tls: bool, k: usize) -> io::Result<f64> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = counting_alloc::allocated();
    let mut held = Vec::with_capacity(k);
    for _ in 0..k {
        held.push(open(addr, tls).await?);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = counting_alloc::allocated();
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((after.saturating_sub(before)) as f64 / k as f64)
}

fn main() -> io::Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, k) = if full { (5000, 200) } else { (300, 20) };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = Config {
        imap: "127.0.0.1:0".parse().ok(),
        imaps: "127.0.0.1:0".parse().ok(),
        users: vec![User {
            name: "alice".into(),
            password: "alicepw".into(),
            quota: None,
        }],
        ..Config::default()
    };
    let server = server_rt.block_on(Server::start(config)).map_err(err)?;
    let imap = server.imap.ok_or_else(|| err("no imap listener"))?;
    let imaps = server.imaps.ok_or_else(|| err("no imaps listener"))?;
    let start_proxy = |upstream: String| {
        let mut o = ProxyOptions::new(
            "127.0.0.1:0".parse().map_err(err)?,
            upstream.parse().map_err(err)?,
        );
        o.listen_tls = "127.0.0.1:0".parse().ok();
        o.insecure = true;
        server_rt
            .block_on(proxy::start(o, Box::new(io::sink())))
            .map_err(err)
    };
    let plain = start_proxy(format!("imap://{imap}"))?;
    let tls = start_proxy(format!("imaps://localhost:{}", imaps.port()))?;
    let (p_addr, t_addr) = (
        plain.addr.ok_or_else(|| err("no proxy listener"))?,
        tls.tls_addr.ok_or_else(|| err("no proxy TLS listener"))?,
    );
    client_rt.block_on(async {
        println!("proxy: {n} NOOP round trips per path (median / mean, microseconds)");
        let paths = [
            ("direct, plaintext", imap, false),
            ("proxy, plaintext", p_addr, false),
            ("direct, TLS", imaps, true),
            ("proxy, TLS both sides", t_addr, true),
        ];
        let mut medians = Vec::new();
        for (name, addr, tls) in paths {
            let (median, mean) = noops(addr, tls, n).await?;
            medians.push(median);
            println!("proxy: NOOP {name:<22} {median:8.1} / {mean:8.1} us");
        }
        println!(
            "proxy: added per command (median): plaintext {:+.1} us, TLS {:+.1} us",
            medians[1] - medians[0],
            medians[3] - medians[2]
        );
        for (name, direct, via, tls) in [("plaintext", imap, p_addr, false), ("TLS", imaps, t_addr, true)] {
            let d = per_connection(direct, tls, k).await?;
            let p = per_connection(via, tls, k).await?;
            println!(
                "proxy: memory per idle connection, {name}: direct {:.1} KB, through the proxy {:.1} KB, the proxy's share {:.1} KB ({k} connections)",
                d / 1024.0,
                p / 1024.0,
                (p - d) / 1024.0
            );
        }
        Ok::<_, io::Error>(())
    })?;
    let _ = server_rt.block_on(plain.shutdown());
    let _ = server_rt.block_on(tls.shutdown());
    server_rt.block_on(server.shutdown());
    Ok(())
}
