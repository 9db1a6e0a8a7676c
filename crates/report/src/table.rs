//! The long-format D-loss table: one CSV row per cell, written and read through polars.
//!
//! Floats must survive a write and a read bit for bit, because the CI gate compares golden
//! tables exactly. Polars writes `f64` columns with the shortest representation that parses
//! back to the same value; reading takes every column as text and parses it with Rust's own
//! correctly rounded parser, so no step in between can round.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::{
    Column, CsvReadOptions, CsvWriter, DataFrame, NamedFrom, PolarsError, SerReader, SerWriter,
    Series,
};

use crate::cells::{sort_rows, CellRow};
use crate::error::{ReportError, Result};

/// The table's columns, in the order they are written.
pub const D_LOSS_COLUMNS: [&str; 15] = [
    "experiment",
    "model",
    "dataset",
    "class",
    "hidden_layers",
    "epochs",
    "window",
    "steps_per_epoch",
    "batch_size",
    "thesis_statistic",
    "d_loss_last_step_avg",
    "d_loss_epoch_mean_avg",
    "thesis_value",
    "scaled",
    "run_key",
];

/// Writes `rows` to `path` as CSV, sorted by cell (experiment, data set, class, hidden layers,
/// epochs), with the columns of [`D_LOSS_COLUMNS`]; absent values are empty fields.
///
/// The parent directory is created if needed, and the file is written under a temporary name
/// and renamed into place so that a reader never sees half a table.
pub fn write_d_loss_csv(path: &Path, rows: &[CellRow]) -> Result<()> {
    let mut rows = rows.to_vec();
    sort_rows(&mut rows);
    let polars_error = |source: PolarsError| ReportError::Polars {
        action: "writing CSV",
        path: path.to_owned(),
        source,
    };

    let mut frame = d_loss_frame(&rows).map_err(polars_error)?;
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes)
        .include_header(true)
        .finish(&mut frame)
        .map_err(polars_error)?;

    write_atomically(path, &bytes)?;
    tracing::debug!("wrote {} cells to {}", rows.len(), path.display());
    Ok(())
}

