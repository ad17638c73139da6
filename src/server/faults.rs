//! Fault switches: each makes the server misbehave exactly like a server in the
//! field reports, so every check is proven to fire. All are off by default.

use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Seed 000: the NOOP after an expunge reports the pre-expunge EXISTS from a
    /// lagging index, and the phantom last message keeps an old UID.
    StaleNoopAfterExpunge,
    /// Seed 001: an idling session is dropped silently after this long.
    IdleDropWithoutBye(Duration),
    /// An inactivity autologout shorter than RFC 3501's 30 minutes.
    Autologout(Duration),
    /// EXPUNGE sent in the middle of a FETCH response.
    ExpungeDuringFetch,
    /// The last expunged UID is given to the next message.
    UidReuse,
    /// Seed 001's GMS: `* FLAGS (Answered Flagged ...)` without backslashes.
    FlagsWithoutBackslash,
    /// Seed 002: an APPEND cut mid-literal leaves the partial message.
    PartialAppendOnDisconnect,
    /// Seed 003: mailboxes over N messages answer `NO System I/O error`.
    IoErrorOver(u32),
    /// Seed 004: over quota, SMTP bounces (5xx) and APPEND says NO without [OVERQUOTA].
    OverquotaPermanent,
    /// An index rebuilt at a SELECT/EXAMINE after flags changed restarts the
    /// mod-sequences at 1 with the same UIDVALIDITY, as a server that lost its
    /// modseq index after a crash and did not change UIDVALIDITY: HIGHESTMODSEQ
    /// goes backwards and a client's CHANGEDSINCE misses every change.
    ModseqReset,
    /// Expunges go out as `* VANISHED` to clients that never enabled QRESYNC,
    /// which then keep the expunged messages in their view.
    VanishedWithoutQresync,
    /// STORE (UNCHANGEDSINCE n) changes every message, as a server that
    /// parses the modifier and ignores it: a conditional STORE overwrites
    /// another client's change and no MODIFIED comes back.
    UnchangedsinceIgnored,
    /// Commands sent in the same packet as IDLE's DONE are dropped, as
    /// Stalwart did before 0.10 (issue #765): iOS 18 Mail, which sends them
    /// so, waited for answers that never came and stopped syncing.
    DoneDropsPipelined,
}

