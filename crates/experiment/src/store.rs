//! The run store: one directory per run key under `results/runs/`.
//!
//! An entry holds the resolved cell (`cell.json`), the per-epoch losses (`history.csv`), the
//! sample grids (`samples.safetensors`), the newest checkpoint, a log, and last of all
//! `complete.json`. Every file is written under a temporary name and renamed into place, so an
//! entry without `complete.json` is a run in progress (or a killed one, to be resumed) and an
//! entry whose files do not parse is reported as corrupt and trained again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ganrepro_train::candle_core::{Device, Tensor};
use ganrepro_train::{EpochRecord, SampleImages};
use serde::{Deserialize, Serialize};

use crate::key::RunKey;

/// A problem reading or writing the run store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of an entry could not be read or written.
    #[error("run store file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of an entry exists but does not hold what it should.
    #[error("run store file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The run store rooted at a directory (normally `results/runs`).
#[derive(Debug, Clone)]
pub struct RunStore {
    root: PathBuf,
}

/// What `complete.json` says about a finished entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Epochs in the entry's history.
    pub epochs: u64,
    /// The key of the longer run this entry was served from, if it was not trained itself.
    pub served_from: Option<String>,
}

/// A finished run as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// The entry's key.
    pub key: RunKey,
    /// One record per epoch, in order.
    pub history: Vec<EpochRecord>,
    /// Sample grids by epoch.
    pub samples: BTreeMap<u64, SampleImages>,
    /// Completion facts.
    pub completion: Completion,
}

/// The state of a key in the store.
#[derive(Debug)]
pub enum Lookup {
    /// A finished entry.
    Hit(RunEntry),
    /// Nothing under this key.
    Missing,
    /// An unfinished entry: a run in progress or killed.
    Partial,
    /// An entry whose files are damaged; the error says which and how.
    Corrupt(StoreError),
}

const HISTORY_HEADER: &str =
    "epoch,d_loss_last,g_loss_last,d_loss_mean,g_loss_mean,d_accuracy_last,d_accuracy_mean";

