//! Thread settings of the CPU backend, chosen for small matrices on few cores.
//!
//! candle 0.11 runs element-wise operations on a pool of threads that spin while they wait
//! for work; on two cores they compete with the matrix-multiply threads. Measured with
//! `ganrepro bench` on a 2-core machine, the vanilla step ran at 1.5 steps/s with that pool and
//! 3.2 steps/s without it (`CANDLE_NUM_THREADS=1`), so it is off unless the user sets the
//! variable. Results do not depend on either setting: candle's matrix products split work by
//! output blocks, never by the summed dimension (a test checks 1 against 2 threads).

/// Turns candle's spinning element-wise pool off unless `CANDLE_NUM_THREADS` is set.
/// Call first thing in `main`, before any thread starts.
pub fn configure_candle() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Gives each of `jobs` concurrent cells its share of the cores for matrix products, unless
/// `RAYON_NUM_THREADS` is set. Call before training starts.
///
/// Measured with `ganrepro bench` on 2 cores (vanilla thesis step, `results/bench/bench.csv`,
/// labels `c-threads-*`): one run with 2 gemm threads made 6.2-7.6 steps/s against 4.8-5.6 with
/// 1, while two runs side by side with 1 thread each made 9.7-10.0 steps/s together. Cells in
/// parallel with a core each therefore beat one cell using both cores.
pub fn share_cores(jobs: usize) -> usize {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_job = (cores / jobs.max(1)).max(1);
        std::env::set_var("RAYON_NUM_THREADS", per_job.to_string());
    }
    ganrepro_train::candle_core::utils::get_num_threads()
}
