//! The vanilla GAN's training loop, step for step as the thesis's notebook runs it.

use std::collections::HashMap;

use candle_core::{Device, Result, Tensor};

use super::{Discriminator, Generator, VanillaSettings};
use crate::adam::{Adam, AdamParams};
use crate::nn::bce_with_logits;
use crate::record::{EpochAccumulator, EpochRecord};
use crate::rng::{self, Stream};
use crate::{Images, SampleImages, Trainer};

/// A vanilla GAN in training, with both optimisers and the real images on the device.
pub struct VanillaTrainer {
    settings: VanillaSettings,
    seed: u64,
    images: Tensor,
    image_shape: (usize, usize, usize),
    generator: Generator,
    discriminator: Discriminator,
    generator_optimizer: Adam,
    discriminator_optimizer: Adam,
    completed_epochs: u64,
}

impl VanillaTrainer {
    /// Initialises both networks from `seed` and uploads `images`, scaled to [-1, 1].
    pub fn new(
        settings: VanillaSettings,
        seed: u64,
        images: &Images,
        device: &Device,
    ) -> Result<Self> {
        let image_dim = images.channels * images.height * images.width;
        let mut init_rng = rng::stream(seed, Stream::Init, 0, 0);
        let generator = Generator::new(&settings, image_dim, &mut init_rng, device)?;
        let discriminator = Discriminator::new(&settings, image_dim, &mut init_rng, device)?;
        let adam = AdamParams {
            learning_rate: settings.learning_rate,
            beta1: settings.beta1,
            beta2: settings.beta2,
            epsilon: settings.epsilon,
        };
        let generator_optimizer = Adam::new(generator.named_vars(), adam)?;
        let discriminator_optimizer = Adam::new(discriminator.named_vars(), adam)?;
        Ok(Self {
            images: images
                .to_tensor(device)?
                .reshape((images.n_images, image_dim))?,
            image_shape: (images.channels, images.height, images.width),
            settings,
            seed,
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            completed_epochs: 0,
        })
    }

    fn noise(&self, stream: Stream, epoch: u64, step: u64, n: usize) -> Result<Tensor> {
        let shape = (n, self.settings.noise_dim);
        rng::noise_batch(self.seed, stream, epoch, step, shape, self.images.device())
    }

    /// One optimisation step; returns the discriminator's and the generator's loss.
    fn step(&mut self, epoch: u64, step: u64) -> Result<(f64, f64)> {
        let batch = self.settings.batch_size;
        let device = self.images.device().clone();
        let mut dropout_rng = rng::stream(self.seed, Stream::Dropout, epoch, step);

        // Fake images from fresh noise, in inference mode (the generator has no dropout or
        // batch norm, so only the gradient tape differs).
        let fakes = self
            .generator
            .forward(&self.noise(Stream::Noise, epoch, 2 * step, batch)?)?
            .detach();

        // Real images drawn uniformly with replacement, not a shuffled pass over the data.
        let reals = {
            let mut index_rng = rng::stream(self.seed, Stream::RealBatch, epoch, step);
            let n_images = self.images.dim(0)?;
            let idx: Vec<u32> = rng::indices(&mut index_rng, batch, n_images)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            self.images.index_select(&Tensor::new(idx, &device)?, 0)?
        };

        // Train D once on reals (target 0.9, one-sided label smoothing) and fakes (target 0).
        let d_loss = {
            let inputs = Tensor::cat(&[&reals, &fakes], 0)?;
            let mut targets = vec![self.settings.real_target; batch];
            targets.resize(2 * batch, 0.0);
            let targets = Tensor::from_vec(targets, (2 * batch, 1), &device)?;
            let logits = self
                .discriminator
                .forward(&inputs, &mut dropout_rng, false)?;
            let loss = bce_with_logits(&logits, &targets)?;
            self.discriminator_optimizer.step(&loss.backward()?)?;
            loss.to_scalar::<f32>()? as f64
        };

        // Train G through the frozen D, dropout still active, towards target 1.
        let g_loss = {
            let fakes = self.generator.forward(&self.noise(
                Stream::Noise,
                epoch,
                2 * step + 1,
                batch,
            )?)?;
            let logits = self.discriminator.forward(&fakes, &mut dropout_rng, true)?;
            let loss = bce_with_logits(
                &logits,
                &Tensor::ones((batch, 1), candle_core::DType::F32, &device)?,
            )?;
            self.generator_optimizer.step(&loss.backward()?)?;
            loss.to_scalar::<f32>()? as f64
        };

        Ok((d_loss, g_loss))
    }
}

impl Trainer for VanillaTrainer {
    fn train_epoch(&mut self) -> Result<EpochRecord> {
        let epoch = self.completed_epochs + 1;
        let mut accumulator = EpochAccumulator::default();
        for step_idx in 0..self.settings.steps_per_epoch as u64 {
            let (d_loss, g_loss) = self.step(epoch, step_idx)?;
            accumulator.add(d_loss, g_loss, None);
        }
        self.completed_epochs = epoch;
        Ok(accumulator.finish(epoch))
    }

    fn samples(&self, n_images: usize) -> Result<SampleImages> {
        let noise = self.noise(Stream::Samples, 0, 0, n_images)?;
        let (channels, height, width) = self.image_shape;
        let pixels = self
            .generator
            .forward(&noise)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(SampleImages {
            pixels,
            n_images,
            channels,
            height,
            width,
        })
    }

    fn checkpoint(&self) -> Result<HashMap<String, Tensor>> {
        crate::checkpoint::gan_state(
            self.generator
                .named_vars()
                .into_iter()
                .chain(self.discriminator.named_vars()),
            &self.generator_optimizer,
            &self.discriminator_optimizer,
            self.completed_epochs,
            self.images.device(),
        )
    }

    fn restore(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.completed_epochs = crate::checkpoint::restore_gan_state(
            self.generator
                .named_vars()
                .into_iter()
                .chain(self.discriminator.named_vars()),
            &mut self.generator_optimizer,
            &mut self.discriminator_optimizer,
            tensors,
        )?;
        Ok(())
    }

    fn completed_epochs(&self) -> u64 {
        self.completed_epochs
    }
}
