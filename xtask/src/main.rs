//! Project automation: `cargo xtask reproduce`, `cargo xtask ci`, `cargo xtask bench`.
//!
//! The tasks only orchestrate cargo and the `ganrepro` binary; the work itself lives in the
//! workspace crates. Training is always optimised: the dev profile builds dependencies and the
//! training crate at opt-level 3 (see the root Cargo.toml).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "ganrepro's project tasks")]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Train what the run store lacks and write results/<profile>/ (arguments go to
    /// `ganrepro reproduce`; see `cargo xtask reproduce --help`).
    #[command(disable_help_flag = true)]
    Reproduce {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The CI gate: formatting, clippy, tests, the ci profile of every experiment compared
    /// with the committed golden table, and a staleness check of the committed quick results.
    Ci {
        /// Accept the produced ci tables as the new golden copy (a deliberate, reviewed act).
        #[arg(long)]
        bless: bool,
    },
    /// Time the training steps of both models at thesis size (arguments go to `ganrepro bench`).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Xtask::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(xtask: Xtask) -> anyhow::Result<()> {
    let root = workspace_root();
    match xtask.task {
        Task::Reproduce { args } => {
            let mut full = vec![
                "reproduce".to_owned(),
                "--root".into(),
                root.display().to_string(),
            ];
            full.extend(args);
            ganrepro(&root, &full)
        }
        Task::Bench { args } => {
            let mut full = vec![
                "bench".to_owned(),
                "--root".into(),
                root.display().to_string(),
            ];
            full.extend(args);
            ganrepro(&root, &full)
        }
        Task::Ci { bless } => ci(&root, bless),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// OpenBLAS kernel set of the ci gate's training runs. Results differ between kernel sets at
/// float rounding (about 1e-8 on the vanilla cells, 1e-5 on the DCGAN's), so the golden table
/// holds for one set; the Haswell kernels run on every x86-64 CPU with AVX2 and FMA, including
/// those that would pick SkylakeX by themselves.
const CI_KERNELS: &str = "Haswell";

/// OpenBLAS kernel set that `results/quick/` was produced with. The run keys name the library
/// and its kernels, so `check-keys` computes them for this set (no product runs there); after
/// regenerating the quick results elsewhere, put that machine's set here.
const QUICK_KERNELS: &str = "SkylakeX";

/// OpenBLAS's variable that forces its kernel set.
const CORE_TYPE: &str = "OPENBLAS_CORETYPE";

/// Runs the `ganrepro` binary through cargo, with CUDA support when `--cuda` is asked for.
fn ganrepro(root: &Path, args: &[String]) -> anyhow::Result<()> {
    ganrepro_with_kernels(root, args, None)
}

/// [`ganrepro`] with OpenBLAS's kernel set forced to `kernels`, when given.
fn ganrepro_with_kernels(
    root: &Path,
    args: &[String],
    kernels: Option<&str>,
) -> anyhow::Result<()> {
    let mut cargo = vec!["run", "--quiet", "--package", "ganrepro"];
    if args.iter().any(|a| a == "--cuda") {
        cargo.extend(["--features", "cuda"]);
    }
    cargo.push("--");
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(root).args(cargo).args(args);
    let mut name = format!("ganrepro {}", args.join(" "));
    if let Some(kernels) = kernels {
        command.env(CORE_TYPE, kernels);
        name = format!("{CORE_TYPE}={kernels} {name}");
    }
    step(&name, command)
}

fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(root).args(args);
    command
}

/// Runs one step, failing with its name if it fails.
fn step(name: &str, mut command: Command) -> anyhow::Result<()> {
    eprintln!("xtask: ==> {name}");
    let status = command
        .status()
        .with_context(|| format!("starting `{name}`"))?;
    if !status.success() {
        bail!("step `{name}` failed ({status})");
    }
    Ok(())
}

fn ci(root: &Path, bless: bool) -> anyhow::Result<()> {
    step(
        "cargo fmt --check",
        cargo(root, &["fmt", "--all", "--check"]),
    )?;
    step(
        "cargo clippy",
        cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    )?;
    step(
        "cargo test",
        cargo(root, &["test", "--workspace", "--all-targets"]),
    )?;
    step(
        "cargo test --doc",
        cargo(root, &["test", "--workspace", "--doc"]),
    )?;

    // The ci profile of every experiment, into a scratch directory, then cell by cell against
    // the committed golden table.
    let produced_dir = root.join("target").join("ci-results");
    let golden_dir = root.join("results").join("ci");
    let produced = produced_dir.display().to_string();
    ganrepro_with_kernels(
        root,
        &[
            "reproduce".into(),
            "--root".into(),
            root.display().to_string(),
            "--profile".into(),
            "ci".into(),
            "--out".into(),
            produced.clone(),
        ],
        Some(CI_KERNELS),
    )?;
    if bless {
        std::fs::create_dir_all(&golden_dir)?;
        for name in ["d_loss.csv", "d_loss.md"] {
            std::fs::copy(produced_dir.join(name), golden_dir.join(name))
                .with_context(|| format!("blessing {name}"))?;
        }
        eprintln!("xtask: blessed results/ci/d_loss.csv and d_loss.md; review and commit them");
    } else {
        let compared = ganrepro(
            root,
            &[
                "compare".into(),
                "--golden".into(),
                golden_dir.join("d_loss.csv").display().to_string(),
                "--produced".into(),
                produced_dir.join("d_loss.csv").display().to_string(),
                "--tolerances".into(),
                golden_dir.join("tolerances.yaml").display().to_string(),
            ],
        );
        if compared.is_err() {
            bail!(
                "the ci tables moved (differences above). If the change is intended, regenerate \
                 the golden files with `cargo xtask ci --bless`, review the diff and commit it"
            );
        }
    }

    ganrepro_with_kernels(
        root,
        &[
            "check-keys".into(),
            "--root".into(),
            root.display().to_string(),
            "--profile".into(),
            "quick".into(),
        ],
        Some(QUICK_KERNELS),
    )
    .context("the committed quick results are stale (see above)")?;
    eprintln!("xtask: ci passed");
    Ok(())
}
