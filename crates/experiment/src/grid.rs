//! Expansion of an experiment under a profile into its cells.

use ganrepro_data::DatasetId;
use serde::Serialize;

use ganrepro_train::dcgan::{DcganOverrides, DcganSettings};
use ganrepro_train::vanilla::{VanillaOverrides, VanillaSettings};

use crate::file::{DataPrep, ExperimentFile, ModelKind, ProfileSpec};
use crate::published::published_value;

/// The resolved training settings of a cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSettings {
    /// A vanilla GAN.
    Vanilla(VanillaSettings),
    /// A DCGAN.
    Dcgan(DcganSettings),
}

impl ModelSettings {
    /// Optimisation steps per epoch.
    pub fn steps_per_epoch(&self) -> usize {
        match self {
            ModelSettings::Vanilla(s) => s.steps_per_epoch,
            ModelSettings::Dcgan(s) => s.steps_per_epoch,
        }
    }

    /// Sets the optimisation steps per epoch (used to time a single step).
    pub fn set_steps_per_epoch(&mut self, steps: usize) {
        match self {
            ModelSettings::Vanilla(s) => s.steps_per_epoch = steps,
            ModelSettings::Dcgan(s) => s.steps_per_epoch = steps,
        }
    }

    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        match self {
            ModelSettings::Vanilla(s) => s.batch_size,
            ModelSettings::Dcgan(s) => s.batch_size,
        }
    }
}

/// Which images a cell trains on, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DataSpec {
    /// Data set name.
    pub dataset: String,
    /// Label of the class kept, if one is selected.
    pub class: Option<u8>,
    /// Side length images are resized to, if any.
    pub resize: Option<usize>,
    /// Channel count a grey image is repeated to, if any.
    pub channels: Option<usize>,
    /// Number of images kept, if limited.
    pub limit: Option<usize>,
}

/// One point of a grid, with everything needed to train and report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Experiment name (the file's stem).
    pub experiment: String,
    /// Profile the cell was resolved under.
    pub profile: String,
    /// Model family.
    pub model: ModelKind,
    /// Data set name.
    pub dataset: String,
    /// Class name or index as written, if the grid selects classes.
    pub class: Option<String>,
    /// Depth as the thesis counts it (vanilla).
    pub hidden_layers: Option<usize>,
    /// Epochs to train.
    pub epochs: u64,
    /// Epochs averaged by the summary statistic, at most `epochs`.
    pub window: u64,
    /// Seed of the run.
    pub seed: u64,
    /// Resolved model settings.
    pub settings: ModelSettings,
    /// Resolved data.
    pub data: DataSpec,
    /// Epochs at which to save sample grids (always includes `epochs`).
    pub sample_epochs: Vec<u64>,
    /// Every setting the profile changed from the thesis, as phrases.
    pub scaled: Vec<String>,
    /// The profile's note.
    pub profile_note: String,
    /// The thesis's published value for this cell, if any.
    pub thesis_value: Option<f64>,
}

impl Cell {
    /// A short human name, such as `thesis-vanilla/mnist/h2/e600`.
    pub fn label(&self) -> String {
        let mut label = format!("{}/{}", self.experiment, self.dataset);
        if let Some(class) = &self.class {
            label += &format!("/{class}");
        }
        if let Some(depth) = self.hidden_layers {
            label += &format!("/h{depth}");
        }
        label + &format!("/e{}", self.epochs)
    }
}

/// The label index of a class written as an index or a name of the given data set.
pub(crate) fn class_index(dataset: &str, class: &str) -> Option<u8> {
    dataset.parse::<DatasetId>().ok()?.class_index(class)
}

/// Whether a class name is known for any data set (used before the data set is paired).
pub(crate) fn class_index_any(class: &str) -> Option<u8> {
    DatasetId::ALL
        .iter()
        .find_map(|dataset| dataset.class_index(class))
}

