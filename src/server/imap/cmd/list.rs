//! LIST and LSUB, and the mailbox-name wildcard matcher.
//!
//! The matcher is iterative and linear in the name: the pattern is compiled
//! once per command into bit masks over its positions, and a name is run
//! through that automaton byte by byte (an NFA simulation, at most
//! `MAX_PATTERN` positions, so each byte costs a few word operations). No
//! pattern can make it recurse or backtrack: the `%%%…` and `*a*a*a*a*b`
//! patterns that once overflowed the stack or froze the server cost the same
//! as any other.

use std::collections::BTreeMap;

use imap_codec::imap_types::mailbox::ListMailbox;

use crate::wire::extended::ListCommand;

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

/// Longest reference plus pattern a LIST or LSUB may carry. Mailbox names
/// are at most 1,000 bytes (CREATE), so a longer pattern has no use; past
/// this the command gets `NO [LIMIT]` (RFC 5530: "an implementation limit").
pub const MAX_PATTERN: usize = 1024;

impl Session {
    /// LIST and LSUB in RFC 3501's form, and LIST in RFC 5258's extended
    /// form: selection options (SUBSCRIBED, REMOTE, RECURSIVEMATCH,
    /// SPECIAL-USE of RFC 6154), several patterns, and RETURN options
    /// (SUBSCRIBED, CHILDREN, SPECIAL-USE, and STATUS of RFC 5819).
    pub(in crate::server::imap) fn cmd_list(
        &mut self,
        tag: &str,
        cmd: &ListCommand,
        lsub: bool,
        io: &mut Io,
    ) {
        let what = if lsub { "LSUB" } else { "LIST" };
        for option in &cmd.selection {
            if !matches!(
                option.as_str(),
                "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE"
            ) {
                // An option this server does not implement has no meaning
                // it could honour; answered BAD, as Dovecot does.
                io.write(&format!(
                    "{tag} BAD Unknown LIST selection option {option}\r\n"
                ));
                return;
            }
        }
        // RFC 5258 3.1: "Note that the RECURSIVEMATCH option MUST NOT occur as
        // the only selection option (or only with REMOTE), as it only makes
        // sense when other selection options are also used. The server MUST
        // return BAD tagged response in such case."
        if cmd.selects("RECURSIVEMATCH")
            && !cmd
                .selection
                .iter()
                .any(|o| o != "RECURSIVEMATCH" && o != "REMOTE")
        {
            io.write(&format!(
                "{tag} BAD RECURSIVEMATCH needs another selection option\r\n"
            ));
            return;
        }
        if cmd.patterns.len() == 1 && cmd.patterns[0].is_empty() && !lsub {
            io.write(&format!(
                "* LIST (\\Noselect) \"{}\" \"\"\r\n{tag} OK LIST completed\r\n",
                self.ctx.delimiter()
            ));
            return;
        }
        let pattern_bytes: usize = cmd.patterns.iter().map(|p| p.len()).sum();
        if cmd.reference.len() * cmd.patterns.len() + pattern_bytes > MAX_PATTERN {
            io.write(&format!(
                "{tag} NO [LIMIT] Reference and patterns together may be at most {MAX_PATTERN} bytes\r\n"
            ));
            return;
        }
        let matchers: Vec<Matcher> = cmd
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| Matcher::new(&format!("{}{p}", cmd.reference)))
            .collect();
        let matches = |name: &str| matchers.iter().any(|m| m.matches(name));
        let user = self.user_str().to_string();
        // Sorted, so the children of a name are found by binary search.
        let all = self.ctx.store.mailbox_names(&user);
        let subs = self.ctx.store.subscriptions(&user);
        let by_subscription = lsub || cmd.selects("SUBSCRIBED");
        let only_special = cmd.selects("SPECIAL-USE");
        let mut out: BTreeMap<String, Listed> = BTreeMap::new();
        // LIST walks every mailbox, LSUB the subscriptions; a name the pattern
        // misses may still bring in an unlisted parent the pattern reaches:
        // - RFC 3501 6.3.9: with "foo/bar" subscribed but not "foo", "A "%"
        //   wildcard to LSUB must return foo, not foo/bar, in the LSUB
        //   response, and it MUST be flagged with the \Noselect attribute."
        // - RFC 3501 6.3.8: "If the "%" wildcard is the last character of a
        //   mailbox name argument, matching levels of hierarchy are also
        //   returned. If these levels of hierarchy are not also selectable
        //   mailboxes, they are returned with the \Noselect mailbox name
        //   attribute". CREATE of "a/b/c" makes no "a".
        let names = if by_subscription { &subs } else { &all };
        for name in names {
            let special = self.special_use_of(&user, name);
            if only_special && special.is_empty() {
                continue;
            }
            if matches(name) {
                out.insert(
                    name.clone(),
                    Listed::Mailbox {
                        exists: all.binary_search(name).is_ok(),
                        special,
                    },
                );
                continue;
            }
            if !cmd.selection.is_empty() {
                // With selection options only what they select is listed
                // (RFC 5258 3.1); parents come back through RECURSIVEMATCH.
                continue;
            }
            for (i, _) in name.match_indices('/') {
                let parent = &name[..i];
                if !parent.is_empty()
                    && !out.contains_key(parent)
                    && names.binary_search_by(|s| s.as_str().cmp(parent)).is_err()
                    && matches(parent)
                {
                    out.insert(parent.to_string(), Listed::Parent);
                }
            }
        }
        // RFC 5258 3.1 RECURSIVEMATCH with SUBSCRIBED: a mailbox that is not
        // subscribed but has a subscribed child is returned with
        // `("CHILDINFO" ("SUBSCRIBED"))`.
        let mut childinfo: BTreeMap<String, ()> = BTreeMap::new();
        if cmd.selects("RECURSIVEMATCH") && cmd.selects("SUBSCRIBED") && !lsub {
            for name in &subs {
                for (i, _) in name.match_indices('/') {
                    let parent = &name[..i];
                    if matches(parent) {
                        childinfo.insert(parent.to_string(), ());
                        out.entry(parent.to_string())
                            .or_insert(Listed::Unsubscribed {
                                exists: all.binary_search_by(|s| s.as_str().cmp(parent)).is_ok(),
                            });
                    }
                }
            }
        }
        let extended = !lsub;
        let status_items = cmd.returns.status.clone().filter(|_| extended);
        for (name, listed) in out {
            let mut attrs: Vec<String> = Vec::new();
            let selectable = match &listed {
                Listed::Mailbox { exists: false, .. } | Listed::Unsubscribed { exists: false }
                    if extended =>
                {
                    // RFC 5258 3.4: \NonExistent implies \NoSelect.
                    attrs.push("\\NonExistent".into());
                    false
                }
                Listed::Parent if lsub => {
                    attrs.push("\\Noselect".into());
                    false
                }
                Listed::Parent => {
                    attrs.push("\\Noselect".into());
                    attrs.push("\\HasChildren".into());
                    false
                }
                _ => {
                    attrs.push(children_attr(&all, &name).into());
                    true
                }
            };
            if let Listed::Mailbox { special, .. } = &listed {
                // RFC 6154 2: "An IMAP server that supports this extension
                // MAY include any or all of the following attributes in
                // responses to the non-extended IMAP LIST command." This
                // server always does (as Dovecot and Cyrus do).
                attrs.extend(special.iter().cloned());
            }
            // RFC 5258 3.1: the SUBSCRIBED selection option implies the
            // SUBSCRIBED return option, the \Subscribed attribute.
            if extended
                && (cmd.returns.subscribed || cmd.selects("SUBSCRIBED"))
                && subs.binary_search(&name).is_ok()
            {
                attrs.push("\\Subscribed".into());
            }
            let info = if childinfo.contains_key(&name) {
                " (\"CHILDINFO\" (\"SUBSCRIBED\"))"
            } else {
                ""
            };
            io.write(&format!(
                "* {what} ({}) \"{}\" {}{info}\r\n",
                attrs.join(" "),
                self.ctx.delimiter(),
                self.shown_name(&name)
            ));
            // RFC 5819 2: for each listed mailbox that can be selected, the
            // LIST response is followed by the STATUS response the STATUS
            // return option asks for; a \NoSelect or \NonExistent one gets
            // none ("the STATUS response MUST NOT be returned").
            if let (Some(items), true) = (&status_items, selectable) {
                if let Some(line) = self.status_response(&name, items) {
                    io.write(&line);
                }
            }
        }
        io.write(&format!("{tag} OK {what} completed\r\n"));
    }

    /// The LIST response an IMAP4rev2 SELECT of `name` carries (RFC 9051
    /// 6.3.2: "The list of mailbox attributes MUST be accurate"): the same
    /// children and special-use attributes a LIST of it would show.
    pub(in crate::server::imap) fn list_line(&self, name: &str) -> String {
        let user = self.user_str();
        let all = self.ctx.store.mailbox_names(user);
        let stored = crate::server::store::normalize(name);
        let mut attrs = vec![children_attr(&all, &stored).to_string()];
        attrs.extend(self.special_use_of(user, &stored));
        format!(
            "* LIST ({}) \"{}\" {}\r\n",
            attrs.join(" "),
            self.ctx.delimiter(),
            self.shown_name(&stored)
        )
    }

    fn special_use_of(&self, user: &str, name: &str) -> Vec<String> {
        self.ctx
            .store
            .mailbox(user, name)
            .map(|mb| mb.lock().special_use.clone())
            .unwrap_or_default()
    }
}

