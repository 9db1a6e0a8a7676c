//! The experiment file format and its validation.
//!
//! Parsing rejects unknown fields, wrong types and duplicate keys with the line and column of
//! the problem; validation then collects every semantic problem of the file, each with its
//! location, before anything trains.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ganrepro_train::dcgan::DcganOverrides;
use ganrepro_train::vanilla::VanillaOverrides;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Which family of networks an experiment trains.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The fully connected GAN of the MNIST and Fashion-MNIST experiments.
    Vanilla,
    /// The convolutional GAN of the CIFAR-10 experiments.
    Dcgan,
}

impl ModelKind {
    /// The training code's result version of this model, part of every run key.
    pub fn result_version(self) -> u32 {
        match self {
            ModelKind::Vanilla => ganrepro_train::VANILLA_RESULT_VERSION,
            ModelKind::Dcgan => ganrepro_train::DCGAN_RESULT_VERSION,
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Vanilla => "vanilla",
            ModelKind::Dcgan => "dcgan",
        })
    }
}

/// One experiment file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// What the experiment reproduces, in a sentence.
    pub description: String,
    /// The model family.
    pub model: ModelKind,
    /// Seed of every run of the grid.
    pub seed: u64,
    /// Epochs at the end of each run that the summary statistic averages over.
    pub window: Spanned<u64>,
    /// The grid: every combination of its lists is one cell.
    pub grid: GridSpec,
    /// Epochs at which sample grids are saved, for the cells `samples.hidden_layers` selects.
    #[serde(default)]
    pub samples: SamplesSpec,
    /// How the data set is prepared for the model.
    #[serde(default)]
    pub data: DataPrep,
    /// Settings of the vanilla GAN that differ from the notebook's.
    #[serde(default)]
    pub vanilla: Option<VanillaOverrides>,
    /// Settings of the DCGAN that differ from the notebook's.
    #[serde(default)]
    pub dcgan: Option<DcganOverrides>,
    /// Named ways to scale the experiment (`thesis`, `quick`, `ci`).
    pub profiles: BTreeMap<String, ProfileSpec>,
}

/// The lists a grid is the product of.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Data set names: `mnist`, `fashion-mnist`, `cifar10`.
    #[serde(default)]
    pub datasets: Option<Vec<Spanned<String>>>,
    /// Classes of the data set to train on, by name or label index (each its own cell);
    /// absent means every image.
    #[serde(default)]
    pub classes: Option<Vec<Spanned<String>>>,
    /// Hidden-layer counts as the thesis counts them (vanilla only).
    #[serde(default)]
    pub hidden_layers: Option<Vec<Spanned<usize>>>,
    /// Epoch counts.
    #[serde(default)]
    pub epochs: Option<Vec<Spanned<u64>>>,
}

/// Where sample grids are saved besides each cell's last epoch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplesSpec {
    /// Extra epochs at which to save a sample grid.
    #[serde(default)]
    pub epochs: Option<Vec<u64>>,
    /// Restrict the extra snapshots to these depths (vanilla); absent means every cell.
    #[serde(default)]
    pub hidden_layers: Option<Vec<usize>>,
}

/// How images are prepared before training.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataPrep {
    /// Resize every image to this many pixels a side.
    #[serde(default)]
    pub resize: Option<usize>,
    /// Repeat a single channel to this many channels (grey to RGB).
    #[serde(default)]
    pub channels: Option<usize>,
    /// Keep only the first this many images (after class selection).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A named scaling of an experiment. Every field replaces the file's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// What the profile is for and what it costs, shown in the outputs.
    pub note: String,
    /// Lists of the grid to replace.
    #[serde(default)]
    pub grid: GridSpec,
    /// Averaging window to use instead.
    #[serde(default)]
    pub window: Option<Spanned<u64>>,
    /// Sample snapshots to use instead.
    #[serde(default)]
    pub samples: Option<SamplesSpec>,
    /// Data preparation to layer over the file's.
    #[serde(default)]
    pub data: Option<DataPrep>,
    /// Divide every layer width of the thesis networks by this, keeping the depth rule.
    #[serde(default)]
    pub width_divisor: Option<Spanned<usize>>,
    /// Vanilla settings to layer over the file's.
    #[serde(default)]
    pub vanilla: Option<VanillaOverrides>,
    /// DCGAN settings to layer over the file's.
    #[serde(default)]
    pub dcgan: Option<DcganOverrides>,
}

