//! Transaction signature verification: the chain's ed25519 validity rule, and
//! batched, parallel verification that reaches exactly the verdicts of checking
//! signatures one at a time.
//!
//! ```text
//!  items ──par_chunks(chunk)──▶ verify_batch ──▶ one multiscalar equation per chunk
//!                                    │                 │ fails
//!                                    │                 ▼
//!                                    │           bisect: halves, quarters, … single checks
//!                                    ▼
//!                     Vec<bool>, concatenated in input order == items.map(verify_one)
//! ```
//!
//! # The validity rule
//!
//! A signature `R_bytes || s_bytes` (64 bytes) on message `M` under the account
//! key `A` (an [`AccountKey`], 32 bytes `A_bytes`) is valid if and only if:
//!
//! 1. `s_bytes` is the canonical little-endian encoding of an integer `s < l`,
//!    where `l = 2^252 + 27742317777372353535851937790883648493` is the order of
//!    the base point `B` (`Scalar::from_canonical_bytes`). `s + l` is rejected.
//! 2. `R_bytes` decompresses to a curve point `R` (`CompressedEdwardsY::decompress`).
//!    Any point is allowed: small-order, mixed-order, and non-canonical
//!    encodings alike. `R_bytes` enters the hash exactly as given.
//! 3. `[8]([s]B − R − [k]A)` is the identity, where
//!    `k = SHA-512(R_bytes || A_bytes || M) mod l`.
//!
//! The account key was checked once, when it was accepted ([`AccountKey::from_bytes`]):
//! it decompresses, is canonically encoded and is not of small order. It is not
//! checked again for each signature.
//!
//! # Why the cofactored equation
//!
//! clobchain verifies signatures in batches spread over all cores, and every
//! validator must reach the same verdict whatever the batch composition, chunk
//! size or thread count. The cofactorless equation `[s]B = R + [k]A` (what
//! `ed25519_dalek::verify_batch` 3.0 checks inside its random linear combination)
//! does not have that property. A signer can put a small torsion component `T` in `R`:
//! single cofactorless verification then always rejects, but a batch sees
//! `z·T` for a random weight `z` and accepts whenever `z·T` vanishes, which happens with
//! probability up to 1/2. The verdict would then depend on how transactions were
//! batched, and validators would split on consensus.
//!
//! Multiplying by the cofactor 8 kills every torsion component. Each term
//! `P_i = [8]([s_i]B − R_i − [k_i]A_i)` then lies in the prime-order subgroup, and the
//! batch equation `Σ z_i·P_i = 0` with 128-bit weights `z_i` is satisfied with at most one
//! bad `P_i ≠ 0` for at most one value of `z_i` mod `l`. So the batch and single verdicts
//! agree except with probability about `2^-128`, and a batch of valid signatures is
//! *always* accepted (the identity is linear). This is the same choice as Zcash's
//! ZIP-215.
//!
//! # Difference from `ed25519_dalek::VerifyingKey::verify_strict`
//!
//! `verify_strict` uses the cofactorless equation and additionally rejects a
//! small-order `R` (and a small-order key). It therefore rejects the torsioned-`R`
//! signatures this rule accepts. Accepting them is harmless here:
//!
//! * only the holder of the secret key can make one: `s = r + k·a` needs `a`,
//!   so a torsioned signature is not a forgery, only a second encoding of the
//!   signer's own consent;
//! * replay protection is by `(account, nonce)` in the signed transaction, never by
//!   signature bytes, so a second valid signature on the same transaction cannot
//!   execute it twice;
//! * every standard ed25519 signature ([`sign`]) satisfies the cofactored rule,
//!   so honest clients see no difference.
//!
//! # Deterministic batch weights
//!
//! The weights `z_i` are not drawn from OS randomness (the state machine bans it,
//! STYLE.md #9). They are derived from a SHA-512 seed over every item in the batch
//! (`A_bytes`, `R_bytes`, `s_bytes`, `k`), then `z_i = SHA-512(seed || i)`
//! truncated to 128 bits. This is safe because every input is fixed before the
//! weights are computed: changing any signature changes all weights, so a forger
//! cannot choose a bad signature that cancels against weights it already knows.
//! Finding a cancelling batch means searching SHA-512 outputs, a
//! `2^128`-work problem in the random-oracle model. (ed25519-dalek's own batch
//! verification derives its weights from its inputs the same way.)
//!
//! Bisection reuses the batch's weights in every sub-batch. Each sub-equation is
//! still a linear combination with weights fixed after its inputs, so the bound
//! holds for each, and a batch of `n` evaluates fewer than `2n` of them. Shared
//! weights also make the two halves' sums add up exactly to their parent's, which
//! lets the bisection skip the right half's equation when the left half passes.

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::Range;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use rayon::prelude::*;
use sha2::{Digest, Sha512};

/// A good chunk size for [`verify_parallel`]. The chunk size never changes a verdict,
/// only the cost.
///
/// Measured on the 2-core build machine (release profile, CPU time per signature,
/// 2048 distinct signers): a single check costs ~52 µs; in batches of 16 ~27 µs, of
/// 64 ~25 µs, of 256 ~21 µs, of 2048 ~19 µs. Bigger chunks gain little more, while a
/// bad signature costs about 2.5 times its whole chunk's batch work to bisect out
/// (~4 ms at 64). At 64 a full block (50 000 transactions) still splits into ~780
/// chunks, plenty to balance two cores.
pub const VERIFY_CHUNK_DEFAULT: usize = 64;

