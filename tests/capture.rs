//! `imapspec check` on packet captures: the TCP streams of a capture are put
//! back in order (retransmissions, out-of-order segments, several connections,
//! pcap and pcapng) and give the same findings as the same session written as
//! a transcript. The last test captures a live session with tcpdump.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use etherparse::PacketBuilder;
use imapspec::cli::check::check_log;
use imapspec::wire::Limits;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

/// The Outlook session of seed 000 (a UID given again after an expunge), as
/// (from the client?, line) pairs.
fn seed000() -> Vec<(bool, String)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("transcripts/field/seed000-outlook-0x800CCCDC.log"),
    )
    .expect("seed 000 log");
    let mut out = vec![(false, "* OK IMAP4rev1 ready".to_string())];
    for l in text.lines() {
        let mut w = l.splitn(5, ' ');
        let (_, _, _, dir, rest) = (w.next(), w.next(), w.next(), w.next(), w.next());
        match (dir, rest) {
            (Some("<"), Some(r)) => out.push((true, r.to_string())),
            (Some(">"), Some(r)) => out.push((false, r.to_string())),
            _ => {}
        }
    }
    out
}

/// The same lines as an imapspec transcript.
fn transcript(lines: &[(bool, String)], path: &Path) {
    let mut t = String::from("# imapspec transcript v1\n");
    for (client, l) in lines {
        t.push_str(if *client { "C: " } else { "S: " });
        t.push_str(l);
        t.push('\n');
    }
    std::fs::write(path, t).expect("write transcript");
}

const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 50123);
const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 143);

/// One TCP segment on the wire: direction, sequence number, flags, payload.
#[derive(Clone)]
struct Seg {
    client: bool,
    seq: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
}

/// A connection's segments: the handshake, each line as one or more segments
/// of at most `mss` bytes, and the FINs. ISNs near 2^32 so sequence numbers
/// wrap inside the session.
fn segments(lines: &[(bool, String)], mss: usize) -> Vec<Seg> {
    let (mut cseq, mut sseq) = (u32::MAX - 40, u32::MAX - 5000);
    let mut out = vec![
        Seg {
            client: true,
            seq: cseq,
            syn: true,
            fin: false,
            payload: vec![],
        },
        Seg {
            client: false,
            seq: sseq,
            syn: true,
            fin: false,
            payload: vec![],
        },
    ];
    cseq = cseq.wrapping_add(1);
    sseq = sseq.wrapping_add(1);
    for (client, l) in lines {
        let bytes = format!("{l}\r\n").into_bytes();
        for piece in bytes.chunks(mss) {
            let seq = if *client { &mut cseq } else { &mut sseq };
            out.push(Seg {
                client: *client,
                seq: *seq,
                syn: false,
                fin: false,
                payload: piece.to_vec(),
            });
            *seq = seq.wrapping_add(piece.len() as u32);
        }
    }
    out.push(Seg {
        client: true,
        seq: cseq,
        syn: false,
        fin: true,
        payload: vec![],
    });
    out.push(Seg {
        client: false,
        seq: sseq,
        syn: false,
        fin: true,
        payload: vec![],
    });
    out
}

/// The Ethernet frame of one segment on connection `port` (client port).
fn frame(s: &Seg, port: u16) -> Vec<u8> {
    let (src, dst) = if s.client {
        ((CLIENT.0, port), SERVER)
    } else {
        (SERVER, (CLIENT.0, port))
    };
    let b = PacketBuilder::ethernet2([0; 6], [0; 6])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, s.seq, 65535);
    let b = if s.syn && !s.client {
        b.syn().ack(1)
    } else if s.syn {
        b.syn()
    } else if s.fin {
        b.fin().ack(1)
    } else {
        b.ack(1)
    };
    let mut out = Vec::with_capacity(b.size(s.payload.len()));
    b.write(&mut out, &s.payload).expect("frame");
    out
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create pcap");
    let mut w = PcapWriter::new(file).expect("pcap writer");
    for (i, f) in frames.iter().enumerate() {
        let p = PcapPacket::new(Duration::from_millis(1_000 + i as u64), f.len() as u32, f);
        w.write_packet(&p).expect("write packet");
    }
}

