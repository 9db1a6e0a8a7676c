//! Fused CPU operations with their own backward passes: bias addition and batch normalisation
//! with batch statistics.
//!
//! Composed from candle's operations, both reduce over the rows of a `[rows, features]` matrix
//! in their backward pass (the gradient of every broadcast), and candle 0.11 runs such a
//! reduction element by element through a strided index: profiled on the DCGAN step after the
//! convolutions moved to OpenBLAS, those reductions took 12-17% of the time. Here each is one
//! pass over the rows with the features innermost.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::nn::contiguous_f32;

/// When set, bias addition and batch normalisation take candle's composed path, even on the CPU.
static COMPOSED_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes bias addition and batch normalisation in this process take candle's composed
/// operations instead of the fused ones, so that `ganrepro bench` can time both in one run. The
/// two agree to rounding, not bit for bit: the fused reductions sum in f64.
pub fn set_composed_only(on: bool) {
    COMPOSED_ONLY.store(on, Ordering::Relaxed);
}

/// Whether `xs` takes the fused path.
pub fn applies(xs: &Tensor) -> bool {
    xs.device().is_cpu()
        && xs.dtype() == candle_core::DType::F32
        && !COMPOSED_ONLY.load(Ordering::Relaxed)
}

/// `xs + bias` for `[..., features]` f32 CPU tensors and a `[features]` bias.
pub fn add_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op2(&bias.contiguous()?, AddBias)
}

/// Per-feature sums of the rows of `[rows, features]` values, accumulated in f64 in row order.
fn column_sums(values: &[f32], n_features: usize, f: impl Fn(usize, f32) -> f64) -> Vec<f64> {
    let mut sums = vec![0.0f64; n_features];
    for row in values.chunks_exact(n_features) {
        for (feature, (sum, &x)) in sums.iter_mut().zip(row).enumerate() {
            *sum += f(feature, x);
        }
    }
    sums
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs_values = contiguous_f32(xs, xs_layout, self.name())?;
        let bias = contiguous_f32(bias, bias_layout, self.name())?;
        if xs_layout.shape().dims().last() != Some(&bias.len()) {
            candle_core::bail!(
                "add-bias: bias of {} for values {:?}",
                bias.len(),
                xs_layout.shape()
            );
        }
        let mut ys = xs_values.to_vec();
        for row in ys.chunks_exact_mut(bias.len()) {
            for (y, b) in row.iter_mut().zip(bias) {
                *y += b;
            }
        }
        Ok((CpuStorage::F32(ys), xs_layout.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        bias: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let xs_grad = xs.track_op().then(|| grad.clone());
        let bias_grad = if bias.track_op() {
            Some(grad.contiguous()?.apply_op1_no_bwd(&ColumnSums)?)
        } else {
            None
        };
        Ok((xs_grad, bias_grad))
    }
}

/// Sums over every dimension but the last.
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "column-sums"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout, self.name())?;
        let n_features = *layout.shape().dims().last().unwrap_or(&1);
        let sums = column_sums(values, n_features, |_, x| x as f64);
        let sums = sums.into_iter().map(|s| s as f32).collect();
        Ok((CpuStorage::F32(sums), Shape::from(n_features)))
    }
}

/// A batch's per-feature mean and biased variance.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Biased variance of each feature (divided by the number of rows).
    pub variance: Vec<f32>,
}

/// The moments of the rows of `[rows, features]` f32 CPU values, in f64 and two passes (mean,
/// then squared deviations).
pub fn moments(rows: &Tensor) -> Result<Moments> {
    let stacked = rows.contiguous()?.apply_op1_no_bwd(&MomentsOp)?;
    let mut both = stacked.to_vec2::<f32>()?;
    let variance = both.pop().expect("two rows");
    let mean = both.pop().expect("two rows");
    Ok(Moments { mean, variance })
}

/// Computes `[2, features]`: the means, then the biased variances.
struct MomentsOp;

impl CustomOp1 for MomentsOp {
    fn name(&self) -> &'static str {
        "moments"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout, self.name())?;
        let (n_rows, n_features) = layout.shape().dims2()?;
        let n = n_rows as f64;
        let mean: Vec<f64> = column_sums(values, n_features, |_, x| x as f64)
            .into_iter()
            .map(|sum| sum / n)
            .collect();
        let variance = column_sums(values, n_features, |feature, x| {
            (x as f64 - mean[feature]).powi(2)
        })
        .into_iter()
        .map(|sum| sum / n);
        let both = mean
            .iter()
            .copied()
            .chain(variance)
            .map(|v| v as f32)
            .collect();
        Ok((CpuStorage::F32(both), Shape::from((2, n_features))))
    }
}

