//! `ganrepro reproduce`: plan every cell, train what is missing, write tables and figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use ganrepro_data::DataOptions;
use ganrepro_experiment::{expand, load_experiment, Cell, RunKey, RunStore};
use ganrepro_train::candle_core::Device;
use rayon::prelude::*;
use tracing::{debug, info};

use crate::cli::{CheckKeysArgs, ReproduceArgs};
use crate::data::DataCache;
use crate::outputs::{self, Skipped};
use crate::runner::{self, CellOutcome, Provenance, RunContext, Trajectory};

/// Runs the main job; exit code 1 when `--require-all` and a cell was skipped.
pub fn reproduce(args: &ReproduceArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let experiments_dir = args.root.join("experiments");
    let cells = plan(&experiments_dir, &args.profile, &args.only)?;
    let notes = profile_notes(&experiments_dir, &args.profile, &args.only, &cells);
    info!(
        "{} cells in the {} profile of {} experiment file(s)",
        cells.len(),
        args.profile,
        {
            let mut names: Vec<_> = cells.iter().map(|c| c.experiment.as_str()).collect();
            names.dedup();
            names.len()
        }
    );

    // Resolve the data of every cell; a data set that cannot be found skips its cells.
    let mut options = DataOptions::from_env(&args.root);
    options.data_dir = args.data_dir.clone().or(options.data_dir);
    options.allow_network = !args.offline;
    crate::matmul::choose(&options)?;
    let mut data = DataCache::default();
    let mut groups: BTreeMap<RunKey, Vec<(Cell, RunKey)>> = BTreeMap::new();
    let mut images_of = BTreeMap::new();
    let mut skipped = Vec::new();
    for cell in cells {
        match data.get(&cell.data, &options)? {
            Ok(images) => {
                let key = RunKey::of(&cell, &images.content_sha256);
                let trajectory = RunKey::trajectory(&cell, &images.content_sha256);
                images_of.insert(trajectory.clone(), images);
                groups.entry(trajectory).or_default().push((cell, key));
            }
            Err(reason) => {
                debug!("{} skipped: its data set is missing", cell.label());
                skipped.push(Skipped { cell, reason });
            }
        }
    }
    for group in groups.values_mut() {
        group.sort_by_key(|(cell, _)| cell.epochs);
    }

    let device = ganrepro_train::device(args.cuda).context("opening the training device")?;
    let store = RunStore::new(args.root.join("results").join("runs"));
    let trajectories: Vec<Trajectory> = groups
        .into_iter()
        .map(|(trajectory_key, cells)| {
            let images = &images_of[&trajectory_key];
            Trajectory {
                data_sha256: images.content_sha256.clone(),
                images,
                cells,
            }
        })
        .collect();

    let to_train: Vec<&Trajectory> = trajectories
        .iter()
        .filter(|t| {
            t.cells
                .iter()
                .any(|(_, key)| !matches!(store.lookup(key), ganrepro_experiment::Lookup::Hit(_)))
        })
        .collect();
    let jobs = args.jobs.unwrap_or_else(|| default_jobs(to_train.len()));
    let gemm_threads = crate::threads::share_cores(jobs);
    info!("training {jobs} run(s) at a time with {gemm_threads} matrix-multiply thread(s) each");
    let epochs_to_train: u64 = to_train.iter().map(|t| remaining_epochs(t, &store)).sum();
    if epochs_to_train > 0 {
        let seconds = estimate_seconds(&to_train, &store, &device)?;
        info!(
            "estimated training time on this machine: {} for {epochs_to_train} epochs in {} run(s), \
             {jobs} at a time (measured from one step of each run)",
            human_duration(seconds / jobs.min(to_train.len()).max(1) as f64),
            to_train.len()
        );
    } else {
        info!("every cell is in the run store; nothing to train");
    }

    let progress = runner::progress_bar(epochs_to_train);
    let checkpoint_interval = std::time::Duration::from_secs_f64(args.checkpoint_seconds.max(0.0));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    let context = RunContext {
        store: &store,
        device: &device,
        progress: &progress,
        checkpoint_interval,
    };
    let results: Vec<anyhow::Result<Vec<CellOutcome>>> = pool.install(|| {
        trajectories
            .par_iter()
            .map(|trajectory| runner::run_trajectory(trajectory, &context))
            .collect()
    });
    progress.finish_and_clear();
    // Report every finished trajectory even if another failed: nothing computed is lost.
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(group) => outcomes.extend(group),
            Err(error) => failures.push(format!("{error:#}")),
        }
    }

    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| args.root.join("results").join(&args.profile));
    let merge = !args.only.is_empty();
    let report = outputs::write_all(&out_dir, &args.profile, &outcomes, &skipped, merge, &notes)?;
    println!("{report}");
    print_summary(&outcomes, &skipped, started);
    if !failures.is_empty() {
        bail!("{} run(s) failed:\n{}", failures.len(), failures.join("\n"));
    }
    if args.require_all && !skipped.is_empty() {
        eprintln!(
            "ganrepro: {} cell(s) skipped and --require-all was given",
            skipped.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The note of `profile` of each experiment, by experiment name, for the report: with `--only`,
/// the tables keep the rows of experiments that did not run, and their notes with them, so the
/// other files are planned too. An invalid file outside `--only` was not asked about; the
/// `planned` cells then give the only notes.
fn profile_notes(
    experiments_dir: &Path,
    profile: &str,
    only: &[String],
    planned: &[Cell],
) -> BTreeMap<String, String> {
    let everything = if only.is_empty() {
        None
    } else {
        plan(experiments_dir, profile, &[]).ok()
    };
    everything
        .as_deref()
        .unwrap_or(planned)
        .iter()
        .map(|cell| (cell.experiment.clone(), cell.profile_note.clone()))
        .collect()
}

/// Loads every experiment file (reporting all invalid ones at once) and expands its cells.
pub fn plan(experiments_dir: &Path, profile: &str, only: &[String]) -> anyhow::Result<Vec<Cell>> {
    let mut paths: Vec<_> = std::fs::read_dir(experiments_dir)
        .with_context(|| format!("listing {}", experiments_dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let stem = |path: &Path| {
        path.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    for name in only {
        if !paths.iter().any(|p| &stem(p) == name) {
            bail!("no experiment `{name}` in {}", experiments_dir.display());
        }
    }
    let mut cells = Vec::new();
    let mut problems = Vec::new();
    for path in paths
        .iter()
        .filter(|p| only.is_empty() || only.contains(&stem(p)))
    {
        match load_experiment(path) {
            Ok(file) => match expand(&file, &stem(path), profile) {
                Ok(expanded) => cells.extend(expanded),
                Err(problem) => problems.push(problem),
            },
            Err(error) => problems.push(error.to_string()),
        }
    }
    if !problems.is_empty() {
        bail!(
            "invalid experiments, nothing was trained:\n{}",
            problems.join("\n")
        );
    }
    Ok(cells)
}

fn remaining_epochs(trajectory: &Trajectory, store: &RunStore) -> u64 {
    let (_, leader_key) = trajectory.cells.last().expect("a trajectory has cells");
    let (leader, _) = trajectory.cells.last().expect("a trajectory has cells");
    let done = store
        .read_history(leader_key)
        .map(|h| h.len() as u64)
        .unwrap_or(0);
    leader.epochs.saturating_sub(done)
}

/// Cells trained at once: one per core, since one cell's small matrix products gain little from
/// a second thread, but never more than there are runs to train.
fn default_jobs(n_runs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(n_runs).max(1)
}

/// Times one training step of each run to train (after a warm-up step) and scales it up.
fn estimate_seconds(
    to_train: &[&Trajectory],
    store: &RunStore,
    device: &Device,
) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for trajectory in to_train {
        let (leader, _) = trajectory.cells.last().expect("a trajectory has cells");
        let mut probe = leader.clone();
        let steps_per_epoch = probe.settings.steps_per_epoch();
        probe.settings.set_steps_per_epoch(1);
        let mut trainer = runner::make_trainer(&probe, trajectory.images, device)?;
        trainer.train_epoch()?;
        let start = Instant::now();
        trainer.train_epoch()?;
        let step_seconds = start.elapsed().as_secs_f64();
        total +=
            step_seconds * (steps_per_epoch as u64 * remaining_epochs(trajectory, store)) as f64;
    }
    Ok(total)
}

fn human_duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

fn print_summary(outcomes: &[CellOutcome], skipped: &[Skipped], started: Instant) {
    let count =
        |f: &dyn Fn(&Provenance) -> bool| outcomes.iter().filter(|o| f(&o.provenance)).count();
    let trained = count(&|p| {
        matches!(
            p,
            Provenance::Trained {
                resumed_from_epoch: None
            }
        )
    });
    let resumed = count(&|p| {
        matches!(
            p,
            Provenance::Trained {
                resumed_from_epoch: Some(_)
            }
        )
    });
    let cached = count(&|p| matches!(p, Provenance::Cached));
    let served = count(&|p| matches!(p, Provenance::ServedFrom(_)));
    eprintln!(
        "ganrepro: {} cells: {trained} trained, {resumed} resumed from a checkpoint, {cached} from \
         the run store, {served} served from a longer run, {} skipped ({:.1} s)",
        outcomes.len() + skipped.len(),
        skipped.len(),
        started.elapsed().as_secs_f64()
    );
    // Cells skipped for one reason (CIFAR-10 missing, say) are listed together, then the reason
    // in full once: where it looked and how to supply the data.
    let mut by_reason: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for skip in skipped {
        by_reason
            .entry(skip.reason.as_str())
            .or_default()
            .push(skip.cell.label());
    }
    for (reason, cells) in by_reason {
        eprintln!("  skipped {}:", cells.join(", "));
        for line in reason.lines() {
            eprintln!("    {line}");
        }
    }
}

/// `ganrepro check-keys`: exit 1, naming each stale row, if the committed table of a profile
/// was not produced by the current code and experiment files.
pub fn check_keys(args: &CheckKeysArgs) -> anyhow::Result<ExitCode> {
    let table = args
        .root
        .join("results")
        .join(&args.profile)
        .join("d_loss.csv");
    let rows = ganrepro_report::read_d_loss_csv(&table)?;
    let cells = plan(&args.root.join("experiments"), &args.profile, &[])?;
    let mut options = DataOptions::from_env(&args.root);
    options.data_dir = args.data_dir.clone().or(options.data_dir);
    crate::matmul::choose(&options)?;
    let mut data = DataCache::default();
    let mut stale = Vec::new();
    for cell in &cells {
        let Ok(images) = data.get(&cell.data, &options)? else {
            // A cell whose data is missing cannot have a committed row; it must not have one.
            if let Some(row) = rows.iter().find(|r| outputs::same_cell(r, cell)) {
                stale.push(format!(
                    "{}: committed row but no data to check it ({})",
                    cell.label(),
                    row.run_key
                ));
            }
            continue;
        };
        let key = RunKey::of(cell, &images.content_sha256);
        match rows.iter().find(|r| outputs::same_cell(r, cell)) {
            Some(row) if row.run_key == key.0 => {}
            Some(row) => stale.push(format!(
                "{}: committed run key {} but the current code and files give {}",
                cell.label(),
                &row.run_key[..12.min(row.run_key.len())],
                key.short()
            )),
            None => stale.push(format!("{}: no committed row", cell.label())),
        }
    }
    for row in &rows {
        if !cells.iter().any(|cell| outputs::same_cell(row, cell)) {
            stale.push(format!(
                "{}: committed row for a cell no experiment declares",
                row.cell_key()
            ));
        }
    }
    if stale.is_empty() {
        println!(
            "{}: all {} rows match the current run keys",
            table.display(),
            rows.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} is stale ({} problem(s)):\n  {}\nrefresh it with: cargo xtask reproduce --profile {} \
         (and commit results/{}/)",
        table.display(),
        stale.len(),
        stale.join("\n  "),
        args.profile,
        args.profile
    );
    Ok(ExitCode::from(1))
}
