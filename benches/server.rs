//! Reference-server benchmarks: big-mailbox SELECT and UID FETCH, APPEND and
//! FETCH rates with concurrent clients, and memory held by idle IDLE connections.
//!
//! `cargo bench --bench server` runs the full sizes (1,000,000 messages; 10
//! clients for 3 s per phase; 10,000 IDLE connections). Without `--bench` in argv
//! (e.g. under `cargo test --all-targets`) it runs a smoke version (1,000 messages,
//! 4 clients for 0.3 s, 100 IDLE connections) in a few seconds. Words after
//! `--` pick parts: `select`, `memory`, `durable`, `rates` (both), `idle`; e.g.
//! `cargo bench --bench server -- idle`.
//!
//! Parts 1 and 2 start the server in this process (`Server::start`) on a runtime
//! of its own, apart from the clients' runtime; part 3 spawns
//! `imapspec serve` so that the server's RSS is its own and the 10,000 client
//! sockets and the 10,000 server sockets count against two processes' file limits.
//! Every client is a raw socket on 127.0.0.1; every read has a timeout and every
//! loop a bound on its count and on time. Results are printed as `server: ...` lines;
//! docs/benchmarks.md has the figures measured on the reference machine.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use imapspec::server::store::FlagSet;
use imapspec::server::{Config, Handle, Server, User};

/// How big each part runs.
#[derive(Debug, Clone)]
struct Sizes {
    /// Messages in the big mailbox (part 1).
    messages: usize,
    select_repeats: usize,
    fetch_repeats: usize,
    /// Concurrent clients (each count is one run) and the length of each phase (part 2).
    clients: &'static [usize],
    phase: Duration,
    /// IDLE connections wanted, and the time allowed to open them (part 3).
    idle: usize,
    idle_budget: Duration,
    /// Compare with the design targets (full sizes only).
    judge: bool,
}

const FULL: Sizes = Sizes {
    messages: 1_000_000,
    select_repeats: 5,
    fetch_repeats: 3,
    clients: &[1, 10],
    phase: Duration::from_secs(3),
    idle: 10_000,
    idle_budget: Duration::from_secs(120),
    judge: true,
};

const SMOKE: Sizes = Sizes {
    messages: 1_000,
    select_repeats: 2,
    fetch_repeats: 1,
    clients: &[4],
    phase: Duration::from_millis(300),
    idle: 100,
    idle_budget: Duration::from_secs(20),
    judge: false,
};

/// Longest wait for any one read, write or connect.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// A client's read buffer never grows past this.
const MAX_BUF: usize = 64 << 20;
/// Literals in one response, responses before a tagged one: sanity bounds.
const MAX_LITERALS: usize = 1_000;
const MAX_RESPONSES: usize = 10_000_000;
/// Descriptors kept free for everything that is not an IDLE connection.
const FD_RESERVE: u64 = 200;
/// Logins per user in part 3 (the server refuses more than 200 per user).
const CONNECTIONS_PER_USER: usize = 150;
/// IDLE connections opened at once: below the server's listen backlog (128, the
/// value mio and std use), which more at once overflow (1 s SYN retransmits).
const BATCH: usize = 100;
/// Internal date of every generated message.
const DATE: (i64, i32) = (1_700_000_000, 0);

fn err(what: impl std::fmt::Display) -> io::Error {
    io::Error::other(what.to_string())
}

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(IO_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: nothing in {IO_TIMEOUT:?}"),
        )),
    }
}

