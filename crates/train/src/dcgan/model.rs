//! The DCGAN generator and discriminator, layer for layer as the notebook builds them.
//!
//! Images and feature maps are channels-last (`[batch, height, width, channels]`), as in Keras,
//! so the generator's reshape and the discriminator's flatten order units exactly as the
//! notebook's do.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

use super::DcganSettings;
use crate::nn::{
    dropout, leaky_relu, BatchNorm, Conv2d, ConvSpec, ConvTranspose2d, Dense, Init, Mode,
};
use crate::rng::{self, Stream};

/// Side of the square images both networks work on.
pub const IMAGE_SIZE: usize = 32;
/// Colour channels of the images.
pub const IMAGE_CHANNELS: usize = 3;
/// Side of the generator's first feature map, doubled once by its transposed convolution.
const SEED_SIZE: usize = IMAGE_SIZE / 2;

/// A hidden convolution of the generator: plain, or the transposed one that doubles the size.
enum GeneratorConv {
    Plain(Conv2d),
    Transposed(ConvTranspose2d),
}

impl GeneratorConv {
    fn forward(&self, xs: &Tensor, frozen: bool) -> Result<Tensor> {
        match self {
            GeneratorConv::Plain(conv) => conv.forward(xs, frozen),
            GeneratorConv::Transposed(conv) => conv.forward(xs, frozen),
        }
    }

    fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        match self {
            GeneratorConv::Plain(conv) => conv.named_vars(prefix),
            GeneratorConv::Transposed(conv) => conv.named_vars(prefix),
        }
    }
}

/// Maps noise to 32x32 RGB images in [-1, 1] (tanh output).
///
/// Dense 100 -> 16*16*F with batch norm over its 16*16*F units, then 5x5 convolution (16x16),
/// 4x4 stride-2 transposed convolution (to 32x32), two 5x5 convolutions, each with batch norm
/// and LeakyReLU, and a 5x5 convolution to 3 channels with tanh.
pub struct Generator {
    dense: Dense,
    dense_norm: BatchNorm,
    hidden: Vec<(GeneratorConv, BatchNorm)>,
    to_rgb: Conv2d,
    filters: usize,
    slope: f64,
}

impl Generator {
    /// A freshly initialised generator.
    pub fn new(settings: &DcganSettings, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let filters = settings.generator_filters;
        let n_units = filters * SEED_SIZE * SEED_SIZE;
        let dense_init = Init::Normal {
            std: settings.first_layer_init_std,
        };
        let dense = Dense::new(settings.noise_dim, n_units, dense_init, rng, device)?;
        let batch_norm = settings.batch_norm();
        let dense_norm = BatchNorm::new(n_units, batch_norm, device)?;
        let same_5x5 = ConvSpec {
            c_in: filters,
            c_out: filters,
            kernel: 5,
            stride: 1,
            padding: 2,
        };
        let upsample = ConvSpec {
            kernel: 4,
            stride: 2,
            padding: 1,
            ..same_5x5
        };
        let glorot = Init::GlorotUniform;
        let convs = [
            GeneratorConv::Plain(Conv2d::new(same_5x5, glorot, rng, device)?),
            GeneratorConv::Transposed(ConvTranspose2d::new(upsample, glorot, rng, device)?),
            GeneratorConv::Plain(Conv2d::new(same_5x5, glorot, rng, device)?),
            GeneratorConv::Plain(Conv2d::new(same_5x5, glorot, rng, device)?),
        ];
        let hidden = convs
            .into_iter()
            .map(|conv| Ok((conv, BatchNorm::new(filters, batch_norm, device)?)))
            .collect::<Result<_>>()?;
        let to_rgb_spec = ConvSpec {
            c_out: IMAGE_CHANNELS,
            ..same_5x5
        };
        let to_rgb = Conv2d::new(to_rgb_spec, glorot, rng, device)?;
        Ok(Self {
            dense,
            dense_norm,
            hidden,
            to_rgb,
            filters,
            slope: settings.leaky_slope,
        })
    }

