//! Whether a server reply matches an imaptest script's pattern.
//!
//! Both are read as IMAP structure ([`structure`]). Items compare
//! case-insensitively (`${case:X}` compares exactly); `$` matches any one item,
//! a list included; `$name` compares with its value, or, unbound, takes the
//! reply's item as its value; `$N` (digits) is the message that was number N
//! when the command began (EXPUNGEs renumber, so the caller says which message
//! a reply's number stands for); `$$` is a literal `$`.
//!
//! Lists match in order, item for item, unless directives at their start say
//! otherwise (`$!unordered[=n]`, `$!noextra`, `$!extra`, `$!ignore=e`,
//! `$!ban=e`, `$!ordered`). A list without directives takes imaptest's defaults:
//! the list after `n FETCH` is `$!unordered=2` (name/value pairs, any order,
//! more allowed), a FLAGS list inside it `$!unordered $!noextra
//! $!ignore=\recent`, the flags of `LIST`/`LSUB` `$!unordered`, and the list
//! after `STATUS mailbox` `$!unordered=2`.
//!
//! At the top level a status reply (`OK`, `NO`, `BAD`, `BYE`, `PREAUTH`) may go
//! on past the pattern (its human-readable text); any other reply must match
//! item for item.

use std::collections::HashMap;

pub use crate::scenario::pattern::structure;
use crate::scenario::pattern::Node;

pub type Vars = HashMap<String, String>;

/// How one list matches.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// `Some(n)`: chains of n items in any order.
    unordered: Option<usize>,
    /// Items the pattern does not name are allowed.
    extra: bool,
    ignore: Vec<Vec<u8>>,
    ban: Vec<Vec<u8>>,
}

impl Rule {
    fn ordered() -> Self {
        Rule {
            unordered: None,
            extra: false,
            ignore: Vec::new(),
            ban: Vec::new(),
        }
    }

    fn unordered(n: usize) -> Self {
        Rule {
            unordered: Some(n),
            extra: true,
            ..Rule::ordered()
        }
    }
}

/// Where a list stands, for its default rule.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Fetch,
    FetchFlags,
    ListFlags,
    Status,
    Other,
}

/// A list's directives, taken off its front; `None` when it has none.
fn directives(items: &[Node]) -> (Option<Rule>, &[Node]) {
    let mut rule: Option<Rule> = None;
    let mut rest = items;
    while let Some((Node::Atom(a), more)) = rest.split_first() {
        let Some(d) = a.strip_prefix(b"$!") else {
            break;
        };
        let r = rule.get_or_insert_with(Rule::ordered);
        let d = String::from_utf8_lossy(d).to_ascii_lowercase();
        match d.split_once('=') {
            None if d == "ordered" => r.unordered = None,
            None if d == "unordered" => {
                r.unordered = Some(1);
                r.extra = true;
            }
            None if d == "noextra" => r.extra = false,
            None if d == "extra" => r.extra = true,
            Some(("unordered", n)) => {
                r.unordered = Some(n.parse().unwrap_or(1).max(1));
                r.extra = true;
            }
            Some(("ignore", e)) => r.ignore.push(e.as_bytes().to_vec()),
            Some(("ban", e)) => r.ban.push(e.as_bytes().to_vec()),
            // An unknown directive is taken as a word to match, so a typo
            // fails visibly rather than silently loosening the match.
            _ => break,
        }
        rest = more;
    }
    (rule, rest)
}

fn default_rule(place: Place) -> Rule {
    match place {
        Place::Fetch | Place::Status => Rule::unordered(2),
        Place::FetchFlags => Rule {
            unordered: Some(1),
            extra: false,
            ignore: vec![b"\\recent".to_vec()],
            ban: Vec::new(),
        },
        Place::ListFlags => Rule::unordered(1),
        Place::Other => Rule::ordered(),
    }
}

fn is_word(n: Option<&Node>, w: &[u8]) -> bool {
    matches!(n, Some(Node::Atom(a)) if a.eq_ignore_ascii_case(w))
}