/// A raw IMAP client: a socket and one read buffer.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> io::Result<Raw> {
        let stream = timed("connect", TcpStream::connect(addr)).await?;
        stream.set_nodelay(true)?;
        Ok(Raw::from_stream(stream, 4096))
    }

    fn from_stream(stream: TcpStream, capacity: usize) -> Raw {
        Raw {
            stream,
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// Makes room for at least `want` more bytes, moving what is left to the front.
    fn make_room(&mut self, want: usize) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end >= want {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            let size = (self.end + want).next_power_of_two();
            if size > MAX_BUF {
                return Err(err(format!("a response over {MAX_BUF} bytes")));
            }
            self.buf.resize(size, 0);
        }
        Ok(())
    }

    /// Reads what has arrived (at least one byte) into the buffer.
    async fn fill(&mut self, want: usize) -> io::Result<()> {
        self.make_room(want)?;
        let end = self.end;
        let n = timed("read", self.stream.read(&mut self.buf[end..])).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.end += n;
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        timed("write", self.stream.write_all(bytes)).await
    }

    /// One line, CRLF included, appended to `out`.
    async fn line_into(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        // Each round reads at least one byte; the buffer cap ends a runaway line.
        for _ in 0..=MAX_BUF {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                out.extend_from_slice(&self.buf[self.start..=self.start + i]);
                self.start += i + 1;
                return Ok(());
            }
            self.fill(4096).await?;
        }
        Err(err("a line without end"))
    }

    /// One response: a line and every literal it announces.
    async fn response(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for _ in 0..MAX_LITERALS {
            self.line_into(&mut out).await?;
            let Some(n) = literal_at_end(&out) else {
                return Ok(out);
            };
            if n > MAX_BUF {
                return Err(err(format!("a literal of {n} bytes")));
            }
            while self.end - self.start < n {
                self.fill(n - (self.end - self.start)).await?;
            }
            out.extend_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
        }
        Err(err("too many literals in one response"))
    }

    /// Sends a command and reads until its tagged response, which must be OK.
    /// Returns every response, the tagged one last.
    async fn command(&mut self, tag: &str, bytes: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        self.send(bytes).await?;
        self.until_tagged(tag).await
    }

    async fn until_tagged(&mut self, tag: &str) -> io::Result<Vec<Vec<u8>>> {
        let mut all = Vec::new();
        for _ in 0..MAX_RESPONSES {
            let r = self.response().await?;
            let tagged = r.starts_with(tag.as_bytes()) && r.get(tag.len()) == Some(&b' ');
            all.push(r);
            if tagged {
                let last = all.last().map(Vec::as_slice).unwrap_or_default();
                if !last[tag.len() + 1..].starts_with(b"OK") {
                    return Err(err(format!(
                        "the server answered {}",
                        String::from_utf8_lossy(last).trim_end()
                    )));
                }
                return Ok(all);
            }
        }
        Err(err("too many responses"))
    }

    /// Reads the greeting and logs in.
    async fn login(&mut self, user: &str, pass: &str) -> io::Result<()> {
        let greeting = self.response().await?;
        if !greeting.starts_with(b"* OK") {
            return Err(err(format!(
                "greeting: {}",
                String::from_utf8_lossy(&greeting).trim_end()
            )));
        }
        self.command("l", format!("l LOGIN {user} {pass}\r\n").as_bytes())
            .await
            .map(|_| ())
    }

    /// SELECTs and returns the EXISTS count.
    async fn select(&mut self, tag: &str, mailbox: &str) -> io::Result<usize> {
        let all = self
            .command(tag, format!("{tag} SELECT {mailbox}\r\n").as_bytes())
            .await?;
        all.iter()
            .find_map(|r| {
                let s = std::str::from_utf8(r).ok()?;
                s.strip_prefix("* ")?
                    .trim_end()
                    .strip_suffix(" EXISTS")?
                    .parse()
                    .ok()
            })
            .ok_or_else(|| err("SELECT without EXISTS"))
    }

    /// Reads a long run of literal-free untagged lines until the tagged OK,
    /// scanning for `\n` in place. Returns the `* ` lines, all bytes, and the time
    /// to the first byte (from `sent`).
    async fn count_until_tagged(
        &mut self,
        tag: &str,
        sent: Instant,
        deadline: Instant,
    ) -> io::Result<(u64, u64, Duration)> {
        let tag = format!("{tag} ");
        let (mut lines, mut bytes) = (0u64, 0u64);
        let mut first = None;
        // Each round reads at least one byte; MAX_BUF rounds of 1 MB is far more
        // than any answer here, and the deadline ends it sooner.
        for _ in 0..MAX_BUF {
            let chunk = &self.buf[self.start..self.end];
            let mut pos = 0;
            for nl in memchr::memchr_iter(b'\n', chunk) {
                let line = &chunk[pos..=nl];
                pos = nl + 1;
                bytes += line.len() as u64;
                if line.starts_with(b"* ") {
                    lines += 1;
                } else if line.starts_with(tag.as_bytes()) {
                    self.start += pos;
                    if !line[tag.len()..].starts_with(b"OK") {
                        return Err(err(format!(
                            "the server answered {}",
                            String::from_utf8_lossy(line).trim_end()
                        )));
                    }
                    return Ok((lines, bytes, first.unwrap_or_default()));
                }
            }
            self.start += pos;
            if Instant::now() > deadline {
                return Err(err("the answer took too long"));
            }
            self.fill(1 << 20).await?;
            first.get_or_insert_with(|| sent.elapsed());
        }
        Err(err("an answer without end"))
    }
}