fn write_pcapng(path: &Path, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create pcapng");
    let mut w = PcapNgWriter::new(file).expect("pcapng writer");
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0xffff,
        options: vec![],
    })
    .expect("idb");
    for (i, f) in frames.iter().enumerate() {
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(1_000 + i as u64),
            original_len: f.len() as u32,
            data: f.as_slice().into(),
            options: vec![],
        })
        .expect("epb");
    }
}

fn dir(name: &str) -> PathBuf {
    support::temp_dir(&format!("capture-{name}"))
}

/// (check id, message) of every finding: what must agree between a capture
/// and a transcript of the same bytes (their origins differ by nature).
fn findings(path: &Path) -> Vec<(String, String)> {
    let r = check_log(path, &Limits::default(), 1000);
    assert!(r.error.is_none(), "{}: {:?}", path.display(), r.error);
    r.findings
        .iter()
        .map(|f| (f.check.to_string(), f.message.clone()))
        .collect()
}

fn expected() -> Vec<(String, String)> {
    let d = dir("expected");
    let t = d.join("seed000.transcript");
    transcript(&seed000(), &t);
    let f = findings(&t);
    assert!(
        f.iter().any(|(c, _)| c == "uid.no-reuse"),
        "the seed 000 session shows its UID reuse: {f:?}"
    );
    f
}

#[test]
fn an_in_order_capture_gives_the_transcripts_findings() {
    let want = expected();
    let d = dir("in-order");
    let frames: Vec<Vec<u8>> = segments(&seed000(), 1460)
        .iter()
        .map(|s| frame(s, CLIENT.1))
        .collect();
    write_pcap(&d.join("a.pcap"), &frames);
    assert_eq!(findings(&d.join("a.pcap")), want);
    write_pcapng(&d.join("a.pcapng"), &frames);
    assert_eq!(findings(&d.join("a.pcapng")), want);
}

/// Small segments, sent out of order, some twice, and a retransmission that
/// overlaps what came before: the streams still come out in order.
#[test]
fn reordered_and_retransmitted_segments_are_put_back_in_order() {
    let want = expected();
    let mut segs = segments(&seed000(), 7);
    // Swap neighbours in each block of 5 data segments (keep the handshake first).
    let n = segs.len();
    let mut i = 2;
    while i + 2 < n - 2 {
        segs.swap(i, i + 2);
        i += 5;
    }
    // Retransmit every 4th data segment later on, and one merged with its
    // successor (an overlapping retransmission).
    let mut frames = Vec::new();
    for (k, s) in segs.iter().enumerate() {
        frames.push(frame(s, CLIENT.1));
        if k > 2 && k % 4 == 0 && k + 1 < n - 2 {
            frames.push(frame(s, CLIENT.1));
            let next = &segs[k + 1];
            if next.client == s.client && next.seq == s.seq.wrapping_add(s.payload.len() as u32) {
                let mut merged = s.clone();
                merged.payload.extend_from_slice(&next.payload);
                frames.push(frame(&merged, CLIENT.1));
            }
        }
    }
    let d = dir("reordered");
    write_pcap(&d.join("r.pcap"), &frames);
    assert_eq!(findings(&d.join("r.pcap")), want);
}

/// Two connections interleaved packet by packet: each is its own session.
#[test]
fn interleaved_connections_are_separate_sessions() {
    let want = expected();
    let a: Vec<Vec<u8>> = segments(&seed000(), 40)
        .iter()
        .map(|s| frame(s, 50001))
        .collect();
    let b: Vec<Vec<u8>> = segments(&seed000(), 40)
        .iter()
        .map(|s| frame(s, 50002))
        .collect();
    let mut frames = Vec::new();
    for k in 0..a.len().max(b.len()) {
        frames.extend(a.get(k).cloned());
        frames.extend(b.get(k).cloned());
    }
    let d = dir("two");
    write_pcap(&d.join("two.pcap"), &frames);
    let got = findings(&d.join("two.pcap"));
    let mut twice = want.clone();
    twice.extend(want);
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(got), sorted(twice));
}

