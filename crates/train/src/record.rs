//! What a run records for every epoch.

/// The losses of one epoch. "Last" values are those of the epoch's last step, the statistic the
/// thesis records; "mean" values average over every step of the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochRecord {
    /// One-based epoch number.
    pub epoch: u64,
    /// Discriminator binary cross-entropy at the last step (DCGAN: sum over its two updates).
    pub d_loss_last: f64,
    /// Generator binary cross-entropy at the last step.
    pub g_loss_last: f64,
    /// Mean over the epoch's steps of the discriminator loss.
    pub d_loss_mean: f64,
    /// Mean over the epoch's steps of the generator loss.
    pub g_loss_mean: f64,
    /// DCGAN only: the discriminator's accuracy at the last step, summed over its two updates.
    pub d_accuracy_last: Option<f64>,
    /// DCGAN only: the mean over the epoch of that summed accuracy.
    pub d_accuracy_mean: Option<f64>,
}

/// Sums step values into an epoch's record.
#[derive(Debug, Default)]
pub(crate) struct EpochAccumulator {
    n_steps: usize,
    d_loss_sum: f64,
    g_loss_sum: f64,
    d_accuracy_sum: f64,
    last: (f64, f64, Option<f64>),
}

impl EpochAccumulator {
    pub(crate) fn add(&mut self, d_loss: f64, g_loss: f64, d_accuracy: Option<f64>) {
        self.n_steps += 1;
        self.d_loss_sum += d_loss;
        self.g_loss_sum += g_loss;
        self.d_accuracy_sum += d_accuracy.unwrap_or(0.0);
        self.last = (d_loss, g_loss, d_accuracy);
    }

    pub(crate) fn finish(self, epoch: u64) -> EpochRecord {
        let n = self.n_steps as f64;
        let (d_loss_last, g_loss_last, d_accuracy_last) = self.last;
        EpochRecord {
            epoch,
            d_loss_last,
            g_loss_last,
            d_loss_mean: self.d_loss_sum / n,
            g_loss_mean: self.g_loss_sum / n,
            d_accuracy_last,
            d_accuracy_mean: d_accuracy_last.map(|_| self.d_accuracy_sum / n),
        }
    }
}
