//! Comparison of a produced D-loss table against a committed golden table, cell by cell, with
//! per-column tolerances read from YAML; CI fails on any [`Difference`].

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::cells::{CellKey, CellRow};
use crate::error::{ReportError, Result};

/// Numeric columns that may carry a tolerance; every other column is compared exactly.
pub const TOLERANT_COLUMNS: [&str; 4] = [
    "thesis_statistic",
    "d_loss_last_step_avg",
    "d_loss_epoch_mean_avg",
    "thesis_value",
];

/// How far one numeric column may move before the comparison reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Largest accepted absolute difference; 0 means the values must be bit for bit equal.
    pub absolute: f64,
    /// Why this column may move, for example "cuDNN convolutions are not deterministic".
    pub reason: String,
}

/// Tolerances per column name; a column without an entry must match bit for bit.
///
/// The YAML file maps column names to `{ absolute, reason }`:
///
/// ```yaml
/// d_loss_epoch_mean_avg:
///   absolute: 1.0e-12
///   reason: summation order of the epoch mean differs between thread counts
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tolerances {
    /// Column name to tolerance; only names from [`TOLERANT_COLUMNS`] occur.
    pub columns: BTreeMap<String, Tolerance>,
}

/// The file's shape: one optional entry per tolerant column, so that serde rejects any other
/// key with its line and column.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToleranceFile {
    thesis_statistic: Option<Tolerance>,
    d_loss_last_step_avg: Option<Tolerance>,
    d_loss_epoch_mean_avg: Option<Tolerance>,
    thesis_value: Option<Tolerance>,
}

impl Tolerances {
    /// The accepted absolute difference for `column`: 0 (bit-exact) unless the file says more.
    pub fn absolute(&self, column: &str) -> f64 {
        self.columns
            .get(column)
            .map_or(0.0, |tolerance| tolerance.absolute)
    }
}

/// Reads tolerances from a YAML file.
///
/// Syntax errors and unknown keys are reported with line and column; values that parse but make
/// no sense (a negative or non-finite tolerance, an empty reason) are all reported together.
/// An empty file means every column is bit-exact.
pub fn load_tolerances(path: &Path) -> Result<Tolerances> {
    let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        tracing::debug!("{}: no tolerances, every column bit-exact", path.display());
        return Ok(Tolerances::default());
    }
    let file: ToleranceFile = serde_saphyr::from_str(&text).map_err(|error| {
        let location = error.location();
        let line = location.map_or(0, |location| location.line());
        let column = location.map_or(0, |location| location.column());
        // The path, line and column lead the message, so the parser's own copy is dropped.
        let message = error.without_snippet().to_string();
        let suffix = format!(" at line {line}, column {column}");
        ReportError::ToleranceSyntax {
            path: path.to_owned(),
            line,
            column,
            message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
        }
    })?;

    let entries = [
        ("thesis_statistic", file.thesis_statistic),
        ("d_loss_last_step_avg", file.d_loss_last_step_avg),
        ("d_loss_epoch_mean_avg", file.d_loss_epoch_mean_avg),
        ("thesis_value", file.thesis_value),
    ];
    let mut problems = Vec::new();
    let mut columns = BTreeMap::new();
    for (column, tolerance) in entries {
        let Some(tolerance) = tolerance else { continue };
        if !(tolerance.absolute.is_finite() && tolerance.absolute >= 0.0) {
            problems.push(format!(
                "{column}.absolute: expected a finite number >= 0, found {}",
                tolerance.absolute
            ));
        }
        if tolerance.reason.trim().is_empty() {
            problems.push(format!("{column}.reason: expected a reason, found nothing"));
        }
        columns.insert(column.to_owned(), tolerance);
    }
    if problems.is_empty() {
        Ok(Tolerances { columns })
    } else {
        Err(ReportError::ToleranceValues {
            path: path.to_owned(),
            problems,
        })
    }
}

/// One way in which a produced table differs from the golden one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The cell, as "experiment/dataset[/class][/N hidden]/E epochs".
    pub cell: String,
    /// The column that differs, or "row" when a whole row is missing or extra.
    pub column: String,
    /// The golden table's value, exactly as written to CSV.
    pub golden: String,
    /// The produced table's value, exactly as written to CSV.
    pub produced: String,
    /// What the difference means and which tolerance it broke.
    pub note: String,
}

/// Compares two tables cell by cell, matching rows by (experiment, data set, class, hidden
/// layers, epochs).
///
/// Reports a missing row, an extra row, a row key that occurs twice, a changed run key or any
/// other changed text or count column, a NaN in either table, and a numeric column whose
/// difference exceeds its tolerance (or, at tolerance 0, that is not bit for bit equal).
/// Duplicate cells are listed first; the other differences follow in cell order, then column
/// order.
pub fn compare_tables(
    golden: &[CellRow],
    produced: &[CellRow],
    tolerances: &Tolerances,
) -> Vec<Difference> {
    let mut differences = Vec::new();
    let golden = index_rows(golden, "golden", &mut differences);
    let produced = index_rows(produced, "produced", &mut differences);

    let keys: BTreeSet<&CellKey> = golden.keys().chain(produced.keys()).collect();
    for key in keys {
        let cell = key.to_string();
        let (golden_row, produced_row) = match (golden.get(key), produced.get(key)) {
            (Some(golden_row), Some(produced_row)) => (golden_row, produced_row),
            (golden_row, _) => {
                let (golden_text, produced_text, note) = if golden_row.is_some() {
                    ("present", "missing", "row missing from the produced table")
                } else {
                    ("missing", "present", "row not in the golden table")
                };
                differences.push(Difference {
                    cell,
                    column: "row".to_owned(),
                    golden: golden_text.to_owned(),
                    produced: produced_text.to_owned(),
                    note: note.to_owned(),
                });
                continue;
            }
        };
        compare_row(
            &cell,
            golden_row,
            produced_row,
            tolerances,
            &mut differences,
        );
    }
    differences
}

