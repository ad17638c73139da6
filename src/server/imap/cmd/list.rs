//! LIST and LSUB, and the mailbox-name wildcard matcher.

use imap_codec::imap_types::mailbox::ListMailbox;

use crate::server::imap::io::Io;
use crate::server::imap::session::{quote, Session};

impl Session {
    pub(in crate::server::imap) fn cmd_list(
        &self,
        tag: &str,
        reference: &str,
        pattern: &str,
        lsub: bool,
        io: &mut Io,
    ) {
        let what = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            io.write(&format!(
                "* LIST (\\Noselect) \"/\" \"\"\r\n{tag} OK LIST completed\r\n"
            ));
            return;
        }
        let full = format!("{reference}{pattern}");
        let names = if lsub {
            self.ctx.store.subscriptions(self.user_str())
        } else {
            self.ctx.store.mailbox_names(self.user_str())
        };
        let all = self.ctx.store.mailbox_names(self.user_str());
        for name in names {
            if wildcard_match(&full, &name) {
                let children = all.iter().any(|n| {
                    n.len() > name.len() && n.starts_with(&name) && n.as_bytes()[name.len()] == b'/'
                });
                let attr = if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                };
                io.write(&format!("* {what} ({attr}) \"/\" {}\r\n", quote(&name)));
            }
        }
        io.write(&format!("{tag} OK {what} completed\r\n"));
    }
}

pub fn list_pattern(p: &ListMailbox<'_>) -> String {
    match p {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    }
}

/// LIST wildcards: `*` matches anything, `%` anything but the delimiter `/`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((b'%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'/')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let (p, n) = if pattern.to_ascii_uppercase().starts_with("INBOX") && name == "INBOX" {
        (format!("INBOX{}", &pattern[5..]), name.to_string())
    } else {
        (pattern.to_string(), name.to_string())
    };
    // Bounded: mailbox names and patterns are short (command line limit).
    go(p.as_bytes(), n.as_bytes())
}
