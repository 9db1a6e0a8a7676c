//! Loading the images a cell trains on, once per distinct data specification.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use ganrepro_data::{DataError, DataOptions, DatasetId, ImageSet};
use ganrepro_experiment::DataSpec;

/// Data sets loaded so far, keyed by their specification.
#[derive(Default)]
pub struct DataCache {
    loaded: HashMap<String, Arc<ImageSet>>,
    prepared: HashMap<DataSpec, Result<Arc<ImageSet>, String>>,
}

impl DataCache {
    /// The images of `spec`, loading and preparing them on first use. A data set that cannot
    /// be found is `Ok(Err(reason))`, so its cells can be skipped; a broken one is an error.
    pub fn get(
        &mut self,
        spec: &DataSpec,
        options: &DataOptions,
    ) -> anyhow::Result<Result<Arc<ImageSet>, String>> {
        if let Some(prepared) = self.prepared.get(spec) {
            return Ok(prepared.clone());
        }
        let base = match self.loaded.get(&spec.dataset) {
            Some(base) => Ok(base.clone()),
            None => {
                let id: DatasetId = spec.dataset.parse()?;
                match ganrepro_data::load_train(id, options) {
                    Ok(set) => {
                        let set = Arc::new(set);
                        self.loaded.insert(spec.dataset.clone(), set.clone());
                        Ok(set)
                    }
                    Err(missing @ DataError::Missing { .. }) => Err(missing.to_string()),
                    Err(error) => {
                        return Err(error).with_context(|| format!("loading {}", spec.dataset))
                    }
                }
            }
        };
        let prepared = base.map(|base| {
            let mut set = match spec.class {
                Some(class) => base.select_class(class),
                None => (*base).clone(),
            };
            if let Some(size) = spec.resize {
                set = set.resized(size, spec.channels.unwrap_or(set.channels));
            }
            if let Some(limit) = spec.limit {
                set = set.truncated(limit);
            }
            Arc::new(set)
        });
        self.prepared.insert(spec.clone(), prepared.clone());
        Ok(prepared)
    }
}