/// Domain separation for the batch-weight seed.
const WEIGHT_SEED_DOMAIN: &[u8] = b"clobchain/verify/batch-weights/v1";

/// Why 32 bytes were refused as an account key. The variants are listed in the
/// order [`AccountKey::from_bytes`] checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not the encoding of any curve point.
    #[error("account key {} is not a curve point", hex(key))]
    NotOnCurve { key: [u8; 32] },
    /// The point decompresses, but these are not its canonical bytes (`y ≥ p`,
    /// or the sign bit is set on `x = 0`).
    #[error("account key {} is not the canonical encoding of its point", hex(key))]
    NonCanonical { key: [u8; 32] },
    /// The point has order dividing 8: anyone could sign for it.
    #[error("account key {} is a small-order (weak) point", hex(key))]
    SmallOrder { key: [u8; 32] },
}

/// A validated ed25519 public key: the bytes an account is registered under
/// and the curve point they decode to.
///
/// Invariant: `point` is the decompression of `bytes`, `bytes` is its canonical
/// encoding, and `point` is not of small order. Equality, ordering and hashing
/// use the bytes only, which the invariant makes equivalent to the point.
///
/// Canonical encodings only: a point has one 32-byte encoding with `y < p` and
/// the sign bit clear when `x = 0`, and up to a few non-canonical aliases. Rejecting
/// the aliases costs one compression (a field inversion) per key registration, and
/// guarantees one account per point. Mixed-order keys (a prime-order point plus
/// torsion) are accepted: the cofactored rule ignores their torsion, and
/// standard key generation never produces them, so only the owner of a secret
/// could register such aliases of their own key.
#[derive(Clone, Copy)]
pub struct AccountKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl AccountKey {
    /// Validates `bytes` as an account key: it must decompress, be the canonical
    /// encoding of its point, and the point must not be of small order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<AccountKey, KeyError> {
        let key = *bytes;
        let point = CompressedEdwardsY(key)
            .decompress()
            .ok_or(KeyError::NotOnCurve { key })?;
        if point.compress().to_bytes() != key {
            return Err(KeyError::NonCanonical { key });
        }
        if point.is_small_order() {
            return Err(KeyError::SmallOrder { key });
        }
        Ok(AccountKey { bytes: key, point })
    }

    /// The key of `signing_key`; always valid.
    pub fn from_signing_key(signing_key: &SigningKey) -> AccountKey {
        let bytes = signing_key.verifying_key().to_bytes();
        AccountKey::from_bytes(&bytes).expect("a signing key's public key is a valid account key")
    }

    /// The 32-byte encoding the account is registered under.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({})", hex(&self.bytes))
    }
}

impl PartialEq for AccountKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for AccountKey {}

impl PartialOrd for AccountKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AccountKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl Hash for AccountKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

/// One signature to check: `signature` (`R_bytes || s_bytes`) on `message` by `key`.
#[derive(Clone, Copy, Debug)]
pub struct SignedItem<'a> {
    pub key: &'a AccountKey,
    pub message: &'a [u8],
    pub signature: &'a [u8; 64],
}

/// Signs `message` with standard ed25519 (RFC 8032). Such signatures always
/// satisfy the cofactored rule: `[s]B − R − [k]A` is exactly the identity.
pub fn sign(signing_key: &SigningKey, message: &[u8]) -> [u8; 64] {
    signing_key.sign(message).to_bytes()
}

/// Checks one signature under the chain's cofactored rule (see the module docs).
pub fn verify_one(key: &AccountKey, message: &[u8], signature: &[u8; 64]) -> bool {
    prepare(&SignedItem {
        key,
        message,
        signature,
    })
    .is_some_and(|prepared| prepared.verify_single())
}

/// Checks `items` together; `result[i]` is exactly `verify_one(items[i])`
/// (up to a `2^-128` chance per batch equation of accepting a bad signature; a
/// valid signature is always accepted).
///
/// Items whose `s` is not canonical or whose `R` does not decompress are false
/// without entering the batch. The rest are checked with one multiscalar
/// multiplication; if that fails, the batch is bisected, so `b` bad signatures cost
/// `O(b·log n)` batch equations rather than `n` single checks.
pub fn verify_batch(items: &[SignedItem<'_>]) -> Vec<bool> {
    verify_batch_counted(items).0
}

/// Splits `items` into chunks of `chunk`, verifies them with [`verify_batch`] on
/// the rayon pool, and concatenates the results in input order. The result is
/// independent of the thread count and of `chunk`.
///
/// Panics if `chunk` is zero (a caller bug).
pub fn verify_parallel(items: &[SignedItem<'_>], chunk: usize) -> Vec<bool> {
    assert!(chunk > 0, "verify_parallel: chunk size must be positive");
    // An indexed collect keeps chunk order, whatever order the threads finish in.
    let per_chunk: Vec<Vec<bool>> = items.par_chunks(chunk).map(verify_batch).collect();
    let verdicts = per_chunk.concat();
    assert_eq!(verdicts.len(), items.len());
    verdicts
}

/// How much work one [`verify_batch`] call did; lets tests pin the bisection cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BatchWork {
    /// Multiscalar (batch) equations evaluated.
    batch_equations: u32,
    /// Single-signature equations evaluated.
    single_equations: u32,
}

fn verify_batch_counted(items: &[SignedItem<'_>]) -> (Vec<bool>, BatchWork) {
    let mut verdicts = vec![false; items.len()];
    let mut work = BatchWork::default();

    // Items that parse enter the batch; the others stay false.
    let mut positions = Vec::with_capacity(items.len());
    let mut prepared = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        if let Some(p) = prepare(item) {
            positions.push(position);
            prepared.push(p);
        }
    }

    let weights = batch_weights(&prepared);
    let terms: Vec<WeightedTerm<'_>> = prepared
        .iter()
        .zip(&weights)
        .map(|(p, z)| WeightedTerm {
            prepared: p,
            z: *z,
            z_times_s: z * p.s,
            z_times_k: z * p.k,
        })
        .collect();

    let mut accepted = vec![false; terms.len()];
    verify_range(&terms, 0..terms.len(), false, &mut accepted, &mut work);
    for (position, ok) in positions.iter().zip(&accepted) {
        verdicts[*position] = *ok;
    }
    (verdicts, work)
}

/// A signature whose encodings parsed, with `k` computed.
struct Prepared<'a> {
    key: &'a AccountKey,
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Prepared<'_> {
    /// `[8]([s]B − [k]A − R) == identity`.
    fn verify_single(&self) -> bool {
        let s_b_minus_k_a =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.key.point, &self.s);
        (s_b_minus_k_a - self.r).mul_by_cofactor().is_identity()
    }
}