/// Name, argument, what it reproduces, the check a scenario must fail with.
pub const FAULTS: &[(&str, &str, &str, &str)] = &[
    ("stale-noop-after-expunge", "", "seed 000: NOOP after an expunge reports the old EXISTS; the phantom message has an old UID", "uid.no-reuse / uid.new-above-uidnext"),
    ("idle-drop-without-bye", "=DUR", "seed 001: an idling session is dropped silently after DUR", "bye.before-close"),
    ("autologout", "=DUR", "an inactivity autologout after DUR (< 30 minutes)", "autologout.min-30min"),
    ("expunge-during-fetch", "", "EXPUNGE sent inside a FETCH response", "expunge.forbidden-context"),
    ("uid-reuse", "", "an expunged message's UID is given to the next delivery", "uid.no-reuse"),
    ("flags-without-backslash", "", "seed 001's GMS: * FLAGS (Answered Flagged ...)", "flags.system-backslash"),
    ("partial-append-on-disconnect", "", "seed 002: an APPEND cut off mid-literal stores half a message", "append.atomic"),
    ("io-error-over", "=N", "seed 003: mailboxes over N messages answer NO System I/O error", "mailbox.inuse-code"),
    ("overquota-permanent", "", "seed 004: over quota, SMTP bounces and APPEND lacks [OVERQUOTA]", "quota.overquota-code"),
    ("modseq-reset", "", "a SELECT after a flag change rebuilds the modseq index from 1 under the same UIDVALIDITY: HIGHESTMODSEQ goes backwards", "modseq.monotonic"),
    ("vanished-without-qresync", "", "expunges reported as * VANISHED to clients that did not ENABLE QRESYNC", "qresync.vanished-enabled"),
    ("unchangedsince-ignored", "", "STORE (UNCHANGEDSINCE n) changes messages modified since n and answers no MODIFIED", "condstore.unchangedsince"),
    ("done-drops-pipelined", "", "Stalwart before 0.10 with iOS 18 Mail: commands in the same packet as IDLE's DONE are never answered", "tag.one-completion"),
];

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let need = |what: &str| -> Result<&str, String> {
            arg.ok_or_else(|| format!("fault `{name}` needs an argument: {name}={what}"))
        };
        let none = || -> Result<(), String> {
            match arg {
                None => Ok(()),
                Some(_) => Err(format!("fault `{name}` takes no argument")),
            }
        };
        Ok(match name {
            "stale-noop-after-expunge" => none().map(|_| Fault::StaleNoopAfterExpunge)?,
            "idle-drop-without-bye" => {
                Fault::IdleDropWithoutBye(parse_duration(need("DURATION")?)?)
            }
            "autologout" => Fault::Autologout(parse_duration(need("DURATION")?)?),
            "expunge-during-fetch" => none().map(|_| Fault::ExpungeDuringFetch)?,
            "uid-reuse" => none().map(|_| Fault::UidReuse)?,
            "flags-without-backslash" => none().map(|_| Fault::FlagsWithoutBackslash)?,
            "partial-append-on-disconnect" => none().map(|_| Fault::PartialAppendOnDisconnect)?,
            "io-error-over" => Fault::IoErrorOver(need("N")?.parse().map_err(|_| {
                "fault `io-error-over` needs a message count, like io-error-over=1000".to_string()
            })?),
            "overquota-permanent" => none().map(|_| Fault::OverquotaPermanent)?,
            "modseq-reset" => none().map(|_| Fault::ModseqReset)?,
            "vanished-without-qresync" => none().map(|_| Fault::VanishedWithoutQresync)?,
            "unchangedsince-ignored" => none().map(|_| Fault::UnchangedsinceIgnored)?,
            "done-drops-pipelined" => none().map(|_| Fault::DoneDropsPipelined)?,
            other => {
                let names: Vec<String> = FAULTS.iter().map(|f| format!("{}{}", f.0, f.1)).collect();
                return Err(format!(
                    "unknown fault `{other}`; known faults: {}",
                    names.join(", ")
                ));
            }
        })
    }
}

pub use crate::source::parse_duration;

/// The faults switched on for a server.
#[derive(Debug, Clone, Default)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    pub fn has(&self, f: &Fault) -> bool {
        self.0.contains(f)
    }
    pub fn idle_drop(&self) -> Option<Duration> {
        self.0.iter().find_map(|f| match f {
            Fault::IdleDropWithoutBye(d) => Some(*d),
            _ => None,
        })
    }
    pub fn autologout(&self) -> Option<Duration> {
        self.0.iter().find_map(|f| match f {
            Fault::Autologout(d) => Some(*d),
            _ => None,
        })
    }
    pub fn io_error_over(&self) -> Option<u32> {
        self.0.iter().find_map(|f| match f {
            Fault::IoErrorOver(n) => Some(*n),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults_and_durations() {
        assert_eq!("uid-reuse".parse(), Ok(Fault::UidReuse));
        assert_eq!(
            "autologout=5m".parse(),
            Ok(Fault::Autologout(Duration::from_secs(300)))
        );
        assert_eq!("io-error-over=100".parse(), Ok(Fault::IoErrorOver(100)));
        assert!("uid-reuse=3".parse::<Fault>().is_err());
        assert!("autologout".parse::<Fault>().is_err());
        let e = "nope".parse::<Fault>().unwrap_err();
        assert!(e.contains("known faults"));
        assert_eq!(
            parse_duration("31m30s"),
            Ok(Duration::from_secs(31 * 60 + 30))
        );
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(
            "done-drops-pipelined".parse(),
            Ok(Fault::DoneDropsPipelined)
        );
        // Every switch of the table parses, with the argument it says it takes,
        // and no name is listed twice.
        let mut names = std::collections::HashSet::new();
        for (name, arg, _, _) in FAULTS {
            let text = match *arg {
                "" => name.to_string(),
                "=DUR" => format!("{name}=5m"),
                "=N" => format!("{name}=10"),
                other => panic!("{name}: argument form {other} not known to this test"),
            };
            assert!(text.parse::<Fault>().is_ok(), "{text}");
            assert!(names.insert(*name), "{name} listed twice");
        }
    }
}
