//! Packet captures (pcap and pcapng, as tcpdump and Wireshark write them) read
//! as a log: the TCP streams of plaintext IMAP are reassembled and fed to the
//! same assembler as every other format, so the same checks run.
//!
//! The file formats come from `pcap-file`, the link, IP and TCP layers from
//! `etherparse`; what is ours is the reassembly. Each direction of a
//! connection is put back in sequence order: retransmitted bytes are dropped,
//! out-of-order segments wait (bounded) for the gap before them, and a gap
//! that never fills (the capture lost packets) is reported and skipped. Any
//! port is read: the client is the side that sent the first SYN, or failing
//! that (a capture started mid-connection) the server is the side that greets
//! (`* OK`, `* PREAUTH`, `* BYE`) or uses port 143, or else the lower port.
//! TLS (implicit, or after STARTTLS) cannot be read: the connection gets a
//! note saying so, with a hint, and its encrypted bytes are not checked.
//!
//! An event's origin is the capture's packet number (1-based, as Wireshark's
//! "No." column) where its message began, and its time the packet's time.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

use super::{ReadStats, TranscriptError};
use crate::event::{Assembler, ChunkMeta, Event, EventKind, SessionId};
use crate::source::{Origin, Timestamp};
use crate::wire::{Direction, Limits};

/// Out-of-order bytes one direction may hold while it waits for a gap to
/// fill. A real retransmission arrives within a few round trips, far below
/// this; past it the gap is taken as lost.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// Connections followed at once; the oldest open one is given up past this
/// (a capture of a port scan must not grow without bound).
const MAX_FLOWS: usize = 100_000;

/// The first bytes of a file are a pcap or pcapng header.
pub fn is_capture(head: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 5] = [
        [0xd4, 0xc3, 0xb2, 0xa1], // pcap, microseconds, little-endian
        [0xa1, 0xb2, 0xc3, 0xd4], // pcap, microseconds, big-endian
        [0x4d, 0x3c, 0xb2, 0xa1], // pcap, nanoseconds, little-endian
        [0xa1, 0xb2, 0x3c, 0x4d], // pcap, nanoseconds, big-endian
        [0x0a, 0x0d, 0x0d, 0x0a], // pcapng section header block
    ];
    head.len() >= 4 && MAGICS.iter().any(|m| head[..4] == m[..])
}

/// Reads a capture file and calls `sink` with every event of its IMAP streams.
pub fn read(
    path: &Path,
    name: &Arc<str>,
    limits: &Limits,
    sink: &mut dyn FnMut(Event),
) -> Result<ReadStats, TranscriptError> {
    let err = |packet: Option<u64>, message: String| TranscriptError {
        file: name.to_string(),
        line: packet,
        message,
    };
    let mut file = File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|e| err(None, format!("cannot read: {e}")))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    let input = BufReader::with_capacity(
        256 * 1024,
        File::open(path).map_err(|e| err(None, format!("cannot open: {e}")))?,
    );
    let mut streams = Streams::new(name, limits);
    let mut packet: u64 = 0;
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut reader = PcapNgReader::new(input)
            .map_err(|e| err(None, format!("not a readable pcapng file: {e}")))?;
        // Link types of the interfaces of the current section, by id.
        let mut links: Vec<DataLink> = Vec::new();
        while let Some(block) = reader.next_block() {
            let block =
                block.map_err(|e| err(Some(packet + 1), format!("bad pcapng block: {e}")))?;
            match block {
                Block::SectionHeader(_) => links.clear(),
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb) => {
                    packet += 1;
                    let link = links
                        .get(epb.interface_id as usize)
                        .copied()
                        .ok_or_else(|| {
                            err(
                                Some(packet),
                                format!(
                                    "packet of interface {} that was never described",
                                    epb.interface_id
                                ),
                            )
                        })?;
                    streams.packet(packet, epb.timestamp, link, &epb.data, sink);
                }
                Block::SimplePacket(spb) => {
                    packet += 1;
                    if let Some(&link) = links.first() {
                        streams.packet(packet, std::time::Duration::ZERO, link, &spb.data, sink);
                    }
                }
                Block::Packet(pb) => {
                    // The obsolete Packet Block: microseconds by default.
                    packet += 1;
                    if let Some(&link) = links.get(usize::from(pb.interface_id)) {
                        let time = std::time::Duration::from_micros(pb.timestamp);
                        streams.packet(packet, time, link, &pb.data, sink);
                    }
                }
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(input)
            .map_err(|e| err(None, format!("not a readable pcap file: {e}")))?;
        let link = reader.header().datalink;
        while let Some(p) = reader.next_packet() {
            let p = p.map_err(|e| err(Some(packet + 1), format!("bad pcap packet: {e}")))?;
            packet += 1;
            streams.packet(packet, p.timestamp, link, &p.data, sink);
        }
    }
    streams.finish(sink);
    Ok(ReadStats {
        bytes,
        lines: packet,
        events: streams.events,
    })
}