/// The place of a list, from the pattern items before it in its sequence.
fn place_of(before: &[Node], parent: Place, top: bool) -> Place {
    let n = before.len();
    if parent == Place::Fetch && is_word(before.last(), b"flags") {
        return Place::FetchFlags;
    }
    if top && n >= 2 && is_word(before.last(), b"fetch") {
        return Place::Fetch;
    }
    if top && n >= 1 && (is_word(before.last(), b"list") || is_word(before.last(), b"lsub")) {
        return Place::ListFlags;
    }
    if top && n >= 2 && is_word(before.get(n - 2), b"status") {
        return Place::Status;
    }
    Place::Other
}

/// What a reply's item says, as text (a string unquoted).
fn value(n: &Node) -> Option<&[u8]> {
    match n {
        Node::Atom(a) | Node::Str(a) => Some(a),
        _ => None,
    }
}

/// A value as a command will carry it: a string keeps its quotes.
fn bound_text(n: &Node) -> Option<String> {
    match n {
        Node::Atom(a) => Some(String::from_utf8_lossy(a).into_owned()),
        Node::Str(s) => Some(crate::scenario::pattern::quoted(&String::from_utf8_lossy(
            s,
        ))),
        _ => None,
    }
}

fn unquoted(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

/// A pattern word with its bound variables replaced (`$$` → `$`); `None`
/// when it names a variable that has no value yet.
pub fn expand(word: &str, vars: &Vars) -> Option<String> {
    expand_with(word, vars, false)
}

/// As [`expand`]; `as_sent` keeps a string value's quotes (for a command).
pub fn expand_with(word: &str, vars: &Vars, as_sent: bool) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push('$');
            rest = more;
            continue;
        }
        let (name, more) = if let Some(b) = after.strip_prefix('{') {
            let end = b.find('}')?;
            (&b[..end], &b[end + 1..])
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
            continue;
        }
        if let Some(text) = name.strip_prefix("case:") {
            out.push_str(text);
        } else {
            let v = vars.get(name)?;
            if as_sent {
                out.push_str(v);
            } else {
                out.push_str(&unquoted(v));
            }
        }
        rest = more;
    }
    out.push_str(rest);
    Some(out)
}

/// The name of a whole-word variable: `$uid`, `${uid}`.
fn variable(word: &str) -> Option<&str> {
    let w = word.strip_prefix('$')?;
    let name = match w.strip_prefix('{') {
        Some(b) => b.strip_suffix('}')?,
        None => w,
    };
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with('$');
    plain.then_some(name)
}

/// Matching one reply: the reply's message numbers mean `origin` (what `$N`
/// compares with), when the caller knows it.
pub struct Matcher {
    pub origin: Option<u32>,
}

impl Matcher {
    pub fn new(origin: Option<u32>) -> Self {
        Matcher { origin }
    }

    /// The top level: `pattern` against `reply` (both without the `*` or tag).
    /// Binds new variables into `vars` only when the whole reply matches.
    pub fn top(&self, pattern: &[Node], reply: &[Node], vars: &mut Vars) -> bool {
        let status = matches!(reply.first(), Some(Node::Atom(a))
            if [&b"ok"[..], b"no", b"bad", b"bye", b"preauth"].iter().any(|w| a.eq_ignore_ascii_case(w)));
        let mut copy = vars.clone();
        let ok = self.ordered(pattern, reply, status, Place::Other, true, &[], &mut copy);
        if ok {
            *vars = copy;
        }
        ok
    }

