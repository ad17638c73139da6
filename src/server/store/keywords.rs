//! The keywords a mailbox uses: what its FLAGS and PERMANENTFLAGS responses
//! list (RFC 3501 7.2.6), bounded by `MAX_KEYWORDS`.

use rustc_hash::FxHashSet;

use super::{FlagSet, StoreError};

/// How many keywords one mailbox may use. Each is listed in every FLAGS and
/// PERMANENTFLAGS response, so a client must not grow them without end
/// (Cyrus allows 128 per mailbox; this is twice that).
pub const MAX_KEYWORDS: usize = 256;

/// Keywords in the order they first appeared, with a case-folded index (RFC
/// 3501 keywords compare case-insensitively, as `FlagSet` does). The list
/// only grows: a keyword stays "applicable" once defined, as in Dovecot, so a
/// session knows what it has announced by a count.
#[derive(Debug, Default, Clone)]
pub struct Keywords {
    list: Vec<String>,
    folded: FxHashSet<String>,
}

impl std::ops::Deref for Keywords {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.list
    }
}

impl Keywords {
    fn known(&self, k: &str) -> bool {
        self.folded.contains(&k.to_ascii_lowercase())
    }

    /// Refuses flags that would take the mailbox past `MAX_KEYWORDS`, with
    /// `StoreError::Limit` (RFC 5530 LIMIT: "such as the number of flags on
    /// a single message or the number of flags used in a mailbox").
    pub fn check<'f>(
        &self,
        flags: impl IntoIterator<Item = &'f FlagSet>,
    ) -> Result<(), StoreError> {
        let mut fresh: FxHashSet<String> = FxHashSet::default();
        for f in flags {
            for k in &f.keywords {
                if !self.known(k) {
                    fresh.insert(k.to_ascii_lowercase());
                    if self.list.len() + fresh.len() > MAX_KEYWORDS {
                        return Err(StoreError::Limit(format!(
                            "A mailbox may use at most {MAX_KEYWORDS} keywords"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Records the keywords of `flags` that are new here.
    pub fn define(&mut self, flags: &FlagSet) {
        for k in &flags.keywords {
            if self.folded.insert(k.to_ascii_lowercase()) {
                self.list.push(k.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_once_per_keyword_whatever_the_case() {
        let mut k = Keywords::default();
        k.define(&FlagSet::from_names(["$Label1", "\\Seen", "Junk"]));
        k.define(&FlagSet::from_names(["$label1", "JUNK", "$Other"]));
        assert_eq!(&*k, ["$Label1", "Junk", "$Other"]);
    }

    #[test]
    fn the_limit_counts_distinct_new_keywords() {
        let mut k = Keywords::default();
        let names: Vec<String> = (0..MAX_KEYWORDS - 1).map(|i| format!("k{i}")).collect();
        k.define(&FlagSet::from_names(names.iter().map(String::as_str)));
        let one = FlagSet::from_names(["new"]);
        let same_again = FlagSet::from_names(["NEW", "k0"]);
        assert!(k.check([&one, &same_again]).is_ok());
        let two = FlagSet::from_names(["new", "other"]);
        assert!(matches!(k.check([&two]), Err(StoreError::Limit(_))));
        k.define(&one);
        assert!(k.check([&FlagSet::from_names(["k3", "NEW"])]).is_ok());
        assert!(k.check([&FlagSet::from_names(["more"])]).is_err());
    }
}
