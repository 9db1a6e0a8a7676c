//! The thesis's GAN models and their training loops, on candle.
//!
//! Every random number comes from [`rng`], keyed by seed, purpose, epoch and step, so a run is
//! bit-reproducible for a given seed and thread count, and a resumed run continues exactly.

pub mod adam;
pub mod blas;
pub mod checkpoint;
pub mod cpu_conv;
pub mod cpu_ops;
pub mod dcgan;
pub mod nn;
pub mod record;
pub mod rng;
pub mod settings;
pub mod vanilla;

#[cfg(test)]
mod test_support;

use std::collections::HashMap;

pub use candle_core;

use candle_core::{Device, Result, Tensor};

pub use record::EpochRecord;

/// Version of everything in the vanilla GAN's training code that changes its results (losses
/// or samples). Bump it with any such change, so that run keys change and stale runs are
/// retrained, not reused. Each model has its own, so a change to one does not retrain the other.
/// Version 2: every product through `blas::sgemm` (the library itself is in the run key).
pub const VANILLA_RESULT_VERSION: u32 = 2;

/// The same for the DCGAN. Version 2: samples are returned channels-first (version 1 returned
/// the model's channels-last maps under a channels-first shape). Version 3: convolutions by
/// chunked im2col (`cpu_conv`) and every product through `blas::sgemm`.
pub const DCGAN_RESULT_VERSION: u32 = 3;

/// Borrowed training images: bytes 0..255 in NCHW order.
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    /// `n_images * channels * height * width` bytes.
    pub pixels: &'a [u8],
    /// Number of images.
    pub n_images: usize,
    /// Channels per image.
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
}

impl Images<'_> {
    /// The images as a `[n, c, h, w]` tensor scaled to [-1, 1] by `(x - 127.5) / 127.5`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let values: Vec<f32> = self
            .pixels
            .iter()
            .map(|&p| (p as f32 - 127.5) / 127.5)
            .collect();
        Tensor::from_vec(
            values,
            (self.n_images, self.channels, self.height, self.width),
            device,
        )
    }
}

/// Generated images in [-1, 1], NCHW.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleImages {
    /// `n_images * channels * height * width` values.
    pub pixels: Vec<f32>,
    /// Number of images.
    pub n_images: usize,
    /// Channels per image.
    pub channels: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
}

/// A GAN in training, driven epoch by epoch by the experiment runner.
pub trait Trainer {
    /// Trains one more epoch and returns what it recorded.
    fn train_epoch(&mut self) -> Result<EpochRecord>;
    /// Images generated from the run's fixed sample noise, in inference mode.
    fn samples(&self, n_images: usize) -> Result<SampleImages>;
    /// Everything needed to continue the run bit-identically.
    fn checkpoint(&self) -> Result<HashMap<String, Tensor>>;
    /// Restores a state produced by [`Trainer::checkpoint`].
    fn restore(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()>;
    /// Epochs trained so far.
    fn completed_epochs(&self) -> u64;
}

/// The device to train on: the CPU, or the first CUDA GPU when built with the `cuda` feature.
pub fn device(use_cuda: bool) -> Result<Device> {
    if use_cuda {
        Device::new_cuda(0)
    } else {
        Ok(Device::Cpu)
    }
}
