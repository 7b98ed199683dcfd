//! Process-wide allocator tuning, set once before the proxy's threads start.
//!
//! moat stays on glibc's allocator for its small resident set (mimalloc cut
//! CPU per request by about a sixth but added 7 MiB, more than nginx's whole
//! footprint margin; `bench/RESULTS.md`). What glibc costs per request is
//! mostly self-inflicted:
//!
//! - Pingora takes a 64 KiB body buffer and rustls 8–16 KiB record buffers
//!   for every proxied request, and glibc runs `malloc_consolidate` over its
//!   fastbins before each such large request, walking and merging the
//!   hundred small chunks the previous request freed. With fastbins off,
//!   small blocks still come from the per-thread cache (tcache), and the
//!   consolidation walk disappears. Measured as an interleaved A/B under
//!   `bench/proxy.sh`'s load: about 5% more requests per second and 6% less
//!   CPU per request, same RSS.
//! - The per-thread cache keeps only 7 freed blocks of each size by
//!   default. A proxied request allocates about fifty small blocks (header
//!   maps, the decision's strings, Pingora's tasks), many of one size, so
//!   most frees overflowed the cache into the arena's bins and most
//!   allocations came back out of them through glibc's slow path: about
//!   40k instructions per request in malloc and free alone. With room for
//!   [`TCACHE_COUNT`] blocks per size most of them stay in the cache. The
//!   cache holds blocks its thread freed, so a larger one keeps more of
//!   the peak's memory per thread: 500 blocks saved 15k instructions per
//!   request but took the resident set under load above nginx's (19.9 MiB
//!   against 19.2); 128 saves about 10k and stays at 18.0 MiB
//!   (`bench/RESULTS.md`, 2026-12-07).

/// `glibc.malloc.tcache_count`: freed blocks per size class each thread
/// keeps (glibc's default is 7).
pub const TCACHE_COUNT: u32 = 128;

/// The tunable glibc reads at start; only the environment can set it.
const TUNABLES: &str = "GLIBC_TUNABLES";
const TCACHE_TUNABLE: &str = "glibc.malloc.tcache_count";

/// Tune glibc's allocator for the proxy: a larger per-thread cache, and
/// fastbins off. Call it first thing in `moat run`, before threads are
/// spawned: `mallopt` consolidates the main arena only.
///
/// glibc reads the cache size only from `GLIBC_TUNABLES` at process start,
/// so when the environment does not set it, moat executes itself again
/// (same PID, same arguments) with it added. A tunable the user already
/// set is kept as it is. A no-op on other C libraries.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        reexec_with_tcache();
        disable_fastbins();
    }
}

/// Executes `/proc/self/exe` again with the tcache tunable when it is not
/// in the environment; returns only when it is, or when the exec failed
/// (moat then runs with glibc's default cache, and says so).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reexec_with_tcache() {
    use std::os::unix::process::CommandExt;

    let current = std::env::var_os(TUNABLES).unwrap_or_default();
    let current = current.to_string_lossy();
    if current.contains(TCACHE_TUNABLE) {
        return;
    }
    let ours = format!("{TCACHE_TUNABLE}={TCACHE_COUNT}");
    let value = if current.is_empty() {
        ours
    } else {
        format!("{current}:{ours}")
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new("/proc/self/exe");
    if let Some(argv0) = args.next() {
        command.arg0(argv0);
    }
    let error = command.args(args).env(TUNABLES, value).exec();
    eprintln!(
        "moat: could not execute itself again with {TUNABLES} ({error}); glibc's allocator keeps its default per-thread cache"
    );
}

/// Turns glibc's fastbins off (`M_MXFAST` = 0). The crate's one `unsafe`
/// block: there is no safe wrapper for `mallopt`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn disable_fastbins() {
    // SAFETY: mallopt only changes the allocator's parameters; M_MXFAST = 0
    // is documented as "disable fastbins" and is valid at any time.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// The `GLIBC_TUNABLES` this process started with (after
/// [`tune_allocator`]'s exec, moat's own), for the start-up log: glibc
/// parses the variable in place, so `/proc/<pid>/environ` shows only its
/// first entry.
pub fn tunables_in_effect() -> String {
    std::env::var(TUNABLES).unwrap_or_default()
}
