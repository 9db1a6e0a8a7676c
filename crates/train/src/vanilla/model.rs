//! The vanilla generator and discriminator: stacks of dense layers with LeakyReLU.

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use crate::nn::{leaky_relu, Dense, Init};
use crate::rng;

use super::VanillaSettings;

/// Builds `input -> widths... -> output`, the first layer drawn from `N(0, std)` and the rest
/// Glorot-uniform, as the notebook's Keras model does.
fn dense_stack(
    input: usize,
    widths: &[usize],
    output: usize,
    first_std: f64,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Vec<Dense>> {
    let mut dims = vec![input];
    dims.extend_from_slice(widths);
    dims.push(output);
    dims.windows(2)
        .enumerate()
        .map(|(idx, pair)| {
            let init = if idx == 0 {
                Init::Normal { std: first_std }
            } else {
                Init::GlorotUniform
            };
            Dense::new(pair[0], pair[1], init, rng, device)
        })
        .collect()
}

/// Maps noise to images in [-1, 1] (tanh output).
pub struct Generator {
    layers: Vec<Dense>,
    slope: f64,
}

impl Generator {
    /// A freshly initialised generator.
    pub fn new(
        settings: &VanillaSettings,
        image_dim: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Self> {
        let layers = dense_stack(
            settings.noise_dim,
            &settings.generator_widths,
            image_dim,
            settings.first_layer_init_std,
            rng,
            device,
        )?;
        Ok(Self {
            layers,
            slope: settings.leaky_slope,
        })
    }

    /// Images for a batch of noise vectors, shape `[batch, image_dim]`.
    pub fn forward(&self, noise: &Tensor) -> Result<Tensor> {
        let (last, hidden) = self.layers.split_last().expect("a generator has layers");
        let mut xs = noise.clone();
        for layer in hidden {
            xs = leaky_relu(&layer.forward(&xs, false)?, self.slope)?;
        }
        last.forward(&xs, false)?.tanh()
    }

    /// The generator's parameters, named for checkpoints.
    pub fn named_vars(&self) -> Vec<(String, candle_core::Var)> {
        let layers = self.layers.iter().enumerate();
        layers
            .flat_map(|(idx, layer)| layer.named_vars(&format!("generator.dense{idx}")))
            .collect()
    }
}

/// Scores images with a logit (the sigmoid is folded into the loss).
pub struct Discriminator {
    layers: Vec<Dense>,
    slope: f64,
    dropout: f32,
}

impl Discriminator {
    /// A freshly initialised discriminator.
    pub fn new(
        settings: &VanillaSettings,
        image_dim: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Self> {
        let layers = dense_stack(
            image_dim,
            &settings.discriminator_widths,
            1,
            settings.first_layer_init_std,
            rng,
            device,
        )?;
        Ok(Self {
            layers,
            slope: settings.leaky_slope,
            dropout: settings.dropout,
        })
    }

    /// Logits, shape `[batch, 1]`, in training mode: dropout masks are drawn from `rng`.
    /// With `frozen`, gradients reach the input but not the discriminator's parameters.
    pub fn forward(&self, images: &Tensor, rng: &mut ChaCha8Rng, frozen: bool) -> Result<Tensor> {
        let (last, hidden) = self
            .layers
            .split_last()
            .expect("a discriminator has layers");
        let mut xs = images.clone();
        for layer in hidden {
            xs = leaky_relu(&layer.forward(&xs, frozen)?, self.slope)?;
            let mask = rng::dropout_mask(rng, xs.elem_count(), self.dropout);
            xs = (xs.clone() * Tensor::from_vec(mask, xs.shape(), xs.device())?)?;
        }
        last.forward(&xs, frozen)
    }

    /// The discriminator's parameters, named for checkpoints.
    pub fn named_vars(&self) -> Vec<(String, candle_core::Var)> {
        let layers = self.layers.iter().enumerate();
        layers
            .flat_map(|(idx, layer)| layer.named_vars(&format!("discriminator.dense{idx}")))
            .collect()
    }
}
