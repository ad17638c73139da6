//! The reference IMAP + SMTP server (`imapspec serve`, and embedded in `imapspec run`).

pub mod message;
pub mod search;
pub mod seqset;
pub mod smtp;
