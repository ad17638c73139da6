//! `MailboxModel`: the selected mailbox as the client knows it.

use super::account::MailboxKey;
use super::seqmap::SeqMap;

/// System flags as bits, so a million messages cost a byte each.
pub mod flag_bits {
    pub const KNOWN: u8 = 1 << 7;
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 1 << 1;
    pub const FLAGGED: u8 = 1 << 2;
    pub const DELETED: u8 = 1 << 3;
    pub const DRAFT: u8 = 1 << 4;
    pub const KEYWORDS: u8 = 1 << 5;

    /// A FETCH FLAGS list as bits (KNOWN set).
    pub fn of(flags: &[crate::wire::FlagName]) -> u8 {
        let mut bits = KNOWN;
        for f in flags {
            bits |= match f.as_ref() {
                "\\Seen" => SEEN,
                "\\Answered" => ANSWERED,
                "\\Flagged" => FLAGGED,
                "\\Deleted" => DELETED,
                "\\Draft" => DRAFT,
                "\\Recent" => 0,
                _ => KEYWORDS,
            };
        }
        bits
    }
}

/// A sequence number and the UID known for it.
pub type SeqUid = (u32, u32);

/// Most messages whose UID and flags are tracked per selected mailbox (10 MB).
pub const MAX_TRACKED: usize = 2_000_000;

/// Most batches of new messages remembered per selection (`growth`).
pub const MAX_GROWTH: usize = 4096;

#[derive(Debug, Clone)]
pub struct MailboxModel {
    pub name: String,
    pub read_only: bool,
    /// The SELECT/EXAMINE that opened it has completed.
    pub open: bool,
    pub uid_validity: Option<u32>,
    /// The account-wide key of this mailbox, once UIDVALIDITY is known.
    pub key: Option<MailboxKey>,
    pub uid_next: Option<u32>,
    /// UIDNEXT as announced by the SELECT response.
    pub uid_next_at_select: Option<u32>,
    pub exists: u32,
    pub recent: u32,
    /// UID (0 when not yet known) and system flags (`flag_bits`) of each
    /// message by sequence number - 1; O(log n) per lookup and EXPUNGE.
    pub messages: SeqMap,
    /// Highest UID the client has seen in this selection.
    pub max_uid: u32,
    /// Highest sequence number whose UID is known.
    pub known_top: u32,
    /// When new messages were announced after SELECT: (first sequence number
    /// of the batch, model clock). Lets a check tell a message the client was
    /// told of *after* an expunge (a reuse if it has the expunged UID) from one
    /// it knew of before (legal: the EXPUNGE may not have reached it yet).
    pub growth: Vec<(u32, u64)>,
    /// How many of the current messages already existed when SELECT completed;
    /// a message at a higher sequence number is new since then.
    pub baseline: u32,
    /// Model clock when the SELECT was sent.
    pub selected_at: u64,
    /// What the SELECT response carried (for select.required-responses).
    pub seen_flags: bool,
    pub seen_exists: bool,
    pub seen_recent: bool,
    /// A `* LIST` came while this mailbox was selected (RFC 9051 6.3.2: an
    /// IMAP4rev2 SELECT answers with one).
    pub seen_list: bool,
    pub seen_permanent_flags: bool,
    pub mailbox_flags: Vec<crate::wire::FlagName>,
    /// The last `* n RECENT` of the command in progress, judged against EXISTS
    /// when the command completes (the order of RECENT and EXISTS is free).
    pub recent_line: Option<(crate::source::Origin, Vec<u8>)>,
    /// UIDs this session was told were expunged (bounded).
    pub expunged_here: rustc_hash::FxHashSet<u32>,
    /// UID → the last MODSEQ this session was shown for it (bounded).
    pub modseqs: rustc_hash::FxHashMap<u32, u64>,
    /// The HIGHESTMODSEQ of the SELECT/EXAMINE response, judged when the
    /// command completes (UIDVALIDITY, which names the mailbox's epoch, may
    /// come after it): the value, and the line that carried it.
    pub select_highest_modseq: Option<(u64, crate::source::Origin, Vec<u8>)>,
}

