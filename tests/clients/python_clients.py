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
    print("python imaplib + smtplib: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report any failure as a clear message
        print(f"python client check failed: {e!r}", file=sys.stderr)
        sys.exit(1)
