//! [`OrderIndex`]: order id → order slot, the book's hottest lookup.
//!
//! Open addressing with linear probing over 16-byte entries, at most half full, with
//! backward-shift deletion (no tombstones), keyed by hashbrown's default hasher (seeded
//! per process, so ids chosen to collide cannot be computed in advance). It is used
//! rather than a `HashMap` for one reason: the entry where a key's probe starts is known
//! before the probe, so [`OrderIndex::prefetch`] can warm the cache a few commands
//! ahead (see [`crate::Book::execute_all`]). Its layout is never observed: nothing
//! iterates it, so the per-process seed cannot reach any output.

use std::hash::BuildHasher;

use crate::OrderId;

/// The slot value that marks a vacant entry (no order slot reaches it: slots are
/// bounded by `orders_per_book_max`).
const VACANT_SLOT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u64,
    slot: u32,
}

const VACANT: Entry = Entry {
    key: 0,
    slot: VACANT_SLOT,
};

/// Order id → slot. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct OrderIndex {
    /// A power of two long, at most half occupied.
    entries: Vec<Entry>,
    len: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

impl OrderIndex {
    const MIN_CAPACITY: usize = 16;

    pub(crate) fn new() -> OrderIndex {
        OrderIndex {
            entries: vec![VACANT; Self::MIN_CAPACITY],
            len: 0,
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// Where `key`'s probe starts.
    #[inline]
    fn home(&self, key: u64) -> usize {
        let hash = self.hasher.hash_one(key);
        // Masked to the table's length, which is a usize.
        #[allow(clippy::cast_possible_truncation)]
        let home = (hash & self.mask() as u64) as usize;
        home
    }

    /// The position of `key`'s entry (`true`), or of the vacant entry where it would go
    /// (`false`).
    #[inline]
    fn find(&self, key: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut at = self.home(key);
        loop {
            let entry = self.entries[at];
            if entry.slot == VACANT_SLOT {
                return (at, false);
            }
            if entry.key == key {
                return (at, true);
            }
            at = (at + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: OrderId) -> Option<u32> {
        let (at, found) = self.find(id.0);
        found.then(|| self.entries[at].slot)
    }

    #[inline]
    pub(crate) fn contains(&self, id: OrderId) -> bool {
        self.find(id.0).1
    }

    /// Maps `id` to `slot`; returns the slot it had before.
    pub(crate) fn insert(&mut self, id: OrderId, slot: u32) -> Option<u32> {
        assert_ne!(slot, VACANT_SLOT, "slot {VACANT_SLOT} marks vacant entries");
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        let (at, found) = self.find(id.0);
        let previous = found.then(|| self.entries[at].slot);
        if !found {
            self.len += 1;
        }
        self.entries[at] = Entry { key: id.0, slot };
        previous
    }

    /// Unmaps `id`; returns the slot it had. The entries after it in its run move back
    /// over the hole unless that would put one before its home, so no probe ever needs
    /// a tombstone.
    pub(crate) fn remove(&mut self, id: OrderId) -> Option<u32> {
        let (mut hole, found) = self.find(id.0);
        if !found {
            return None;
        }
        let removed = self.entries[hole].slot;
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let entry = self.entries[at];
            if entry.slot == VACANT_SLOT {
                break;
            }
            let home = self.home(entry.key);
            // The entry stays if its home lies cyclically in (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.entries[hole] = entry;
                hole = at;
            }
        }
        self.entries[hole] = VACANT;
        self.len -= 1;
        Some(removed)
    }

    /// Hints the CPU to fetch the line where `id`'s probe starts. No effect on results.
    #[inline]
    pub(crate) fn prefetch(&self, id: OrderId) {
        crate::prefetch::prefetch(&self.entries[self.home(id.0)]);
    }

    fn grow(&mut self) {
        let doubled = vec![VACANT; self.entries.len() * 2];
        let old = std::mem::replace(&mut self.entries, doubled);
        for entry in old {
            if entry.slot != VACANT_SLOT {
                let (at, found) = self.find(entry.key);
                assert!(!found, "order id {} indexed twice", entry.key);
                self.entries[at] = entry;
            }
        }
    }

    /// Panics unless every entry is found where a probe for its key looks, the count is
    /// right and the table is at most half full.
    pub(crate) fn check_invariants(&self) {
        assert!(self.entries.len().is_power_of_two(), "index length");
        assert!(self.len * 2 <= self.entries.len(), "index over half full");
        let mut occupied = 0;
        for (at, entry) in self.entries.iter().enumerate() {
            if entry.slot != VACANT_SLOT {
                occupied += 1;
                assert_eq!(
                    self.find(entry.key),
                    (at, true),
                    "order id {} is not where its probe looks",
                    entry.key
                );
            }
        }
        assert_eq!(occupied, self.len, "index count");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The index agrees with a `BTreeMap` after every insert and remove, over keys
        /// drawn from a small range so that runs, wrap-around and backward shifts are
        /// exercised.
        #[test]
        fn agrees_with_a_map(ops in prop::collection::vec((any::<bool>(), 0u64..200, 0u32..1000), 1..600)) {
            let mut index = OrderIndex::new();
            let mut model = BTreeMap::new();
            for (insert, key, slot) in ops {
                if insert {
                    prop_assert_eq!(index.insert(OrderId(key), slot), model.insert(key, slot));
                } else {
                    prop_assert_eq!(index.remove(OrderId(key)), model.remove(&key));
                }
                prop_assert_eq!(index.len(), model.len());
                index.check_invariants();
            }
            for key in 0..200 {
                prop_assert_eq!(index.get(OrderId(key)), model.get(&key).copied());
                prop_assert_eq!(index.contains(OrderId(key)), model.contains_key(&key));
            }
        }
    }

    #[test]
    fn grows_and_keeps_every_entry() {
        let mut index = OrderIndex::new();
        for key in 0..10_000u64 {
            assert_eq!(
                index.insert(OrderId(key * 7919), u32::try_from(key).unwrap()),
                None
            );
        }
        index.check_invariants();
        for key in (0..10_000u64).step_by(3) {
            assert_eq!(
                index.remove(OrderId(key * 7919)),
                Some(u32::try_from(key).unwrap())
            );
        }
        index.check_invariants();
        assert_eq!(index.get(OrderId(7919)), Some(1));
        assert_eq!(index.get(OrderId(0)), None);
    }
}
