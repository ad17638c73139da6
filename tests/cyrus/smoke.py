#!/usr/bin/env python3
"""Smoke test for the private Cyrus IMAP started by tests/cyrus/cyrus.sh.

Usage: smoke.py [DIR/env]
Reads IMAPSPEC_CYRUS_IMAP / IMAPSPEC_CYRUS_IMAPS / IMAPSPEC_CYRUS_LMTP and the admin
credentials from the given env file, or from the environment. Exits non-zero (with
the failing step) on any failure.
"""

import imaplib
import smtplib
import os
import re
import ssl
import sys
import time
import uuid
from urllib.parse import urlsplit

TIMEOUT = 10  # seconds per socket operation, so a hung server fails the test


def load_env():
    env = dict(os.environ)
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    env[key] = value
    try:
        imap = urlsplit(env["IMAPSPEC_CYRUS_IMAP"])
        imaps = urlsplit(env["IMAPSPEC_CYRUS_IMAPS"])
        lmtp = urlsplit(env["IMAPSPEC_CYRUS_LMTP"])
        admin = (env["IMAPSPEC_CYRUS_ADMIN_USER"], env["IMAPSPEC_CYRUS_ADMIN_PASSWORD"])
    except KeyError as e:
        sys.exit(f"smoke.py: {e.args[0]} is not set (pass DIR/env or export it)")
    return (
        (imap.hostname, imap.port),
        (imaps.hostname, imaps.port),
        (lmtp.hostname, lmtp.port),
        admin,
    )


def ok(typ_data, what):
    typ, data = typ_data
    if typ != "OK":
        raise AssertionError(f"{what}: {typ} {data}")
    return data


def tls_context():
    # The certificate is self-signed for CN=localhost: skip verification.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(addr, user):
    c = imaplib.IMAP4(*addr, timeout=TIMEOUT)
    ok(c.login(user, user + "pw"), f"LOGIN {user}")
    return c


def step(msg):
    print(f"ok   {msg}", flush=True)


