//! The command-line program: plans the cells of every experiment, trains what the run store
//! lacks, and writes the tables and figures.

pub mod allocator;
pub mod bench;
pub mod cli;
pub mod data;
pub mod logging;
pub mod matmul;
pub mod outputs;
pub mod reproduce;
pub mod runner;
pub mod threads;
