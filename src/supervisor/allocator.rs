//! Process-wide allocator tuning, set once before the proxy's threads start.
//!
//! moat stays on glibc's allocator for its small resident set (mimalloc cut
//! CPU per request by about a sixth but added 7 MiB, more than nginx's whole
//! footprint margin; `bench/RESULTS.md`). What glibc costs per request is
//! mostly self-inflicted: Pingora takes a 64 KiB body buffer and rustls
//! 8–16 KiB record buffers for every proxied request, and glibc runs
//! `malloc_consolidate` over its fastbins before each such large request,
//! walking and merging the hundred small chunks the previous request freed.
//! With fastbins off, small blocks still come from the per-thread cache
//! (tcache), and the consolidation walk disappears. Measured as an
//! interleaved A/B under `bench/proxy.sh`'s load (`bench/RESULTS.md`): about
//! 5% more requests per second and 6% less CPU per request, same RSS.

/// Turn glibc's fastbins off (`M_MXFAST` = 0). Call it before threads are
/// spawned: `mallopt` consolidates the main arena only. A no-op on other C
/// libraries. The crate's one `unsafe` block: there is no safe wrapper for
/// `mallopt`.
#[allow(unsafe_code)]
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters; M_MXFAST = 0
    // is documented as "disable fastbins" and is valid at any time.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}
