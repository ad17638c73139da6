//! What `server::message` renders for FETCH, over a corpus of well-formed
//! and malformed messages: ENVELOPE, BODYSTRUCTURE, BODY, and which
//! `BODY[section]`s are non-empty (with their sizes), each output also
//! parsed by imap-codec. The expectations were taken from the hand-written
//! MIME parser this module had before it used mail-parser, where both agreed
//! (a differential test compared them over this corpus); where they did not,
//! the case says why the new reading is the RFC's.

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use imapspec::server::message;

struct Case {
    name: &'static str,
    raw: &'static [u8],
    envelope: &'static str,
    bodystructure: &'static str,
    body: &'static str,
    /// `spec=octets` for every non-empty section among the specs below.
    sections: &'static str,
}

/// The sections tried: HEADER and TEXT, then every part path up to 4.3.3
/// with each suffix (HEADER.FIELDS are checked in the unit tests).
fn specs() -> Vec<String> {
    let mut paths = Vec::new();
    for a in 1..=4 {
        paths.push(format!("{a}"));
        for b in 1..=3 {
            paths.push(format!("{a}.{b}"));
            for c in 1..=3 {
                paths.push(format!("{a}.{b}.{c}"));
            }
        }
    }
    let mut out = vec!["HEADER".to_string(), "TEXT".into()];
    for p in paths {
        for suffix in ["", ".MIME", ".HEADER", ".TEXT"] {
            out.push(format!("{p}{suffix}"));
        }
    }
    out
}

/// `BODY[spec]` of `raw`, the section parsed by imap-codec from a FETCH
/// command as the server gets it.
fn fetch(raw: &[u8], spec: &str) -> Vec<u8> {
    let line = format!("a FETCH 1 (BODY.PEEK[{spec}])\r\n");
    let (_, cmd) = CommandCodec::default()
        .decode(line.as_bytes())
        .unwrap_or_else(|e| panic!("bad section {spec:?}: {e:?}"));
    let CommandBody::Fetch {
        macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
        ..
    } = cmd.body
    else {
        panic!("not a FETCH");
    };
    let section: Option<&Section<'_>> = match names.first() {
        Some(MessageDataItemName::BodyExt { section, .. }) => section.as_ref(),
        other => panic!("{other:?}"),
    };
    message::section(raw, section)
}

fn decodes(item: &str) -> bool {
    let line = format!("* 1 FETCH ({item})\r\n");
    match ResponseCodec::default().decode(line.as_bytes()) {
        Ok((rest, Response::Data(Data::Fetch { items, .. }))) => {
            rest.is_empty()
                && items.as_ref().len() == 1
                && !matches!(items.as_ref()[0], MessageDataItem::Rfc822Size(_))
        }
        _ => false,
    }
}

