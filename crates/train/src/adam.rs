//! Adam as Keras 2 implements it, with its state open for checkpoints.
//!
//! candle-nn's AdamW keeps its moments private, so a run resumed from a checkpoint could not
//! continue bit-identically with it. Keras's update folds the bias correction into the step
//! size and adds epsilon to the uncorrected square root ("epsilon hat"):
//! `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `w -= lr_t * m / (sqrt(v) + eps)`.
//!
//! On the CPU the update runs in place, one pass over each of m, v and w, instead of about ten
//! tensor operations that each allocate a fresh buffer the size of the parameter; it performs the
//! same f32 operations in the same order as the tensor version, so results are bit-identical
//! (a test compares the two). Other devices, and layouts the in-place kernels do not handle, take
//! the tensor path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{
    backprop::GradStore, CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var,
};

/// When set, every update takes the tensor-operation path, even on the CPU.
static TENSOR_OPS_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes every optimiser in this process update with tensor operations instead of the in-place
/// CPU kernels, so that `ganrepro bench` can time both paths in one run. Results are the same
/// either way.
pub fn set_tensor_ops_only(on: bool) {
    TENSOR_OPS_ONLY.store(on, Ordering::Relaxed);
}

/// Adam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams {
    /// Step size.
    pub learning_rate: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub epsilon: f64,
}

/// One optimiser over a fixed list of named variables.
pub struct Adam {
    params: AdamParams,
    vars: Vec<(String, Var)>,
    first_moments: Vec<Var>,
    second_moments: Vec<Var>,
    n_updates: u64,
}

impl Adam {
    /// An optimiser for `vars`, which must be the trainable variables only (batch-norm running
    /// statistics are not).
    pub fn new(vars: Vec<(String, Var)>, params: AdamParams) -> Result<Self> {
        let zeros = |var: &Var| Var::zeros(var.shape(), var.dtype(), var.device());
        let first_moments = vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_>>()?;
        let second_moments = vars.iter().map(|(_, v)| zeros(v)).collect::<Result<_>>()?;
        Ok(Self {
            params,
            vars,
            first_moments,
            second_moments,
            n_updates: 0,
        })
    }

    /// Applies one update from the gradients of the optimiser's variables in `grads`.
    /// Variables without a gradient are left untouched, as Keras does.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.n_updates += 1;
        let step_size = self.step_size();
        let tensor_ops_only = TENSOR_OPS_ONLY.load(Ordering::Relaxed);
        for (idx, (_, var)) in self.vars.iter().enumerate() {
            let Some(grad) = grads.get(var) else { continue };
            let in_place = !tensor_ops_only
                && var.device().is_cpu()
                && [var.as_tensor(), grad]
                    .iter()
                    .all(|t| t.dtype() == DType::F32 && t.is_contiguous());
            if in_place {
                self.update_in_place(idx, grad, step_size)?;
            } else {
                self.update_with_tensor_ops(idx, grad, step_size)?;
            }
        }
        Ok(())
    }

    /// Keras's bias-corrected step size for the current update count.
    fn step_size(&self) -> f64 {
        let AdamParams {
            learning_rate,
            beta1,
            beta2,
            ..
        } = self.params;
        let t = self.n_updates as f64;
        learning_rate * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t))
    }

    /// The update of variable `idx` as candle tensor operations: the reference, and the path for
    /// devices other than the CPU.
    fn update_with_tensor_ops(&self, idx: usize, grad: &Tensor, step_size: f64) -> Result<()> {
        let AdamParams {
            beta1,
            beta2,
            epsilon,
            ..
        } = self.params;
        let var = &self.vars[idx].1;
        let m = &self.first_moments[idx];
        let v = &self.second_moments[idx];
        let next_m = ((m.as_tensor() * beta1)? + (grad * (1.0 - beta1))?)?;
        let next_v = ((v.as_tensor() * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
        let delta = ((&next_m * step_size)? / (next_v.sqrt()? + epsilon)?)?;
        var.set(&var.as_tensor().sub(&delta)?)?;
        m.set(&next_m)?;
        v.set(&next_v)?;
        Ok(())
    }

    /// The same update as [`Adam::update_with_tensor_ops`], written into the buffers of m, v and
    /// the variable in one pass each.
    fn update_in_place(&self, idx: usize, grad: &Tensor, step_size: f64) -> Result<()> {
        let AdamParams {
            beta1,
            beta2,
            epsilon,
            ..
        } = self.params;
        let var = &self.vars[idx].1;
        let m = self.first_moments[idx].as_tensor();
        let v = self.second_moments[idx].as_tensor();
        m.inplace_op2(
            grad,
            &MomentUpdate {
                decay: beta1,
                squared: false,
            },
        )?;
        v.inplace_op2(
            grad,
            &MomentUpdate {
                decay: beta2,
                squared: true,
            },
        )?;
        var.as_tensor()
            .inplace_op3(m, v, &WeightUpdate { step_size, epsilon })
    }

    /// The optimiser's state, named under `prefix`, for a checkpoint.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for (idx, (name, _)) in self.vars.iter().enumerate() {
            state.insert(
                format!("{prefix}.m.{name}"),
                self.first_moments[idx].as_tensor().clone(),
            );
            state.insert(
                format!("{prefix}.v.{name}"),
                self.second_moments[idx].as_tensor().clone(),
            );
        }
        let n_updates = Tensor::new(&[self.n_updates as f64], self.vars[0].1.device())?;
        state.insert(format!("{prefix}.n_updates"), n_updates);
        Ok(state)
    }

    /// Restores the state written by [`Adam::state`].
    pub fn load_state(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: String| {
            state
                .get(&key)
                .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))
        };
        for (idx, (name, _)) in self.vars.iter().enumerate() {
            self.first_moments[idx].set(get(format!("{prefix}.m.{name}"))?)?;
            self.second_moments[idx].set(get(format!("{prefix}.v.{name}"))?)?;
        }
        let n_updates = get(format!("{prefix}.n_updates"))?.to_vec1::<f64>()?;
        self.n_updates = n_updates[0] as u64;
        Ok(())
    }
}

