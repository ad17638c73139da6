//! Bytes ⇄ IMAP messages, with no I/O.
//!
//! `framing` cuts a byte stream (either direction) into whole messages (a line plus
//! any literals it announces) under hard `Limits`; `decode` turns one message into an
//! owned, simplified `ServerMessage` or `ClientMessage` with imap-codec's strict
//! parser, and keeps the raw bytes and a reason when the strict parser refuses it.
//! Sessions (live sockets) and transcript readers (files) both feed this module, so
//! a live run and its recorded transcript are judged on the same messages.

pub mod decode;
pub mod deflate;
pub mod esearch;
pub mod extended;
pub mod framing;
pub mod limits;
pub mod message;
mod message_fast;
pub mod thread;

pub use framing::{Frame, Framer};

/// A piece of a command to send: text, or a literal's bytes (sent after
/// `{n}` and the server's `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Literal(Vec<u8>),
}
pub use limits::Limits;
pub use message::*;

/// Which side sent some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Client to server.
    Client,
    /// Server to client.
    Server,
}

impl Direction {
    /// The prefix used in the generic transcript format.
    pub fn prefix(self) -> char {
        match self {
            Direction::Client => 'C',
            Direction::Server => 'S',
        }
    }
}

/// The bytes start a TLS record (handshake, alert or application data; TLS
/// 1.0 to 1.3): where plaintext IMAP was expected, TLS has begun (implicit
/// TLS, or after STARTTLS's OK).
pub fn starts_tls_record(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && matches!(bytes[0], 0x14..=0x17) && bytes[1] == 0x03 && bytes[2] <= 0x04
}