fn index_rows<'a>(
    rows: &'a [CellRow],
    table: &str,
    differences: &mut Vec<Difference>,
) -> BTreeMap<CellKey, &'a CellRow> {
    let mut index = BTreeMap::new();
    for row in rows {
        match index.entry(row.cell_key()) {
            Entry::Vacant(vacant) => {
                vacant.insert(row);
            }
            Entry::Occupied(occupied) => differences.push(Difference {
                cell: occupied.key().to_string(),
                column: "row".to_owned(),
                golden: String::new(),
                produced: String::new(),
                note: format!("cell occurs more than once in the {table} table"),
            }),
        }
    }
    index
}

fn compare_row(
    cell: &str,
    golden: &CellRow,
    produced: &CellRow,
    tolerances: &Tolerances,
    differences: &mut Vec<Difference>,
) {
    let mut differ = |column: &str, golden: String, produced: String, note: String| {
        differences.push(Difference {
            cell: cell.to_owned(),
            column: column.to_owned(),
            golden,
            produced,
            note,
        });
    };

    let exact_columns = [
        (
            "model",
            golden.model.to_string(),
            produced.model.to_string(),
        ),
        (
            "window",
            golden.window.to_string(),
            produced.window.to_string(),
        ),
        (
            "steps_per_epoch",
            golden.steps_per_epoch.to_string(),
            produced.steps_per_epoch.to_string(),
        ),
        (
            "batch_size",
            golden.batch_size.to_string(),
            produced.batch_size.to_string(),
        ),
        ("scaled", golden.scaled.clone(), produced.scaled.clone()),
    ];
    for (column, golden_text, produced_text) in exact_columns {
        if golden_text != produced_text {
            differ(
                column,
                golden_text,
                produced_text,
                "must match exactly".to_owned(),
            );
        }
    }

    let numeric_columns = [
        (
            "thesis_statistic",
            Some(golden.thesis_statistic),
            Some(produced.thesis_statistic),
        ),
        (
            "d_loss_last_step_avg",
            Some(golden.d_loss_last_step_avg),
            Some(produced.d_loss_last_step_avg),
        ),
        (
            "d_loss_epoch_mean_avg",
            Some(golden.d_loss_epoch_mean_avg),
            Some(produced.d_loss_epoch_mean_avg),
        ),
        ("thesis_value", golden.thesis_value, produced.thesis_value),
    ];
    for (column, golden_value, produced_value) in numeric_columns {
        let text = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
        let note = match (golden_value, produced_value) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => Some("value present in only one table".to_owned()),
            (Some(golden_value), Some(produced_value)) => {
                numeric_difference(golden_value, produced_value, column, tolerances)
            }
        };
        if let Some(note) = note {
            differ(column, text(golden_value), text(produced_value), note);
        }
    }

    if golden.run_key != produced.run_key {
        differ(
            "run_key",
            golden.run_key.clone(),
            produced.run_key.clone(),
            "run key changed: the cell's configuration, data or code version changed".to_owned(),
        );
    }
}

/// Why two numbers count as different, or `None` when they agree within tolerance.
fn numeric_difference(
    golden: f64,
    produced: f64,
    column: &str,
    tolerances: &Tolerances,
) -> Option<String> {
    if golden.is_nan() || produced.is_nan() {
        return Some("NaN: the training diverged or the statistic is undefined".to_owned());
    }
    if golden.to_bits() == produced.to_bits() {
        return None;
    }
    let difference = (produced - golden).abs();
    match tolerances.columns.get(column) {
        Some(tolerance) if tolerance.absolute > 0.0 => {
            // An infinite difference (a value became infinite) is never within tolerance.
            (difference.is_nan() || difference > tolerance.absolute).then(|| {
                format!(
                    "|difference| {difference:e} exceeds tolerance {:e} ({})",
                    tolerance.absolute, tolerance.reason
                )
            })
        }
        _ => Some(format!(
            "|difference| {difference:e}; bit-exact match required"
        )),
    }
}

/// Renders differences as a text table with aligned columns, or a one-line all-clear.
pub fn render_differences(differences: &[Difference]) -> String {
    if differences.is_empty() {
        return "no differences\n".to_owned();
    }
    let header = ["cell", "column", "golden", "produced", "note"].map(str::to_owned);
    let lines: Vec<[String; 5]> = std::iter::once(header)
        .chain(differences.iter().map(|difference| {
            [
                difference.cell.clone(),
                difference.column.clone(),
                difference.golden.clone(),
                difference.produced.clone(),
                difference.note.clone(),
            ]
        }))
        .collect();
    let mut widths = [0usize; 5];
    for line in &lines {
        for (width, text) in widths.iter_mut().zip(line) {
            *width = (*width).max(text.chars().count());
        }
    }

    let mut out = String::new();
    for (line_idx, line) in lines.iter().enumerate() {
        let padded: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(text, width)| format!("{text:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
        if line_idx == 0 {
            let rules: Vec<String> = widths.iter().map(|&width| "-".repeat(width)).collect();
            out.push_str(&rules.join("  "));
            out.push('\n');
        }
    }
    out
}
