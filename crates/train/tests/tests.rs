//! Integration tests of the training crate: determinism, resume, learning.

mod vanilla;
