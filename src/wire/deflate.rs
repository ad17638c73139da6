//! COMPRESS=DEFLATE (RFC 4978) on the wire: raw DEFLATE (RFC 1951, no zlib
//! header) each way, one `Inflater` for what arrives and one `Deflater` for
//! what is sent, shared by the reference server, the harness's live sessions
//! and the proxy's tap.
//!
//! Neither side is trusted to be small: `Inflater::inflate` produces at most
//! the number of bytes the caller asks for per call, so a compression bomb
//! (a few KB that inflate to gigabytes) is inflated piece by piece into the
//! caller's own bounded reader and never whole into memory. A stream that is
//! not DEFLATE is an error with a reason, never a panic.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Inflates one direction of a compressed connection.
#[derive(Debug)]
pub struct Inflater {
    d: Decompress,
    /// The peer ended its DEFLATE stream (a final block): nothing more may come.
    ended: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        Inflater {
            // RFC 4978 3: raw DEFLATE, no zlib header.
            d: Decompress::new(false),
            ended: false,
        }
    }

    /// Inflates from `input`, appending at most `max_out` bytes to `out`.
    /// Returns how many input bytes were taken and how many were produced;
    /// call again with the rest of the input while either is non-zero.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: usize,
    ) -> Result<(usize, usize), String> {
        if input.is_empty() || max_out == 0 {
            return Ok((0, 0));
        }
        if self.ended {
            return Err("data after the end of the DEFLATE stream".into());
        }
        let start = out.len();
        // Only `max_out` bytes of room are offered to the inflater.
        out.resize(start + max_out, 0);
        let (before_in, before_out) = (self.d.total_in(), self.d.total_out());
        let status = self
            .d
            .decompress(input, &mut out[start..], FlushDecompress::None);
        let taken = usize::try_from(self.d.total_in() - before_in).unwrap_or(input.len());
        let produced = usize::try_from(self.d.total_out() - before_out)
            .unwrap_or(0)
            .min(max_out);
        out.truncate(start + produced);
        let status = status.map_err(|e| format!("the compressed stream is corrupt: {e}"))?;
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok((taken.min(input.len()), produced))
    }
}

/// Deflates one direction of a compressed connection.
#[derive(Debug)]
pub struct Deflater {
    c: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflater {
    pub fn new() -> Self {
        Deflater {
            c: Compress::new(Compression::new(6), false),
        }
    }

    /// Compresses all of `input` and appends it to `out`, ending with a sync
    /// flush (zlib's Z_SYNC_FLUSH): the peer can inflate every byte sent so
    /// far without waiting for more, so a response burst never sits in the
    /// compressor while the client waits for it.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let mut pos = 0;
        loop {
            out.reserve((input.len() - pos) / 2 + 64);
            let before_in = self.c.total_in();
            self.c
                .compress_vec(&input[pos..], out, FlushCompress::Sync)
                .map_err(|e| format!("compression failed: {e}"))?;
            let taken = usize::try_from(self.c.total_in() - before_in).unwrap_or(0);
            pos = (pos + taken).min(input.len());
            // The flush is complete once the compressor left room unused.
            if pos == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The tag of a `TAG COMPRESS DEFLATE` command (its first line), the
/// command after whose tagged OK both directions are DEFLATE.
pub fn compress_command(bytes: &[u8]) -> Option<String> {
    let line = super::decode::first_line(bytes);
    let mut words = line.split(' ');
    let tag = words.next()?;
    let name = words.next()?;
    let algorithm = words.next()?.trim_end();
    (name.eq_ignore_ascii_case("COMPRESS") && algorithm.eq_ignore_ascii_case("DEFLATE"))
        .then(|| tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_pieces() {
        let mut d = Deflater::new();
        let mut wire = Vec::new();
        d.compress(b"a1 OK DEFLATE active\r\n", &mut wire).unwrap();
        let mut second = Vec::new();
        d.compress(&vec![b'x'; 100_000], &mut second).unwrap();
        let mut i = Inflater::new();
        let mut out = Vec::new();
        let (taken, produced) = i.inflate(&wire, &mut out, 1 << 20).unwrap();
        assert_eq!((taken, produced), (wire.len(), 22));
        assert_eq!(out, b"a1 OK DEFLATE active\r\n");
        // Bounded output: 100,000 bytes come out 4,096 at a time.
        let mut rest = &second[..];
        let mut total = 0;
        loop {
            let mut piece = Vec::new();
            let (taken, produced) = i.inflate(rest, &mut piece, 4096).unwrap();
            assert!(produced <= 4096);
            total += produced;
            rest = &rest[taken..];
            if taken == 0 && produced == 0 {
                break;
            }
        }
        assert_eq!(total, 100_000);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut i = Inflater::new();
        let mut out = Vec::new();
        let r = i.inflate(&[0xff; 64], &mut out, 4096);
        assert!(r.is_err(), "{r:?}");
    }
}