/// What one LIST line stands for.
enum Listed {
    /// A name the patterns matched (from LIST: a mailbox; from a subscription:
    /// perhaps one that no longer exists).
    Mailbox { exists: bool, special: Vec<String> },
    /// An unlisted level of hierarchy above a match.
    Parent,
    /// A mailbox brought in by RECURSIVEMATCH for its subscribed children.
    Unsubscribed { exists: bool },
}

/// A plain LIST or LSUB as the extended form's reader sees it.
pub fn plain_list(reference: String, pattern: String) -> ListCommand {
    ListCommand {
        reference,
        patterns: vec![pattern],
        ..ListCommand::default()
    }
}

/// `\HasChildren` or `\HasNoChildren` (RFC 3348), `sorted` being every
/// mailbox name in byte order.
fn children_attr(sorted: &[String], name: &str) -> &'static str {
    let prefix = format!("{name}/");
    let i = sorted.partition_point(|n| n.as_str() < prefix.as_str());
    if sorted.get(i).is_some_and(|n| n.starts_with(&prefix)) {
        "\\HasChildren"
    } else {
        "\\HasNoChildren"
    }
}

pub fn list_pattern(p: &ListMailbox<'_>) -> String {
    match p {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    }
}

/// A LIST pattern for every name of one command: INBOX matches whatever the
/// case of the pattern's letters (RFC 3501 5.1: "INBOX" is case-insensitive),
/// other names byte for byte.
pub struct Matcher {
    exact: Pattern,
    inbox: Pattern,
}

