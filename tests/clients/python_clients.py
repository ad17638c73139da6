#!/usr/bin/env python3
"""Python's imaplib and smtplib against the reference server.

usage: python_clients.py IMAP_HOST:PORT SMTP_HOST:PORT
Exits non-zero with a message on the first thing that does not work.
"""
import imaplib
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage


def main():
    imap_host, imap_port = sys.argv[1].rsplit(":", 1)
    smtp_host, smtp_port = sys.argv[2].rsplit(":", 1)

    msg = EmailMessage()
    msg["From"] = "sender@example.org"
    msg["To"] = "alice@localhost"
    msg["Subject"] = "via smtplib"
    msg.set_content("hello from smtplib\n.leading dot line\n")
    with smtplib.SMTP(smtp_host, int(smtp_port), timeout=10) as s:
        s.ehlo()
        s.send_message(msg)

    m = imaplib.IMAP4(imap_host, int(imap_port), timeout=10)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m.starttls(ssl_context=ctx)
    m.login("alice", "alicepw")
    typ, _ = m.create("PyBox")
    assert typ == "OK", typ
    typ, data = m.append("PyBox", "(\\Seen)", imaplib.Time2Internaldate(time.time()), b"Subject: appended\r\n\r\nbody\r\n")
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = m.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 1, data
    typ, data = m.search(None, 'SUBJECT "via smtplib"')
    assert typ == "OK" and data[0], data
    num = data[0].split()[0]
    typ, data = m.fetch(num, "(BODY.PEEK[TEXT] ENVELOPE BODYSTRUCTURE FLAGS)")
    assert typ == "OK", typ
    body = data[0][1]
    assert b"hello from smtplib" in body and b"\n.leading dot line" in body, body
    typ, _ = m.store(num, "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    typ, data = m.uid("SEARCH", None, "FLAGGED")
    assert typ == "OK" and data[0], data
    typ, data = m.list()
    assert typ == "OK" and any(b"PyBox" in d for d in data), data
    typ, data = m.status("PyBox", "(MESSAGES UIDNEXT)")
    assert typ == "OK" and b"MESSAGES 1" in data[0], data
    m.copy(num, "PyBox")
    m.close()
    m.logout()
    qresync(imap_host, int(imap_port))
    oauth(imap_host, int(imap_port))
    special_use(imap_host, int(imap_port))
    sort_thread(imap_host, int(imap_port))
    esearch_searchres(imap_host, int(imap_port))
    binary(imap_host, int(imap_port))
    utf8_accept(imap_host, int(imap_port))
    print("python imaplib + smtplib: ok")


def qresync(host, port):
    """RFC 7162 through imaplib's raw commands: ENABLE QRESYNC, SELECT
    (QRESYNC ...) after another session's change and expunge."""
    a = imaplib.IMAP4(host, port, timeout=10)
    a.login("alice", "alicepw")
    typ, data = a._simple_command("ENABLE", "QRESYNC")
    assert typ == "OK" and b"QRESYNC" in a.response("ENABLED")[1][0], data
    typ, _ = a.select("PyBox")
    assert typ == "OK"
    validity = a.response("UIDVALIDITY")[1][0].decode()
    highest = int(a.response("HIGHESTMODSEQ")[1][0])
    a.append("PyBox", None, None, b"Subject: second\r\n\r\nbody\r\n")
    a.logout()
    b = imaplib.IMAP4(host, port, timeout=10)
    b.login("alice", "alicepw")
    b.select("PyBox")
    b.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
    b.expunge()
    b.logout()
    c = imaplib.IMAP4(host, port, timeout=10)
    c.login("alice", "alicepw")
    c._simple_command("ENABLE", "QRESYNC")
    typ, data = c._simple_command("SELECT", "PyBox", f"(QRESYNC ({validity} {highest}))")
    assert typ == "OK", data
    c.state = "SELECTED"  # imaplib's select() knows no parameters
    vanished = c.response("VANISHED")[1]
    assert vanished and vanished[0] == b"(EARLIER) 1", vanished
    fetched = c.response("FETCH")[1]
    assert fetched and b"MODSEQ" in fetched[0], fetched
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {highest} VANISHED)")
    assert typ == "OK" and any(b"MODSEQ" in d for d in data if d), data
    c.logout()


