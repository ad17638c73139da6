//! One proxied connection: the client's and the upstream's streams, TLS on
//! either side (implicit, `imap+starttls://` at connect, a client's STARTTLS
//! forwarded or answered), and the two pumps that copy bytes and feed the tap.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{lock, ProxyOptions, StartTlsMode, Tap};
use crate::event::SessionId;
use crate::session::Security;
use crate::wire::Direction;

/// What every connection shares.
pub(super) struct Context {
    pub options: ProxyOptions,
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub tap: Arc<Mutex<Tap>>,
}

/// One side's stream: plain, or TLS as the server (client side) or as the
/// client (upstream side).
enum Io {
    Plain(TcpStream),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Io::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Io::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The tag of the proxy's own STARTTLS to an `imap+starttls://` upstream.
const PROXY_TAG: &str = "imapspec-proxy";
/// The longest line read while doing STARTTLS with the upstream.
const MAX_LINE: usize = 64 * 1024;
/// Lines read before the upstream's answer to STARTTLS, at most.
const MAX_LINES: usize = 100;
/// One read's buffer, per direction.
const BUF: usize = 16 * 1024;

pub(super) async fn connection(
    client: TcpStream,
    implicit_tls: bool,
    id: SessionId,
    ctx: &Context,
    mut stop: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let timeout = ctx.options.limits.read_timeout;
    let tap = &ctx.tap;
    let mut client = if implicit_tls {
        match tokio::time::timeout(timeout, ctx.acceptor.accept(client)).await {
            Ok(Ok(s)) => Io::Server(Box::new(s)),
            Ok(Err(e)) => return lock(tap).note(&id, &format!("client TLS handshake failed: {e}")),
            Err(_) => return lock(tap).note(&id, "client TLS handshake timed out"),
        }
    } else {
        Io::Plain(client)
    };
    lock(tap).open(&id);
    let (mut up, greeting) = match connect(&ctx.options, &id, tap).await {
        Ok(u) => u,
        Err(e) => {
            // Tell the client in its own protocol, then close.
            let _ = client
                .write_all(
                    format!("* BYE [UNAVAILABLE] imapspec proxy: upstream {e}\r\n").as_bytes(),
                )
                .await;
            let mut tap = lock(tap);
            tap.note(&id, &format!("upstream unreachable: {e}"));
            tap.close(&id, None);
            return;
        }
    };
    let mode = match (&client, &up) {
        (Io::Plain(_), Io::Plain(_)) => StartTlsMode::Forward,
        (Io::Plain(_), _) => StartTlsMode::Local,
        _ => StartTlsMode::Off,
    };
    lock(tap).set_mode(&id, mode);
    if !greeting.is_empty()
        && (client.write_all(&greeting).await.is_err() || client.flush().await.is_err())
    {
        return lock(tap).close(&id, Some(Direction::Client));
    }
    let mut by = None;
    let mut mode = mode;
    // Two phases at most: before and after the one STARTTLS.
    for _ in 0..2 {
        match relay(&mut client, &mut up, mode, &id, ctx, &mut stop).await {
            End::Closed(d) => {
                by = d;
                break;
            }
            End::StartTls { tag, discarded } => {
                if discarded > 0 {
                    lock(tap).transcript_note(
                        &id,
                        format!(
                            "{discarded} bytes the client sent after STARTTLS, before TLS, discarded (RFC 3501 6.2.1)"
                        ),
                    );
                }
                match upgrade(client, up, mode, &tag, ctx).await {
                    Ok((c, u)) => {
                        client = c;
                        up = u;
                    }
                    Err(e) => {
                        let mut tap = lock(tap);
                        tap.note(&id, &e);
                        tap.transcript_note(&id, e);
                        tap.close(&id, None);
                        return;
                    }
                }
                mode = StartTlsMode::Off;
                let mut tap = lock(tap);
                tap.tls(&id);
                tap.set_mode(&id, mode);
            }
        }
    }
    lock(tap).close(&id, by);
}

/// TLS on both sides after a STARTTLS: the upstream's (if it is still plain),
/// then the client's, with the proxy's certificate.
async fn upgrade(
    client: Io,
    up: Io,
    mode: StartTlsMode,
    tag: &str,
    ctx: &Context,
) -> Result<(Io, Io), String> {
    let timeout = ctx.options.limits.read_timeout;
    let mut client = client;
    if mode == StartTlsMode::Local {
        client
            .write_all(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
            .await
            .map_err(|e| format!("cannot answer the client's STARTTLS: {e}"))?;
        let _ = client.flush().await;
    }
    let up = match up {
        Io::Plain(tcp) => Io::Client(Box::new(
            upstream_tls(&ctx.options, tcp)
                .await
                .map_err(|e| format!("upstream {e}"))?,
        )),
        other => other,
    };
    let client = match client {
        Io::Plain(tcp) => Io::Server(Box::new(
            tokio::time::timeout(timeout, ctx.acceptor.accept(tcp))
                .await
                .map_err(|_| "the client's TLS handshake timed out".to_string())?
                .map_err(|e| format!("the client's TLS handshake failed: {e}"))?,
        )),
        other => other,
    };
    Ok((client, up))
}

async fn upstream_tls(
    options: &ProxyOptions,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let url = &options.upstream;
    let connector = crate::session::connect::tls_connector(options.insecure)?;
    let name = crate::session::connect::server_name(&url.host)?;
    let hint = if options.insecure {
        ""
    } else {
        " (for a self-signed certificate, use --insecure)"
    };
    tokio::time::timeout(options.limits.read_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| format!("{}:{}: TLS handshake timed out", url.host, url.port))?
        .map_err(|e| format!("{}:{}: TLS handshake failed: {e}{hint}", url.host, url.port))
}

/// Connects to the upstream; for `imap+starttls://`, reads the greeting, does
/// STARTTLS (recorded in the transcript) and returns the greeting to forward.
async fn connect(
    options: &ProxyOptions,
    id: &SessionId,
    tap: &Mutex<Tap>,
) -> Result<(Io, Vec<u8>), String> {
    let url = &options.upstream;
    let addr = format!("{}:{}", url.host, url.port);
    let timeout = options.limits.read_timeout;
    let mut tcp = tokio::time::timeout(timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("{addr}: no answer within {timeout:?}"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match url.security {
        Security::Plain => Ok((Io::Plain(tcp), Vec::new())),
        Security::Tls => Ok((
            Io::Client(Box::new(upstream_tls(options, tcp).await?)),
            Vec::new(),
        )),
        Security::StartTls => {
            let greeting = read_line(&mut tcp, timeout)
                .await
                .map_err(|e| format!("{addr}: no greeting: {e}"))?;
            lock(tap).bytes(id, Direction::Server, &greeting);
            let command = format!("{PROXY_TAG} STARTTLS\r\n");
            tcp.write_all(command.as_bytes())
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            lock(tap).bytes(id, Direction::Client, command.as_bytes());
            let prefix = format!("{PROXY_TAG} ");
            let mut answered = None;
            for _ in 0..MAX_LINES {
                let line = read_line(&mut tcp, timeout)
                    .await
                    .map_err(|e| format!("{addr}: no answer to STARTTLS: {e}"))?;
                lock(tap).bytes(id, Direction::Server, &line);
                if let Some(rest) = line.strip_prefix(prefix.as_bytes()) {
                    answered = Some((
                        rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK"),
                        String::from_utf8_lossy(&line).trim_end().to_string(),
                    ));
                    break;
                }
            }
            match answered {
                Some((true, _)) => {}
                Some((false, line)) => return Err(format!("{addr}: STARTTLS refused: {line}")),
                None => return Err(format!("{addr}: no tagged answer to STARTTLS")),
            }
            let tls = upstream_tls(options, tcp).await?;
            lock(tap).tls(id);
            Ok((Io::Client(Box::new(tls)), greeting))
        }
    }
}

/// One line, byte by byte (nothing after its LF is read: TLS may follow).
async fn read_line(tcp: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < MAX_LINE {
        let n = tokio::time::timeout(timeout, tcp.read(&mut byte))
            .await
            .map_err(|_| format!("nothing within {timeout:?}"))?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed".into());
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(line);
        }
    }
    Err(format!("a line longer than {MAX_LINE} bytes"))
}

/// How one relay phase ended.
enum End {
    /// A side closed (`None`: the proxy stopped, or STARTTLS went wrong).
    Closed(Option<Direction>),
    /// The client's STARTTLS is to be done now; `discarded` bytes it sent
    /// after the command were dropped.
    StartTls { tag: String, discarded: usize },
}

enum ClientEnd {
    Closed,
    StartTls { tag: String, discarded: usize },
}

enum ServerEnd {
    Closed,
    /// Stopped between chunks when asked.
    Halted,
    /// The tagged OK to a forwarded STARTTLS is forwarded: TLS comes next.
    TlsNext,
}

/// Forwards both ways until a side closes, the proxy stops, or a STARTTLS is
/// to be done.
async fn relay(
    client: &mut Io,
    up: &mut Io,
    mode: StartTlsMode,
    id: &SessionId,
    ctx: &Context,
    stop: &mut watch::Receiver<bool>,
) -> End {
    let timeout = ctx.options.limits.read_timeout;
    let (cr, mut cw) = tokio::io::split(client);
    let (sr, mut sw) = tokio::io::split(up);
    let (halt_tx, halt_rx) = watch::channel(false);
    let (reply_tx, reply_rx) = tokio::sync::mpsc::channel::<bool>(1);
    let up_f = pump_client(cr, &mut sw, mode, id, &ctx.tap, reply_rx, timeout);
    let down_f = pump_server(sr, &mut cw, mode, id, &ctx.tap, halt_rx, reply_tx);
    tokio::pin!(up_f, down_f);
    tokio::select! {
        c = &mut up_f => match c {
            ClientEnd::Closed => End::Closed(Some(Direction::Client)),
            ClientEnd::StartTls { tag, discarded } => {
                // Let the server pump finish the chunk it is forwarding.
                let _ = halt_tx.send(true);
                match tokio::time::timeout(timeout, &mut down_f).await {
                    Ok(ServerEnd::Halted | ServerEnd::TlsNext) => End::StartTls { tag, discarded },
                    Ok(ServerEnd::Closed) => End::Closed(Some(Direction::Server)),
                    Err(_) => End::Closed(None),
                }
            }
        },
        d = &mut down_f => match d {
            ServerEnd::Closed => End::Closed(Some(Direction::Server)),
            ServerEnd::Halted => End::Closed(None),
            // The client pump has seen the OK too, or sees it at once.
            ServerEnd::TlsNext => match tokio::time::timeout(timeout, &mut up_f).await {
                Ok(ClientEnd::StartTls { tag, discarded }) => End::StartTls { tag, discarded },
                Ok(ClientEnd::Closed) => End::Closed(Some(Direction::Client)),
                Err(_) => End::Closed(None),
            },
        },
        _ = stop.changed() => End::Closed(None),
    }
}

/// A `* CAPABILITY` line with `STARTTLS` added, for a plain client of an
/// upstream that is TLS already (the one change the proxy makes to what the
/// server sends; the tap and the transcript keep the server's line).
fn offer_starttls(line: &[u8]) -> Option<Vec<u8>> {
    let head = b"* CAPABILITY ";
    if line.len() < head.len()
        || !line[..head.len()].eq_ignore_ascii_case(head)
        || mentions_starttls(&[], line)
    {
        return None;
    }
    let body = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let mut out = body.to_vec();
    out.extend_from_slice(b" STARTTLS\r\n");
    Some(out)
}

/// `bytes` cut after each LF (so a STARTTLS command, or the answer to it,
/// ends a piece), or whole.
fn pieces(bytes: &[u8], split: bool) -> Vec<&[u8]> {
    if split {
        bytes.split_inclusive(|&b| b == b'\n').collect()
    } else {
        vec![bytes]
    }
}

fn mentions_starttls(tail: &[u8], bytes: &[u8]) -> bool {
    mentions(tail, bytes, b"starttls")
}

/// `word` (ASCII, any case) in `bytes`, or across the seam with the `tail`
/// of the chunk before.
fn mentions(tail: &[u8], bytes: &[u8], word: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(word.len())];
    let seam: Vec<u8> = tail.iter().chain(head).copied().collect();
    [&seam[..], bytes]
        .iter()
        .any(|b| b.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word)))
}

