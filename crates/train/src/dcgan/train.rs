//! The DCGAN's training loop, step for step as the thesis's notebook runs it.
//!
//! One step: fakes from `generator.predict` (running statistics), a discriminator update on the
//! step's real batch, a separate discriminator update on the fakes, then a generator update
//! through the frozen discriminator. Targets are inverted and noisy: reals near 0, fakes near 1,
//! the generator aims at 0.
//!
//! # The recorded statistic
//!
//! The notebook records, per epoch, the last step's `np.add(d_loss_true, d_loss_gene)`: the sum
//! of the two discriminator calls' `[loss, accuracy]` pairs. Its accuracy is Keras 2's
//! `binary_accuracy` against the noisy targets, which is 0 on practically every batch (see
//! [`keras_binary_accuracy`]). The thesis's "average D loss" is numpy's mean over the last 250
//! of those pairs, loss and accuracy together: `(mean summed loss + mean summed accuracy) / 2`,
//! which with the accuracy at 0 is half the summed loss, i.e. the mean of the real-batch and
//! fake-batch losses. [`EpochRecord`] keeps the summed loss as `d_loss_last` and the summed
//! accuracy as `d_accuracy_last`, so the report can rebuild the thesis's number exactly as
//! `(d_loss + d_accuracy) / 2` and show the plain loss beside it.

use std::collections::{BTreeSet, HashMap};

use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

use super::{DcganSettings, Discriminator, Generator, IMAGE_CHANNELS, IMAGE_SIZE};
use crate::adam::{Adam, AdamParams};
use crate::nn::{bce_with_logits, Mode};
use crate::record::{EpochAccumulator, EpochRecord};
use crate::rng::{self, Stream};
use crate::{Images, SampleImages, Trainer};

/// Number of targets the notebook flips per batch: Python's `int(flip_fraction * batch)`, which
/// is 0 at the thesis's batch of 16 with a fraction of 0.05.
pub fn n_flips(flip_fraction: f64, batch_size: usize) -> usize {
    (flip_fraction * batch_size as f64) as usize
}

/// A batch of noisy targets: uniform on `[range[0], range[1])`, then [`n_flips`] indices drawn
/// with replacement (`np.random.choice`'s default) set to `1 - target`. A repeated index flips
/// once, as numpy's `y[idx] = 1 - y[idx]` does.
pub fn noisy_targets(
    rng: &mut ChaCha8Rng,
    batch_size: usize,
    range: [f32; 2],
    flip_fraction: f64,
) -> Vec<f32> {
    let mut targets = rng::uniform(rng, batch_size, range[0], range[1]);
    let n_flips = n_flips(flip_fraction, batch_size);
    let flipped: BTreeSet<usize> = rng::indices(rng, n_flips, batch_size).into_iter().collect();
    for idx in flipped {
        targets[idx] = 1.0 - targets[idx];
    }
    targets
}

/// The discriminator's accuracy as Keras 2's `binary_accuracy` computes it:
/// `mean(equal(y_true, round(sigmoid(logit))))`, with the targets compared exactly, not rounded.
///
/// Against the notebook's noisy targets, which are never exactly 0 or 1, this is 0 on
/// practically every batch whatever the discriminator does; it is reproduced because the thesis's
/// "average D loss" averages it in (see the module documentation). TensorFlow's `round` takes a
/// probability of exactly 0.5 to 0.
pub fn keras_binary_accuracy(logits: &[f32], targets: &[f32]) -> f64 {
    let hits = logits
        .iter()
        .zip(targets)
        .filter(|&(&logit, &target)| {
            let probability = 1.0 / (1.0 + (-logit).exp());
            let predicted = if probability > 0.5 { 1.0 } else { 0.0 };
            predicted == target
        })
        .count();
    hits as f64 / logits.len() as f64
}

/// What one step reports.
struct StepResult {
    d_loss: f64,
    d_accuracy: f64,
    g_loss: f64,
}

