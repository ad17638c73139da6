//! `SeqMap`: per message sequence number, the UID and system-flag bits the
//! client knows, with O(log n) lookup and removal at millions of messages.
//!
//! A flat vector makes every EXPUNGE shift everything after it (O(n): 200,000
//! `* 1 EXPUNGE` after `* 2000000 EXISTS` cost 55 s of CPU). Here the messages
//! live in blocks of at most `BLOCK` entries, and a Fenwick tree over the block
//! lengths finds the block holding sequence number n in O(log blocks); a
//! removal shifts at most one block. Blocks emptied by expunges stay (their
//! length is 0), so the tree never needs rebalancing; it is rebuilt only when
//! blocks are added at the end.

const BLOCK: usize = 512;

#[derive(Debug, Clone, Default)]
pub struct SeqMap {
    uids: Vec<Vec<u32>>,
    flags: Vec<Vec<u8>>,
    /// Fenwick tree (1-based) over `uids[b].len()`.
    tree: Vec<usize>,
    len: usize,
}

impl SeqMap {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (block, offset) of the 0-based index `i`.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        // Fenwick descent: the largest prefix of blocks whose total is <= i.
        let n = self.uids.len();
        let mut pos = 0;
        let mut rest = i;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= rest {
                pos = next;
                rest -= self.tree[next];
            }
            step /= 2;
        }
        // `pos` blocks hold fewer than i+1 entries; block `pos` holds entry i.
        Some((pos, rest))
    }

    fn tree_add(&mut self, block: usize, delta: isize) {
        let mut i = block + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild_tree(&mut self) {
        let n = self.uids.len();
        self.tree = vec![0; n + 1];
        for b in 0..n {
            let i = b + 1;
            self.tree[i] += self.uids[b].len();
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                let v = self.tree[i];
                self.tree[parent] += v;
            }
        }
    }

    pub fn uid(&self, i: usize) -> Option<u32> {
        let (b, o) = self.locate(i)?;
        Some(self.uids[b][o])
    }

    pub fn flags(&self, i: usize) -> Option<u8> {
        let (b, o) = self.locate(i)?;
        Some(self.flags[b][o])
    }

    pub fn set_uid(&mut self, i: usize, uid: u32) -> bool {
        match self.locate(i) {
            Some((b, o)) => {
                self.uids[b][o] = uid;
                true
            }
            None => false,
        }
    }

    pub fn set_flags(&mut self, i: usize, bits: u8) {
        if let Some((b, o)) = self.locate(i) {
            self.flags[b][o] = bits;
        }
    }

    /// The index of the entry with this UID, if the client knows it. UIDs
    /// ascend with sequence numbers, so a block whose last known UID is
    /// below `uid` is passed over without a look inside.
    pub fn position(&self, uid: u32) -> Option<usize> {
        if uid == 0 {
            return None;
        }
        let mut before = 0;
        for block in &self.uids {
            if block.last().is_some_and(|&l| l != 0 && l < uid) {
                before += block.len();
                continue;
            }
            if let Some(o) = block.iter().position(|&u| u == uid) {
                return Some(before + o);
            }
            before += block.len();
        }
        None
    }

    /// Removes entry `i`; returns its UID.
    pub fn remove(&mut self, i: usize) -> Option<u32> {
        let (b, o) = self.locate(i)?;
        let uid = self.uids[b].remove(o);
        self.flags[b].remove(o);
        self.len -= 1;
        self.tree_add(b, -1);
        Some(uid)
    }

    /// Grows with unknown entries (UID 0, no flags) or cuts to `n` entries.
    pub fn resize(&mut self, n: usize) {
        if n < self.len {
            // Rare (a server announcing fewer messages): rebuild from the cut.
            let mut left = n;
            for b in 0..self.uids.len() {
                let keep = self.uids[b].len().min(left);
                self.uids[b].truncate(keep);
                self.flags[b].truncate(keep);
                left -= keep;
            }
            self.len = n;
            self.rebuild_tree();
            return;
        }
        let mut missing = n - self.len;
        let mut added_blocks = false;
        while missing > 0 {
            let fits = self.uids.last().map_or(0, |l| BLOCK - l.len());
            if fits == 0 {
                self.uids.push(Vec::with_capacity(BLOCK.min(missing)));
                self.flags.push(Vec::with_capacity(BLOCK.min(missing)));
                added_blocks = true;
                continue;
            }
            let take = fits.min(missing);
            let last = self.uids.len() - 1;
            let now = self.uids[last].len();
            self.uids[last].resize(now + take, 0);
            self.flags[last].resize(now + take, 0);
            if !added_blocks {
                self.tree_add(last, take as isize);
            }
            self.len += take;
            missing -= take;
        }
        if added_blocks {
            self.rebuild_tree();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SeqMap;

    #[test]
    fn agrees_with_a_plain_vector() {
        let mut m = SeqMap::default();
        m.resize(3000);
        let mut v: Vec<u32> = (1..=3000).collect();
        for (i, uid) in v.iter().enumerate() {
            m.set_uid(i, *uid);
        }
        // Expunge from the front, the middle and the end, in a fixed pattern.
        let mut x: usize = 7;
        for _ in 0..1500 {
            x = (x * 31 + 17) % v.len();
            assert_eq!(m.remove(x), Some(v.remove(x)));
        }
        m.resize(m.len() + 700);
        v.resize(v.len() + 700, 0);
        assert_eq!(m.len(), v.len());
        for (i, want) in v.iter().enumerate() {
            assert_eq!(m.uid(i), Some(*want), "index {i}");
        }
        assert_eq!(m.uid(v.len()), None);
        for (i, want) in v.iter().enumerate().filter(|(_, u)| **u != 0) {
            assert_eq!(m.position(*want), Some(i));
        }
        assert_eq!(m.position(1_000_000), None);
        m.resize(10);
        v.truncate(10);
        for (i, want) in v.iter().enumerate() {
            assert_eq!(m.uid(i), Some(*want));
        }
    }
}