def main():
    imap, imaps, lmtp, admin = load_env()
    msg = b"Subject: smoke %s\r\nFrom: a@example.org\r\n\r\nhello\r\n" % uuid.uuid4().hex.encode()

    c1 = login(imap, "alice")
    c2 = login(imap, "alice")
    step(f"LOGIN alice twice on imap://{imap[0]}:{imap[1]}")

    # Start from an empty INBOX so the sequence numbers below are known.
    n = int(ok(c1.select("INBOX"), "SELECT INBOX")[0])
    if n:
        ok(c1.store("1:*", "+FLAGS.SILENT", r"(\Deleted)"), "STORE cleanup")
        ok(c1.expunge(), "EXPUNGE cleanup")
    step(f"SELECT INBOX (emptied {n} old messages)")

    data = ok(c1.append("INBOX", None, None, msg), "APPEND")
    m = re.search(rb"APPENDUID \d+ (\d+)", data[0])
    if not m:
        raise AssertionError(f"APPEND: no APPENDUID in {data}")
    uid = m.group(1).decode()
    ok(c1.noop(), "NOOP after APPEND")
    data = ok(c1.fetch("1", "(UID FLAGS)"), "FETCH 1 (UID FLAGS)")
    if f"UID {uid}".encode() not in data[0]:
        raise AssertionError(f"FETCH: expected UID {uid} in {data}")
    step(f"APPEND (UID {uid}), FETCH 1 (UID FLAGS) -> {data[0].decode()}")

    # Second connection deletes the message; the first must learn it on NOOP.
    ok(c2.select("INBOX"), "SELECT INBOX (2nd connection)")
    ok(c2.uid("STORE", uid, "+FLAGS", r"(\Deleted)"), "UID STORE +FLAGS \\Deleted")
    ok(c2.uid("EXPUNGE", uid), "UID EXPUNGE")
    c1.response("EXPUNGE")  # drop anything stale
    ok(c1.noop(), "NOOP")
    typ, data = c1.response("EXPUNGE")
    if data != [b"1"]:
        raise AssertionError(f"first connection did not see '* 1 EXPUNGE' on NOOP: {data}")
    step("2nd connection UID STORE \\Deleted + UID EXPUNGE; 1st sees '* 1 EXPUNGE' on NOOP")

    # Plain EXPUNGE as well.
    ok(c2.append("INBOX", None, None, msg), "APPEND (2nd connection)")
    ok(c2.noop(), "NOOP")
    ok(c2.store("1", "+FLAGS", r"(\Deleted)"), "STORE +FLAGS \\Deleted")
    c2.response("EXPUNGE")  # drop the one from the UID EXPUNGE above
    data = ok(c2.expunge(), "EXPUNGE")
    if data != [b"1"]:
        raise AssertionError(f"EXPUNGE returned {data}")
    ok(c1.noop(), "NOOP")
    step("STORE \\Deleted + EXPUNGE")

    # IDLE (imaplib before 3.14 has no idle()): the 2nd connection appends while
    # the 1st idles; the 1st must get '* N EXISTS' before DONE.
    tag = c1._new_tag()
    c1.send(tag + b" IDLE\r\n")
    line = c1.readline()
    if not line.startswith(b"+"):
        raise AssertionError(f"IDLE: expected continuation, got {line!r}")
    ok(c2.append("INBOX", None, None, msg), "APPEND during IDLE")
    line = c1.readline()
    if not re.match(rb"\* \d+ EXISTS", line):
        raise AssertionError(f"IDLE: expected '* N EXISTS', got {line!r}")
    c1.send(b"DONE\r\n")
    while True:
        done = c1.readline()
        if done.startswith(tag):
            break
        if not done:
            raise AssertionError("IDLE: connection closed before tagged reply")
    if not done.startswith(tag + b" OK"):
        raise AssertionError(f"IDLE DONE: {done!r}")
    step(f"IDLE saw {line.strip().decode()!r}, DONE -> {done.strip().decode()!r}")

    name = "smoke-" + uuid.uuid4().hex[:8]
    ok(c1.create(name), "CREATE")
    ok(c1.append(name, None, None, msg), "APPEND to new mailbox")
    ok(c1.delete(name), "DELETE")
    step(f"CREATE/APPEND/DELETE {name}")

    for c in (c1, c2):
        c.logout()

    # A wrong password is refused at once (failedloginpause: 0).
    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    t0 = time.monotonic()
    try:
        c.login("alice", "wrong")
        raise AssertionError("LOGIN with a wrong password succeeded")
    except imaplib.IMAP4.error:
        pass
    took = time.monotonic() - t0
    if took > 1.0:
        raise AssertionError(f"failed LOGIN took {took:.1f}s (auth_failure_delay not 0?)")
    c.logout()
    step(f"bad password refused in {took * 1000:.0f} ms")

    # 25 concurrent sessions of one user from one IP.
    conns = [login(imap, "bob") for _ in range(25)]
    for c in conns:
        ok(c.select("INBOX"), "SELECT INBOX (concurrent)")
    for c in conns:
        c.logout()
    step("25 concurrent sessions for bob")

    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    if "STARTTLS" not in c.capabilities:
        raise AssertionError(f"no STARTTLS in {c.capabilities}")
    ok(c.starttls(tls_context()), "STARTTLS")
    ok(c.login("bob", "bobpw"), "LOGIN bob after STARTTLS")
    ok(c.select("INBOX"), "SELECT INBOX over STARTTLS")
    cipher = c.sock.version()
    c.logout()
    step(f"STARTTLS on the plain port ({cipher}), LOGIN bob, SELECT INBOX")

    c = imaplib.IMAP4_SSL(*imaps, ssl_context=tls_context(), timeout=TIMEOUT)
    ok(c.login("load", "loadpw"), "LOGIN load over IMAPS")
    ok(c.select("INBOX"), "SELECT INBOX over IMAPS")
    cipher = c.sock.version()
    c.logout()
    step(f"IMAPS on imaps://{imaps[0]}:{imaps[1]} ({cipher}), LOGIN load, SELECT INBOX")

    # The admin sets and reads a quota on another user's INBOX (the quota root of
    # bob's mailboxes is "user/bob" in the admin's view), then lifts it.
    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    ok(c.login(*admin), f"LOGIN {admin[0]}")
    ok(c.setquota("user/bob", "(STORAGE 1000)"), "SETQUOTA user/bob (STORAGE 1000)")
    data = ok(c.getquota("user/bob"), "GETQUOTA user/bob")
    if b"STORAGE" not in data[0] or b"1000" not in data[0]:
        raise AssertionError(f"GETQUOTA: {data}")
    ok(c.setquota("user/bob", "()"), "SETQUOTA user/bob ()")
    c.logout()
    step(f"admin SETQUOTA/GETQUOTA user/bob -> {data[0].decode()}, then removed")

    # LMTP delivery lands in alice's INBOX.
    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    ok(c.login("alice", "alicepw"), "LOGIN alice")
    before = int(ok(c.select("INBOX"), "SELECT INBOX")[0])
    with smtplib.LMTP(lmtp[0], lmtp[1], timeout=TIMEOUT) as l:
        refused = l.sendmail("a@example.org", ["alice"], msg)
        if refused:
            raise AssertionError(f"LMTP refused {refused}")
    ok(c.noop(), "NOOP after LMTP")
    after = int(ok(c.select("INBOX"), "SELECT INBOX again")[0])
    if after != before + 1:
        raise AssertionError(f"LMTP: INBOX had {before}, now {after} messages")
    c.logout()
    step(f"LMTP delivery to alice ({before} -> {after} messages)")

    print("smoke: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # any failure: say which step, exit 1
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
