//! Checkpoints: every tensor of a run's state in one safetensors file, written atomically.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Error, Result, Tensor, Var};

/// Writes `tensors` to `path` through a temporary file, so a killed process never leaves a
/// half-written checkpoint under the real name.
pub fn save(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads a checkpoint written by [`save`] onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device)
}

/// Copies each named tensor of a checkpoint into its variable.
pub(crate) fn restore_vars(
    vars: impl IntoIterator<Item = (String, Var)>,
    tensors: &HashMap<String, Tensor>,
) -> Result<()> {
    for (name, var) in vars {
        let tensor = tensors.get(&name).ok_or_else(|| missing(&name))?;
        var.set(tensor)?;
    }
    Ok(())
}

/// The epoch count stored in a checkpoint.
pub(crate) fn completed_epochs(tensors: &HashMap<String, Tensor>) -> Result<u64> {
    let tensor = tensors
        .get("completed_epochs")
        .ok_or_else(|| missing("completed_epochs"))?;
    Ok(tensor.to_vec1::<f64>()?[0] as u64)
}

fn missing(name: &str) -> Error {
    Error::Msg(format!("checkpoint lacks the tensor `{name}`"))
}
