//! Response patterns in scenarios: `* {n} EXISTS`, `* {_} FETCH (UID $uid ...`.
//!
//! A pattern and a response are both read as IMAP structure: atoms, quoted
//! strings, literals (responses only), parenthesised lists and bracketed parts
//! (`[UIDNEXT 5]`). At the top level and inside brackets, items match in order:
//! a literal token must be equal (ASCII case-insensitive; a quoted string
//! matches its unquoted spelling), `{name}` binds one item, `{_}` matches any
//! one item, and `...` matches any number of items.
//!
//! A parenthesised list matches whatever the order of its items. RFC 3501
//! 7.4.2: "The data are pairs of data item names and their values in
//! parentheses" — pairs, in no fixed order: the grammar (`msg-att`) fixes none,
//! and the RFC's own example in 6.4.8 answers `UID FETCH ... FLAGS` with
//! `* 23 FETCH (FLAGS (\Seen) UID 4827313)`. So a pattern list names items the
//! response list must contain, in any order, and the response may hold more
//! (`...` inside a list is allowed and only says so). The list after `FETCH`
//! and the list after `STATUS mailbox` are read as name/value pairs: `(UID $u)`
//! finds the item named UID whose value is `$u`, wherever it stands. Other
//! lists (FLAGS, PERMANENTFLAGS, …) are sets of items. `()` matches only an
//! empty list. An unclosed `(` or `[` in a pattern is closed at its end, so
//! `(UID $u ...` reads as it always did.
//!
//! `$name` is replaced by a bound value before matching; `$ns/Sent` names a
//! mailbox in the server's personal namespace (see [`substitute`]). Matching by
//! UID rather than sequence number keeps a scenario stable when another
//! session's EXPUNGE renumbers messages.

use std::collections::HashMap;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
}

/// Bound on the items read from one response: a 2 MB `* SEARCH` is matched on
/// its first items only, so matching stays bounded against a hostile server.
const MAX_ITEMS: usize = 100_000;
/// Bound on list nesting (a response of a million `(` must not recurse deeply).
const MAX_DEPTH: usize = 64;

impl Pattern {
    pub fn new(text: &str) -> Self {
        Pattern {
            text: text.trim().to_string(),
        }
    }

    /// Matches a response given as text (its first line, or all of it).
    pub fn matches(
        &self,
        line: &str,
        vars: &HashMap<String, String>,
    ) -> Option<HashMap<String, String>> {
        self.matches_bytes(line.as_bytes(), vars)
    }

    /// Matches a whole response as received (literals included); returns the
    /// bindings when it does.
    pub fn matches_bytes(
        &self,
        response: &[u8],
        vars: &HashMap<String, String>,
    ) -> Option<HashMap<String, String>> {
        let text = substitute(&self.text, vars);
        let pat = Reader::new(text.as_bytes(), true).items();
        let line = Reader::new(response, false).items();
        let cx = Cx {
            pat: text.as_bytes(),
            line: response,
        };
        let mut got = HashMap::new();
        cx.seq(&pat, &line, &mut got).then_some(got)
    }
}

/// One item of a pattern or a response, with its place in the source bytes.
#[derive(Debug, Clone)]
enum Item {
    /// An atom (with any `[section]<partial>` attached: `BODY[HEADER]`).
    Atom(Range<usize>),
    /// A quoted string or a literal: its value, unescaped.
    Str(Vec<u8>, Range<usize>),
    /// `( ... )`; `pairs` when it is a FETCH or STATUS attribute list.
    List {
        items: Vec<Item>,
        pairs: bool,
        span: Range<usize>,
    },
    /// `[ ... ]` standing alone (a response code).
    Bracket(Vec<Item>, Range<usize>),
    /// Patterns only: `{name}` (binds), `{_}` (any) and `...` (any run).
    Bind(String),
    AnyOne,
    AnyRun,
}