/// A DCGAN in training, with both optimisers and the real images on the device.
pub struct DcganTrainer {
    settings: DcganSettings,
    seed: u64,
    images: Tensor,
    generator: Generator,
    discriminator: Discriminator,
    generator_optimizer: Adam,
    discriminator_optimizer: Adam,
    completed_epochs: u64,
}

impl DcganTrainer {
    /// Initialises both networks from `seed` and uploads `images`, scaled to [-1, 1]. The images
    /// must be 3x32x32 (the caller resizes and colours grey images) and fill at least one batch.
    pub fn new(
        settings: DcganSettings,
        seed: u64,
        images: &Images,
        device: &Device,
    ) -> Result<Self> {
        let shape = (images.channels, images.height, images.width);
        if shape != (IMAGE_CHANNELS, IMAGE_SIZE, IMAGE_SIZE) {
            candle_core::bail!(
                "the DCGAN needs 3x32x32 images, got {shape:?} (channels, height, width)"
            );
        }
        if images.n_images < settings.batch_size {
            candle_core::bail!(
                "the DCGAN needs at least one batch of {} images, got {}",
                settings.batch_size,
                images.n_images
            );
        }
        let mut init_rng = rng::stream(seed, Stream::Init, 0, 0);
        let generator = Generator::new(&settings, &mut init_rng, device)?;
        let discriminator = Discriminator::new(&settings, &mut init_rng, device)?;
        let adam = AdamParams {
            learning_rate: settings.learning_rate,
            beta1: settings.beta1,
            beta2: settings.beta2,
            epsilon: settings.epsilon,
        };
        // Batch-norm running statistics are not among the named variables, so neither optimiser
        // ever touches them.
        let generator_optimizer = Adam::new(generator.named_vars(), adam)?;
        let discriminator_optimizer = Adam::new(discriminator.named_vars(), adam)?;
        // Channels-last, as the networks work.
        let images = images
            .to_tensor(device)?
            .permute((0, 2, 3, 1))?
            .contiguous()?;
        Ok(Self {
            images,
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

    /// One discriminator update (Keras's `train_on_batch`) on `images` with `targets`; returns
    /// the loss and accuracy of the forward pass that the update used.
    fn train_discriminator(
        &mut self,
        images: &Tensor,
        targets: Vec<f32>,
        dropout_rng: &mut ChaCha8Rng,
    ) -> Result<(f64, f64)> {
        // The notebook's Keras never updated D's running statistics: `discriminator.trainable`
        // was already False when D's training function was built, and Keras 2.2 then collects
        // no updates from the model. D never runs in inference mode, so they change no number;
        // we keep them current so that D can be inspected in inference mode.
        let logits = self
            .discriminator
            .forward(images, Mode::Train, dropout_rng)?;
        let accuracy = keras_binary_accuracy(&logits.flatten_all()?.to_vec1::<f32>()?, &targets);
        let targets = Tensor::from_vec(targets, logits.shape(), logits.device())?;
        let loss = bce_with_logits(&logits, &targets)?;
        self.discriminator_optimizer.step(&loss.backward()?)?;
        Ok((loss.to_scalar::<f32>()? as f64, accuracy))
    }

    /// One optimisation step of the epoch numbered `epoch`.
    fn step(&mut self, epoch: u64, step_idx: u64) -> Result<StepResult> {
        let batch = self.settings.batch_size;
        let mut dropout_rng = rng::stream(self.seed, Stream::Dropout, epoch, step_idx);
        let mut target_rng = rng::stream(self.seed, Stream::Targets, epoch, step_idx);

        // Fakes as `generator.predict` makes them: running statistics, off the tape.
        let noise = self.noise(Stream::Noise, epoch, 2 * step_idx, batch)?;
        let fakes = self.generator.forward(&noise, Mode::Inference)?.detach();

        // The real batch in order, `images[batch * k .. batch * (k + 1)]`, restarting every epoch
        // and wrapping if an epoch has more steps than the data has batches.
        let reals = {
            let n_batches = self.images.dim(0)? / batch;
            let batch_idx = step_idx as usize % n_batches;
            self.images.narrow(0, batch_idx * batch, batch)?
        };

        // Inverted noisy targets: reals near 0, fakes near 1, a few of each flipped.
        let settings = &self.settings;
        let real_targets = noisy_targets(
            &mut target_rng,
            batch,
            settings.real_target_range,
            settings.flip_fraction,
        );
        let fake_targets = noisy_targets(
            &mut target_rng,
            batch,
            settings.fake_target_range,
            settings.flip_fraction,
        );

        // Two separate D updates, each its own forward pass with its own batch statistics and
        // its own Adam step, reals first.
        let (real_loss, real_accuracy) =
            self.train_discriminator(&reals, real_targets, &mut dropout_rng)?;
        let (fake_loss, fake_accuracy) =
            self.train_discriminator(&fakes, fake_targets, &mut dropout_rng)?;

        // G update on fresh noise through the frozen D. G runs in training mode (batch
        // statistics, running statistics updated). D runs in Keras's training phase too (batch
        // statistics, dropout on), but `trainable = False` gives its parameters no gradient and,
        // as Keras 2.2 collects no updates from a frozen model, leaves its running statistics
        // as they were.
        let g_loss = {
            let noise = self.noise(Stream::Noise, epoch, 2 * step_idx + 1, batch)?;
            let fakes = self.generator.forward(&noise, Mode::Train)?;
            let logits = self
                .discriminator
                .forward(&fakes, Mode::Frozen, &mut dropout_rng)?;
            let targets = Tensor::full(
                self.settings.generator_target,
                logits.shape(),
                logits.device(),
            )?;
            let loss = bce_with_logits(&logits, &targets)?;
            self.generator_optimizer.step(&loss.backward()?)?;
            loss.to_scalar::<f32>()? as f64
        };

        Ok(StepResult {
            d_loss: real_loss + fake_loss,
            d_accuracy: real_accuracy + fake_accuracy,
            g_loss,
        })
    }
}

impl Trainer for DcganTrainer {
    fn train_epoch(&mut self) -> Result<EpochRecord> {
        let epoch = self.completed_epochs + 1;
        let mut accumulator = EpochAccumulator::default();
        for step_idx in 0..self.settings.steps_per_epoch as u64 {
            let result = self.step(epoch, step_idx)?;
            accumulator.add(result.d_loss, result.g_loss, Some(result.d_accuracy));
        }
        self.completed_epochs = epoch;
        Ok(accumulator.finish(epoch))
    }

    fn samples(&self, n_images: usize) -> Result<SampleImages> {
        let noise = self.noise(Stream::Samples, 0, 0, n_images)?;
        let pixels = self
            .generator
            .forward(&noise, Mode::Inference)?
            // The model works channels-last, as Keras does; samples are channels-first.
            .permute((0, 3, 1, 2))?
            .contiguous()?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(SampleImages {
            pixels,
            n_images,
            channels: IMAGE_CHANNELS,
            height: IMAGE_SIZE,
            width: IMAGE_SIZE,
        })
    }

    fn checkpoint(&self) -> Result<HashMap<String, Tensor>> {
        let mut tensors = crate::checkpoint::gan_state(
            self.generator
                .named_vars()
                .into_iter()
                .chain(self.discriminator.named_vars()),
            &self.generator_optimizer,
            &self.discriminator_optimizer,
            self.completed_epochs,
            self.images.device(),
        )?;
        // Batch-norm running statistics are not trained variables; they are saved beside them.
        tensors.extend(self.generator.state()?);
        tensors.extend(self.discriminator.state()?);
        Ok(tensors)
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
        self.generator.load_state(tensors)?;
        self.discriminator.load_state(tensors)?;
        Ok(())
    }

    fn completed_epochs(&self) -> u64 {
        self.completed_epochs
    }
}
