//! The IDX format of MNIST and Fashion-MNIST: gzip detection, header and length checks, pinning.

use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::checksum::verify_sha256;
use crate::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What an IDX file holds; decides the magic number and the names of its dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// Unsigned bytes in three dimensions: count x rows x columns (magic 0x00000803).
    Images,
    /// Unsigned bytes in one dimension: count (magic 0x00000801).
    Labels,
}

impl IdxKind {
    /// The big-endian magic number at the start of the file: 0x08 (unsigned byte) and the rank.
    pub fn magic(self) -> u32 {
        match self {
            IdxKind::Images => 0x0000_0803,
            IdxKind::Labels => 0x0000_0801,
        }
    }

    fn name(self) -> &'static str {
        match self {
            IdxKind::Images => "images",
            IdxKind::Labels => "labels",
        }
    }

    fn dimension_names(self) -> &'static [&'static str] {
        match self {
            IdxKind::Images => &["image count", "rows", "columns"],
            IdxKind::Labels => &["label count"],
        }
    }
}

/// Reads the whole file, decompressing it when it starts with the gzip magic (whatever its name).
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = fs::read(path).map_err(|err| DataError::io("reading", path, err))?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut content = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut content)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            offset: content.len() as u64,
            source,
        })?;
    Ok(content)
}

/// Checks the magic number, the dimensions and the length of decompressed IDX `content`.
///
/// `dims` are the expected dimensions (`[count, rows, columns]` for images, `[count]` for
/// labels); `path` only names the file in errors. Returns the length of the header, after which
/// the payload starts.
pub fn check_idx(
    path: &Path,
    content: &[u8],
    kind: IdxKind,
    dims: &[usize],
) -> Result<usize, DataError> {
    let names = kind.dimension_names();
    assert_eq!(
        dims.len(),
        names.len(),
        "IDX {} take {} dimensions",
        kind.name(),
        names.len()
    );
    let header_len = 4 + 4 * dims.len();
    let payload_len: usize = dims.iter().product();
    let layout = {
        let shape = dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        format!("{header_len}-byte IDX header + {shape} bytes")
    };
    let expected_len = (header_len + payload_len) as u64;
    let truncated_at = |offset: usize| DataError::Truncated {
        path: path.to_path_buf(),
        offset: offset as u64,
        expected_len,
        found_len: content.len() as u64,
        layout: layout.clone(),
    };
    let read_u32 = |offset: usize| -> Result<u32, DataError> {
        let bytes = content
            .get(offset..offset + 4)
            .ok_or_else(|| truncated_at(content.len()))?;
        Ok(u32::from_be_bytes(
            bytes.try_into().expect("slice of four bytes"),
        ))
    };

    let magic = read_u32(0)?;
    if magic != kind.magic() {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            offset: 0,
            kind: kind.name(),
            expected: kind.magic(),
            found: magic,
        });
    }
    for (dim_idx, (&expected, &dimension)) in dims.iter().zip(names).enumerate() {
        let offset = 4 + 4 * dim_idx;
        let found = read_u32(offset)?;
        if found as u64 != expected as u64 {
            return Err(DataError::BadDimension {
                path: path.to_path_buf(),
                offset: offset as u64,
                dimension,
                expected: expected as u64,
                found: found as u64,
            });
        }
    }
    match (content.len() as u64).cmp(&expected_len) {
        std::cmp::Ordering::Less => Err(truncated_at(content.len())),
        std::cmp::Ordering::Greater => Err(DataError::TrailingData {
            path: path.to_path_buf(),
            offset: expected_len,
            expected_len,
            found_len: content.len() as u64,
            layout,
        }),
        std::cmp::Ordering::Equal => Ok(header_len),
    }
}

/// Reads an IDX file (raw or gzip), checks its structure, then its decompressed SHA-256 against
/// `expected_sha256`, and returns the payload after the header.
///
/// The structure is checked first because a truncated file is better explained by the offset
/// where it ends than by a checksum.
pub fn read_idx(
    path: &Path,
    kind: IdxKind,
    dims: &[usize],
    expected_sha256: &str,
) -> Result<Vec<u8>, DataError> {
    let mut content = read_maybe_gzip(path)?;
    let header_len = check_idx(path, &content, kind, dims)?;
    verify_sha256(path, &content, expected_sha256)?;
    content.drain(..header_len);
    Ok(content)
}
