//! SORT and THREAD (RFC 5256) over the messages a search found: the sort
//! keys of a message, base-subject extraction (RFC 5256 2.1), the
//! ORDEREDSUBJECT and REFERENCES threading algorithms, and the THREAD
//! response's parenthesised form.
//!
//! Everything here works on messages already read out of the store, so the
//! mailbox lock is not held while sorting. Stored messages are untrusted:
//! the thread tree is built and written without recursion (a hostile chain
//! of 100,000 replies is 100,000 levels deep), and the loop test that keeps
//! a References chain from linking a message under itself is bounded.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};

/// What sorting and threading read of one message.
#[derive(Debug, Clone, Default)]
pub struct SortItem {
    pub seq: u32,
    pub uid: u32,
    /// INTERNALDATE, seconds since the epoch (ARRIVAL).
    pub arrival: i64,
    /// RFC822.SIZE (SIZE).
    pub size: u32,
    /// The base subject (RFC 5256 2.1), upper-cased for comparison.
    pub base_subject: String,
    /// Whether extracting the base subject removed a reply or forward
    /// marker (`Re:`, `Fwd:`, `(fwd)`, `[fwd: ...]`): REFERENCES step 5 needs it.
    pub is_reply: bool,
    /// The sent date (the Date: field), or INTERNALDATE when it is missing or
    /// does not parse (RFC 5256 3, DATE), as seconds since the epoch, UTC.
    pub date: i64,
    /// The addr-mailbox of the first address of From, To and Cc, upper-cased.
    pub from: String,
    pub to: String,
    pub cc: String,
    /// Message-ID, References (or the first In-Reply-To id), without `<>`.
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

impl SortItem {
    /// The sent date as RFC 5256 3 defines it: the Date: header in UTC, or
    /// the internal date when there is none.
    pub fn sent_or_arrival(sent: Option<DateTime<FixedOffset>>, arrival: i64) -> i64 {
        sent.map(|d| d.timestamp()).unwrap_or(arrival)
    }
}

/// The order SORT returns the items in, as indices into `items`.
///
/// Each key compares with i;ascii-casemap (RFC 5256 3: the default
/// comparator); REVERSE reverses that key alone. Messages equal on every key
/// keep ascending sequence-number order, which is also where RFC 5256 3
/// puts them.
pub fn sort(items: &[SortItem], criteria: &[SortCriterion]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        for c in criteria {
            let o = compare(x, y, &c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        x.seq.cmp(&y.seq)
    });
    order
}

fn compare(x: &SortItem, y: &SortItem, key: &SortKey) -> Ordering {
    match key {
        SortKey::Arrival => x.arrival.cmp(&y.arrival),
        SortKey::Cc => x.cc.cmp(&y.cc),
        SortKey::Date => x.date.cmp(&y.date),
        SortKey::From | SortKey::DisplayFrom => x.from.cmp(&y.from),
        SortKey::Size => x.size.cmp(&y.size),
        SortKey::Subject => x.base_subject.cmp(&y.base_subject),
        SortKey::To | SortKey::DisplayTo => x.to.cmp(&y.to),
    }
}

/// A thread tree: `roots` in output order, each node an item or a dummy
/// (a message referred to but not among the results).
#[derive(Debug, Default)]
pub struct Forest {
    nodes: Vec<Node>,
    roots: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
struct Node {
    item: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

impl Forest {
    fn add(&mut self, item: Option<usize>) -> usize {
        self.nodes.push(Node {
            item,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    fn link(&mut self, parent: usize, child: usize) {
        if let Some(old) = self.nodes[child].parent.take() {
            self.nodes[old].children.retain(|&c| c != child);
        }
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The THREAD response's data after `* THREAD`: one parenthesised list
    /// per thread (RFC 5256 4, thread-list), each message written by `number`
    /// (its sequence number or UID).
    pub fn render(&self, number: impl Fn(usize) -> u32) -> String {
        enum Tok {
            Open,
            Close,
            Node(usize),
        }
        // thread-data = "THREAD" [SP 1*thread-list]: one space, then the
        // lists back to back.
        let mut out = String::new();
        for &root in &self.roots {
            if self.is_empty(root) {
                continue;
            }
            out.push_str(if out.is_empty() { " (" } else { "(" });
            let mut stack = vec![Tok::Node(root)];
            while let Some(tok) = stack.pop() {
                match tok {
                    Tok::Open => out.push('('),
                    Tok::Close => out.push(')'),
                    Tok::Node(i) => {
                        let node = &self.nodes[i];
                        let kids: Vec<usize> = node
                            .children
                            .iter()
                            .copied()
                            .filter(|&c| !self.is_empty(c))
                            .collect();
                        if let Some(item) = node.item {
                            out.push_str(&number(item).to_string());
                            if !kids.is_empty() {
                                out.push(' ');
                            }
                        }
                        // thread-members = nz-number *(SP nz-number) [SP
                        // thread-nested]; thread-nested = 2*thread-list: one
                        // child continues the chain, several are each a list.
                        match kids.as_slice() {
                            [] => {}
                            [only] => stack.push(Tok::Node(*only)),
                            many => {
                                for &k in many.iter().rev() {
                                    stack.push(Tok::Close);
                                    stack.push(Tok::Node(k));
                                    stack.push(Tok::Open);
                                }
                            }
                        }
                    }
                }
            }
            out.push(')');
        }
        out
    }

    /// A dummy with no message anywhere below it (only made by a bug
    /// elsewhere; pruning removes them, but rendering must not write `()`).
    fn is_empty(&self, i: usize) -> bool {
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            if self.nodes[n].item.is_some() {
                return false;
            }
            stack.extend(self.nodes[n].children.iter().copied());
        }
        true
    }

    /// The sort date of a node: its message's, or for a dummy its first
    /// child's (RFC 5256 REFERENCES step 6; children are sorted first).
    fn date_of(&self, items: &[SortItem], i: usize) -> (i64, u32) {
        let mut n = i;
        // Bounded: each step goes one level down a finite tree.
        for _ in 0..self.nodes.len() {
            if let Some(item) = self.nodes[n].item {
                return (items[item].date, items[item].seq);
            }
            match self.nodes[n].children.first() {
                Some(&c) => n = c,
                None => break,
            }
        }
        (i64::MAX, u32::MAX)
    }

    /// Sort every set of siblings, and the roots, by sent date (then by
    /// sequence number), deepest first so a dummy's first child is known.
    fn sort_by_date(&mut self, items: &[SortItem]) {
        let order = self.post_order();
        for n in order {
            let mut kids = std::mem::take(&mut self.nodes[n].children);
            kids.sort_by_key(|&k| self.date_of(items, k));
            self.nodes[n].children = kids;
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.sort_by_key(|&r| self.date_of(items, r));
        self.roots = roots;
    }

    /// Every node below the roots, children before their parent.
    fn post_order(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(usize, bool)> = self.roots.iter().map(|&r| (r, false)).collect();
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                out.push(n);
            } else {
                stack.push((n, true));
                stack.extend(self.nodes[n].children.iter().map(|&c| (c, false)));
            }
        }
        out
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 3): messages sorted by base subject, then
/// sent date; each run of one base subject is a thread whose first message is
/// the parent of all the others; threads ordered by their first message's
/// sent date.
pub fn ordered_subject(items: &[SortItem]) -> Forest {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&items[a], &items[b]);
        x.base_subject
            .cmp(&y.base_subject)
            .then(x.date.cmp(&y.date))
            .then(x.seq.cmp(&y.seq))
    });
    let mut forest = Forest::default();
    let mut current: Option<(usize, &str)> = None;
    for i in order {
        let node = forest.add(Some(i));
        match current {
            Some((root, subject)) if subject == items[i].base_subject => forest.link(root, node),
            _ => {
                forest.roots.push(node);
                current = Some((node, &items[i].base_subject));
            }
        }
    }
    let mut roots = std::mem::take(&mut forest.roots);
    roots.sort_by_key(|&r| forest.date_of(items, r));
    forest.roots = roots;
    forest
}

/// How many parents one loop test walks up before it gives up and treats a
/// link as a loop (skipping it), and how many steps all of one THREAD's loop
/// tests may take together. A real thread is far shallower; a hostile one
/// only loses links, never a message.
const MAX_ANCESTRY: usize = 10_000;
const MAX_ANCESTRY_TOTAL: usize = 20_000_000;

/// THREAD=REFERENCES (RFC 5256 3, the algorithm of Jamie Zawinski): parents
/// from Message-ID and References (or In-Reply-To), dummies pruned, roots of
/// one base subject gathered, siblings sorted by sent date.
pub fn references(items: &[SortItem]) -> Forest {
    let mut forest = Forest::default();
    // Step 1: a container per Message-ID, linked along each References chain.
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut budget = MAX_ANCESTRY_TOTAL;
    for (i, item) in items.iter().enumerate() {
        // A message without an id, or with one already taken, gets a
        // container of its own (RFC 5256 step 1.A).
        let own = match item.message_id.as_deref() {
            Some(id) => match by_id.get(id) {
                Some(&c) if forest.nodes[c].item.is_none() => {
                    forest.nodes[c].item = Some(i);
                    c
                }
                Some(_) => forest.add(Some(i)),
                None => {
                    let c = forest.add(Some(i));
                    by_id.insert(id, c);
                    c
                }
            },
            None => forest.add(Some(i)),
        };
        let mut prev: Option<usize> = None;
        for r in &item.references {
            let c = match by_id.get(r.as_str()) {
                Some(&c) => c,
                None => {
                    let c = forest.add(None);
                    by_id.insert(r, c);
                    c
                }
            };
            // Step 1.B: link each reference to the next, unless one is
            // already parented or the link would make a loop.
            if let Some(p) = prev {
                if forest.nodes[c].parent.is_none()
                    && !reaches(&forest, p, c, &mut budget)
                    && p != c
                {
                    forest.link(p, c);
                }
            }
            prev = Some(c);
        }
        // Step 1.C: the last reference is this message's parent, replacing
        // any parent an earlier message's References gave it.
        match prev {
            Some(p) if p != own && !reaches(&forest, p, own, &mut budget) => forest.link(p, own),
            Some(_) => {}
            None => {
                if let Some(old) = forest.nodes[own].parent.take() {
                    forest.nodes[old].children.retain(|&c| c != own);
                }
            }
        }
    }
    // Step 2: the root set.
    forest.roots = (0..forest.nodes.len())
        .filter(|&n| forest.nodes[n].parent.is_none())
        .collect();
    prune_dummies(&mut forest);
    gather_subjects(&mut forest, items);
    forest.sort_by_date(items);
    forest
}

/// Whether `ancestor` is `node` or above it: linking `ancestor` under
/// `node` would make a loop. A childless `ancestor` is above nothing, which
/// keeps the common case (a new message under its parent) constant-time;
/// otherwise the walk is bounded and a walk that hits the bound counts as a
/// loop.
fn reaches(forest: &Forest, node: usize, ancestor: usize, budget: &mut usize) -> bool {
    if node != ancestor && forest.nodes[ancestor].children.is_empty() {
        return false;
    }
    let mut n = Some(node);
    for _ in 0..MAX_ANCESTRY {
        let Some(left) = budget.checked_sub(1) else {
            return true;
        };
        *budget = left;
        match n {
            Some(x) if x == ancestor => return true,
            Some(x) => n = forest.nodes[x].parent,
            None => return false,
        }
    }
    true
}

/// Step 4: a dummy without children goes; a dummy with children gives them
/// to its parent, except a root dummy with more than one child, which stays.
fn prune_dummies(forest: &mut Forest) {
    for n in forest.post_order() {
        if forest.nodes[n].item.is_some() {
            continue;
        }
        let kids = std::mem::take(&mut forest.nodes[n].children);
        match forest.nodes[n].parent.take() {
            Some(p) => {
                // Promote the children to the dummy's place among its siblings.
                let siblings = &mut forest.nodes[p].children;
                let at = match siblings.iter().position(|&c| c == n) {
                    Some(at) => {
                        siblings.remove(at);
                        at
                    }
                    None => siblings.len(),
                };
                for &kid in &kids {
                    forest.nodes[kid].parent = Some(p);
                }
                forest.nodes[p].children.splice(at..at, kids);
            }
            None if kids.len() == 1 => {
                forest.nodes[kids[0]].parent = None;
                if let Some(r) = forest.roots.iter_mut().find(|r| **r == n) {
                    *r = kids[0];
                }
            }
            None if kids.is_empty() => forest.roots.retain(|&r| r != n),
            // A root dummy with several children stays.
            None => forest.nodes[n].children = kids,
        }
    }
}

/// Step 5: roots whose base subjects are equal become one thread.
fn gather_subjects(forest: &mut Forest, items: &[SortItem]) {
    // The subject of a root: its message's, or its first child's for a dummy.
    let subject_of = |forest: &Forest, r: usize| -> Option<(String, bool)> {
        let n = forest.nodes[r].item.or_else(|| {
            forest.nodes[r]
                .children
                .iter()
                .find_map(|&c| forest.nodes[c].item)
        })?;
        let s = &items[n].base_subject;
        (!s.is_empty()).then(|| (s.clone(), items[n].is_reply))
    };
    let is_dummy = |forest: &Forest, r: usize| forest.nodes[r].item.is_none();
    let is_reply =
        |forest: &Forest, r: usize| forest.nodes[r].item.is_some_and(|i| items[i].is_reply);
    // 5.B: the table keeps, per subject, a dummy over a message, and a
    // message that is not a reply over one that is.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &forest.roots {
        let Some((subject, _)) = subject_of(forest, r) else {
            continue;
        };
        match table.get(&subject) {
            None => {
                table.insert(subject, r);
            }
            Some(&old) => {
                if (is_dummy(forest, r) && !is_dummy(forest, old))
                    || (is_reply(forest, old) && !is_reply(forest, r) && !is_dummy(forest, r))
                {
                    table.insert(subject, r);
                }
            }
        }
    }
    // 5.C: merge every other root of the subject into the table's one.
    let roots = forest.roots.clone();
    let mut removed = vec![false; forest.nodes.len()];
    for r in roots {
        let Some((subject, _)) = subject_of(forest, r) else {
            continue;
        };
        let Some(&t) = table.get(&subject) else {
            continue;
        };
        if t == r || removed[r] {
            continue;
        }
        if is_dummy(forest, t) && is_dummy(forest, r) {
            for kid in std::mem::take(&mut forest.nodes[r].children) {
                forest.nodes[kid].parent = None;
                forest.link(t, kid);
            }
            removed[r] = true;
        } else if is_dummy(forest, t) || (!is_reply(forest, t) && is_reply(forest, r)) {
            // Under the table's dummy, or a reply under its original.
            forest.link(t, r);
            removed[r] = true;
        } else {
            // Neither the child of the other: both under a new dummy, which
            // takes the table's place.
            let d = forest.add(None);
            removed.push(false);
            let pos = forest.roots.iter().position(|&x| x == t);
            forest.link(d, t);
            forest.link(d, r);
            removed[r] = true;
            if let Some(p) = pos {
                forest.roots[p] = d;
            }
            table.insert(subject, d);
        }
    }
    forest.roots.retain(|&r| !removed[r]);
}

/// The base subject (RFC 5256 2.1) of an unfolded, RFC 2047-decoded
/// Subject, upper-cased, and whether a reply/forward marker was removed.
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) whitespace runs become one space. Only the first MAX_SUBJECT bytes
    // count: the leader loop below rescans leading blobs, which a hostile
    // subject of a million `[x]` would make quadratic.
    let mut cut = subject.len().min(MAX_SUBJECT);
    while !subject.is_char_boundary(cut) {
        cut -= 1;
    }
    let normal: String = subject[..cut]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Every step below narrows a slice of `normal`; nothing is copied.
    let mut s: &str = &normal;
    let mut reply = false;
    // Each round removes at least one character, so this ends; the bound
    // only documents it.
    for _ in 0..=normal.len() {
        // (2) trailing WSP and "(fwd)".
        loop {
            let t = s.trim_end();
            if t.len() != s.len() {
                s = t;
                continue;
            }
            if s.len() >= 5
                && s.is_char_boundary(s.len() - 5)
                && s[s.len() - 5..].eq_ignore_ascii_case("(fwd)")
            {
                s = &s[..s.len() - 5];
                reply = true;
                continue;
            }
            break;
        }
        // (3)-(5) leaders ("Re:", "[blob] Fwd:", spaces) and blobs.
        loop {
            let before = s.len();
            let (rest, was_reply) = strip_leader(s);
            reply |= was_reply;
            s = rest;
            if let Some(rest) = strip_blob(s) {
                if !rest.trim().is_empty() {
                    s = rest;
                }
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd: ... ]" around the whole subject.
        if s.len() >= 6
            && s.is_char_boundary(5)
            && s[..5].eq_ignore_ascii_case("[fwd:")
            && s.ends_with(']')
        {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_ascii_uppercase(), reply)
}

/// How much of a Subject the base subject is taken from (a real one is far
/// shorter; two subjects equal on their first 1,024 bytes sort as equal).
const MAX_SUBJECT: usize = 1024;

/// subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" / ("fw"
/// ["d"])) *WSP [subj-blob] ":". Returns the rest and whether a refwd went.
fn strip_leader(s: &str) -> (&str, bool) {
    if let Some(rest) = s.strip_prefix(' ') {
        return (rest, false);
    }
    let mut rest = s;
    while let Some(r) = strip_blob(rest) {
        rest = r;
    }
    let lower = rest.get(..3).map(|p| p.to_ascii_lowercase());
    let after = match lower.as_deref() {
        Some("fwd") => &rest[3..],
        _ => match rest.get(..2).map(|p| p.to_ascii_lowercase()).as_deref() {
            Some("re") | Some("fw") => &rest[2..],
            _ => return (s, false),
        },
    };
    let mut after = after.trim_start_matches(' ');
    if let Some(r) = strip_blob(after) {
        after = r;
    }
    match after.strip_prefix(':') {
        Some(r) => (r, true),
        None => (s, false),
    }
}

/// subj-blob = "[" *BLOBCHAR "]" *WSP, BLOBCHAR excluding "[" and "]".
fn strip_blob(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('[')?;
    let end = inner.find([']', '['])?;
    if inner.as_bytes()[end] != b']' {
        return None;
    }
    Some(inner[end + 1..].trim_start_matches(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u32, subject: &str, date: i64, id: &str, refs: &[&str]) -> SortItem {
        let (base_subject, is_reply) = base_subject(subject);
        SortItem {
            seq,
            uid: seq * 10,
            arrival: date,
            date,
            base_subject,
            is_reply,
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..SortItem::default()
        }
    }

    #[test]
    fn base_subject_strips_what_rfc_5256_2_1_lists() {
        for (subject, base, reply) in [
            ("Hello", "HELLO", false),
            ("Re: Hello", "HELLO", true),
            ("RE: re: Fwd: Hello", "HELLO", true),
            ("Re[2]: Hello", "HELLO", true),
            ("[list] Re: Hello", "HELLO", true),
            ("[list] Hello", "HELLO", false),
            ("Hello (fwd)", "HELLO", true),
            ("[Fwd: Re: Hello]", "HELLO", true),
            ("  Hello \t  world  ", "HELLO WORLD", false),
            ("[only a blob]", "[ONLY A BLOB]", false),
            ("Reply to all", "REPLY TO ALL", false),
            ("", "", false),
        ] {
            assert_eq!(
                base_subject(subject),
                (base.to_string(), reply),
                "{subject:?}"
            );
        }
    }

    #[test]
    fn a_hostile_subject_is_read_only_as_far_as_the_bound() {
        // A million blobs: only the first MAX_SUBJECT bytes are looked at.
        let subject = "[x]".repeat(1_000_000) + " Re: tail";
        let (base, _) = base_subject(&subject);
        assert!(base.len() <= MAX_SUBJECT, "{}", base.len());
        // A cut inside a multi-byte character stays on a boundary.
        let wide = "é".repeat(MAX_SUBJECT);
        assert!(base_subject(&wide).0.len() <= MAX_SUBJECT);
    }

    #[test]
    fn sort_orders_by_each_key_then_sequence_number() {
        let mut items = vec![
            item(1, "b", 30, "", &[]),
            item(2, "a", 10, "", &[]),
            item(3, "a", 20, "", &[]),
        ];
        items[0].size = 5;
        items[1].size = 9;
        items[2].size = 5;
        let by = |key, reverse| vec![SortCriterion { reverse, key }];
        assert_eq!(sort(&items, &by(SortKey::Subject, false)), vec![1, 2, 0]);
        assert_eq!(sort(&items, &by(SortKey::Date, true)), vec![0, 2, 1]);
        // Equal sizes keep sequence-number order, REVERSE or not.
        assert_eq!(sort(&items, &by(SortKey::Size, false)), vec![0, 2, 1]);
        assert_eq!(sort(&items, &by(SortKey::Size, true)), vec![1, 0, 2]);
    }

    #[test]
    fn ordered_subject_makes_the_first_of_each_subject_the_parent() {
        let items = vec![
            item(1, "Lunch", 100, "", &[]),
            item(2, "Re: Lunch", 300, "", &[]),
            item(3, "Budget", 50, "", &[]),
            item(4, "Re: Lunch", 200, "", &[]),
            item(5, "Alone", 400, "", &[]),
        ];
        let f = ordered_subject(&items);
        assert_eq!(f.render(|i| items[i].seq), " (3)(1 (4)(2))(5)");
    }

    #[test]
    fn references_threads_by_parent_and_keeps_missing_parents_as_dummies() {
        let items = vec![
            item(1, "Plan", 100, "a", &[]),
            item(2, "Re: Plan", 200, "b", &["a"]),
            item(3, "Re: Plan", 300, "c", &["a", "b"]),
            item(4, "Re: Plan", 250, "d", &["a"]),
            // Two replies to a message not among the results: a dummy root.
            item(5, "Other", 500, "e", &["gone"]),
            item(6, "Re: Other", 600, "f", &["gone"]),
            // A loop in References is not followed.
            item(7, "Loop", 700, "g", &["g"]),
        ];
        let f = references(&items);
        assert_eq!(f.render(|i| items[i].seq), " (1 (2 3)(4))((5)(6))(7)");
        // The UID form writes the same tree with UIDs.
        assert_eq!(
            f.render(|i| items[i].uid),
            " (10 (20 30)(40))((50)(60))(70)"
        );
    }

    #[test]
    fn references_gathers_roots_of_one_subject() {
        // No References at all, one subject: the reply goes under the original.
        let items = vec![
            item(1, "Party", 100, "x", &[]),
            item(2, "Re: Party", 200, "y", &[]),
            item(3, "Party", 300, "z", &[]),
        ];
        let f = references(&items);
        // 1 and 3 are both originals: a dummy above them; 2, a reply, goes
        // under the table's entry, which is then that dummy.
        let text = f.render(|i| items[i].seq);
        assert!(text.starts_with(" (("), "{text}");
        for n in ["1", "2", "3"] {
            assert_eq!(text.matches(n).count(), 1, "{text}");
        }
    }

    #[test]
    fn a_deep_chain_renders_without_recursion() {
        let n = 50_000u32;
        let items: Vec<SortItem> = (1..=n)
            .map(|i| {
                let refs: Vec<String> = if i == 1 {
                    vec![]
                } else {
                    vec![format!("m{}", i - 1)]
                };
                let mut it = item(i, "Deep", i as i64, &format!("m{i}"), &[]);
                it.references = refs;
                it
            })
            .collect();
        let f = references(&items);
        let text = f.render(|i| items[i].seq);
        assert!(text.starts_with(" (1 2 3 "));
        assert!(text.ends_with(&format!(" {n})")));
    }
}
