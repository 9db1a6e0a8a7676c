//! Integration tests of the report crate: tables, Markdown, golden comparison and figures.

mod common;
mod csv;
mod figures;
mod golden;
mod markdown;
