//! Building blocks shared by both models: dense layers with Keras's initialisers, activations
//! and the numerically stable binary cross-entropy.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use crate::rng;

/// How a weight tensor is initialised (biases always start at zero, as in Keras).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// `N(0, std)`, the notebooks' `RandomNormal(stddev=0.02)`.
    Normal { std: f64 },
    /// Keras's default: uniform on `±sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
}

impl Init {
    /// Draws `n` weights for a layer with the given fans.
    pub fn draw(self, rng: &mut ChaCha8Rng, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        match self {
            Init::Normal { std } => {
                rng::normal(rng, n).into_iter().map(|x| x * std as f32).collect()
            }
            Init::GlorotUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                rng::uniform(rng, n, -limit, limit)
            }
        }
    }
}

/// A fully connected layer, `xs @ weight + bias`, with Keras's `[in, out]` weight layout.
pub struct Dense {
    /// Weights, shape `[n_in, n_out]`.
    pub weight: Var,
    /// Bias, shape `[n_out]`.
    pub bias: Var,
}

impl Dense {
    /// A new layer with weights drawn by `init` from `rng`.
    pub fn new(
        n_in: usize,
        n_out: usize,
        init: Init,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Self> {
        let weights = init.draw(rng, n_in * n_out, n_in, n_out);
        let weight = Var::from_tensor(&Tensor::from_vec(weights, (n_in, n_out), device)?)?;
        let bias = Var::zeros(n_out, DType::F32, device)?;
        Ok(Self { weight, bias })
    }

    /// Applies the layer; with `frozen`, no gradient flows into its parameters.
    pub fn forward(&self, xs: &Tensor, frozen: bool) -> Result<Tensor> {
        let (weight, bias) = if frozen {
            (self.weight.as_tensor().detach(), self.bias.as_tensor().detach())
        } else {
            (self.weight.as_tensor().clone(), self.bias.as_tensor().clone())
        };
        xs.matmul(&weight)?.broadcast_add(&bias)
    }

    /// The layer's variables named under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![(format!("{prefix}.weight"), self.weight.clone()), (format!("{prefix}.bias"), self.bias.clone())]
    }
}

/// LeakyReLU for slopes below one: `max(x, slope * x)`.
pub fn leaky_relu(xs: &Tensor, slope: f64) -> Result<Tensor> {
    xs.maximum(&(xs * slope)?)
}

/// Mean binary cross-entropy of `sigmoid(logits)` against `targets`, in the form that stays
/// finite for saturated logits: `max(x, 0) - x * t + ln(1 + exp(-|x|))`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_tail = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)?.add(&softplus_tail)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_textbook_form_and_stays_finite() {
        let device = Device::Cpu;
        let logits = Tensor::new(&[0.3f32, -1.2, 2.0, 200.0, -200.0], &device).unwrap();
        let targets = Tensor::new(&[0.9f32, 0.0, 1.0, 0.0, 0.9], &device).unwrap();
        let got = bce_with_logits(&logits, &targets).unwrap().to_scalar::<f32>().unwrap() as f64;
        let naive = |x: f64, t: f64| {
            let p = 1.0 / (1.0 + (-x).exp());
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        };
        // The saturated terms in closed form: x - x*t for x = 200, t = 0, and -x*t for x = -200.
        let want = (naive(0.3, 0.9) + naive(-1.2, 0.0) + naive(2.0, 1.0) + 200.0 + 180.0) / 5.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn glorot_uniform_stays_within_its_limit() {
        let mut rng = rng::stream(0, rng::Stream::Init, 0, 0);
        let weights = Init::GlorotUniform.draw(&mut rng, 10_000, 100, 50);
        let limit = (6.0f32 / 150.0).sqrt();
        assert!(weights.iter().all(|w| w.abs() <= limit));
        assert!(weights.iter().any(|w| w.abs() > 0.9 * limit));
    }
}
