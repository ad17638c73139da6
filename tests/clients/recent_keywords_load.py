#!/usr/bin/env python3
"""Concurrent imaplib sessions sharing mailboxes, checking on the wire that
RECENT is never above EXISTS and that every keyword a FETCH shows was first
announced in a FLAGS response (RFC 3501 7.3.2, 7.2.6).

usage: recent_keywords_load.py IMAP_HOST:PORT [SESSIONS_PER_MAILBOX MAILBOXES OPS SEED]

Each session is one imaplib connection in its own thread doing OPS random
operations (APPEND with a keyword, STORE of a keyword, STORE \\Deleted +
EXPUNGE, MOVE into the same mailbox, NOOP, FETCH FLAGS, re-SELECT or
EXAMINE, STATUS from outside). Every untagged response is seen in order (a
hook on imaplib's response intake) and checked against the session's own
state. Prints a summary line; exits non-zero on the first violations found.
Bounded: fixed operation counts and a socket timeout on every connection.
"""
import imaplib
import random
import re
import sys
import threading

FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
USER, PASSWORD = "alice", "alicepw"


class Watched(imaplib.IMAP4):
    """imaplib with every untagged response checked as it arrives."""

    def __init__(self, host, port, stats, name):
        self.stats = stats
        self.name = name
        self.exists = 0
        self.known = set()
        self.errors = []
        super().__init__(host, port, timeout=30)

    def fail(self, what):
        self.errors.append(f"{self.name}: {what}")

    def _append_untagged(self, typ, dat):
        if isinstance(dat, bytes):
            self.watch(typ, dat)
        super()._append_untagged(typ, dat)

    def watch(self, typ, dat):
        s = self.stats
        if typ == "EXISTS":
            self.exists = int(dat)
        elif typ == "EXPUNGE":
            self.exists -= 1
            if self.exists < 0:
                self.fail("EXPUNGE below zero messages")
        elif typ == "RECENT":
            s["recent_lines"] += 1
            if int(dat) > self.exists:
                self.fail(f"* {int(dat)} RECENT with {self.exists} messages")
        elif typ == "FLAGS":
            s["flags_lines"] += 1
            self.known = {f.lower() for f in dat.strip(b"()").split()}
        elif typ == "FETCH":
            seq = int(dat.split(b" ", 1)[0])
            if seq > self.exists:
                self.fail(f"FETCH of {seq} with {self.exists} messages")
            m = FLAGS_RE.search(dat)
            if m:
                s["fetch_flags"] += 1
                for f in m.group(1).split():
                    if not f.startswith(b"\\"):
                        s["keywords_shown"] += 1
                        if f.lower() not in self.known:
                            self.fail(f"keyword {f!r} shown before any FLAGS announced it")

    def select_box(self, box, readonly):
        self.exists = 0
        self.known = set()
        typ, _ = self.select(box, readonly=readonly)
        assert typ == "OK", typ


def message(i):
    return f"From: load@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode()


def session(host, port, box, ops, seed, stats, errors, lock):
    rng = random.Random(seed)
    m = Watched(host, port, stats, f"{box}#{seed}")
    outside = imaplib.IMAP4(host, port, timeout=30)
    try:
        m.login(USER, PASSWORD)
        outside.login(USER, PASSWORD)
        m.select_box(box, readonly=False)
        for i in range(ops):
            op = rng.randrange(100)
            kw = f"$k{rng.randrange(40)}"
            if op < 20:
                m.append(box, f"({kw})", None, message(i))
                m.noop()
            elif op < 40 and m.exists:
                m.store(str(rng.randrange(1, m.exists + 1)), "+FLAGS", f"({kw})")
            elif op < 50 and m.exists:
                m.store(str(rng.randrange(1, m.exists + 1)), "+FLAGS.SILENT", "(\\Deleted)")
                m.expunge()
            elif op < 55 and m.exists:
                m._simple_command("MOVE", str(rng.randrange(1, m.exists + 1)), box)
            elif op < 70:
                m.noop()
            elif op < 85 and m.exists:
                m.fetch("1:*", "(FLAGS)")
            elif op < 92:
                m.select_box(box, readonly=rng.randrange(3) == 0)
            else:
                typ, data = outside.status(box, "(MESSAGES RECENT)")
                assert typ == "OK", typ
                found = re.search(rb"MESSAGES (\d+) RECENT (\d+)", data[0])
                stats["status_lines"] += 1
                if found and int(found.group(2)) > int(found.group(1)):
                    m.fail(f"STATUS {data[0]!r}: RECENT above MESSAGES")
        m.logout()
        outside.logout()
    except Exception as e:  # a dropped connection or a NO is a failure too
        m.fail(f"{type(e).__name__}: {e}")
    with lock:
        errors.extend(m.errors)


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    per_box = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    boxes = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    ops = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1

    setup = imaplib.IMAP4(host, port, timeout=30)
    setup.login(USER, PASSWORD)
    for b in range(boxes):
        setup.create(f"load{b}")
    setup.logout()

    stats = {k: 0 for k in ("recent_lines", "flags_lines", "fetch_flags", "keywords_shown", "status_lines")}
    errors, lock, threads = [], threading.Lock(), []
    for b in range(boxes):
        for s in range(per_box):
            t = threading.Thread(
                target=session,
                args=(host, port, f"load{b}", ops, seed * 1000 + b * 100 + s, stats, errors, lock),
            )
            threads.append(t)
            t.start()
    for t in threads:
        t.join(timeout=600)
    alive = sum(t.is_alive() for t in threads)
    summary = " ".join(f"{k}={v}" for k, v in stats.items())
    recent_bad = sum("RECENT" in e for e in errors)
    keyword_bad = sum("keyword" in e for e in errors)
    print(
        f"sessions={len(threads)} ops={ops} {summary} violations={len(errors)}"
        f" (recent={recent_bad} keyword={keyword_bad}) stuck={alive}"
    )
    for e in errors[:20]:
        print(e)
    if errors or alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
