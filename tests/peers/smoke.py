#!/usr/bin/env python3
"""Smoke test for a private real server started by tests/<server>/<server>.sh.

Usage: smoke.py DIR/env PREFIX     (PREFIX: DOVECOT, CYRUS, COURIER)
Checks the server itself, so that a broken setup is not taken for a failure of
imapspec. Reads IMAPSPEC_<PREFIX>_IMAP, _IMAPS (optional), _USERS and _PASSWORDS
(see tests/peers/common.sh) from the env file, over the environment; where the
file also has _LMTP or _ADMIN_USER/_ADMIN_PASSWORD (Cyrus), checks delivery and
SETQUOTA too. Exits non-zero (with the failing step) on any failure.
"""

import imaplib
import os
import re
import smtplib
import ssl
import sys
import time
import uuid
from urllib.parse import urlsplit

TIMEOUT = 10  # seconds per socket operation, so a hung server fails the test


# How long an IDLE may take to report a message another session appended.
IDLE_WAIT = 70  # seconds: covers a server that polls every 60 s (Courier without FAM)


class Peer:
    """What the env file says about the server."""

    def __init__(self, env, prefix):
        def get(key, required=True):
            value = env.get(f"IMAPSPEC_{prefix}_{key}")
            if value is None and required:
                sys.exit(f"smoke.py: IMAPSPEC_{prefix}_{key} is not set (pass DIR/env or export it)")
            return value

        imap = urlsplit(get("IMAP"))
        self.imap = (imap.hostname, imap.port)
        imaps = get("IMAPS", required=False)
        self.imaps = (urlsplit(imaps).hostname, urlsplit(imaps).port) if imaps else None
        lmtp = get("LMTP", required=False)
        self.lmtp = (urlsplit(lmtp).hostname, urlsplit(lmtp).port) if lmtp else None
        admin = get("ADMIN_USER", required=False)
        self.admin = (admin, get("ADMIN_PASSWORD")) if admin else None
        users = get("USERS").split(",")
        passwords = get("PASSWORDS").split(",")
        if len(users) != len(passwords) or len(users) < 3:
            sys.exit(f"smoke.py: need 3+ users with one password each, got {users} / {len(passwords)}")
        self.accounts = dict(zip(users, passwords))
        # A server whose failed-login pause cannot be configured says how long it is.
        delay = get("LOGIN_FAILURE_DELAY", required=False)
        try:
            self.failure_delay = float(delay) if delay else 0.0
        except ValueError:
            sys.exit(f"smoke.py: IMAPSPEC_{prefix}_LOGIN_FAILURE_DELAY={delay!r} is not seconds")
        self.users = users


def load_env():
    if len(sys.argv) != 3:
        sys.exit("usage: smoke.py DIR/env PREFIX   (PREFIX: DOVECOT, CYRUS, COURIER)")
    env = dict(os.environ)
    try:
        with open(sys.argv[1]) as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    env[key] = value
    except OSError as e:
        sys.exit(f"smoke.py: cannot read {sys.argv[1]}: {e}")
    return Peer(env, sys.argv[2].upper())


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


def login(peer, user):
    c = imaplib.IMAP4(*peer.imap, timeout=TIMEOUT)
    ok(c.login(user, peer.accounts[user]), f"LOGIN {user}")
    return c


def personal_prefix(c):
    """The personal namespace's prefix ("" on Dovecot, "INBOX." on Courier)."""
    data = ok(c.namespace(), "NAMESPACE")
    m = re.match(rb'\(\("([^"]*)"', data[0])
    return m.group(1).decode() if m else ""


def step(msg):
    print(f"ok   {msg}", flush=True)


