//! Adam as Keras 2 implements it, with its state open for checkpoints.
//!
//! candle-nn's AdamW keeps its moments private, so a run resumed from a checkpoint could not
//! continue bit-identically with it. Keras's update folds the bias correction into the step
//! size and adds epsilon to the uncorrected square root ("epsilon hat"):
//! `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `w -= lr_t * m / (sqrt(v) + eps)`.

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Result, Tensor, Var};

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
        Ok(Self { params, vars, first_moments, second_moments, n_updates: 0 })
    }

    /// Applies one update from the gradients of the optimiser's variables in `grads`.
    /// Variables without a gradient are left untouched, as Keras does.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.n_updates += 1;
        let AdamParams { learning_rate, beta1, beta2, epsilon } = self.params;
        let t = self.n_updates as f64;
        let step_size = learning_rate * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
        for (idx, (_, var)) in self.vars.iter().enumerate() {
            let Some(grad) = grads.get(var) else { continue };
            let m = &self.first_moments[idx];
            let v = &self.second_moments[idx];
            let next_m = ((m.as_tensor() * beta1)? + (grad * (1.0 - beta1))?)?;
            let next_v = ((v.as_tensor() * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?;
            let delta = ((&next_m * step_size)? / (next_v.sqrt()? + epsilon)?)?;
            var.set(&var.as_tensor().sub(&delta)?)?;
            m.set(&next_m)?;
            v.set(&next_v)?;
        }
        Ok(())
    }

    /// The optimiser's state, named under `prefix`, for a checkpoint.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for (idx, (name, _)) in self.vars.iter().enumerate() {
            state.insert(format!("{prefix}.m.{name}"), self.first_moments[idx].as_tensor().clone());
            state.insert(format!("{prefix}.v.{name}"), self.second_moments[idx].as_tensor().clone());
        }
        let n_updates = Tensor::new(&[self.n_updates as f64], self.vars[0].1.device())?;
        state.insert(format!("{prefix}.n_updates"), n_updates);
        Ok(state)
    }

    /// Restores the state written by [`Adam::state`].
    pub fn load_state(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: String| {
            state.get(&key).ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn first_update_moves_each_weight_by_the_learning_rate() {
        // With m = (1 - b1) g and v = (1 - b2) g^2, the first Keras step is lr * sign(g), up to
        // epsilon; this pins the bias-correction form.
        let var = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let params = AdamParams { learning_rate: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 };
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
}
