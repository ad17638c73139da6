//! Hard bounds on what the harness accepts from a peer or a log file.
//!
//! The server under test is never trusted: a line without end, a literal of 4 GB or
//! a server that stops talking must become a finding or a clear error, never
//! unbounded memory or a hang. Every bound lives here, with its default.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest line (without its literals) kept whole; longer lines are cut and
    /// reported.
    pub max_line: usize,
    /// Largest single literal kept; larger ones are skipped (counted, not stored).
    pub max_literal: usize,
    /// Largest whole message (line + literals) kept.
    pub max_message: usize,
    /// Longest a live read may wait for bytes from the server.
    pub read_timeout: Duration,
    /// Longest one command may take to complete, however busy the server is.
    pub command_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 8 * 1024 * 1024,
            max_message: 16 * 1024 * 1024,
            read_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
        }
    }
}
