//! CIFAR-10: both formats, archives and extracted batches, and their errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ganrepro_data::checksum::{md5_file_hex, sha256_hex};
use ganrepro_data::cifar::{
    load_from_dir, parse_binary_batch, parse_python_batch, read_binary_archive,
    read_binary_batches, read_python_archive, read_python_batches, CifarSpec, IMAGE_LEN,
    RECORD_LEN,
};
use ganrepro_data::{DataError, ImageSet};
use sha2::{Digest, Sha256};

use crate::fixtures::{
    cifar_binary_batch, cifar_binary_members, cifar_label, cifar_pixel, cifar_spec, committed,
    tar_gz, write, write_cifar_binary_batches, CIFAR_RECORDS,
};

const NO_PIN: &str = "00000000000000000000000000000000";

fn unpinned_spec() -> CifarSpec<'static> {
    cifar_spec(NO_PIN, NO_PIN, [NO_PIN; 5])
}

/// Checks the decoded set against the fixture formulas, in file order.
fn assert_is_fixture_train_set(set: &ImageSet) {
    assert_eq!(
        (set.n_images, set.channels, set.height, set.width),
        (5 * CIFAR_RECORDS, 3, 32, 32)
    );
    for batch in 1..=5 {
        for record in 0..CIFAR_RECORDS {
            let image_idx = (batch - 1) * CIFAR_RECORDS + record;
            assert_eq!(
                set.labels[image_idx],
                cifar_label(batch, record),
                "label {image_idx}"
            );
            let expected: Vec<u8> = (0..IMAGE_LEN)
                .map(|idx| cifar_pixel(batch, record, idx))
                .collect();
            assert_eq!(
                set.image(image_idx),
                expected.as_slice(),
                "image {image_idx}"
            );
        }
    }
    // The content hash is over the training records in the binary layout.
    let mut hasher = Sha256::new();
    hasher.update(b"cifar10\n");
    for batch in 1..=5 {
        hasher.update(cifar_binary_batch(batch, CIFAR_RECORDS));
    }
    assert_eq!(set.content_sha256, hex::encode(hasher.finalize()));
}

#[test]
fn cifar_binary_batches_load_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_binary_batches(dir.path());

    let set = read_binary_batches(dir.path(), &unpinned_spec()).unwrap();

    assert_is_fixture_train_set(&set);
}

#[test]
fn cifar_binary_archive_loads_after_md5_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &tar_gz(&cifar_binary_members()),
    );
    let md5 = md5_file_hex(&path).unwrap();

    let set = read_binary_archive(&path, &cifar_spec(&md5, NO_PIN, [NO_PIN; 5])).unwrap();

    assert_is_fixture_train_set(&set);
}

#[test]
fn cifar_binary_archive_does_not_rely_on_member_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = cifar_binary_members();
    members.reverse();
    let path = write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &tar_gz(&members),
    );
    let md5 = md5_file_hex(&path).unwrap();

    let set = read_binary_archive(&path, &cifar_spec(&md5, NO_PIN, [NO_PIN; 5])).unwrap();

    assert_is_fixture_train_set(&set);
}

#[test]
fn cifar_python_archive_fixture_matches_the_binary_format() {
    let path = committed("cifar-10-python.tar.gz");
    let md5 = md5_file_hex(&path).unwrap();

    let set = read_python_archive(&path, &cifar_spec(NO_PIN, &md5, [NO_PIN; 5])).unwrap();

    assert_is_fixture_train_set(&set);
}

/// Extracts the committed python archive into `dir`, returning the batch directory.
fn extract_python_fixture(dir: &Path) -> std::path::PathBuf {
    let file = fs::File::open(committed("cifar-10-python.tar.gz")).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir)
        .unwrap();
    dir.join("cifar-10-batches-py")
}

fn python_batch_md5s(batch_dir: &Path) -> Vec<String> {
    (1..=5)
        .map(|batch| md5_file_hex(&batch_dir.join(format!("data_batch_{batch}"))).unwrap())
        .collect()
}