impl Item {
    fn span(&self) -> Range<usize> {
        match self {
            Item::Atom(r) | Item::Str(_, r) | Item::Bracket(_, r) => r.clone(),
            Item::List { span, .. } => span.clone(),
            Item::Bind(_) | Item::AnyOne | Item::AnyRun => 0..0,
        }
    }
}

/// Reads IMAP structure; never fails (an unclosed list ends with the input, a
/// stray closer is part of an atom), so any server line can be matched.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    pattern: bool,
    count: usize,
    /// A pattern group was cut by the end while ending in `...`: the `...`
    /// runs on past it (`[PERMANENTFLAGS ...` matches the text after the `]`).
    open_run: bool,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], pattern: bool) -> Self {
        Reader {
            b,
            i: 0,
            pattern,
            count: 0,
            open_run: false,
        }
    }

    fn items(mut self) -> Vec<Item> {
        self.seq(None, 0)
    }

    /// Items up to `close` (or the end).
    fn seq(&mut self, close: Option<u8>, depth: usize) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::new();
        loop {
            while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\r' | b'\n' | b'\t') {
                self.i += 1;
            }
            let Some(&c) = self.b.get(self.i) else {
                if close.is_some() && matches!(out.last(), Some(Item::AnyRun)) {
                    self.open_run = true;
                }
                return out;
            };
            if Some(c) == close {
                self.i += 1;
                return out;
            }
            self.count += 1;
            if self.count > MAX_ITEMS {
                self.i = self.b.len();
                return out;
            }
            let start = self.i;
            let item = match c {
                b'(' | b'[' if depth < MAX_DEPTH => {
                    self.i += 1;
                    let closer = if c == b'(' { b')' } else { b']' };
                    let inner = self.seq(Some(closer), depth + 1);
                    let span = start..self.i;
                    if c == b'(' {
                        let pairs = is_pair_list(&out, self.b);
                        Item::List {
                            items: inner,
                            pairs,
                            span,
                        }
                    } else {
                        Item::Bracket(inner, span)
                    }
                }
                b'"' => self.quoted(),
                b'{' => self.brace(),
                // RFC 3516 literal8, `~{N}`: read as a literal.
                b'~' if !self.pattern && self.b.get(self.i + 1) == Some(&b'{') => {
                    self.i += 1;
                    self.brace()
                }
                _ => self.atom(),
            };
            out.push(item);
            if self.open_run {
                out.push(Item::AnyRun);
            }
        }
    }

    fn quoted(&mut self) -> Item {
        let start = self.i;
        self.i += 1;
        let mut v = Vec::new();
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(&n) = self.b.get(self.i) {
                        v.push(n);
                        self.i += 1;
                    }
                }
                _ => v.push(c),
            }
        }
        Item::Str(v, start..self.i)
    }

    /// `{name}` / `{_}` in a pattern; `{N}` or `{N+}` then CRLF and N bytes (a
    /// literal) in a response; otherwise an atom.
    fn brace(&mut self) -> Item {
        let start = self.i;
        let Some(end) = self.b[start..].iter().position(|&c| c == b'}') else {
            return self.atom();
        };
        let inner = &self.b[start + 1..start + end];
        if self.pattern {
            self.i = start + end + 1;
            let name = String::from_utf8_lossy(inner).into_owned();
            return if name == "_" {
                Item::AnyOne
            } else {
                Item::Bind(name)
            };
        }
        let digits = inner.strip_suffix(b"+").unwrap_or(inner);
        let n: Option<usize> = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok());
        let after = start + end + 1;
        match n {
            Some(n) if self.b[after..].starts_with(b"\r\n") => {
                let from = after + 2;
                let to = from.saturating_add(n).min(self.b.len());
                self.i = to;
                Item::Str(self.b[from..to].to_vec(), start..to)
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Item {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b']' | b')' if self.i > start && depth == 0 => break,
                b' ' | b'\r' | b'\n' | b'\t' | b'(' | b'"' if depth == 0 => break,
                _ => {}
            }
            self.i += 1;
        }
        if self.i == start {
            // A stray closer at the start: one byte of atom, so reading moves on.
            self.i += 1;
        }
        let text = &self.b[start..self.i];
        if self.pattern && text == b"..." {
            Item::AnyRun
        } else if !self.pattern {
            Item::Atom(start..start + without_binary_origin(text).len())
        } else {
            Item::Atom(start..self.i)
        }
    }
}