/// Normalises the rows of `[rows, features]` values with the batch's own `moments` (which
/// must be theirs: the backward pass differentiates through them), then scales by `gamma` and
/// shifts by `beta`.
pub fn batch_norm(
    rows: &Tensor,
    moments: &Moments,
    epsilon: f64,
    gamma: &Tensor,
    beta: &Tensor,
) -> Result<Tensor> {
    let inv_std = moments
        .variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    let op = BatchNormOp {
        mean: moments.mean.clone(),
        inv_std,
    };
    rows.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}

/// `(x - mean) * inv_std * gamma + beta`, per feature.
struct BatchNormOp {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl BatchNormOp {
    fn normalised(&self, feature: usize, x: f32) -> f32 {
        (x - self.mean[feature]) * self.inv_std[feature]
    }
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "batch-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xs_layout: &Layout,
        gamma: &CpuStorage,
        gamma_layout: &Layout,
        beta: &CpuStorage,
        beta_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(xs, xs_layout, self.name())?;
        let gamma = contiguous_f32(gamma, gamma_layout, self.name())?;
        let beta = contiguous_f32(beta, beta_layout, self.name())?;
        let n_features = self.mean.len();
        if xs_layout.shape().dims2()?.1 != n_features
            || gamma.len() != n_features
            || beta.len() != n_features
        {
            candle_core::bail!(
                "batch-norm: {n_features} features for {:?}",
                xs_layout.shape()
            );
        }
        let mut ys = Vec::with_capacity(xs.len());
        for row in xs.chunks_exact(n_features) {
            ys.extend(
                row.iter()
                    .enumerate()
                    .map(|(f, &x)| self.normalised(f, x) * gamma[f] + beta[f]),
            );
        }
        Ok((CpuStorage::F32(ys), xs_layout.shape().clone()))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let backward = BatchNormGrad {
            forward: BatchNormOp {
                mean: self.mean.clone(),
                inv_std: self.inv_std.clone(),
            },
        };
        // [rows + 2, features]: the input gradient, then the gamma and beta gradients.
        let all = grad.apply_op3_no_bwd(xs, gamma, &backward)?;
        let n_rows = xs.dim(0)?;
        let xs_grad = if xs.track_op() {
            Some(all.narrow(0, 0, n_rows)?)
        } else {
            None
        };
        let gamma_grad = if gamma.track_op() {
            Some(all.get(n_rows)?)
        } else {
            None
        };
        let beta_grad = if beta.track_op() {
            Some(all.get(n_rows + 1)?)
        } else {
            None
        };
        Ok((xs_grad, gamma_grad, beta_grad))
    }
}

/// The gradients of [`BatchNormOp`] through the batch statistics:
/// `d beta = sum dy`, `d gamma = sum dy x_hat`, and
/// `dx = gamma inv_std / n (n dy - d beta - x_hat d gamma)`.
struct BatchNormGrad {
    forward: BatchNormOp,
}

