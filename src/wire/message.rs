//! The owned, simplified IMAP messages the model and the checks work on.
//!
//! imap-types describes every corner of the grammar; the checks need a small part
//! of it (sequence numbers, UIDs, flags, status codes, which command is running).
//! Keeping our own small types here means the rest of the crate never depends on
//! imap-codec's alpha API, and each message is cheap to keep.

/// A flag as the server or the client wrote it, backslash included (`\Seen`,
/// `$Junk`, `Seen`).
pub type FlagName = std::borrow::Cow<'static, str>;

/// A response code (`[...]` in a status response) the checks care about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RespCode {
    UidValidity(u32),
    UidNext(u32),
    PermanentFlags(Vec<FlagName>),
    ReadWrite,
    ReadOnly,
    OverQuota,
    InUse,
    Alert,
    Capability(Vec<String>),
    /// `APPENDUID uidvalidity uid-set` (RFC 4315 3): the UIDs the APPEND gave.
    AppendUid {
        uid_validity: u32,
        uids: UidSet,
    },
    /// `COPYUID uidvalidity source-set dest-set` (RFC 4315 3): the UIDs the COPY
    /// or MOVE gave in the destination.
    CopyUid {
        uid_validity: u32,
        uids: UidSet,
    },
    /// `HIGHESTMODSEQ n` (RFC 7162 3.1.2.1).
    HighestModSeq(u64),
    /// `MODIFIED set` (RFC 7162 3.1.3): the messages a conditional STORE
    /// left alone (sequence numbers, or UIDs for UID STORE).
    Modified(UidSet),
    /// Any other code, as its atom (`TRYCREATE`, `APPENDUID`, `LIMIT`, ...).
    Other(String),
}

/// A set of UIDs as ranges (`1:3,7`), at most `UidSet::MAX_RANGES` of them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct UidSet(pub Vec<(u32, u32)>);

impl UidSet {
    pub const MAX_RANGES: usize = 1000;

    /// `uid-set` of RFC 4315 (no `*`); `None` if it does not parse or is too long.
    pub fn parse(text: &str) -> Option<UidSet> {
        let mut ranges = Vec::new();
        for part in text.split(',') {
            if ranges.len() >= Self::MAX_RANGES {
                return None;
            }
            let (a, b) = match part.split_once(':') {
                Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
                None => {
                    let n = part.parse::<u32>().ok()?;
                    (n, n)
                }
            };
            if a == 0 || b == 0 {
                return None;
            }
            ranges.push((a.min(b), a.max(b)));
        }
        Some(UidSet(ranges))
    }

    /// Every UID, at most `max` of them.
    pub fn iter(&self, max: usize) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(a, b)| a..=b).take(max)
    }
}

/// An attribute a FETCH response gave that RFC 3501 2.3.1.1 makes immutable
/// (RFC822.SIZE, INTERNALDATE, ENVELOPE, BODYSTRUCTURE, the body texts), by
/// item name and a hash of its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FetchFact {
    pub item: String,
    pub hash: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StatusKind {
    Ok,
    No,
    Bad,
    Bye,
    PreAuth,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::Bye => "BYE",
            StatusKind::PreAuth => "PREAUTH",
        }
    }
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ServerMessage {
    /// The first message of a connection.
    Greeting {
        kind: StatusKind,
        code: Option<RespCode>,
        text: String,
    },
    /// `tag OK/NO/BAD ...` (tagged) or `* OK/NO/BAD/BYE ...` (untagged).
    Status {
        tag: Option<String>,
        kind: StatusKind,
        code: Option<RespCode>,
        text: String,
    },
    /// `+ ...`
    Continue {
        text: String,
    },
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    /// `* n FETCH (...)`, with the two items the model tracks.
    Fetch {
        seq: u32,
        uid: Option<u32>,
        flags: Option<Vec<FlagName>>,
        /// Immutable attributes, hashed (empty for the common UID/FLAGS lines).
        facts: Vec<FetchFact>,
        /// `MODSEQ (n)` (RFC 7162 3.1.4.2).
        modseq: Option<u64>,
    },
    /// `* VANISHED [(EARLIER)] uid-set` (RFC 7162 3.2.10).
    Vanished {
        earlier: bool,
        uids: UidSet,
    },
    Flags(Vec<FlagName>),
    /// `* LIST (attributes) delimiter name [extended items]` (RFC 3501
    /// 7.2.2, RFC 5258 3.4).
    List {
        name: String,
        attributes: Vec<String>,
    },
    Capability(Vec<String>),
    /// `* QUOTA root (resource usage limit ...)` (RFC 2087, RFC 9208), with the
    /// number of resources listed (RFC 2087 allows none, RFC 9208 at least one).
    Quota {
        resources: usize,
    },
    /// `* SEARCH`, `* SORT` or `* THREAD` (RFC 3501 7.2.5, RFC 5256 4): the
    /// numbers found, in the order written (a THREAD's tree flattened).
    Found {
        by: FoundBy,
        numbers: Vec<u32>,
    },
    /// `* ESEARCH` (RFC 4731 3.1, RFC 4466 2.6.2).
    Esearch(Box<crate::wire::esearch::Esearch>),
    /// `* ENABLED ...` (RFC 5161): the extensions now in force.
    Enabled(Vec<String>),
    /// Any other valid untagged data (`SEARCH`, `LIST`, `STATUS`, ...), by name.
    Data {
        name: &'static str,
    },
    /// The strict parser refused the bytes; `why` says what was wrong when known.
    Undecodable {
        why: String,
    },
}