/// `BINARY[2]<6>` as `BINARY[2]`: RFC 3516 4.3 lets a partial answer carry its
/// origin (Dovecot and Cyrus send it), RFC 9051's grammar has none, so a
/// pattern names the item without it and matches both.
fn without_binary_origin(atom: &[u8]) -> &[u8] {
    if atom.len() < 7 || !atom[..7].eq_ignore_ascii_case(b"BINARY[") {
        return atom;
    }
    let Some(digits) = atom.strip_suffix(b">") else {
        return atom;
    };
    match memchr::memrchr(b'<', digits) {
        Some(lt)
            if lt > 0
                && digits[lt - 1] == b']'
                && lt + 1 < digits.len()
                && digits[lt + 1..].iter().all(u8::is_ascii_digit) =>
        {
            &atom[..lt]
        }
        _ => atom,
    }
}

/// IMAP structure as plain data, for matchers other than [`Pattern`] (the
/// imaptest scripts' own): read by the same bounded reader, so a hostile
/// response is cut at the same item count and depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An atom, number or NIL (a `[section]` attached stays part of it).
    Atom(Vec<u8>),
    /// A quoted string or a literal, unescaped.
    Str(Vec<u8>),
    List(Vec<Node>),
    /// `[ ... ]` standing alone: a response code.
    Bracket(Vec<Node>),
}

/// Reads `bytes` (a whole response, literals included) as IMAP structure.
pub fn structure(bytes: &[u8]) -> Vec<Node> {
    fn node(b: &[u8], item: Item) -> Node {
        match item {
            Item::Atom(r) => Node::Atom(b[r].to_vec()),
            Item::Str(v, _) => Node::Str(v),
            Item::List { items, .. } => Node::List(nodes(b, items)),
            Item::Bracket(items, _) => Node::Bracket(nodes(b, items)),
            // A response reader makes none of the pattern-only items.
            Item::Bind(n) => Node::Atom(n.into_bytes()),
            Item::AnyOne | Item::AnyRun => Node::Atom(Vec::new()),
        }
    }
    fn nodes(b: &[u8], items: Vec<Item>) -> Vec<Node> {
        items.into_iter().map(|i| node(b, i)).collect()
    }
    nodes(bytes, Reader::new(bytes, false).items())
}

/// The list after `FETCH` (`* 3 FETCH (...)`) and after `STATUS mailbox` are
/// name/value pairs.
fn is_pair_list(before: &[Item], b: &[u8]) -> bool {
    let atom_is = |item: Option<&Item>, word: &[u8]| match item {
        Some(Item::Atom(r)) => b[r.clone()].eq_ignore_ascii_case(word),
        _ => false,
    };
    let n = before.len();
    atom_is(before.last(), b"FETCH") || (n >= 2 && atom_is(before.get(n - 2), b"STATUS"))
}

/// The source of both sides, to read atoms and bind text.
struct Cx<'a> {
    pat: &'a [u8],
    line: &'a [u8],
}

