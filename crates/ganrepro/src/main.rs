//! `ganrepro`: reproduce the thesis's GAN experiments from the experiment files.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc keeps freed memory for reuse. candle allocates a fresh buffer for every tensor
/// operation, several MiB each at thesis size, and glibc's malloc returns buffers that large to
/// the kernel on free, so every step page-faulted its working set in anew. mimalloc's own
/// purging of free memory is turned off too (`ganrepro::allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ganrepro::allocator::keep_freed_memory();
    ganrepro::threads::configure_candle();
    let cli = ganrepro::cli::Cli::parse();
    ganrepro::logging::init(cli.verbose);
    match ganrepro::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ganrepro: error: {error:#}");
            ExitCode::from(2)
        }
    }
}
