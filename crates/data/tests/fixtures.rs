//! Small fixtures built in code: IDX files, CIFAR-10 binary batches and archives.
//!
//! The CIFAR pixel and label formulas are the ones `data/make_cifar_fixtures.py` uses for the
//! committed python-format fixtures, so both formats can be checked against each other.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use ganrepro_data::cifar::{CifarSpec, IMAGE_LEN, RECORD_LEN};

/// Records per batch in the CIFAR fixtures (the committed python fixtures use the same).
pub const CIFAR_RECORDS: usize = 20;

/// An IDX image file of `n` images of `rows` x `cols`, with a pattern of pixel values.
pub fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 3];
    for dim in [n, rows, cols] {
        bytes.extend_from_slice(&(dim as u32).to_be_bytes());
    }
    bytes.extend((0..n * rows * cols).map(|idx| (idx * 7 % 256) as u8));
    bytes
}

/// An IDX label file of `n` labels cycling through 0..=9.
pub fn idx_labels(n: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 8, 1];
    bytes.extend_from_slice(&(n as u32).to_be_bytes());
    bytes.extend((0..n).map(|idx| (idx % 10) as u8));
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// Pixel `idx` of `record` in CIFAR batch `batch` (1-based; 6 is the test batch).
pub fn cifar_pixel(batch: usize, record: usize, idx: usize) -> u8 {
    ((37 * batch + 11 * record + 3 * idx) % 256) as u8
}

pub fn cifar_label(batch: usize, record: usize) -> u8 {
    ((3 * record + batch) % 10) as u8
}

/// A binary-format batch of `n_records` records following the fixture formulas.
pub fn cifar_binary_batch(batch: usize, n_records: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n_records * RECORD_LEN);
    for record in 0..n_records {
        bytes.push(cifar_label(batch, record));
        bytes.extend((0..IMAGE_LEN).map(|idx| cifar_pixel(batch, record, idx)));
    }
    bytes
}

/// Writes the extracted binary version (`data_batch_1..5.bin`, `test_batch.bin`) into `dir`.
pub fn write_cifar_binary_batches(dir: &Path) {
    for batch in 1..=5 {
        write(
            &dir.join(format!("data_batch_{batch}.bin")),
            &cifar_binary_batch(batch, CIFAR_RECORDS),
        );
    }
    write(
        &dir.join("test_batch.bin"),
        &cifar_binary_batch(6, CIFAR_RECORDS),
    );
}

/// A `cifar-10-binary.tar.gz` in the official layout with the given members.
pub fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (name, payload) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(payload.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, payload.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The members of the official binary archive, built from the fixture formulas.
pub fn cifar_binary_members() -> Vec<(String, Vec<u8>)> {
    let mut members = vec![(
        "cifar-10-batches-bin/batches.meta.txt".to_string(),
        b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".to_vec(),
    )];
    for batch in 1..=5 {
        members.push((
            format!("cifar-10-batches-bin/data_batch_{batch}.bin"),
            cifar_binary_batch(batch, CIFAR_RECORDS),
        ));
    }
    members.push((
        "cifar-10-batches-bin/test_batch.bin".into(),
        cifar_binary_batch(6, CIFAR_RECORDS),
    ));
    members
}

/// A spec for the fixtures: 20 records per batch, with the given pins.
pub fn cifar_spec<'a>(
    binary_md5: &'a str,
    python_md5: &'a str,
    batch_md5: [&'a str; 5],
) -> CifarSpec<'a> {
    CifarSpec {
        records_per_batch: CIFAR_RECORDS,
        binary_archive_md5: binary_md5,
        python_archive_md5: python_md5,
        python_batch_md5: batch_md5,
    }
}

/// The committed fixture files under `tests/data/`.
pub fn committed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}
