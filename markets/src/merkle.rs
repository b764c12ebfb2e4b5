//! Merkle trees for the block header: one over the block's transactions, one over its
//! events (whose leaves are the roots of one events tree per market, so one market's
//! fills can be proven alone) and one over the state (one leaf per account and per
//! market), kept by [`IncrementalTree`] so that a block pays for what it touched.
//!
//! # Format
//!
//! Everything here is SHA-256. A tree is built over a list `D` of `n` leaves, each the
//! 32-byte digest of one item (a transaction id, the hash of an event's encoding, the
//! root of a nested tree); the tree applies the leaf prefix itself, so no caller can
//! hand it a leaf that reads as an inner node.
//!
//! ```text
//! leaf(d)        = SHA-256(0x00 || d)                      d: 32 bytes
//! node(l, r)     = SHA-256(0x01 || l || r)                 l, r: 32 bytes
//! MTH([])        = SHA-256("")                             = EMPTY_TREE_HASH
//!                = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
//! MTH([d])       = leaf(d)
//! MTH(D[0..n])   = node(MTH(D[0..k]), MTH(D[k..n]))        n >= 2, k = the largest
//!                                                          power of two below n
//! root(D)        = SHA-256(0x02 || le64(n) || MTH(D))      le64: 8 bytes, little-endian
//! root([])       = EMPTY_ROOT
//!                = f0c1e0b4cd1983b9c92909f8145cc102993e4c797489c0ba98639fd93056b82f
//! ```
//!
//! `MTH` is exactly the Merkle Tree Hash of RFC 6962 §2.1 (RFC 9162 §2.1.1) with the
//! 32-byte digests as its inputs; the tests check it against Certificate Transparency's
//! reference vectors. The same tree built bottom-up: pair the nodes `(2i, 2i + 1)` of a
//! level; a lone last node moves up to the next level unchanged. An odd node is never
//! paired with a copy of itself, so `[a, b, c]` and `[a, b, c, c]` have different roots
//! (Bitcoin's CVE-2012-2459), and the prefixes 0x00/0x01/0x02 keep leaves, inner nodes
//! and roots from ever being read as one another (the second-preimage class of bugs).
//!
//! The root commits to `n` because an RFC 6962 inclusion proof alone does not: the
//! path that proves leaf 4 of a 5-leaf tree also proves "leaf 1 of a 2-leaf tree" with
//! the same tree hash. With `n` inside the root, a verifier may take `n` from the
//! prover: a wrong `n` gives a different root.
//!
//! # Inclusion proofs
//!
//! A [`Proof`] is the RFC 6962 audit path: the sibling hashes on the way from the leaf
//! to the top, nearest the leaf first, skipping the levels where the node on the path
//! is the lone last node (it has no sibling there). It never holds more than
//! [`PROOF_SIBLINGS_MAX`] hashes. Its Borsh encoding is a `u32` little-endian count
//! followed by the 32-byte hashes. To check that `d` is leaf `index` of a tree of `n`
//! leaves with root `root`:
//!
//! ```text
//! if index >= n: reject
//! h = leaf(d); i = index; w = n; next = 0
//! while w > 1:
//!     if i is odd:        h = node(path[next], h); next += 1   (reject if path is short)
//!     else if i + 1 < w:  h = node(h, path[next]); next += 1
//!     (otherwise i is the lone last node of its level and h moves up unchanged)
//!     i = i / 2; w = ceil(w / 2)
//! accept iff next == len(path) and SHA-256(0x02 || le64(n) || h) == root
//! ```
//!
//! One-shot trees ([`merkle_root`], [`merkle_proof`]) and the incremental tree give the
//! same roots and the same proofs for the same leaves; [`verify_proof`] checks both.
//!
//! ```
//! use markets::merkle::{Hash, IncrementalTree, merkle_root, verify_proof};
//!
//! let leaves: Vec<Hash> = (1..=5u8).map(|i| Hash([i; 32])).collect();
//! let mut state = IncrementalTree::from_leaves(leaves.clone());
//! assert_eq!(state.root(), merkle_root(&leaves));
//!
//! state.set(2, Hash([9; 32]));
//! let root = state.root();
//! let proof = state.proof(2).expect("leaf 2 exists");
//! assert!(verify_proof(root, 2, 5, Hash([9; 32]), &proof));
//! assert!(!verify_proof(root, 2, 5, Hash([3; 32]), &proof));
//! ```

use std::fmt;
use std::mem;

use borsh::{BorshDeserialize, BorshSerialize};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

/// First byte hashed for a leaf.
pub const LEAF_PREFIX: u8 = 0x00;
/// First byte hashed for an inner node.
pub const NODE_PREFIX: u8 = 0x01;
/// First byte hashed for a root, which also commits to the number of leaves.
pub const ROOT_PREFIX: u8 = 0x02;

/// `MTH([])`: SHA-256 of the empty string, as in RFC 6962.
pub const EMPTY_TREE_HASH: Hash =
    Hash::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .expect("a 64-digit hex constant");

/// `root([])` = `SHA-256(0x02 || le64(0) || EMPTY_TREE_HASH)`: the root of a tree with no
/// leaves (a block without transactions, a market without events).
pub const EMPTY_ROOT: Hash =
    Hash::from_hex("f0c1e0b4cd1983b9c92909f8145cc102993e4c797489c0ba98639fd93056b82f")
        .expect("a 64-digit hex constant");

