//! Loss per epoch: the last step's value, the epoch mean, and optionally a quadratic trend.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{padded_range, plot_error, prepare};
use crate::cells::LossHistory;
use crate::error::{ReportError, Result};
use crate::trend::fit_quadratic;

/// Which network's loss a figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossSeries {
    /// The discriminator's loss.
    D,
    /// The generator's loss.
    G,
}

const LAST_STEP_COLOUR: RGBColor = RGBColor(31, 90, 160);
const EPOCH_MEAN_COLOUR: RGBColor = RGBColor(140, 190, 230);
const TREND_COLOUR: RGBColor = RGBColor(215, 25, 28);

/// Draws one network's loss per epoch into a PNG at `path`: the loss at the last step of each
/// epoch (the thesis's curve), each epoch's mean loss as a lighter line when the history has
/// it, and with `trend` a dashed red least-squares quadratic fitted to the last-step curve.
///
/// Non-finite values are left out of the lines and the fit. A history without any finite value
/// of the last-step series is an error.
pub fn plot_losses(
    path: &Path,
    title: &str,
    history: &LossHistory,
    series: LossSeries,
    trend: bool,
) -> Result<()> {
    prepare(path)?;
    let (last, mean, network) = match series {
        LossSeries::D => (&history.d_loss_last, &history.d_loss_mean, "discriminator"),
        LossSeries::G => (&history.g_loss_last, &history.g_loss_mean, "generator"),
    };
    let finite_points = |values: &[f64]| -> Vec<(f64, f64)> {
        (1..)
            .zip(values)
            .map(|(epoch, &loss)| (f64::from(epoch), loss))
            .filter(|(_, loss)| loss.is_finite())
            .collect()
    };
    let last_points = finite_points(last);
    let mean_points = finite_points(mean);
    if last_points.is_empty() {
        return Err(ReportError::FigureInput {
            path: path.to_owned(),
            problem: format!("the {network} loss history has no finite value to plot"),
        });
    }
    let trend_points: Vec<(f64, f64)> = if trend {
        let (epochs, losses): (Vec<f64>, Vec<f64>) = last_points.iter().copied().unzip();
        match fit_quadratic(&epochs, &losses) {
            Some(fit) => epochs
                .iter()
                .map(|&epoch| (epoch, fit.evaluate(epoch)))
                .collect(),
            None => {
                tracing::debug!(
                    "{}: trend line left out, fewer than three finite epochs to fit",
                    path.display()
                );
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };

    // Leave headroom above the curves so that the legend does not hide them.
    let n_epochs = last.len().max(mean.len()).max(2) as f64;
    let all_losses = [&last_points, &mean_points, &trend_points]
        .into_iter()
        .flatten()
        .map(|&(_, loss)| loss);
    let (y_low, y_high) = padded_range(all_losses, 0.05).unwrap_or((0.0, 1.0));
    let y_high = y_high + 0.25 * (y_high - y_low);

    let error = plot_error(path);
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(1.0..n_epochs, y_low..y_high)
        .map_err(&error)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("epoch")
        .y_desc(format!("{network} BCE loss"))
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .x_label_formatter(&|epoch| format!("{epoch:.0}"))
        .y_label_formatter(&|loss| format!("{loss:.2}"))
        .draw()
        .map_err(&error)?;

    // The epoch mean goes over the noisy last-step line so that both stay visible.
    chart
        .draw_series(LineSeries::new(
            last_points,
            LAST_STEP_COLOUR.stroke_width(1),
        ))
        .map_err(&error)?
        .label("last step of the epoch")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], LAST_STEP_COLOUR.stroke_width(2)));
    if !mean_points.is_empty() {
        chart
            .draw_series(LineSeries::new(
                mean_points,
                EPOCH_MEAN_COLOUR.stroke_width(2),
            ))
            .map_err(&error)?
            .label("mean over the epoch's steps")
            .legend(|(x, y)| {
                PathElement::new([(x, y), (x + 24, y)], EPOCH_MEAN_COLOUR.stroke_width(3))
            });
    }
    if !trend_points.is_empty() {
        chart
            .draw_series(DashedLineSeries::new(
                trend_points,
                12,
                8,
                TREND_COLOUR.stroke_width(3),
            ))
            .map_err(&error)?
            .label("least-squares quadratic trend of the last step")
            .legend(|(x, y)| {
                DashedPathElement::new([(x, y), (x + 24, y)], 8, 4, TREND_COLOUR.stroke_width(3))
            });
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(&error)?;
    root.present().map_err(&error)
}
