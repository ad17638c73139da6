//! FETCH-side message rendering rates: ENVELOPE, BODYSTRUCTURE and a nested
//! `BODY[section]` over a few realistic messages, single-threaded, in process
//! (no network), so a change to `server::message` can be compared before and
//! after. `cargo bench --bench message`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{Part, Section};
use imapspec::server::message;

fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

/// A plain text message of about 2 KB.
fn plain() -> Vec<u8> {
    let mut m = crlf(
        "Date: Mon, 7 Feb 1994 21:52:25 -0800\nFrom: Fred Foobar <foobar@Blurdybloop.example>\n\
         Subject: afternoon meeting\nTo: mooch@owatagu.siam.example, \"Doe, John\" <john@x.org>\n\
         Message-Id: <B27397-0100000@Blurdybloop.example>\nMIME-Version: 1.0\n\
         Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\n",
    );
    for i in 0..30 {
        m.extend_from_slice(
            format!("line {i} of a plain text body, nothing special here\r\n").as_bytes(),
        );
    }
    m
}

/// multipart/mixed: text, a 64 KB base64 attachment, and an attached
/// multipart/alternative message.
fn mixed() -> Vec<u8> {
    let mut m = crlf(
        "From: \"Sender, The\" <s@example.com>\nTo: r@example.com\nCc: undisclosed-recipients:;\n\
         Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= report\nDate: Tue, 1 Mar 2022 10:00:00 +0000\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n\
         --outer\nContent-Type: text/plain; charset=utf-8\n\nSee attached.\n\
         --outer\nContent-Type: application/pdf; name=\"report.pdf\"\n\
         Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"report.pdf\"\n\n",
    );
    for _ in 0..(64 * 1024 / 78) {
        m.extend_from_slice(
            b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+\r\n",
        );
    }
    m.extend_from_slice(&crlf(
        "--outer\nContent-Type: message/rfc822\n\nFrom: inner@example.org\nSubject: inner\n\
         Content-Type: multipart/alternative; boundary=inner\n\n--inner\nContent-Type: text/plain\n\n\
         inner text\n--inner\nContent-Type: text/html\n\n<b>inner</b>\n--inner--\n--outer--\n",
    ));
    m
}

fn rate(name: &str, raw: &[u8], f: impl Fn(&[u8]) -> usize) {
    // Warm up, then run for about a second.
    let mut sink = 0usize;
    for _ in 0..100 {
        sink = sink.wrapping_add(f(black_box(raw)));
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            sink = sink.wrapping_add(f(black_box(raw)));
        }
        n += 100;
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(sink);
    println!(
        "message: {name:<32} {:>10.0} /s  ({:.2} us each, {} bytes)",
        n as f64 / secs,
        secs * 1e6 / n as f64,
        raw.len()
    );
}

fn main() {
    let nested = Section::Part(Part(
        Vec1::try_from(vec![3.try_into().unwrap(), 2.try_into().unwrap()]).unwrap(),
    ));
    for (label, raw) in [("plain", plain()), ("mixed", mixed())] {
        rate(&format!("{label} ENVELOPE"), &raw, |r| {
            message::envelope(r).len()
        });
        rate(&format!("{label} BODYSTRUCTURE"), &raw, |r| {
            message::body_structure(r, true).len()
        });
        rate(&format!("{label} BODY[3.2]"), &raw, |r| {
            message::section(r, Some(&nested)).len()
        });
        rate(&format!("{label} parse (APPEND)"), &raw, |r| {
            message::parse(r).size as usize
        });
        // The floor under BODYSTRUCTURE and BODY[section]: mail-parser alone,
        // configured as server::message configures it.
        let parser = mail_parser::MessageParser::new()
            .header_content_type(mail_parser::HeaderName::ContentType)
            .header_comma_separated(mail_parser::HeaderName::ContentTransferEncoding)
            .default_header_raw();
        rate(&format!("{label} mail-parser alone"), &raw, |r| {
            parser.parse(r).map_or(0, |m| m.parts.len())
        });
    }
}