    /// Images for a batch of noise vectors, shape `[batch, 32, 32, 3]`. [`Mode::Train`] uses
    /// batch statistics and updates the running ones; [`Mode::Inference`] is Keras's `predict`.
    pub fn forward(&self, noise: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut outputs = self.block_outputs(noise, mode)?;
        Ok(outputs.pop().expect("a generator has blocks"))
    }

    /// The output of every block, named: the dense block, its reshape, each convolution block
    /// (after batch norm and activation) and the tanh output.
    pub fn block_outputs(&self, noise: &Tensor, mode: Mode) -> Result<Vec<Tensor>> {
        let frozen = mode.detaches_parameters();
        let mut outputs = Vec::new();
        let xs = self.dense.forward(noise, frozen)?;
        let xs = leaky_relu(&self.dense_norm.forward(&xs, mode)?, self.slope)?;
        outputs.push(xs.clone());
        let mut xs = xs.reshape((noise.dim(0)?, SEED_SIZE, SEED_SIZE, self.filters))?;
        outputs.push(xs.clone());
        for (conv, norm) in &self.hidden {
            xs = leaky_relu(
                &norm.forward(&conv.forward(&xs, frozen)?, mode)?,
                self.slope,
            )?;
            outputs.push(xs.clone());
        }
        outputs.push(self.to_rgb.forward(&xs, frozen)?.tanh()?);
        Ok(outputs)
    }

    /// Names of the tensors [`Generator::block_outputs`] returns, in order.
    pub fn block_names() -> Vec<&'static str> {
        vec![
            "generator.dense",
            "generator.reshape",
            "generator.conv5x5_16",
            "generator.conv_transpose4x4",
            "generator.conv5x5_32a",
            "generator.conv5x5_32b",
            "generator.output",
        ]
    }

    /// The generator's trainable parameters, named for checkpoints.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut vars = self.dense.named_vars("generator.dense");
        vars.extend(self.dense_norm.named_vars("generator.dense_bn"));
        for (idx, (conv, norm)) in self.hidden.iter().enumerate() {
            vars.extend(conv.named_vars(&format!("generator.conv{idx}")));
            vars.extend(norm.named_vars(&format!("generator.bn{idx}")));
        }
        vars.extend(self.to_rgb.named_vars("generator.to_rgb"));
        vars
    }

    fn norms(&self) -> impl Iterator<Item = (String, &BatchNorm)> {
        let hidden = self.hidden.iter().enumerate();
        std::iter::once(("generator.dense_bn".to_string(), &self.dense_norm))
            .chain(hidden.map(|(idx, (_, norm))| (format!("generator.bn{idx}"), norm)))
    }

    /// The batch-norm running statistics, named for checkpoints.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for (prefix, norm) in self.norms() {
            state.extend(norm.state(&prefix)?);
        }
        Ok(state)
    }

    /// Restores the state written by [`Generator::state`].
    pub fn load_state(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.norms()
            .try_for_each(|(prefix, norm)| norm.load_state(&prefix, tensors))
    }
}

/// Scores 32x32 RGB images, shape `[batch, 32, 32, 3]`, with a logit (the sigmoid is folded into
/// the loss).
///
/// A 3x3 convolution and three 4x4 stride-2 convolutions (32 -> 16 -> 8 -> 4), each with batch
/// norm and LeakyReLU; flatten, dropout, dense to one unit.
pub struct Discriminator {
    convs: Vec<(Conv2d, BatchNorm)>,
    dense: Dense,
    slope: f64,
    dropout: f32,
}