impl MailboxModel {
    pub fn new(name: String, read_only: bool, selected_at: u64) -> Self {
        MailboxModel {
            name,
            read_only,
            open: false,
            uid_validity: None,
            key: None,
            uid_next: None,
            uid_next_at_select: None,
            exists: 0,
            recent: 0,
            messages: SeqMap::default(),
            max_uid: 0,
            known_top: 0,
            growth: Vec::new(),
            baseline: 0,
            selected_at,
            seen_flags: false,
            seen_exists: false,
            seen_recent: false,
            seen_list: false,
            seen_permanent_flags: false,
            mailbox_flags: Vec::new(),
            recent_line: None,
            expunged_here: Default::default(),
            modseqs: Default::default(),
            select_highest_modseq: None,
        }
    }

    pub fn set_uid_validity(&mut self, user: &str, uid_validity: u32) {
        self.uid_validity = Some(uid_validity);
        self.key = Some(MailboxKey::new(user, &self.name, uid_validity));
    }

    /// The known UID of message `seq` (1-based), if any.
    pub fn uid_at(&self, seq: u32) -> Option<u32> {
        let i = (seq as usize).checked_sub(1)?;
        self.messages.uid(i).filter(|&u| u != 0)
    }

    /// The nearest known UIDs below and above `seq` (looking at most `reach`
    /// messages each way), with their sequence numbers.
    pub fn neighbours(&self, seq: u32, reach: u32) -> (Option<SeqUid>, Option<SeqUid>) {
        let below = (seq.saturating_sub(reach).max(1)..seq)
            .rev()
            .find_map(|s| self.uid_at(s).map(|u| (s, u)));
        // Nothing is known above the highest known sequence number: a FETCH
        // 1:* in order never scans upwards.
        let top = self
            .exists
            .min(seq.saturating_add(reach))
            .min(self.known_top);
        let above = (seq.saturating_add(1)..=top).find_map(|s| self.uid_at(s).map(|u| (s, u)));
        (below, above)
    }

    /// A message at `seq` is new since the SELECT completed.
    pub fn is_new(&self, seq: u32) -> bool {
        self.open && seq > self.baseline
    }

    /// EXISTS `n` seen at model clock `now`.
    pub fn grow_to(&mut self, n: u32, now: u64) {
        // Bounded so that each EXPUNGE's renumbering of it stays cheap.
        if self.open && n > self.exists && self.growth.len() < MAX_GROWTH {
            self.growth.push((self.exists + 1, now));
        }
        self.set_exists(n);
    }

    /// When the message now at `seq` was announced, if after SELECT.
    pub fn announced_at(&self, seq: u32) -> Option<u64> {
        self.growth
            .iter()
            .rev()
            .find(|(start, _)| *start <= seq)
            .map(|(_, at)| *at)
    }

    pub fn set_exists(&mut self, n: u32) {
        self.exists = n;
        // A hostile server may announce 4 billion messages: the map stays bounded,
        // and messages past the bound are simply not tracked.
        let tracked = (n as usize).min(MAX_TRACKED);
        self.messages.resize(tracked);
    }

    pub fn expunge(&mut self, seq: u32) -> Option<u32> {
        let i = (seq as usize).checked_sub(1)?;
        self.exists = self.exists.saturating_sub(1);
        for g in self.growth.iter_mut() {
            if g.0 > seq {
                g.0 -= 1;
            }
        }
        let exists = self.exists;
        self.growth.retain(|g| g.0 <= exists);
        if seq <= self.known_top {
            self.known_top -= 1;
        }
        if seq <= self.baseline {
            self.baseline -= 1;
        }
        self.messages.remove(i).filter(|&u| u != 0)
    }

    /// The session was told (by an EXPUNGE of a message whose UID it knew)
    /// that `uid` is gone.
    pub fn told_expunged(&mut self, uid: u32) {
        if self.expunged_here.len() < 100_000 {
            self.expunged_here.insert(uid);
        }
    }

    pub fn learn_uid(&mut self, seq: u32, uid: u32) {
        if let Some(i) = (seq as usize).checked_sub(1) {
            if self.messages.set_uid(i, uid) {
                self.known_top = self.known_top.max(seq);
            }
        }
        self.max_uid = self.max_uid.max(uid);
    }

    /// The system flags of message `seq` as last seen, if they were seen.
    pub fn flags_at(&self, seq: u32) -> Option<u8> {
        let i = (seq as usize).checked_sub(1)?;
        self.messages.flags(i).filter(|b| b & flag_bits::KNOWN != 0)
    }

    pub fn learn_flags(&mut self, seq: u32, flags: &[crate::wire::FlagName]) {
        let bits = flag_bits::of(flags);
        if let Some(i) = (seq as usize).checked_sub(1) {
            self.messages.set_flags(i, bits);
        }
    }
}