/// Parses `s` (canonical only) and `R` (must decompress) and computes
/// `k = SHA-512(R_bytes || A_bytes || M) mod l`; `None` if the signature is
/// malformed.
fn prepare<'a>(item: &SignedItem<'a>) -> Option<Prepared<'a>> {
    let (r_part, s_part) = item.signature.split_at(32);
    let r_bytes: [u8; 32] = r_part.try_into().expect("64 = 32 + 32");
    let s_bytes: [u8; 32] = s_part.try_into().expect("64 = 32 + 32");
    let s: Scalar = Option::from(Scalar::from_canonical_bytes(s_bytes))?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let hram: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(item.key.bytes)
        .chain_update(item.message)
        .finalize()
        .into();
    Some(Prepared {
        key: item.key,
        r_bytes,
        r,
        s,
        k: Scalar::from_bytes_mod_order_wide(&hram),
    })
}

/// One item's contribution to the batch equation, with its weight applied.
struct WeightedTerm<'a> {
    prepared: &'a Prepared<'a>,
    z: Scalar,
    z_times_s: Scalar,
    z_times_k: Scalar,
}

/// 128-bit weights derived from every batched input (see "Deterministic batch
/// weights" in the module docs).
fn batch_weights(prepared: &[Prepared<'_>]) -> Vec<Scalar> {
    let count = u64::try_from(prepared.len()).expect("usize fits in u64");
    let mut seed_hash = Sha512::new()
        .chain_update(WEIGHT_SEED_DOMAIN)
        .chain_update(count.to_le_bytes());
    for p in prepared {
        // Fixed-size fields in a fixed order, so the byte string reads one way only.
        seed_hash.update(p.key.bytes);
        seed_hash.update(p.r_bytes);
        seed_hash.update(p.s.as_bytes());
        seed_hash.update(p.k.as_bytes());
    }
    let seed: [u8; 64] = seed_hash.finalize().into();
    (0..count)
        .map(|index| {
            let digest: [u8; 64] = Sha512::new()
                .chain_update(seed)
                .chain_update(index.to_le_bytes())
                .finalize()
                .into();
            let low: [u8; 16] = digest[..16].try_into().expect("64 ≥ 16");
            Scalar::from(u128::from_le_bytes(low))
        })
        .collect()
}

/// `[8](Σ z_i·R_i + Σ (z_i·k_i)·A_i − (Σ z_i·s_i)·B) == identity` over `terms`.
///
/// Terms under the same key share one point: a market maker signing many
/// transactions in a block costs one `A` in the multiscalar multiplication, not
/// one per transaction. The sum is the same whatever the grouping, so the verdict
/// cannot depend on it.
fn batch_equation_holds(terms: &[WeightedTerm<'_>]) -> bool {
    let b_coefficient: Scalar = terms.iter().map(|t| t.z_times_s).sum();

    let mut by_key: Vec<(&AccountKey, Scalar)> = terms
        .iter()
        .map(|t| (t.prepared.key, t.z_times_k))
        .collect();
    by_key.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut key_terms: Vec<(&AccountKey, Scalar)> = Vec::with_capacity(by_key.len());
    for (key, coefficient) in by_key {
        match key_terms.last_mut() {
            Some((last, sum)) if *last == key => *sum += coefficient,
            _ => key_terms.push((key, coefficient)),
        }
    }

    let scalars = core::iter::once(-b_coefficient)
        .chain(terms.iter().map(|t| t.z))
        .chain(key_terms.iter().map(|(_, coefficient)| *coefficient));
    let points = core::iter::once(ED25519_BASEPOINT_POINT)
        .chain(terms.iter().map(|t| t.prepared.r))
        .chain(key_terms.iter().map(|(key, _)| key.point));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// Fills `accepted[range]` by evaluating the batch equation over `range` and, if it
/// fails, recursing into both halves down to exact single checks.
///
/// `skip_batch_equation` is set when the caller already knows the equation over
/// `range` fails: the parent range failed and the sibling left half was wholly
/// accepted, and with the same weights the two halves' sums add up to the
/// parent's exactly. The flag only saves work: splitting a range instead of
/// evaluating its equation never changes a verdict (beyond the `2^-128` false
/// accept the batch equation itself allows).
fn verify_range(
    terms: &[WeightedTerm<'_>],
    range: Range<usize>,
    skip_batch_equation: bool,
    accepted: &mut [bool],
    work: &mut BatchWork,
) {
    match range.len() {
        0 => {}
        1 => {
            // A single term is checked exactly, without a weight, and faster.
            work.single_equations += 1;
            accepted[range.start] = terms[range.start].prepared.verify_single();
        }
        _ => {
            if !skip_batch_equation {
                work.batch_equations += 1;
                if batch_equation_holds(&terms[range.clone()]) {
                    accepted[range].fill(true);
                    return;
                }
            }
            let middle = range.start + range.len() / 2;
            verify_range(terms, range.start..middle, false, accepted, work);
            let left_all_accepted = accepted[range.start..middle].iter().all(|ok| *ok);
            verify_range(terms, middle..range.end, left_all_accepted, accepted, work);
        }
    }
}

/// Lower-case hex, for key bytes in messages and `Debug`.
fn hex(bytes: &[u8]) -> Hex<'_> {
    Hex(bytes)
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::scalar::clamp_integer;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use proptest::prelude::*;

    /// `l`, the order of the base point, little-endian.
    const L_BYTES: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// Deterministic signing keys, one per seed byte.
    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn account_key(seed: u8) -> AccountKey {
        AccountKey::from_signing_key(&signing_key(seed))
    }

    fn item<'a>(key: &'a AccountKey, message: &'a [u8], signature: &'a [u8; 64]) -> SignedItem<'a> {
        SignedItem {
            key,
            message,
            signature,
        }
    }

    fn single_verdicts(items: &[SignedItem<'_>]) -> Vec<bool> {
        items
            .iter()
            .map(|i| verify_one(i.key, i.message, i.signature))
            .collect()
    }

    /// ed25519-dalek's strict check (cofactorless, small-order R rejected).
    fn dalek_strict(key: &AccountKey, message: &[u8], signature: &[u8; 64]) -> bool {
        let verifying_key = VerifyingKey::from_bytes(key.as_bytes()).expect("valid key");
        verifying_key
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    /// ed25519-dalek's default check (cofactorless).
    fn dalek_cofactorless(key: &AccountKey, message: &[u8], signature: &[u8; 64]) -> bool {
        let verifying_key = VerifyingKey::from_bytes(key.as_bytes()).expect("valid key");
        verifying_key
            .verify(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    /// `s + l`: the same scalar mod `l`, in a non-canonical encoding.
    fn add_l(s: &[u8]) -> [u8; 32] {
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let total = u16::from(s[i]) + u16::from(L_BYTES[i]) + carry;
            sum[i] = total.to_le_bytes()[0];
            carry = total >> 8;
        }
        assert_eq!(carry, 0, "s + l fits in 256 bits for s < l");
        sum
    }

    /// The first `y = 2, 3, …` that is not the y-coordinate of any curve point.
    fn not_a_point() -> [u8; 32] {
        (2u8..=255)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
            .expect("about half of all y are not on the curve")
    }

    fn with_r(signature: &[u8; 64], r_bytes: &[u8; 32]) -> [u8; 64] {
        let mut out = *signature;
        out[..32].copy_from_slice(r_bytes);
        out
    }

    fn with_s(signature: &[u8; 64], s_bytes: &[u8; 32]) -> [u8; 64] {
        let mut out = *signature;
        out[32..].copy_from_slice(s_bytes);
        out
    }

    fn flip_bit(signature: &[u8; 64], bit: usize) -> [u8; 64] {
        let mut out = *signature;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    /// A signature that only the key's owner can make: `R = [r]B + T` with `T` of
    /// small order, `s = r + k·a`. `[s]B − R − [k]A = −T`, which the cofactor kills.
    fn torsioned_signature(
        signing_key: &SigningKey,
        message: &[u8],
        torsion: &EdwardsPoint,
        nonce_seed: &[u8],
    ) -> [u8; 64] {
        let expanded = Sha512::digest(signing_key.as_bytes());
        let lower: [u8; 32] = expanded[..32].try_into().expect("64 ≥ 32");
        let a = Scalar::from_bytes_mod_order(clamp_integer(lower));
        assert_eq!(a, signing_key.to_scalar(), "expanded secret scalar");
        let a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
        assert_eq!(a_bytes, signing_key.verifying_key().to_bytes());

        let nonce: [u8; 64] = Sha512::new()
            .chain_update(b"test nonce")
            .chain_update(nonce_seed)
            .chain_update(message)
            .finalize()
            .into();
        let r = Scalar::from_bytes_mod_order_wide(&nonce);
        let r_bytes = (EdwardsPoint::mul_base(&r) + torsion).compress().to_bytes();
        let hram: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(a_bytes)
            .chain_update(message)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&hram);
        let s = r + k * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    /// `count` deterministic signing keys.
    fn signers_numbered(count: usize) -> Vec<SigningKey> {
        (0..count)
            .map(|index| {
                let seed: [u8; 64] = Sha512::digest(format!("signer {index}")).into();
                SigningKey::from_bytes(&seed[..32].try_into().expect("64 ≥ 32"))
            })
            .collect()
    }

    /// `count` valid signatures on distinct messages, by 7 signers taking turns.
    fn valid_set(count: usize) -> (Vec<AccountKey>, Vec<Vec<u8>>, Vec<[u8; 64]>) {
        valid_set_by(count, 7)
    }

    /// `count` valid signatures on distinct messages, by `signers` signers taking turns.
    fn valid_set_by(
        count: usize,
        signers: usize,
    ) -> (Vec<AccountKey>, Vec<Vec<u8>>, Vec<[u8; 64]>) {
        let signing_keys = signers_numbered(signers);
        let mut keys = Vec::with_capacity(count);
        let mut messages = Vec::with_capacity(count);
        let mut signatures = Vec::with_capacity(count);
        for index in 0..count {
            let signer = &signing_keys[index % signing_keys.len()];
            let message = format!("transfer #{index}").into_bytes();
            signatures.push(sign(signer, &message));
            keys.push(AccountKey::from_signing_key(signer));
            messages.push(message);
        }
        (keys, messages, signatures)
    }

    fn items_of<'a>(
        keys: &'a [AccountKey],
        messages: &'a [Vec<u8>],
        signatures: &'a [[u8; 64]],
    ) -> Vec<SignedItem<'a>> {
        keys.iter()
            .zip(messages)
            .zip(signatures)
            .map(|((key, message), signature)| item(key, message, signature))
            .collect()
    }

    #[test]
    fn valid_signatures_are_accepted_singly() {
        for seed in 0..8u8 {
            let signer = signing_key(seed);
            let key = AccountKey::from_signing_key(&signer);
            for message in [&b""[..], b"a", &[seed; 1000]] {
                let signature = sign(&signer, message);
                assert!(verify_one(&key, message, &signature));
                assert!(dalek_strict(&key, message, &signature));
            }
        }
    }

    #[test]
    fn valid_batches_of_many_sizes_are_accepted() {
        let (keys, messages, signatures) = valid_set(300);
        let all = items_of(&keys, &messages, &signatures);
        for size in [0, 1, 2, 63, 64, 65, 300] {
            let items = &all[..size];
            let (verdicts, work) = verify_batch_counted(items);
            assert_eq!(verdicts, vec![true; size], "size {size}");
            let expected_work = match size {
                0 => BatchWork::default(),
                1 => BatchWork {
                    batch_equations: 0,
                    single_equations: 1,
                },
                _ => BatchWork {
                    batch_equations: 1,
                    single_equations: 0,
                },
            };
            assert_eq!(
                work, expected_work,
                "size {size}: one equation when all are valid"
            );
            assert_eq!(
                verify_parallel(items, VERIFY_CHUNK_DEFAULT),
                vec![true; size]
            );
        }
    }

    #[test]
    fn invalid_signatures_are_rejected() {
        let signer = signing_key(1);
        let key = AccountKey::from_signing_key(&signer);
        let other_key = account_key(2);
        let message = b"transfer 10 to account 7, nonce 3";
        let signature = sign(&signer, message);
        assert!(verify_one(&key, message, &signature));

        assert!(!verify_one(
            &key,
            b"transfer 11 to account 7, nonce 3",
            &signature
        ));
        assert!(!verify_one(&other_key, message, &signature));
        for bit in 0..512 {
            assert!(
                !verify_one(&key, message, &flip_bit(&signature, bit)),
                "bit {bit}"
            );
        }
        let non_canonical_s = with_s(&signature, &add_l(&signature[32..]));
        assert!(!verify_one(&key, message, &non_canonical_s));
        let r_off_curve = with_r(&signature, &not_a_point());
        assert!(!verify_one(&key, message, &r_off_curve));
        assert!(!verify_one(&key, message, &[0u8; 64]));
        assert!(!verify_one(&key, message, &[0xff; 64]));
    }

    #[test]
    fn invalid_signatures_in_batches_agree_with_single_checks() {
        let (keys, messages, mut signatures) = valid_set(130);
        signatures[0] = flip_bit(&signatures[0], 3); // R bit
        signatures[17] = flip_bit(&signatures[17], 300); // s bit
        signatures[64] = with_s(&signatures[64], &add_l(&signatures[64][32..]));
        signatures[65] = with_r(&signatures[65], &not_a_point());
        signatures[129] = signatures[128]; // right signature, wrong message
        let wrong_key = account_key(42);
        let mut keys = keys;
        keys[100] = wrong_key;
        let items = items_of(&keys, &messages, &signatures);
        let expected: Vec<bool> = (0..130)
            .map(|i| ![0, 17, 64, 65, 100, 129].contains(&i))
            .collect();
        assert_eq!(single_verdicts(&items), expected);
        assert_eq!(verify_batch(&items), expected);
        for chunk in [1, 2, 3, 64, 65, 130, 1000] {
            assert_eq!(verify_parallel(&items, chunk), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn weak_and_malformed_keys_are_rejected() {
        for (index, torsion) in EIGHT_TORSION.iter().enumerate() {
            let key = torsion.compress().to_bytes();
            assert_eq!(
                AccountKey::from_bytes(&key),
                Err(KeyError::SmallOrder { key }),
                "torsion point {index}"
            );
        }
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            AccountKey::from_bytes(&identity),
            Err(KeyError::SmallOrder { key: identity })
        );
        // (0, -1), of order 2: y = p - 1.
        let mut order_two = [0xff; 32];
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        assert_eq!(
            AccountKey::from_bytes(&order_two),
            Err(KeyError::SmallOrder { key: order_two })
        );

        // Non-canonical aliases: the identity with the sign bit set on x = 0, and y = p + 1.
        let mut negative_zero_x = identity;
        negative_zero_x[31] |= 0x80;
        let mut y_p_plus_one = [0xff; 32];
        y_p_plus_one[0] = 0xee;
        y_p_plus_one[31] = 0x7f;
        for key in [negative_zero_x, y_p_plus_one] {
            assert_eq!(
                AccountKey::from_bytes(&key),
                Err(KeyError::NonCanonical { key })
            );
        }
        // A large-order point y = ε < 19 also has the alias y = p + ε.
        let epsilon = (2u8..19)
            .find(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = *y;
                CompressedEdwardsY(bytes)
                    .decompress()
                    .is_some_and(|point| !point.is_small_order())
            })
            .expect("some y < 19 is a large-order point");
        let mut canonical = [0u8; 32];
        canonical[0] = epsilon;
        assert!(AccountKey::from_bytes(&canonical).is_ok());
        let mut alias = [0xff; 32];
        alias[0] = 0xed + epsilon;
        alias[31] = 0x7f;
        assert_eq!(
            AccountKey::from_bytes(&alias),
            Err(KeyError::NonCanonical { key: alias })
        );

        let key = not_a_point();
        let error = AccountKey::from_bytes(&key).expect_err("not a point");
        assert_eq!(error, KeyError::NotOnCurve { key });
        assert!(error.to_string().contains(&hex(&key).to_string()));

        let good = signing_key(9).verifying_key().to_bytes();
        assert_eq!(AccountKey::from_bytes(&good).map(|k| k.bytes), Ok(good));
    }

    #[test]
    fn account_key_compares_and_prints_by_bytes() {
        let mut keys: Vec<AccountKey> = (0..20).map(account_key).collect();
        keys.sort();
        assert!(
            keys.windows(2)
                .all(|pair| pair[0].as_bytes() < pair[1].as_bytes())
        );
        assert_eq!(account_key(3), account_key(3));
        assert_ne!(account_key(3), account_key(4));
        let printed = format!("{:?}", account_key(3));
        assert_eq!(
            printed,
            format!("AccountKey({})", hex(account_key(3).as_bytes()))
        );
        assert_eq!(printed.len(), "AccountKey()".len() + 64);
    }

    #[test]
    fn signer_crafted_torsioned_r_is_accepted_by_the_cofactored_rule_only() {
        let signer = signing_key(5);
        let key = AccountKey::from_signing_key(&signer);
        let message = b"place order, nonce 12";
        for (index, torsion) in EIGHT_TORSION.iter().enumerate() {
            let signature = torsioned_signature(&signer, message, torsion, &[0]);
            assert!(verify_one(&key, message, &signature), "torsion {index}");
            let no_torsion = index == 0;
            assert_eq!(dalek_strict(&key, message, &signature), no_torsion);
            assert_eq!(dalek_cofactorless(&key, message, &signature), no_torsion);
            // Still bound to the message and the key.
            assert!(!verify_one(&key, b"place order, nonce 13", &signature));
            assert!(!verify_one(&account_key(6), message, &signature));
        }
        // R entirely of small order (r = 0): still needs `a` to make s = k·a.
        for torsion in EIGHT_TORSION.iter() {
            let r_bytes = torsion.compress().to_bytes();
            let hram: [u8; 64] = Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.as_bytes())
                .chain_update(message)
                .finalize()
                .into();
            let s = Scalar::from_bytes_mod_order_wide(&hram) * signer.to_scalar();
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r_bytes);
            signature[32..].copy_from_slice(s.as_bytes());
            assert!(verify_one(&key, message, &signature));
            assert!(!dalek_strict(&key, message, &signature));
        }
    }

    #[test]
    fn batches_with_torsioned_signatures_agree_with_single_checks() {
        let (keys, messages, mut signatures) = valid_set(96);
        let signing_keys = signers_numbered(7);
        for index in (0..96).step_by(5) {
            let torsion = &EIGHT_TORSION[index % 8];
            signatures[index] =
                torsioned_signature(&signing_keys[index % 7], &messages[index], torsion, &[1]);
        }
        signatures[40] = flip_bit(&signatures[40], 400);
        let items = items_of(&keys, &messages, &signatures);
        let expected: Vec<bool> = (0..96).map(|i| i != 40).collect();
        assert_eq!(single_verdicts(&items), expected);
        // Every window, so the torsioned items meet many different weight sets.
        for start in 0..8 {
            for len in [2, 3, 7, 31, 64, 88] {
                let window = &items[start..start + len];
                assert_eq!(
                    verify_batch(window),
                    expected[start..start + len],
                    "{start}+{len}"
                );
            }
        }
        for chunk in [1, 3, 64] {
            assert_eq!(verify_parallel(&items, chunk), expected);
        }
    }

    #[test]
    fn bisection_costs_logarithmic_batches_per_bad_signature() {
        let (keys, messages, signatures) = valid_set(256);
        for bad in [0, 1, 127, 128, 200, 255] {
            let mut signatures = signatures.clone();
            signatures[bad] = flip_bit(&signatures[bad], 300);
            let items = items_of(&keys, &messages, &signatures);
            let (verdicts, work) = verify_batch_counted(&items);
            assert_eq!(verdicts, single_verdicts(&items));
            // The whole batch, then at most two halves per level below it
            // (a failing left half says nothing about its sibling): 1 + 2·7.
            assert!(work.batch_equations <= 15, "bad {bad}: {work:?}");
            assert!(work.single_equations <= 2, "bad {bad}: {work:?}");
        }
        // Three bad signatures: at most three such paths.
        let mut three_bad = signatures.clone();
        for bad in [5, 100, 250] {
            three_bad[bad] = flip_bit(&three_bad[bad], 0);
        }
        let items = items_of(&keys, &messages, &three_bad);
        let (verdicts, work) = verify_batch_counted(&items);
        assert_eq!(verdicts, single_verdicts(&items));
        assert!(
            work.batch_equations + work.single_equations <= 3 * 9,
            "{work:?}"
        );
    }

    #[test]
    fn all_bad_batch_costs_at_most_linear_work() {
        let (keys, messages, signatures) = valid_set(64);
        let bad: Vec<[u8; 64]> = signatures.iter().map(|s| flip_bit(s, 260)).collect();
        let items = items_of(&keys, &messages, &bad);
        let (verdicts, work) = verify_batch_counted(&items);
        assert_eq!(verdicts, vec![false; 64]);
        assert_eq!(work.single_equations, 64);
        assert!(work.batch_equations < 64, "{work:?}");
    }

    #[test]
    #[should_panic(expected = "chunk size must be positive")]
    fn zero_chunk_is_a_bug() {
        verify_parallel(&[], 0);
    }

    /// One generated item: how it is made valid or broken.
    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Valid,
        WrongMessage,
        WrongKey { offset: u8 },
        FlipR { bit: u8 },
        FlipS { bit: u8 },
        NonCanonicalS,
        ROffCurve,
        Torsioned { torsion: u8 },
        Garbage { seed: u8 },
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            12 => Just(Kind::Valid),
            1 => Just(Kind::WrongMessage),
            1 => (1u8..8).prop_map(|offset| Kind::WrongKey { offset }),
            1 => any::<u8>().prop_map(|bit| Kind::FlipR { bit }),
            1 => any::<u8>().prop_map(|bit| Kind::FlipS { bit }),
            1 => Just(Kind::NonCanonicalS),
            1 => Just(Kind::ROffCurve),
            3 => (0u8..8).prop_map(|torsion| Kind::Torsioned { torsion }),
            1 => any::<u8>().prop_map(|seed| Kind::Garbage { seed }),
        ]
    }

    const PROPTEST_KEYS: u8 = 8;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn batch_and_parallel_equal_single_checks(
            specs in prop::collection::vec((0..PROPTEST_KEYS, any::<u16>(), kind()), 0..160)
        ) {
            let signing_keys: Vec<SigningKey> = (0..PROPTEST_KEYS).map(signing_key).collect();
            let account_keys: Vec<AccountKey> =
                signing_keys.iter().map(AccountKey::from_signing_key).collect();
            let mut keys = Vec::with_capacity(specs.len());
            let mut messages = Vec::with_capacity(specs.len());
            let mut signatures = Vec::with_capacity(specs.len());
            for (signer, message_seed, kind) in &specs {
                let signer_index = usize::from(*signer);
                let signer = &signing_keys[signer_index];
                let message = format!("message {message_seed}").into_bytes();
                let signature = sign(signer, &message);
                let mut key = account_keys[signer_index];
                let mut signed_message = message.clone();
                let signature = match *kind {
                    Kind::Valid => signature,
                    Kind::WrongMessage => {
                        signed_message.push(b'!');
                        signature
                    }
                    Kind::WrongKey { offset } => {
                        key = account_keys[(signer_index + usize::from(offset)) % 8];
                        signature
                    }
                    Kind::FlipR { bit } => flip_bit(&signature, usize::from(bit)),
                    Kind::FlipS { bit } => flip_bit(&signature, 256 + usize::from(bit)),
                    Kind::NonCanonicalS => with_s(&signature, &add_l(&signature[32..])),
                    Kind::ROffCurve => with_r(&signature, &not_a_point()),
                    Kind::Torsioned { torsion } => torsioned_signature(
                        signer,
                        &message,
                        &EIGHT_TORSION[usize::from(torsion)],
                        &message_seed.to_le_bytes(),
                    ),
                    Kind::Garbage { seed } => {
                        let bytes: [u8; 64] = Sha512::digest([seed]).into();
                        bytes
                    }
                };
                keys.push(key);
                messages.push(signed_message);
                signatures.push(signature);
            }
            let items = items_of(&keys, &messages, &signatures);
            let expected = single_verdicts(&items);
            for (spec, verdict) in specs.iter().zip(&expected) {
                if matches!(spec.2, Kind::Valid | Kind::Torsioned { .. }) {
                    prop_assert!(*verdict, "{:?} must verify", spec);
                }
            }
            prop_assert_eq!(&verify_batch(&items), &expected);
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("thread pool");
                for chunk in [1, 3, 64] {
                    let verdicts = pool.install(|| verify_parallel(&items, chunk));
                    prop_assert_eq!(&verdicts, &expected, "threads {} chunk {}", threads, chunk);
                }
            }
        }
    }

    /// Throughput on this machine: `cargo test -p markets verify::tests::throughput
    /// -- --ignored --nocapture` (add `--release` for release-profile numbers).
    #[test]
    #[ignore = "timing, not a check; run by hand"]
    fn throughput() {
        const COUNT: usize = 2048;
        const ROUNDS: usize = 5;
        for signers in [COUNT, 8] {
            println!("--- {COUNT} signatures by {signers} signers, best of {ROUNDS} rounds");
            throughput_of(&valid_set_by(COUNT, signers), ROUNDS);
        }
    }

    /// Nanoseconds the calling thread has spent on a CPU (Linux schedstat). The
    /// build machine is shared, so wall-clock rates are reported next to rates per
    /// on-CPU second, which other processes do not disturb.
    fn thread_cpu_nanos() -> u128 {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
        let on_cpu = stat.split_whitespace().next().expect("on-cpu field");
        on_cpu.parse().expect("on-cpu nanoseconds")
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "test-only throughput report; the clock never reaches state"
    )]
    fn throughput_of(
        (keys, messages, signatures): &(Vec<AccountKey>, Vec<Vec<u8>>, Vec<[u8; 64]>),
        rounds: usize,
    ) {
        use std::time::Instant;

        let count = keys.len();
        let items = items_of(keys, messages, signatures);
        let verifying_keys: Vec<VerifyingKey> = keys
            .iter()
            .map(|k| VerifyingKey::from_bytes(k.as_bytes()).expect("valid key"))
            .collect();
        let dalek_signatures: Vec<Signature> =
            signatures.iter().map(Signature::from_bytes).collect();
        let pools: Vec<rayon::ThreadPool> = [1, 2]
            .iter()
            .map(|threads| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(*threads)
                    .build()
                    .expect("thread pool")
            })
            .collect();
        let count_true = |verdicts: Vec<bool>| verdicts.iter().filter(|ok| **ok).count();
        // One bad signature per 64 items: the bisection price.
        let with_bad: Vec<[u8; 64]> = signatures
            .iter()
            .enumerate()
            .map(|(i, s)| if i % 64 == 17 { flip_bit(s, 300) } else { *s })
            .collect();
        let bad_items = items_of(keys, messages, &with_bad);
        let bad_count = count.div_ceil(64);

        type Run<'r> = Box<dyn Fn() -> usize + Sync + 'r>;
        // (name, index into `pools`, run)
        let mut runs: Vec<(String, usize, Run<'_>)> = vec![(
            "ed25519-dalek verify_strict".to_string(),
            0,
            Box::new(|| {
                verifying_keys
                    .iter()
                    .zip(messages)
                    .zip(&dalek_signatures)
                    .filter(|((key, message), signature)| {
                        key.verify_strict(message, signature).is_ok()
                    })
                    .count()
            }),
        )];
        runs.push((
            "verify_one".to_string(),
            0,
            Box::new(|| count_true(single_verdicts(&items))),
        ));
        for chunk in [8, 16, 32, 64, 128, 256, 2048] {
            let items = &items;
            runs.push((
                format!("verify_batch, 1 thread, chunk {chunk}"),
                0,
                Box::new(move || {
                    items
                        .chunks(chunk)
                        .map(|c| count_true(verify_batch(c)))
                        .sum()
                }),
            ));
        }
        for chunk in [16, 32, 64, 128, 256] {
            let items = &items;
            runs.push((
                format!("verify_parallel, 2 threads, chunk {chunk}"),
                1,
                Box::new(move || count_true(verify_parallel(items, chunk))),
            ));
        }
        runs.push((
            "verify_batch, chunk 64, 1 bad per chunk".to_string(),
            0,
            Box::new(|| {
                let verdicts: Vec<bool> = bad_items.chunks(64).flat_map(verify_batch).collect();
                count_true(verdicts) + bad_count
            }),
        ));

        // Rounds interleave the runs, so background load spreads over all of them.
        // CPU time is that of the busiest pool thread: the wall time on an idle machine.
        let mut best_wall = vec![u128::MAX; runs.len()];
        let mut best_cpu = vec![u128::MAX; runs.len()];
        for _ in 0..rounds {
            for (index, (_, pool, run)) in runs.iter().enumerate() {
                let pool = &pools[*pool];
                let cpu_before = pool.broadcast(|_| thread_cpu_nanos());
                let start = Instant::now();
                let accepted = pool.install(run);
                let wall = start.elapsed().as_nanos();
                let cpu_after = pool.broadcast(|_| thread_cpu_nanos());
                assert_eq!(accepted, count);
                let cpu = cpu_before
                    .iter()
                    .zip(&cpu_after)
                    .map(|(before, after)| after - before)
                    .max()
                    .expect("a pool has threads");
                best_wall[index] = best_wall[index].min(wall);
                best_cpu[index] = best_cpu[index].min(cpu);
            }
        }
        let count = count as u128;
        println!(
            "{:<42} {:>12} {:>12} {:>10}",
            "", "wall sig/s", "cpu sig/s", "cpu ns/sig"
        );
        for (index, (name, _, _)) in runs.iter().enumerate() {
            let wall_rate = count * 1_000_000_000 / best_wall[index].max(1);
            let cpu_rate = count * 1_000_000_000 / best_cpu[index].max(1);
            let cpu_each = best_cpu[index] / count;
            println!("{name:<42} {wall_rate:>12} {cpu_rate:>12} {cpu_each:>10}");
        }
    }
}