def oauth(host, port):
    """AUTHENTICATE XOAUTH2 and OAUTHBEARER (RFC 7628) as client libraries
    send them; the bearer token is the user's password on this server."""
    for mech, blob in (
        ("XOAUTH2", b"user=alice\x01auth=Bearer alicepw\x01\x01"),
        ("OAUTHBEARER", b"n,a=alice,\x01host=localhost\x01port=143\x01auth=Bearer alicepw\x01\x01"),
    ):
        m = imaplib.IMAP4(host, port, timeout=10)
        typ, _ = m.authenticate(mech, lambda _challenge: blob)
        assert typ == "OK", (mech, typ)
        m.logout()
    m = imaplib.IMAP4(host, port, timeout=10)
    try:
        m.authenticate("XOAUTH2", lambda _c: b"user=alice\x01auth=Bearer wrong\x01\x01")
        raise AssertionError("a wrong token was accepted")
    except imaplib.IMAP4.error:
        pass
    m.logout()


def special_use(host, port):
    """SPECIAL-USE, CREATE-SPECIAL-USE, LIST-EXTENDED and LIST-STATUS (RFC 6154,
    5258, 5819) as a client sends them through imaplib's extension hook."""
    m = imaplib.IMAP4(host, port, timeout=10)
    m.login("alice", "alicepw")
    typ, _ = m.xatom("LIST", "(SPECIAL-USE)", '""', '"*"')
    assert typ == "OK", typ
    _, lines = m.response("LIST")
    names = b" ".join(l for l in lines if l)
    for use in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive"):
        assert use in names, (use, lines)
    assert b"INBOX" not in names, lines
    typ, data = m.xatom("CREATE", "PyStarred", "(USE (\\Flagged))")
    assert typ == "OK", (typ, data)
    typ, _ = m.xatom("LIST", '""', '"PyStarred"', "RETURN", "(SPECIAL-USE STATUS (MESSAGES))")
    assert typ == "OK", typ
    _, lines = m.response("LIST")
    assert any(l and b"\\Flagged" in l for l in lines), lines
    _, status = m.response("STATUS")
    assert any(s and b"MESSAGES 0" in s for s in status), status
    m.logout()


