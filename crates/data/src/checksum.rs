//! Checksums: SHA-256 of decompressed content and MD5 of archives, and verification against pins.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::DataError;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex MD5 of the whole file at `path`, read in a stream.
pub fn md5_file_hex(path: &Path) -> Result<String, DataError> {
    let mut file = File::open(path).map_err(|err| DataError::io("opening", path, err))?;
    let mut hasher = Md5::new();
    io::copy(&mut file, &mut hasher).map_err(|err| DataError::io("reading", path, err))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks that `content` (the decompressed bytes of `path`) has the SHA-256 `expected`.
///
/// The pin is a parameter so that the check can be tested without the real files.
pub fn verify_sha256(path: &Path, content: &[u8], expected: &str) -> Result<(), DataError> {
    let found = sha256_hex(content);
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            algorithm: "sha256 (decompressed)",
            expected: expected.to_string(),
            found,
            hint: "the file is corrupt or a different version; delete it and fetch the official \
                   file again"
                .to_string(),
        })
    }
}

/// Checks that the file at `path` has the MD5 `expected`, reading it in a stream.
pub fn verify_md5_file(path: &Path, expected: &str) -> Result<(), DataError> {
    compare_md5(path, md5_file_hex(path)?, expected)
}

/// Checks that `content`, the bytes of the file at `path`, has the MD5 `expected`.
pub fn verify_md5(path: &Path, content: &[u8], expected: &str) -> Result<(), DataError> {
    compare_md5(path, hex::encode(Md5::digest(content)), expected)
}

fn compare_md5(path: &Path, found: String, expected: &str) -> Result<(), DataError> {
    if found.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::ChecksumMismatch {
            path: path.to_path_buf(),
            algorithm: "md5",
            expected: expected.to_string(),
            found,
            hint: "the file is corrupt, incomplete or not the official one; delete it and \
                   download it again"
                .to_string(),
        })
    }
}

/// A reader that counts the bytes read through it, so that errors can name an offset.
pub(crate) struct CountingReader<R> {
    inner: R,
    pub(crate) n_bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> CountingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CountingReader {
            inner,
            n_bytes: Default::default(),
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n_bytes.set(self.n_bytes.get() + n as u64);
        Ok(n)
    }
}