/// The most siblings a proof can hold: a tree of at most `u64::MAX` leaves is at most 64
/// levels tall, and a proof holds at most one sibling per level.
pub const PROOF_SIBLINGS_MAX: usize = 64;

/// Below this many nodes to hash on one level, rayon's overhead outweighs the work
/// (one node is two SHA-256 blocks, well under a microsecond).
const PARALLEL_NODES_MIN: usize = 1024;

/// The dirty list of [`IncrementalTree`] is sorted and deduplicated once it holds at
/// least this many entries and twice as many as there are leaves, so repeated writes to
/// a hot account keep its memory bounded at amortised O(log n) per write.
const DIRTY_COMPACT_MIN: usize = 4096;

/// Written in new slots of the inner levels before they are computed; [`IncrementalTree`]
/// overwrites every one in the same flush, and `check_invariants` would see one left.
const UNCOMPUTED: Hash = Hash([0; 32]);

/// A SHA-256 output: a leaf's digest, an inner node or a root. Shown as 64 lowercase hex
/// digits; Borsh-encoded as its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex digits (either case); `None` for anything else. `const` so golden
    /// hashes can be written as constants.
    pub const fn from_hex(hex: &str) -> Option<Hash> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            let (Some(high), Some(low)) = (hex_value(digits[2 * i]), hex_value(digits[2 * i + 1]))
            else {
                return None;
            };
            bytes[i] = (high << 4) | low;
            i += 1;
        }
        Some(Hash(bytes))
    }
}

const fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Hash {
    /// Lowercase hex, written in one piece: the node names every transaction it
    /// publishes by this, so it avoids 32 formatting calls a hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        f.write_str(std::str::from_utf8(&out).expect("hex digits are ASCII"))
    }
}

/// The full hex, so a failing `assert_eq!` prints something that can be pasted into a
/// golden constant.
impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
thread_local! {
    /// SHA-256 calls made by this thread, so tests can check the cost of `root()`
    /// independently of the tree's own accounting.
    static HASH_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[inline]
fn count_hash_call() {
    #[cfg(test)]
    HASH_CALLS.with(|calls| calls.set(calls.get() + 1));
}

/// `SHA-256(0x00 || bytes)`. The trees call it on each leaf's 32-byte digest; it is
/// public for callers that need the leaf node itself (and for verifiers).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    count_hash_call();
    Hash(
        Sha256::new()
            .chain_update([LEAF_PREFIX])
            .chain_update(bytes)
            .finalize()
            .into(),
    )
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    count_hash_call();
    Hash(
        Sha256::new()
            .chain_update([NODE_PREFIX])
            .chain_update(left.0)
            .chain_update(right.0)
            .finalize()
            .into(),
    )
}

/// `SHA-256(0x02 || le64(len) || tree_hash)`: the root of a tree of `len` leaves whose
/// RFC 6962 tree hash is `tree_hash`.
pub fn root_hash(len: u64, tree_hash: Hash) -> Hash {
    count_hash_call();
    Hash(
        Sha256::new()
            .chain_update([ROOT_PREFIX])
            .chain_update(len.to_le_bytes())
            .chain_update(tree_hash.0)
            .finalize()
            .into(),
    )
}

/// Node `i` of the level above `lower`: its two children hashed together, or its only
/// child moved up unchanged when that child is the lone last node of `lower`.
fn parent(lower: &[Hash], i: usize) -> Hash {
    match lower.get(2 * i + 1) {
        Some(&right) => node_hash(lower[2 * i], right),
        None => lower[2 * i],
    }
}

/// Replaces a level by the level above it, in place: node `i` reads nodes `2i` and
/// `2i + 1`, which no earlier step has overwritten.
fn fold_level(nodes: &mut Vec<Hash>) {
    let width = nodes.len().div_ceil(2);
    for i in 0..width {
        nodes[i] = parent(nodes, i);
    }
    nodes.truncate(width);
}

/// The level above `lower` as a new vector, hashed in parallel when it is wide. Each
/// node depends only on `lower`, and the result keeps index order, so the answer does not
/// depend on the number of threads.
fn next_level(lower: &[Hash]) -> Vec<Hash> {
    let width = lower.len().div_ceil(2);
    if width >= PARALLEL_NODES_MIN {
        (0..width)
            .into_par_iter()
            .map(|i| parent(lower, i))
            .collect()
    } else {
        (0..width).map(|i| parent(lower, i)).collect()
    }
}

/// `MTH` of the given leaf nodes (already leaf-hashed).
fn tree_hash_of_nodes(mut nodes: Vec<Hash>) -> Hash {
    if nodes.is_empty() {
        return EMPTY_TREE_HASH;
    }
    while nodes.len() > 1 {
        if nodes.len() / 2 >= PARALLEL_NODES_MIN {
            nodes = next_level(&nodes);
        } else {
            fold_level(&mut nodes);
        }
    }
    nodes[0]
}

