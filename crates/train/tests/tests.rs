//! Integration tests of the training crate: determinism, resume, learning.

mod dcgan;
mod vanilla;
