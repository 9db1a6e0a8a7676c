//! Training one trajectory: the longest cell of a group of cells that differ only by their
//! epoch count, with checkpoints and resume, then serving the shorter cells from its history.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use ganrepro_data::ImageSet;
use ganrepro_experiment::{Cell, Completion, Lookup, ModelSettings, RunEntry, RunKey, RunStore};
use ganrepro_train::candle_core::Device;
use ganrepro_train::dcgan::DcganTrainer;
use ganrepro_train::vanilla::VanillaTrainer;
use ganrepro_train::{checkpoint, EpochRecord, Images, SampleImages, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use tracing::{info, warn};

/// How a cell's result was obtained, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Found finished in the run store.
    Cached,
    /// Trained in this invocation (possibly resumed from a checkpoint).
    Trained { resumed_from_epoch: Option<u64> },
    /// Taken from the first epochs of a longer run of the same trajectory.
    ServedFrom(RunKey),
}

/// A cell with its finished run.
#[derive(Debug, Clone)]
pub struct CellOutcome {
    /// The cell.
    pub cell: Cell,
    /// Its run key.
    pub key: RunKey,
    /// Its run.
    pub entry: RunEntry,
    /// Where the run came from.
    pub provenance: Provenance,
}

/// Where and how runs train: shared by every trajectory of an invocation.
pub struct RunContext<'a> {
    /// The run store.
    pub store: &'a RunStore,
    /// The training device.
    pub device: &'a Device,
    /// The progress bar counting trained epochs.
    pub progress: &'a ProgressBar,
    /// Most time between two checkpoints of a run.
    pub checkpoint_interval: Duration,
}

/// A group of cells sharing a trajectory, on one data set.
pub struct Trajectory<'a> {
    /// Cells of the group with their run keys, longest last.
    pub cells: Vec<(Cell, RunKey)>,
    /// Their images.
    pub images: &'a ImageSet,
    /// Content hash of the images.
    pub data_sha256: String,
}

/// Number of sample images a model's grid shows (10x10 vanilla, 3x3 DCGAN).
pub fn sample_count(cell: &Cell) -> usize {
    match cell.settings {
        ModelSettings::Vanilla(_) => 100,
        ModelSettings::Dcgan(_) => 9,
    }
}

/// Builds the trainer of a cell.
pub fn make_trainer(
    cell: &Cell,
    images: &ImageSet,
    device: &Device,
) -> anyhow::Result<Box<dyn Trainer + Send>> {
    let view = Images {
        pixels: &images.pixels,
        n_images: images.n_images,
        channels: images.channels,
        height: images.height,
        width: images.width,
    };
    Ok(match &cell.settings {
        ModelSettings::Vanilla(settings) => Box::new(VanillaTrainer::new(
            settings.clone(),
            cell.seed,
            &view,
            device,
        )?),
        ModelSettings::Dcgan(settings) => Box::new(DcganTrainer::new(
            settings.clone(),
            cell.seed,
            &view,
            device,
        )?),
    })
}

