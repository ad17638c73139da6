#!/usr/bin/env python3
"""Writes the seed corpus for the two fuzz targets (src/fuzzing.rs).

harness/: conversations encoded as chunks: one header byte (0x80 server, 0x60 the
connection, 0x1f the length, 0 = close) then up to 31 bytes.
server/: raw client bytes sent after LOGIN and SELECT INBOX.
Run from anywhere; rewrites fuzz/corpus/. The seeds are committed.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

def encode(conv):
    out = bytearray()
    for side, conn, data in conv:
        if data is None:
            out.append((0x80 if side == "S" else 0) | (conn << 5))
            continue
        for i in range(0, len(data), 31):
            part = data[i:i + 31]
            out.append((0x80 if side == "S" else 0) | (conn << 5) | len(part))
            out += part
    return bytes(out)

def c(conn, s): return ("C", conn, s.encode())
def s(conn, t): return ("S", conn, t.encode())

G = "* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS MOVE QUOTA LITERAL+] ready\r\n"
SELECT = (
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label3)\r\n"
    "* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] ok\r\n* 3 EXISTS\r\n* 1 RECENT\r\n"
    "* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 12] n\r\na2 OK [READ-WRITE] done\r\n")
HARNESS = {
    "select-fetch": [s(0, G), c(0, "a1 LOGIN u p\r\n"), s(0, "a1 OK in\r\n"),
                     c(0, "a2 SELECT INBOX\r\n"), s(0, SELECT),
                     c(0, "a3 UID FETCH 1:* (UID FLAGS RFC822.SIZE)\r\n"),
                     s(0, "* 1 FETCH (UID 9 FLAGS (\\Seen) RFC822.SIZE 10)\r\n* 2 FETCH (FLAGS () UID 10)\r\n"
                          "* 3 FETCH (UID 11 BODY[] {5}\r\nhello)\r\na3 OK f\r\n"),
                     c(0, "a4 NOOP\r\n"), s(0, "* 2 EXPUNGE\r\n* 3 EXISTS\r\n* 3 FETCH (UID 12)\r\na4 OK n\r\n"),
                     ("S", 0, None)],
    "seed000-reuse": [s(0, G), c(0, "1 SELECT INBOX\r\n"), s(0, SELECT.replace("a2", "1")),
                      c(0, "2 UID STORE 10 +FLAGS (\\Deleted)\r\n"), s(0, "* 2 FETCH (UID 10 FLAGS (\\Deleted))\r\n2 OK\r\n"),
                      c(0, "3 EXPUNGE\r\n"), s(0, "* 2 EXPUNGE\r\n3 OK\r\n"), c(0, "4 NOOP\r\n"),
                      s(0, "* 3 EXISTS\r\n4 OK\r\n"), c(0, "5 FETCH 3 (UID)\r\n"), s(0, "* 3 FETCH (UID 10)\r\n5 OK\r\n")],
    "idle-two-sessions": [s(0, G), s(1, G), c(0, "a SELECT INBOX\r\n"), s(0, SELECT.replace("a2", "a")),
                          c(1, "b SELECT INBOX\r\n"), s(1, SELECT.replace("a2", "b")),
                          c(0, "t IDLE\r\n"), s(0, "+ idling\r\n"), s(0, "* 4 EXISTS\r\n* 2 RECENT\r\n"),
                          c(0, "DONE\r\n"), s(0, "t OK idle done\r\n"), c(1, "x APPEND INBOX {3}\r\n"), s(1, "+ go\r\n"),
                          c(1, "abc\r\n"), s(1, "x OK [APPENDUID 7 13] ok\r\n"), s(1, "* BYE bye\r\n"), ("S", 1, None)],
    "quota-starttls": [s(0, G), c(0, "q GETQUOTAROOT INBOX\r\n"), s(0, "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 512)\r\n* QUOTA INBOX ()\r\nq OK\r\n"),
                       c(0, "s STARTTLS\r\nt NOOP\r\n"), s(0, "s OK begin\r\n"), s(0, "t OK injected\r\n"),
                       c(0, "z AUTHENTICATE PLAIN\r\n"), s(0, "+ \r\n"), c(0, "AHUAcA==\r\n"), s(0, "z NO [AUTHENTICATIONFAILED] no\r\n")],
    "bad-lines": [s(0, "* OK hi\n"), c(0, "a NOOP\r\n"), s(0, "a OK \r\n* 99 FETCH (UID 0)\r\n* FLAGS (Seen Answered)\r\n"
                  "* LIST (\\Noselect) \"/\" {3}\r\nfoo\r\n* 1 FETCH (BODY[HEADER.FIELDS (A)] {999999999}\r\nabc")],
}

SERVER = {
    "fetch-all": "a FETCH 1:* (FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER] BODY[TEXT]<0.5> BODY[1.MIME] BODY[2.1.HEADER.FIELDS (Subject)])\r\n",
    "search": "a SEARCH FROM ann OR SUBJECT mixed NOT SEEN LARGER 10 SINCE 1-Jan-2000 HEADER Message-ID x UID 1:* BODY hello\r\nb UID SEARCH CHARSET UTF-8 TEXT {3+}\r\nbod\r\n",
    "store-copy-move": "a STORE 1 +FLAGS ($Label3 \\Seen)\r\nb COPY 1:2 INBOX\r\nc CREATE Trash\r\nd UID MOVE 1:* Trash\r\ne EXPUNGE\r\nf STATUS Trash (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)\r\n",
    "mailboxes": "a CREATE a/b/c\r\nb LIST \"\" *\r\nc LSUB \"\" %\r\nd SUBSCRIBE a/b/c\r\ne RENAME a x\r\nf DELETE x/b/c\r\ng LIST \"\" \"%/%\"\r\nh NAMESPACE\r\n",
    "append-literals": "a APPEND INBOX (\\Seen) \"01-Jan-2020 10:00:00 +0000\" {10}\r\n0123456789\r\nb APPEND INBOX {4+}\r\nabcd\r\nc APPEND INBOX {99999999}\r\n",
    "idle": "a IDLE\r\nDONE\r\nb IDLE\r\nnot done\r\n",
    "misc": "a CAPABILITY\r\nb ID (\"name\" \"fuzz\")\r\nc ENABLE UTF8=ACCEPT\r\nd GETQUOTAROOT INBOX\r\ne CHECK\r\nf UNSELECT\r\ng EXAMINE INBOX\r\nh STORE 1 FLAGS (x)\r\ni CLOSE\r\nj LOGOUT\r\n",
    "bad": "\r\n*\r\na\r\na FETCH\r\na FETCH 0 x\r\na UID FETCH 4294967295:* UID\r\na LIST \"\" \"*%*%*%\"\r\na FETCH 1:*,1:*,2,1 FLAGS\r\n",
    "starttls": "a STARTTLS\r\nb NOOP\r\n",
    # Known crashers, kept so that they stay fixed (issue 8): a recursive wildcard
    # matcher overflowed its stack on this.
    "list-deep-pattern": "a LIST \"\" \"" + "%" * 33000 + "\"\r\n",
}

def main():
    for name, conv in HARNESS.items():
        with open(os.path.join(HERE, "corpus/harness", name), "wb") as f:
            f.write(encode(conv))
    for name, text in SERVER.items():
        with open(os.path.join(HERE, "corpus/server", name), "wb") as f:
            f.write(text.encode())

if __name__ == "__main__":
    main()
