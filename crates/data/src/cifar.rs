//! CIFAR-10: the binary and python batch formats, read from the official archives or from
//! extracted batches, and the places they are looked for.
//!
//! Verification differs by source, because only some checksums are published:
//! - the archives `cifar-10-binary.tar.gz` and `cifar-10-python.tar.gz` are pinned by the MD5
//!   published on the CIFAR page;
//! - extracted python batches (`cifar-10-batches-py/data_batch_N`) are pinned by the MD5 values
//!   torchvision publishes for them;
//! - extracted binary batches (`cifar-10-batches-bin/data_batch_N.bin`) have no published
//!   checksum that we could find, so they are accepted after the structural checks only (size,
//!   labels), with a warning saying they are unverified.
//!
//! Whatever the source, the content hash of the loaded set is sha256 over `"cifar10\n"` followed
//! by the training records of data_batch_1..5 in the binary layout (label byte, then 3072 pixel
//! bytes). For the binary format these are exactly the bytes read; the python format yields the
//! same hash for the same images.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde_pickle::{DeOptions, HashableValue, Value};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::checksum::{verify_md5, verify_md5_file, CountingReader};
use crate::fetch;
use crate::{DataError, DataOptions, DatasetId, ImageSet};

/// The class names in CIFAR-10 label order.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The label of a class given by name (any case) or by index "0".."9".
pub fn cifar10_class_index(name_or_index: &str) -> Result<u8, DataError> {
    DatasetId::Cifar10
        .class_index(name_or_index)
        .ok_or_else(|| DataError::UnknownClass {
            found: name_or_index.to_string(),
            expected: CIFAR10_CLASSES.to_vec(),
        })
}

/// Bytes of one image: three 32x32 planes, R, G, then B, each row-major.
pub const IMAGE_LEN: usize = 3 * 32 * 32;

/// Bytes of one record of the binary format: the label, then the image.
pub const RECORD_LEN: usize = 1 + IMAGE_LEN;

/// Name of the official archive of the binary version.
pub const BINARY_ARCHIVE: &str = "cifar-10-binary.tar.gz";

/// Name of the official archive of the python version.
pub const PYTHON_ARCHIVE: &str = "cifar-10-python.tar.gz";

/// Where the official binary archive is published.
pub const BINARY_ARCHIVE_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

const N_TRAIN_BATCHES: usize = 5;

/// What the CIFAR-10 files must hold to be accepted: batch size and checksums.
///
/// [`CifarSpec::OFFICIAL`] describes the published files; tests use small batches with their
/// own pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CifarSpec<'a> {
    /// Records in each batch file (10000 in the official files).
    pub records_per_batch: usize,
    /// MD5 of `cifar-10-binary.tar.gz`.
    pub binary_archive_md5: &'a str,
    /// MD5 of `cifar-10-python.tar.gz`.
    pub python_archive_md5: &'a str,
    /// MD5 of the extracted python batches `data_batch_1` .. `data_batch_5`.
    pub python_batch_md5: [&'a str; N_TRAIN_BATCHES],
}

impl CifarSpec<'static> {
    /// The official files: archive MD5s from the CIFAR page, python batch MD5s from torchvision.
    pub const OFFICIAL: CifarSpec<'static> = CifarSpec {
        records_per_batch: 10_000,
        binary_archive_md5: "c32a1d4ab5d03f1284b67883e8d87530",
        python_archive_md5: "c58f30108f718f92721af3b95e74349a",
        python_batch_md5: [
            "c99cafc152244af753f735de768cd75f",
            "d4bba439e000b95fd0a9bffe97cbabec",
            "54ebc095f3ab1f0389bbae665268c751",
            "634d18415352ddfa80567beed471001a",
            "482c414d41f54cd18b22e5b47cb7c3cb",
        ],
    };
}

/// The two published encodings of the batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Binary,
    Python,
}

impl Format {
    /// The directory the official archive extracts to.
    fn dir_name(self) -> &'static str {
        match self {
            Format::Binary => "cifar-10-batches-bin",
            Format::Python => "cifar-10-batches-py",
        }
    }

    /// The file name of training batch `batch_idx` (0-based).
    fn batch_file_name(self, batch_idx: usize) -> String {
        match self {
            Format::Binary => format!("data_batch_{}.bin", batch_idx + 1),
            Format::Python => format!("data_batch_{}", batch_idx + 1),
        }
    }

    fn decode(
        self,
        path: &Path,
        bytes: &[u8],
        n_records: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), DataError> {
        match self {
            Format::Binary => parse_binary_batch(path, bytes, n_records),
            Format::Python => parse_python_batch(path, bytes, n_records),
        }
    }
}

