//! Figures as PNG files, drawn with plotters using an embedded font so that they render the same
//! on machines without system fonts.

mod comparison;
mod losses;
mod samples;

pub use comparison::plot_comparison;
pub use losses::{plot_losses, LossSeries};
pub use samples::plot_sample_grid;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::error::{ReportError, Result};

/// DejaVu Sans, redistributed under the Bitstream Vera licence in `assets/`.
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The family name figures ask plotters for; it is plotters's name for `FontFamily::SansSerif`.
const FONT_FAMILY: &str = "sans-serif";

/// Natural logarithm of 2: the BCE loss of a discriminator that outputs 0.5 for every image.
pub(crate) const LN_2: f64 = std::f64::consts::LN_2;

/// Registers the embedded font with plotters once per process.
fn register_embedded_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
            && register_font(FONT_FAMILY, FontStyle::Bold, DEJAVU_SANS).is_ok()
    });
    if registered {
        Ok(())
    } else {
        Err(ReportError::Font)
    }
}

/// Gets a figure's path ready: the font registered and the parent directory created.
fn prepare(path: &Path) -> Result<()> {
    register_embedded_font()?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(|source| ReportError::Io {
            action: "creating directory",
            path: parent.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// Turns a plotters error, whose type depends on the backend, into this crate's error.
fn plot_error<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> ReportError + '_ {
    move |error| ReportError::Plot {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

/// The range `[low, high]` of the finite values, widened by `margin` of its span on each side,
/// or by 5 % of the value's size when all values are equal; `None` without finite values.
fn padded_range(values: impl IntoIterator<Item = f64>, margin: f64) -> Option<(f64, f64)> {
    let (low, high) = values.into_iter().filter(|value| value.is_finite()).fold(
        None,
        |range: Option<(f64, f64)>, value| match range {
            None => Some((value, value)),
            Some((low, high)) => Some((low.min(value), high.max(value))),
        },
    )?;
    let pad = if high > low {
        margin * (high - low)
    } else {
        0.05 * low.abs().max(1.0)
    };
    Some((low - pad, high + pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_registers() {
        register_embedded_font().unwrap();
    }

    #[test]
    fn padded_range_ignores_non_finite_values_and_widens_flat_data() {
        assert_eq!(padded_range([1.0, f64::NAN, 3.0], 0.5), Some((0.0, 4.0)));
        assert_eq!(padded_range([-4.0, -4.0], 0.0), Some((-4.2, -3.8)));
        assert_eq!(padded_range([f64::INFINITY], 0.1), None);
    }
}
