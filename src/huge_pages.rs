//! The binary's global allocator: the system allocator, plus a
//! transparent-huge-page hint on every large block.
//!
//! A replay of a million events allocates a few hundred MB in large
//! blocks (event records, the devpath table, the simulation's queues)
//! and touches them once. With 4 KiB pages that is about 50,000 page
//! faults, each a trip through the kernel (and through the hypervisor's
//! nested page tables on a VM): 240 ms of system time on the 1M-event
//! replay. Most distributions set THP to `madvise`, so a block must ask
//! for huge pages; then it takes one fault per 2 MiB and fewer TLB
//! misses when probed at random. Measured on the 1M-event replay:
//! system time 240 → 135 ms, wall 726 → 631 ms (hyperfine, 12 runs).
//! glibc can do the same (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), but
//! only when the variable is set before the process starts.
//!
//! Blocks below 4 MiB are left alone: they would hold no whole aligned
//! huge page, or too few to matter. The hint never changes what memory
//! holds, only how the kernel maps it; where THP is off it does nothing.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large get the hint.
const THRESHOLD: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// [`System`], with `madvise(MADV_HUGEPAGE)` on large blocks.
pub struct HugePageHint;

/// Ask for huge pages on the whole 2 MiB pages inside `[p, p + size)`.
fn advise(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + size) & !(HUGE_PAGE - 1);
        if end > start {
            // SAFETY: madvise with MADV_HUGEPAGE on pages of a block we
            // own changes no contents and no permissions; a failure
            // (THP compiled out, say) leaves the mapping as it was.
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    end - start,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size);
}

// SAFETY: every call is forwarded to `System` with the same arguments;
// `advise` only adds a hint on memory `System` just handed out.
unsafe impl GlobalAlloc for HugePageHint {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && layout.size() >= THRESHOLD {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(
        &self,
        ptr: *mut u8,
        layout: Layout,
        new_size: usize,
    ) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && new_size >= THRESHOLD {
            advise(p, new_size);
        }
        p
    }
}