/// `{n}` or `{n+}` ending a line (CRLF included).
fn literal_at_end(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A plain message of exactly `size` bytes (at least ~120).
fn message(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: bench@example.com\r\nTo: alice@example.com\r\nSubject: message {i}\r\n\
         Message-ID: <{i}@bench.example>\r\n\r\n"
    )
    .into_bytes();
    let body = size.saturating_sub(m.len() + 2);
    m.extend(std::iter::repeat_n(b'x', body));
    m.extend_from_slice(b"\r\n");
    m
}

fn alice() -> User {
    User {
        name: "alice".into(),
        password: "alicepw".into(),
        quota: None,
    }
}

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// min and median of some durations, in ms.
fn min_median_ms(v: &[Duration]) -> (f64, f64) {
    let mut v = v.to_vec();
    v.sort_unstable();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    (ms(v.first()), ms(v.get(v.len() / 2)))
}

fn percentile_ms(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e3
}

/// VmRSS and VmHWM of a process, in MB.
fn rss_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The kernel's count of connections dropped because an accept queue was full
/// (`ListenOverflows` in /proc/net/netstat; for the whole network namespace).
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let found = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "ListenOverflows");
        if let Some((_, v)) = found {
            return v.parse().unwrap_or(0);
        }
    }
    0
}

/// Resets this process's VmHWM to its current RSS (Linux 4.0+).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The verdict against a design target, or nothing for the smoke sizes.
fn verdict(sz: &Sizes, target: &str, met: bool) -> String {
    match (sz.judge, met) {
        (false, _) => String::new(),
        (true, true) => format!(" (target {target}: met)"),
        (true, false) => format!(" (target {target}: MISSED)"),
    }
}

/// Starts the server on its own runtime (`server_rt`), so that its worker
/// threads are not the clients' (a worker blocked in `fsync` would also stall
/// the load generator, which a separate server process would not see).
async fn start_on(server_rt: &tokio::runtime::Handle, config: Config) -> io::Result<Handle> {
    server_rt
        .spawn(Server::start(config))
        .await
        .map_err(err)?
        .map_err(err)
}

async fn stop_on(server_rt: &tokio::runtime::Handle, handle: Handle) {
    let _ = server_rt.spawn(handle.shutdown()).await;
}

/// Part 1: SELECT and UID FETCH 1:* (FLAGS) on a big mailbox.
async fn big_mailbox(sz: &Sizes, server_rt: &tokio::runtime::Handle) -> io::Result<()> {
    let config = Config {
        imap: Some(localhost()),
        users: vec![alice()],
        ..Config::default()
    };
    let handle = start_on(server_rt, config).await?;
    let addr = handle.imap.ok_or_else(|| err("no IMAP listener"))?;
    let n = sz.messages;

    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let m = message(i, 200);
        bytes += m.len();
        handle
            .store
            .append(
                "alice",
                "INBOX",
                Arc::from(m),
                FlagSet::default(),
                DATE,
                false,
            )
            .map_err(err)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let (rss, _) = rss_mb("self");
    println!(
        "server: fill {n} msgs ({:.0} MB) through Store::append: {secs:.2} s, {:.0} msgs/s; bench process RSS {rss:.0} MB",
        bytes as f64 / 1e6,
        n as f64 / secs,
    );

    let mut c = Raw::connect(addr).await?;
    c.login("alice", "alicepw").await?;
    let mut times = Vec::new();
    for r in 0..sz.select_repeats {
        let tag = format!("s{r}");
        let t = Instant::now();
        let exists = c.select(&tag, "INBOX").await?;
        times.push(t.elapsed());
        if exists != n {
            return Err(err(format!("SELECT said {exists} EXISTS, not {n}")));
        }
    }
    let (min, median) = min_median_ms(&times);
    let all: Vec<String> = times
        .iter()
        .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
        .collect();
    println!(
        "server: SELECT {n} msgs: min {min:.1} ms, median {median:.1} ms (runs: {} ms){}",
        all.join(", "),
        verdict(sz, "<= 50 ms", median <= 50.0)
    );

    let (rss_start, _) = rss_mb("self");
    for r in 0..sz.fetch_repeats {
        let tag = format!("f{r}");
        let (rss_before, _) = rss_mb("self");
        reset_peak_rss();
        let t = Instant::now();
        c.send(format!("{tag} UID FETCH 1:* (FLAGS)\r\n").as_bytes())
            .await?;
        let (lines, bytes, first) = c
            .count_until_tagged(&tag, t, t + Duration::from_secs(120))
            .await?;
        let secs = t.elapsed().as_secs_f64();
        let (_, peak) = rss_mb("self");
        if lines != n as u64 {
            return Err(err(format!("UID FETCH gave {lines} lines, not {n}")));
        }
        println!(
            "server: UID FETCH 1:* (FLAGS) {n} msgs: {secs:.3} s, {:.2} M lines/s, {:.1} MB/s, first byte after {:.0} ms, peak RSS +{:.0} MB{}",
            lines as f64 / secs / 1e6,
            bytes as f64 / secs / 1e6,
            first.as_secs_f64() * 1e3,
            (peak - rss_before).max(0.0),
            verdict(sz, ">= 1 M lines/s", lines as f64 / secs >= 1e6)
        );
    }
    let (rss_end, _) = rss_mb("self");
    println!(
        "server: RSS after the UID FETCHes, connection still open: +{:.0} MB over before them",
        (rss_end - rss_start).max(0.0)
    );
    let _ = c.command("z", b"z LOGOUT\r\n").await;
    stop_on(server_rt, handle).await;
    Ok(())
}

