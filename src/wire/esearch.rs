//! ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) on the wire, both ways: the
//! `RETURN (...)` options of a SEARCH command, the `$` marker of SEARCHRES in
//! a command, and the `* ESEARCH` response.
//!
//! imap-codec 2.0 (alpha) reads neither `RETURN` nor `$`. A command that has
//! them is rewritten here into one imap-codec reads (`rewrite`): the RETURN
//! options are taken out, and each `$` in a sequence-set position is given to
//! the caller, which says what stands there (the reference server: the saved
//! result; the harness: any valid set, it only needs the command's kind).
//! `$` is looked for only where RFC 5182's grammar puts it (`sequence-set =/
//! seq-last-command`, `seq-last-command = "$"`: the first argument of FETCH,
//! STORE, COPY, MOVE and UID EXPUNGE, and a search key), never inside a
//! quoted string or a literal, nor as the argument of a key (`SUBJECT $`).
//!
//! Everything is read in one pass over the bytes, with no recursion, so the
//! work is linear in a command that the framer has already bounded.

/// What a SEARCH's `RETURN (...)` asked for (RFC 4731 3.1, RFC 5182 2).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
    /// Options of other extensions (`PARTIAL`, `CONTEXT`, ...), upper-cased:
    /// the harness does not judge what it cannot know.
    pub other: Vec<String>,
}

impl SearchReturn {
    /// RFC 4731 3.1: "If the list of result options is empty, that requests
    /// the server to return an ESEARCH response instead of the SEARCH
    /// response. This is equivalent to "(ALL)"." (quoted from memory of RFC
    /// 4731 3.1; the wording was not checked against the RFC's text here).
    pub fn normalised(mut self) -> SearchReturn {
        if !self.min && !self.max && !self.all && !self.count && !self.save && self.other.is_empty()
        {
            self.all = true;
        }
        self
    }

    /// Whether an ESEARCH response is owed: any option other than SAVE
    /// alone. RFC 5182's first example answers `SEARCH RETURN (SAVE) ...`
    /// with the tagged OK alone.
    pub fn wants_esearch(&self) -> bool {
        self.min || self.max || self.all || self.count || !self.other.is_empty()
    }
}

/// Where a `$` stands in a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// The sequence set of FETCH, STORE, COPY, MOVE or UID EXPUNGE.
    SequenceSet,
    /// A search key (`$`, or `UID $`): the substitute is one search key.
    SearchKey,
}

/// A command rewritten for imap-codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    pub tag: String,
    pub uid: bool,
    /// The command's name, upper-cased (`SEARCH`, `FETCH`).
    pub name: String,
    /// The RETURN options of a SEARCH that had them (normalised).
    pub returns: Option<SearchReturn>,
    /// A `$` was replaced.
    pub dollar: bool,
    /// The caller said a `$` sequence set is empty: `bytes` is the command
    /// unchanged, and it names no message.
    pub empty_set: bool,
    pub bytes: Vec<u8>,
}

/// Why a SEARCH with RETURN could not be read (answered `BAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Atom,
    Str,
    Open,
    Close,
}

/// Most tokens of one SEARCH read here: a command with more search keys is
/// refused (`BAD`) rather than given a token list as large as the command.
pub const MAX_TOKENS: usize = 100_000;

/// A token: its kind and the byte span it covers.
type Token = (Tok, usize, usize);

/// The first `max` tokens of one command: kind and byte span (a literal's
/// span covers its `{n}` header and its data), and whether there were more.
fn tokens(b: &[u8], max: usize) -> Result<(Vec<Token>, bool), Malformed> {
    let bad = |w: &str| Malformed(w.to_string());
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if out.len() >= max {
            return Ok((out, true));
        }
        match b[i] {
            b' ' => i += 1,
            b'\r' | b'\n' if i + 2 >= b.len() => break,
            b'\r' | b'\n' => return Err(bad("a line break outside a literal")),
            b'(' => {
                out.push((Tok::Open, i, i + 1));
                i += 1;
            }
            b')' => {
                out.push((Tok::Close, i, i + 1));
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        Some(b'"') => break,
                        Some(b'\\') => i += 2,
                        Some(b'\r') | Some(b'\n') | None => {
                            return Err(bad("a quoted string is not closed"))
                        }
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                out.push((Tok::Str, start, i));
            }
            b'{' | b'~' if b[i..].iter().take(2).any(|&c| c == b'{') => {
                let start = i;
                let open = i + usize::from(b[i] == b'~');
                let close = b[open..]
                    .iter()
                    .position(|&c| c == b'}')
                    .map(|p| open + p)
                    .ok_or_else(|| bad("a malformed literal"))?;
                let digits = &b[open + 1..close];
                let digits = digits
                    .strip_suffix(b"+")
                    .or_else(|| digits.strip_suffix(b"-"))
                    .unwrap_or(digits);
                let n: usize = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| bad("a malformed literal"))?;
                let after = &b[close + 1..];
                let skip = if after.starts_with(b"\r\n") {
                    2
                } else if after.starts_with(b"\n") {
                    1
                } else {
                    return Err(bad("a malformed literal"));
                };
                let end = (close + 1 + skip)
                    .checked_add(n)
                    .filter(|&e| e <= b.len())
                    .ok_or_else(|| bad("a literal longer than the command"))?;
                out.push((Tok::Str, start, end));
                i = end;
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'(' | b')' | b'"' | b'\r' | b'\n') {
                    i += 1;
                }
                out.push((Tok::Atom, start, i));
            }
        }
    }
    Ok((out, false))
}