/// `m = m * decay + g * (1 - decay)`, or with `squared` the second moment's
/// `v = v * decay + g^2 * (1 - decay)`, in place over the moment.
///
/// Each product keeps the `+ 0.0` of candle's `affine`, through which `tensor * scalar` runs: it
/// turns a product of -0.0 into +0.0, so leaving it out would change the sign of zero moments.
struct MomentUpdate {
    decay: f64,
    squared: bool,
}

impl InplaceOp2 for MomentUpdate {
    fn name(&self) -> &'static str {
        "adam-moment"
    }

    fn cpu_fwd(
        &self,
        moment: &mut CpuStorage,
        moment_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> Result<()> {
        let moment = f32_values_mut(moment, moment_layout, self.name())?;
        let grad = f32_values(grad, grad_layout, self.name())?;
        let (decay, rate) = (self.decay as f32, (1.0 - self.decay) as f32);
        if self.squared {
            for (v, &g) in moment.iter_mut().zip(grad) {
                *v = (*v * decay + 0.0) + ((g * g) * rate + 0.0);
            }
        } else {
            for (m, &g) in moment.iter_mut().zip(grad) {
                *m = (*m * decay + 0.0) + (g * rate + 0.0);
            }
        }
        Ok(())
    }
}

/// `w = w - (m * step_size) / (sqrt(v) + epsilon)` in place over the weights, from the already
/// updated moments; the scalar products are candle's affine maps, as in [`MomentUpdate`].
struct WeightUpdate {
    step_size: f64,
    epsilon: f64,
}

impl InplaceOp3 for WeightUpdate {
    fn name(&self) -> &'static str {
        "adam-weight"
    }

    fn cpu_fwd(
        &self,
        weights: &mut CpuStorage,
        weights_layout: &Layout,
        m: &CpuStorage,
        m_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> Result<()> {
        let weights = f32_values_mut(weights, weights_layout, self.name())?;
        let m = f32_values(m, m_layout, self.name())?;
        let v = f32_values(v, v_layout, self.name())?;
        let (step_size, epsilon) = (self.step_size as f32, self.epsilon as f32);
        for ((w, &m), &v) in weights.iter_mut().zip(m).zip(v) {
            *w -= (m * step_size + 0.0) / (v.sqrt() * 1.0 + epsilon);
        }
        Ok(())
    }
}

/// The values of a contiguous f32 CPU tensor.
fn f32_values<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&values[start..end]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// The values of a contiguous f32 CPU tensor, for writing.
fn f32_values_mut<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a mut [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&mut values[start..end]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn first_update_moves_each_weight_by_the_learning_rate() {
        // With m = (1 - b1) g and v = (1 - b2) g^2, the first Keras step is lr * sign(g), up to
        // epsilon; this pins the bias-correction form.
        let var = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let params = AdamParams {
            learning_rate: 0.01,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-7,
        };
        let mut adam = Adam::new(vec![("w".into(), var.clone())], params).unwrap();
        let loss = (var.as_tensor() * &Tensor::new(&[2.0f32, -3.0, 0.5], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        let want = [0.99f32, -1.99, 2.99];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn in_place_update_is_bit_identical_to_tensor_operations() {
        // Gradients include zeros of both signs, tiny and huge values, so that the sign of zero
        // moments and the rounding of every operation are compared, over several updates.
        let device = Device::Cpu;
        let mut rng = crate::rng::stream(5, crate::rng::Stream::Init, 0, 0);
        let n = 1000;
        let weights = crate::rng::normal(&mut rng, n);
        let params = AdamParams {
            learning_rate: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-7,
        };
        let optimiser = || {
            let var = Var::new(weights.as_slice(), &device).unwrap();
            Adam::new(vec![("w".into(), var)], params).unwrap()
        };
        let (mut reference, mut in_place) = (optimiser(), optimiser());
        for update in 0..5 {
            let mut grad = crate::rng::normal(&mut rng, n);
            grad[..4].copy_from_slice(&[0.0, -0.0, 1e-30, -3e20]);
            if update == 2 {
                grad.iter_mut().step_by(3).for_each(|g| *g = -0.0);
            }
            let grad = Tensor::from_vec(grad, n, &device).unwrap();
            for adam in [&mut reference, &mut in_place] {
                adam.n_updates += 1;
            }
            let step_size = reference.step_size();
            reference
                .update_with_tensor_ops(0, &grad, step_size)
                .unwrap();
            in_place.update_in_place(0, &grad, step_size).unwrap();
            let bits = |adam: &Adam| -> Vec<Vec<u32>> {
                [
                    &adam.vars[0].1,
                    &adam.first_moments[0],
                    &adam.second_moments[0],
                ]
                .iter()
                .map(|t| {
                    t.to_vec1::<f32>()
                        .unwrap()
                        .iter()
                        .map(|x| x.to_bits())
                        .collect()
                })
                .collect()
            };
            assert_eq!(bits(&reference), bits(&in_place), "update {update}");
        }
    }
}