impl Discriminator {
    /// A freshly initialised discriminator.
    pub fn new(settings: &DcganSettings, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let filters = settings.discriminator_filters;
        let first = ConvSpec {
            c_in: IMAGE_CHANNELS,
            c_out: filters,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let downsample = ConvSpec {
            c_in: filters,
            c_out: filters,
            kernel: 4,
            stride: 2,
            padding: 1,
        };
        let mut convs = Vec::new();
        for spec in [first, downsample, downsample, downsample] {
            let conv = Conv2d::new(spec, Init::GlorotUniform, rng, device)?;
            convs.push((
                conv,
                BatchNorm::new(filters, settings.batch_norm(), device)?,
            ));
        }
        let n_features = filters * (IMAGE_SIZE / 8) * (IMAGE_SIZE / 8);
        let dense = Dense::new(n_features, 1, Init::GlorotUniform, rng, device)?;
        Ok(Self {
            convs,
            dense,
            slope: settings.leaky_slope,
            dropout: settings.dropout,
        })
    }

    /// Logits, shape `[batch, 1]`. Outside [`Mode::Inference`], dropout masks are drawn from
    /// `dropout_rng`.
    pub fn forward(
        &self,
        images: &Tensor,
        mode: Mode,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<Tensor> {
        let mut outputs = self.block_outputs(images, mode, dropout_rng)?;
        Ok(outputs.pop().expect("a discriminator has blocks"))
    }

    /// The output of every block: each convolution block (after batch norm and activation), the
    /// flattened features (before dropout) and the logit.
    pub fn block_outputs(
        &self,
        images: &Tensor,
        mode: Mode,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Tensor>> {
        let frozen = mode.detaches_parameters();
        let mut outputs = Vec::new();
        let mut xs = images.clone();
        for (conv, norm) in &self.convs {
            xs = leaky_relu(
                &norm.forward(&conv.forward(&xs, frozen)?, mode)?,
                self.slope,
            )?;
            outputs.push(xs.clone());
        }
        let mut xs = xs.flatten_from(1)?;
        outputs.push(xs.clone());
        if mode != Mode::Inference {
            xs = dropout(&xs, self.dropout, dropout_rng)?;
        }
        outputs.push(self.dense.forward(&xs, frozen)?);
        Ok(outputs)
    }

    /// Names of the tensors [`Discriminator::block_outputs`] returns, in order.
    pub fn block_names() -> Vec<&'static str> {
        vec![
            "discriminator.conv3x3",
            "discriminator.conv4x4_16",
            "discriminator.conv4x4_8",
            "discriminator.conv4x4_4",
            "discriminator.flatten",
            "discriminator.logit",
        ]
    }

    /// The discriminator's trainable parameters, named for checkpoints.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut vars = Vec::new();
        for (idx, (conv, norm)) in self.convs.iter().enumerate() {
            vars.extend(conv.named_vars(&format!("discriminator.conv{idx}")));
            vars.extend(norm.named_vars(&format!("discriminator.bn{idx}")));
        }
        vars.extend(self.dense.named_vars("discriminator.dense"));
        vars
    }

    /// The batch-norm running statistics, named for checkpoints.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for (idx, (_, norm)) in self.convs.iter().enumerate() {
            state.extend(norm.state(&format!("discriminator.bn{idx}"))?);
        }
        Ok(state)
    }

    /// Restores the state written by [`Discriminator::state`].
    pub fn load_state(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let norms = self.convs.iter().enumerate();
        norms.into_iter().try_for_each(|(idx, (_, norm))| {
            norm.load_state(&format!("discriminator.bn{idx}"), tensors)
        })
    }
}

/// The output shape of every block of both networks, named as in [`Generator::block_names`] and
/// [`Discriminator::block_names`], for a batch of `n_images`. Builds fresh networks and runs them
/// in inference mode on zero noise.
pub fn layer_shapes(
    settings: &DcganSettings,
    n_images: usize,
    device: &Device,
) -> Result<Vec<(String, Vec<usize>)>> {
    let mut init_rng = rng::stream(0, Stream::Init, 0, 0);
    let generator = Generator::new(settings, &mut init_rng, device)?;
    let discriminator = Discriminator::new(settings, &mut init_rng, device)?;
    let noise = Tensor::zeros((n_images, settings.noise_dim), DType::F32, device)?;
    let generator_outputs = generator.block_outputs(&noise, Mode::Inference)?;
    let images = generator_outputs
        .last()
        .expect("a generator has blocks")
        .clone();
    let mut dropout_rng = rng::stream(0, Stream::Dropout, 0, 0);
    let discriminator_outputs =
        discriminator.block_outputs(&images, Mode::Inference, &mut dropout_rng)?;
    let names = Generator::block_names()
        .into_iter()
        .chain(Discriminator::block_names());
    let outputs = generator_outputs.iter().chain(&discriminator_outputs);
    Ok(names
        .zip(outputs)
        .map(|(name, xs)| (name.to_string(), xs.dims().to_vec()))
        .collect())
}