#[test]
fn cifar_extracted_python_batches_load_after_md5_check() {
    let dir = tempfile::tempdir().unwrap();
    let batch_dir = extract_python_fixture(dir.path());
    let md5s = python_batch_md5s(&batch_dir);
    let pins: [&str; 5] = std::array::from_fn(|idx| md5s[idx].as_str());

    let set = read_python_batches(&batch_dir, &cifar_spec(NO_PIN, NO_PIN, pins)).unwrap();

    assert_is_fixture_train_set(&set);
}

#[test]
fn cifar_extracted_python_batch_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let batch_dir = extract_python_fixture(dir.path());
    let md5s = python_batch_md5s(&batch_dir);
    let mut pins: [&str; 5] = std::array::from_fn(|idx| md5s[idx].as_str());
    pins[3] = NO_PIN;

    let err = read_python_batches(&batch_dir, &cifar_spec(NO_PIN, NO_PIN, pins)).unwrap_err();

    match &err {
        DataError::ChecksumMismatch {
            path,
            algorithm: "md5",
            ..
        } => {
            assert!(path.ends_with("data_batch_4"), "{path:?}");
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
}

#[test]
fn cifar_python3_protocol2_pickle_decodes() {
    let path = committed("py3_data_batch_1");
    let bytes = fs::read(&path).unwrap();

    let (labels, pixels) = parse_python_batch(&path, &bytes, CIFAR_RECORDS).unwrap();

    let (expected_labels, expected_pixels) = parse_binary_batch(
        Path::new("fixture"),
        &cifar_binary_batch(1, CIFAR_RECORDS),
        CIFAR_RECORDS,
    )
    .unwrap();
    assert_eq!(labels, expected_labels);
    assert_eq!(pixels, expected_pixels);
}

#[test]
fn cifar_python_batch_with_wrong_record_count_is_rejected() {
    let path = committed("py3_data_batch_1");
    let bytes = fs::read(&path).unwrap();

    let err = parse_python_batch(&path, &bytes, 10_000).unwrap_err();

    assert!(
        matches!(
            err,
            DataError::PickleField {
                field: "labels",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("a list of 10000 labels"), "{err}");
}

#[test]
fn cifar_python_batch_without_data_is_rejected() {
    let mut dict = BTreeMap::new();
    dict.insert("labels", vec![1i64; CIFAR_RECORDS]);
    let bytes = serde_pickle::to_vec(&dict, Default::default()).unwrap();

    let err = parse_python_batch(Path::new("no_data"), &bytes, CIFAR_RECORDS).unwrap_err();

    assert!(
        matches!(err, DataError::PickleField { field: "data", .. }),
        "{err:?}"
    );
}

#[test]
fn cifar_python_batch_with_bad_label_is_rejected() {
    let mut dict = BTreeMap::new();
    let mut labels = vec![1i64; CIFAR_RECORDS];
    labels[4] = 11;
    dict.insert("labels", labels);
    let bytes = serde_pickle::to_vec(&dict, Default::default()).unwrap();

    let err = parse_python_batch(Path::new("bad_label"), &bytes, CIFAR_RECORDS).unwrap_err();

    assert!(
        err.to_string().contains("a label 0..=9 for record 4"),
        "{err}"
    );
}

#[test]
fn cifar_garbage_pickle_is_rejected() {
    let err = parse_python_batch(Path::new("garbage"), b"\x80\x02garbage", 1).unwrap_err();
    assert!(matches!(err, DataError::Pickle { .. }), "{err:?}");
}

#[test]
fn cifar_binary_batch_with_partial_record_is_rejected() {
    let mut bytes = cifar_binary_batch(1, CIFAR_RECORDS);
    bytes.truncate(bytes.len() - 100);

    let err = parse_binary_batch(Path::new("data_batch_1.bin"), &bytes, CIFAR_RECORDS).unwrap_err();

    let found_len = bytes.len() as u64;
    assert!(
        matches!(err, DataError::Truncated { offset, .. } if offset == found_len),
        "{err:?}"
    );
    assert!(err.to_string().contains("ends inside record 19"), "{err}");
}

#[test]
fn cifar_binary_batch_with_wrong_record_count_is_rejected() {
    let too_few = cifar_binary_batch(1, CIFAR_RECORDS - 1);
    let too_many = cifar_binary_batch(1, CIFAR_RECORDS + 1);

    let short = parse_binary_batch(Path::new("short"), &too_few, CIFAR_RECORDS).unwrap_err();
    let long = parse_binary_batch(Path::new("long"), &too_many, CIFAR_RECORDS).unwrap_err();

    assert!(short.to_string().contains("the file holds 19"), "{short}");
    let expected_len = (CIFAR_RECORDS * RECORD_LEN) as u64;
    assert!(matches!(long, DataError::TrailingData { offset, .. } if offset == expected_len));
}

#[test]
fn cifar_binary_batch_with_bad_label_names_record_and_offset() {
    let mut bytes = cifar_binary_batch(1, CIFAR_RECORDS);
    bytes[7 * RECORD_LEN] = 10;

    let err = parse_binary_batch(Path::new("data_batch_1.bin"), &bytes, CIFAR_RECORDS).unwrap_err();

    let offset = (7 * RECORD_LEN) as u64;
    assert!(
        matches!(err, DataError::BadLabel { record: 7, offset: o, found: 10, .. } if o == offset),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("record 7 at byte {offset}")),
        "{err}"
    );
}

#[test]
fn cifar_truncated_archive_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tar_gz(&cifar_binary_members());
    let path = write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &archive[..archive.len() / 2],
    );
    let md5 = md5_file_hex(&path).unwrap();

    let err = read_binary_archive(&path, &cifar_spec(&md5, NO_PIN, [NO_PIN; 5])).unwrap_err();

    assert!(matches!(err, DataError::Archive { .. }), "{err:?}");
}