/// The audit path of leaf `index` among the given leaf nodes; `index` must be in range.
fn path_of_nodes(mut nodes: Vec<Hash>, mut index: usize) -> Vec<Hash> {
    assert!(
        index < nodes.len(),
        "merkle: path of leaf {index} of {}",
        nodes.len()
    );
    let mut siblings = Vec::new();
    while nodes.len() > 1 {
        // An odd index always has its left sibling; an even one has a right sibling
        // unless it is the lone last node.
        if let Some(&sibling) = nodes.get(index ^ 1) {
            siblings.push(sibling);
        }
        fold_level(&mut nodes);
        index /= 2;
    }
    siblings
}

/// Recomputes `MTH` from leaf node `leaf` at `index` of `len` and its audit path, or
/// `None` if the path has the wrong length for that position.
fn tree_hash_from_path(index: u64, len: u64, leaf: Hash, siblings: &[Hash]) -> Option<Hash> {
    if index >= len || siblings.len() > PROOF_SIBLINGS_MAX {
        return None;
    }
    let mut siblings = siblings.iter().copied();
    let (mut hash, mut i, mut width) = (leaf, index, len);
    while width > 1 {
        if i % 2 == 1 {
            hash = node_hash(siblings.next()?, hash);
        } else if i + 1 < width {
            hash = node_hash(hash, siblings.next()?);
        }
        i /= 2;
        width = width.div_ceil(2);
    }
    siblings.next().is_none().then_some(hash)
}

fn leaf_nodes(leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() >= PARALLEL_NODES_MIN {
        leaves.par_iter().map(|leaf| leaf_hash(&leaf.0)).collect()
    } else {
        leaves.iter().map(|leaf| leaf_hash(&leaf.0)).collect()
    }
}

/// The root of a tree over `leaves`, in one pass: O(n) hashes. See the module docs for
/// the shape.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    root_hash(leaves.len() as u64, tree_hash_of_nodes(leaf_nodes(leaves)))
}

/// The inclusion proof of leaf `index` of a tree over `leaves`, or `None` if `index` is
/// out of range. O(n) hashes: it rebuilds the tree.
pub fn merkle_proof(leaves: &[Hash], index: usize) -> Option<Proof> {
    (index < leaves.len()).then(|| Proof {
        siblings: path_of_nodes(leaf_nodes(leaves), index),
    })
}

/// Whether `proof` shows that `leaf` is leaf `index` of a tree of `len` leaves whose root
/// is `root`. `len` need not be trusted: the root commits to it. O(log n) hashes.
pub fn verify_proof(root: Hash, index: u64, len: u64, leaf: Hash, proof: &Proof) -> bool {
    tree_hash_from_path(index, len, leaf_hash(&leaf.0), &proof.siblings)
        .is_some_and(|tree_hash| root_hash(len, tree_hash) == root)
}

/// An inclusion proof: the RFC 6962 audit path, nearest the leaf first (see the module
/// docs). Holds at most [`PROOF_SIBLINGS_MAX`] hashes when built here; a longer one read
/// from elsewhere never verifies.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proof {
    siblings: Vec<Hash>,
}

impl Proof {
    /// A proof from its sibling hashes, nearest the leaf first.
    pub fn from_siblings(siblings: Vec<Hash>) -> Self {
        Proof { siblings }
    }

    /// The sibling hashes, nearest the leaf first.
    pub fn siblings(&self) -> &[Hash] {
        &self.siblings
    }
}

/// A Merkle tree over a list of leaves that only grows (state: one leaf per account and
/// per market, addressed by a dense index), whose root costs O(k log n) hashes after `k`
/// leaves were pushed or set, instead of O(n).
///
/// It keeps every level of the bottom-up tree described in the module docs: level 0
/// holds the leaf nodes and level `j` holds `ceil(n / 2^j)` nodes, about `2n` hashes in
/// all. [`push`](Self::push) and [`set`](Self::set) hash the leaf and note its index;
/// [`root`](Self::root) then recomputes only the ancestors of the noted leaves, one level
/// at a time (in parallel with rayon when a level has many of them; the result does not
/// depend on the number of threads). Appending a leaf changes exactly the nodes above
/// it, including any lone last node that gains a sibling, so the same walk covers growth.
///
/// The root, proofs and proof format are those of [`merkle_root`], [`merkle_proof`] and
/// [`verify_proof`] for the same leaves.
#[derive(Clone)]
pub struct IncrementalTree {
    /// `levels[0]` are the leaf nodes; once flushed, `levels[j][i]` is
    /// `parent(&levels[j - 1], i)` and the last level holds the single top node (for
    /// `n >= 1`). Leaves are never removed, so levels never shrink.
    levels: Vec<Vec<Hash>>,
    /// Leaves pushed or set since the last flush; unsorted, possibly repeated.
    dirty: Vec<usize>,
    /// Hashes computed since the last `root()` call, by `push`, `set` and flushes.
    hashes_pending: usize,
    /// Hashes the last `root()` call accounted for.
    hashes_last_root: usize,
    /// The root, while no leaf has changed since it was computed.
    root_cached: Option<Hash>,
}

impl Default for IncrementalTree {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for IncrementalTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncrementalTree")
            .field("len", &self.len())
            .field("levels", &self.levels.len())
            .field("dirty", &self.dirty.len())
            .field("root_cached", &self.root_cached)
            .finish()
    }
}