/// Serves every cell of the trajectory: from the store when finished, else by training the
/// longest cell (resuming a killed run) and cutting the shorter ones from its history.
pub fn run_trajectory(
    trajectory: &Trajectory,
    context: &RunContext,
) -> anyhow::Result<Vec<CellOutcome>> {
    let store = context.store;
    let mut outcomes = Vec::new();
    let mut missing = Vec::new();
    for (cell, key) in &trajectory.cells {
        match store.lookup(key) {
            Lookup::Hit(entry) => {
                info!("{} cached under run key {}", cell.label(), key.short());
                outcomes.push(CellOutcome {
                    cell: cell.clone(),
                    key: key.clone(),
                    entry,
                    provenance: Provenance::Cached,
                });
            }
            Lookup::Corrupt(error) => {
                warn!(
                    "{}: {error:#}; removing the entry and training again",
                    cell.label()
                );
                store.remove(key)?;
                missing.push((cell, key));
            }
            Lookup::Missing | Lookup::Partial => missing.push((cell, key)),
        }
    }
    if missing.is_empty() {
        return Ok(outcomes);
    }

    let (leader, leader_key) = trajectory.cells.last().expect("a trajectory has cells");
    let (leader_entry, leader_provenance) = match outcomes.iter().find(|o| &o.key == leader_key) {
        Some(outcome) => (outcome.entry.clone(), None),
        None => {
            // The longest run must also keep samples at every shorter cell's snapshots.
            let mut sample_epochs: Vec<u64> = trajectory
                .cells
                .iter()
                .flat_map(|(c, _)| c.sample_epochs.clone())
                .collect();
            sample_epochs.sort_unstable();
            sample_epochs.dedup();
            let (entry, resumed) = train(leader, leader_key, &sample_epochs, trajectory, context)?;
            (entry, Some(resumed))
        }
    };

    for (cell, key) in missing {
        if key == leader_key {
            outcomes.push(CellOutcome {
                cell: cell.clone(),
                key: key.clone(),
                entry: leader_entry.clone(),
                provenance: Provenance::Trained {
                    resumed_from_epoch: leader_provenance.flatten(),
                },
            });
            continue;
        }
        let entry = serve_from(cell, key, &leader_entry, store, &trajectory.data_sha256)?;
        info!(
            "{}: served from the first {} epochs of run {} ({} epochs), not trained again",
            cell.label(),
            cell.epochs,
            leader_key.short(),
            leader.epochs
        );
        outcomes.push(CellOutcome {
            cell: cell.clone(),
            key: key.clone(),
            entry,
            provenance: Provenance::ServedFrom(leader_key.clone()),
        });
    }
    outcomes.sort_by_key(|o| o.cell.epochs);
    Ok(outcomes)
}

/// The resolved cell as written into its entry, for people reading the store.
fn describe_cell(cell: &Cell, key: &RunKey, data_sha256: &str) -> String {
    let settings = serde_json::to_value(&cell.settings).expect("settings serialise");
    let description = serde_json::json!({
        "label": cell.label(),
        "run_key": key.0,
        "result_version": cell.model.result_version(),
        "matmul": ganrepro_train::blas::identity(),
        "model": cell.model,
        "settings": settings,
        "data": cell.data,
        "data_sha256": data_sha256,
        "seed": cell.seed,
        "epochs": cell.epochs,
        "scaled": cell.scaled,
    });
    serde_json::to_string_pretty(&description).expect("json")
}

fn serve_from(
    cell: &Cell,
    key: &RunKey,
    longer: &RunEntry,
    store: &RunStore,
    data_sha256: &str,
) -> anyhow::Result<RunEntry> {
    let history = longer.history[..cell.epochs as usize].to_vec();
    let samples: BTreeMap<u64, SampleImages> = longer
        .samples
        .iter()
        .filter(|(epoch, _)| cell.sample_epochs.contains(epoch))
        .map(|(epoch, s)| (*epoch, s.clone()))
        .collect();
    store.write_file(
        key,
        "cell.json",
        describe_cell(cell, key, data_sha256).as_bytes(),
    )?;
    store.write_history(key, &history)?;
    store.write_samples(key, &samples)?;
    let completion = Completion {
        epochs: cell.epochs,
        served_from: Some(longer.key.0.clone()),
    };
    store.complete(key, &completion)?;
    Ok(RunEntry {
        key: key.clone(),
        history,
        samples,
        completion,
    })
}