impl Matcher {
    pub fn new(pattern: &str) -> Matcher {
        Matcher {
            exact: Pattern::compile(pattern.as_bytes(), false),
            inbox: Pattern::compile(pattern.as_bytes(), true),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        if name == "INBOX" {
            self.inbox.matches(name.as_bytes())
        } else {
            self.exact.matches(name.as_bytes())
        }
    }
}

const DELIMITER: u8 = b'/';

/// A compiled pattern: for each position (after runs of wildcards are
/// collapsed, so no two wildcards are adjacent) which byte it wants or which
/// wildcard it is, as bit masks over positions. Position `len` accepts.
struct Pattern {
    words: usize,
    len: usize,
    /// `literal[b * words + w]`: positions wanting byte `b`.
    literal: Vec<u64>,
    star: Vec<u64>,
    percent: Vec<u64>,
    wild: Vec<u64>,
    fold: bool,
}

impl Pattern {
    fn compile(pattern: &[u8], fold: bool) -> Pattern {
        #[derive(Clone, Copy, PartialEq)]
        enum Tok {
            Byte(u8),
            Star,
            Percent,
        }
        let mut toks: Vec<Tok> = Vec::with_capacity(pattern.len());
        for &b in pattern {
            let t = match b {
                b'*' => Tok::Star,
                b'%' => Tok::Percent,
                b if fold => Tok::Byte(b.to_ascii_lowercase()),
                b => Tok::Byte(b),
            };
            match (toks.last_mut(), t) {
                // `**`, `*%`, `%*` are `*`; `%%` is `%`: every wildcard can
                // match nothing, so a run matches what its widest member does.
                (Some(last @ (Tok::Star | Tok::Percent)), Tok::Star) => *last = Tok::Star,
                (Some(Tok::Star | Tok::Percent), Tok::Percent) => {}
                _ => toks.push(t),
            }
        }
        let len = toks.len();
        let words = (len + 1).div_ceil(64);
        let mut p = Pattern {
            words,
            len,
            literal: vec![0; 256 * words],
            star: vec![0; words],
            percent: vec![0; words],
            wild: vec![0; words],
            fold,
        };
        for (i, t) in toks.iter().enumerate() {
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            match *t {
                Tok::Byte(b) => p.literal[usize::from(b) * words + w] |= bit,
                Tok::Star => {
                    p.star[w] |= bit;
                    p.wild[w] |= bit;
                }
                Tok::Percent => {
                    p.percent[w] |= bit;
                    p.wild[w] |= bit;
                }
            }
        }
        p
    }