impl Cx<'_> {
    /// Items in order; `...` skips any number (tried at each position: the cost
    /// is bounded by the item count squared, and items are bounded).
    fn seq(&self, pat: &[Item], line: &[Item], got: &mut HashMap<String, String>) -> bool {
        let Some((p, rest)) = pat.split_first() else {
            return line.is_empty();
        };
        if matches!(p, Item::AnyRun) {
            if rest.is_empty() {
                return true;
            }
            return (0..=line.len()).any(|k| self.trial(got, |cx, g| cx.seq(rest, &line[k..], g)));
        }
        let Some((l, more)) = line.split_first() else {
            return false;
        };
        self.one(p, l, got) && self.seq(rest, more, got)
    }

    /// Runs `f` on a copy of the bindings and keeps them only when it matched.
    fn trial(
        &self,
        got: &mut HashMap<String, String>,
        f: impl FnOnce(&Self, &mut HashMap<String, String>) -> bool,
    ) -> bool {
        let mut copy = got.clone();
        let ok = f(self, &mut copy);
        if ok {
            *got = copy;
        }
        ok
    }

    fn text(&self, l: &Item) -> String {
        match l {
            Item::Str(v, _) => String::from_utf8_lossy(v).into_owned(),
            other => String::from_utf8_lossy(&self.line[other.span()]).into_owned(),
        }
    }

    /// The bytes a pattern atom or string stands for.
    fn pat_word<'p>(&'p self, p: &'p Item) -> Option<&'p [u8]> {
        match p {
            Item::Atom(r) => Some(&self.pat[r.clone()]),
            Item::Str(v, _) => Some(v),
            _ => None,
        }
    }

    fn one(&self, p: &Item, l: &Item, got: &mut HashMap<String, String>) -> bool {
        match p {
            Item::AnyOne | Item::AnyRun => true,
            Item::Bind(name) => {
                got.insert(name.clone(), self.text(l));
                true
            }
            Item::Atom(_) | Item::Str(..) => {
                let want = self.pat_word(p).unwrap_or_default();
                match l {
                    Item::Atom(r) => self.line[r.clone()].eq_ignore_ascii_case(want),
                    Item::Str(v, _) => v.eq_ignore_ascii_case(want),
                    _ => false,
                }
            }
            Item::Bracket(ps, _) => match l {
                Item::Bracket(ls, _) => self.seq(ps, ls, got),
                _ => false,
            },
            Item::List { items, pairs, .. } => {
                let Item::List { items: ls, .. } = l else {
                    return false;
                };
                if items.is_empty() {
                    return ls.is_empty();
                }
                if *pairs {
                    self.pairs(items, ls, got)
                } else {
                    self.set(items, ls, got)
                }
            }
        }
    }

    /// Every pattern item matches a distinct response item, in any order.
    fn set(&self, pat: &[Item], line: &[Item], got: &mut HashMap<String, String>) -> bool {
        let wanted: Vec<&Item> = pat.iter().filter(|p| !matches!(p, Item::AnyRun)).collect();
        let mut used = vec![false; line.len()];
        self.assign(&wanted, line, &mut used, got, |cx, p, l, g| cx.one(p, l, g))
    }

    /// Pattern `name value` pairs each find the response pair of that name
    /// whose value matches, in any order; a name with no value (followed by
    /// `...` or the end) only needs the name.
    fn pairs(&self, pat: &[Item], line: &[Item], got: &mut HashMap<String, String>) -> bool {
        let mut wanted: Vec<(&Item, Option<&Item>)> = Vec::new();
        let mut i = 0;
        while i < pat.len() {
            if matches!(pat[i], Item::AnyRun) {
                i += 1;
                continue;
            }
            let value = pat.get(i + 1).filter(|v| !matches!(v, Item::AnyRun));
            wanted.push((&pat[i], value));
            i += if value.is_some() { 2 } else { 1 };
        }
        let have: Vec<(&Item, Option<&Item>)> = line.chunks(2).map(|c| (&c[0], c.get(1))).collect();
        let mut used = vec![false; have.len()];
        let wanted: Vec<&(&Item, Option<&Item>)> = wanted.iter().collect();
        self.assign(
            &wanted,
            &have,
            &mut used,
            got,
            |cx, (pn, pv), (ln, lv), g| {
                cx.one(pn, ln, g)
                    && match (pv, lv) {
                        (None, _) => true,
                        (Some(pv), Some(lv)) => cx.one(pv, lv, g),
                        (Some(_), None) => false,
                    }
            },
        )
    }

    /// Gives each wanted item a distinct matching response item (backtracking,
    /// so `(\Seen {f})` finds the right pairing whatever the order).
    fn assign<P, L>(
        &self,
        wanted: &[&P],
        have: &[L],
        used: &mut Vec<bool>,
        got: &mut HashMap<String, String>,
        fits: impl Fn(&Self, &P, &L, &mut HashMap<String, String>) -> bool + Copy,
    ) -> bool {
        let Some((w, rest)) = wanted.split_first() else {
            return true;
        };
        for k in 0..have.len() {
            if used[k] {
                continue;
            }
            let mut copy = got.clone();
            if fits(self, w, &have[k], &mut copy) {
                used[k] = true;
                if self.assign(rest, have, used, &mut copy, fits) {
                    *got = copy;
                    return true;
                }
                used[k] = false;
            }
        }
        false
    }
}