/// Which response listed the numbers of a `ServerMessage::Found`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FoundBy {
    Search,
    Sort,
    Thread,
}

impl FoundBy {
    /// Whether this response is the answer of `command` (SEARCH, SORT, THREAD).
    pub fn answers(self, command: &CommandKind) -> bool {
        matches!(
            (command, self),
            (CommandKind::Search { .. }, FoundBy::Search)
                | (CommandKind::Sort { .. }, FoundBy::Sort)
                | (CommandKind::Thread { .. }, FoundBy::Thread)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::Search => "SEARCH",
            FoundBy::Sort => "SORT",
            FoundBy::Thread => "THREAD",
        }
    }
}

/// Which command a client message is; only what the model needs to know.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum CommandKind {
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: String,
    },
    Authenticate {
        mechanism: String,
        user: Option<String>,
    },
    Select {
        mailbox: String,
        read_only: bool,
    },
    /// `uses`: the special uses a `CREATE name (USE (...))` asks for (RFC 6154 3).
    Create {
        mailbox: String,
        uses: Vec<String>,
    },
    Delete,
    Rename,
    Subscribe,
    Unsubscribe,
    /// A LIST, plain or extended (RFC 5258), with what it asked for.
    List(Box<crate::wire::extended::ListCommand>),
    Lsub,
    Status,
    Append {
        mailbox: String,
        /// The size of each message's literal, in order (more than one for
        /// a MULTIAPPEND, RFC 3502).
        sizes: Vec<u64>,
    },
    Check,
    Close,
    Unselect,
    Expunge {
        uid: bool,
    },
    /// `returns`: the RETURN options of an extended SEARCH (RFC 4731).
    Search {
        uid: bool,
        returns: Option<crate::wire::esearch::SearchReturn>,
    },
    /// SORT (RFC 5256).
    Sort {
        uid: bool,
    },
    /// THREAD (RFC 5256).
    Thread {
        uid: bool,
    },
    Fetch {
        uid: bool,
    },
    Store {
        uid: bool,
    },
    Copy {
        uid: bool,
        mailbox: String,
    },
    Move {
        uid: bool,
        mailbox: String,
    },
    Idle,
    Enable,
    Id,
    Namespace,
    Quota,
    /// A command the strict parser did not accept, by its name as sent.
    Other {
        name: String,
    },
}

