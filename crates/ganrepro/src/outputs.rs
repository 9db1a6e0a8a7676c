//! Tables and figures of a profile under `results/<profile>/`, and the golden comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ganrepro_experiment::{Cell, ModelKind, Summary};
use ganrepro_report::{CellRow, LossHistory, LossSeries, Model, SkippedCell};
use tracing::info;

use crate::cli::CompareArgs;
use crate::runner::CellOutcome;

/// A cell that was not trained, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The cell.
    pub cell: Cell,
    /// Why, in words (for a missing data set: where we looked and how to supply it).
    pub reason: String,
}

fn model(kind: ModelKind) -> Model {
    match kind {
        ModelKind::Vanilla => Model::Vanilla,
        ModelKind::Dcgan => Model::Dcgan,
    }
}

/// The table row of a finished cell.
pub fn row(outcome: &CellOutcome) -> CellRow {
    let cell = &outcome.cell;
    let summary = Summary::of(&outcome.entry.history, cell.window, cell.model);
    let (steps_per_epoch, batch_size) =
        (cell.settings.steps_per_epoch(), cell.settings.batch_size());
    CellRow {
        experiment: cell.experiment.clone(),
        model: model(cell.model),
        dataset: cell.dataset.clone(),
        class: cell.class.clone(),
        hidden_layers: cell.hidden_layers.map(|h| h as u32),
        epochs: cell.epochs as u32,
        window: summary.window as u32,
        steps_per_epoch: steps_per_epoch as u32,
        batch_size: batch_size as u32,
        thesis_statistic: summary.thesis_statistic,
        d_loss_last_step_avg: summary.d_loss_last_step_avg,
        d_loss_epoch_mean_avg: summary.d_loss_epoch_mean_avg,
        thesis_value: cell.thesis_value,
        scaled: cell.scaled.join("; "),
        run_key: outcome.key.0.clone(),
    }
}