/// One TCP segment, as far as reassembly needs it.
struct Segment<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
}

/// The TCP segment in one captured frame, if it holds one.
fn segment(link: DataLink, data: &[u8]) -> Option<Segment<'_>> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok()?,
        // Linux cooked v2: a 20-byte header, then the network layer.
        DataLink::LINUX_SLL2 => SlicedPacket::from_ip(data.get(20..)?).ok()?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok()?,
        // BSD loopback: a 4-byte address family, then IP.
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok()?,
        _ => return None,
    };
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        None => return None,
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return None;
    };
    Some(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    })
}

/// One direction of a connection, put back in order.
#[derive(Default)]
struct Stream {
    /// The sequence number of stream offset 0, once known (after SYN, or the
    /// first segment seen).
    base: Option<u32>,
    /// The next offset to deliver.
    next: u64,
    /// Segments ahead of `next`: offset → (bytes, packet, time).
    pending: BTreeMap<u64, (Vec<u8>, u64, Timestamp)>,
    pending_bytes: usize,
    /// Offset of the FIN, once seen.
    fin: Option<u64>,
    closed: bool,
}

impl Stream {
    /// The stream offset of sequence number `seq`, taken nearest to `next`
    /// (sequence numbers wrap at 2^32; a stream may be longer).
    fn offset(&self, seq: u32, base: u32) -> u64 {
        let rel = seq.wrapping_sub(base);
        let delta = rel.wrapping_sub(self.next as u32) as i32;
        self.next.saturating_add_signed(i64::from(delta))
    }
}

struct Flow {
    id: SessionId,
    client: SocketAddr,
    /// [client → server, server → client].
    dirs: [Stream; 2],
    /// The rest of the connection is TLS: nothing more is read.
    tls: bool,
    /// The side that sent the first FIN: it closed the connection.
    first_fin: Option<Direction>,
    /// Order of creation, to give up the oldest past `MAX_FLOWS`.
    born: u64,
}

struct Streams {
    name: Arc<str>,
    assembler: Assembler,
    /// Keyed by (lower address, higher address).
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    born: u64,
    out: Vec<Event>,
    events: u64,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// A first payload that only a server sends.
fn greets(payload: &[u8]) -> bool {
    let head = &payload[..payload.len().min(10)];
    let upper = head.to_ascii_uppercase();
    upper.starts_with(b"* OK") || upper.starts_with(b"* PREAUTH") || upper.starts_with(b"* BYE")
}

impl Streams {
    fn new(name: &Arc<str>, limits: &Limits) -> Self {
        Streams {
            name: Arc::clone(name),
            assembler: Assembler::new(limits.clone()),
            flows: HashMap::new(),
            born: 0,
            out: Vec::new(),
            events: 0,
        }
    }

    fn meta(&self, packet: u64, at: Timestamp) -> ChunkMeta {
        ChunkMeta {
            origin: Origin::new(&self.name, packet),
            at: Some(at),
        }
    }

