//! Seeded random streams owned by the project, keyed by purpose, epoch and step.
//!
//! candle's CPU generator cannot be seeded, so every random number of a run (weight
//! initialisation, noise, real-batch indices, dropout masks, noisy targets) comes from here.
//! Each draw site gets its own stream derived from `(seed, stream, epoch, step)`: a run resumed
//! from a checkpoint, or a shorter run served from a longer one, sees exactly the numbers an
//! uninterrupted run would have seen.

use candle_core::{Device, Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// What a stream of random numbers is used for; part of the stream's derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Weight initialisation of both networks.
    Init,
    /// Generator input noise.
    Noise,
    /// Indices of the real images of a batch.
    RealBatch,
    /// Dropout masks.
    Dropout,
    /// Noisy targets (the DCGAN's label noise).
    Targets,
    /// The fixed noise that sample grids are drawn from.
    Samples,
}

/// A deterministic source for one `(seed, stream, epoch, step)` coordinate.
pub fn stream(seed: u64, stream: Stream, epoch: u64, step: u64) -> ChaCha8Rng {
    // SplitMix64-style mixing keeps neighbouring coordinates far apart in seed space.
    let mut key = seed ^ 0x9E37_79B9_7F4A_7C15;
    for word in [stream as u64 + 1, epoch, step] {
        key = mix(key ^ word.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    }
    ChaCha8Rng::seed_from_u64(key)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` draws from the standard normal distribution.
pub fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// A `[n, dim]` batch of standard-normal noise vectors for the generator, drawn from the
/// `(seed, stream, epoch, step)` coordinate.
pub fn noise_batch(
    seed: u64,
    stream: Stream,
    epoch: u64,
    step: u64,
    (n, dim): (usize, usize),
    device: &Device,
) -> Result<Tensor> {
    let values = normal(&mut self::stream(seed, stream, epoch, step), n * dim);
    Tensor::from_vec(values, (n, dim), device)
}

/// `n` draws from the uniform distribution on `[low, high)`.
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, low: f32, high: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(low..high)).collect()
}

/// `n` indices drawn uniformly, with replacement, from `0..upper`.
pub fn indices(rng: &mut ChaCha8Rng, n: usize, upper: usize) -> Vec<usize> {
    (0..n).map(|_| rng.random_range(0..upper)).collect()
}

/// An inverted-dropout mask: `1 / keep` with probability `keep`, else 0.
pub fn dropout_mask(rng: &mut ChaCha8Rng, n: usize, rate: f32) -> Vec<f32> {
    let keep = 1.0 - rate;
    (0..n)
        .map(|_| {
            if rng.random::<f32>() < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_coordinate_gives_same_numbers() {
        let a = normal(&mut stream(7, Stream::Noise, 3, 11), 16);
        let b = normal(&mut stream(7, Stream::Noise, 3, 11), 16);
        assert_eq!(a, b);
    }

    #[test]
    fn neighbouring_coordinates_differ() {
        let base = normal(&mut stream(7, Stream::Noise, 3, 11), 4);
        for other in [
            stream(8, Stream::Noise, 3, 11),
            stream(7, Stream::Dropout, 3, 11),
            stream(7, Stream::Noise, 4, 11),
            stream(7, Stream::Noise, 3, 12),
            stream(7, Stream::Noise, 11, 3),
        ] {
            assert_ne!(base, normal(&mut other.clone(), 4));
        }
    }

    #[test]
    fn dropout_mask_keeps_the_expected_fraction() {
        let mask = dropout_mask(&mut stream(1, Stream::Dropout, 0, 0), 100_000, 0.3);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.7).abs() < 0.01, "kept fraction {kept}");
        assert!(mask
            .iter()
            .all(|&m| m == 0.0 || (m - 1.0 / 0.7).abs() < 1e-6));
    }
}