/// A small xorshift generator (no dependency for a random sequence number).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One phase's results: latencies of every command, and the phase's wall time.
fn report(what: &str, mode: &str, clients: usize, lat: &mut [Duration], wall: Duration) {
    lat.sort_unstable();
    let secs = wall.as_secs_f64();
    println!(
        "server: {what}, {clients} client{}, {mode}: {:.0} commands/s, p50 {:.2} ms, p99 {:.2} ms ({} in {secs:.1} s)",
        if clients == 1 { "" } else { "s" },
        lat.len() as f64 / secs,
        percentile_ms(lat, 50),
        percentile_ms(lat, 99),
        lat.len(),
    );
}

/// Part 2: APPEND then FETCH from several clients at once, for a fixed time each.
async fn rates(
    sz: &Sizes,
    n_clients: usize,
    data_dir: Option<&Path>,
    server_rt: &tokio::runtime::Handle,
) -> io::Result<()> {
    let mode = match data_dir {
        Some(_) => "durable (--data-dir, fsync per APPEND)",
        None => "in-memory",
    };
    let config = Config {
        imap: Some(localhost()),
        users: vec![alice()],
        data_dir: data_dir.map(Path::to_path_buf),
        ..Config::default()
    };
    let handle = start_on(server_rt, config).await?;
    let addr = handle.imap.ok_or_else(|| err("no IMAP listener"))?;
    let mut clients = Vec::new();
    for _ in 0..n_clients {
        let mut c = Raw::connect(addr).await?;
        c.login("alice", "alicepw").await?;
        clients.push(c);
    }

    // APPEND with LITERAL+ (`{1024+}`): the command and message go in one write.
    let msg = message(0, 1024);
    let started = Instant::now();
    let deadline = started + sz.phase;
    let mut tasks = Vec::new();
    for (k, mut c) in clients.into_iter().enumerate() {
        let mut cmd = Vec::new();
        cmd.extend_from_slice(format!("a APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes());
        cmd.extend_from_slice(&msg);
        cmd.extend_from_slice(b"\r\n");
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..10_000_000 {
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                c.command("a", &cmd)
                    .await
                    .map_err(|e| err(format!("client {k}: APPEND: {e}")))?;
                lat.push(t.elapsed());
            }
            Ok::<_, io::Error>((c, lat))
        }));
    }
    let mut clients = Vec::new();
    let mut lat = Vec::new();
    for t in tasks {
        let (c, l) = t.await.map_err(err)??;
        clients.push(c);
        lat.extend(l);
    }
    let wall = started.elapsed();
    report("APPEND 1 KB (LITERAL+)", mode, n_clients, &mut lat, wall);

    // FETCH on random existing messages.
    let mut exists = 0;
    for c in &mut clients {
        exists = c.select("s", "INBOX").await?;
    }
    if exists == 0 {
        return Err(err("no message to FETCH"));
    }
    let started = Instant::now();
    let deadline = started + sz.phase;
    let mut tasks = Vec::new();
    for (k, mut c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((k as u64 + 1) * 0x1234_5678_9abc));
            let mut lat = Vec::new();
            for _ in 0..10_000_000 {
                if Instant::now() >= deadline {
                    break;
                }
                let seq = rng.below(exists) + 1;
                let t = Instant::now();
                let all = c
                    .command(
                        "f",
                        format!("f FETCH {seq} (FLAGS BODY.PEEK[HEADER])\r\n").as_bytes(),
                    )
                    .await
                    .map_err(|e| err(format!("client {k}: FETCH: {e}")))?;
                lat.push(t.elapsed());
                if all.len() < 2 {
                    return Err(err(format!("client {k}: FETCH {seq} returned nothing")));
                }
            }
            let _ = c.command("z", b"z LOGOUT\r\n").await;
            Ok::<_, io::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(err)??);
    }
    let wall = started.elapsed();
    report(
        &format!("FETCH n (FLAGS BODY.PEEK[HEADER]) of {exists} msgs"),
        mode,
        n_clients,
        &mut lat,
        wall,
    );
    stop_on(server_rt, handle).await;
    Ok(())
}

