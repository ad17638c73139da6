//! COMPRESS DEFLATE (RFC 4978): the command and its capability. The layer
//! itself (inflating what is read, deflating each flush) is `io`'s; the run
//! loop turns it on after the tagged OK has gone out uncompressed.
//!
//! RFC 4978 section 5 puts the command in the authenticated state:
//! `command-auth =/ compress` and `compress = "COMPRESS" SP algorithm` with
//! `algorithm = "DEFLATE"`; `capability =/ "COMPRESS=" algorithm`. So the
//! capability is announced once logged in (LOGIN's `OK [CAPABILITY ...]` and
//! CAPABILITY after it), and not before: before login the command is refused
//! like every other authenticated-state command. Once compression is on it is
//! no longer announced (it cannot be started again).
//!
//! Section 3's results, word for word:
//!
//! > Result: OK The server will compress its responses and expects the
//! > client to compress its commands.
//! > NO Compression is already active via another layer.
//! > BAD Command unknown, invalid or unknown argument, or COMPRESS
//! > already active.
//!
//! So a second COMPRESS is `BAD`, with the `COMPRESSIONACTIVE` code the
//! section's grammar adds (`resp-text-code =/ "COMPRESSIONACTIVE"`) saying why,
//! as Cyrus answers it. An unknown algorithm does not parse
//! (`algorithm = "DEFLATE"`) and gets the run loop's `BAD`. TLS here never
//! compresses, so the `NO` case does not arise. STARTTLS after COMPRESS is
//! refused by the STARTTLS handler: COMPRESS needs a login, STARTTLS is only
//! taken before one.

use super::super::io::Io;
use super::super::session::{Outcome, Session};

/// Adds `COMPRESS=DEFLATE` to a capability list when the command may be given.
pub fn add_compress_capability(session: &Session, io: &Io, caps: &mut String) {
    if session.user().is_some() && !io.is_compressed() {
        caps.push_str(" COMPRESS=DEFLATE");
    }
}

impl Session {
    pub(in crate::server::imap) fn cmd_compress(&self, tag: &str, io: &mut Io) -> Outcome {
        if io.is_compressed() {
            io.write(&format!(
                "{tag} BAD [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n"
            ));
            return Outcome::Continue;
        }
        io.write(&format!("{tag} OK DEFLATE active\r\n"));
        Outcome::Compress
    }
}
