//! Key → hash slot mapping (CRC16/XMODEM with hash tags) and a 16384-bit slot set.

use crc::{Crc, Table, CRC_16_XMODEM};

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: usize = 16384;

/// Slice-by-16 tables (8 KiB): several times faster than one byte per lookup on long keys.
const CRC16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);

/// CRC16/XMODEM as Redis Cluster uses it.
pub fn crc16(data: &[u8]) -> u16 {
    CRC16.checksum(data)
}

/// The part of a key that is hashed: the text between the first `{` and the first `}` after
/// it when that text is non-empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of a key.
pub fn key_hash_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & 0x3FFF
}

/// A set of slots as a bitmap: slot `s` is byte `s / 8`, bit `s % 8` (LSB first), the layout the
/// cluster bus uses.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SlotSet(pub Box<[u8; SLOT_COUNT / 8]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOT_COUNT / 8]))
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet({})", format_ranges(&self.ranges()))
    }
}

impl SlotSet {
    pub fn contains(&self, slot: u16) -> bool {
        let s = slot as usize;
        self.0[s / 8] & (1 << (s % 8)) != 0
    }

    pub fn insert(&mut self, slot: u16) {
        let s = slot as usize;
        self.0[s / 8] |= 1 << (s % 8);
    }

    pub fn remove(&mut self, slot: u16) {
        let s = slot as usize;
        self.0[s / 8] &= !(1 << (s % 8));
    }

    pub fn count(&self) -> usize {
        self.words().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words().all(|w| w == 0)
    }

    /// The bitmap eight bytes at a time (hot in the cron's coverage check).
    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.0
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.words().enumerate().flat_map(|(i, w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some((i * 64 + bit as usize) as u16)
            })
        })
    }

    /// Runs of consecutive slots as inclusive `(start, end)` pairs, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        ranges_of(self.iter())
    }
}

/// Groups ascending slots into inclusive runs.
pub fn ranges_of(slots: impl Iterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in slots {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// `0-5460 7 9-10` as `CLUSTER NODES` prints slot runs.
pub fn format_ranges(ranges: &[(u16, u16)]) -> String {
    crate::text::ranges_text(ranges.iter().copied(), ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_of_reference_keys() {
        let cases: &[(&[u8], u16)] = &[
            (b"123456789", 12739),
            (b"key", 12539),
            (b"key2", 4998),
            (b"foo", 12182),
            (b"bar", 5061),
            (b"{user1000}.following", 3443),
            (b"{user1000}.followers", 3443),
            (b"user:{123}:profile", 5970),
            (b"", 0),
            (b"{}", 15257),
            (b"{{a}}", 10276),
            (b"foo{{bar}}zap", 4015),
            (b"foo{}{bar}", 8363),
            (b"foo{bar}{zap}", 5061),
            (b"a{b", 13340),
            (b"a}b{c}", 7365),
        ];
        for (key, slot) in cases {
            assert_eq!(
                key_hash_slot(key),
                *slot,
                "key {:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn slot_set_ranges() {
        let mut set = SlotSet::default();
        for s in [0, 1, 2, 7, 9, 10, 16383] {
            set.insert(s);
        }
        assert_eq!(set.count(), 7);
        assert_eq!(format_ranges(&set.ranges()), "0-2 7 9-10 16383");
        set.remove(1);
        assert!(!set.contains(1));
        assert_eq!(format_ranges(&set.ranges()), "0 2 7 9-10 16383");
    }
}
