//! Command-line arguments and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Reproduce the GAN experiments of the 2019 thesis from declarative experiment files.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// More logging: -v shows each decision (cache hits, resumes), -vv everything.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train every cell of the experiments that the run store lacks, then write the tables and
    /// figures under results/<profile>/.
    Reproduce(ReproduceArgs),
    /// Compare a produced d_loss.csv with a golden copy, cell by cell.
    Compare(CompareArgs),
    /// Check that the committed tables of a profile match the run keys the current code and
    /// experiment files give, without training anything.
    CheckKeys(CheckKeysArgs),
    /// Time the training step of each model at thesis size; append to results/bench/bench.csv.
    Bench(BenchArgs),
}

/// Options of `bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Workspace root (results/bench/ is written there).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Timed repetitions of each step after the warm-up.
    #[arg(long, default_value_t = 10)]
    pub repetitions: usize,
    /// A name for this measurement in the CSV, such as the optimisation it tests.
    #[arg(long)]
    pub label: Option<String>,
}

/// Options of `reproduce`.
#[derive(Debug, Clone, Args)]
pub struct ReproduceArgs {
    /// Profile of every experiment: thesis (faithful, GPU-sized), quick (default), ci (tiny).
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Workspace root holding experiments/, results/ and data/.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Only these experiments (file stems, such as thesis-vanilla); default: all.
    #[arg(long = "only", value_name = "EXPERIMENT")]
    pub only: Vec<String>,
    /// Directory holding the data sets (also GANREPRO_DATA_DIR); searched before anything else.
    #[arg(long, env = "GANREPRO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never download data from the official servers.
    #[arg(long)]
    pub offline: bool,
    /// Cells trained at the same time; default: chosen from the core count and the models.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Fail (exit 1) if any cell was skipped, for example for lack of CIFAR-10.
    #[arg(long)]
    pub require_all: bool,
    /// Train on the first CUDA GPU (needs a build with `--features cuda`, which
    /// `cargo xtask reproduce --cuda` makes).
    #[arg(long)]
    pub cuda: bool,
    /// Write tables and figures here instead of results/<profile>/.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds between checkpoints of a run (also written at its last epoch).
    #[arg(long, default_value_t = 30.0)]
    pub checkpoint_seconds: f64,
}

/// Options of `check-keys`.
#[derive(Debug, Clone, Args)]
pub struct CheckKeysArgs {
    /// The profile whose committed tables are checked.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Workspace root holding experiments/, results/ and data/.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Directory holding the data sets (also GANREPRO_DATA_DIR).
    #[arg(long, env = "GANREPRO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Options of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The committed golden table.
    #[arg(long)]
    pub golden: PathBuf,
    /// The freshly produced table.
    #[arg(long)]
    pub produced: PathBuf,
    /// Per-column tolerances (YAML).
    #[arg(long)]
    pub tolerances: PathBuf,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Reproduce(args) => crate::reproduce::reproduce(&args),
        Command::Compare(args) => crate::outputs::compare(&args),
        Command::CheckKeys(args) => crate::reproduce::check_keys(&args),
        Command::Bench(args) => crate::bench::bench(&args).map(|()| ExitCode::SUCCESS),
    }
}