/// Writes `d_loss.csv`, `d_loss.md` and every figure of the profile into `dir`; returns the
/// markdown.
/// With `merge`, rows of experiments not in `outcomes` are kept from the existing table.
/// `profile_notes` maps experiment names to their profile's note; the report lists the notes of
/// the experiments it shows.
pub fn write_all(
    dir: &Path,
    profile: &str,
    outcomes: &[CellOutcome],
    skipped: &[Skipped],
    merge: bool,
    profile_notes: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let csv_path = dir.join("d_loss.csv");
    let mut rows: Vec<CellRow> = outcomes.iter().map(row).collect();
    if merge && csv_path.exists() {
        let ran: BTreeSet<&str> = outcomes
            .iter()
            .map(|o| o.cell.experiment.as_str())
            .collect();
        let kept = ganrepro_report::read_d_loss_csv(&csv_path)?;
        rows.extend(
            kept.into_iter()
                .filter(|r| !ran.contains(r.experiment.as_str())),
        );
    }
    ganrepro_report::sort_rows(&mut rows);
    ganrepro_report::write_d_loss_csv(&csv_path, &rows)?;

    let skipped_cells: Vec<SkippedCell> = skipped
        .iter()
        .map(|s| SkippedCell {
            experiment: s.cell.experiment.clone(),
            model: model(s.cell.model),
            dataset: s.cell.dataset.clone(),
            class: s.cell.class.clone(),
            epochs: s.cell.epochs as u32,
            reason: s.reason.clone(),
        })
        .collect();
    let shown: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.experiment.as_str())
        .chain(skipped.iter().map(|s| s.cell.experiment.as_str()))
        .collect();
    let note = shown
        .into_iter()
        .filter_map(|experiment| {
            let note = profile_notes.get(experiment)?;
            Some(format!("- {experiment}: {}", note.trim()))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let markdown = ganrepro_report::render_d_loss_markdown(profile, &rows, &skipped_cells, &note);
    ganrepro_report::write_d_loss_markdown(
        &dir.join("d_loss.md"),
        profile,
        &rows,
        &skipped_cells,
        &note,
    )?;

    write_figures(&dir.join("figures"), outcomes, &rows)?;
    info!("tables and figures written to {}", dir.display());
    Ok(markdown)
}

/// Whether a table row describes `cell`.
pub fn same_cell(row: &CellRow, cell: &Cell) -> bool {
    row.experiment == cell.experiment
        && row.dataset == cell.dataset
        && row.class == cell.class
        && row.hidden_layers == cell.hidden_layers.map(|h| h as u32)
        && u64::from(row.epochs) == cell.epochs
}

/// `mnist-h2`, `cifar10-dog`: the part of a figure's name shared by the cells of a trajectory.
fn trajectory_stem(cell: &Cell) -> String {
    let mut stem = cell.dataset.clone();
    if let Some(class) = &cell.class {
        stem += &format!("-{class}");
    }
    if let Some(depth) = cell.hidden_layers {
        stem += &format!("-h{depth}");
    }
    stem
}

fn write_figures(dir: &Path, outcomes: &[CellOutcome], rows: &[CellRow]) -> anyhow::Result<()> {
    // Cells of one trajectory share their samples: each grid is drawn once, named without the
    // cell's epoch count.
    let mut drawn_samples = BTreeSet::new();
    // Figures of the experiments drawn now are replaced whole, so none is left from older runs.
    let experiments: BTreeSet<&str> = outcomes
        .iter()
        .map(|o| o.cell.experiment.as_str())
        .collect();
    for experiment in experiments {
        let folder = dir.join(experiment);
        if folder.exists() {
            std::fs::remove_dir_all(&folder)
                .with_context(|| format!("clearing {}", folder.display()))?;
        }
    }
    for outcome in outcomes {
        let cell = &outcome.cell;
        let folder = dir.join(&cell.experiment);
        let stem = format!("{}-e{}", trajectory_stem(cell), cell.epochs);
        let history = LossHistory {
            d_loss_last: outcome
                .entry
                .history
                .iter()
                .map(|r| r.d_loss_last)
                .collect(),
            g_loss_last: outcome
                .entry
                .history
                .iter()
                .map(|r| r.g_loss_last)
                .collect(),
            d_loss_mean: outcome
                .entry
                .history
                .iter()
                .map(|r| r.d_loss_mean)
                .collect(),
            g_loss_mean: outcome
                .entry
                .history
                .iter()
                .map(|r| r.g_loss_mean)
                .collect(),
        };
        // The thesis draws a quadratic trend on the vanilla curves only.
        let trend = cell.model == ModelKind::Vanilla;
        let title = format!("{} ({} profile)", cell.label(), cell.profile);
        for (series, name) in [(LossSeries::D, "d_loss"), (LossSeries::G, "g_loss")] {
            let path = folder.join(format!("{stem}-{name}.png"));
            ganrepro_report::plot_losses(&path, &title, &history, series, trend)
                .with_context(|| format!("drawing {}", path.display()))?;
        }
        for (epoch, samples) in &outcome.entry.samples {
            let path: PathBuf = folder.join(format!(
                "{}-samples-epoch{epoch}.png",
                trajectory_stem(cell)
            ));
            if !cell.sample_epochs.contains(epoch) || !drawn_samples.insert(path.clone()) {
                continue;
            }
            let side = (samples.n_images as f64).sqrt() as usize;
            ganrepro_report::plot_sample_grid(
                &path,
                &samples.pixels,
                samples.n_images,
                samples.channels,
                samples.height,
                samples.width,
                side,
                samples.n_images.div_ceil(side),
                samples.channels == 1,
            )
            .with_context(|| format!("drawing {}", path.display()))?;
        }
    }
    let groups: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.experiment.clone(), r.dataset.clone()))
        .collect();
    for (experiment, dataset) in groups {
        let subset: Vec<CellRow> = rows
            .iter()
            .filter(|r| r.experiment == experiment && r.dataset == dataset)
            .cloned()
            .collect();
        let path = dir
            .join(&experiment)
            .join(format!("{dataset}-comparison.png"));
        let title = format!("{experiment} on {dataset}: ours vs the thesis");
        ganrepro_report::plot_comparison(&path, &title, &subset)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    Ok(())
}

/// `ganrepro compare`: exit 0 when the tables agree within tolerance, 1 with a table of the
/// differences otherwise.
pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let golden = ganrepro_report::read_d_loss_csv(&args.golden)?;
    let produced = ganrepro_report::read_d_loss_csv(&args.produced)?;
    let tolerances = ganrepro_report::load_tolerances(&args.tolerances)?;
    let differences = ganrepro_report::compare_tables(&golden, &produced, &tolerances);
    if differences.is_empty() {
        println!(
            "{} cells of {} match the golden table {}",
            produced.len(),
            args.produced.display(),
            args.golden.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} difference(s) between {} (golden) and {} (produced):\n{}",
        differences.len(),
        args.golden.display(),
        args.produced.display(),
        ganrepro_report::render_differences(&differences)
    );
    Ok(ExitCode::from(1))
}
