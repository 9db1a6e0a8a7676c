//! Experiment files, their expansion into grids of cells, run keys and the run store.
//!
//! An experiment (a YAML file in `experiments/`) declares a grid of data sets, depths or
//! classes and epoch counts plus training settings, and named profiles that scale it. A
//! [`Cell`] is one fully resolved point of a grid; its [`RunKey`] is a SHA-256 over everything
//! that changes its result, and the [`RunStore`] keeps one entry per key.

mod file;
mod grid;
mod key;
mod published;
mod store;
mod summary;

pub use file::{load_experiment, parse_experiment, ExperimentError, ExperimentFile, ModelKind};
pub use grid::{expand, Cell, DataSpec, ModelSettings};
pub use key::RunKey;
pub use published::{published_value, PUBLISHED_D_LOSS_CSV};
pub use store::{Completion, Lookup, RunEntry, RunStore, StoreError};
pub use summary::{window_mean, Summary};
