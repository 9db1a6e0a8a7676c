//! IDX files: raw and gzip, structure errors with offsets, and pinning by decompressed SHA-256.

use std::path::Path;

use ganrepro_data::checksum::sha256_hex;
use ganrepro_data::idx::{read_idx, IdxKind};
use ganrepro_data::mnist::{load_idx_set, FilePin, IdxSetSpec};
use ganrepro_data::{DataError, DatasetId};
use sha2::{Digest, Sha256};

use crate::fixtures::{gzip, idx_images, idx_labels, write};

const N: usize = 5;
const ROWS: usize = 4;
const COLS: usize = 3;

/// A spec for the small fixture with the given pins.
fn spec<'a>(images_sha256: &'a str, labels_sha256: &'a str) -> IdxSetSpec<'a> {
    IdxSetSpec {
        dataset: DatasetId::Mnist,
        n_images: N,
        rows: ROWS,
        cols: COLS,
        images: FilePin {
            file_name: "train-images-idx3-ubyte",
            sha256: images_sha256,
        },
        labels: FilePin {
            file_name: "train-labels-idx1-ubyte",
            sha256: labels_sha256,
        },
    }
}

fn read_images(path: &Path, pin: &str) -> Result<Vec<u8>, DataError> {
    read_idx(path, IdxKind::Images, &[N, ROWS, COLS], pin)
}

#[test]
fn idx_reads_raw_files_into_an_image_set() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let labels = idx_labels(N);
    let images_path = write(&dir.path().join("train-images-idx3-ubyte"), &images);
    let labels_path = write(&dir.path().join("train-labels-idx1-ubyte"), &labels);
    let (images_pin, labels_pin) = (sha256_hex(&images), sha256_hex(&labels));

    let set = load_idx_set(&images_path, &labels_path, &spec(&images_pin, &labels_pin)).unwrap();

    assert_eq!(
        (set.n_images, set.channels, set.height, set.width),
        (N, 1, ROWS, COLS)
    );
    assert_eq!(set.pixels, images[16..]);
    assert_eq!(set.labels, labels[8..]);
    assert_eq!(set.image(2), &images[16 + 2 * ROWS * COLS..][..ROWS * COLS]);
    let expected_hash = hex::encode(Sha256::digest(format!(
        "mnist\n{images_pin}\n{labels_pin}\n"
    )));
    assert_eq!(set.content_sha256, expected_hash);
}

#[test]
fn idx_detects_gzip_by_magic_not_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let pin = sha256_hex(&images);
    let gz_named_raw = write(&dir.path().join("train-images-idx3-ubyte"), &gzip(&images));
    let raw_named_gz = write(&dir.path().join("other-images-idx3-ubyte.gz"), &images);

    assert_eq!(read_images(&gz_named_raw, &pin).unwrap(), images[16..]);
    assert_eq!(read_images(&raw_named_gz, &pin).unwrap(), images[16..]);
}

#[test]
fn idx_gzip_and_raw_forms_give_the_same_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let labels = idx_labels(N);
    let (images_pin, labels_pin) = (sha256_hex(&images), sha256_hex(&labels));
    let spec = spec(&images_pin, &labels_pin);
    let raw = load_idx_set(
        &write(&dir.path().join("raw/images"), &images),
        &write(&dir.path().join("raw/labels"), &labels),
        &spec,
    )
    .unwrap();
    let gz = load_idx_set(
        &write(&dir.path().join("gz/images.gz"), &gzip(&images)),
        &write(&dir.path().join("gz/labels.gz"), &gzip(&labels)),
        &spec,
    )
    .unwrap();
    assert_eq!(raw, gz);
}