/// Client to server: taps each piece before forwarding it, so a STARTTLS
/// stops the copy right after the command.
async fn pump_client<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut from: R,
    to: &mut W,
    mode: StartTlsMode,
    id: &SessionId,
    tap: &Mutex<Tap>,
    mut reply: tokio::sync::mpsc::Receiver<bool>,
    timeout: Duration,
) -> ClientEnd {
    // A fixed buffer: a connection holds this, the framers' bounded open
    // messages and its transcript writer's buffer, whatever either side sends.
    let mut buf = vec![0u8; BUF];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let split = mode != StartTlsMode::Off && mentions_starttls(&tail, chunk);
        tail = chunk[n.saturating_sub(7)..].to_vec();
        let mut done = 0;
        for piece in pieces(chunk, split) {
            let tag = {
                let mut tap = lock(tap);
                tap.bytes(id, Direction::Client, piece);
                tap.take_command(id)
            };
            done += piece.len();
            let Some(tag) = tag else {
                if to.write_all(piece).await.is_err() {
                    return ClientEnd::Closed;
                }
                continue;
            };
            let discarded = n - done;
            if mode == StartTlsMode::Local {
                return ClientEnd::StartTls { tag, discarded };
            }
            // Forwarded: wait for the server's answer before reading on.
            if to.write_all(piece).await.is_err() || to.flush().await.is_err() {
                return ClientEnd::Closed;
            }
            match tokio::time::timeout(timeout, reply.recv()).await {
                Ok(Some(true)) => return ClientEnd::StartTls { tag, discarded },
                // Refused: the rest goes on as plaintext.
                Ok(Some(false)) => {}
                _ => return ClientEnd::Closed,
            }
        }
        if to.flush().await.is_err() {
            return ClientEnd::Closed;
        }
    }
    let _ = to.shutdown().await;
    ClientEnd::Closed
}