/// Replaces `$name` with its value (names are `[A-Za-z0-9_]+`).
///
/// `$ns/PATH` names a mailbox in the personal namespace: it becomes the prefix
/// (`$ns`) followed by PATH with each `/` turned into the hierarchy delimiter
/// (`$delim`): `$ns/Archive/2024` is `INBOX.Archive.2024` on a server whose
/// NAMESPACE is `(("INBOX." "."))`, and `Archive/2024` where it is `(("" "/"))`.
/// The result is quoted when it is not an atom (and not already in quotes).
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut in_quotes = false;
    while let Some((i, c)) = chars.next() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        if name == "ns" && rest[len..].starts_with('/') {
            if let (Some(prefix), Some(delim)) = (vars.get("ns"), vars.get("delim")) {
                let path_len = rest[len + 1..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '"' | '(' | ')' | ']'))
                    .unwrap_or(rest.len() - len - 1);
                let path = &rest[len + 1..len + 1 + path_len];
                let name = format!("{prefix}{}", path.replace('/', delim));
                if in_quotes || is_atom(&name) {
                    out.push_str(&name);
                } else {
                    out.push_str(&quoted(&name));
                }
                // Skip what was replaced: a byte offset, the path may hold
                // characters of several bytes (`$ns/Entwürfe`).
                let end = i + 1 + len + 1 + path_len;
                while chars.next_if(|&(j, _)| j < end).is_some() {}
                continue;
            }
        }
        match vars.get(name) {
            Some(v) if !name.is_empty() => {
                out.push_str(v);
                for _ in 0..len {
                    chars.next();
                }
            }
            _ => out.push('$'),
        }
    }
    out
}