/// The `imapspec` binary cargo built for this bench (release under `cargo bench`).
fn server_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_imapspec"))
}

/// A spawned `imapspec serve`, killed when dropped.
struct Child(std::process::Child);

impl Child {
    /// Asks for a clean stop (SIGTERM), then kills after `grace`.
    fn stop(&mut self, grace: Duration) -> Option<Duration> {
        let started = Instant::now();
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signals only the process this bench spawned.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        while started.elapsed() < grace {
            if let Ok(Some(_)) = self.0.try_wait() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        None
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Opens one connection and leaves it in IDLE on its user's INBOX.
async fn open_idle(addr: SocketAddr, user: String) -> io::Result<(Raw, Duration)> {
    let started = Instant::now();
    let mut c = Raw::connect(addr).await?;
    c.login(&user, &format!("{user}pw")).await?;
    c.select("s", "INBOX").await?;
    c.send(b"i IDLE\r\n").await?;
    let r = c.response().await?;
    if !r.starts_with(b"+") {
        return Err(err(format!(
            "IDLE answered {}",
            String::from_utf8_lossy(&r).trim_end()
        )));
    }
    Ok((c, started.elapsed()))
}

/// Part 3: memory of the server holding many idle IDLE connections.
async fn idle_connections(sz: &Sizes, dir: &Path) -> io::Result<()> {
    let bin = server_binary();
    if !bin.exists() {
        println!(
            "server: IDLE part skipped: {} is missing; build it with `cargo build --release`",
            bin.display()
        );
        return Ok(());
    }
    let soft = imapspec::cli::serve::raise_nofile_limit().unwrap_or(1024);
    let room = usize::try_from(soft.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    let wanted = sz.idle.min(room);
    if wanted < sz.idle {
        println!(
            "server: IDLE: this process may open {soft} files (soft limit raised to the hard limit), so at most {wanted} connections, not {}",
            sz.idle
        );
    }
    // The server allows 200 logins per user (ServerLimits::max_connections_per_user,
    // not settable from the command line), so the connections share many users.
    let users = wanted.div_ceil(CONNECTIONS_PER_USER).max(1);
    let accounts = dir.join("accounts");
    let text: String = (0..users).map(|u| format!("u{u}:u{u}pw\n")).collect();
    std::fs::write(&accounts, text)?;
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let mut child = Child(
        std::process::Command::new(&bin)
            .arg("serve")
            .arg("--imap")
            .arg("127.0.0.1:0")
            .arg("--accounts")
            .arg(&accounts)
            .arg("--ready-file")
            .arg(&ready)
            // All the connections come from 127.0.0.1: above the production
            // caps (10,000 in all, 1,000 per address).
            .arg("--max-connections")
            .arg((wanted + 100).to_string())
            .arg("--max-connections-per-ip")
            .arg((wanted + 100).to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| err(format!("cannot start {}: {e}", bin.display())))?,
    );
    let pid = child.0.id().to_string();
    let mut addr = None;
    for _ in 0..1000 {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            addr = text
                .lines()
                .find_map(|l| l.strip_prefix("imap "))
                .and_then(|a| a.trim().parse::<SocketAddr>().ok());
            if addr.is_some() {
                break;
            }
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(err(format!("imapspec serve exited: {status}")));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = addr.ok_or_else(|| err("imapspec serve wrote no ready file in 20 s"))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (base, _) = rss_mb(&pid);

    let overflows = listen_overflows();
    let started = Instant::now();
    let mut conns: Vec<Raw> = Vec::with_capacity(wanted);
    let mut setup = Vec::with_capacity(wanted);
    let mut stopped = None;
    while conns.len() < wanted {
        if started.elapsed() > sz.idle_budget {
            stopped = Some(format!("time budget of {:?} spent", sz.idle_budget));
            break;
        }
        let batch = BATCH.min(wanted - conns.len());
        let mut set = tokio::task::JoinSet::new();
        for k in conns.len()..conns.len() + batch {
            let user = format!("u{}", k % users);
            set.spawn(open_idle(addr, user));
        }
        let mut failed = None;
        while let Some(r) = set.join_next().await {
            match r.map_err(err).and_then(|r| r) {
                Ok((c, t)) => {
                    conns.push(c);
                    setup.push(t);
                }
                Err(e) => failed = failed.or(Some(e.to_string())),
            }
        }
        if let Some(e) = failed {
            stopped = Some(format!("a connection failed: {e}"));
            break;
        }
    }
    let open_secs = started.elapsed().as_secs_f64();
    let n = conns.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, hwm) = rss_mb(&pid);
    let per_kb = if n > 0 {
        (rss - base) * 1024.0 / n as f64
    } else {
        0.0
    };
    println!(
        "server: {n} idle IDLE connections ({users} user{}) opened in {open_secs:.1} s: server RSS {rss:.1} MB (peak {hwm:.1} MB, {base:.1} MB at start), {per_kb:.1} KB per connection{}",
        if users == 1 { "" } else { "s" },
        verdict(sz, "10,000 in <= 200 MB", n >= 10_000 && rss <= 200.0)
    );
    setup.sort_unstable();
    println!(
        "server: IDLE: each connection's connect+greeting+LOGIN+SELECT+IDLE, {BATCH} at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; accept-queue overflows {}",
        percentile_ms(&setup, 50),
        percentile_ms(&setup, 99),
        setup.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        listen_overflows().saturating_sub(overflows),
    );
    if let Some(why) = stopped {
        println!("server: IDLE: stopped at {n} of {wanted} connections: {why}");
    }

    // Is the server still responsive with all of them open?
    let t = Instant::now();
    let mut fresh = Raw::connect(addr).await?;
    fresh.login("u0", "u0pw").await?;
    fresh.select("s", "INBOX").await?;
    fresh.command("n", b"n NOOP\r\n").await?;
    let fresh_ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = fresh.command("z", b"z LOGOUT\r\n").await;
    // A sample of the idlers ends IDLE properly.
    let sample = n.min(100);
    let t = Instant::now();
    for c in conns.iter_mut().take(sample) {
        c.send(b"DONE\r\n").await?;
        c.until_tagged("i").await?;
    }
    println!(
        "server: with {n} idling: a new connection's greeting+LOGIN+SELECT+NOOP took {fresh_ms:.1} ms; DONE on {sample} idlers took {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let stop = child.stop(Duration::from_secs(20));
    drop(conns);
    match stop {
        Some(d) => println!(
            "server: SIGTERM with {n} connections: exited in {:.0} ms",
            d.as_secs_f64() * 1e3
        ),
        None => println!("server: SIGTERM with {n} connections: still running after 20 s, killed"),
    }
    Ok(())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sz = if full { FULL } else { SMOKE };
    let dir = std::env::temp_dir().join(format!("imapspec-bench-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
    };
    let (rt, server_rt) = match (runtime("bench-client"), runtime("bench-server")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cannot start the runtimes: {e}");
            std::process::exit(2);
        }
    };
    let srv = server_rt.handle();
    println!(
        "server: {} run, {} cores",
        if full { "full" } else { "smoke" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Words in argv pick parts by name: `cargo bench --bench server -- idle`.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |part: &str| only.is_empty() || only.iter().any(|w| part.contains(w.as_str()));
    let mut failed = false;
    let mut outcome = |name: &str, r: io::Result<()>| {
        if let Err(e) = r {
            println!("server: {name} FAILED: {e}");
            failed = true;
        }
    };
    if wanted("select fetch big") {
        outcome("big mailbox", rt.block_on(big_mailbox(&sz, srv)));
    }
    for &n in sz.clients {
        if wanted("rates memory") {
            outcome("in-memory rates", rt.block_on(rates(&sz, n, None, srv)));
        }
        if wanted("rates durable") {
            let data = dir.join(format!("data-{n}"));
            let r = rt.block_on(rates(&sz, n, Some(&data), srv));
            let _ = std::fs::remove_dir_all(&data);
            outcome("durable rates", r);
        }
    }
    if wanted("idle") {
        outcome("IDLE connections", rt.block_on(idle_connections(&sz, &dir)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed {
        std::process::exit(1);
    }
}
