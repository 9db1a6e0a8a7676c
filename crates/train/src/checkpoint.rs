//! Checkpoints: every tensor of a run's state in one safetensors file, written atomically.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Error, Result, Tensor, Var};

use crate::adam::Adam;

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

/// The state both GANs share: their variables, both optimisers and the epoch count. Tensors are
/// copied because Adam updates variables and moments in place on the CPU: a checkpoint must not
/// change when training goes on before it is written.
pub(crate) fn gan_state(
    vars: impl IntoIterator<Item = (String, Var)>,
    generator_optimizer: &Adam,
    discriminator_optimizer: &Adam,
    completed_epochs: u64,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let mut shared: HashMap<String, Tensor> = vars
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().clone()))
        .collect();
    shared.extend(generator_optimizer.state("generator_adam")?);
    shared.extend(discriminator_optimizer.state("discriminator_adam")?);
    let mut tensors: HashMap<String, Tensor> = shared
        .into_iter()
        .map(|(name, tensor)| Ok((name, tensor.detach().copy()?)))
        .collect::<Result<_>>()?;
    let epochs = Tensor::new(&[completed_epochs as f64], device)?;
    tensors.insert("completed_epochs".into(), epochs);
    Ok(tensors)
}

/// Restores what [`gan_state`] saved; returns the epoch count.
pub(crate) fn restore_gan_state(
    vars: impl IntoIterator<Item = (String, Var)>,
    generator_optimizer: &mut Adam,
    discriminator_optimizer: &mut Adam,
    tensors: &HashMap<String, Tensor>,
) -> Result<u64> {
    restore_vars(vars, tensors)?;
    generator_optimizer.load_state("generator_adam", tensors)?;
    discriminator_optimizer.load_state("discriminator_adam", tensors)?;
    completed_epochs(tensors)
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