impl CustomOp3 for BatchNormGrad {
    fn name(&self) -> &'static str {
        "batch-norm-grad"
    }

    fn cpu_fwd(
        &self,
        grad: &CpuStorage,
        grad_layout: &Layout,
        xs: &CpuStorage,
        xs_layout: &Layout,
        gamma: &CpuStorage,
        gamma_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let grad = contiguous_f32(grad, grad_layout, self.name())?;
        let xs = contiguous_f32(xs, xs_layout, self.name())?;
        let gamma = contiguous_f32(gamma, gamma_layout, self.name())?;
        let (n_rows, n_features) = xs_layout.shape().dims2()?;
        let forward = &self.forward;
        let beta_grad = column_sums(grad, n_features, |_, g| g as f64);
        let mut gamma_grad = vec![0.0f64; n_features];
        for (grad_row, xs_row) in grad
            .chunks_exact(n_features)
            .zip(xs.chunks_exact(n_features))
        {
            for (f, (&g, &x)) in grad_row.iter().zip(xs_row).enumerate() {
                gamma_grad[f] += g as f64 * forward.normalised(f, x) as f64;
            }
        }
        let n = n_rows as f64;
        let scale: Vec<f64> = (0..n_features)
            .map(|f| gamma[f] as f64 * forward.inv_std[f] as f64 / n)
            .collect();
        let mut all = Vec::with_capacity((n_rows + 2) * n_features);
        for (grad_row, xs_row) in grad
            .chunks_exact(n_features)
            .zip(xs.chunks_exact(n_features))
        {
            all.extend(
                grad_row
                    .iter()
                    .zip(xs_row)
                    .enumerate()
                    .map(|(f, (&g, &x))| {
                        let x_hat = forward.normalised(f, x) as f64;
                        (scale[f] * (n * g as f64 - beta_grad[f] - x_hat * gamma_grad[f])) as f32
                    }),
            );
        }
        all.extend(gamma_grad.iter().map(|&g| g as f32));
        all.extend(beta_grad.iter().map(|&g| g as f32));
        Ok((CpuStorage::F32(all), Shape::from((n_rows + 2, n_features))))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Deterministic values in [-1, 3): element `i` is shifted up by `i % 3`, so that features
    /// differ in mean.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let values = crate::test_support::values(n, seed).into_iter();
        values
            .enumerate()
            .map(|(i, v)| v + (i % 3) as f32)
            .collect()
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 2e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn batch_norm_matches_candles_composition_in_value_and_gradient() {
        let device = Device::Cpu;
        let (n_rows, n_features, epsilon) = (7, 3, 1e-3);
        let xs = Var::from_vec(
            values(n_rows * n_features, 1),
            (n_rows, n_features),
            &device,
        )
        .unwrap();
        let gamma = Var::from_vec(vec![0.5f32, 1.5, -2.0], n_features, &device).unwrap();
        let beta = Var::from_vec(vec![0.1f32, -0.3, 0.7], n_features, &device).unwrap();
        let weights = Tensor::from_vec(
            values(n_rows * n_features, 2),
            (n_rows, n_features),
            &device,
        )
        .unwrap();
        let run = |ys: Tensor| {
            let grads = (&ys * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            [
                flat(&ys),
                flat(grads.get(&xs).unwrap()),
                flat(grads.get(&gamma).unwrap()),
                flat(grads.get(&beta).unwrap()),
            ]
        };
        let x = xs.as_tensor();
        let moments = moments(x).unwrap();
        let fused =
            run(batch_norm(x, &moments, epsilon, gamma.as_tensor(), beta.as_tensor()).unwrap());
        let mean = x.mean_keepdim(0).unwrap();
        let centered = x.broadcast_sub(&mean).unwrap();
        let variance = centered.sqr().unwrap().mean_keepdim(0).unwrap();
        close(&moments.mean, &flat(&mean), "mean");
        close(&moments.variance, &flat(&variance), "variance");
        let composed = centered
            .broadcast_div(&(variance + epsilon).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(gamma.as_tensor())
            .unwrap()
            .broadcast_add(beta.as_tensor())
            .unwrap();
        let composed = run(composed);
        for (part, name) in [
            "output",
            "input gradient",
            "gamma gradient",
            "beta gradient",
        ]
        .iter()
        .enumerate()
        {
            close(&fused[part], &composed[part], name);
        }
    }

    #[test]
    fn bias_addition_matches_broadcast_add_in_value_and_gradient() {
        let device = Device::Cpu;
        let xs = Var::from_vec(values(2 * 3 * 4, 3), (2, 3, 4), &device).unwrap();
        let bias = Var::from_vec(values(4, 4), 4, &device).unwrap();
        let weights = Tensor::from_vec(values(24, 5), (2, 3, 4), &device).unwrap();
        let run = |ys: Tensor| {
            let grads = (&ys * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            [
                flat(&ys),
                flat(grads.get(&xs).unwrap()),
                flat(grads.get(&bias).unwrap()),
            ]
        };
        let fused = run(add_bias(xs.as_tensor(), bias.as_tensor()).unwrap());
        let composed = run(xs.as_tensor().broadcast_add(bias.as_tensor()).unwrap());
        for part in 0..3 {
            close(&fused[part], &composed[part], "bias addition");
        }
    }
}
