//! Tables, figures and the golden-table check of the thesis reproduction, built from plain data.
//!
//! The crate knows nothing about training: callers hand it [`CellRow`]s, [`SkippedCell`]s and
//! [`LossHistory`]s. It writes the long-format D-loss table as CSV ([`write_d_loss_csv`]) and
//! as Markdown shaped like the thesis's tables ([`write_d_loss_markdown`]), draws PNG figures
//! ([`plot_losses`], [`plot_sample_grid`], [`plot_comparison`]) and compares a produced table
//! with a golden one under per-column tolerances ([`compare_tables`]).

#![warn(missing_docs)]

mod cells;
mod error;
mod figures;
mod golden;
mod markdown;
mod table;
mod trend;

pub use cells::{sort_rows, CellKey, CellRow, LossHistory, Model, SkippedCell, UnknownModel};
pub use error::{ReportError, Result};
pub use figures::{plot_comparison, plot_losses, plot_sample_grid, LossSeries};
pub use golden::{
    compare_tables, load_tolerances, render_differences, Difference, Tolerance, Tolerances,
    TOLERANT_COLUMNS,
};
pub use markdown::{render_d_loss_markdown, write_d_loss_markdown};
pub use table::{read_d_loss_csv, write_d_loss_csv, D_LOSS_COLUMNS};
pub use trend::{fit_quadratic, Quadratic};