/// Decoded training batches, in order, and the content hash over their records.
struct TrainSet {
    labels: Vec<u8>,
    pixels: Vec<u8>,
    hasher: Sha256,
}

impl TrainSet {
    fn new(spec: &CifarSpec) -> Self {
        let n_images = N_TRAIN_BATCHES * spec.records_per_batch;
        let mut hasher = Sha256::new();
        hasher.update(b"cifar10\n");
        TrainSet {
            labels: Vec::with_capacity(n_images),
            pixels: Vec::with_capacity(n_images * IMAGE_LEN),
            hasher,
        }
    }

    fn push_batch(&mut self, labels: &[u8], pixels: &[u8]) {
        for (label, image) in labels.iter().zip(pixels.chunks_exact(IMAGE_LEN)) {
            self.hasher.update([*label]);
            self.hasher.update(image);
        }
        self.labels.extend_from_slice(labels);
        self.pixels.extend_from_slice(pixels);
    }

    fn finish(self) -> ImageSet {
        ImageSet {
            dataset: DatasetId::Cifar10,
            n_images: self.labels.len(),
            channels: 3,
            height: 32,
            width: 32,
            pixels: self.pixels,
            labels: self.labels,
            content_sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// Decodes one batch of the binary format: `n_records` records of a label byte and 3072 pixel
/// bytes. Returns the labels and the pixels; `path` only names the file in errors.
pub fn parse_binary_batch(
    path: &Path,
    bytes: &[u8],
    n_records: usize,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let expected_len = (n_records * RECORD_LEN) as u64;
    let found_len = bytes.len() as u64;
    let layout = {
        let records = format!("{n_records} records of {RECORD_LEN} bytes");
        if bytes.len() % RECORD_LEN == 0 {
            format!("{records}; the file holds {}", bytes.len() / RECORD_LEN)
        } else {
            format!(
                "{records}; the file ends inside record {}",
                bytes.len() / RECORD_LEN
            )
        }
    };
    if found_len < expected_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            offset: found_len,
            expected_len,
            found_len,
            layout,
        });
    }
    if found_len > expected_len {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            offset: expected_len,
            expected_len,
            found_len,
            layout,
        });
    }

    let mut labels = Vec::with_capacity(n_records);
    let mut pixels = Vec::with_capacity(n_records * IMAGE_LEN);
    for (record, chunk) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        if chunk[0] > 9 {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                record,
                offset: (record * RECORD_LEN) as u64,
                found: i64::from(chunk[0]),
                max: 9,
            });
        }
        labels.push(chunk[0]);
        pixels.extend_from_slice(&chunk[1..]);
    }
    Ok((labels, pixels))
}

/// Decodes one batch of the python format: a pickled dict with `data` (a numpy uint8 array of
/// `n_records` x 3072) and `labels` (a list of ints). Returns the labels and the pixels.
///
/// No Python runs: the pickle is read with serde-pickle's value API, which cannot rebuild a numpy
/// array but, with `keep_restore_state`, keeps the state numpy stores it with (see
/// [`ndarray_u8_payload`]).
pub fn parse_python_batch(
    path: &Path,
    bytes: &[u8],
    n_records: usize,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let options = DeOptions::new()
        .keep_restore_state()
        .replace_unresolved_globals();
    let value =
        serde_pickle::value_from_slice(bytes, options).map_err(|err| DataError::Pickle {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    let field_error =
        |field: &'static str, expected: String, found: String| DataError::PickleField {
            path: path.to_path_buf(),
            field,
            expected,
            found,
        };
    let mut dict = match value {
        Value::Dict(dict) => dict,
        other => {
            return Err(field_error(
                "(top level)",
                "a dict".into(),
                describe(&other),
            ))
        }
    };
    let mut take = |field: &'static str| {
        take_field(&mut dict, field)
            .ok_or_else(|| field_error(field, "the key to be present".into(), "no such key".into()))
    };

    let labels = match take("labels")? {
        Value::List(items) if items.len() == n_records => items
            .iter()
            .enumerate()
            .map(|(record, item)| match item {
                Value::I64(label @ 0..=9) => Ok(*label as u8),
                other => Err(field_error(
                    "labels",
                    format!("a label 0..=9 for record {record}"),
                    describe(other),
                )),
            })
            .collect::<Result<Vec<u8>, DataError>>()?,
        other => {
            return Err(field_error(
                "labels",
                format!("a list of {n_records} labels"),
                describe(&other),
            ))
        }
    };
    let pixels = ndarray_u8_payload(take("data")?, [n_records, IMAGE_LEN])
        .map_err(|(expected, found)| field_error("data", expected, found))?;
    Ok((labels, pixels))
}

