//! The summary statistics of a run, computed from its per-epoch history.

use ganrepro_train::EpochRecord;

use crate::file::ModelKind;

/// A run's averages over the last `window` epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Epochs averaged (the window, or the whole run if it is shorter).
    pub window: u64,
    /// The thesis's statistic. Vanilla: the mean of the last step's D loss. DCGAN: the mean of
    /// (summed D loss + summed D accuracy) / 2, as numpy's mean over the notebook's recorded
    /// `[loss, accuracy]` pairs computes it.
    pub thesis_statistic: f64,
    /// Mean of the last step's D loss (DCGAN: summed over its two updates).
    pub d_loss_last_step_avg: f64,
    /// Mean of each epoch's mean D loss.
    pub d_loss_epoch_mean_avg: f64,
}

/// The mean of the last `window` values (all of them if there are fewer).
pub fn window_mean(values: impl ExactSizeIterator<Item = f64>, window: u64) -> f64 {
    let n = values.len();
    let skip = n.saturating_sub(window as usize);
    let kept: Vec<f64> = values.skip(skip).collect();
    kept.iter().sum::<f64>() / kept.len() as f64
}

impl Summary {
    /// Summarises `history` over its last `window` epochs.
    pub fn of(history: &[EpochRecord], window: u64, model: ModelKind) -> Summary {
        let d_loss_last_step_avg = window_mean(history.iter().map(|r| r.d_loss_last), window);
        let d_loss_epoch_mean_avg = window_mean(history.iter().map(|r| r.d_loss_mean), window);
        let thesis_statistic = match model {
            ModelKind::Vanilla => d_loss_last_step_avg,
            ModelKind::Dcgan => window_mean(
                history
                    .iter()
                    .map(|r| (r.d_loss_last + r.d_accuracy_last.unwrap_or(0.0)) / 2.0),
                window,
            ),
        };
        Summary {
            window: window.min(history.len() as u64),
            thesis_statistic,
            d_loss_last_step_avg,
            d_loss_epoch_mean_avg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        epoch: u64,
        d_loss_last: f64,
        d_loss_mean: f64,
        accuracy: Option<f64>,
    ) -> EpochRecord {
        EpochRecord {
            epoch,
            d_loss_last,
            g_loss_last: 0.0,
            d_loss_mean,
            g_loss_mean: 0.0,
            d_accuracy_last: accuracy,
            d_accuracy_mean: accuracy,
        }
    }

    #[test]
    fn averages_only_the_last_window_epochs() {
        let history: Vec<_> = [1.0, 2.0, 3.0, 4.0, 6.0]
            .iter()
            .enumerate()
            .map(|(i, &d)| record(i as u64 + 1, d, d * 10.0, None))
            .collect();
        let summary = Summary::of(&history, 3, ModelKind::Vanilla);
        // By hand: (3 + 4 + 6) / 3 and (30 + 40 + 60) / 3.
        assert_eq!(summary.d_loss_last_step_avg, 13.0 / 3.0);
        assert_eq!(summary.d_loss_epoch_mean_avg, 130.0 / 3.0);
        assert_eq!(summary.thesis_statistic, summary.d_loss_last_step_avg);
        assert_eq!(summary.window, 3);
    }

    #[test]
    fn short_runs_average_everything() {
        let history = vec![record(1, 1.0, 1.0, None), record(2, 2.0, 2.0, None)];
        let summary = Summary::of(&history, 250, ModelKind::Vanilla);
        assert_eq!((summary.d_loss_last_step_avg, summary.window), (1.5, 2));
    }

    #[test]
    fn dcgan_statistic_mixes_loss_and_accuracy_as_the_notebook_does() {
        let history = vec![
            record(1, 0.8, 0.0, Some(0.5)),
            record(2, 1.2, 0.0, Some(0.0)),
        ];
        let summary = Summary::of(&history, 2, ModelKind::Dcgan);
        // numpy.mean([[0.8, 0.5], [1.2, 0.0]]) = 2.5 / 4.
        assert_eq!(summary.thesis_statistic, 0.625);
        assert_eq!(summary.d_loss_last_step_avg, 1.0);
    }
}