#[test]
fn cifar_archive_checksum_mismatch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &tar_gz(&cifar_binary_members()),
    );

    let err = read_binary_archive(&path, &unpinned_spec()).unwrap_err();

    assert!(
        matches!(
            err,
            DataError::ChecksumMismatch {
                algorithm: "md5",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn cifar_archive_without_a_batch_names_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<_> = cifar_binary_members()
        .into_iter()
        .filter(|(name, _)| !name.contains("batch_3"))
        .collect();
    let path = write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &tar_gz(&members),
    );
    let md5 = md5_file_hex(&path).unwrap();

    let err = read_binary_archive(&path, &cifar_spec(&md5, NO_PIN, [NO_PIN; 5])).unwrap_err();

    assert!(
        err.to_string()
            .contains("no member cifar-10-batches-bin/data_batch_3.bin"),
        "{err}"
    );
}

#[test]
fn cifar_load_from_dir_finds_each_layout() {
    let spec = unpinned_spec();

    // Nothing there.
    let empty = tempfile::tempdir().unwrap();
    assert!(load_from_dir(empty.path(), &spec).unwrap().is_none());

    // Extracted binary batches, in the archive's folder or directly in the directory.
    for sub_dir in ["cifar-10-batches-bin", ""] {
        let dir = tempfile::tempdir().unwrap();
        write_cifar_binary_batches(&dir.path().join(sub_dir));
        let (set, used) = load_from_dir(dir.path(), &spec).unwrap().unwrap();
        assert_is_fixture_train_set(&set);
        assert!(used.contains("unverified"), "{used}");
    }

    // The archive is preferred to extracted batches, and a bad archive is an error.
    let dir = tempfile::tempdir().unwrap();
    write_cifar_binary_batches(&dir.path().join("cifar-10-batches-bin"));
    write(
        &dir.path().join("cifar-10-binary.tar.gz"),
        &tar_gz(&cifar_binary_members()),
    );
    let err = load_from_dir(dir.path(), &spec).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
}

#[test]
fn cifar_class_selection_keeps_file_order() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar_binary_batches(dir.path());
    let set = read_binary_batches(dir.path(), &unpinned_spec()).unwrap();

    let dogs = set.select_class(5);

    let expected: Vec<usize> = (0..set.n_images)
        .filter(|&idx| set.labels[idx] == 5)
        .collect();
    assert_eq!(dogs.n_images, expected.len());
    assert!(dogs.n_images > 1);
    for (kept_idx, &parent_idx) in expected.iter().enumerate() {
        assert_eq!(dogs.image(kept_idx), set.image(parent_idx));
    }
    assert_eq!(
        dogs.content_sha256,
        sha256_hex(format!("{}:class=5", set.content_sha256).as_bytes())
    );
}
