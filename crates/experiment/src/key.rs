//! Run keys: SHA-256 over a canonical serialisation of everything that changes a result.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::grid::{Cell, DataSpec, ModelSettings};

/// The content hash naming a run in the run store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey(pub String);

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What goes into a key. Field order is part of the serialisation, so it is fixed here; paths,
/// thread counts, windows and sample epochs stay out because they do not change the losses.
/// The matrix-product library does change them (its summation order), so it is in.
#[derive(Serialize)]
struct KeyMaterial<'a> {
    result_version: u32,
    matmul: String,
    model: String,
    settings: &'a ModelSettings,
    data: &'a DataSpec,
    data_sha256: &'a str,
    seed: u64,
    epochs: Option<u64>,
}

impl RunKey {
    /// The key of `cell` trained on data whose content hash is `data_sha256`.
    pub fn of(cell: &Cell, data_sha256: &str) -> RunKey {
        Self::hash(cell, data_sha256, Some(cell.epochs))
    }

    /// The key of the cell's trajectory: the same run at any epoch count. Cells that differ only
    /// by their epoch count share it, so the shorter ones can be served from the longest.
    pub fn trajectory(cell: &Cell, data_sha256: &str) -> RunKey {
        Self::hash(cell, data_sha256, None)
    }

    fn hash(cell: &Cell, data_sha256: &str, epochs: Option<u64>) -> RunKey {
        let material = KeyMaterial {
            result_version: cell.model.result_version(),
            matmul: ganrepro_train::blas::identity(),
            model: cell.model.to_string(),
            settings: &cell.settings,
            data: &cell.data,
            data_sha256,
            seed: cell.seed,
            epochs,
        };
        let canonical = serde_json::to_vec(&material).expect("key material serialises");
        RunKey(hex::encode(Sha256::digest(&canonical)))
    }

    /// The first twelve hex digits, for logs.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}