    fn packet(
        &mut self,
        packet: u64,
        time: std::time::Duration,
        link: DataLink,
        data: &[u8],
        sink: &mut dyn FnMut(Event),
    ) {
        let Some(seg) = segment(link, data) else {
            return;
        };
        let at = Timestamp(i64::try_from(time.as_nanos()).unwrap_or(i64::MAX));
        let k = key(seg.src, seg.dst);
        if !self.flows.contains_key(&k) {
            if seg.payload.is_empty() && !seg.syn {
                return; // a bare ACK or FIN of a connection we never saw
            }
            let client = if seg.syn {
                // SYN alone comes from the client; SYN+ACK from the server.
                if seg.ack {
                    seg.dst
                } else {
                    seg.src
                }
            } else if greets(seg.payload) {
                seg.dst
            } else if seg.dst.port() == 143
                || (seg.src.port() != 143 && seg.dst.port() < seg.src.port())
            {
                seg.src
            } else {
                seg.dst
            };
            let server = if client == seg.src { seg.dst } else { seg.src };
            self.evict_if_full();
            self.born += 1;
            let flow = Flow {
                id: Arc::from(format!("{client}-{server}")),
                client,
                dirs: [Stream::default(), Stream::default()],
                tls: false,
                first_fin: None,
                born: self.born,
            };
            self.flows.insert(k, flow);
        }
        let Some(flow) = self.flows.get_mut(&k) else {
            return;
        };
        let dir = if seg.src == flow.client {
            Direction::Client
        } else {
            Direction::Server
        };
        let stream = &mut flow.dirs[dir_index(dir)];
        if seg.rst {
            let id = Arc::clone(&flow.id);
            // Bytes still waiting for a gap will never come; what is in
            // order was delivered already.
            let meta = self.meta(packet, at);
            self.assembler.close(&id, Some(dir), meta, &mut self.out);
            self.flows.remove(&k);
            self.drain(sink);
            return;
        }
        if seg.syn {
            stream.base = Some(seg.seq.wrapping_add(1));
            stream.next = 0;
        }
        let base = *stream.base.get_or_insert(seg.seq);
        // SYN takes one sequence number before the data.
        let data_seq = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let start = stream.offset(data_seq, base);
        if seg.fin && stream.fin.is_none() {
            stream.fin = Some(start + seg.payload.len() as u64);
            flow.first_fin.get_or_insert(dir);
        }
        if !seg.payload.is_empty() && !flow.tls {
            let end = start + seg.payload.len() as u64;
            if end > stream.next {
                // Keep only what is new: a retransmission repeats bytes we have.
                let skip = stream.next.saturating_sub(start) as usize;
                let offset = start.max(stream.next);
                let bytes = seg.payload[skip..].to_vec();
                match stream.pending.get(&offset) {
                    Some((have, ..)) if have.len() >= bytes.len() => {}
                    _ => {
                        stream.pending_bytes += bytes.len();
                        if let Some((old, ..)) = stream.pending.insert(offset, (bytes, packet, at))
                        {
                            stream.pending_bytes -= old.len();
                        }
                    }
                }
            }
        }
        self.deliver(&k, dir, packet, at, sink);
    }

