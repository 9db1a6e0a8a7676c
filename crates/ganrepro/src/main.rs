//! `ganrepro`: reproduce the thesis's GAN experiments from the experiment files.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
