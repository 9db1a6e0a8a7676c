//! The fully connected "vanilla" GAN of the thesis's MNIST and Fashion-MNIST experiments.

mod model;
mod train;

pub use model::{Discriminator, Generator};
pub use train::VanillaTrainer;

crate::settings_struct! {
/// Everything that defines a vanilla GAN run besides its seed, epoch count and data.
pub struct VanillaSettings, overrides VanillaOverrides {
    /// Widths of the generator's hidden dense layers, input side first.
    pub generator_widths: Vec<usize>,
    /// Widths of the discriminator's hidden dense layers, input side first.
    pub discriminator_widths: Vec<usize>,
    /// Length of the generator's noise vector.
    pub noise_dim: usize,
    /// Images per batch (real and fake batches each have this many).
    pub batch_size: usize,
    /// Optimisation steps per epoch (the thesis: floor(60000 / 128) = 468).
    pub steps_per_epoch: usize,
    /// Adam's step size, for both networks.
    pub learning_rate: f64,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Adam's epsilon.
    pub epsilon: f64,
    /// Target of real images in the discriminator update (one-sided label smoothing).
    pub real_target: f32,
    /// Dropout rate after each hidden layer of the discriminator.
    pub dropout: f32,
    /// Negative slope of the LeakyReLU activations.
    pub leaky_slope: f64,
    /// Standard deviation of the normal initialiser of each network's first layer.
    pub first_layer_init_std: f64,
}
}

impl VanillaSettings {
    /// The notebook's settings for a network depth counted as the thesis counts it.
    ///
    /// The notebook's "2 hidden layers" has three hidden dense layers (256-512-1024 in the
    /// generator, mirrored in the discriminator). Neither the thesis nor the notebook says how
    /// the deeper networks were built; our rule: each extra hidden layer repeats the widest
    /// width, 1024, next to the widest layer, in both networks. Experiment files can give the
    /// widths explicitly instead.
    pub fn thesis(hidden_layers: usize) -> Self {
        let n_extra = hidden_layers.saturating_sub(2);
        let mut generator_widths = vec![256, 512, 1024];
        generator_widths.extend(std::iter::repeat_n(1024, n_extra));
        let mut discriminator_widths = vec![1024; n_extra];
        discriminator_widths.extend([1024, 512, 256]);
        Self {
            generator_widths,
            discriminator_widths,
            noise_dim: 100,
            batch_size: 128,
            steps_per_epoch: 60_000 / 128,
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-7,
            real_target: 0.9,
            dropout: 0.3,
            leaky_slope: 0.2,
            first_layer_init_std: 0.02,
        }
    }

    /// Floating-point operations of one training step (forward and backward of both updates),
    /// counting a multiply-add as two; used to report achieved throughput.
    pub fn flops_per_step(&self, image_dim: usize) -> f64 {
        let chain = |input: usize, widths: &[usize], output: usize| -> f64 {
            let mut dims = vec![input];
            dims.extend_from_slice(widths);
            dims.push(output);
            dims.windows(2).map(|w| 2.0 * (w[0] * w[1]) as f64).sum()
        };
        let g = chain(self.noise_dim, &self.generator_widths, image_dim);
        let d = chain(image_dim, &self.discriminator_widths, 1);
        let batch = self.batch_size as f64;
        // D update: G forward on one batch, D forward and backward (x3) on two batches.
        // G update: G forward and backward, D forward and backward through its inputs.
        batch * (g + 3.0 * 2.0 * d + 3.0 * g + 3.0 * d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_rule_repeats_the_widest_layer() {
        let two = VanillaSettings::thesis(2);
        assert_eq!(two.generator_widths, [256, 512, 1024]);
        assert_eq!(two.discriminator_widths, [1024, 512, 256]);
        let five = VanillaSettings::thesis(5);
        assert_eq!(five.generator_widths, [256, 512, 1024, 1024, 1024, 1024]);
        assert_eq!(
            five.discriminator_widths,
            [1024, 1024, 1024, 1024, 512, 256]
        );
        assert_eq!(two.steps_per_epoch, 468);
    }
}