    /// Delivers what is in order in one direction; skips a gap that cannot
    /// fill. `packet` and `at` are the segment's that triggered it (they
    /// stamp a close).
    fn deliver(
        &mut self,
        k: &(SocketAddr, SocketAddr),
        dir: Direction,
        packet: u64,
        at: Timestamp,
        sink: &mut dyn FnMut(Event),
    ) {
        let Some(flow) = self.flows.get_mut(k) else {
            return;
        };
        let id = Arc::clone(&flow.id);
        let stream = &mut flow.dirs[dir_index(dir)];
        let mut chunks: Vec<(Vec<u8>, u64, Timestamp)> = Vec::new();
        let mut notes: Vec<(String, u64, Timestamp)> = Vec::new();
        while let Some((&offset, _)) = stream.pending.iter().next() {
            if offset > stream.next {
                if stream.pending_bytes <= MAX_PENDING {
                    break;
                }
                // The gap never filled: those bytes are not in the capture.
                let (_, p, t) = &stream.pending[&offset];
                notes.push((
                    format!(
                        "{} bytes of the {} stream are missing from the capture (packets lost); reading goes on after the gap",
                        offset - stream.next,
                        dir_name(dir)
                    ),
                    *p,
                    *t,
                ));
                stream.next = offset;
            }
            let Some((offset, (bytes, p, t))) = stream.pending.pop_first() else {
                break;
            };
            stream.pending_bytes -= bytes.len();
            let end = offset + bytes.len() as u64;
            if end <= stream.next {
                continue;
            }
            let skip = (stream.next - offset) as usize;
            stream.next = end;
            chunks.push((bytes[skip..].to_vec(), p, t));
        }
        if stream.fin.is_some_and(|f| stream.next >= f) {
            stream.closed = true;
        }
        for (text, p, t) in notes {
            self.note(&id, text, p, t);
        }
        for (bytes, p, t) in chunks {
            let Some(flow) = self.flows.get_mut(k) else {
                return;
            };
            // TLS starts where a message would: implicit TLS at once,
            // STARTTLS after its tagged OK.
            let starts = !flow.tls
                && crate::wire::starts_tls_record(&bytes)
                && !self.assembler.in_message(&id, dir);
            if starts {
                flow.tls = true;
                let meta = self.meta(p, t);
                self.out.push(Event {
                    session: Arc::clone(&id),
                    at: meta.at,
                    origin: meta.origin,
                    raw: Vec::new(),
                    kind: EventKind::TlsStarted,
                });
                self.note(
                    &id,
                    "the rest of this connection is TLS and cannot be read from a capture: capture plaintext IMAP (port 143 without STARTTLS), run the client through `imapspec proxy`, or use the server's own protocol log".into(),
                    p,
                    t,
                );
            }
            if self.flows.get(k).is_some_and(|f| f.tls) {
                continue;
            }
            let meta = self.meta(p, t);
            self.assembler
                .push_owned(&id, dir, bytes, meta, &mut self.out);
        }
        let done = self
            .flows
            .get(k)
            .is_some_and(|f| f.dirs.iter().all(|s| s.closed));
        if done {
            if let Some(flow) = self.flows.remove(k) {
                let meta = self.meta(packet, at);
                self.assembler
                    .close(&id, flow.first_fin, meta, &mut self.out);
            }
        }
        self.drain(sink);
    }

    fn note(&mut self, id: &SessionId, text: String, packet: u64, at: Timestamp) {
        let meta = self.meta(packet, at);
        self.out.push(Event {
            session: Arc::clone(id),
            at: meta.at,
            origin: meta.origin,
            raw: text.as_bytes().to_vec(),
            kind: EventKind::Note { text },
        });
    }

    /// Gives up the oldest connection when too many are open at once.
    fn evict_if_full(&mut self) {
        if self.flows.len() < MAX_FLOWS {
            return;
        }
        if let Some(k) = self
            .flows
            .iter()
            .min_by_key(|(_, f)| f.born)
            .map(|(k, _)| *k)
        {
            if let Some(flow) = self.flows.remove(&k) {
                let meta = ChunkMeta {
                    origin: Origin::new(&self.name, 0),
                    at: None,
                };
                self.assembler.close(&flow.id, None, meta, &mut self.out);
            }
        }
    }

    fn drain(&mut self, sink: &mut dyn FnMut(Event)) {
        for e in self.out.drain(..) {
            self.events += 1;
            sink(e);
        }
    }

    fn finish(&mut self, sink: &mut dyn FnMut(Event)) {
        self.assembler.finish(&mut self.out);
        self.drain(sink);
    }
}

fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::Client => 0,
        Direction::Server => 1,
    }
}

fn dir_name(dir: Direction) -> &'static str {
    match dir {
        Direction::Client => "client-to-server",
        Direction::Server => "server-to-client",
    }
}