    /// A completion's text begins with `prefix` (`ok [read-write]`).
    pub fn prefix(&self, prefix: &[Node], text: &[Node], vars: &mut Vars) -> bool {
        let mut copy = vars.clone();
        let ok = self.ordered(prefix, text, true, Place::Other, false, &[], &mut copy);
        if ok {
            *vars = copy;
        }
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn ordered(
        &self,
        pat: &[Node],
        got: &[Node],
        extra: bool,
        parent: Place,
        top: bool,
        ban: &[Vec<u8>],
        vars: &mut Vars,
    ) -> bool {
        if pat.len() > got.len() || (!extra && pat.len() < got.len()) {
            return false;
        }
        for (i, (p, g)) in pat.iter().zip(got).enumerate() {
            if !self.one(p, g, &pat[..i], parent, top, vars) {
                return false;
            }
        }
        !got[pat.len()..].iter().any(|g| banned(g, ban))
    }

    fn one(
        &self,
        p: &Node,
        g: &Node,
        before: &[Node],
        parent: Place,
        top: bool,
        vars: &mut Vars,
    ) -> bool {
        match p {
            Node::List(items) => {
                let Node::List(got) = g else { return false };
                let place = place_of(before, parent, top);
                let (rule, items) = match directives(items) {
                    (Some(r), rest) => (r, rest),
                    (None, rest) => (default_rule(place), rest),
                };
                self.list(items, got, &rule, place, vars)
            }
            Node::Bracket(items) => {
                let Node::Bracket(got) = g else { return false };
                self.ordered(items, got, false, Place::Other, false, &[], vars)
            }
            Node::Atom(a) | Node::Str(a) => {
                let word = String::from_utf8_lossy(a);
                if matches!(p, Node::Atom(_)) {
                    if word == "$" {
                        return true;
                    }
                    if let Some(n) = word.strip_prefix('$').and_then(|d| d.parse::<u32>().ok()) {
                        return top && value(g).is_some() && self.origin == Some(n);
                    }
                    if let Some(name) = variable(&word) {
                        return match vars.get(name) {
                            Some(v) => value(g)
                                .is_some_and(|x| x.eq_ignore_ascii_case(unquoted(v).as_bytes())),
                            None => match bound_text(g) {
                                Some(t) => {
                                    vars.insert(name.to_string(), t);
                                    true
                                }
                                None => false,
                            },
                        };
                    }
                }
                let exact = word.contains("${case:");
                let Some(want) = expand(&word, vars) else {
                    return false;
                };
                value(g).is_some_and(|x| {
                    if exact {
                        x == want.as_bytes()
                    } else {
                        section_form(x).eq_ignore_ascii_case(&section_form(want.as_bytes()))
                    }
                })
            }
        }
    }

    fn list(&self, pat: &[Node], got: &[Node], rule: &Rule, place: Place, vars: &mut Vars) -> bool {
        let Some(n) = rule.unordered else {
            return self.ordered(pat, got, rule.extra, place, false, &rule.ban, vars);
        };
        if got.len() % n != 0 || pat.len() % n != 0 {
            return false;
        }
        let mut used = vec![false; got.len() / n];
        for chain in pat.chunks(n) {
            let mut hit = false;
            for (k, g) in got.chunks(n).enumerate() {
                if used[k] {
                    continue;
                }
                let mut copy = vars.clone();
                let all = chain
                    .iter()
                    .zip(g)
                    .enumerate()
                    .all(|(i, (p, x))| self.one(p, x, &chain[..i], place, false, &mut copy));
                if all {
                    *vars = copy;
                    used[k] = true;
                    hit = true;
                    break;
                }
            }
            if !hit {
                return false;
            }
        }
        got.chunks(n)
            .zip(&used)
            .filter(|(_, u)| !**u)
            .all(|(g, _)| {
                let first = &g[0];
                if rule.extra {
                    !banned(first, &rule.ban)
                } else {
                    banned(first, &rule.ignore)
                }
            })
    }
}

/// A `BODY[...]` item with its header-field names unquoted: RFC 3501 9
/// (`header-fld-name = astring`) lets a server echo `HEADER.FIELDS (subject)`
/// as `HEADER.FIELDS ("subject")` (Courier does), and both are the same item.
fn section_form(x: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match x.iter().position(|&b| b == b'[') {
        Some(i) if x[i..].contains(&b'"') => {
            let mut out = x[..i].to_vec();
            out.extend(x[i..].iter().filter(|&&b| b != b'"'));
            std::borrow::Cow::Owned(out)
        }
        _ => std::borrow::Cow::Borrowed(x),
    }
}

/// `n` is one of `words`.
fn banned(n: &Node, words: &[Vec<u8>]) -> bool {
    value(n).is_some_and(|v| words.iter().any(|w| w.eq_ignore_ascii_case(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, reply: &str, vars: &mut Vars) -> bool {
        Matcher::new(None).top(
            &structure(pattern.as_bytes()),
            &structure(reply.as_bytes()),
            vars,
        )
    }

    #[test]
    fn fetch_pairs_any_order_and_flags_exact_but_recent() {
        let mut v = Vars::new();
        assert!(m(
            "1 fetch (uid $uid flags (\\seen))",
            "1 FETCH (FLAGS (\\Recent \\Seen) UID 7 RFC822.SIZE 5)",
            &mut v
        ));
        assert_eq!(v.get("uid").map(String::as_str), Some("7"));
        // FLAGS is $!noextra: an unnamed flag fails, \Recent aside.
        assert!(!m(
            "1 fetch (flags (\\seen))",
            "1 FETCH (FLAGS (\\Seen \\Flagged))",
            &mut Vars::new()
        ));
        // A bound variable compares.
        assert!(!m("1 fetch (uid $uid)", "1 FETCH (UID 8)", &mut v));
        assert!(m("$ fetch (uid $uid)", "3 FETCH (UID 7)", &mut v));
    }

    #[test]
    fn directives_replace_the_defaults() {
        assert!(m(
            "1 fetch (flags ($!extra \\seen))",
            "1 FETCH (FLAGS (\\Seen \\Flagged))",
            &mut Vars::new()
        ));
        // $!extra on an ordered list: in order, more allowed.
        assert!(!m(
            "1 fetch (flags ($!extra \\flagged \\seen))",
            "1 FETCH (FLAGS (\\Seen \\Flagged))",
            &mut Vars::new()
        ));
        assert!(m(
            "1 fetch (flags ($!unordered \\flagged \\seen))",
            "1 FETCH (FLAGS (\\Seen \\Flagged))",
            &mut Vars::new()
        ));
        assert!(!m(
            "1 fetch (flags ($!unordered $!ban=\\deleted \\seen))",
            "1 FETCH (FLAGS (\\Seen \\Deleted))",
            &mut Vars::new()
        ));
        assert!(m(
            "1 fetch (flags ($!unordered $!noextra $!ignore=\\draft \\seen))",
            "1 FETCH (FLAGS (\\Draft \\Seen))",
            &mut Vars::new()
        ));
    }

    #[test]
    fn status_list_and_status_replies() {
        let mut v = Vars::new();
        v.insert("mailbox".into(), "imaptest".into());
        assert!(m(
            "status $mailbox (messages 1 unseen 0)",
            "STATUS imaptest (UNSEEN 0 MESSAGES 1)",
            &mut v
        ));
        assert!(m(
            "ok [uidvalidity $uidv]",
            "OK [UIDVALIDITY 1234] UIDs valid",
            &mut v
        ));
        assert_eq!(v.get("uidv").map(String::as_str), Some("1234"));
        // Not a status reply: no trailing items.
        assert!(!m("search 1", "SEARCH 1 2", &mut v));
        assert!(m("search 1 2", "SEARCH 1 2", &mut v));
        // LIST flags in any order; the name as a string or an atom.
        assert!(m(
            "list (\\noselect) \"/\" ${case:a/b}",
            "LIST (\\HasChildren \\Noselect) \"/\" \"a/b\"",
            &mut v
        ));
        assert!(!m("list () \"/\" ${case:a/b}", "LIST () \"/\" A/B", &mut v));
    }

    #[test]
    fn sequence_numbers_and_literals() {
        let mut v = Vars::new();
        let p = structure(b"$2 expunge");
        assert!(Matcher::new(Some(2)).top(&p, &structure(b"1 EXPUNGE"), &mut v));
        assert!(!Matcher::new(Some(3)).top(&p, &structure(b"1 EXPUNGE"), &mut v));
        assert!(m(
            "1 fetch (body[] {5}\r\nhello)",
            "1 FETCH (BODY[] \"hello\")",
            &mut v
        ));
        assert!(m("1 fetch (flags ($$kw))", "1 FETCH (FLAGS ($kw))", &mut v));
        // Header-field names quoted or not (Courier quotes them).
        assert!(m(
            "1 fetch (body[header.fields (subject)] $)",
            "1 FETCH (BODY[HEADER.FIELDS (\"subject\")] {3}\r\nx\r\n)",
            &mut v
        ));
    }

    #[test]
    fn expand_words() {
        let mut v = Vars::new();
        v.insert("mailbox".into(), "\"my box\"".into());
        assert_eq!(expand("${mailbox}2", &v).as_deref(), Some("my box2"));
        assert_eq!(expand("$$x", &v).as_deref(), Some("$x"));
        assert_eq!(expand("$nope", &v), None);
    }
}
