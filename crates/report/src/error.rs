//! The error type of the report crate: every variant names the file and the fact that went wrong.

use std::path::PathBuf;

/// Everything that can go wrong while writing or reading tables, figures and tolerances.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be created, read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done, for example "creating".
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Polars failed to build, write or read a table.
    #[error("{action} table {path}")]
    Polars {
        /// What was being done, for example "writing CSV".
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// Polars's error.
        #[source]
        source: polars::error::PolarsError,
    },
    /// A CSV table lacks a column this crate writes.
    #[error("{path}: column `{column}` is missing")]
    MissingColumn {
        /// The CSV file.
        path: PathBuf,
        /// The missing column's name.
        column: &'static str,
    },
    /// A CSV field could not be parsed.
    #[error("{path}:{line}: column `{column}`: expected {expected}, found {found:?}")]
    BadField {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line of the file (the header is line 1).
        line: usize,
        /// The column's name.
        column: &'static str,
        /// What the column holds, for example "a floating-point number".
        expected: &'static str,
        /// The text found in the field.
        found: String,
    },
    /// Plotters failed to draw or encode a figure.
    #[error("drawing figure {path}: {message}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// Plotters's error, as text (its error type is generic over the backend).
        message: String,
    },
    /// The embedded font could not be registered with plotters.
    #[error("the embedded DejaVu Sans font could not be registered with plotters")]
    Font,
    /// A figure was asked for with inputs it cannot draw.
    #[error("figure {path}: {problem}")]
    FigureInput {
        /// The PNG that was asked for.
        path: PathBuf,
        /// What is wrong with the input, in words.
        problem: String,
    },
    /// A tolerance file is not valid YAML of the expected shape.
    #[error("{path}:{line}:{column}: {message}")]
    ToleranceSyntax {
        /// The YAML file.
        path: PathBuf,
        /// 1-based line of the problem (0 when the parser gave none).
        line: u64,
        /// 1-based column of the problem (0 when the parser gave none).
        column: u64,
        /// The parser's message.
        message: String,
    },
    /// A tolerance file parsed but holds values that make no sense; every problem is listed.
    #[error("{path}: invalid tolerances: {}", problems.join("; "))]
    ToleranceValues {
        /// The YAML file.
        path: PathBuf,
        /// One entry per problem, each naming its column.
        problems: Vec<String>,
    },
}

/// Short name for results of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