/// Server to client: forwards each chunk, then taps it; while a forwarded
/// STARTTLS waits for its answer, piece by piece, stopping after a tagged OK.
async fn pump_server<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut from: R,
    to: &mut W,
    mode: StartTlsMode,
    id: &SessionId,
    tap: &Mutex<Tap>,
    mut halt: watch::Receiver<bool>,
    reply: tokio::sync::mpsc::Sender<bool>,
) -> ServerEnd {
    let mut buf = vec![0u8; BUF];
    // An unfinished line that is or may become `* CAPABILITY`, held for the
    // next read (bounded by `MAX_HELD`): it is amended only whole.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let read = tokio::select! {
            biased;
            _ = halt.wait_for(|h| *h) => return ServerEnd::Halted,
            r = from.read(&mut buf) => r,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let joined: Vec<u8>;
        let bytes: &[u8] = if held.is_empty() {
            &buf[..n]
        } else {
            joined = [held.as_slice(), &buf[..n]].concat();
            held.clear();
            &joined
        };
        let keep = match mode {
            StartTlsMode::Local => open_capability_tail(bytes),
            _ => 0,
        };
        let (bytes, kept) = bytes.split_at(bytes.len() - keep);
        held.extend_from_slice(kept);
        // Only chunks with a CAPABILITY line are cut into lines (to offer
        // STARTTLS); a big FETCH answer is forwarded as it came.
        let local = mode == StartTlsMode::Local && mentions(&[], bytes, b"* CAPABILITY ");
        let split = local || lock(tap).awaiting_reply(id);
        for piece in pieces(bytes, split) {
            let offered = if local { offer_starttls(piece) } else { None };
            // While an answer is awaited, the tap sees each line before the
            // client does: after a COMPRESS's OK the client's next bytes are
            // DEFLATE, and the tap must know that before they can arrive.
            let tapped = split.then(|| {
                let mut tap = lock(tap);
                tap.bytes(id, Direction::Server, piece);
                tap.take_reply(id)
            });
            if to
                .write_all(offered.as_deref().unwrap_or(piece))
                .await
                .is_err()
            {
                return ServerEnd::Closed;
            }
            let answer = match tapped {
                Some(answer) => answer,
                None => {
                    let mut tap = lock(tap);
                    tap.bytes(id, Direction::Server, piece);
                    tap.take_reply(id)
                }
            };
            match answer {
                Some(true) => {
                    let _ = to.flush().await;
                    let _ = reply.try_send(true);
                    return ServerEnd::TlsNext;
                }
                Some(false) => {
                    let _ = reply.try_send(false);
                }
                None => {}
            }
        }
        if to.flush().await.is_err() {
            return ServerEnd::Closed;
        }
    }
    // The server ended inside a held line: it goes on as it came.
    if !held.is_empty() {
        lock(tap).bytes(id, Direction::Server, &held);
        let _ = to.write_all(&held).await;
    }
    let _ = to.shutdown().await;
    ServerEnd::Closed
}