/// Trains `cell` to its epoch count, resuming from a checkpoint if a killed run left one.
/// Returns the finished entry and the epoch it resumed from.
fn train(
    cell: &Cell,
    key: &RunKey,
    sample_epochs: &[u64],
    trajectory: &Trajectory,
    context: &RunContext,
) -> anyhow::Result<(RunEntry, Option<u64>)> {
    let RunContext {
        store,
        device,
        progress,
        checkpoint_interval,
    } = *context;
    let label = cell.label();
    let mut trainer = make_trainer(cell, trajectory.images, device)?;
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut samples = BTreeMap::new();
    let mut resumed_from = None;

    let checkpoint_path = store.checkpoint_path(key);
    if checkpoint_path.exists() {
        let restored = checkpoint::load(&checkpoint_path, device)
            .map_err(anyhow::Error::from)
            .and_then(|tensors| Ok(trainer.restore(&tensors)?))
            .and_then(|()| Ok(store.read_history(key)?));
        match restored {
            Ok(stored_history) if stored_history.len() as u64 >= trainer.completed_epochs() => {
                let epoch = trainer.completed_epochs();
                history = stored_history[..epoch as usize].to_vec();
                if let Lookup::Hit(_) | Lookup::Partial = store.lookup(key) {
                    samples = read_partial_samples(store, key, epoch);
                }
                resumed_from = Some(epoch);
                info!(
                    "{label}: resuming run {} from its checkpoint at epoch {epoch}",
                    key.short()
                );
            }
            Ok(_) | Err(_) => {
                warn!(
                    "{label}: the checkpoint of run {} is unusable; starting over",
                    key.short()
                );
                store.remove(key)?;
                trainer = make_trainer(cell, trajectory.images, device)?;
            }
        }
    } else if store.dir(key).exists() {
        warn!(
            "{label}: run {} left no checkpoint; starting over",
            key.short()
        );
        store.remove(key)?;
    }
    store.write_file(
        key,
        "cell.json",
        describe_cell(cell, key, &trajectory.data_sha256).as_bytes(),
    )?;
    let mut log = RunLog::open(store, key)?;
    log.line(&format!(
        "training {label} to epoch {} (run key {}){}",
        cell.epochs,
        key.0,
        resumed_from
            .map(|e| format!(", resumed at epoch {e}"))
            .unwrap_or_default()
    ))?;

    progress.set_message(label.clone());
    progress.inc(trainer.completed_epochs());
    let mut last_checkpoint = Instant::now();
    while trainer.completed_epochs() < cell.epochs {
        let record = trainer
            .train_epoch()
            .with_context(|| format!("training {label}"))?;
        let epoch = record.epoch;
        history.push(record);
        if sample_epochs.contains(&epoch) {
            samples.insert(epoch, trainer.samples(sample_count(cell))?);
        }
        progress.inc(1);
        if last_checkpoint.elapsed() >= checkpoint_interval || epoch == cell.epochs {
            // History and samples first: a checkpoint never points past what they hold.
            store.write_history(key, &history)?;
            store.write_samples(key, &samples)?;
            checkpoint::save(&trainer.checkpoint()?, &checkpoint_path)?;
            log.line(&format!(
                "epoch {epoch}: checkpoint; last-step D loss {:.4}, G loss {:.4}",
                record.d_loss_last, record.g_loss_last
            ))?;
            last_checkpoint = Instant::now();
        }
    }
    let completion = Completion {
        epochs: cell.epochs,
        served_from: None,
    };
    store.complete(key, &completion)?;
    log.line("finished")?;
    Ok((
        RunEntry {
            key: key.clone(),
            history,
            samples,
            completion,
        },
        resumed_from,
    ))
}

fn read_partial_samples(store: &RunStore, key: &RunKey, up_to: u64) -> BTreeMap<u64, SampleImages> {
    match store.read_samples(key) {
        Ok(samples) => samples
            .into_iter()
            .filter(|(epoch, _)| *epoch <= up_to)
            .collect(),
        Err(error) => {
            warn!("{error:#}; samples before the checkpoint are lost");
            BTreeMap::new()
        }
    }
}

/// The per-run log file, `run.log` in the entry's directory.
struct RunLog(std::fs::File);

impl RunLog {
    fn open(store: &RunStore, key: &RunKey) -> anyhow::Result<Self> {
        let path = store.dir(key).join("run.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self(file))
    }

    fn line(&mut self, text: &str) -> anyhow::Result<()> {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        writeln!(self.0, "[unix {seconds}] {text}")?;
        Ok(())
    }
}

/// A progress bar for `n_epochs` epochs of training.
pub fn progress_bar(n_epochs: u64) -> ProgressBar {
    let bar = ProgressBar::new(n_epochs);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} epochs, eta {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