def main():
    peer = load_env()
    imap = peer.imap
    u1, u2, u3 = peer.users[:3]
    msg = b"Subject: smoke %s\r\nFrom: a@example.org\r\n\r\nhello\r\n" % uuid.uuid4().hex.encode()

    c1 = login(peer, u1)
    c2 = login(peer, u1)
    step(f"LOGIN {u1} twice on imap://{imap[0]}:{imap[1]}")

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
    c1.sock.settimeout(IDLE_WAIT)
    t0 = time.monotonic()
    c1.send(tag + b" IDLE\r\n")
    line = c1.readline()
    if not line.startswith(b"+"):
        raise AssertionError(f"IDLE: expected continuation, got {line!r}")
    ok(c2.append("INBOX", None, None, msg), "APPEND during IDLE")
    line = c1.readline()
    if not re.match(rb"\* \d+ EXISTS", line):
        raise AssertionError(f"IDLE: expected '* N EXISTS', got {line!r}")
    idle_took = time.monotonic() - t0
    c1.sock.settimeout(TIMEOUT)
    c1.send(b"DONE\r\n")
    while True:
        done = c1.readline()
        if done.startswith(tag):
            break
        if not done:
            raise AssertionError("IDLE: connection closed before tagged reply")
    if not done.startswith(tag + b" OK"):
        raise AssertionError(f"IDLE DONE: {done!r}")
    step(
        f"IDLE saw {line.strip().decode()!r} after {idle_took:.1f}s, "
        f"DONE -> {done.strip().decode()!r}"
    )

    name = personal_prefix(c1) + "smoke-" + uuid.uuid4().hex[:8]
    ok(c1.create(name), "CREATE")
    ok(c1.append(name, None, None, msg), "APPEND to new mailbox")
    ok(c1.delete(name), "DELETE")
    step(f"CREATE/APPEND/DELETE {name}")

    for c in (c1, c2):
        c.logout()

    # A wrong password is refused at once (tests try bad passwords on purpose:
    # Dovecot's auth_failure_delay = 0, Cyrus's failedloginpause: 0), or after the
    # server's fixed pause (_LOGIN_FAILURE_DELAY: Courier's imaplogin sleeps 5 s).
    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    t0 = time.monotonic()
    try:
        c.login(u1, "wrong")
        raise AssertionError("LOGIN with a wrong password succeeded")
    except imaplib.IMAP4.error:
        pass
    took = time.monotonic() - t0
    if took > peer.failure_delay + 1.0:
        raise AssertionError(f"failed LOGIN took {took:.1f}s (a failure delay not 0?)")
    c.logout()
    step(f"bad password refused in {took * 1000:.0f} ms")

    # 25 concurrent sessions of one user from one IP (Dovecot's default limit is 10).
    conns = [login(peer, u2) for _ in range(25)]
    for c in conns:
        ok(c.select("INBOX"), "SELECT INBOX (concurrent)")
    for c in conns:
        c.logout()
    step(f"25 concurrent sessions for {u2}")

    c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
    if "STARTTLS" not in c.capabilities:
        raise AssertionError(f"no STARTTLS in {c.capabilities}")
    ok(c.starttls(tls_context()), "STARTTLS")
    ok(c.login(u2, peer.accounts[u2]), f"LOGIN {u2} after STARTTLS")
    ok(c.select("INBOX"), "SELECT INBOX over STARTTLS")
    cipher = c.sock.version()
    c.logout()
    step(f"STARTTLS on the plain port ({cipher}), LOGIN {u2}, SELECT INBOX")

    if peer.imaps:
        imaps = peer.imaps
        c = imaplib.IMAP4_SSL(*imaps, ssl_context=tls_context(), timeout=TIMEOUT)
        ok(c.login(u3, peer.accounts[u3]), f"LOGIN {u3} over IMAPS")
        ok(c.select("INBOX"), "SELECT INBOX over IMAPS")
        cipher = c.sock.version()
        c.logout()
        step(f"IMAPS on imaps://{imaps[0]}:{imaps[1]} ({cipher}), LOGIN {u3}, SELECT INBOX")

    if peer.admin:
        # The admin sets and reads a quota on another user's INBOX (on Cyrus the
        # quota root of bob's mailboxes is "user/bob" in the admin's view), then
        # lifts it.
        c = imaplib.IMAP4(*imap, timeout=TIMEOUT)
        ok(c.login(*peer.admin), f"LOGIN {peer.admin[0]}")
        root = f"user/{u2}"
        ok(c.setquota(root, "(STORAGE 1000)"), f"SETQUOTA {root} (STORAGE 1000)")
        data = ok(c.getquota(root), f"GETQUOTA {root}")
        if b"STORAGE" not in data[0] or b"1000" not in data[0]:
            raise AssertionError(f"GETQUOTA: {data}")
        ok(c.setquota(root, "()"), f"SETQUOTA {root} ()")
        c.logout()
        step(f"admin SETQUOTA/GETQUOTA {root} -> {data[0].decode()}, then removed")

    if peer.lmtp:
        # LMTP delivery lands in the first user's INBOX.
        lmtp = peer.lmtp
        c = login(peer, u1)
        before = int(ok(c.select("INBOX"), "SELECT INBOX")[0])
        with smtplib.LMTP(lmtp[0], lmtp[1], timeout=TIMEOUT) as conn:
            refused = conn.sendmail("a@example.org", [u1], msg)
            if refused:
                raise AssertionError(f"LMTP refused {refused}")
        ok(c.noop(), "NOOP after LMTP")
        after = int(ok(c.select("INBOX"), "SELECT INBOX again")[0])
        if after != before + 1:
            raise AssertionError(f"LMTP: INBOX had {before}, now {after} messages")
        c.logout()
        step(f"LMTP delivery to {u1} ({before} -> {after} messages)")

    print("smoke: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # any failure: say which step, exit 1
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