/// How many arguments a search key takes (RFC 3501 6.4.4, RFC 7162 3.1.5
/// for MODSEQ, whose optional entry name and type are counted by the caller).
fn key_arity(key: &str) -> usize {
    match key {
        "BCC" | "BODY" | "CC" | "FROM" | "SUBJECT" | "TEXT" | "TO" | "KEYWORD" | "UNKEYWORD"
        | "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" | "LARGER"
        | "SMALLER" | "UID" | "OLDER" | "YOUNGER" | "MODSEQ" => 1,
        "HEADER" => 2,
        _ => 0,
    }
}

/// Rewrites a command that has RETURN options or a `$` so imap-codec reads
/// it: `Ok(None)` when it has neither (or is not one of the commands this
/// module knows). `subst` says what stands for a `$`; `None` for a sequence
/// set means the empty set (the command is then not rewritten: `empty_set`).
pub fn rewrite(
    bytes: &[u8],
    mut subst: impl FnMut(Marker) -> Option<String>,
) -> Result<Option<Rewritten>, Malformed> {
    let bad = |w: &str| Malformed(w.to_string());
    if !may_have_marker(bytes) {
        return Ok(None);
    }
    // The tag, UID, the name and the first argument decide; only a SEARCH
    // is read further.
    let head = match tokens(bytes, 4) {
        Ok((t, _)) => t,
        // Not ours to judge: imap-codec answers it.
        Err(_) => return Ok(None),
    };
    let is_search = head
        .iter()
        .take(3)
        .any(|t| bytes[t.1..t.2].eq_ignore_ascii_case(b"SEARCH"));
    let toks = if is_search {
        match tokens(bytes, MAX_TOKENS) {
            Ok((_, true)) => {
                return Err(Malformed(format!(
                    "a SEARCH of more than {MAX_TOKENS} items is not read"
                )))
            }
            Ok((t, false)) => t,
            Err(_) => return Ok(None),
        }
    } else {
        head
    };
    let text = |t: &Token| String::from_utf8_lossy(&bytes[t.1..t.2]).into_owned();
    let is = |t: Option<&Token>, w: &str| {
        t.is_some_and(|t| t.0 == Tok::Atom && bytes[t.1..t.2].eq_ignore_ascii_case(w.as_bytes()))
    };
    let Some(tag) = toks.first().filter(|t| t.0 == Tok::Atom).map(text) else {
        return Ok(None);
    };
    let mut i = 1;
    let uid = is(toks.get(i), "UID");
    if uid {
        i += 1;
    }
    let Some(name) = toks
        .get(i)
        .filter(|t| t.0 == Tok::Atom)
        .map(|t| text(t).to_ascii_uppercase())
    else {
        return Ok(None);
    };
    i += 1;
    // (start, end, replacement) edits, in order.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut returns = None;
    let mut empty_set = false;
    match name.as_str() {
        "FETCH" | "STORE" | "COPY" | "MOVE" => {
            if let Some(&(Tok::Atom, s, e)) = toks.get(i) {
                if &bytes[s..e] == b"$" {
                    match subst(Marker::SequenceSet) {
                        Some(set) => edits.push((s, e, set)),
                        None => empty_set = true,
                    }
                }
            }
        }
        "EXPUNGE" if uid => {
            if let Some(&(Tok::Atom, s, e)) = toks.get(i) {
                if &bytes[s..e] == b"$" {
                    match subst(Marker::SequenceSet) {
                        Some(set) => edits.push((s, e, set)),
                        None => empty_set = true,
                    }
                }
            }
        }
        "SEARCH" => {
            if is(toks.get(i), "RETURN") {
                let start = toks[i - 1].2;
                i += 1;
                if toks.get(i).map(|t| t.0) != Some(Tok::Open) {
                    return Err(bad("RETURN takes a list of result options"));
                }
                i += 1;
                let mut r = SearchReturn::default();
                loop {
                    match toks.get(i) {
                        Some(&(Tok::Close, _, e)) => {
                            edits.push((start, e, String::new()));
                            i += 1;
                            break;
                        }
                        Some(t @ &(Tok::Atom, ..)) => {
                            match text(t).to_ascii_uppercase().as_str() {
                                "MIN" => r.min = true,
                                "MAX" => r.max = true,
                                "ALL" => r.all = true,
                                "COUNT" => r.count = true,
                                "SAVE" => r.save = true,
                                other => r.other.push(other.to_string()),
                            }
                            i += 1;
                        }
                        // An option's own arguments (`PARTIAL 1:10`, lists).
                        Some(&(Tok::Open, ..)) | Some(&(Tok::Str, ..)) => i += 1,
                        None => return Err(bad("the RETURN list is not closed")),
                    }
                }
                returns = Some(r.normalised());
            }
            if is(toks.get(i), "CHARSET") {
                i += 2;
            }
            while let Some(&t) = toks.get(i) {
                i += 1;
                if t.0 != Tok::Atom {
                    continue;
                }
                let word = text(&t).to_ascii_uppercase();
                if word == "$" {
                    edits.push((t.1, t.2, key_subst(&mut subst)));
                    continue;
                }
                if word == "UID" && toks.get(i).is_some_and(|n| &bytes[n.1..n.2] == b"$") {
                    edits.push((t.1, toks[i].2, key_subst(&mut subst)));
                    i += 1;
                    continue;
                }
                let mut skip = key_arity(&word);
                if word == "MODSEQ" && toks.get(i).is_some_and(|n| n.0 == Tok::Str) {
                    skip = 3;
                }
                i += skip;
            }
        }
        _ => return Ok(None),
    }
    let dollar = empty_set || edits.iter().any(|e| !e.2.is_empty());
    if returns.is_none() && !dollar {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for (s, e, with) in &edits {
        out.extend_from_slice(&bytes[at..*s]);
        out.extend_from_slice(with.as_bytes());
        at = *e;
    }
    out.extend_from_slice(&bytes[at..]);
    Ok(Some(Rewritten {
        tag,
        uid,
        name,
        returns,
        dollar,
        empty_set,
        bytes: out,
    }))
}

fn key_subst(subst: &mut impl FnMut(Marker) -> Option<String>) -> String {
    // The empty set as a key: no message matches `NOT ALL`.
    subst(Marker::SearchKey).unwrap_or_else(|| "(NOT ALL)".to_string())
}

/// Cheap first look: a command of a kind this module rewrites (read from its
/// first line), holding a `$` or the word RETURN. An APPEND's literal is never
/// scanned.
fn may_have_marker(bytes: &[u8]) -> bool {
    let line = &bytes[..memchr::memchr(b'\n', bytes).unwrap_or(bytes.len())];
    let mut words = line.split(|&c| c == b' ').skip(1);
    let mut name = words.next().unwrap_or(b"");
    if name.eq_ignore_ascii_case(b"UID") {
        name = words.next().unwrap_or(b"");
    }
    let name = name.strip_suffix(b"\r").unwrap_or(name);
    let known = [
        &b"FETCH"[..],
        b"STORE",
        b"COPY",
        b"MOVE",
        b"EXPUNGE",
        b"SEARCH",
    ];
    if !known.iter().any(|k| name.eq_ignore_ascii_case(k)) {
        return false;
    }
    memchr::memchr(b'$', bytes).is_some()
        || line.windows(6).any(|w| w.eq_ignore_ascii_case(b"RETURN"))
}

/// Most ranges of an ESEARCH `ALL` set kept (beyond it the set is not judged).
pub const MAX_ALL_RANGES: usize = 100_000;

/// A `* ESEARCH` response (RFC 4466 2.6.2, RFC 4731 3.1, RFC 7162 3.1.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Esearch {
    /// The `(TAG "x")` correlator.
    pub tag: Option<String>,
    /// The `UID` indicator: the numbers are UIDs.
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub count: Option<u32>,
    /// `ALL` as ascending, merged ranges; `None` also when it was too long.
    pub all: Option<Vec<(u32, u32)>>,
    /// `ALL` was sent (even when too long to keep).
    pub has_all: bool,
    pub modseq: Option<u64>,
    /// Other return data, by name (upper-cased).
    pub other: Vec<String>,
    /// Names given more than once.
    pub repeated: Vec<String>,
}