impl RunStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory of an entry.
    pub fn dir(&self, key: &RunKey) -> PathBuf {
        self.root.join(&key.0)
    }

    /// Path of the checkpoint of an entry.
    pub fn checkpoint_path(&self, key: &RunKey) -> PathBuf {
        self.dir(key).join("checkpoint.safetensors")
    }

    /// Looks a key up, reading and checking a finished entry.
    pub fn lookup(&self, key: &RunKey) -> Lookup {
        let dir = self.dir(key);
        if !dir.exists() {
            return Lookup::Missing;
        }
        let completion_path = dir.join("complete.json");
        if !completion_path.exists() {
            return Lookup::Partial;
        }
        match self.read_entry(key, &completion_path) {
            Ok(entry) => Lookup::Hit(entry),
            Err(error) => Lookup::Corrupt(error),
        }
    }

    fn read_entry(&self, key: &RunKey, completion_path: &Path) -> Result<RunEntry, StoreError> {
        let completion: Completion = serde_json::from_slice(&read(completion_path)?)
            .map_err(|e| corrupt(completion_path, e.to_string()))?;
        let history = self.read_history(key)?;
        if history.len() as u64 != completion.epochs {
            return Err(corrupt(
                &self.dir(key).join("history.csv"),
                format!(
                    "{} epochs recorded, complete.json says {}",
                    history.len(),
                    completion.epochs
                ),
            ));
        }
        let samples = self.read_samples(key)?;
        Ok(RunEntry {
            key: key.clone(),
            history,
            samples,
            completion,
        })
    }

    /// Reads an entry's history, finished or not (an unfinished run's history ends at its
    /// checkpoint).
    pub fn read_history(&self, key: &RunKey) -> Result<Vec<EpochRecord>, StoreError> {
        let path = self.dir(key).join("history.csv");
        let text = String::from_utf8(read(&path)?).map_err(|e| corrupt(&path, e.to_string()))?;
        let mut lines = text.lines();
        if lines.next() != Some(HISTORY_HEADER) {
            return Err(corrupt(
                &path,
                format!("expected the header `{HISTORY_HEADER}`"),
            ));
        }
        lines
            .enumerate()
            .map(|(idx, line)| {
                parse_record(line)
                    .map_err(|reason| corrupt(&path, format!("line {}: {reason}", idx + 2)))
            })
            .collect()
    }

    /// Writes an entry's history (atomically replacing any earlier one).
    pub fn write_history(&self, key: &RunKey, history: &[EpochRecord]) -> Result<(), StoreError> {
        let mut text = String::from(HISTORY_HEADER) + "\n";
        for r in history {
            let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            // `{}` prints the shortest decimal that reads back to the same f64.
            text += &format!(
                "{},{},{},{},{},{},{}\n",
                r.epoch,
                r.d_loss_last,
                r.g_loss_last,
                r.d_loss_mean,
                r.g_loss_mean,
                optional(r.d_accuracy_last),
                optional(r.d_accuracy_mean)
            );
        }
        self.write_file(key, "history.csv", text.as_bytes())
    }

    pub fn read_samples(&self, key: &RunKey) -> Result<BTreeMap<u64, SampleImages>, StoreError> {
        let path = self.dir(key).join("samples.safetensors");
        if !path.exists() {
            return Ok(BTreeMap::new());
        }
        let tensors = ganrepro_train::candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| corrupt(&path, e.to_string()))?;
        let mut samples = BTreeMap::new();
        for (name, tensor) in tensors {
            let epoch = name
                .strip_prefix("epoch_")
                .and_then(|e| e.parse::<u64>().ok())
                .ok_or_else(|| corrupt(&path, format!("unexpected tensor `{name}`")))?;
            let (n_images, channels, height, width) =
                tensor.dims4().map_err(|e| corrupt(&path, e.to_string()))?;
            let pixels = tensor
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| corrupt(&path, e.to_string()))?;
            samples.insert(
                epoch,
                SampleImages {
                    pixels,
                    n_images,
                    channels,
                    height,
                    width,
                },
            );
        }
        Ok(samples)
    }

    /// Writes an entry's sample grids (atomically replacing any earlier file).
    pub fn write_samples(
        &self,
        key: &RunKey,
        samples: &BTreeMap<u64, SampleImages>,
    ) -> Result<(), StoreError> {
        let path = self.dir(key).join("samples.safetensors");
        let tensors: HashMap<String, Tensor> = samples
            .iter()
            .map(|(epoch, s)| {
                let shape = (s.n_images, s.channels, s.height, s.width);
                let tensor = Tensor::from_vec(s.pixels.clone(), shape, &Device::Cpu)
                    .expect("sample pixels match their shape");
                (format!("epoch_{epoch}"), tensor)
            })
            .collect();
        self.ensure_dir(key)?;
        let tmp = path.with_extension("safetensors.tmp");
        ganrepro_train::candle_core::safetensors::save(&tensors, &tmp)
            .map_err(|e| corrupt(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|source| StoreError::Io { path, source })
    }

    /// Writes any small file of an entry atomically.
    pub fn write_file(&self, key: &RunKey, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.ensure_dir(key)?;
        let path = self.dir(key).join(name);
        let tmp = self.dir(key).join(format!("{name}.tmp"));
        std::fs::write(&tmp, bytes).map_err(|source| StoreError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| StoreError::Io { path, source })
    }

    /// Marks an entry finished; the last write of an entry.
    pub fn complete(&self, key: &RunKey, completion: &Completion) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(completion).expect("completion serialises");
        self.write_file(key, "complete.json", &json)
    }

    /// Removes an entry (a corrupt one, before it is trained again).
    pub fn remove(&self, key: &RunKey) -> Result<(), StoreError> {
        let dir = self.dir(key);
        std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })
    }

    fn ensure_dir(&self, key: &RunKey) -> Result<(), StoreError> {
        let dir = self.dir(key);
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })
}

fn corrupt(path: &Path, reason: String) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

fn parse_record(line: &str) -> Result<EpochRecord, String> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 7 {
        return Err(format!("expected 7 fields, found {}", fields.len()));
    }
    let number = |idx: usize| -> Result<f64, String> {
        fields[idx]
            .parse()
            .map_err(|_| format!("field {} `{}` is not a number", idx + 1, fields[idx]))
    };
    let optional = |idx: usize| -> Result<Option<f64>, String> {
        if fields[idx].is_empty() {
            Ok(None)
        } else {
            number(idx).map(Some)
        }
    };
    Ok(EpochRecord {
        epoch: fields[0]
            .parse()
            .map_err(|_| format!("epoch `{}` is not an integer", fields[0]))?,
        d_loss_last: number(1)?,
        g_loss_last: number(2)?,
        d_loss_mean: number(3)?,
        g_loss_mean: number(4)?,
        d_accuracy_last: optional(5)?,
        d_accuracy_mean: optional(6)?,
    })
}