/// Removes `field` from a pickled dict whose keys are byte strings (Python 2) or strings.
fn take_field(dict: &mut BTreeMap<HashableValue, Value>, field: &str) -> Option<Value> {
    dict.remove(&HashableValue::Bytes(field.as_bytes().to_vec()))
        .or_else(|| dict.remove(&HashableValue::String(field.to_string())))
}

/// The raw bytes of a pickled numpy uint8 array of the given shape, or (expected, found).
///
/// numpy pickles an array as a call to `numpy.core.multiarray._reconstruct` followed by
/// `__setstate__((version, shape, dtype, is_fortran_order, raw_bytes))`. serde-pickle cannot run
/// either call; with `keep_restore_state` the BUILD opcode leaves the `__setstate__` argument in
/// place of the object, and that tuple holds everything needed. The dtype is likewise reduced to
/// its own state `(3, byte_order, ...)`, where byte order `|` marks a one-byte type; with the byte
/// count equal to the element count, this rules out every type wider than a byte.
pub fn ndarray_u8_payload(value: Value, shape: [usize; 2]) -> Result<Vec<u8>, (String, String)> {
    let expected = || format!("a numpy uint8 array of shape {shape:?} in C order");
    let mut state = match value {
        Value::Tuple(items) if items.len() == 5 => items,
        other => return Err((expected(), describe(&other))),
    };
    let found_shape: Option<Vec<usize>> = match &state[1] {
        Value::Tuple(dims) | Value::List(dims) => dims
            .iter()
            .map(|dim| match dim {
                Value::I64(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    };
    if found_shape.as_deref() != Some(&shape[..]) {
        return Err((expected(), format!("shape {}", describe(&state[1]))));
    }
    let one_byte_type = match &state[2] {
        Value::Tuple(dtype_state) => {
            matches!(
                dtype_state.get(1),
                Some(Value::Bytes(order)) if order == b"|"
            ) || matches!(dtype_state.get(1), Some(Value::String(order)) if order == "|")
        }
        _ => false,
    };
    if !one_byte_type {
        return Err((expected(), format!("dtype state {}", describe(&state[2]))));
    }
    if !matches!(state[3], Value::Bool(false) | Value::I64(0)) {
        return Err((expected(), "an array in Fortran order".into()));
    }
    match state.pop() {
        Some(Value::Bytes(raw)) if raw.len() == shape[0] * shape[1] => Ok(raw),
        Some(other) => Err((expected(), format!("payload of {}", describe(&other)))),
        None => unreachable!("the state tuple has five items"),
    }
}

/// A short description of a pickled value for error messages, without dumping its content.
fn describe(value: &Value) -> String {
    match value {
        Value::None => "None".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::I64(n) => format!("the integer {n}"),
        Value::Int(n) => format!("the integer {n}"),
        Value::F64(x) => format!("the float {x}"),
        Value::Bytes(bytes) => format!("a byte string of {} bytes", bytes.len()),
        Value::String(text) if text.len() <= 40 => format!("the string {text:?}"),
        Value::String(text) => format!("a string of {} bytes", text.len()),
        Value::List(items) => format!("a list of {} items", items.len()),
        Value::Tuple(items) => {
            let shown: Vec<String> = items.iter().take(4).map(describe).collect();
            let more = if items.len() > 4 { ", ..." } else { "" };
            format!("a tuple ({}{more})", shown.join(", "))
        }
        Value::Set(items) | Value::FrozenSet(items) => format!("a set of {} items", items.len()),
        Value::Dict(items) => format!("a dict of {} entries", items.len()),
    }
}

/// Reads the training batches from an official archive (binary or python version), then checks
/// the archive's MD5 before returning anything.
///
/// The structure is checked first so that a truncated archive is reported with the offset where
/// it breaks rather than as a checksum mismatch.
fn read_archive(path: &Path, format: Format, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    let file = File::open(path).map_err(|err| DataError::io("opening", path, err))?;
    let counting = CountingReader::new(BufReader::new(file));
    let consumed = counting.n_bytes.clone();
    let archive_error = |reason: String| DataError::Archive {
        path: path.to_path_buf(),
        offset: consumed.get(),
        reason,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(counting));
    let entries = archive
        .entries()
        .map_err(|err| archive_error(format!("cannot read the tar stream: {err}")))?;

    // Decode each training batch as it streams past; the archive order is not relied upon.
    let mut batches: [Option<(Vec<u8>, Vec<u8>)>; N_TRAIN_BATCHES] = Default::default();
    for entry in entries {
        let mut entry =
            entry.map_err(|err| archive_error(format!("cannot read the tar stream: {err}")))?;
        let member = entry.path().map_err(|err| archive_error(err.to_string()))?;
        let member = member.to_string_lossy().into_owned();
        let Some(batch_idx) = (0..N_TRAIN_BATCHES).find(|&idx| {
            member == format!("{}/{}", format.dir_name(), format.batch_file_name(idx))
        }) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(spec.records_per_batch * RECORD_LEN + 1024);
        entry
            .read_to_end(&mut bytes)
            .map_err(|err| archive_error(format!("cannot read member {member}: {err}")))?;
        let member_path = path.join(&member);
        batches[batch_idx] = Some(format.decode(&member_path, &bytes, spec.records_per_batch)?);
    }

    let mut train_set = TrainSet::new(spec);
    for (batch_idx, batch) in batches.iter().enumerate() {
        let (labels, pixels) = batch.as_ref().ok_or_else(|| {
            let member = format!(
                "{}/{}",
                format.dir_name(),
                format.batch_file_name(batch_idx)
            );
            archive_error(format!("no member {member}"))
        })?;
        train_set.push_batch(labels, pixels);
    }
    let pin = match format {
        Format::Binary => spec.binary_archive_md5,
        Format::Python => spec.python_archive_md5,
    };
    verify_md5_file(path, pin)?;
    Ok(train_set.finish())
}

/// Reads the five training batches of the official binary archive `cifar-10-binary.tar.gz`,
/// verified by its MD5.
pub fn read_binary_archive(path: &Path, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    read_archive(path, Format::Binary, spec)
}

/// Reads the five training batches of the official python archive `cifar-10-python.tar.gz`,
/// verified by its MD5.
pub fn read_python_archive(path: &Path, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    read_archive(path, Format::Python, spec)
}

fn read_batch_files(dir: &Path, format: Format, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    let mut train_set = TrainSet::new(spec);
    for batch_idx in 0..N_TRAIN_BATCHES {
        let path = dir.join(format.batch_file_name(batch_idx));
        let bytes = fs::read(&path).map_err(|err| DataError::io("reading", &path, err))?;
        if format == Format::Python {
            verify_md5(&path, &bytes, spec.python_batch_md5[batch_idx])?;
        }
        let (labels, pixels) = format.decode(&path, &bytes, spec.records_per_batch)?;
        train_set.push_batch(&labels, &pixels);
    }
    Ok(train_set.finish())
}

/// Reads extracted binary batches `dir/data_batch_1.bin` .. `data_batch_5.bin`.
///
/// These files are NOT verified by a checksum: no SHA-256 or MD5 of the individual binary batches
/// is published that we could find, so only their structure (size, labels) is checked, and a
/// warning says so. Keep `cifar-10-binary.tar.gz` instead to have them verified.
pub fn read_binary_batches(dir: &Path, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    warn!(
        dir = %dir.display(),
        "using extracted CIFAR-10 binary batches without checksum verification (none is \
         published); only their size and labels are checked; keep {BINARY_ARCHIVE} instead to \
         have the data verified"
    );
    read_batch_files(dir, Format::Binary, spec)
}

/// Reads extracted python batches `dir/data_batch_1` .. `data_batch_5`, each verified by the MD5
/// that torchvision publishes for it.
pub fn read_python_batches(dir: &Path, spec: &CifarSpec) -> Result<ImageSet, DataError> {
    read_batch_files(dir, Format::Python, spec)
}

/// Loads the training set from the first CIFAR-10 source present in `dir`, or `None` if none is.
///
/// Sources, in order of preference (verified ones first): `cifar-10-binary.tar.gz`,
/// `cifar-10-python.tar.gz`, extracted binary batches in `dir/cifar-10-batches-bin/` or `dir/`,
/// extracted python batches in `dir/cifar-10-batches-py/` or `dir/`. A source that is present
/// but fails its checks is an error, never skipped. Returns the set and a note on the source.
pub fn load_from_dir(
    dir: &Path,
    spec: &CifarSpec,
) -> Result<Option<(ImageSet, String)>, DataError> {
    let archives = [
        (BINARY_ARCHIVE, Format::Binary),
        (PYTHON_ARCHIVE, Format::Python),
    ];
    for (archive_name, format) in archives {
        let path = dir.join(archive_name);
        if path.is_file() {
            let set = read_archive(&path, format, spec)?;
            return Ok(Some((set, format!("{} (md5 verified)", path.display()))));
        }
    }
    for format in [Format::Binary, Format::Python] {
        for batch_dir in [dir.join(format.dir_name()), dir.to_path_buf()] {
            if !batch_dir.join(format.batch_file_name(0)).is_file() {
                continue;
            }
            let (set, verified) = match format {
                Format::Binary => (read_binary_batches(&batch_dir, spec)?, "unverified"),
                Format::Python => (read_python_batches(&batch_dir, spec)?, "md5 verified"),
            };
            return Ok(Some((set, format!("{} ({verified})", batch_dir.display()))));
        }
    }
    Ok(None)
}

/// How to supply CIFAR-10 by hand, for the "not found" message.
fn how_to_supply(options: &DataOptions) -> String {
    let dir = options
        .workspace_data_dir
        .join(DatasetId::Cifar10.to_string());
    format!(
        "put {BINARY_ARCHIVE} or {PYTHON_ARCHIVE} (or the extracted cifar-10-batches-bin/ or \
         cifar-10-batches-py/ folder, or its data_batch_1..5 files) into {} or into the \
         directory given by --data-dir or GANREPRO_DATA_DIR; the official archive is at \
         {BINARY_ARCHIVE_URL} (md5 {})",
        dir.display(),
        CifarSpec::OFFICIAL.binary_archive_md5
    )
}

/// Same for CIFAR-10: the 50,000 training images of data_batch_1..5 in file order.
///
/// Looks in the explicit data directory (its `cifar10/`, then itself), then
/// `<workspace>/data/cifar10/` (see [`load_from_dir`] for what is accepted there), then downloads
/// the official binary archive into `<workspace>/data/cifar10/` when the network is allowed. No
/// package registry carries CIFAR-10, so there is no package fallback; when nothing works the
/// error is [`DataError::Missing`].
pub fn load_cifar10_train(options: &DataOptions) -> Result<ImageSet, DataError> {
    let dataset = DatasetId::Cifar10;
    let spec = CifarSpec::OFFICIAL;
    let target_dir = options.workspace_data_dir.join(dataset.to_string());
    let mut looked_in = Vec::new();

    // Local directories, most explicit first.
    let mut candidates: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(dir) = &options.data_dir {
        candidates.push((dir.join(dataset.to_string()), "explicit data directory"));
        candidates.push((dir.clone(), "explicit data directory"));
    }
    candidates.push((target_dir.clone(), "workspace data directory"));
    for (dir, source) in &candidates {
        if let Some((set, used)) = load_from_dir(dir, &spec)? {
            info!(%dataset, source, used = %used, "loading data set");
            return Ok(set);
        }
        looked_in.push(format!(
            "{}: no {BINARY_ARCHIVE}, {PYTHON_ARCHIVE} or extracted batches ({source})",
            dir.display()
        ));
    }

    // The official download; without internet it fails within seconds.
    if options.allow_network {
        let verify = |path: &Path| verify_md5_file(path, spec.binary_archive_md5);
        match fetch::download_verified(BINARY_ARCHIVE_URL, &target_dir, BINARY_ARCHIVE, &verify) {
            Ok(path) => {
                info!(%dataset, url = BINARY_ARCHIVE_URL, path = %path.display(),
                    "downloaded data set");
                return read_binary_archive(&path, &spec);
            }
            Err(reason) => {
                warn!(%dataset, %reason, "official download failed");
                looked_in.push(format!("download {BINARY_ARCHIVE_URL}: {reason}"));
            }
        }
    } else {
        looked_in.push(format!(
            "download {BINARY_ARCHIVE_URL}: not attempted, network not allowed"
        ));
    }
    looked_in.push("package registries: none carries CIFAR-10".to_string());

    Err(DataError::Missing {
        dataset,
        looked_in,
        how_to_supply: how_to_supply(options),
    })
}