impl Esearch {
    /// How many messages ALL names.
    pub fn all_count(&self) -> Option<u64> {
        self.all
            .as_ref()
            .map(|r| r.iter().map(|&(a, b)| u64::from(b - a) + 1).sum())
    }

    pub fn all_contains(&self, n: u32) -> Option<bool> {
        self.all
            .as_ref()
            .map(|r| r.iter().any(|&(a, b)| a <= n && n <= b))
    }

    /// The numbers it names (MIN, MAX and the ends of each ALL range are
    /// enough for "the largest"), at most the largest.
    pub fn largest(&self) -> Option<u32> {
        let all_max = self.all.as_ref().and_then(|r| r.last().map(|&(_, b)| b));
        [self.min, self.max, all_max].into_iter().flatten().max()
    }

    /// Every number it names, for looking each up (bounded by `limit`).
    pub fn numbers(&self, limit: usize) -> Vec<u32> {
        let mut v: Vec<u32> = self.min.into_iter().chain(self.max).collect();
        if let Some(r) = &self.all {
            v.extend(r.iter().flat_map(|&(a, b)| a..=b).take(limit));
        }
        v
    }
}

/// Reads `* ESEARCH ...\r\n`; `None` when it is not one or does not parse
/// (then `response.syntax` judges it).
pub fn parse_response(bytes: &[u8]) -> Option<Esearch> {
    let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let head = body.get(..9)?;
    if !head.eq_ignore_ascii_case(b"* ESEARCH") || !matches!(body.get(9), None | Some(b' ')) {
        return None;
    }
    let mut e = Esearch::default();
    let mut r = body.get(10..).unwrap_or(b"");
    // search-correlator = SP "(" "TAG" SP tag-string ")"
    if r.first() == Some(&b'(') {
        let close = memchr::memchr(b')', r)?;
        let inner = &r[1..close];
        let (word, value) = split_sp(inner)?;
        if !word.eq_ignore_ascii_case(b"TAG") {
            return None;
        }
        let tag = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        e.tag = Some(String::from_utf8_lossy(tag).into_owned());
        r = r.get(close + 1..)?;
        r = r.strip_prefix(b" ").unwrap_or(r);
    }
    let mut words = r.split(|&c| c == b' ').filter(|w| !w.is_empty()).peekable();
    if words.peek().is_some_and(|w| w.eq_ignore_ascii_case(b"UID")) {
        e.uid = true;
        words.next();
    }
    let mut seen: Vec<String> = Vec::new();
    while let Some(name) = words.next() {
        let name = std::str::from_utf8(name).ok()?.to_ascii_uppercase();
        let value = std::str::from_utf8(words.next()?).ok()?;
        if seen.contains(&name) {
            if !e.repeated.contains(&name) {
                e.repeated.push(name.clone());
            }
        } else {
            seen.push(name.clone());
        }
        match name.as_str() {
            "MIN" => e.min = Some(nz(value)?),
            "MAX" => e.max = Some(nz(value)?),
            "COUNT" => e.count = Some(value.parse().ok()?),
            "MODSEQ" => e.modseq = Some(value.parse().ok()?),
            "ALL" => {
                e.has_all = true;
                e.all = sequence_set(value);
                e.all.as_ref()?;
            }
            _ => {
                // Another extension's data: a parenthesised value is skipped
                // whole (it has no nested parentheses in any registered
                // extension; a nested one does not parse here).
                if value.starts_with('(') && !value.ends_with(')') {
                    for w in words.by_ref() {
                        if w.ends_with(b")") {
                            break;
                        }
                    }
                }
                e.other.push(name);
            }
        }
    }
    Some(e)
}

