//! End-to-end tests of the `ganrepro` program on real MNIST (fetched by the project itself).

mod reproduce;