    /// Adds the position after each wildcard in `set` (a wildcard may match
    /// nothing). One pass is enough: no two wildcards are adjacent.
    fn close(&self, set: &mut [u64]) {
        let mut carry = 0;
        for (word, wild) in set.iter_mut().zip(&self.wild) {
            let from_wild = *word & wild;
            *word |= (from_wild << 1) | carry;
            carry = from_wild >> 63;
        }
    }

    fn matches(&self, name: &[u8]) -> bool {
        let words = self.words;
        let mut cur = vec![0u64; words];
        let mut next = vec![0u64; words];
        cur[0] = 1;
        self.close(&mut cur);
        for &b in name {
            let b = if self.fold { b.to_ascii_lowercase() } else { b };
            let lit = &self.literal[usize::from(b) * words..(usize::from(b) + 1) * words];
            let mut carry = 0;
            let mut any = 0;
            for w in 0..words {
                let mut stay = self.star[w];
                if b != DELIMITER {
                    stay |= self.percent[w];
                }
                let step = cur[w] & lit[w];
                next[w] = (cur[w] & stay) | (step << 1) | carry;
                carry = step >> 63;
                any |= next[w];
            }
            if any == 0 {
                return false;
            }
            self.close(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        cur[self.len / 64] & (1 << (self.len % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LIST wildcards: `*` matches anything, `%` anything but the delimiter `/`.
    fn wildcard_match(pattern: &str, name: &str) -> bool {
        Matcher::new(pattern).matches(name)
    }

    /// The plain recursive definition, memoised: the reference the
    /// automaton must agree with on small cases.
    fn reference(p: &[u8], n: &[u8]) -> bool {
        let mut memo = vec![vec![None; n.len() + 1]; p.len() + 1];
        fn go(p: &[u8], n: &[u8], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
            if let Some(v) = memo[i][j] {
                return v;
            }
            let v = match p.get(i) {
                None => j == n.len(),
                Some(b'*') => (j..=n.len()).any(|k| go(p, n, i + 1, k, memo)),
                Some(b'%') => (j..=n.len())
                    .take_while(|&k| k == j || n[k - 1] != b'/')
                    .any(|k| go(p, n, i + 1, k, memo)),
                Some(c) => n.get(j) == Some(c) && go(p, n, i + 1, j + 1, memo),
            };
            memo[i][j] = Some(v);
            v
        }
        go(p, n, 0, 0, &mut memo)
    }

    #[test]
    fn agrees_with_the_recursive_definition() {
        // A small deterministic generator: every pattern and name over an
        // alphabet with both wildcards and the delimiter.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let pat_alpha = b"ab/*%";
        let name_alpha = b"ab/";
        for _ in 0..20_000 {
            let pl = next(9) as usize;
            let nl = next(9) as usize;
            let p: Vec<u8> = (0..pl).map(|_| pat_alpha[next(5) as usize]).collect();
            let n: Vec<u8> = (0..nl).map(|_| name_alpha[next(3) as usize]).collect();
            let got = Pattern::compile(&p, false).matches(&n);
            assert_eq!(
                got,
                reference(&p, &n),
                "{:?} against {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&n)
            );
        }
    }

    #[test]
    fn rfc_examples_and_inbox() {
        assert!(wildcard_match("*", "foo/bar"));
        assert!(wildcard_match("%", "foo"));
        assert!(!wildcard_match("%", "foo/bar"));
        assert!(wildcard_match("foo/%", "foo/bar"));
        assert!(!wildcard_match("foo/%", "foo/bar/baz"));
        assert!(wildcard_match("foo/*", "foo/bar/baz"));
        assert!(wildcard_match("f%o", "foo"));
        assert!(!wildcard_match("", "foo"));
        assert!(wildcard_match("inbox", "INBOX"));
        assert!(wildcard_match("InB*", "INBOX"));
        assert!(!wildcard_match("inbox", "Inbox2"));
        assert!(!wildcard_match("work", "Work"));
    }

    #[test]
    fn long_patterns_span_words() {
        let name = "a".repeat(300);
        assert!(wildcard_match(&"a".repeat(300), &name));
        assert!(!wildcard_match(&"a".repeat(299), &name));
        assert!(wildcard_match(&format!("{}*", "a".repeat(150)), &name));
        assert!(wildcard_match(&"%a".repeat(200), &name));
        assert!(!wildcard_match(&"%a".repeat(301), &name));
        // The patterns from issue 8, answered at once.
        let long = "a".repeat(999);
        assert!(!wildcard_match("*a*a*a*a*b", &long));
        assert!(wildcard_match("*a*a*a*a*a", &long));
        assert!(wildcard_match(&"%".repeat(33_000), &long));
    }
}