/// A capture that starts after the handshake: port 143 tells the server.
#[test]
fn a_capture_started_mid_connection_is_read() {
    let lines = seed000();
    let segs = segments(&lines[1..], 1460);
    let frames: Vec<Vec<u8>> = segs[2..].iter().map(|s| frame(s, CLIENT.1)).collect();
    let d = dir("mid");
    write_pcap(&d.join("mid.pcap"), &frames);
    let t = d.join("mid.transcript");
    transcript(&lines[1..], &t);
    let want = findings(&t);
    assert!(!want.is_empty());
    assert_eq!(findings(&d.join("mid.pcap")), want);
}

/// A lost segment: the gap is reported as a note and reading goes on; TLS
/// after STARTTLS is reported as unreadable, not checked as IMAP.
#[test]
fn lost_packets_and_tls_are_reported_not_misread() {
    let mut lines = seed000();
    lines.truncate(8);
    lines.push((true, "s1 STARTTLS".into()));
    lines.push((false, "s1 OK Begin TLS negotiation now".into()));
    let mut segs = segments(&lines, 1460);
    // A TLS ClientHello record header and some bytes, after the OK.
    let fin_c = segs.len() - 2;
    let seq = segs[fin_c].seq;
    let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5];
    segs.insert(
        fin_c,
        Seg {
            client: true,
            seq,
            syn: false,
            fin: false,
            payload: hello.to_vec(),
        },
    );
    segs[fin_c + 1].seq = seq.wrapping_add(hello.len() as u32);
    let frames: Vec<Vec<u8>> = segs.iter().map(|s| frame(s, CLIENT.1)).collect();
    let d = dir("tls");
    write_pcap(&d.join("tls.pcap"), &frames);
    let mut notes = Vec::new();
    let mut tls = false;
    let read =
        imapspec::transcript::read_file(&d.join("tls.pcap"), &Limits::default(), &mut |e| match &e
            .kind
        {
            imapspec::event::EventKind::Note { text } => notes.push(text.clone()),
            imapspec::event::EventKind::TlsStarted => tls = true,
            _ => {}
        });
    assert!(read.is_ok(), "{:?}", read.err().map(|e| e.to_string()));
    assert!(tls, "TLS is seen where it starts");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("TLS") && n.contains("imapspec proxy")),
        "{notes:?}"
    );
    assert!(findings(&d.join("tls.pcap"))
        .iter()
        .all(|(c, _)| c != "response.syntax"));

    // Drop one server segment in the middle and send 5 MB of later data so
    // the gap can never fill.
    let mut segs = segments(&seed000(), 1460);
    let lost = segs
        .iter()
        .position(|s| !s.client && !s.syn && s.payload.starts_with(b"* 147 FETCH"))
        .expect("a segment to lose");
    let lost_len = segs[lost].payload.len() as u32;
    segs.remove(lost);
    let last_server = segs
        .iter()
        .rposition(|s| !s.client && !s.fin)
        .expect("server data");
    let mut seq = segs[last_server]
        .seq
        .wrapping_add(segs[last_server].payload.len() as u32);
    let mut more = Vec::new();
    for k in 0..4000 {
        let line = format!(
            "* {} FETCH (FLAGS (\\Seen)){}\r\n",
            1 + k % 100,
            " ".repeat(1300)
        );
        more.push(Seg {
            client: false,
            seq,
            syn: false,
            fin: false,
            payload: line.into_bytes(),
        });
        seq = seq.wrapping_add(more.last().map_or(0, |s: &Seg| s.payload.len() as u32));
    }
    let at = last_server + 1;
    segs.splice(at..at, more);
    let frames: Vec<Vec<u8>> = segs.iter().map(|s| frame(s, CLIENT.1)).collect();
    write_pcap(&d.join("lost.pcap"), &frames);
    let mut notes = Vec::new();
    let mut events = 0;
    imapspec::transcript::read_file(&d.join("lost.pcap"), &Limits::default(), &mut |e| {
        events += 1;
        if let imapspec::event::EventKind::Note { text } = &e.kind {
            notes.push(text.clone());
        }
    })
    .expect("read");
    assert!(
        notes
            .iter()
            .any(|n| n.contains(&format!("{lost_len} bytes")) && n.contains("missing")),
        "{notes:?}"
    );
    assert!(
        events > 4000,
        "reading went on after the gap: {events} events"
    );
}

