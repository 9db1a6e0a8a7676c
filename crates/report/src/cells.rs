//! Plain data handed to the report: one row per cell of a grid, skipped cells, loss histories.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The two model families of the thesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// The fully connected GAN of thesis section 1 (MNIST, Fashion-MNIST).
    Vanilla,
    /// The convolutional GAN of thesis section 2 (single CIFAR-10 classes).
    Dcgan,
}

impl Model {
    /// The name used in tables and experiment files: "vanilla" or "dcgan".
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Vanilla => "vanilla",
            Model::Dcgan => "dcgan",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The text was neither "vanilla" nor "dcgan".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model {found:?}: expected \"vanilla\" or \"dcgan\"")]
pub struct UnknownModel {
    /// The text that was given.
    pub found: String,
}

impl FromStr for Model {
    type Err = UnknownModel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "vanilla" => Ok(Model::Vanilla),
            "dcgan" => Ok(Model::Dcgan),
            _ => Err(UnknownModel {
                found: text.to_owned(),
            }),
        }
    }
}

/// One cell of an experiment grid after training (or served from the run store).
#[derive(Debug, Clone, PartialEq)]
pub struct CellRow {
    /// The experiment's name, for example "thesis-vanilla".
    pub experiment: String,
    /// The model family.
    pub model: Model,
    /// "mnist", "fashion-mnist", "cifar10" or "fashion-mnist-32".
    pub dataset: String,
    /// CIFAR-10 class name for DCGAN rows.
    pub class: Option<String>,
    /// Number of hidden layers; vanilla only.
    pub hidden_layers: Option<u32>,
    /// Number of epochs trained.
    pub epochs: u32,
    /// Averaging window in epochs (250 in the thesis; clamped to `epochs` in scaled profiles).
    pub window: u32,
    /// Optimisation steps per epoch.
    pub steps_per_epoch: u32,
    /// Batch size.
    pub batch_size: u32,
    /// The thesis's statistic: vanilla = mean over the window of the last step's D loss;
    /// DCGAN = mean over the window of (summed D loss + summed D accuracy) / 2 (the notebook's
    /// numpy mean over [loss, acc] pairs).
    pub thesis_statistic: f64,
    /// Mean over the window of the last step's D loss (DCGAN: the summed loss of the two D
    /// updates).
    pub d_loss_last_step_avg: f64,
    /// Mean over the window of each epoch's mean D loss (ours).
    pub d_loss_epoch_mean_avg: f64,
    /// Published value from SPEC, if any.
    pub thesis_value: Option<f64>,
    /// What the profile scaled versus the thesis, e.g. "steps_per_epoch 20 of 468" ("" for
    /// faithful).
    pub scaled: String,
    /// The run key: hex SHA-256 of everything that changes the result.
    pub run_key: String,
}

impl CellRow {
    /// The key that identifies a cell across tables: experiment, data set, class, hidden layers
    /// and epochs, compared in that order.
    pub fn cell_key(&self) -> CellKey {
        CellKey {
            experiment: self.experiment.clone(),
            dataset: self.dataset.clone(),
            class: self.class.clone(),
            hidden_layers: self.hidden_layers,
            epochs: self.epochs,
        }
    }
}

/// Identity of a cell within a table; its ordering is the row order of every table written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// Experiment name.
    pub experiment: String,
    /// Data set name.
    pub dataset: String,
    /// CIFAR-10 class, DCGAN only.
    pub class: Option<String>,
    /// Hidden layers, vanilla only.
    pub hidden_layers: Option<u32>,
    /// Epochs trained.
    pub epochs: u32,
}

impl fmt::Display for CellKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.experiment, self.dataset)?;
        if let Some(class) = &self.class {
            write!(formatter, "/{class}")?;
        }
        if let Some(hidden_layers) = self.hidden_layers {
            write!(formatter, "/{hidden_layers} hidden")?;
        }
        write!(formatter, "/{} epochs", self.epochs)
    }
}

/// Sorts rows into the order every table uses: by cell key, then model and run key so that even
/// duplicate keys land in a fixed order.
pub fn sort_rows(rows: &mut [CellRow]) {
    rows.sort_by(compare_rows);
}

fn compare_rows(left: &CellRow, right: &CellRow) -> Ordering {
    left.cell_key()
        .cmp(&right.cell_key())
        .then_with(|| left.model.cmp(&right.model))
        .then_with(|| left.run_key.cmp(&right.run_key))
}

/// A cell of a grid that was not trained, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCell {
    /// Experiment name.
    pub experiment: String,
    /// Model family.
    pub model: Model,
    /// Data set name.
    pub dataset: String,
    /// CIFAR-10 class, DCGAN only.
    pub class: Option<String>,
    /// Epochs the cell asked for.
    pub epochs: u32,
    /// Why the cell was skipped, in words.
    pub reason: String,
}

/// Per-epoch history of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossHistory {
    /// D loss at the last step of each epoch.
    pub d_loss_last: Vec<f64>,
    /// G loss at the last step of each epoch.
    pub g_loss_last: Vec<f64>,
    /// Mean D loss over each epoch's steps.
    pub d_loss_mean: Vec<f64>,
    /// Mean G loss over each epoch's steps.
    pub g_loss_mean: Vec<f64>,
}

/// Where a class goes in a table or figure: CIFAR-10 and Fashion-MNIST classes in label order.
pub(crate) fn class_rank(class: &str) -> Option<usize> {
    use ganrepro_data::{CIFAR10_CLASSES, FASHION_MNIST_CLASSES};
    let position = |names: &[&str]| names.iter().position(|&name| name == class);
    position(&CIFAR10_CLASSES).or_else(|| position(&FASHION_MNIST_CLASSES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip() {
        for model in [Model::Vanilla, Model::Dcgan] {
            assert_eq!(model.as_str().parse::<Model>(), Ok(model));
        }
        assert_eq!(
            "gan".parse::<Model>(),
            Err(UnknownModel {
                found: "gan".to_owned()
            })
        );
    }
}
