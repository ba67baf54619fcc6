//! The uuids an import has met, per UTC day, for exact dedupe at a fraction of their size.
//!
//! A day keeps a 64-bit fingerprint of each 16-byte uuid, in a sorted array (8 bytes a uuid,
//! no hash-table slack) with a small hash set of the latest ones in front of it. A fingerprint
//! not met before is a new uuid, exactly (equal uuids have equal fingerprints). A fingerprint
//! met before is checked exactly: the day's full uuids are read back once (its stored blocks and
//! the block being filled) and the day keeps them from then on. Two different uuids of one day
//! share a fingerprint with a probability of about n²/2⁶⁵ (10⁻¹⁰ for a day of 50,000 events),
//! so in practice only a day that really has a duplicate pays for the exact set. Uuids that are
//! not 32 hex digits are kept as their text.

use rustc_hash::FxHashSet;

use super::blocks::UuidRef;

/// Fingerprints held in the unsorted set before they are merged into the sorted array.
const RECENT: usize = 4096;

/// The uuids of one day.
#[derive(Default)]
pub(super) struct DayUuids {
    /// Fingerprints merged so far, ascending, without repeats.
    sorted: Vec<u64>,
    /// The latest fingerprints, not yet in `sorted`.
    recent: FxHashSet<u64>,
    /// The full uuids, once a fingerprint of this day was met twice (`sorted` and `recent` are
    /// then empty and unused).
    exact: Option<FxHashSet<u128>>,
    text: FxHashSet<String>,
}

/// What [`DayUuids::insert`] can tell on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sight {
    /// Not met before: noted.
    New,
    /// Met before.
    Seen,
    /// Its fingerprint was met before: the day's full uuids are needed to tell
    /// ([`DayUuids::make_exact`], then insert again).
    Unsure,
}

/// A 64-bit fingerprint of a uuid: both halves through a bijective mixer, so that structured
/// uuids (v7 shares its leading time bits within a day) spread evenly.
pub(super) fn fingerprint(uuid: u128) -> u64 {
    mix(((uuid >> 64) as u64) ^ mix(uuid as u64).rotate_left(32))
}

/// The finaliser of MurmurHash3: a bijection on `u64` that spreads every input bit.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl DayUuids {
    /// Notes `uuid` unless it was met before (see [`Sight`]).
    pub(super) fn insert(&mut self, uuid: UuidRef<'_>) -> Sight {
        let bytes = match uuid {
            UuidRef::Text(t) => {
                return if self.text.contains(t) {
                    Sight::Seen
                } else {
                    self.text.insert(t.to_string());
                    Sight::New
                };
            }
            UuidRef::Bytes(b) => u128::from_be_bytes(b),
        };
        if let Some(exact) = &mut self.exact {
            return if exact.insert(bytes) {
                Sight::New
            } else {
                Sight::Seen
            };
        }
        let fp = fingerprint(bytes);
        if self.recent.contains(&fp) || self.sorted.binary_search(&fp).is_ok() {
            return Sight::Unsure;
        }
        self.recent.insert(fp);
        if self.recent.len() >= RECENT {
            self.merge_recent();
        }
        Sight::New
    }

    /// Switches the day to its full uuids: every 16-byte uuid it has met, read back by the
    /// caller. Text uuids stay as they are.
    pub(super) fn make_exact(&mut self, all: FxHashSet<u128>) {
        self.exact = Some(all);
        self.sorted = Vec::new();
        self.recent = FxHashSet::default();
    }

    /// Moves the recent fingerprints into the sorted array (one merge from the back, in place;
    /// the array grows to its exact size).
    fn merge_recent(&mut self) {
        let mut add: Vec<u64> = self.recent.drain().collect();
        self.recent = FxHashSet::default();
        add.sort_unstable();
        let old = self.sorted.len();
        self.sorted.reserve_exact(add.len());
        self.sorted.resize(old + add.len(), 0);
        let (mut i, mut j, mut k) = (old, add.len(), old + add.len());
        while j > 0 {
            if i > 0 && self.sorted[i - 1] > add[j - 1] {
                self.sorted[k - 1] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k - 1] = add[j - 1];
                j -= 1;
            }
            k -= 1;
        }
    }
}

#[cfg(test)]
/// A second uuid with `uuid`'s fingerprint and a different low half.
pub(super) fn twin(uuid: u128) -> u128 {
    let (hi, lo) = ((uuid >> 64) as u64, uuid as u64);
    let lo2 = lo ^ 0x5555;
    let hi2 = hi ^ mix(lo).rotate_left(32) ^ mix(lo2).rotate_left(32);
    (u128::from(hi2) << 64) | u128::from(lo2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins_share_a_fingerprint() {
        let u = 0x019a_e74d_6380_7853_b5c5_038b_601b_35b6u128;
        assert_ne!(twin(u), u);
        assert_eq!(fingerprint(twin(u)), fingerprint(u));
    }

    #[test]
    fn fingerprints_tell_new_from_met_and_a_shared_one_asks_for_the_exact_set() {
        let mut day = DayUuids::default();
        let b = |u: u128| UuidRef::Bytes(u.to_be_bytes());
        // Enough to go through several merges into the sorted array.
        for i in 0..(3 * RECENT as u128 + 17) {
            assert_eq!(day.insert(b(i * 7919)), Sight::New, "{i}");
        }
        assert!(day.sorted.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(day.sorted.len() + day.recent.len(), 3 * RECENT + 17);
        // Met before, whether merged or recent: not decided without the full uuids.
        assert_eq!(day.insert(b(7919)), Sight::Unsure);
        assert_eq!(day.insert(b(3 * RECENT as u128 * 7919)), Sight::Unsure);
        // A different uuid with the same fingerprint is not taken for a duplicate either.
        let u = 5 * 7919;
        assert_eq!(day.insert(b(twin(u))), Sight::Unsure);
        day.make_exact((0..(3 * RECENT as u128 + 17)).map(|i| i * 7919).collect());
        assert!(day.exact.is_some());
        assert_eq!(day.insert(b(twin(u))), Sight::New);
        assert_eq!(day.insert(b(twin(u))), Sight::Seen);
        assert_eq!(day.insert(b(u)), Sight::Seen);
        assert_eq!(day.insert(UuidRef::Text("not-hex")), Sight::New);
        assert_eq!(day.insert(UuidRef::Text("not-hex")), Sight::Seen);
    }
}