#[test]
fn corpus_renders_as_expected() {
    let mut failures = Vec::new();
    for case in CASES {
        let raw = case.raw;
        let env = message::envelope(raw);
        let bs = message::body_structure(raw, true);
        let body = message::body_structure(raw, false);
        let mut secs = Vec::new();
        for spec in specs() {
            let bytes = fetch(raw, &spec);
            if !bytes.is_empty() {
                secs.push(format!("{spec}={}", bytes.len()));
            }
        }
        let secs = secs.join(" ");
        for (what, got, want) in [
            ("ENVELOPE", env.as_str(), case.envelope),
            ("BODYSTRUCTURE", bs.as_str(), case.bodystructure),
            ("BODY", body.as_str(), case.body),
            ("sections", secs.as_str(), case.sections),
        ] {
            if got != want {
                failures.push(format!(
                    "[{}] {what}\n  got:  {got}\n  want: {want}",
                    case.name
                ));
            }
        }
        for item in [
            format!("ENVELOPE {env}"),
            format!("BODYSTRUCTURE {bs}"),
            format!("BODY {body}"),
        ] {
            if !decodes(&item) {
                failures.push(format!("[{}] imap-codec refuses {item:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const CASES: &[Case] = &[
    Case {
        name: "plain",
        raw: b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n",
        envelope: "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \"owatagu.siam.example\")) NIL NIL NIL \"<B27397-0100000@Blurdybloop.example>\")",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 55 1)",
        sections: "HEADER=261 TEXT=55 1=55 1.MIME=261",
    },
    Case {
        name: "alternative",
        raw: b"From: a@example.com\r\nSubject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hi</p>\r\n--b1--\r\nepilogue\r\n",
        envelope: "(NIL \"alt\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b1\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 1)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 9 1) \"alternative\")",
        sections: "HEADER=108 TEXT=198 1=15 1.MIME=88 2=9 2.MIME=42",
    },
    Case {
        name: "mixed",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-ID: <pdf1@example.com>\r\nContent-Description: The report\r\nContent-Language: en, de\r\n\r\nJVBERi0xLjQK\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner subject\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--inner--\r\n--outer--\r\n",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12 NIL (\"attachment\" (\"filename\" \"report.pdf\")) (\"en\" \"de\") NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 212 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 13 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 212 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1) \"alternative\") 13) \"mixed\")",
        sections: "HEADER=179 TEXT=575 1=13 1.MIME=28 2=12 2.MIME=234 3=212 3.MIME=32 3.HEADER=104 3.TEXT=108 3.1=10 3.1.MIME=28 3.2=12 3.2.MIME=27",
    },
    Case {
        name: "server_imap fixture",
        raw: b"From: \"Alice A.\" <alice@example.org>\r\nTo: bob@example.org, \"Carol\" <carol@example.org>\r\nSubject: hello 1\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain 1\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html 1</p>\r\n--b--\r\n",
        envelope: "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello 1\" ((\"Alice A.\" NIL \"alice\" \"example.org\")) ((\"Alice A.\" NIL \"alice\" \"example.org\")) ((\"Alice A.\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")(\"Carol\" NIL \"carol\" \"example.org\")) NIL NIL NIL \"<1@x>\")",
        bodystructure: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 7 1)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) \"alternative\")",
        sections: "HEADER=235 TEXT=111 1=7 1.MIME=43 2=13 2.MIME=27",
    },
    Case {
        name: "nested multipart",
        raw: b"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\npre\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\none\r\n--i\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--r\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <img@x>\r\n\r\niVBORw0KGgo=\r\n--r--\r\n--i--\r\nepi-i\r\n--o\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n--o--\r\nepi-o\r\n",
        envelope: "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"image\" \"png\" NIL \"<img@x>\" NIL \"base64\" 12 NIL NIL NIL NIL) \"related\" (\"boundary\" \"r\") NIL NIL NIL) \"alternative\" (\"boundary\" \"i\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 6 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)",
        body: "(((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)(\"image\" \"png\" NIL \"<img@x>\" NIL \"base64\" 12) \"related\") \"alternative\")(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 6 1) \"mixed\")",
        sections: "HEADER=58 TEXT=438 1=255 1.MIME=51 1.1=3 1.1.MIME=28 1.2=151 1.2.MIME=47 1.2.1=10 1.2.1.MIME=27 1.2.2=12 1.2.2.MIME=83 2=6 2.MIME=93",
    },
    Case {
        name: "rfc822 in multipart",
        raw: b"Subject: outer\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nintro\r\n--x\r\nContent-Type: message/rfc822\r\nContent-Description: fwd\r\n\r\nFrom: Inner <in@x.org>\r\nTo: undisclosed-recipients:;\r\nSubject: inner\r\nDate: 1 Jan 2020 00:00:00 +0000\r\n\r\ninner body\r\nline 2\r\n--x--\r\n",
        envelope: "(NIL \"outer\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL \"fwd\" \"7BIT\" 123 (\"1 Jan 2020 00:00:00 +0000\" \"inner\" ((\"Inner\" NIL \"in\" \"x.org\")) ((\"Inner\" NIL \"in\" \"x.org\")) ((\"Inner\" NIL \"in\" \"x.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 18 2 NIL NIL NIL NIL) 7 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)",
        body: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1)(\"message\" \"rfc822\" NIL NIL \"fwd\" \"7BIT\" 123 (\"1 Jan 2020 00:00:00 +0000\" \"inner\" ((\"Inner\" NIL \"in\" \"x.org\")) ((\"Inner\" NIL \"in\" \"x.org\")) ((\"Inner\" NIL \"in\" \"x.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 18 2) 7) \"mixed\")",
        sections: "HEADER=61 TEXT=209 1=5 1.MIME=2 2=123 2.MIME=58 2.HEADER=105 2.TEXT=18 2.1=18 2.1.MIME=105",
    },
    Case {
        name: "rfc822 top",
        raw: b"Subject: wrap\r\nContent-Type: message/rfc822\r\n\r\nSubject: wrapped\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n--w\r\n\r\nw1\r\n--w\r\n\r\nw2\r\n--w--\r\n",
        envelope: "(NIL \"wrap\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 92 (NIL \"wrapped\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"w\") NIL NIL NIL) 10 NIL NIL NIL NIL)",
        body: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 92 (NIL \"wrapped\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1) \"mixed\") 10)",
        sections: "HEADER=47 TEXT=92 1=92 1.MIME=47 1.HEADER=63 1.TEXT=29 1.1=2 1.1.MIME=2 1.2=2 1.2.MIME=2",
    },
    Case {
        name: "single part message in multipart",
        raw: b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody of inner\r\n--x--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 28 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)",
        body: "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 28 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) 3) \"mixed\")",
        sections: "HEADER=45 TEXT=74 1=28 1.MIME=32 1.HEADER=15 1.TEXT=13 1.1=13 1.1.MIME=15",
    },
    Case {
        name: "missing close delimiter",
        raw: b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nx\r\n--zz\r\n\r\ny",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1) \"mixed\")",
        sections: "HEADER=46 TEXT=46 1=1 1.MIME=28 2=1 2.MIME=2",
    },
    // A multipart whose boundary never appears has no body part at all, which
    // RFC 2046 5.1.1's grammar requires (`multipart-body := [preamble CRLF]
    // dash-boundary transport-padding CRLF body-part ...`): it is read as one
    // text/plain body (RFC 2045 5.2: "It is also recommended that this default
    // be assumed when a syntactically invalid Content-Type header field is
    // encountered"), so its text stays readable. The old parser invented an
    // empty part 1 and hid the text.
    Case {
        name: "boundary never appears",
        raw: b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nhello\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1)",
        sections: "HEADER=46 TEXT=7 1=7 1.MIME=46",
    },
    Case {
        name: "multipart without boundary",
        raw: b"Content-Type: multipart/mixed\r\n\r\nhello\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1)",
        sections: "HEADER=33 TEXT=7 1=7 1.MIME=33",
    },
    // `--zzz` is a delimiter line for boundary `zz`: RFC 2046 5.1.1, "An exact
    // match of the entire candidate line is not required; it is sufficient
    // that the boundary appear in its entirety following the CRLF." So part 1
    // is empty and the text/plain part is part 2 (the old parser skipped the
    // line).
    Case {
        name: "longer look-alike boundary",
        raw: b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zzz\r\n--zz\r\nContent-Type: text/plain\r\n\r\nx\r\n--zz",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"zz\") NIL NIL NIL)",
        body: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"mixed\")",
        sections: "HEADER=46 TEXT=48 2=1 2.MIME=28",
    },
    Case {
        name: "bare LF",
        raw: b"From: a@b.c\nSubject: lf\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\nlf body\n--q\n\nsecond\n--q--\n",
        envelope: "(NIL \"lf\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"q\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1) \"mixed\")",
        sections: "HEADER=67 TEXT=56 1=7 1.MIME=26 2=6 2.MIME=1",
    },
    Case {
        name: "bare LF plain",
        raw: b"Subject: lf\n\nline1\nline2\n",
        envelope: "(NIL \"lf\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 2 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 2)",
        sections: "HEADER=13 TEXT=12 1=12 1.MIME=13",
    },
    Case {
        name: "encoded words",
        raw: b"From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\nTo: =?iso-8859-1?b?SvZyZw==?= <k@example.com>, \"=?utf-8?q?quoted?=\" <q@x>\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?= and =?utf-8?q?more?=\r\nX-Custom: =?utf-8?q?x?=\r\n\r\nbody\r\n",
        envelope: "(NIL \"=?utf-8?b?R3LDvMOfZQ==?= and =?utf-8?q?more?=\" ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"example.com\")) ((\"=?iso-8859-1?b?SvZyZw==?=\" NIL \"k\" \"example.com\")(\"=?utf-8?q?quoted?=\" NIL \"q\" \"x\")) NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
        sections: "HEADER=203 TEXT=6 1=6 1.MIME=203",
    },
    Case {
        name: "groups",
        raw: b"From: a@b.c\r\nTo: Friends: \"Doe, John\" <john@x.org>, jane@y.org (Jane Y);, solo@z.org\r\nCc: undisclosed-recipients:;\r\nBcc: <@relay.example,@r2.example:route@dest.example>\r\nReply-To:\r\nSender:   \r\n\r\nbody\r\n",
        envelope: "(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"Friends\" NIL)(\"Doe, John\" NIL \"john\" \"x.org\")(\"Jane Y\" NIL \"jane\" \"y.org\")(NIL NIL NIL NIL)(NIL NIL \"solo\" \"z.org\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL \"@relay.example,@r2.example\" \"route\" \"dest.example\")) NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
        sections: "HEADER=195 TEXT=6 1=6 1.MIME=195",
    },
    Case {
        name: "comments in addresses",
        raw: b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: user (Real Name) @ host.example, \"Q\" (c) <q@h>, (only comment) x@y\r\nCc: Fred (nick) Foobar <f@x.org> (trailing)\r\n\r\nb\r\n",
        envelope: "(NIL NIL ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) ((\"Real Name\" NIL \"user\" \"host.example\")(\"Q\" NIL \"q\" \"h\")(\"only comment\" NIL \"x\" \"y\")) ((\"Fred Foobar\" NIL \"f\" \"x.org\")) NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=170 TEXT=3 1=3 1.MIME=170",
    },
    Case {
        name: "no body",
        raw: b"From: a@b.c\r\nSubject: no body\r\n",
        envelope: "(NIL \"no body\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=31 1.MIME=31",
    },
    Case {
        name: "no body with blank",
        raw: b"From: a@b.c\r\nSubject: no body\r\n\r\n",
        envelope: "(NIL \"no body\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=33 1.MIME=33",
    },
    Case {
        name: "empty header",
        raw: b"\r\nJust a body\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)",
        sections: "HEADER=2 TEXT=13 1=13 1.MIME=2",
    },
    Case {
        name: "no header at all",
        raw: b"Just a body, no header at all\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 31 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 31 1)",
        sections: "TEXT=31 1=31",
    },
    Case {
        name: "empty message",
        raw: b"",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "",
    },
    Case {
        name: "empty header field",
        raw: b"Subject:\r\nFrom:\r\nTo: \r\nDate:\r\n\r\nx\r\n",
        envelope: "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=32 TEXT=3 1=3 1.MIME=32",
    },
    Case {
        name: "8-bit headers",
        raw: b"From: J\xc3\xb6rg <j@example.com>\r\nSubject: Gr\xfc\xdfe \xff\r\nX-Bin: \x01\x02\r\n\r\nbody \xe9\r\n",
        envelope: "(NIL {13}\r\nGr��e � (({5}\r\nJörg NIL \"j\" \"example.com\")) (({5}\r\nJörg NIL \"j\" \"example.com\")) (({5}\r\nJörg NIL \"j\" \"example.com\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 8 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 8 1)",
        sections: "HEADER=60 TEXT=8 1=8 1.MIME=60",
    },
    Case {
        name: "digest",
        raw: b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: d1\r\n\r\nhi\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain in digest\r\n--d\r\n\r\nSubject: d3\r\nContent-Type: multipart/alternative; boundary=e\r\n\r\n--e\r\n\r\ne1\r\n--e--\r\n--d--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"d1\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 80 (NIL \"d3\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"e\") NIL NIL NIL) 7 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)",
        body: "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"d1\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1) 3)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 80 (NIL \"d3\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 1) \"alternative\") 7) \"digest\")",
        sections: "HEADER=46 TEXT=172 1=17 1.MIME=2 1.HEADER=15 1.TEXT=2 1.1=2 1.1.MIME=15 2=15 2.MIME=28 3=80 3.MIME=2 3.HEADER=64 3.TEXT=16 3.1=2 3.1.MIME=2",
    },
    Case {
        name: "invalid content-type",
        raw: b"Content-Type: ;;;\r\n\r\nx",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1)",
        sections: "HEADER=21 TEXT=1 1=1 1.MIME=21",
    },
    Case {
        name: "unterminated charset",
        raw: b"Content-Type: text/plain; charset=\"unterminated\r\n\r\nx",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"text\" \"plain\" (\"charset\" \"unterminated\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL)",
        body: "(\"text\" \"plain\" (\"charset\" \"unterminated\") NIL NIL \"7BIT\" 1 1)",
        sections: "HEADER=51 TEXT=1 1=1 1.MIME=51",
    },
    Case {
        name: "empty rfc822",
        raw: b"Content-Type: message/rfc822\r\n\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) 0 NIL NIL NIL NIL)",
        body: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 0)",
        sections: "HEADER=32 1.MIME=32",
    },
    Case {
        name: "rfc2231 params",
        raw: b"Content-Type: text/plain; name*0=a; name*1=\"b c\"; (comment) x=y\r\nContent-Disposition: attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe.txt\r\nContent-Language: en (English), de\r\nContent-Location: http://x/y\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\nx",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"text\" \"plain\" (\"name*0\" \"a\" \"name*1\" \"b c\" \"x\" \"y\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename*\" \"utf-8''Gr%C3%BC%C3%9Fe.txt\")) (\"en\" \"de\") \"http://x/y\")",
        body: "(\"text\" \"plain\" (\"name*0\" \"a\" \"name*1\" \"b c\" \"x\" \"y\" \"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1)",
        sections: "HEADER=243 TEXT=1 1=1 1.MIME=243",
    },
    Case {
        name: "case and params",
        raw: b"CONTENT-TYPE: Text/HTML; Charset=\"UTF-8\"; Format=Flowed\r\ncontent-transfer-encoding: 8BIT\r\n\r\n<p>x</p>\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"Text\" \"HTML\" (\"Charset\" \"UTF-8\" \"Format\" \"Flowed\") NIL NIL \"8BIT\" 10 1 NIL NIL NIL NIL)",
        body: "(\"Text\" \"HTML\" (\"Charset\" \"UTF-8\" \"Format\" \"Flowed\") NIL NIL \"8BIT\" 10 1)",
        sections: "HEADER=92 TEXT=10 1=10 1.MIME=92",
    },
    Case {
        name: "folded",
        raw: b"Subject: a\r\n  folded\r\n\x09subject\r\nX-A: 1\r\nFrom: A\r\n B <a@b.c>\r\n\r\nb\r\n",
        envelope: "(NIL \"a  folded\tsubject\" ((\"A B\" NIL \"a\" \"b.c\")) ((\"A B\" NIL \"a\" \"b.c\")) ((\"A B\" NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=63 TEXT=3 1=3 1.MIME=63",
    },
    Case {
        name: "dates",
        raw: b"Date: Tue, 1 Mar 2022 10:00:00 GMT (comment)\r\n\r\nb\r\n",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 GMT (comment)\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=48 TEXT=3 1=3 1.MIME=48",
    },
    Case {
        name: "date no weekday",
        raw: b"Date: 7 Feb 1994 21:52 +0100\r\n\r\nb\r\n",
        envelope: "(\"7 Feb 1994 21:52 +0100\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=32 TEXT=3 1=3 1.MIME=32",
    },
    Case {
        name: "date garbage",
        raw: b"Date: garbage\r\n\r\nb\r\n",
        envelope: "(\"garbage\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=17 TEXT=3 1=3 1.MIME=17",
    },
    Case {
        name: "date obsolete zone",
        raw: b"Date: Mon, 7 Feb 1994 21:52:25 EST\r\n\r\nb\r\n",
        envelope: "(\"Mon, 7 Feb 1994 21:52:25 EST\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=38 TEXT=3 1=3 1.MIME=38",
    },
    Case {
        name: "repeated fields",
        raw: b"Subject: one\r\nSubject: two\r\nFrom: a@b.c\r\nFrom: d@e.f\r\n\r\nb\r\n",
        envelope: "(NIL \"one\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
        sections: "HEADER=56 TEXT=3 1=3 1.MIME=56",
    },
    Case {
        name: "part without header",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nhello\r\n--p\r\nContent-Type: text/html\r\n\r\nx\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1) \"mixed\")",
        sections: "HEADER=45 TEXT=54 1=5 2=1 2.MIME=27",
    },
    Case {
        name: "empty parts",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\n\r\n--p\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) \"mixed\")",
        sections: "HEADER=45 TEXT=19",
    },
    Case {
        name: "transport padding",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p  \r\nContent-Type: text/plain\r\n\r\npadded\r\n--p-- \x09\r\nepilogue\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1) \"mixed\")",
        sections: "HEADER=45 TEXT=62 1=6 1.MIME=28",
    },
    Case {
        name: "base64 rfc822",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeAoKeQo=\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"message\" \"rfc822\" NIL NIL NIL \"base64\" 20 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 1 NIL NIL NIL NIL) 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"message\" \"rfc822\" NIL NIL NIL \"base64\" 20 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 1) 1) \"mixed\")",
        sections: "HEADER=45 TEXT=101 1=20 1.MIME=67 1.TEXT=20 1.1=20",
    },
    Case {
        name: "message global",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nContent-Type: message/global\r\n\r\nSubject: g\r\n\r\nglobal\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"message\" \"global\" NIL NIL NIL \"7BIT\" 20 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"message\" \"global\" NIL NIL NIL \"7BIT\" 20) \"mixed\")",
        sections: "HEADER=45 TEXT=66 1=20 1.MIME=32",
    },
    // A header line that is not a field (RFC 5322 2.2: "Header fields are lines
    // beginning with a field name, followed by a colon") is in BODY[HEADER]
    // but is no field: SEARCH TEXT still finds it through the raw header.
    Case {
        name: "non-field junk in header",
        raw: b"From: a@b.c\r\nthis is not a field\r\nSubject: s\r\n\r\nbody\r\n",
        envelope: "(NIL \"s\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
        sections: "HEADER=48 TEXT=6 1=6 1.MIME=48",
    },
    Case {
        name: "whitespace before colon",
        raw: b"Subject : spaced\r\nFrom\x09: a@b.c\r\n\r\nbody\r\n",
        envelope: "(NIL \"spaced\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
        sections: "HEADER=34 TEXT=6 1=6 1.MIME=34",
    },
    // A first line that is a continuation of nothing (RFC 5322 2.2.3 folding
    // needs a field before it) is skipped and the fields after it are the
    // header; the old parser took the whole message as a body.
    Case {
        name: "leading whitespace line",
        raw: b" leading\r\nSubject: s\r\n\r\nbody\r\n",
        envelope: "(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
        sections: "HEADER=24 TEXT=6 1=6 1.MIME=24",
    },
    Case {
        name: "utf-16 text",
        raw: b"Content-Type: text/plain; charset=\"utf-16\"\r\nContent-Transfer-Encoding: base64\r\n\r\n//5oAGkA\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"text\" \"plain\" (\"charset\" \"utf-16\") NIL NIL \"base64\" 10 1 NIL NIL NIL NIL)",
        body: "(\"text\" \"plain\" (\"charset\" \"utf-16\") NIL NIL \"base64\" 10 1)",
        sections: "HEADER=81 TEXT=10 1=10 1.MIME=81",
    },
    // Nesting deeper than MAX_DEPTH is one opaque part, so BODYSTRUCTURE stays
    // within what imap-codec parses (the old limit, 32, produced output it
    // refuses).
    Case {
        name: "deep nesting",
        raw: b"Content-Type: multipart/mixed; boundary=a0\r\n\r\n--a0\r\nContent-Type: multipart/mixed; boundary=a1\r\n\r\n--a1\r\nContent-Type: multipart/mixed; boundary=a2\r\n\r\n--a2\r\nContent-Type: multipart/mixed; boundary=a3\r\n\r\n--a3\r\nContent-Type: multipart/mixed; boundary=a4\r\n\r\n--a4\r\nContent-Type: multipart/mixed; boundary=a5\r\n\r\n--a5\r\nContent-Type: multipart/mixed; boundary=a6\r\n\r\n--a6\r\nContent-Type: multipart/mixed; boundary=a7\r\n\r\n--a7\r\nContent-Type: multipart/mixed; boundary=a8\r\n\r\n--a8\r\nContent-Type: multipart/mixed; boundary=a9\r\n\r\n--a9\r\nContent-Type: multipart/mixed; boundary=a10\r\n\r\n--a10\r\nContent-Type: multipart/mixed; boundary=a11\r\n\r\n--a11\r\nContent-Type: multipart/mixed; boundary=a12\r\n\r\n--a12\r\nContent-Type: multipart/mixed; boundary=a13\r\n\r\n--a13\r\nContent-Type: multipart/mixed; boundary=a14\r\n\r\n--a14\r\nContent-Type: multipart/mixed; boundary=a15\r\n\r\n--a15\r\nContent-Type: multipart/mixed; boundary=a16\r\n\r\n--a16\r\nContent-Type: multipart/mixed; boundary=a17\r\n\r\n--a17\r\nContent-Type: multipart/mixed; boundary=a18\r\n\r\n--a18\r\nContent-Type: multipart/mixed; boundary=a19\r\n\r\n--a19\r\nContent-Type: multipart/mixed; boundary=a20\r\n\r\n--a20\r\nContent-Type: multipart/mixed; boundary=a21\r\n\r\n--a21\r\nContent-Type: multipart/mixed; boundary=a22\r\n\r\n--a22\r\nContent-Type: multipart/mixed; boundary=a23\r\n\r\n--a23\r\nContent-Type: multipart/mixed; boundary=a24\r\n\r\n--a24\r\nContent-Type: multipart/mixed; boundary=a25\r\n\r\n--a25\r\nContent-Type: multipart/mixed; boundary=a26\r\n\r\n--a26\r\nContent-Type: multipart/mixed; boundary=a27\r\n\r\n--a27\r\nContent-Type: multipart/mixed; boundary=a28\r\n\r\n--a28\r\nContent-Type: multipart/mixed; boundary=a29\r\n\r\n--a29\r\nContent-Type: multipart/mixed; boundary=a30\r\n\r\n--a30\r\nContent-Type: multipart/mixed; boundary=a31\r\n\r\n--a31\r\nContent-Type: multipart/mixed; boundary=a32\r\n\r\n--a32\r\nContent-Type: multipart/mixed; boundary=a33\r\n\r\n--a33\r\nContent-Type: multipart/mixed; boundary=a34\r\n\r\n--a34\r\nContent-Type: multipart/mixed; boundary=a35\r\n\r\n--a35\r\nContent-Type: multipart/mixed; boundary=a36\r\n\r\n--a36\r\nContent-Type: multipart/mixed; boundary=a37\r\n\r\n--a37\r\nContent-Type: multipart/mixed; boundary=a38\r\n\r\n--a38\r\nContent-Type: multipart/mixed; boundary=a39\r\n\r\n--a39\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(((((((\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 1782 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"a5\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a4\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a3\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a2\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a1\") NIL NIL NIL) \"mixed\" (\"boundary\" \"a0\") NIL NIL NIL)",
        body: "(((((((\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 1782) \"mixed\") \"mixed\") \"mixed\") \"mixed\") \"mixed\") \"mixed\")",
        sections: "HEADER=46 TEXT=2094 1=2042 1.MIME=46 1.1=1990 1.1.MIME=46 1.1.1=1938 1.1.1.MIME=46",
    },
    // As above, for message/rfc822 nesting.
    Case {
        name: "deep rfc822",
        raw: b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1248 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1216 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1184 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1152 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1120 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1088 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 1056 NIL NIL NIL NIL) 68 NIL NIL NIL NIL) 70 NIL NIL NIL NIL) 72 NIL NIL NIL NIL) 74 NIL NIL NIL NIL) 76 NIL NIL NIL NIL) 78 NIL NIL NIL NIL)",
        body: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1248 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1216 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1184 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1152 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1120 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 1088 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 1056) 68) 70) 72) 74) 76) 78)",
        sections: "HEADER=32 TEXT=1248 1=1248 1.MIME=32 1.HEADER=32 1.TEXT=1216 1.1=1216 1.1.MIME=32 1.1.HEADER=32 1.1.TEXT=1184 1.1.1=1184 1.1.1.MIME=32 1.1.1.HEADER=32 1.1.1.TEXT=1152",
    },
    Case {
        name: "header only no crlf",
        raw: b"Subject: x",
        envelope: "(NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=10 1.MIME=10",
    },
    Case {
        name: "fields no blank line before delimiter",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nContent-Type: text/html\r\n--p\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)(\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1) \"mixed\")",
        sections: "HEADER=45 TEXT=78 1.MIME=23 2=6 2.MIME=28",
    },
    Case {
        name: "header then empty body",
        raw: b"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nContent-Type: text/html\r\n\r\n--p\r\n\r\nnext\r\n--p--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"p\") NIL NIL NIL)",
        body: "((\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1) \"mixed\")",
        sections: "HEADER=45 TEXT=52 1.MIME=25 2=4 2.MIME=2",
    },
    Case {
        name: "rfc822 in digest in rfc822",
        raw: b"Content-Type: message/rfc822\r\n\r\nSubject: outer\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: a\r\n\r\nA\r\n--d\r\nContent-Type: message/rfc822\r\n\r\nSubject: b\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\n\r\nB\r\n--m--\r\n--d--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 204 (NIL \"outer\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 15 (NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 72 (NIL \"b\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"m\") NIL NIL NIL) 7 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL) 19 NIL NIL NIL NIL)",
        body: "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 204 (NIL \"outer\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 15 (NIL \"a\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1) 3)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 72 (NIL \"b\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1) \"mixed\") 7) \"digest\") 19)",
        sections: "HEADER=32 TEXT=204 1=204 1.MIME=32 1.HEADER=62 1.TEXT=142 1.1=15 1.1.MIME=2 1.1.HEADER=14 1.1.TEXT=1 1.1.1=1 1.1.1.MIME=14 1.2=72 1.2.MIME=32 1.2.HEADER=57 1.2.TEXT=15 1.2.1=1 1.2.1.MIME=2",
    },
    Case {
        name: "truncated in nested message",
        raw: b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\none\r\n--i\r\nContent-Ty",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 85 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"i\") NIL NIL NIL) 8 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)",
        body: "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 85 (NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1) \"mixed\") 8) \"mixed\")",
        sections: "HEADER=45 TEXT=122 1=85 1.MIME=32 1.HEADER=58 1.TEXT=27 1.1=3 1.1.MIME=2 1.2=10",
    },
    Case {
        name: "mixed case boundary param",
        raw: b"Content-Type: multipart/mixed; BOUNDARY=\"Ab C\"\r\n\r\n--Ab C\r\n\r\nx\r\n--Ab C--\r\n",
        envelope: "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1 NIL NIL NIL NIL) \"mixed\" (\"BOUNDARY\" \"Ab C\") NIL NIL NIL)",
        body: "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 1) \"mixed\")",
        sections: "HEADER=50 TEXT=23 1=1 1.MIME=2",
    },
    Case {
        name: "cr only",
        raw: b"Subject: x\rFrom: y\r\rbody",
        envelope: "(NIL \"xFrom: ybody\" NIL NIL NIL NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=24 1.MIME=24",
    },
    Case {
        name: "mixed cut at 10",
        raw: b"From: \"Sen",
        envelope: "(NIL NIL ((NIL NIL \"Sen\" \"\")) ((NIL NIL \"Sen\" \"\")) ((NIL NIL \"Sen\" \"\")) NIL NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=10 1.MIME=10",
    },
    Case {
        name: "mixed cut at 100",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00",
        envelope: "(\"Tue, 1 Mar 2022 10:00\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
        body: "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
        sections: "HEADER=100 1.MIME=100",
    },
    Case {
        name: "mixed cut at 300",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Tr",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL NIL \"7BIT\" 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)(\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL NIL \"7BIT\" 0) \"mixed\")",
        sections: "HEADER=179 TEXT=121 1=13 1.MIME=28 2.MIME=60",
    },
    Case {
        name: "mixed cut at 500",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-ID: <pdf1@example.com>\r\nContent-Description: The report\r\nContent-Language: en, de\r\n\r\nJVBERi0xLjQK\r\n--outer\r\nCon",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12 NIL (\"attachment\" (\"filename\" \"report.pdf\")) (\"en\" \"de\") NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1) \"mixed\")",
        sections: "HEADER=179 TEXT=321 1=13 1.MIME=28 2=12 2.MIME=234 3=3",
    },
    Case {
        name: "mixed cut at 700",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-ID: <pdf1@example.com>\r\nContent-Description: The report\r\nContent-Language: en, de\r\n\r\nJVBERi0xLjQK\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner subject\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--inner\r\nContent-T",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12 NIL (\"attachment\" (\"filename\" \"report.pdf\")) (\"en\" \"de\") NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 171 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 10 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 171 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1) \"alternative\") 10) \"mixed\")",
        sections: "HEADER=179 TEXT=521 1=13 1.MIME=28 2=12 2.MIME=234 3=171 3.MIME=32 3.HEADER=104 3.TEXT=67 3.1=10 3.1.MIME=28 3.2=9",
    },
    Case {
        name: "mixed cut at 800",
        raw: b"From: \"Sender, The\" <s@example.com>\r\nTo: r@example.com\r\nSubject: report\r\nDate: Tue, 1 Mar 2022 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--outer\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-ID: <pdf1@example.com>\r\nContent-Description: The report\r\nContent-Language: en, de\r\n\r\nJVBERi0xLjQK\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner subject\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--inner\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--inner--\r\n--outer--\r\n",
        envelope: "(\"Tue, 1 Mar 2022 10:00:00 +0000\" \"report\" ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((\"Sender, The\" NIL \"s\" \"example.com\")) ((NIL NIL \"r\" \"example.com\")) NIL NIL NIL NIL)",
        bodystructure: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12 NIL (\"attachment\" (\"filename\" \"report.pdf\")) (\"en\" \"de\") NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 212 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 13 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)",
        body: "((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1)(\"application\" \"pdf\" (\"name\" \"report.pdf\") \"<pdf1@example.com>\" \"The report\" \"base64\" 12)(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 212 (NIL \"inner subject\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) NIL NIL NIL NIL NIL) ((\"text\" \"plain\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1)(\"text\" \"html\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 12 1) \"alternative\") 13) \"mixed\")",
        sections: "HEADER=179 TEXT=575 1=13 1.MIME=28 2=12 2.MIME=234 3=212 3.MIME=32 3.HEADER=104 3.TEXT=108 3.1=10 3.1.MIME=28 3.2=12 3.2.MIME=27",
    },
];
