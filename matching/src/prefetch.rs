//! The one `unsafe` call in the workspace: a cache prefetch hint.
//!
//! The book is bound by memory latency (a cancel's index probe and the order's slot are
//! two dependent cache misses in a working set larger than L2). Executing a batch of
//! commands lets the book ask for those lines a few commands ahead, so the misses
//! overlap instead of queueing. The prefetch instruction needs `unsafe` in Rust, and
//! the workspace denies `unsafe_code`: this module is the single audited exception.

/// Hints the CPU to bring the cache line holding `value` into L1. It never faults,
/// never writes and changes no result; on targets without the instruction it does
/// nothing.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `_mm_prefetch` only hints the cache: it reads nothing architecturally,
    // cannot fault (even on an invalid address), and `value` is a live reference. SSE
    // is part of the x86_64 baseline, so the instruction always exists.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(value).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