#[test]
fn idx_rejects_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let labels = idx_labels(N);
    let path = write(&dir.path().join("train-images-idx3-ubyte"), &labels);

    let err = read_images(&path, &sha256_hex(&labels)).unwrap_err();

    match &err {
        DataError::BadMagic {
            offset: 0,
            expected: 0x803,
            found: 0x801,
            ..
        } => {}
        other => panic!("expected BadMagic, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("train-images-idx3-ubyte"), "{message}");
    assert!(
        message.contains("0x00000803") && message.contains("0x00000801"),
        "{message}"
    );
}

#[test]
fn idx_truncated_file_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let cut = &images[..images.len() - 7];
    let path = write(&dir.path().join("train-images-idx3-ubyte"), cut);

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    let expected_len = images.len() as u64;
    let found_len = cut.len() as u64;
    match &err {
        DataError::Truncated {
            offset,
            expected_len: e,
            found_len: f,
            ..
        } => {
            assert_eq!((*offset, *e, *f), (found_len, expected_len, found_len));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("truncated at byte {found_len}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("expected {expected_len} bytes")),
        "{message}"
    );
}

#[test]
fn idx_truncated_header_names_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let path = write(&dir.path().join("train-images-idx3-ubyte"), &images[..10]);

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    assert!(
        matches!(
            err,
            DataError::Truncated {
                offset: 10,
                found_len: 10,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn idx_truncated_gzip_stream_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let compressed = gzip(&images);
    let path = write(
        &dir.path().join("train-images-idx3-ubyte.gz"),
        &compressed[..compressed.len() / 2],
    );

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    assert!(
        matches!(err, DataError::Gzip { .. } | DataError::Truncated { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn idx_rejects_wrong_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS + 1, COLS);
    let path = write(&dir.path().join("train-images-idx3-ubyte"), &images);

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    match &err {
        DataError::BadDimension {
            offset: 8,
            dimension: "rows",
            expected,
            found,
            ..
        } => {
            assert_eq!((*expected, *found), (ROWS as u64, ROWS as u64 + 1));
        }
        other => panic!("expected BadDimension, got {other:?}"),
    }
    assert!(
        err.to_string().contains("rows at byte 8 is 5, expected 4"),
        "{err}"
    );
}

#[test]
fn idx_rejects_wrong_image_count() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N + 1, ROWS, COLS);
    let path = write(&dir.path().join("train-images-idx3-ubyte"), &images);

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    assert!(matches!(
        err,
        DataError::BadDimension {
            offset: 4,
            dimension: "image count",
            ..
        }
    ));
}

#[test]
fn idx_rejects_trailing_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = idx_images(N, ROWS, COLS);
    let expected_len = images.len() as u64;
    images.extend_from_slice(b"extra");
    let path = write(&dir.path().join("train-images-idx3-ubyte"), &images);

    let err = read_images(&path, &sha256_hex(&images)).unwrap_err();

    assert!(matches!(err, DataError::TrailingData { offset, .. } if offset == expected_len));
}

#[test]
fn idx_rejects_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let path = write(
        &dir.path().join("train-images-idx3-ubyte.gz"),
        &gzip(&images),
    );
    let wrong_pin = sha256_hex(b"something else");

    let err = read_images(&path, &wrong_pin).unwrap_err();

    match &err {
        DataError::ChecksumMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected, &wrong_pin);
            // The pin is of the decompressed content, not of the .gz file.
            assert_eq!(found, &sha256_hex(&images));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[test]
fn idx_rejects_label_above_nine() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx_images(N, ROWS, COLS);
    let mut labels = idx_labels(N);
    labels[8 + 3] = 12;
    let images_path = write(&dir.path().join("images"), &images);
    let labels_path = write(&dir.path().join("labels"), &labels);
    let (images_pin, labels_pin) = (sha256_hex(&images), sha256_hex(&labels));

    let err =
        load_idx_set(&images_path, &labels_path, &spec(&images_pin, &labels_pin)).unwrap_err();

    assert!(
        matches!(
            err,
            DataError::BadLabel {
                record: 3,
                offset: 11,
                found: 12,
                max: 9,
                ..
            }
        ),
        "{err:?}"
    );
}
