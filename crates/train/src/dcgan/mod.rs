//! The convolutional GAN (DCGAN) of the thesis's single-class CIFAR-10 experiments.
//!
//! The model and its training step follow the published Keras notebook (SPEC section 2); the
//! places where Keras 2.2 behaves in ways the notebook does not spell out (batch-norm running
//! statistics, the accuracy metric) are documented where they are reproduced.

mod model;
mod train;

pub use model::{layer_shapes, Discriminator, Generator, IMAGE_CHANNELS, IMAGE_SIZE};
pub use train::{keras_binary_accuracy, n_flips, noisy_targets, DcganTrainer};

use crate::nn::BatchNormParams;

crate::settings_struct! {
/// Everything that defines a DCGAN run besides its seed, epoch count and data.
pub struct DcganSettings, overrides DcganOverrides {
    /// Length of the generator's noise vector.
    pub noise_dim: usize,
    /// Images per batch; each of the two discriminator updates and the generator update sees
    /// this many.
    pub batch_size: usize,
    /// Optimisation steps per epoch (the thesis: floor(5000 / 16) = 312).
    pub steps_per_epoch: usize,
    /// Filters of every hidden layer of the generator (the thesis: 128).
    pub generator_filters: usize,
    /// Filters of every convolution of the discriminator (the thesis: 128).
    pub discriminator_filters: usize,
    /// Adam's step size, for both networks.
    pub learning_rate: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Adam's epsilon.
    pub epsilon: f64,
    /// Negative slope of the LeakyReLU activations.
    pub leaky_slope: f64,
    /// Dropout rate before the discriminator's output layer.
    pub dropout: f32,
    /// Keras's batch-norm momentum: `running = momentum * running + (1 - momentum) * batch`.
    pub batch_norm_momentum: f64,
    /// Added to the variance in batch normalisation.
    pub batch_norm_epsilon: f64,
    /// Whether the running statistics are zero-debiased, as Keras 2.2 on TensorFlow 1 did.
    pub batch_norm_zero_debias: bool,
    /// Range `[low, high)` of the real images' noisy targets (inverted labels: real is near 0).
    pub real_target_range: [f32; 2],
    /// Range `[low, high)` of the fake images' noisy targets.
    pub fake_target_range: [f32; 2],
    /// Target of the generator update.
    pub generator_target: f32,
    /// Fraction of each batch's targets flipped to `1 - target`; `int(fraction * batch)` indices
    /// are drawn with replacement, as the notebook's `np.random.choice` does.
    pub flip_fraction: f64,
    /// Standard deviation of the normal initialiser of the generator's dense layer.
    pub first_layer_init_std: f64,
}
}

impl DcganSettings {
    /// The notebook's settings.
    pub fn thesis() -> Self {
        Self {
            noise_dim: 100,
            batch_size: 16,
            steps_per_epoch: 5000 / 16,
            generator_filters: 128,
            discriminator_filters: 128,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-7,
            leaky_slope: 0.1,
            dropout: 0.4,
            batch_norm_momentum: 0.9,
            batch_norm_epsilon: 1e-3,
            batch_norm_zero_debias: true,
            real_target_range: [0.0, 0.1],
            fake_target_range: [0.9, 1.0],
            generator_target: 0.0,
            flip_fraction: 0.05,
            first_layer_init_std: 0.02,
        }
    }

    /// The batch-norm hyper-parameters of both networks.
    pub fn batch_norm(&self) -> BatchNormParams {
        BatchNormParams {
            momentum: self.batch_norm_momentum,
            epsilon: self.batch_norm_epsilon,
            zero_debias: self.batch_norm_zero_debias,
        }
    }

    /// Floating-point operations of one training step, counting a multiply-add as two; used to
    /// report achieved throughput. Only convolutions and dense layers count: a backward pass costs
    /// twice its forward pass, and the generator update's pass back through the frozen
    /// discriminator is counted in full, as the vanilla count does. About 157 GFLOP at the
    /// thesis's size.
    pub fn flops_per_step(&self) -> f64 {
        let (g, d) = (self.generator_filters, self.discriminator_filters);
        let (small, large) = (16 * 16, IMAGE_SIZE * IMAGE_SIZE);
        let generator_macs = self.noise_dim * g * small // dense
            + 25 * g * g * small // 5x5 convolution at 16x16
            + 16 * g * g * small // 4x4 transposed convolution, 16x16 inputs
            + 2 * 25 * g * g * large // two 5x5 convolutions at 32x32
            + 25 * g * IMAGE_CHANNELS * large; // 5x5 convolution to RGB
        let discriminator_macs = 9 * IMAGE_CHANNELS * d * large // 3x3 convolution
            + 16 * d * d * (16 * 16 + 8 * 8 + 4 * 4) // three strided 4x4 convolutions
            + d * 4 * 4; // dense to the logit
        let (g_flops, d_flops) = (2.0 * generator_macs as f64, 2.0 * discriminator_macs as f64);
        // Fakes by inference (G forward), two D updates (forward and backward each), one G update
        // (G and D forward and backward).
        self.batch_size as f64 * (g_flops + 2.0 * 3.0 * d_flops + 3.0 * (g_flops + d_flops))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thesis_step_costs_about_157_gflop() {
        let settings = DcganSettings::thesis();
        assert_eq!(settings.steps_per_epoch, 312);
        let gflop = settings.flops_per_step() / 1e9;
        assert!((gflop - 157.0).abs() < 1.5, "{gflop} GFLOP");
    }
}