/// Most bytes of an unfinished `* CAPABILITY` line held back; a longer one
/// goes on unamended.
const MAX_HELD: usize = 8 * 1024;

/// How many bytes at the end of `bytes` to hold for the next read: an
/// unfinished last line that begins `* CAPABILITY ` or is the start of it
/// (a read may end anywhere, `* CAPA` included). A client cannot act on an
/// unfinished line, so holding it delays nothing it could use.
fn open_capability_tail(bytes: &[u8]) -> usize {
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let tail = &bytes[start..];
    let head = b"* CAPABILITY ";
    let k = tail.len().min(head.len());
    if !tail.is_empty() && tail.len() <= MAX_HELD && tail[..k].eq_ignore_ascii_case(&head[..k]) {
        tail.len()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_capability_line_is_held_whole() {
        // Cut anywhere in the line, the head included: held.
        let line = b"* CAPABILITY IMAP4rev1 IDLE\r\n";
        for cut in 1..line.len() - 1 {
            let chunk = [&b"a1 OK done\r\n"[..], &line[..cut]].concat();
            assert_eq!(open_capability_tail(&chunk), cut, "cut at {cut}");
        }
        // Whole, or another line, or too long: not held.
        assert_eq!(open_capability_tail(line), 0);
        assert_eq!(open_capability_tail(b"* 1 FETCH (BODY[] {5}"), 0);
        assert_eq!(open_capability_tail(b"a2 OK"), 0);
        let long = [&b"* CAPABILITY "[..], &vec![b'X'; MAX_HELD]].concat();
        assert_eq!(open_capability_tail(&long), 0);
        // Once whole, the held line is amended like any other.
        let whole = [&line[..9], &line[9..]].concat();
        assert_eq!(
            offer_starttls(&whole).as_deref(),
            Some(&b"* CAPABILITY IMAP4rev1 IDLE STARTTLS\r\n"[..])
        );
    }
}