def sort_thread(host, port):
    """SORT and THREAD (RFC 5256) through imaplib's own sort() and thread(),
    which check the capability and parse the answers themselves."""
    m = imaplib.IMAP4(host, port, timeout=10)
    m.login("alice", "alicepw")
    m.create("PySort")
    msgs = [
        ("Lunch", "Mon, 1 Feb 2021 10:00:00 +0000", "<l1@py>", ""),
        ("Budget", "Tue, 2 Feb 2021 10:00:00 +0000", "<b1@py>", ""),
        ("Re: Lunch", "Wed, 3 Feb 2021 10:00:00 +0000", "<l2@py>", "<l1@py>"),
    ]
    for subject, date, mid, refs in msgs:
        head = f"From: p@example.org\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {mid}\r\n"
        if refs:
            head += f"References: {refs}\r\n"
        typ, _ = m.append("PySort", None, None, (head + "\r\nbody\r\n").encode())
        assert typ == "OK", typ
    m.select("PySort")
    typ, data = m.sort("(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and data == [b"2 1 3"], (typ, data)
    typ, data = m.sort("(REVERSE DATE)", "US-ASCII", "ALL")
    assert typ == "OK" and data == [b"3 2 1"], (typ, data)
    typ, data = m.uid("SORT", "(SUBJECT)", "UTF-8", "ALL")
    assert typ == "OK" and len(data[0].split()) == 3, (typ, data)
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert typ == "OK" and data == [b"(1 3)(2)"], (typ, data)
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert typ == "OK" and data == [b"(1 3)(2)"], (typ, data)
    m.logout()


def esearch_pairs(line):
    """`(TAG "x") [UID] NAME value ...` as (tag, uid, {NAME: value})."""
    words = line.split()
    tag = None
    if words and words[0] == "(TAG":
        tag = words[1].rstrip(")").strip('"')
        words = words[2:]
    uid = bool(words) and words[0] == "UID"
    if uid:
        words = words[1:]
    return tag, uid, dict(zip(words[0::2], words[1::2]))


def esearch_searchres(host, port):
    """ESEARCH (RFC 4731) through imaplib's search() with RETURN options, the
    answer read from untagged_responses['ESEARCH']; SEARCHRES (RFC 5182):
    RETURN (SAVE) answered with the tagged OK alone, then "$" in fetch()."""
    m = imaplib.IMAP4(host, port, timeout=10)
    m.login("alice", "alicepw")
    assert "ESEARCH" in m.capabilities and "SEARCHRES" in m.capabilities, m.capabilities
    m.create("PyEsearch")
    for i, flags in enumerate(["(\\Flagged)", None, "(\\Flagged)"]):
        body = f"From: p@example.org\r\nSubject: es{i}\r\n\r\nbody\r\n".encode()
        typ, _ = m.append("PyEsearch", flags, None, body)
        assert typ == "OK", typ
    m.select("PyEsearch")
    m.untagged_responses.pop("ESEARCH", None)
    typ, _ = m.search(None, "RETURN", "(MIN MAX COUNT ALL)", "FLAGGED")
    assert typ == "OK", typ
    got = m.untagged_responses.pop("ESEARCH", None)
    assert got, m.untagged_responses
    tag, uid, pairs = esearch_pairs(got[-1].decode())
    assert tag and not uid, got
    assert pairs == {"MIN": "1", "MAX": "3", "COUNT": "2", "ALL": "1,3"}, pairs
    typ, _ = m.uid("SEARCH", "RETURN", "(COUNT)", "UNFLAGGED")
    got = m.untagged_responses.pop("ESEARCH", None)
    tag, uid, pairs = esearch_pairs(got[-1].decode())
    assert typ == "OK" and uid and pairs == {"COUNT": "1"}, got
    typ, _ = m.search(None, "RETURN", "(SAVE)", "FLAGGED")
    assert typ == "OK" and "ESEARCH" not in m.untagged_responses, m.untagged_responses
    typ, data = m.fetch("$", "(FLAGS)")
    fetched = [d for d in data if d]
    assert typ == "OK" and len(fetched) == 2, (typ, data)
    assert all(b"\\Flagged" in d for d in fetched), fetched
    typ, data = m.uid("FETCH", "$", "(UID)")
    assert typ == "OK" and len([d for d in data if d]) == 2, (typ, data)
    m.logout()


def binary(host, port):
    """BINARY (RFC 3516) through imaplib's fetch(), whose literal reader takes
    the `~{n}` literal8 like any literal: an attachment built by the email
    package in base64 comes back decoded, NUL octets and all."""
    m = imaplib.IMAP4(host, port, timeout=10)
    m.login("alice", "alicepw")
    typ, caps = m.capability()
    assert typ == "OK" and b" BINARY" in caps[0], caps
    payload = bytes(range(256)) * 4
    msg = EmailMessage()
    msg["From"] = "p@example.org"
    msg["Subject"] = "binary"
    msg.set_content("see attachment\n")
    msg.add_attachment(payload, maintype="application", subtype="octet-stream", filename="b.bin")
    m.create("PyBinary")
    typ, _ = m.append("PyBinary", None, None, msg.as_bytes().replace(b"\n", b"\r\n"))
    assert typ == "OK", typ
    m.select("PyBinary")
    typ, data = m.fetch("1", "(BINARY.SIZE[2] BINARY.PEEK[2])")
    assert typ == "OK", (typ, data)
    # Items come in any order (RFC 3501 7.4.2 fixes none): the size may
    # follow the literal, as Dovecot sends it.
    head, value = data[0]
    rest = b"".join(d if isinstance(d, bytes) else b"" for d in data[1:])
    assert b"BINARY[2] ~{1024}" in head, head
    assert b"BINARY.SIZE[2] 1024" in head + rest, (head, rest)
    assert value == payload, value[:40]
    typ, data = m.fetch("1", "(BINARY.PEEK[2]<256.4>)")
    assert typ == "OK" and data[0][1] == b"\x00\x01\x02\x03", data
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0], data
    m.logout()


def utf8_accept(host, port):
    """UTF8=ACCEPT (RFC 6855, RFC 9755) through imaplib's enable(), after
    which imaplib sends and reads mailbox names as UTF-8."""
    m = imaplib.IMAP4(host, port, timeout=10)
    m.login("alice", "alicepw")
    typ, caps = m.capability()
    assert typ == "OK" and b"UTF8=ACCEPT" in caps[0], caps
    typ, data = m.enable("UTF8=ACCEPT")
    assert typ == "OK" and m.utf8_enabled, (typ, data)
    typ, data = m.create('"Pyüml"')
    assert typ == "OK", (typ, data)
    typ, data = m.list('""', '"Pyü*"')
    assert typ == "OK" and any("Pyüml" in d.decode("utf-8") for d in data if d), data
    typ, data = m.select('"Pyüml"')
    assert typ == "OK", (typ, data)
    m.logout()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report any failure as a clear message
        print(f"python client check failed: {e!r}", file=sys.stderr)
        sys.exit(1)