/// An IMAP quoted string (RFC 3501 9: `"` and `\\` escaped).
pub fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// An IMAP atom (RFC 3501 9: no atom-specials), so it needs no quotes.
fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b > b' '
                && b < 0x7f
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, line: &str) -> Option<HashMap<String, String>> {
        Pattern::new(p).matches(line, &HashMap::new())
    }

    fn with(vars: &[(&str, &str)]) -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn token_matching_and_bindings() {
        let v = HashMap::new();
        let p = Pattern::new("* {n} EXISTS");
        assert_eq!(
            p.matches("* 5 EXISTS", &v)
                .and_then(|b| b.get("n").cloned()),
            Some("5".into())
        );
        assert!(p.matches("* 5 RECENT", &v).is_none());
        assert!(p.matches("* 5 EXISTS extra", &v).is_none());
        let p = Pattern::new("* {_} FETCH (UID {uid} ...");
        let b = p
            .matches("* 3 FETCH (UID 42 FLAGS (\\Seen))", &v)
            .expect("match");
        assert_eq!(b.get("uid").map(String::as_str), Some("42"));
        let p = Pattern::new("* {_} FETCH (UID {uid})");
        assert_eq!(
            p.matches("* 3 FETCH (UID 42)", &v)
                .and_then(|b| b.get("uid").cloned()),
            Some("42".into())
        );
        let vars = with(&[("uid", "42")]);
        assert!(Pattern::new("* {_} FETCH (UID $uid ...")
            .matches("* 9 FETCH (UID 42 FLAGS ())", &vars)
            .is_some());
        assert!(Pattern::new("* {_} FETCH (UID $uid ...")
            .matches("* 9 FETCH (UID 43 FLAGS ())", &vars)
            .is_none());
        assert_eq!(
            substitute("UID FETCH $uid:* $nope", &vars),
            "UID FETCH 42:* $nope"
        );
    }

    /// Cyrus IMAP 3.6.1 answered `FETCH 3 (UID)` with the FLAGS first (RFC 3501
    /// 6.4.8's own example does the same): every bundled form must match it.
    #[test]
    fn fetch_items_in_any_order_the_cyrus_form() {
        let cyrus = "* 3 FETCH (FLAGS (\\Recent) UID 101609)";
        let b = m("* 3 FETCH (UID {last})", cyrus).expect("capture matches");
        assert_eq!(b.get("last").map(String::as_str), Some("101609"));
        let vars = with(&[("last", "101609")]);
        for p in [
            "* 3 FETCH (UID $last ...",
            "* 3 FETCH (UID $last)",
            "* {_} FETCH (UID $last ...",
            "* 3 FETCH (FLAGS ...",
            "* 3 FETCH ...",
        ] {
            assert!(Pattern::new(p).matches(cyrus, &vars).is_some(), "{p}");
        }
        // A UID that is not there is not found, wherever the items stand.
        let other = with(&[("last", "101608")]);
        assert!(Pattern::new("* 3 FETCH (UID $last)")
            .matches(cyrus, &other)
            .is_none());
        // The value of one item is never taken for another's: RFC822.SIZE 5 is not UID 5.
        assert!(m("* 1 FETCH (UID 5)", "* 1 FETCH (UID 7 RFC822.SIZE 5)").is_none());
        assert!(m("* 1 FETCH (UID 5)", "* 1 FETCH (RFC822.SIZE 7 UID 5)").is_some());
    }

    /// A `must-not` guard sees a UID listed after FLAGS (it was blind to it).
    #[test]
    fn must_not_guard_sees_uid_after_flags() {
        let vars = with(&[("gone", "7"), ("two", "7")]);
        for p in ["* 3 FETCH (UID $gone)", "* {_} FETCH (UID $two ..."] {
            assert!(
                Pattern::new(p)
                    .matches("* 3 FETCH (FLAGS (\\Seen \\Recent) UID 7)", &vars)
                    .is_some(),
                "{p}"
            );
        }
    }

    #[test]
    fn flag_lists_status_lists_and_codes() {
        // Flag lists are sets: the pattern's flags must all be there, any order.
        let line = "* 1 FETCH (UID 4 FLAGS (\\Seen \\Recent $Label3))";
        assert!(m("* 1 FETCH (FLAGS (\\Seen))", line).is_some());
        assert!(m("* 1 FETCH (FLAGS ($label3 \\seen))", line).is_some());
        assert!(m("* 1 FETCH (FLAGS (\\Deleted))", line).is_none());
        assert!(m("* 1 FETCH (FLAGS ())", line).is_none());
        assert!(m("* 1 FETCH (FLAGS ())", "* 1 FETCH (FLAGS () UID 4)").is_some());
        // STATUS items are pairs too.
        let st = "* STATUS \"Sent Items\" (UIDNEXT 12 MESSAGES 3)";
        let b = m("* STATUS {box} (MESSAGES {n} ...", st).expect("status");
        assert_eq!(b.get("n").map(String::as_str), Some("3"));
        assert_eq!(b.get("box").map(String::as_str), Some("Sent Items"));
        assert!(m("* STATUS \"Sent Items\" (MESSAGES 12)", st).is_none());
        // Response codes stay ordered.
        let b = m(
            "* OK [UIDNEXT {next}] ...",
            "* OK [UIDNEXT 4392] Predicted next UID",
        )
        .expect("code");
        assert_eq!(b.get("next").map(String::as_str), Some("4392"));
        assert!(m(
            "* OK [PERMANENTFLAGS ...",
            "* OK [PERMANENTFLAGS (\\Seen \\*)] Limited"
        )
        .is_some());
        assert!(m("* OK [UIDVALIDITY {_}] ...", "* OK [UIDNEXT 4] x").is_none());
        // Quoted strings match their unquoted spelling.
        assert!(m(
            "* LIST ... INBOX",
            "* LIST (\\HasNoChildren) \".\" \"INBOX\""
        )
        .is_some());
    }

    #[test]
    fn literals_and_sections_in_responses() {
        let body = "Subject: x (y\r\n\r\n";
        let raw = format!(
            "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {{{}}}\r\n{body} UID 9 FLAGS (\\Seen))\r\n",
            body.len()
        );
        let raw = raw.as_bytes();
        let v = HashMap::new();
        let b = Pattern::new("* 2 FETCH (UID {u} FLAGS (\\Seen))")
            .matches_bytes(raw, &v)
            .expect("items after a literal are seen");
        assert_eq!(b.get("u").map(String::as_str), Some("9"));
        // A hostile response never breaks the reader.
        for junk in [
            "* ) ( ] [ \"",
            "((((((((",
            "* 1 FETCH {99999999}\r\nab",
            "]]]",
            "",
        ] {
            let _ = m("* {_} FETCH (UID 1 ...", junk);
        }
        let deep = "(".repeat(10_000);
        assert!(m("* 1 EXISTS", &deep).is_none());
    }

    /// Dovecot 2.3 and Cyrus 3.6 answer a partial BINARY with its origin and a
    /// literal8; the reference server without the origin.
    #[test]
    fn binary_literal8_and_origin_in_responses() {
        let v = HashMap::new();
        let p = Pattern::new("* 1 FETCH (BINARY[2] \"binary\")");
        for raw in [
            &b"* 1 FETCH (BINARY[2]<6> ~{6}\r\nbinary)\r\n"[..],
            b"* 1 FETCH (BINARY[2] ~{6}\r\nbinary)\r\n",
            b"* 1 FETCH (BINARY[2] {6}\r\nbinary UID 4)\r\n",
        ] {
            assert!(
                p.matches_bytes(raw, &v).is_some(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(p
            .matches_bytes(b"* 1 FETCH (BINARY[2]<6> ~{6}\r\nbinarx)\r\n", &v)
            .is_none());
        assert_eq!(without_binary_origin(b"BINARY[1.2]<0>"), b"BINARY[1.2]");
        assert_eq!(without_binary_origin(b"BODY[]<0>"), b"BODY[]<0>");
        assert_eq!(without_binary_origin(b"BINARY[1]<>"), b"BINARY[1]<>");
    }

    #[test]
    fn namespace_mailbox_names() {
        let courier = with(&[("ns", "INBOX."), ("delim", ".")]);
        assert_eq!(substitute("CREATE $ns/Sent", &courier), "CREATE INBOX.Sent");
        assert_eq!(
            substitute("SELECT $ns/Archive/2024 x", &courier),
            "SELECT INBOX.Archive.2024 x"
        );
        let flat = with(&[("ns", ""), ("delim", "/")]);
        assert_eq!(
            substitute("CREATE \"$ns/Entw\u{fc}rfe\" x", &courier),
            "CREATE \"INBOX.Entw\u{fc}rfe\" x"
        );
        assert_eq!(
            substitute("CREATE $ns/Archive/2024", &flat),
            "CREATE Archive/2024"
        );
        let spaced = with(&[("ns", "Mail Folders/"), ("delim", "/")]);
        assert_eq!(
            substitute("CREATE $ns/Sent", &spaced),
            "CREATE \"Mail Folders/Sent\""
        );
        assert_eq!(
            substitute("LIST \"\" \"$ns/Sent\"", &spaced),
            "LIST \"\" \"Mail Folders/Sent\""
        );
        // Unknown namespace: left as written (the runner learns it first).
        assert_eq!(
            substitute("CREATE $ns/Sent", &HashMap::new()),
            "CREATE $ns/Sent"
        );
        let vars = with(&[("ns", "INBOX."), ("delim", ".")]);
        assert!(Pattern::new("* LIST ... $ns/Archive")
            .matches("* LIST (\\HasNoChildren) \".\" \"INBOX.Archive\"", &vars)
            .is_some());
    }
}