impl CommandKind {
    /// The command's name as it appears on the wire (`UID FETCH`, `SELECT`).
    pub fn name(&self) -> String {
        let uid = |u: &bool, n: &str| {
            if *u {
                format!("UID {n}")
            } else {
                n.to_string()
            }
        };
        match self {
            CommandKind::Capability => "CAPABILITY".into(),
            CommandKind::Noop => "NOOP".into(),
            CommandKind::Logout => "LOGOUT".into(),
            CommandKind::StartTls => "STARTTLS".into(),
            CommandKind::Login { .. } => "LOGIN".into(),
            CommandKind::Authenticate { .. } => "AUTHENTICATE".into(),
            CommandKind::Select {
                read_only: false, ..
            } => "SELECT".into(),
            CommandKind::Select {
                read_only: true, ..
            } => "EXAMINE".into(),
            CommandKind::Create { .. } => "CREATE".into(),
            CommandKind::Delete => "DELETE".into(),
            CommandKind::Rename => "RENAME".into(),
            CommandKind::Subscribe => "SUBSCRIBE".into(),
            CommandKind::Unsubscribe => "UNSUBSCRIBE".into(),
            CommandKind::List(_) => "LIST".into(),
            CommandKind::Lsub => "LSUB".into(),
            CommandKind::Status => "STATUS".into(),
            CommandKind::Append { .. } => "APPEND".into(),
            CommandKind::Check => "CHECK".into(),
            CommandKind::Close => "CLOSE".into(),
            CommandKind::Unselect => "UNSELECT".into(),
            CommandKind::Expunge { uid: u } => uid(u, "EXPUNGE"),
            CommandKind::Search { uid: u, .. } => uid(u, "SEARCH"),
            CommandKind::Sort { uid: u } => uid(u, "SORT"),
            CommandKind::Thread { uid: u } => uid(u, "THREAD"),
            CommandKind::Fetch { uid: u } => uid(u, "FETCH"),
            CommandKind::Store { uid: u } => uid(u, "STORE"),
            CommandKind::Copy { uid: u, .. } => uid(u, "COPY"),
            CommandKind::Move { uid: u, .. } => uid(u, "MOVE"),
            CommandKind::Idle => "IDLE".into(),
            CommandKind::Enable => "ENABLE".into(),
            CommandKind::Id => "ID".into(),
            CommandKind::Namespace => "NAMESPACE".into(),
            CommandKind::Quota => "GETQUOTA".into(),
            CommandKind::Other { name } => name.clone(),
        }
    }

    /// A UID command (`UID FETCH`, `UID STORE`, ...).
    pub fn is_uid(&self) -> bool {
        matches!(
            self,
            CommandKind::Expunge { uid: true }
                | CommandKind::Search { uid: true, .. }
                | CommandKind::Sort { uid: true }
                | CommandKind::Thread { uid: true }
                | CommandKind::Fetch { uid: true }
                | CommandKind::Store { uid: true }
                | CommandKind::Copy { uid: true, .. }
                | CommandKind::Move { uid: true, .. }
        )
    }
}

/// One message from the client.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ClientMessage {
    Command {
        tag: String,
        command: CommandKind,
        /// The strict parser refused it; the tag and name were read by hand.
        unparsed: bool,
    },
    /// `DONE`, ending IDLE.
    IdleDone,
    /// A line of SASL data answering a `+` during AUTHENTICATE.
    AuthData,
    /// Not even a tag could be read.
    Undecodable { why: String },
}

/// A FETCH section as written on the wire (`1.2.HEADER.FIELDS (FROM TO)`),
/// each header field name written by `field`.
pub fn section_text(
    section: &imap_codec::imap_types::fetch::Section<'_>,
    field: impl Fn(&[u8]) -> String,
) -> String {
    use imap_codec::imap_types::fetch::{Part, Section as S};
    let part = |p: &Part| {
        p.0.as_ref()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".")
    };
    let with = |p: &Option<Part>, what: &str| match p {
        Some(p) => format!("{}.{what}", part(p)),
        None => what.to_string(),
    };
    let fields =
        |names: &imap_codec::imap_types::core::Vec1<imap_codec::imap_types::core::AString<'_>>| {
            names
                .as_ref()
                .iter()
                .map(|n| field(n.as_ref()))
                .collect::<Vec<_>>()
                .join(" ")
        };
    match section {
        S::Part(p) => part(p),
        S::Header(p) => with(p, "HEADER"),
        S::HeaderFields(p, names) => format!("{} ({})", with(p, "HEADER.FIELDS"), fields(names)),
        S::HeaderFieldsNot(p, names) => {
            format!("{} ({})", with(p, "HEADER.FIELDS.NOT"), fields(names))
        }
        S::Text(p) => with(p, "TEXT"),
        S::Mime(p) => format!("{}.MIME", part(p)),
    }
}
