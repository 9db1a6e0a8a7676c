//! Integration tests of the data crate: one binary that includes the topic modules beside it.

mod cifar;
mod fixtures;
mod idx;
mod image_set;
mod real_data;
mod resolve;