fn split_sp(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr::memchr(b' ', b)?;
    Some((&b[..sp], &b[sp + 1..]))
}

fn nz(s: &str) -> Option<u32> {
    s.parse::<u32>().ok().filter(|&n| n > 0)
}

/// A sequence set of numbers (no `*`: ESEARCH data names messages found),
/// merged into ascending ranges. `None` when it does not parse; a set over
/// `MAX_ALL_RANGES` ranges parses but is not kept (`Some` of nothing is not
/// returned for it: the caller keeps `has_all`).
fn sequence_set(s: &str) -> Option<Vec<(u32, u32)>> {
    let mut v = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (nz(a)?, nz(b)?),
            None => {
                let n = nz(part)?;
                (n, n)
            }
        };
        if v.len() < MAX_ALL_RANGES {
            v.push((a.min(b), a.max(b)));
        } else {
            return None;
        }
    }
    v.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(line: &str) -> Option<Rewritten> {
        rewrite(line.as_bytes(), |m| match m {
            Marker::SequenceSet => Some("1:3".into()),
            Marker::SearchKey => Some("(UID 7)".into()),
        })
        .ok()
        .flatten()
    }

    fn text(r: &Rewritten) -> String {
        String::from_utf8_lossy(&r.bytes).into_owned()
    }

    #[test]
    fn return_options_are_taken_out() {
        let r = rw("a1 UID SEARCH RETURN (MIN COUNT) FLAGGED\r\n").unwrap();
        assert!(r.uid && r.name == "SEARCH");
        let ret = r.returns.clone().unwrap();
        assert!(ret.min && ret.count && !ret.all && !ret.max);
        assert_eq!(text(&r), "a1 UID SEARCH FLAGGED\r\n");
        // RFC 4731 3.1: an empty list means ALL.
        let r = rw("a2 SEARCH RETURN () ALL\r\n").unwrap();
        assert!(r.returns.as_ref().unwrap().all);
        assert_eq!(text(&r), "a2 SEARCH ALL\r\n");
        assert!(rw("a3 SEARCH FLAGGED\r\n").is_none());
        assert!(rewrite(b"a4 SEARCH RETURN MIN ALL\r\n", |_| None).is_err());
    }

    #[test]
    fn dollar_only_where_a_sequence_set_goes() {
        let r = rw("a FETCH $ (FLAGS)\r\n").unwrap();
        assert_eq!(text(&r), "a FETCH 1:3 (FLAGS)\r\n");
        let r = rw("a UID COPY $ \"$ box\"\r\n").unwrap();
        assert_eq!(text(&r), "a UID COPY 1:3 \"$ box\"\r\n");
        let r = rw("a SEARCH RETURN (SAVE) $ SMALLER 4096\r\n").unwrap();
        assert_eq!(text(&r), "a SEARCH (UID 7) SMALLER 4096\r\n");
        let r = rw("a UID SEARCH OR UID $ SUBJECT $\r\n").unwrap();
        assert_eq!(text(&r), "a UID SEARCH OR (UID 7) SUBJECT $\r\n");
        // Inside a literal or a quoted string, and as an argument, `$` stays.
        assert!(rw("a SEARCH SUBJECT {1}\r\n$\r\n").is_none());
        assert!(rw("a SEARCH HEADER $ $\r\n").is_none());
        assert!(rw("a SEARCH SUBJECT \"$\"\r\n").is_none());
        let r = rewrite(b"a STORE $ +FLAGS (\\Seen)\r\n", |_| None)
            .unwrap()
            .unwrap();
        assert!(r.empty_set);
        let r = rw("a UID MOVE $ Trash\r\n").unwrap();
        assert_eq!(text(&r), "a UID MOVE 1:3 Trash\r\n");
        let r = rw("a UID EXPUNGE $\r\n").unwrap();
        assert_eq!(text(&r), "a UID EXPUNGE 1:3\r\n");
        // A keyword with `$` is not the marker; a huge SEARCH is refused,
        // a huge STORE is not read past its first argument.
        assert!(rw("a STORE 1 +FLAGS ($Junk)\r\n").is_none());
        let huge = format!("a SEARCH $ {}\r\n", "SEEN ".repeat(MAX_TOKENS));
        assert!(rewrite(huge.as_bytes(), |_| None).is_err());
        let flags = format!("a STORE $ +FLAGS ({})\r\n", "$k ".repeat(MAX_TOKENS));
        assert!(rw(&flags).is_some());
    }

    #[test]
    fn esearch_responses() {
        let e = parse_response(b"* ESEARCH (TAG \"a1\") UID MIN 2 COUNT 3 ALL 4:5,2\r\n").unwrap();
        assert_eq!(e.tag.as_deref(), Some("a1"));
        assert!(e.uid);
        assert_eq!((e.min, e.count), (Some(2), Some(3)));
        assert_eq!(e.all, Some(vec![(2, 2), (4, 5)]));
        assert_eq!(e.all_count(), Some(3));
        let e = parse_response(b"* ESEARCH (TAG \"x\")\r\n").unwrap();
        assert!(e.min.is_none() && !e.uid);
        let e = parse_response(b"* ESEARCH (TAG \"x\") ALL 1 MODSEQ 917162500\r\n").unwrap();
        assert_eq!(e.modseq, Some(917162500));
        assert!(parse_response(b"* SEARCH 1 2\r\n").is_none());
        assert!(parse_response(b"* ESEARCH (TAG \"x\") MIN 0\r\n").is_none());
        let e = parse_response(b"* ESEARCH COUNT 1 COUNT 2\r\n").unwrap();
        assert_eq!(e.repeated, vec!["COUNT"]);
    }
}
