//! Integration tests of experiment files, grids, run keys and the run store.

mod files;
mod grid;
mod store;