/// Expands `file` (named `experiment`) under `profile` into its cells, in grid order.
///
/// Fails with a message naming the profile if it does not exist, or a class that its data
/// set does not have.
pub fn expand(file: &ExperimentFile, experiment: &str, profile: &str) -> Result<Vec<Cell>, String> {
    let spec = file.profiles.get(profile).ok_or_else(|| {
        let known: Vec<_> = file.profiles.keys().map(String::as_str).collect();
        format!(
            "experiment {experiment} has no profile `{profile}` (it has: {})",
            known.join(", ")
        )
    })?;
    let values = |own: &Option<Vec<serde_saphyr::Spanned<String>>>,
                  base: &Option<Vec<serde_saphyr::Spanned<String>>>| {
        own.as_ref()
            .or(base.as_ref())
            .map(|v| v.iter().map(|s| s.value.clone()).collect())
    };
    let datasets: Vec<String> =
        values(&spec.grid.datasets, &file.grid.datasets).unwrap_or_default();
    let classes: Vec<Option<String>> = match values(&spec.grid.classes, &file.grid.classes) {
        Some(classes) => classes.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let depths: Vec<Option<usize>> = match spec
        .grid
        .hidden_layers
        .as_ref()
        .or(file.grid.hidden_layers.as_ref())
    {
        Some(depths) => depths.iter().map(|d| Some(d.value)).collect(),
        None => vec![None],
    };
    let epoch_counts: Vec<u64> = spec
        .grid
        .epochs
        .as_ref()
        .or(file.grid.epochs.as_ref())
        .map(|v| v.iter().map(|e| e.value).collect())
        .unwrap_or_default();
    let window = spec.window.as_ref().unwrap_or(&file.window).value;
    let samples = spec.samples.as_ref().unwrap_or(&file.samples);
    let data_prep = {
        let base = &file.data;
        let over = spec.data.clone().unwrap_or_default();
        DataPrep {
            resize: over.resize.or(base.resize),
            channels: over.channels.or(base.channels),
            limit: over.limit.or(base.limit),
        }
    };

    let mut cells = Vec::new();
    for dataset in &datasets {
        for class in &classes {
            let class_label = match class {
                Some(name) => Some(class_index(dataset, name).ok_or_else(|| {
                    format!("experiment {experiment}: data set {dataset} has no class `{name}`")
                })?),
                None => None,
            };
            for &depth in &depths {
                for &epochs in &epoch_counts {
                    let (settings, scaled) = resolve_settings(file, spec, depth);
                    let mut sample_epochs = vec![epochs];
                    let wants_extra = match (&samples.hidden_layers, depth) {
                        (Some(selected), Some(depth)) => selected.contains(&depth),
                        _ => true,
                    };
                    if wants_extra {
                        let extra = samples.epochs.iter().flatten().filter(|&&e| e <= epochs);
                        sample_epochs.extend(extra);
                    }
                    sample_epochs.sort_unstable();
                    sample_epochs.dedup();
                    let mut scaled = scaled;
                    if window != file.window.value {
                        scaled.push(format!("window {window} (thesis {})", file.window.value));
                    }
                    if let Some(limit) = data_prep.limit {
                        scaled.push(format!("images limited to {limit}"));
                    }
                    cells.push(Cell {
                        experiment: experiment.to_owned(),
                        profile: profile.to_owned(),
                        model: file.model,
                        dataset: dataset.clone(),
                        class: class.clone(),
                        hidden_layers: depth,
                        epochs,
                        window: window.min(epochs),
                        seed: file.seed,
                        settings,
                        data: DataSpec {
                            dataset: dataset.clone(),
                            class: class_label,
                            resize: data_prep.resize,
                            channels: data_prep.channels,
                            limit: data_prep.limit,
                        },
                        sample_epochs,
                        scaled,
                        profile_note: spec.note.clone(),
                        thesis_value: published_value(
                            &file.model.to_string(),
                            dataset,
                            class.as_deref(),
                            depth,
                            epochs,
                        ),
                    });
                }
            }
        }
    }
    Ok(cells)
}

/// The cell's model settings: the notebook's, then the file's, then the profile's overrides;
/// and the phrases naming what differs from the notebook's.
fn resolve_settings(
    file: &ExperimentFile,
    profile: &ProfileSpec,
    depth: Option<usize>,
) -> (ModelSettings, Vec<String>) {
    let divisor = profile.width_divisor.as_ref().map_or(1, |d| d.value);
    match file.model {
        ModelKind::Vanilla => {
            let thesis = VanillaSettings::thesis(depth.unwrap_or(2));
            let narrowed = VanillaOverrides {
                generator_widths: Some(
                    thesis
                        .generator_widths
                        .iter()
                        .map(|w| w / divisor)
                        .collect(),
                ),
                discriminator_widths: Some(
                    thesis
                        .discriminator_widths
                        .iter()
                        .map(|w| w / divisor)
                        .collect(),
                ),
                ..VanillaOverrides::default()
            };
            let file_level = narrowed.merged(&file.vanilla.clone().unwrap_or_default());
            let overrides = match profile.vanilla.as_ref() {
                Some(profile) => file_level.merged(profile),
                None => file_level,
            };
            let settings = thesis.clone().with_overrides(&overrides);
            let scaled = settings.describe_changes(&thesis, "thesis");
            (ModelSettings::Vanilla(settings), scaled)
        }
        ModelKind::Dcgan => {
            let thesis = DcganSettings::thesis();
            let narrowed = DcganOverrides {
                generator_filters: Some(thesis.generator_filters / divisor),
                discriminator_filters: Some(thesis.discriminator_filters / divisor),
                ..DcganOverrides::default()
            };
            let file_level = narrowed.merged(&file.dcgan.clone().unwrap_or_default());
            let overrides = match profile.dcgan.as_ref() {
                Some(profile) => file_level.merged(profile),
                None => file_level,
            };
            let settings = thesis.clone().with_overrides(&overrides);
            let scaled = settings.describe_changes(&thesis, "thesis");
            (ModelSettings::Dcgan(settings), scaled)
        }
    }
}