impl IncrementalTree {
    /// An empty tree; its root is [`EMPTY_ROOT`].
    pub fn new() -> Self {
        IncrementalTree {
            levels: vec![Vec::new()],
            dirty: Vec::new(),
            hashes_pending: 0,
            hashes_last_root: 0,
            root_cached: None,
        }
    }

    /// A tree over `leaves`, built in full (O(n) hashes, in parallel when large).
    pub fn from_leaves(mut leaves: Vec<Hash>) -> Self {
        let n = leaves.len();
        if n >= PARALLEL_NODES_MIN {
            leaves
                .par_iter_mut()
                .for_each(|leaf| *leaf = leaf_hash(&leaf.0));
        } else {
            leaves
                .iter_mut()
                .for_each(|leaf| *leaf = leaf_hash(&leaf.0));
        }
        let mut hashes = n;
        let mut levels = vec![leaves];
        while let Some(lower) = levels.last().filter(|level| level.len() > 1) {
            hashes += lower.len() / 2;
            let upper = next_level(lower);
            levels.push(upper);
        }
        IncrementalTree {
            levels,
            dirty: Vec::new(),
            hashes_pending: hashes,
            hashes_last_root: 0,
            root_cached: None,
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf (an item's 32-byte digest) and returns its index.
    pub fn push(&mut self, leaf: Hash) -> usize {
        let index = self.len();
        self.levels[0].push(leaf_hash(&leaf.0));
        self.hashes_pending += 1;
        self.mark_dirty(index);
        index
    }

    /// Replaces leaf `index`. Writing the value it already holds changes nothing.
    ///
    /// # Panics
    ///
    /// If `index >= len()`: the state layer hands out dense indices, so a larger one is
    /// a bug, not a rejection.
    pub fn set(&mut self, index: usize, leaf: Hash) {
        assert!(
            index < self.len(),
            "merkle: set leaf {index} of a tree of {}",
            self.len()
        );
        let node = leaf_hash(&leaf.0);
        self.hashes_pending += 1;
        if self.levels[0][index] != node {
            self.levels[0][index] = node;
            self.mark_dirty(index);
        }
    }

    fn mark_dirty(&mut self, index: usize) {
        self.root_cached = None;
        self.dirty.push(index);
        if self.dirty.len() >= DIRTY_COMPACT_MIN.max(2 * self.len()) {
            self.dirty.sort_unstable();
            self.dirty.dedup();
        }
    }

    /// The root (see the module docs). Rehashes only the paths of the leaves pushed or
    /// set since the last call: O(k log n) for `k` of them, none if nothing changed.
    pub fn root(&mut self) -> Hash {
        if let Some(root) = self.root_cached {
            // Only writes of unchanged values happened since: their leaf hashes.
            self.hashes_last_root = mem::take(&mut self.hashes_pending);
            return root;
        }
        self.flush();
        let tree_hash = match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => {
                assert!(
                    self.is_empty(),
                    "merkle: a flushed tree of {} leaves",
                    self.len()
                );
                EMPTY_TREE_HASH
            }
        };
        let root = root_hash(self.len() as u64, tree_hash);
        self.hashes_last_root = self.hashes_pending + 1;
        self.hashes_pending = 0;
        self.root_cached = Some(root);
        root
    }

    /// SHA-256 calls accounted to the last [`root`](Self::root) call: those of the
    /// `push`/`set` calls before it (one per leaf), of proofs that flushed changes before
    /// it, of its own recomputation and of the final root hash (the build, for the first
    /// call after [`from_leaves`](Self::from_leaves)). Zero when nothing was written.
    pub fn last_root_hashes(&self) -> usize {
        self.hashes_last_root
    }

    /// The inclusion proof of leaf `index` against the current [`root`](Self::root), or
    /// `None` if `index` is out of range. Brings the inner levels up to date first, so it
    /// needs `&mut self`; then O(log n) to copy the siblings.
    pub fn proof(&mut self, index: usize) -> Option<Proof> {
        if index >= self.len() {
            return None;
        }
        self.flush();
        let below_top = &self.levels[..self.levels.len() - 1];
        let siblings = below_top
            .iter()
            .enumerate()
            .filter_map(|(j, level)| level.get((index >> j) ^ 1).copied())
            .collect();
        Some(Proof { siblings })
    }

    /// Brings every inner level up to date with the leaves.
    fn flush(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        // Give each level its width for the current number of leaves. New slots lie
        // above new leaves, which are all dirty, so the walk below fills every one.
        let mut width = self.len();
        let mut j = 0;
        while width > 1 {
            width = width.div_ceil(2);
            j += 1;
            if j == self.levels.len() {
                self.levels.push(Vec::new());
            }
            self.levels[j].resize(width, UNCOMPUTED);
        }
        assert_eq!(self.levels.len(), j + 1, "merkle: levels never shrink");

        let mut indices = mem::take(&mut self.dirty);
        indices.sort_unstable();
        indices.dedup();
        for j in 1..self.levels.len() {
            // Parents of a sorted, deduplicated list, sorted and deduplicated.
            for index in &mut indices {
                *index /= 2;
            }
            indices.dedup();
            let (below, above) = self.levels.split_at_mut(j);
            let (lower, upper) = (&below[j - 1], &mut above[0]);
            self.hashes_pending += indices.iter().filter(|&&i| 2 * i + 1 < lower.len()).count();
            if indices.len() >= PARALLEL_NODES_MIN {
                let nodes: Vec<Hash> = indices.par_iter().map(|&i| parent(lower, i)).collect();
                for (&i, node) in indices.iter().zip(nodes) {
                    upper[i] = node;
                }
            } else {
                for &i in &indices {
                    upper[i] = parent(lower, i);
                }
            }
        }
        indices.clear();
        self.dirty = indices;
    }

    /// Asserts the tree's invariants. The structural ones always; when no change is
    /// pending, also that every inner node is the hash of its children, which costs O(n)
    /// hashes (tests and debug checks only).
    pub fn check_invariants(&self) {
        let n = self.len();
        assert!(!self.levels.is_empty(), "merkle: level 0 always exists");
        assert!(
            self.dirty.iter().all(|&i| i < n),
            "merkle: a dirty index past the end"
        );
        assert!(
            self.root_cached.is_none() || self.dirty.is_empty(),
            "merkle: a cached root with changes pending"
        );
        if !self.dirty.is_empty() {
            return;
        }
        let mut width = n;
        for (j, level) in self.levels.iter().enumerate() {
            assert_eq!(
                level.len(),
                width,
                "merkle: width of level {j} for {n} leaves"
            );
            if j > 0 {
                let lower = &self.levels[j - 1];
                for (i, &node) in level.iter().enumerate() {
                    assert_eq!(node, parent(lower, i), "merkle: node {i} of level {j}");
                }
            }
            width = width.div_ceil(2);
        }
        let top_width = self.levels.last().map_or(0, Vec::len);
        assert!(
            top_width == n.min(1),
            "merkle: {top_width} top nodes for {n} leaves"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Hash {
        Hash::from_hex(s).expect("64 hex digits")
    }

    /// Distinct leaf digests for the hand-written cases.
    fn digest(i: u8) -> Hash {
        Hash([i + 1; 32])
    }

    /// The low byte of `i`, for spreading test values without a narrowing cast.
    fn low_byte(i: usize) -> u8 {
        i.to_le_bytes()[0]
    }

    fn leaf(d: Hash) -> Hash {
        leaf_hash(&d.0)
    }

    fn hash_calls() -> usize {
        HASH_CALLS.with(std::cell::Cell::get)
    }

    /// RFC 6962 §2.1 as written: split at the largest power of two below n.
    fn reference_tree_hash(nodes: &[Hash]) -> Hash {
        match nodes.len() {
            0 => EMPTY_TREE_HASH,
            1 => nodes[0],
            n => {
                let k = 1 << (n - 1).ilog2();
                node_hash(
                    reference_tree_hash(&nodes[..k]),
                    reference_tree_hash(&nodes[k..]),
                )
            }
        }
    }

    #[test]
    fn constants_match_their_definitions() {
        assert_eq!(EMPTY_TREE_HASH, Hash(Sha256::digest(b"").into()));
        assert_eq!(EMPTY_ROOT, root_hash(0, EMPTY_TREE_HASH));
        let mut expected = vec![ROOT_PREFIX];
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&EMPTY_TREE_HASH.0);
        assert_eq!(EMPTY_ROOT, Hash(Sha256::digest(&expected).into()));
        assert_eq!(merkle_root(&[]), EMPTY_ROOT);
        assert_eq!(IncrementalTree::new().root(), EMPTY_ROOT);
        assert_eq!(IncrementalTree::from_leaves(Vec::new()).root(), EMPTY_ROOT);
        let d = digest(0);
        let mut bytes = vec![LEAF_PREFIX];
        bytes.extend_from_slice(&d.0);
        assert_eq!(leaf(d), Hash(Sha256::digest(&bytes).into()));
        let mut bytes = vec![NODE_PREFIX];
        bytes.extend_from_slice(&d.0);
        bytes.extend_from_slice(&EMPTY_TREE_HASH.0);
        assert_eq!(
            node_hash(d, EMPTY_TREE_HASH),
            Hash(Sha256::digest(&bytes).into())
        );
        assert_eq!(hex(&EMPTY_ROOT.to_string()), EMPTY_ROOT);
        assert_eq!(format!("{EMPTY_TREE_HASH:?}"), EMPTY_TREE_HASH.to_string());
        assert_eq!(Hash::from_hex("e3"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
    }

    /// The shape, pinned: each root written out as nodes, and as golden hex computed by an
    /// independent implementation (Python's hashlib). Changing these changes every block
    /// hash; do it deliberately.
    #[test]
    fn small_trees_by_hand() {
        let d: Vec<Hash> = (0..5).map(digest).collect();
        let l: Vec<Hash> = d.iter().map(|&d| leaf(d)).collect();
        let cases: [(usize, Hash, &str); 5] = [
            (
                0,
                EMPTY_TREE_HASH,
                "f0c1e0b4cd1983b9c92909f8145cc102993e4c797489c0ba98639fd93056b82f",
            ),
            (
                1,
                l[0],
                "517c18267158346e1c22374864b559059a3dcea0b7366053108e54fe59b8004a",
            ),
            (
                2,
                node_hash(l[0], l[1]),
                "8b3f15638b03060d3d741e6dcfa392cb46f9c4e962566c013de8a5e3797ba372",
            ),
            (
                3,
                node_hash(node_hash(l[0], l[1]), l[2]),
                "ec55c3ee79b1750f70a861463d36e5b843dd6f9b51ecf8ef964a46e3b7d938fa",
            ),
            (
                5,
                node_hash(
                    node_hash(node_hash(l[0], l[1]), node_hash(l[2], l[3])),
                    l[4],
                ),
                "fc5dc4f579d68e0376b3e8acfb3861c077c99154415eff89653be6d5ca76439d",
            ),
        ];
        for (n, tree_hash, golden) in cases {
            let root = root_hash(n as u64, tree_hash);
            assert_eq!(root, hex(golden), "{n} leaves");
            assert_eq!(merkle_root(&d[..n]), root, "{n} leaves, one-shot");
            assert_eq!(
                IncrementalTree::from_leaves(d[..n].to_vec()).root(),
                root,
                "{n} built"
            );
            let mut pushed = IncrementalTree::new();
            for &digest in &d[..n] {
                pushed.push(digest);
            }
            assert_eq!(pushed.root(), root, "{n} leaves pushed one by one");
            pushed.check_invariants();
        }

        // Proofs in the 5-leaf tree, by hand.
        let (n01, n23) = (node_hash(l[0], l[1]), node_hash(l[2], l[3]));
        let root = merkle_root(&d);
        let expected = [
            (0, vec![l[1], n23, l[4]]),
            (2, vec![l[3], n01, l[4]]),
            (3, vec![l[2], n01, l[4]]),
            (4, vec![node_hash(n01, n23)]),
        ];
        let mut tree = IncrementalTree::from_leaves(d.clone());
        for (index, siblings) in expected {
            let proof = Proof::from_siblings(siblings);
            assert_eq!(merkle_proof(&d, index), Some(proof.clone()), "leaf {index}");
            assert_eq!(tree.proof(index), Some(proof.clone()), "leaf {index}");
            assert!(
                verify_proof(root, index as u64, 5, d[index], &proof),
                "leaf {index}"
            );
        }
        assert_eq!(merkle_proof(&d, 5), None);
        assert_eq!(tree.proof(5), None);
        assert_eq!(
            merkle_proof(&d[..1], 0),
            Some(Proof::from_siblings(Vec::new()))
        );
    }

    /// Certificate Transparency's reference tree (RFC 6962): leaf inputs, the tree hash
    /// of each prefix and some audit paths. Our `MTH` must be theirs exactly.
    #[test]
    fn certificate_transparency_vectors() {
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let nodes: Vec<Hash> = inputs.iter().map(|input| leaf_hash(input)).collect();
        assert_eq!(tree_hash_of_nodes(Vec::new()), EMPTY_TREE_HASH);
        for (n, root) in (1..=8).zip(roots) {
            assert_eq!(
                tree_hash_of_nodes(nodes[..n].to_vec()),
                hex(root),
                "{n} leaves"
            );
            assert_eq!(reference_tree_hash(&nodes[..n]), hex(root), "{n} leaves");
        }
        let paths: [(usize, usize, &[&str]); 7] = [
            (1, 0, &[]),
            (
                2,
                0,
                &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
            ),
            (
                2,
                1,
                &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
            ),
            (
                3,
                2,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                5,
                1,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                8,
                0,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                8,
                5,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (n, index, path) in paths {
            let path: Vec<Hash> = path.iter().map(|h| hex(h)).collect();
            assert_eq!(
                path_of_nodes(nodes[..n].to_vec(), index),
                path,
                "leaf {index} of {n}"
            );
            let tree_hash = tree_hash_from_path(index as u64, n as u64, nodes[index], &path);
            assert_eq!(tree_hash, Some(hex(roots[n - 1])), "leaf {index} of {n}");
        }
    }

    #[test]
    fn shape_matches_rfc_6962_for_every_size_up_to_100() {
        let d: Vec<Hash> = (0..100).map(|i| Hash([i; 32])).collect();
        let nodes = leaf_nodes(&d);
        for n in 0..=d.len() {
            let tree_hash = reference_tree_hash(&nodes[..n]);
            assert_eq!(
                merkle_root(&d[..n]),
                root_hash(n as u64, tree_hash),
                "{n} leaves"
            );
        }
    }

    /// Bitcoin pairs a lone last node with a copy of itself, so `[a, b, c]` and
    /// `[a, b, c, c]` share a root there (CVE-2012-2459). Not here, even before the length
    /// is mixed in.
    #[test]
    fn odd_nodes_are_never_duplicated() {
        let d: Vec<Hash> = (0..3).map(digest).collect();
        let mut doubled = d.clone();
        doubled.push(d[2]);
        assert_ne!(
            tree_hash_of_nodes(leaf_nodes(&d)),
            tree_hash_of_nodes(leaf_nodes(&doubled))
        );
        assert_ne!(merkle_root(&d), merkle_root(&doubled));
    }

    /// An inner node offered as a leaf digest is leaf-hashed again, so it cannot stand in
    /// for its subtree.
    #[test]
    fn an_inner_node_is_not_a_leaf() {
        let d: Vec<Hash> = (0..4).map(digest).collect();
        let l: Vec<Hash> = d.iter().map(|&d| leaf(d)).collect();
        let (n01, n23) = (node_hash(l[0], l[1]), node_hash(l[2], l[3]));
        let root = merkle_root(&d);
        assert!(!verify_proof(
            root,
            0,
            2,
            n01,
            &Proof::from_siblings(vec![n23])
        ));
        assert!(!verify_proof(
            root,
            0,
            4,
            n01,
            &Proof::from_siblings(vec![n23])
        ));
        assert_ne!(merkle_root(&[n01, n23]), root);
    }

    /// Why the root commits to the number of leaves: the audit path of leaf 4 of 5 is also
    /// a valid RFC 6962 path for leaf 1 of 2, with the same tree hash.
    #[test]
    fn the_root_binds_the_length_that_a_path_does_not() {
        let d: Vec<Hash> = (0..5).map(digest).collect();
        let proof = merkle_proof(&d, 4).expect("leaf 4 exists");
        let as_leaf_4_of_5 = tree_hash_from_path(4, 5, leaf(d[4]), proof.siblings());
        let as_leaf_1_of_2 = tree_hash_from_path(1, 2, leaf(d[4]), proof.siblings());
        assert_eq!(as_leaf_4_of_5, as_leaf_1_of_2);
        let root = merkle_root(&d);
        assert!(verify_proof(root, 4, 5, d[4], &proof));
        assert!(!verify_proof(root, 1, 2, d[4], &proof));
    }

    #[test]
    fn malformed_proofs_are_rejected() {
        let d: Vec<Hash> = (0..6).map(digest).collect();
        let root = merkle_root(&d);
        let proof = merkle_proof(&d, 3).expect("leaf 3 exists");
        assert!(verify_proof(root, 3, 6, d[3], &proof));
        let mut longer = proof.siblings().to_vec();
        longer.push(d[0]);
        assert!(!verify_proof(
            root,
            3,
            6,
            d[3],
            &Proof::from_siblings(longer)
        ));
        let shorter = proof.siblings()[..proof.siblings().len() - 1].to_vec();
        assert!(!verify_proof(
            root,
            3,
            6,
            d[3],
            &Proof::from_siblings(shorter)
        ));
        assert!(!verify_proof(root, 6, 6, d[3], &proof));
        assert!(!verify_proof(root, u64::MAX, u64::MAX, d[3], &proof));
        assert!(!verify_proof(
            EMPTY_ROOT,
            0,
            0,
            d[0],
            &Proof::from_siblings(Vec::new())
        ));
        let huge = Proof::from_siblings(vec![d[0]; PROOF_SIBLINGS_MAX + 1]);
        assert!(!verify_proof(root, 0, u64::MAX, d[0], &huge));
        let encoded = borsh::to_vec(&proof).expect("encodes");
        assert_eq!(encoded.len(), 4 + 32 * proof.siblings().len());
        assert_eq!(Proof::try_from_slice(&encoded).expect("decodes"), proof);
    }

    /// Writing the value a leaf already holds leaves the root cached.
    #[test]
    fn rewriting_a_leaf_with_its_value_costs_one_hash() {
        let d: Vec<Hash> = (0..9).map(digest).collect();
        let mut tree = IncrementalTree::from_leaves(d.clone());
        tree.root();
        tree.set(4, d[4]);
        assert_eq!(tree.root(), merkle_root(&d));
        assert_eq!(tree.last_root_hashes(), 1);
        assert_eq!(tree.root(), merkle_root(&d));
        assert_eq!(tree.last_root_hashes(), 0);
    }

    /// The cost of `root()` after `k` writes to a tree of 2^16 leaves: at most one leaf
    /// hash plus 16 node hashes per write, plus the root hash; checked against a count
    /// of the SHA-256 calls actually made. Runs in a one-thread pool so every call lands
    /// on the thread that counts them.
    #[test]
    fn root_after_k_writes_costs_k_log_n() {
        const LOG_N: usize = 16;
        let n = 1 << LOG_N;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a pool");
        pool.install(|| {
            let mut model: Vec<Hash> = (0..n).map(|i: usize| digest(low_byte(i % 251))).collect();
            let mut tree = IncrementalTree::from_leaves(model.clone());
            assert_eq!(tree.root(), merkle_root(&model));
            assert_eq!(tree.last_root_hashes(), n + (n - 1) + 1);
            for (round, k) in [1usize, 10, 100, 1000, 4000].into_iter().enumerate() {
                let before = hash_calls();
                for i in 0..k {
                    // 40503 is odd, so i -> 40503 i mod 2^16 is a bijection: k distinct leaves.
                    let index = (i * 40503 + round) % n;
                    let value = Hash([low_byte(round + 7); 32]);
                    model[index] = value;
                    tree.set(index, value);
                }
                let root = tree.root();
                let spent = hash_calls() - before;
                assert_eq!(tree.last_root_hashes(), spent, "k = {k}");
                assert!(spent <= k * (1 + LOG_N) + 1, "k = {k}: {spent} hashes");
                eprintln!("n = {n}, k = {k}: {spent} hashes (bound k(1 + log2 n) + 1)");
                assert_eq!(root, merkle_root(&model), "k = {k}");
            }
            // Appending k leaves: k leaf hashes, about k node hashes, and one path.
            for k in [1usize, 1000] {
                let before = hash_calls();
                for i in 0..k {
                    let value = digest(low_byte(i % 13));
                    model.push(value);
                    tree.push(value);
                }
                let root = tree.root();
                let spent = hash_calls() - before;
                assert_eq!(tree.last_root_hashes(), spent, "push k = {k}");
                assert!(
                    spent <= 2 * k + 2 * (LOG_N + 1) + 1,
                    "push k = {k}: {spent} hashes"
                );
                eprintln!("n = {}, pushed k = {k}: {spent} hashes", model.len());
                assert_eq!(root, merkle_root(&model), "push k = {k}");
            }
            tree.check_invariants();
        });
    }

    /// The same writes on 1, 2 and 8 threads give the same root, with levels wide enough
    /// to take the parallel path.
    #[test]
    fn parallel_equals_sequential() {
        let n = 3 * PARALLEL_NODES_MIN + 17;
        let leaves: Vec<Hash> = (0..n).map(|i| digest(low_byte(i % 200))).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut tree = IncrementalTree::from_leaves(leaves.clone());
                let mut roots = vec![tree.root()];
                for i in (0..n).step_by(2) {
                    tree.set(i, Hash([low_byte(i % 97); 32]));
                }
                for i in 0..PARALLEL_NODES_MIN + 5 {
                    tree.push(Hash([low_byte(i % 89); 32]));
                }
                roots.push(tree.root());
                tree.check_invariants();
                roots
            })
        };
        let sequential = run(1);
        assert_eq!(run(2), sequential);
        assert_eq!(run(8), sequential);
        let mut model = leaves.clone();
        for i in (0..n).step_by(2) {
            model[i] = Hash([low_byte(i % 97); 32]);
        }
        model.extend((0..PARALLEL_NODES_MIN + 5).map(|i| Hash([low_byte(i % 89); 32])));
        assert_eq!(sequential, vec![merkle_root(&leaves), merkle_root(&model)]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Set(prop::sample::Index, u8),
        /// Rebuild from the leaves, as a node does after a restart.
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(Op::Push),
            4 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Op::Set(i, v)),
            1 => Just(Op::Restart),
        ]
    }

    /// Every proof of the tree verifies, and fails for another leaf, another index
    /// holding a different leaf, another root, another length or a truncated path.
    fn check_proofs(tree: &mut IncrementalTree, model: &[Hash], root: Hash) {
        let n = model.len() as u64;
        for (index, &leaf) in model.iter().enumerate() {
            let proof = tree.proof(index).expect("index in range");
            let i = index as u64;
            assert!(
                verify_proof(root, i, n, leaf, &proof),
                "leaf {index} of {n}"
            );
            let mut other = leaf;
            other.0[31] ^= 1;
            assert!(
                !verify_proof(root, i, n, other, &proof),
                "changed leaf {index}"
            );
            assert!(!verify_proof(other, i, n, leaf, &proof), "another root");
            assert!(
                !verify_proof(root, i, n + 1, leaf, &proof),
                "leaf {index} of n + 1"
            );
            let j = (index + 1) % model.len();
            if model[j] != leaf {
                assert!(
                    !verify_proof(root, j as u64, n, leaf, &proof),
                    "leaf {index} at {j}"
                );
            }
            if let Some((_, shorter)) = proof.siblings().split_last() {
                let shorter = Proof::from_siblings(shorter.to_vec());
                assert!(
                    !verify_proof(root, i, n, leaf, &shorter),
                    "short path {index}"
                );
            }
        }
        // The one-shot proof is the same, for a few leaves (it costs O(n) each).
        for index in [0, model.len() / 2, model.len() - 1] {
            assert_eq!(
                tree.proof(index),
                merkle_proof(model, index),
                "leaf {index} of {n}"
            );
        }
    }

    proptest! {
        /// Random pushes, writes and restarts against a plain `Vec` of leaves: after each
        /// step (a batch of operations, so `root()` sees several changes at once) the
        /// incremental root equals the one-shot root of the model and every proof checks.
        #[test]
        fn incremental_tree_matches_model(
            steps in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..16)
        ) {
            let mut model: Vec<Hash> = Vec::new();
            let mut tree = IncrementalTree::new();
            for step in steps {
                for op in step {
                    match op {
                        Op::Push(v) => {
                            let index = tree.push(Hash([v; 32]));
                            prop_assert_eq!(index, model.len());
                            model.push(Hash([v; 32]));
                        }
                        Op::Set(_, v) if model.is_empty() => {
                            tree.push(Hash([v; 32]));
                            model.push(Hash([v; 32]));
                        }
                        Op::Set(index, v) => {
                            let index = index.index(model.len());
                            tree.set(index, Hash([v; 32]));
                            model[index] = Hash([v; 32]);
                        }
                        Op::Restart => tree = IncrementalTree::from_leaves(model.clone()),
                    }
                    tree.check_invariants();
                    prop_assert_eq!(tree.len(), model.len());
                }
                let root = tree.root();
                prop_assert_eq!(root, merkle_root(&model));
                tree.check_invariants();
                if !model.is_empty() {
                    check_proofs(&mut tree, &model, root);
                }
                prop_assert_eq!(tree.proof(model.len()), None);
            }
        }
    }
}
