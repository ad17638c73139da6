//! `* THREAD` (RFC 5256 4) read by hand: imap-codec refuses a thread nested
//! deeper than 8 lists, which one long discussion with branches reaches, so
//! the harness would call a correct server's answer undecodable. This reads
//! the grammar without recursion (any depth, memory bounded by the line)
//! and gives the numbers in the order written.
//!
//! ```abnf
//! thread-data    = "THREAD" [SP 1*thread-list]
//! thread-list    = "(" (thread-members / thread-nested) ")"
//! thread-members = nz-number *(SP nz-number) [SP thread-nested]
//! thread-nested  = 2*thread-list
//! ```

/// Where a thread-list being read stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after `(`: a number or a nested list may come.
    Start,
    /// After a number: SP or `)`.
    Member,
    /// After `number SP`: a number or the nested part.
    Space,
    /// In thread-nested, with this many lists so far.
    Nested(u32),
}

/// The numbers of a `* THREAD ...\r\n` line, or `None` if it is not one or
/// does not follow the grammar.
pub fn thread_numbers(bytes: &[u8]) -> Option<Vec<u32>> {
    let line = bytes.strip_suffix(b"\r\n")?;
    let head = line.get(..8)?;
    if !head.eq_ignore_ascii_case(b"* THREAD") {
        return None;
    }
    let rest = &line[8..];
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_prefix(b" ")?;
    let mut numbers = Vec::new();
    let mut stack: Vec<State> = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        match b {
            b'(' => {
                if let Some(top) = stack.last_mut() {
                    *top = match *top {
                        State::Start | State::Space => State::Nested(1),
                        State::Nested(n) => State::Nested(n + 1),
                        State::Member => return None,
                    };
                }
                stack.push(State::Start);
                i += 1;
            }
            b')' => {
                match stack.pop()? {
                    State::Member | State::Nested(2..) => {}
                    _ => return None,
                }
                i += 1;
            }
            b' ' => {
                let top = stack.last_mut()?;
                if *top != State::Member {
                    return None;
                }
                *top = State::Space;
                i += 1;
            }
            b'1'..=b'9' => {
                let top = stack.last_mut()?;
                if !matches!(*top, State::Start | State::Space) {
                    return None;
                }
                *top = State::Member;
                let end = rest[i..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(rest.len(), |p| i + p);
                let n: u32 = std::str::from_utf8(&rest[i..end]).ok()?.parse().ok()?;
                numbers.push(n);
                i = end;
            }
            _ => return None,
        }
    }
    // Every list closed, and at least one list was written.
    (stack.is_empty() && rest.first() == Some(&b'(')).then_some(numbers)
}

#[cfg(test)]
mod tests {
    use super::thread_numbers;

    #[test]
    fn reads_rfc_5256s_example_and_deep_threads() {
        assert_eq!(
            thread_numbers(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"),
            Some(vec![2, 3, 6, 4, 23, 44, 7, 96])
        );
        assert_eq!(thread_numbers(b"* THREAD\r\n"), Some(vec![]));
        assert_eq!(thread_numbers(b"* THREAD ((1)(2))\r\n"), Some(vec![1, 2]));
        // Twenty levels of branches, `(1 (2 ...)(101))`: beyond imap-codec's eight.
        let mut tree = String::from("(20 (21)(22))");
        for k in (1..20).rev() {
            tree = format!("({k} {tree}({}))", k + 100);
        }
        let deep = format!("* THREAD {tree}\r\n");
        let nums = thread_numbers(deep.as_bytes()).unwrap_or_default();
        assert_eq!(nums.len(), 22 + 19);
    }

    #[test]
    fn refuses_what_the_grammar_does_not_allow() {
        for bad in [
            &b"* THREAD ()\r\n"[..],
            b"* THREAD (1 (2))\r\n",
            b"* THREAD (1 (2)(3) 4)\r\n",
            b"* THREAD (0)\r\n",
            b"* THREAD (1) (2)\r\n",
            b"* THREAD (1\r\n",
            b"* THREAD 1\r\n",
            b"* THREAD (1  2)\r\n",
            b"* THREAD (01)\r\n",
            b"* THREAD (99999999999)\r\n",
            b"* THREAD (1)(2))\r\n",
        ] {
            assert_eq!(
                thread_numbers(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
