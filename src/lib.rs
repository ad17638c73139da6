//! imapspec: an IMAP conformance and client-compatibility test harness.
//!
//! Data flows one way:
//!
//! ```text
//!  live session ─┐   (writes its transcript as it goes)
//!  log file ─────┴─► wire (framing, strict decode) ─► event ─► model ─► checks ─► finding ─► report
//! ```
//!
//! # Layout
//! - [`clock`]: the one clock shared by waits, timeouts and server timers.
//! - [`source`]: where evidence came from (file and line) and timestamps.
//! - [`wire`]: bytes ⇄ IMAP messages: bounded framing, strict imap-codec decoding.
//! - [`event`]: framed and decoded messages as an ordered stream of events.
//! - [`model`]: what a careful client knows (seq↔UID maps, EXISTS, UIDNEXT, ...).
//! - [`checks`]: the RFC invariants, by id, judging each event against the model.
//! - [`finding`]: one failed check at one place.
//! - [`transcript`]: reading recorded sessions (generic, Dovecot rawlog, field logs)
//!   and writing the generic transcript of a live session.
//! - [`session`]: a raw IMAP client over TCP, TLS or STARTTLS that records every byte.
//! - [`scenario`]: scenario files (TOML + a small script language), parsed.
//! - [`runner`]: runs scenarios on live sessions against a target server.
//! - [`baseline`]: known deviations that are shown but do not fail a run.
//! - [`results`]: what a run produced: plain data for reports.
//! - [`report`]: terminal, JSON, JUnit, HTML and Markdown reports.
//! - [`load`]: many concurrent simulated clients for a bounded time, checks on.
//! - [`server`]: the reference IMAP + SMTP server, with fault switches.
//! - [`cli`]: the `imapspec` command line.
//! - [`fuzzing`]: entry points for the fuzzers (harness stream, server commands).

pub mod checks;
pub mod cli;

pub mod baseline;
pub mod clock;
pub mod event;
pub mod finding;
pub mod fuzzing;
pub mod load;
pub mod model;
pub mod proxy;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod server;
pub mod session;

pub mod source;
pub mod transcript;

pub mod wire;
