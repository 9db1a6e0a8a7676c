//! The allocator's setting that keeps freed memory mapped.
//!
//! The binary allocates with mimalloc (see `main.rs`), which by default hands memory that has
//! been free for 10 ms back to the kernel. candle allocates a fresh buffer for every tensor
//! operation, and a DCGAN step at thesis size frees and reallocates hundreds of MiB; each time
//! the kernel has to fault the pages in and zero them again. With purging off
//! (`MIMALLOC_PURGE_DELAY=-1`) the memory stays with the process for reuse: measured with
//! `ganrepro bench` in interleaved runs on 2 cores (`results/bench/bench.csv`, labels
//! `interleaved-mimalloc-purge-*`), the DCGAN step ran 3 to 4 times faster and the vanilla step
//! about 1.1 times, for about 10% more peak memory. Results do not change: only where memory
//! comes from does.
//!
//! mimalloc reads its options from the environment while the process starts, before `main`, so
//! the setting cannot be made from inside the process; [`keep_freed_memory`] restarts the
//! program with it instead.

/// Environment variable of mimalloc's purge delay in milliseconds; -1 turns purging off.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

/// Unless `MIMALLOC_PURGE_DELAY` is set (a user's own setting wins), replaces the running
/// program with itself, same arguments, with purging turned off. Call first thing in `main`.
/// Returns, leaving the default in place, where the platform cannot replace a process or the
/// restart fails.
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY).is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let Ok(program) = std::env::current_exe() else {
            return;
        };
        // `exec` only returns on failure; the program then runs on with mimalloc's default.
        let error = std::process::Command::new(program)
            .args(std::env::args_os().skip(1))
            .env(PURGE_DELAY, "-1")
            .exec();
        eprintln!("ganrepro: could not restart with {PURGE_DELAY}=-1 ({error}); continuing");
    }
}