/// Not a capture, or a damaged one: a clear error naming the file.
#[test]
fn a_damaged_capture_is_a_clear_error() {
    let d = dir("bad");
    let p = d.join("cut.pcap");
    let frames: Vec<Vec<u8>> = segments(&seed000(), 1460)
        .iter()
        .map(|s| frame(s, CLIENT.1))
        .collect();
    write_pcap(&p, &frames);
    let bytes = std::fs::read(&p).expect("read");
    std::fs::write(&p, &bytes[..bytes.len() - 30]).expect("cut");
    let r = check_log(&p, &Limits::default(), 1000);
    let e = r.error.expect("a cut capture is an error");
    assert!(e.contains("cut.pcap") && e.contains("packet"), "{e}");
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A live session against the reference server, captured by tcpdump on
/// loopback: the capture's findings are the transcript's. Needs tcpdump and
/// the right to capture (root); skipped without, unless
/// IMAPSPEC_REQUIRE_TCPDUMP=1 (CI).
#[test]
fn a_tcpdump_capture_of_a_live_session_matches_its_transcript() {
    let required = std::env::var("IMAPSPEC_REQUIRE_TCPDUMP").is_ok_and(|v| v == "1");
    let have = std::process::Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            !required,
            "IMAPSPEC_REQUIRE_TCPDUMP=1 but tcpdump does not run"
        );
        eprintln!("skipped: no tcpdump");
        return;
    }
    let d = dir("live");
    let bin = env!("CARGO_BIN_EXE_imapspec");
    let ready = d.join("ready");
    let _serve = Child(
        std::process::Command::new(bin)
            .args([
                "serve",
                "--imap",
                "127.0.0.1:0",
                "--user",
                "alice:alicepw",
                "--fault",
                "stale-noop-after-expunge",
                "--ready-file",
            ])
            .arg(&ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let mut port = None;
    for _ in 0..200 {
        if let Ok(t) = std::fs::read_to_string(&ready) {
            port = t
                .lines()
                .find_map(|l| l.strip_prefix("imap 127.0.0.1:").map(str::to_string));
            if port.is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = port.expect("the server is listening");
    let pcap = d.join("live.pcap");
    let mut dump = std::process::Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-s", "0", "-w"])
        .arg(&pcap)
        .args(["tcp", "port", &port])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump");
    // tcpdump says "listening on lo" once it captures.
    std::thread::sleep(Duration::from_millis(1500));
    if let Ok(Some(status)) = dump.try_wait() {
        assert!(
            !required,
            "tcpdump exited at once ({status}): not allowed to capture?"
        );
        eprintln!("skipped: tcpdump cannot capture here ({status})");
        return;
    }
    let transcripts = d.join("transcripts");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/outlook/seed000-noop-75ms-after-expunge.toml");
    let run = std::process::Command::new(bin)
        .arg("run")
        .arg(&scenario)
        .args([
            "--server",
            &format!("imap://127.0.0.1:{port}"),
            "--user",
            "alice",
            "--password",
            "alicepw",
            "--transcripts",
        ])
        .arg(&transcripts)
        .arg("-q")
        .output()
        .expect("run");
    std::thread::sleep(Duration::from_millis(500));
    // SIGINT: tcpdump flushes and closes the file.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &dump.id().to_string()])
        .status();
    let _ = dump.wait();
    assert_eq!(
        run.status.code(),
        Some(1),
        "the faulted server fails the scenario: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    let mut from_transcripts = Vec::new();
    for e in std::fs::read_dir(&transcripts)
        .expect("transcripts")
        .flatten()
    {
        from_transcripts.extend(findings(&e.path()));
    }
    from_transcripts.sort();
    let mut from_capture = findings(&pcap);
    from_capture.sort();
    assert!(!from_capture.is_empty(), "the capture shows the fault");
    assert_eq!(from_capture, from_transcripts);
}
