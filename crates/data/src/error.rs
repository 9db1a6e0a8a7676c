//! The error type of the data crate: every variant names the file and the facts needed to fix it.

use std::io;
use std::path::PathBuf;

use crate::DatasetId;

/// Everything that can go wrong while finding, fetching, verifying or decoding a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data set is in none of the places looked at, and no fetch succeeded.
    #[error(
        "{dataset} data set not found; looked in:\n{}\nto supply it: {how_to_supply}",
        bullet_list(looked_in)
    )]
    Missing {
        /// The data set that was asked for.
        dataset: DatasetId,
        /// Every location and fetch attempted, in order, with what was found there.
        looked_in: Vec<String>,
        /// Where to put the files, and where to get them.
        how_to_supply: String,
    },

    /// A file could not be read, written or listed.
    #[error("{action} {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What was being done, such as "reading" or "creating directory".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// A gzip stream is corrupt or ends early.
    #[error(
        "{path}: gzip stream broken after {offset} decompressed bytes: {source}; \
         the file is probably truncated, fetch it again"
    )]
    Gzip {
        /// The compressed file.
        path: PathBuf,
        /// Decompressed bytes produced before the failure.
        offset: u64,
        /// The decoder's error.
        source: io::Error,
    },

    /// A tar archive is corrupt, truncated, or lacks a member.
    #[error(
        "archive {path}: {reason} (at compressed byte {offset}); \
         expected the official archive, fetch it again"
    )]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// Bytes of the archive file consumed when the problem showed.
        offset: u64,
        /// What is wrong, naming the member where one is involved.
        reason: String,
    },

    /// An IDX file starts with the wrong magic number.
    #[error(
        "{path}: wrong IDX magic number at byte {offset}: expected {expected:#010x} ({kind}), \
         found {found:#010x}; this is not an IDX {kind} file"
    )]
    BadMagic {
        /// The file, as found on disk (possibly compressed).
        path: PathBuf,
        /// Byte offset of the magic number in the decompressed content.
        offset: u64,
        /// What the file should hold, "images" or "labels".
        kind: &'static str,
        /// The magic number the file must start with.
        expected: u32,
        /// The number it starts with.
        found: u32,
    },

    /// An IDX header declares dimensions other than the data set's.
    #[error(
        "{path}: IDX {dimension} at byte {offset} is {found}, expected {expected}; \
         this file belongs to a different data set or split"
    )]
    BadDimension {
        /// The file.
        path: PathBuf,
        /// Byte offset of the dimension in the decompressed content.
        offset: u64,
        /// Which dimension, such as "image count" or "rows".
        dimension: &'static str,
        /// The value the data set has.
        expected: u64,
        /// The value in the header.
        found: u64,
    },

    /// A file ends before the length its format requires.
    #[error(
        "{path}: truncated at byte {offset}: expected {expected_len} bytes ({layout}), \
         found {found_len}; the file is incomplete, fetch or copy it again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the data ends (in decompressed content for compressed files).
        offset: u64,
        /// The length the format requires.
        expected_len: u64,
        /// The length found.
        found_len: u64,
        /// How the expected length is made up, such as "16-byte header + 60000x28x28 pixels".
        layout: String,
    },

    /// A file is longer than its format allows.
    #[error(
        "{path}: unexpected data from byte {offset}: expected {expected_len} bytes ({layout}), \
         found {found_len}; this is not the expected file"
    )]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Where the unexpected data starts.
        offset: u64,
        /// The length the format requires.
        expected_len: u64,
        /// The length found.
        found_len: u64,
        /// How the expected length is made up.
        layout: String,
    },

    /// A label is outside 0..=9.
    #[error(
        "{path}: label of record {record} at byte {offset} is {found}, expected 0..={max}; \
         the file is corrupt"
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Index of the record (image) in the file.
        record: usize,
        /// Byte offset of the label (for pickles: of the file, where the value starts is unknown).
        offset: u64,
        /// The value found.
        found: i64,
        /// The largest valid label.
        max: u8,
    },

    /// A file's checksum differs from its pin; the file is never used.
    #[error("{path}: {algorithm} checksum mismatch: expected {expected}, found {found}; {hint}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// "sha256 (decompressed)" or "md5".
        algorithm: &'static str,
        /// The pinned checksum.
        expected: String,
        /// The checksum of the file.
        found: String,
        /// What to do about it.
        hint: String,
    },

    /// A pickle stream cannot be decoded.
    #[error("{path}: cannot decode pickle: {reason}; expected a CIFAR-10 python batch")]
    Pickle {
        /// The file.
        path: PathBuf,
        /// The decoder's message, with the stream position where it has one.
        reason: String,
    },

    /// A decoded pickle lacks a field or holds a value of the wrong shape.
    #[error("{path}: pickle field {field}: expected {expected}, found {found}")]
    PickleField {
        /// The file.
        path: PathBuf,
        /// The dictionary key, such as `data` or `labels`.
        field: &'static str,
        /// What the field should hold.
        expected: String,
        /// What it holds.
        found: String,
    },

    /// A data set name that is not one of the three.
    #[error("unknown data set {found:?}: expected one of mnist, fashion-mnist, cifar10")]
    UnknownDataset {
        /// The name given.
        found: String,
    },

    /// A CIFAR-10 class that is neither a class name nor an index 0..=9.
    #[error(
        "unknown CIFAR-10 class {found:?}: expected an index 0..=9 or one of {}",
        .expected.join(", ")
    )]
    UnknownClass {
        /// The name or index given.
        found: String,
        /// The valid names in label order.
        expected: Vec<&'static str>,
    },
}

fn bullet_list(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| format!("  - {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl DataError {
    /// Wraps an I/O error with the path and the action that failed.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