fn d_loss_frame(rows: &[CellRow]) -> Result<DataFrame, PolarsError> {
    let text = |name: &str, values: Vec<&str>| Column::from(Series::new(name.into(), values));
    let optional_text =
        |name: &str, values: Vec<Option<&str>>| Column::from(Series::new(name.into(), values));
    let count = |name: &str, values: Vec<u32>| Column::from(Series::new(name.into(), values));
    let real = |name: &str, values: Vec<f64>| Column::from(Series::new(name.into(), values));

    let columns = vec![
        text(
            "experiment",
            rows.iter().map(|row| row.experiment.as_str()).collect(),
        ),
        text("model", rows.iter().map(|row| row.model.as_str()).collect()),
        text(
            "dataset",
            rows.iter().map(|row| row.dataset.as_str()).collect(),
        ),
        optional_text(
            "class",
            rows.iter().map(|row| row.class.as_deref()).collect(),
        ),
        Column::from(Series::new(
            "hidden_layers".into(),
            rows.iter().map(|row| row.hidden_layers).collect::<Vec<_>>(),
        )),
        count("epochs", rows.iter().map(|row| row.epochs).collect()),
        count("window", rows.iter().map(|row| row.window).collect()),
        count(
            "steps_per_epoch",
            rows.iter().map(|row| row.steps_per_epoch).collect(),
        ),
        count(
            "batch_size",
            rows.iter().map(|row| row.batch_size).collect(),
        ),
        real(
            "thesis_statistic",
            rows.iter().map(|row| row.thesis_statistic).collect(),
        ),
        real(
            "d_loss_last_step_avg",
            rows.iter().map(|row| row.d_loss_last_step_avg).collect(),
        ),
        real(
            "d_loss_epoch_mean_avg",
            rows.iter().map(|row| row.d_loss_epoch_mean_avg).collect(),
        ),
        Column::from(Series::new(
            "thesis_value".into(),
            rows.iter().map(|row| row.thesis_value).collect::<Vec<_>>(),
        )),
        // A faithful profile's empty note is written as an empty field, not as `""`.
        optional_text(
            "scaled",
            rows.iter()
                .map(|row| Some(row.scaled.as_str()).filter(|scaled| !scaled.is_empty()))
                .collect(),
        ),
        text(
            "run_key",
            rows.iter().map(|row| row.run_key.as_str()).collect(),
        ),
    ];
    DataFrame::new(rows.len(), columns)
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_error = |action, path: &Path| {
        let path = path.to_owned();
        move |source| ReportError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(io_error("creating directory", parent))?;
    }
    let temporary = temporary_path(path);
    fs::write(&temporary, bytes).map_err(io_error("writing", &temporary))?;
    fs::rename(&temporary, path).map_err(io_error("renaming into place", path))
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Reads a table written by [`write_d_loss_csv`], in file order.
///
/// Columns are found by name; a missing column or a field that does not parse is an error that
/// names the file, line and column.
pub fn read_d_loss_csv(path: &Path) -> Result<Vec<CellRow>> {
    let bytes = fs::read(path).map_err(|source| ReportError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    let polars_error = |source| ReportError::Polars {
        action: "reading CSV",
        path: path.to_owned(),
        source,
    };
    // An inference length of zero makes polars read every column as text.
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(polars_error)?;

    let mut columns = Vec::with_capacity(D_LOSS_COLUMNS.len());
    for name in D_LOSS_COLUMNS {
        let column = frame.column(name).map_err(|_| ReportError::MissingColumn {
            path: path.to_owned(),
            column: name,
        })?;
        let values = column.str().map_err(polars_error)?;
        columns.push(
            (0..values.len())
                .map(|row_idx| values.get(row_idx))
                .map(|value| value.unwrap_or_default().to_owned())
                .collect::<Vec<_>>(),
        );
    }

    (0..frame.height())
        .map(|row_idx| {
            let field = |column_idx: usize| FieldReader {
                path,
                line: row_idx + 2,
                column: D_LOSS_COLUMNS[column_idx],
                text: &columns[column_idx][row_idx],
            };
            Ok(CellRow {
                experiment: field(0).text.to_owned(),
                model: field(1).parse("\"vanilla\" or \"dcgan\"")?,
                dataset: field(2).text.to_owned(),
                class: field(3).optional_text(),
                hidden_layers: field(4).optional_parse("an unsigned integer or nothing")?,
                epochs: field(5).parse("an unsigned integer")?,
                window: field(6).parse("an unsigned integer")?,
                steps_per_epoch: field(7).parse("an unsigned integer")?,
                batch_size: field(8).parse("an unsigned integer")?,
                thesis_statistic: field(9).parse("a floating-point number")?,
                d_loss_last_step_avg: field(10).parse("a floating-point number")?,
                d_loss_epoch_mean_avg: field(11).parse("a floating-point number")?,
                thesis_value: field(12).optional_parse("a floating-point number or nothing")?,
                scaled: field(13).text.to_owned(),
                run_key: field(14).text.to_owned(),
            })
        })
        .collect()
}

/// One field of the CSV with enough context to report a parse failure.
struct FieldReader<'a> {
    path: &'a Path,
    line: usize,
    column: &'static str,
    text: &'a str,
}

impl FieldReader<'_> {
    fn parse<T: std::str::FromStr>(&self, expected: &'static str) -> Result<T> {
        self.text.parse().map_err(|_| ReportError::BadField {
            path: self.path.to_owned(),
            line: self.line,
            column: self.column,
            expected,
            found: self.text.to_owned(),
        })
    }

    fn optional_parse<T: std::str::FromStr>(&self, expected: &'static str) -> Result<Option<T>> {
        if self.text.is_empty() {
            Ok(None)
        } else {
            self.parse(expected).map(Some)
        }
    }

    fn optional_text(&self) -> Option<String> {
        Some(self.text.to_owned()).filter(|text| !text.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Model;

    fn row(class: Option<&str>, hidden_layers: Option<u32>, epochs: u32) -> CellRow {
        CellRow {
            experiment: "thesis".to_owned(),
            model: if class.is_some() {
                Model::Dcgan
            } else {
                Model::Vanilla
            },
            dataset: "mnist".to_owned(),
            class: class.map(str::to_owned),
            hidden_layers,
            epochs,
            window: 250,
            steps_per_epoch: 468,
            batch_size: 128,
            thesis_statistic: 0.1 + 0.2,
            d_loss_last_step_avg: f64::MIN_POSITIVE / 3.0,
            d_loss_epoch_mean_avg: 1.0 / 3.0,
            thesis_value: None,
            scaled: "steps_per_epoch 20 of 468, \"quoted\"".to_owned(),
            run_key: "ab".repeat(32),
        }
    }

    #[test]
    fn header_is_in_the_documented_order() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("d_loss.csv");
        write_d_loss_csv(&path, &[row(None, Some(2), 600)]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), D_LOSS_COLUMNS.join(","));
    }

    #[test]
    fn rows_are_sorted_by_cell() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("d_loss.csv");
        let rows = [
            row(None, Some(5), 600),
            row(None, Some(2), 2000),
            row(None, Some(2), 600),
        ];
        write_d_loss_csv(&path, &rows).unwrap();
        let read: Vec<_> = read_d_loss_csv(&path)
            .unwrap()
            .iter()
            .map(|row| (row.hidden_layers, row.epochs))
            .collect();
        assert_eq!(read, [(Some(2), 600), (Some(2), 2000), (Some(5), 600)]);
        let scaled = &read_d_loss_csv(&path).unwrap()[0].scaled;
        assert_eq!(scaled, "steps_per_epoch 20 of 468, \"quoted\"");
    }

    #[test]
    fn bad_field_names_line_and_column() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("d_loss.csv");
        write_d_loss_csv(&path, &[row(None, Some(2), 600)]).unwrap();
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace(",600,", ",six hundred,");
        fs::write(&path, text).unwrap();
        let error = read_d_loss_csv(&path).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(":2: column `epochs`"), "{message}");
        assert!(message.contains("six hundred"), "{message}");
    }

    #[test]
    fn missing_column_is_named() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("d_loss.csv");
        fs::write(&path, "experiment,model\nthesis,vanilla\n").unwrap();
        let error = read_d_loss_csv(&path).unwrap_err();
        assert!(matches!(
            error,
            ReportError::MissingColumn {
                column: "dataset",
                ..
            }
        ));
    }
}