/// A problem with an experiment file.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The file could not be read.
    #[error("cannot read experiment file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not match the format (syntax, unknown field, type, duplicate key).
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, which carries the line and column.
        message: String,
    },
    /// The file parsed but some values are invalid; every problem is listed.
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.join("\n"))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per problem, each starting with `line L column C:`.
        problems: Vec<String>,
    },
}

/// Reads and validates an experiment file.
pub fn load_experiment(path: &Path) -> Result<ExperimentFile, ExperimentError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExperimentError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_experiment(&text, path)
}

/// Parses and validates experiment YAML; `path` names the source in errors.
pub fn parse_experiment(text: &str, path: &Path) -> Result<ExperimentFile, ExperimentError> {
    let file: ExperimentFile =
        serde_saphyr::from_str(text).map_err(|e| ExperimentError::Syntax {
            path: path.to_owned(),
            // The parser heads its source excerpt with a placeholder name; name the file.
            message: e
                .to_string()
                .replace("<input>", &path.display().to_string()),
        })?;
    let problems = validate(&file);
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(ExperimentError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

/// The data sets this project can load.
pub(crate) const DATASETS: [&str; 3] = ["mnist", "fashion-mnist", "cifar10"];

fn at<T>(spanned: &Spanned<T>) -> String {
    format!(
        "line {} column {}",
        spanned.referenced.line(),
        spanned.referenced.column()
    )
}

fn validate(file: &ExperimentFile) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check_grid = |grid: &GridSpec, whose: &str| {
        for dataset in grid.datasets.iter().flatten() {
            if !DATASETS.contains(&dataset.value.as_str()) {
                problems.push(format!(
                    "{}: {whose}grid.datasets: unknown data set `{}`, expected one of {}",
                    at(dataset),
                    dataset.value,
                    DATASETS.join(", ")
                ));
            }
        }
        for class in grid.classes.iter().flatten() {
            if crate::grid::class_index_any(&class.value).is_none() {
                problems.push(format!(
                    "{}: {whose}grid.classes: unknown class `{}`, expected a label index 0-9 or \
                     a CIFAR-10 or Fashion-MNIST class name",
                    at(class),
                    class.value
                ));
            }
        }
        for depth in grid.hidden_layers.iter().flatten() {
            if file.model != ModelKind::Vanilla {
                problems.push(format!(
                    "{}: {whose}grid.hidden_layers: only vanilla experiments have a depth",
                    at(depth)
                ));
            } else if depth.value < 1 {
                problems.push(format!(
                    "{}: {whose}grid.hidden_layers: must be at least 1",
                    at(depth)
                ));
            }
        }
        for epochs in grid.epochs.iter().flatten() {
            if epochs.value == 0 {
                problems.push(format!(
                    "{}: {whose}grid.epochs: must be at least 1",
                    at(epochs)
                ));
            }
        }
    };
    check_grid(&file.grid, "");
    for (name, profile) in &file.profiles {
        check_grid(&profile.grid, &format!("profiles.{name}."));
    }
    for (name, window) in std::iter::once(("", Some(&file.window))).chain(
        file.profiles
            .iter()
            .map(|(name, p)| (name.as_str(), p.window.as_ref())),
    ) {
        if let Some(window) = window.filter(|w| w.value == 0) {
            let whose = if name.is_empty() {
                String::new()
            } else {
                format!("profiles.{name}.")
            };
            problems.push(format!("{}: {whose}window: must be at least 1", at(window)));
        }
    }
    for required in [
        ("datasets", file.grid.datasets.is_none()),
        ("epochs", file.grid.epochs.is_none()),
    ] {
        if required.1 {
            problems.push(format!(
                "grid.{}: missing, the grid needs at least one",
                required.0
            ));
        }
    }
    if file.model == ModelKind::Vanilla && file.grid.hidden_layers.is_none() {
        problems.push("grid.hidden_layers: missing, a vanilla grid needs depths".to_owned());
    }
    if file.model != ModelKind::Vanilla
        && (file.vanilla.is_some() || file.profiles.values().any(|p| p.vanilla.is_some()))
    {
        problems.push(format!(
            "vanilla: settings given for a {} experiment",
            file.model
        ));
    }
    for (name, profile) in &file.profiles {
        if let Some(divisor) = profile.width_divisor.as_ref().filter(|d| d.value == 0) {
            problems.push(format!(
                "{}: profiles.{name}.width_divisor: must be at least 1",
                at(divisor)
            ));
        }
    }
    if !file.profiles.contains_key("quick") {
        problems.push("profiles.quick: missing, every experiment needs a default profile".into());
    }
    problems
}
