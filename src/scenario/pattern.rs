//! Response patterns in scenarios: `* {n} EXISTS`, `* {_} FETCH (UID $uid ...`.
//!
//! A pattern is compared token by token (split on spaces) with a response's first
//! line: a literal token must be equal (ASCII case-insensitive), `{name}` binds
//! one token (trailing `)` and `]` dropped), `{_}` matches any one token, and
//! `...` matches the rest of the line. `$name` is replaced by a bound value before
//! matching. Matching by token, and by UID rather than sequence number, keeps a
//! scenario stable when another session's EXPUNGE renumbers messages.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub text: String,
}

impl Pattern {
    pub fn new(text: &str) -> Self {
        Pattern {
            text: text.trim().to_string(),
        }
    }

    /// Matches `line`; returns the bindings when it does.
    pub fn matches(
        &self,
        line: &str,
        vars: &HashMap<String, String>,
    ) -> Option<HashMap<String, String>> {
        let text = substitute(&self.text, vars);
        let pat: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
        let toks: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).collect();
        let mut got = HashMap::new();
        match_from(&pat, &toks, &mut got).then_some(got)
    }
}

/// Token-by-token match; `...` skips any number of tokens (it is tried at each
/// position, so the cost is bounded by the line's token count squared).
fn match_from(pat: &[&str], toks: &[&str], got: &mut HashMap<String, String>) -> bool {
    let Some((p, rest)) = pat.split_first() else {
        return toks.is_empty();
    };
    if *p == "..." {
        return (0..=toks.len()).any(|k| {
            let mut trial = got.clone();
            let ok = match_from(rest, &toks[k..], &mut trial);
            if ok {
                *got = trial;
            }
            ok
        });
    }
    let Some((t, more)) = toks.split_first() else {
        return false;
    };
    if *p == "{_}" {
    } else if let Some(name) = p.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        got.insert(name.to_string(), t.trim_end_matches([')', ']']).to_string());
    } else if let Some((name, tail)) = p.strip_prefix('{').and_then(|r| r.split_once('}')) {
        // `{name})`: a binding followed by literal closing characters.
        match t.strip_suffix(tail) {
            Some(v) => {
                got.insert(name.to_string(), v.to_string());
            }
            None => return false,
        }
    } else if !p.eq_ignore_ascii_case(t) && !p.eq_ignore_ascii_case(t.trim_matches('"')) {
        // A quoted string matches its unquoted spelling: servers quote freely.
        return false;
    }
    match_from(rest, more, got)
}

/// Replaces `$name` with its value (names are `[A-Za-z0-9_]+`).
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut vars = HashMap::new();
        vars.insert("uid".to_string(), "42".to_string());
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
}
