//! Building blocks shared by both models: dense and convolution layers with Keras's
//! initialisers, Keras-style batch normalisation, activations and the numerically stable binary
//! cross-entropy.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{
    CpuStorage, CustomOp1, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, Var,
};
use rand_chacha::ChaCha8Rng;

use crate::{blas, cpu_conv, cpu_ops, rng};

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
            Init::Normal { std } => rng::normal(rng, n)
                .into_iter()
                .map(|x| x * std as f32)
                .collect(),
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
            (
                self.weight.as_tensor().detach(),
                self.bias.as_tensor().detach(),
            )
        } else {
            (
                self.weight.as_tensor().clone(),
                self.bias.as_tensor().clone(),
            )
        };
        add_bias(&blas::matmul(xs, &weight)?, &bias)
    }

    /// The layer's variables named under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            (format!("{prefix}.weight"), self.weight.clone()),
            (format!("{prefix}.bias"), self.bias.clone()),
        ]
    }
}

/// How a network runs in one forward pass: Keras's learning phase together with the network's
/// `trainable` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The network's own update: batch statistics, dropout, gradients into the parameters, and
    /// the batch-norm running statistics absorb the batch.
    Train,
    /// The network inside another network's update with `trainable = False` (Keras 2's training
    /// phase): batch statistics and dropout as in training, but no gradient reaches the
    /// parameters and the running statistics keep their values.
    Frozen,
    /// Keras's `predict`: running statistics, no dropout, parameters off the gradient tape.
    Inference,
}

impl Mode {
    /// Whether the parameters are cut from the gradient tape in this mode.
    pub fn detaches_parameters(self) -> bool {
        self != Mode::Train
    }
}

/// The geometry of a square-kernel convolution with symmetric zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on every side (Keras's "same" is symmetric for every layer of the thesis).
    pub padding: usize,
}

impl ConvSpec {
    /// Output side of the convolution for an input side.
    pub fn conv_output(&self, input: usize) -> usize {
        (input + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output side of the transposed convolution for an input side.
    pub fn transposed_output(&self, input: usize) -> usize {
        (input - 1) * self.stride + self.kernel - 2 * self.padding
    }

    /// For every output pixel of a convolution, then every kernel tap (row-major), the input
    /// pixel it reads, as an index into the `height * width` pixels in row-major order; taps
    /// that fall in the padding read index `height * width`, a row of zeros. A transposed
    /// convolution uses the same table the other way round: the input pixel of the convolution is
    /// the output pixel of the transposed one.
    fn tap_table(&self, height: usize, width: usize) -> Vec<u32> {
        let (out_height, out_width) = (self.conv_output(height), self.conv_output(width));
        let mut table = Vec::with_capacity(out_height * out_width * self.kernel * self.kernel);
        for out_y in 0..out_height {
            for out_x in 0..out_width {
                for tap_y in 0..self.kernel {
                    for tap_x in 0..self.kernel {
                        let y = (out_y * self.stride + tap_y).checked_sub(self.padding);
                        let x = (out_x * self.stride + tap_x).checked_sub(self.padding);
                        let pixel = match (y, x) {
                            (Some(y), Some(x)) if y < height && x < width => y * width + x,
                            _ => height * width,
                        };
                        table.push(pixel as u32);
                    }
                }
            }
        }
        table
    }

    /// Keras's fans of a convolution kernel: channels times the kernel's area. Glorot-uniform only
    /// uses their sum, so a transposed convolution, whose Keras kernel swaps the channel axes, has
    /// the same limit.
    fn fans(&self) -> (usize, usize) {
        let area = self.kernel * self.kernel;
        (self.c_in * area, self.c_out * area)
    }

    fn draw_kernel(
        &self,
        dims: (usize, usize, usize, usize),
        init: Init,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<(Var, Var)> {
        let (fan_in, fan_out) = self.fans();
        let weights = init.draw(rng, dims.0 * dims.1 * dims.2 * dims.3, fan_in, fan_out);
        let weight = Var::from_tensor(&Tensor::from_vec(weights, dims, device)?)?;
        let bias = Var::zeros(self.c_out, DType::F32, device)?;
        Ok((weight, bias))
    }
}

/// `xs + bias` over the last dimension: fused on the CPU ([`cpu_ops::add_bias`]).
fn add_bias(xs: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if cpu_ops::applies(xs) {
        cpu_ops::add_bias(xs, bias)
    } else {
        xs.broadcast_add(bias)
    }
}

/// Returns the layer's weight and bias, detached from the tape when `frozen`.
fn parameters(weight: &Var, bias: &Var, frozen: bool) -> (Tensor, Tensor) {
    if frozen {
        (weight.as_tensor().detach(), bias.as_tensor().detach())
    } else {
        (weight.as_tensor().clone(), bias.as_tensor().clone())
    }
}

/// When set, every convolution takes the gather path, even on the CPU.
static GATHERED_CONVOLUTIONS_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes every [`Conv2d`] and [`ConvTranspose2d`] in this process take the gather path instead
/// of [`cpu_conv`], so that `ganrepro bench` can time both in one run. The two agree to
/// rounding, not bit for bit: their products sum in different orders.
pub fn set_gathered_convolutions_only(on: bool) {
    GATHERED_CONVOLUTIONS_ONLY.store(on, Ordering::Relaxed);
}

/// Whether `xs` goes through [`cpu_conv`].
fn by_cpu_conv(xs: &Tensor) -> bool {
    xs.device().is_cpu()
        && xs.dtype() == DType::F32
        && !GATHERED_CONVOLUTIONS_ONLY.load(Ordering::Relaxed)
}

/// A 2-D convolution over channels-last (NHWC) images, weights in Keras's `[k, k, c_in, c_out]`
/// layout.
///
/// On the CPU it runs [`cpu_conv`]: im2col in cache-sized chunks, products through
/// [`blas::sgemm`]. On other devices it gathers every output pixel's patch (`index_select`)
/// and runs one matrix product. Neither uses candle's `conv2d`: candle 0.11 computes the input
/// gradient of `conv2d` with its CPU `conv_transpose2d`, which runs at under 1 GFLOP/s. Both
/// paths add in a fixed order and their products split work by output blocks, so the DCGAN's
/// losses come out bit-identical with 1 and 2 threads (`tests/dcgan.rs` checks this).
pub struct Conv2d {
    /// Kernel, shape `[kernel, kernel, c_in, c_out]`.
    pub weight: Var,
    /// Bias, shape `[c_out]`.
    pub bias: Var,
    spec: ConvSpec,
}

impl Conv2d {
    /// A new layer with weights drawn by `init` from `rng`.
    pub fn new(spec: ConvSpec, init: Init, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let dims = (spec.kernel, spec.kernel, spec.c_in, spec.c_out);
        let (weight, bias) = spec.draw_kernel(dims, init, rng, device)?;
        Ok(Self { weight, bias, spec })
    }

    /// Applies the layer to `[batch, height, width, c_in]` images; with `frozen`, no gradient
    /// flows into its parameters.
    pub fn forward(&self, xs: &Tensor, frozen: bool) -> Result<Tensor> {
        let ConvSpec {
            c_in,
            c_out,
            kernel,
            ..
        } = self.spec;
        let (weight, bias) = parameters(&self.weight, &self.bias, frozen);
        if by_cpu_conv(xs) {
            let ys = cpu_conv::conv2d(xs, &weight, self.spec.stride, self.spec.padding)?;
            return add_bias(&ys, &bias);
        }
        let (batch, height, width, _) = xs.dims4()?;
        let (out_height, out_width) = (self.spec.conv_output(height), self.spec.conv_output(width));

        // Pixels as rows, plus one row of zeros that padding taps read.
        let pixels = xs.reshape((batch, height * width, c_in))?;
        let zeros = Tensor::zeros((batch, 1, c_in), xs.dtype(), xs.device())?;
        let pixels = Tensor::cat(&[&pixels, &zeros], 1)?;

        // Gather each output pixel's patch, taps then channels, and contract it with the kernel.
        let table = self.spec.tap_table(height, width);
        let taps = Tensor::from_vec(table, out_height * out_width * kernel * kernel, xs.device())?;
        let patches = pixels.index_select(&taps, 1)?;
        let patches = patches.reshape((batch * out_height * out_width, kernel * kernel * c_in))?;
        let ys = patches.matmul(&weight.reshape((kernel * kernel * c_in, c_out))?)?;
        ys.broadcast_add(&bias)?
            .reshape((batch, out_height, out_width, c_out))
    }

    /// The layer's variables named under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            (format!("{prefix}.weight"), self.weight.clone()),
            (format!("{prefix}.bias"), self.bias.clone()),
        ]
    }
}

/// A 2-D transposed convolution over channels-last (NHWC) images, the adjoint of [`Conv2d`] with
/// the same geometry; weights in `[c_in, k, k, c_out]` layout. Its output is
/// `(in - 1) * stride - 2 * padding + kernel` wide, so kernel 4, stride 2 and padding 1 double
/// the size exactly, as Keras's "same" `Conv2DTranspose` does.
///
/// On the CPU it runs [`cpu_conv`]. On other devices it is one matrix product giving every
/// input pixel's contribution to each kernel tap, scattered onto the output pixels with
/// `index_add` (see [`Conv2d`] for why not candle's `conv_transpose2d`).
pub struct ConvTranspose2d {
    /// Kernel, shape `[c_in, kernel, kernel, c_out]`.
    pub weight: Var,
    /// Bias, shape `[c_out]`.
    pub bias: Var,
    spec: ConvSpec,
}

impl ConvTranspose2d {
    /// A new layer with weights drawn by `init` from `rng`.
    pub fn new(spec: ConvSpec, init: Init, rng: &mut ChaCha8Rng, device: &Device) -> Result<Self> {
        let dims = (spec.c_in, spec.kernel, spec.kernel, spec.c_out);
        let (weight, bias) = spec.draw_kernel(dims, init, rng, device)?;
        Ok(Self { weight, bias, spec })
    }

    /// Applies the layer to `[batch, height, width, c_in]` images; with `frozen`, no gradient
    /// flows into its parameters.
    pub fn forward(&self, xs: &Tensor, frozen: bool) -> Result<Tensor> {
        let ConvSpec {
            c_in,
            c_out,
            kernel,
            ..
        } = self.spec;
        let (weight, bias) = parameters(&self.weight, &self.bias, frozen);
        if by_cpu_conv(xs) {
            let ys = cpu_conv::conv_transpose2d(xs, &weight, self.spec.stride, self.spec.padding)?;
            return add_bias(&ys, &bias);
        }
        let (batch, height, width, _) = xs.dims4()?;
        let (out_height, out_width) = (
            self.spec.transposed_output(height),
            self.spec.transposed_output(width),
        );
        let n_out_pixels = out_height * out_width;

        // Each input pixel's contribution through each tap, laid out like a convolution's
        // patches over the output: [batch, input pixel, tap, c_out].
        let pixels = xs.reshape((batch * height * width, c_in))?;
        let contributions = pixels.matmul(&weight.reshape((c_in, kernel * kernel * c_out))?)?;
        let n_contributions = height * width * kernel * kernel;
        let contributions = contributions.reshape((batch, n_contributions, c_out))?;

        // The convolution that maps the output back onto the input says where each contribution
        // lands; those that land in its padding go to a spare row that is then dropped.
        let table = self.spec.tap_table(out_height, out_width);
        let targets = Tensor::from_vec(table, n_contributions, xs.device())?;
        let canvas = Tensor::zeros((batch, n_out_pixels + 1, c_out), xs.dtype(), xs.device())?;
        let ys = canvas
            .index_add(&targets, &contributions, 1)?
            .narrow(1, 0, n_out_pixels)?;
        ys.broadcast_add(&bias)?
            .reshape((batch, out_height, out_width, c_out))
    }

    /// The layer's variables named under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            (format!("{prefix}.weight"), self.weight.clone()),
            (format!("{prefix}.bias"), self.bias.clone()),
        ]
    }
}

/// Batch-normalisation hyper-parameters, with Keras's meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormParams {
    /// Weight of the old running value: `running = momentum * running + (1 - momentum) * batch`.
    pub momentum: f64,
    /// Added to the variance before its square root.
    pub epsilon: f64,
    /// Divide the running averages by `1 - momentum^t` after `t` updates, as Keras 2.2's
    /// TensorFlow backend does (`assign_moving_average(..., zero_debias=True)`): the running
    /// statistics are then a properly weighted average of the batches seen so far from the first
    /// update on, and the initial values (mean 0, variance 1) never enter them.
    pub zero_debias: bool,
}

/// Batch normalisation over the last dimension (Keras's `axis=-1`): the features of a
/// `[batch, features]` input, or the channels of an NHWC image.
///
/// Gamma and beta are trainable variables; the running mean and variance are state that no
/// optimiser sees. Training modes normalise with the batch's mean and biased variance (what
/// TensorFlow's moments give Keras). The running variance absorbs Keras 2.2's corrected batch
/// variance, `biased * n / (n - 1 - epsilon)` over the `n` values averaged per feature (Keras
/// writes "unbiased estimator" beside that line). TensorFlow's fused kernel, which Keras used for
/// 4-D inputs, had already applied Bessel's `n / (n - 1)`, a second factor we omit: it is
/// 1.0001 for a 16x32x32 batch.
pub struct BatchNorm {
    /// Scale, shape `[features]`, initially ones.
    pub gamma: Var,
    /// Offset, shape `[features]`, initially zeros.
    pub beta: Var,
    running_mean: Var,
    running_var: Var,
    n_updates: Cell<u64>,
    params: BatchNormParams,
}

impl BatchNorm {
    /// A fresh layer over `n_features` features, Keras's initial state.
    pub fn new(n_features: usize, params: BatchNormParams, device: &Device) -> Result<Self> {
        Ok(Self {
            gamma: Var::ones(n_features, DType::F32, device)?,
            beta: Var::zeros(n_features, DType::F32, device)?,
            running_mean: Var::zeros(n_features, DType::F32, device)?,
            running_var: Var::ones(n_features, DType::F32, device)?,
            n_updates: Cell::new(0),
            params,
        })
    }

    /// Normalises `xs` as `mode` says; in [`Mode::Train`] the running statistics absorb this
    /// batch's statistics before the function returns.
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Result<Tensor> {
        let n_features = self.gamma.dim(0)?;
        // Every value of a feature becomes one row entry of a [values, features] matrix.
        let rows = xs.reshape(((), n_features))?;
        let (gamma, beta) = parameters(&self.gamma, &self.beta, mode.detaches_parameters());
        let epsilon = self.params.epsilon;
        if mode != Mode::Inference && cpu_ops::applies(xs) {
            // Fused on the CPU: one pass for the moments, one for the normalisation.
            let moments = cpu_ops::moments(&rows)?;
            if mode == Mode::Train {
                let device = xs.device();
                let mean = Tensor::new(moments.mean.as_slice(), device)?;
                let variance = Tensor::new(moments.variance.as_slice(), device)?;
                self.absorb(&mean, &variance, rows.dim(0)?)?;
            }
            let ys = cpu_ops::batch_norm(&rows, &moments, epsilon, &gamma, &beta)?;
            return ys.reshape(xs.shape());
        }

        let (centered, variance) = match mode {
            Mode::Inference => {
                let mean = self.running_mean.as_tensor().detach().unsqueeze(0)?;
                let variance = self.running_var.as_tensor().detach().unsqueeze(0)?;
                (rows.broadcast_sub(&mean)?, variance)
            }
            Mode::Train | Mode::Frozen => {
                let mean = rows.mean_keepdim(0)?;
                let centered = rows.broadcast_sub(&mean)?;
                let variance = centered.sqr()?.mean_keepdim(0)?;
                if mode == Mode::Train {
                    self.absorb(&mean.squeeze(0)?, &variance.squeeze(0)?, rows.dim(0)?)?;
                }
                (centered, variance)
            }
        };
        let ys = centered
            .broadcast_div(&(variance + epsilon)?.sqrt()?)?
            .broadcast_mul(&gamma)?
            .broadcast_add(&beta)?;
        ys.reshape(xs.shape())
    }

    /// Moves the running statistics towards a batch's mean and biased variance.
    fn absorb(&self, mean: &Tensor, biased_variance: &Tensor, n_values: usize) -> Result<()> {
        let BatchNormParams {
            momentum,
            epsilon,
            zero_debias,
        } = self.params;
        let n_updates = self.n_updates.get() + 1;
        self.n_updates.set(n_updates);
        // Zero-debiasing keeps `biased / (1 - momentum^t)` with `biased` an average started at
        // zero; written in terms of the debiased value itself it is an average whose rate falls
        // from 1 at the first update towards `1 - momentum`.
        let rate = if zero_debias {
            (1.0 - momentum) / (1.0 - momentum.powf(n_updates as f64))
        } else {
            1.0 - momentum
        };
        let n = n_values as f64;
        let variance = (biased_variance.detach() * (n / (n - 1.0 - epsilon)))?;
        for (running, batch) in [
            (&self.running_mean, mean.detach()),
            (&self.running_var, variance),
        ] {
            let old = running.as_tensor().detach();
            running.set(&(&old + ((batch - &old)? * rate)?)?)?;
        }
        Ok(())
    }

    /// The trainable variables (gamma, beta) named under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        vec![
            (format!("{prefix}.gamma"), self.gamma.clone()),
            (format!("{prefix}.beta"), self.beta.clone()),
        ]
    }

    /// The running statistics and their update count, copied, named under `prefix`.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let device = self.gamma.device();
        Ok(HashMap::from([
            (
                format!("{prefix}.running_mean"),
                self.running_mean.as_tensor().detach().copy()?,
            ),
            (
                format!("{prefix}.running_var"),
                self.running_var.as_tensor().detach().copy()?,
            ),
            (
                format!("{prefix}.n_updates"),
                Tensor::new(&[self.n_updates.get() as f64], device)?,
            ),
        ]))
    }

    /// Restores the state written by [`BatchNorm::state`].
    pub fn load_state(&self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: String| {
            state
                .get(&key)
                .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))
        };
        self.running_mean
            .set(get(format!("{prefix}.running_mean"))?)?;
        self.running_var
            .set(get(format!("{prefix}.running_var"))?)?;
        self.n_updates
            .set(get(format!("{prefix}.n_updates"))?.to_vec1::<f64>()?[0] as u64);
        Ok(())
    }

    /// The running mean and variance, for inspection.
    pub fn running_statistics(&self) -> (Tensor, Tensor) {
        (
            self.running_mean.as_tensor().detach(),
            self.running_var.as_tensor().detach(),
        )
    }
}

/// Applies inverted dropout at `rate` with a mask drawn from `rng`.
pub fn dropout(xs: &Tensor, rate: f32, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let mask = rng::dropout_mask(rng, xs.elem_count(), rate);
    xs * Tensor::from_vec(mask, xs.shape(), xs.device())?
}

/// LeakyReLU for slopes below one: `max(x, slope * x)`.
///
/// On the CPU it is one custom operation with its own backward pass instead of candle's affine
/// map and maximum, whose backward pass runs about fifteen operations over the activations, each
/// into a fresh buffer. Values and gradients are bit-identical to that composition as long as
/// the input feeds nothing else that takes a gradient (true of every caller; a test compares
/// them): the fused pass repeats candle's arithmetic element by element, including the masks
/// that split the gradient at zero.
pub fn leaky_relu(xs: &Tensor, slope: f64) -> Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 && xs.is_contiguous() {
        xs.apply_op1(LeakyRelu { slope })
    } else {
        leaky_relu_composed(xs, slope)
    }
}

/// LeakyReLU from candle's own operations: the reference, and the path for other devices.
fn leaky_relu_composed(xs: &Tensor, slope: f64) -> Result<Tensor> {
    xs.maximum(&(xs * slope)?)
}

/// The fused CPU LeakyReLU of [`leaky_relu`].
struct LeakyRelu {
    slope: f64,
}

impl LeakyRelu {
    /// `slope * x` as candle's affine map computes it, `+ 0.0` included.
    fn scaled(&self, x: f32) -> f32 {
        x * self.slope as f32 + 0.0
    }
}

impl CustomOp1 for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = contiguous_f32(storage, layout, self.name())?;
        // candle's maximum: the right operand only when the left one is smaller.
        let ys = xs
            .iter()
            .map(|&x| {
                let scaled = self.scaled(x);
                if x < scaled {
                    scaled
                } else {
                    x
                }
            })
            .collect();
        Ok((CpuStorage::F32(ys), layout.shape().clone()))
    }

    fn bwd(&self, xs: &Tensor, ys: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let backward = LeakyReluGrad {
            forward: LeakyRelu { slope: self.slope },
        };
        let input_grad = grad.contiguous()?.apply_op3_no_bwd(xs, ys, &backward)?;
        Ok(Some(input_grad))
    }
}

/// The input gradient of [`LeakyRelu`], as candle's backward pass of `max(x, slope * x)`
/// computes it: each side gets the gradient where it equals the output, halved where both do
/// (`x = 0`); the scaled side's share goes back through the affine map; and the gradient store
/// adds both shares to zeros. The store's final `0 + gradient` changes nothing: the sum is
/// never -0.
struct LeakyReluGrad {
    forward: LeakyRelu,
}

impl CustomOp3 for LeakyReluGrad {
    fn name(&self) -> &'static str {
        "leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        grad: &CpuStorage,
        grad_layout: &Layout,
        xs: &CpuStorage,
        xs_layout: &Layout,
        ys: &CpuStorage,
        ys_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let grad = contiguous_f32(grad, grad_layout, self.name())?;
        let xs = contiguous_f32(xs, xs_layout, self.name())?;
        let ys = contiguous_f32(ys, ys_layout, self.name())?;
        let slope = self.forward.slope as f32;
        let mask = |equal: bool| if equal { 1.0f32 } else { 0.0 };
        let input_grad = grad
            .iter()
            .zip(xs)
            .zip(ys)
            .map(|((&g, &x), &y)| {
                let (on_x, on_scaled) = (mask(y == x), mask(y == self.forward.scaled(x)));
                let x_share = (on_x * g) / (on_scaled * 1.0 + 1.0);
                let scaled_share = (on_scaled * g) / (on_x * 1.0 + 1.0);
                (0.0 + x_share) + ((0.0 + scaled_share) * slope + 0.0)
            })
            .collect();
        Ok((CpuStorage::F32(input_grad), grad_layout.shape().clone()))
    }
}

/// The values of a contiguous f32 CPU tensor.
pub(crate) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&values[start..end]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// Mean binary cross-entropy of `sigmoid(logits)` against `targets`, in the form that stays
/// finite for saturated logits: `max(x, 0) - x * t + ln(1 + exp(-|x|))`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_tail = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)?
        .add(&softplus_tail)?
        .mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_textbook_form_and_stays_finite() {
        let device = Device::Cpu;
        let logits = Tensor::new(&[0.3f32, -1.2, 2.0, 200.0, -200.0], &device).unwrap();
        let targets = Tensor::new(&[0.9f32, 0.0, 1.0, 0.0, 0.9], &device).unwrap();
        let got = bce_with_logits(&logits, &targets)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let naive = |x: f64, t: f64| {
            let p = 1.0 / (1.0 + (-x).exp());
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        };
        // The saturated terms in closed form: x - x*t for x = 200, t = 0, and -x*t for x = -200.
        let want = (naive(0.3, 0.9) + naive(-1.2, 0.0) + naive(2.0, 1.0) + 200.0 + 180.0) / 5.0;
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    fn tensor(values: &[f32], dims: &[usize]) -> Tensor {
        Tensor::from_vec(values.to_vec(), dims, &Device::Cpu).unwrap()
    }

    fn values(xs: &Tensor) -> Vec<f32> {
        xs.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn assert_close(got: &[f32], want: &[f64], tolerance: f64) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((*g as f64 - w).abs() < tolerance, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn batch_norm_matches_hand_computed_keras_values() {
        let params = BatchNormParams {
            momentum: 0.9,
            epsilon: 1e-3,
            zero_debias: true,
        };
        let norm = BatchNorm::new(2, params, &Device::Cpu).unwrap();
        norm.gamma.set(&tensor(&[2.0, 1.0], &[2])).unwrap();
        norm.beta.set(&tensor(&[0.5, 0.0], &[2])).unwrap();
        // Feature 0 has batch mean 4 and biased variance 5, feature 1 mean 8 and variance 20.
        let xs = tensor(&[1.0, 2.0, 3.0, 6.0, 5.0, 10.0, 7.0, 14.0], &[4, 2]);
        let normalise = |x: f64, mean: f64, variance: f64, gamma: f64, beta: f64| {
            (x - mean) / (variance + 1e-3).sqrt() * gamma + beta
        };
        let train_want: Vec<f64> = [1.0, 2.0, 3.0, 6.0, 5.0, 10.0, 7.0, 14.0]
            .chunks(2)
            .flat_map(|row| {
                [
                    normalise(row[0], 4.0, 5.0, 2.0, 0.5),
                    normalise(row[1], 8.0, 20.0, 1.0, 0.0),
                ]
            })
            .collect();

        // Frozen: batch statistics, running statistics untouched.
        assert_close(
            &values(&norm.forward(&xs, Mode::Frozen).unwrap()),
            &train_want,
            1e-5,
        );
        let (mean, variance) = norm.running_statistics();
        assert_eq!(
            (values(&mean), values(&variance)),
            (vec![0.0, 0.0], vec![1.0, 1.0])
        );

        // Train: the same output; after one zero-debiased update the running mean is the batch
        // mean and the running variance Keras's corrected one, `5 * 4 / (4 - 1 - 0.001)`.
        assert_close(
            &values(&norm.forward(&xs, Mode::Train).unwrap()),
            &train_want,
            1e-5,
        );
        let corrected = |biased: f64| biased * 4.0 / 2.999;
        let (mean, variance) = norm.running_statistics();
        assert_close(&values(&mean), &[4.0, 8.0], 1e-5);
        assert_close(&values(&variance), &[corrected(5.0), corrected(20.0)], 1e-4);

        // Inference normalises with the running statistics, so its output differs from training.
        let inference_want: Vec<f64> = [1.0, 2.0, 3.0, 6.0, 5.0, 10.0, 7.0, 14.0]
            .chunks(2)
            .flat_map(|row| {
                [
                    normalise(row[0], 4.0, corrected(5.0), 2.0, 0.5),
                    normalise(row[1], 8.0, corrected(20.0), 1.0, 0.0),
                ]
            })
            .collect();
        let inference = values(&norm.forward(&xs, Mode::Inference).unwrap());
        assert_close(&inference, &inference_want, 1e-5);
        assert!((inference[0] as f64 - train_want[0]).abs() > 0.1);

        // A second batch, doubled: the zero-debiased average is `biased / (1 - 0.9^2)` with
        // `biased = 0.9 * 0.1 * first + 0.1 * second`.
        norm.forward(&(xs * 2.0).unwrap(), Mode::Train).unwrap();
        let debiased = |first: f64, second: f64| (0.9 * 0.1 * first + 0.1 * second) / (1.0 - 0.81);
        let (mean, variance) = norm.running_statistics();
        assert_close(
            &values(&mean),
            &[debiased(4.0, 8.0), debiased(8.0, 16.0)],
            1e-5,
        );
        let want = [
            debiased(corrected(5.0), corrected(20.0)),
            debiased(corrected(20.0), corrected(80.0)),
        ];
        assert_close(&values(&variance), &want, 1e-4);
    }

    #[test]
    fn batch_norm_without_debiasing_starts_from_keras_initial_state() {
        let params = BatchNormParams {
            momentum: 0.9,
            epsilon: 1e-3,
            zero_debias: false,
        };
        let norm = BatchNorm::new(2, params, &Device::Cpu).unwrap();
        let xs = tensor(&[1.0, 2.0, 3.0, 6.0, 5.0, 10.0, 7.0, 14.0], &[4, 2]);
        norm.forward(&xs, Mode::Train).unwrap();
        let (mean, variance) = norm.running_statistics();
        assert_close(&values(&mean), &[0.4, 0.8], 1e-6);
        let want = [0.9 + 0.1 * 20.0 / 2.999, 0.9 + 0.1 * 80.0 / 2.999];
        assert_close(&values(&variance), &want, 1e-5);
    }

    #[test]
    fn batch_norm_normalises_images_per_channel() {
        let params = BatchNormParams {
            momentum: 0.9,
            epsilon: 1e-3,
            zero_debias: true,
        };
        let norm = BatchNorm::new(3, params, &Device::Cpu).unwrap();
        // NHWC: channel c of pixel p of image b holds b * 10 + c + p, so channel c has mean
        // 5 + c + 1.5 over the batch's two images and four pixels.
        let pixels: Vec<f32> = (0..2 * 4 * 3)
            .map(|i| ((i / 12) * 10 + i % 3 + (i / 3) % 4) as f32)
            .collect();
        let ys = norm
            .forward(&tensor(&pixels, &[2, 2, 2, 3]), Mode::Train)
            .unwrap();
        assert_eq!(ys.dims(), [2, 2, 2, 3]);
        let (mean, _) = norm.running_statistics();
        assert_close(&values(&mean), &[6.5, 7.5, 8.5], 1e-5);
        let channel_means = ys.reshape((8, 3)).unwrap().mean_keepdim(0).unwrap();
        assert_close(&values(&channel_means), &[0.0, 0.0, 0.0], 1e-5);
    }

    #[test]
    fn gather_convolutions_match_candle_convolutions() {
        // The four geometries the DCGAN uses: "same" 5x5 and 3x3, strided 4x4, and its
        // transpose; candle's own operations (NCHW, checked against finite differences below)
        // are the reference for outputs and all three gradients.
        let device = Device::Cpu;
        let mut rng = rng::stream(3, rng::Stream::Init, 0, 0);
        let spec = |kernel, stride, padding| ConvSpec {
            c_in: 3,
            c_out: 4,
            kernel,
            stride,
            padding,
        };
        let cases = [
            (spec(5, 1, 2), 6, false),
            (spec(3, 1, 1), 6, false),
            (spec(4, 2, 1), 6, false),
            (spec(4, 2, 1), 3, true),
        ];
        for (spec, size, transposed) in cases {
            let dims = (2, size, size, spec.c_in);
            let xs = rng::normal(&mut rng, 2 * size * size * spec.c_in);
            let x = Var::from_tensor(&Tensor::from_vec(xs, dims, &device).unwrap()).unwrap();
            let nchw = x.as_tensor().permute((0, 3, 1, 2)).unwrap();
            let bias_values = tensor(&[0.1, -0.2, 0.3, 0.05], &[4]);
            let (ours, theirs, weight, bias) = if transposed {
                let layer = ConvTranspose2d::new(spec, Init::GlorotUniform, &mut rng, &device);
                let layer = layer.unwrap();
                layer.bias.set(&bias_values).unwrap();
                let kernel = layer.weight.as_tensor().permute((0, 3, 1, 2)).unwrap();
                let theirs = nchw.conv_transpose2d(&kernel, spec.padding, 0, spec.stride, 1);
                let ours = layer.forward(x.as_tensor(), false).unwrap();
                (ours, theirs.unwrap(), layer.weight, layer.bias)
            } else {
                let layer = Conv2d::new(spec, Init::GlorotUniform, &mut rng, &device).unwrap();
                layer.bias.set(&bias_values).unwrap();
                let kernel = layer.weight.as_tensor().permute((3, 2, 0, 1)).unwrap();
                let theirs = nchw.conv2d(&kernel, spec.padding, spec.stride, 1, 1);
                let ours = layer.forward(x.as_tensor(), false).unwrap();
                (ours, theirs.unwrap(), layer.weight, layer.bias)
            };
            let theirs = theirs
                .broadcast_add(&bias.as_tensor().reshape((1, 4, 1, 1)).unwrap())
                .unwrap()
                .permute((0, 2, 3, 1))
                .unwrap();
            assert_eq!(ours.dims(), theirs.dims(), "{spec:?}");
            let want: Vec<f64> = values(&theirs).into_iter().map(f64::from).collect();
            assert_close(&values(&ours), &want, 1e-5);

            let weights = rng::normal(&mut rng, ours.elem_count());
            let weights = Tensor::from_vec(weights, ours.shape(), &device).unwrap();
            let grads = |ys: &Tensor| {
                let loss = (ys * &weights).unwrap().sum_all().unwrap();
                loss.backward().unwrap()
            };
            let (our_grads, their_grads) = (grads(&ours), grads(&theirs));
            for var in [&x, &weight, &bias] {
                let want = values(their_grads.get(var).unwrap());
                let want: Vec<f64> = want.into_iter().map(f64::from).collect();
                assert_close(&values(our_grads.get(var).unwrap()), &want, 1e-4);
            }
        }
    }

    /// Compares candle's gradients of `sum(op(x, w) * r)` with central differences, in f64.
    fn check_gradients(
        x_dims: (usize, usize, usize, usize),
        w_dims: (usize, usize, usize, usize),
        op: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
    ) {
        let device = Device::Cpu;
        let mut rng = rng::stream(9, rng::Stream::Init, 0, 0);
        let mut draw = |dims: (usize, usize, usize, usize)| {
            let n = dims.0 * dims.1 * dims.2 * dims.3;
            let values: Vec<f64> = rng::normal(&mut rng, n)
                .into_iter()
                .map(f64::from)
                .collect();
            Tensor::from_vec(values, dims, &device).unwrap()
        };
        let (x, w) = (
            Var::from_tensor(&draw(x_dims)).unwrap(),
            Var::from_tensor(&draw(w_dims)).unwrap(),
        );
        let r = {
            let probe = op(x.as_tensor(), w.as_tensor()).unwrap();
            let dims = probe.dims4().unwrap();
            draw(dims)
        };
        let loss = |x: &Tensor, w: &Tensor| -> f64 {
            (op(x, w).unwrap() * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let grads = (op(x.as_tensor(), w.as_tensor()).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (var, is_input) in [(&x, true), (&w, false)] {
            let analytic = grads
                .get(var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let base = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            for idx in 0..base.len() {
                let shifted = |delta: f64| {
                    let mut values = base.clone();
                    values[idx] += delta;
                    let t = Tensor::from_vec(values, var.shape(), &device).unwrap();
                    if is_input {
                        loss(&t, w.as_tensor())
                    } else {
                        loss(x.as_tensor(), &t)
                    }
                };
                let numeric = (shifted(1e-4) - shifted(-1e-4)) / 2e-4;
                let what = if is_input { "input" } else { "kernel" };
                assert!(
                    (numeric - analytic[idx]).abs() < 1e-6,
                    "{what} {idx}: {numeric} vs {}",
                    analytic[idx]
                );
            }
        }
    }

    #[test]
    fn candle_convolution_gradients_match_finite_differences() {
        // The four geometries the DCGAN uses: "same" 5x5 and 3x3, strided 4x4, and its transpose.
        check_gradients((2, 3, 6, 6), (4, 3, 5, 5), |x, w| x.conv2d(w, 2, 1, 1, 1));
        check_gradients((2, 3, 6, 6), (4, 3, 3, 3), |x, w| x.conv2d(w, 1, 1, 1, 1));
        check_gradients((2, 3, 6, 6), (4, 3, 4, 4), |x, w| x.conv2d(w, 1, 2, 1, 1));
        check_gradients((2, 3, 3, 3), (3, 4, 4, 4), |x, w| {
            let ys = x.conv_transpose2d(w, 1, 0, 2, 1)?;
            assert_eq!(ys.dims(), [2, 4, 6, 6]);
            Ok(ys)
        });
    }

    #[test]
    fn fused_leaky_relu_is_bit_identical_to_candle_composition() {
        // Zeros of both signs, values on either side, tiny and huge ones, and upstream gradients
        // with zeros of both signs; the input feeds only the activation, as in the models.
        let device = Device::Cpu;
        let mut rng = rng::stream(11, rng::Stream::Init, 0, 0);
        let mut xs = rng::normal(&mut rng, 400);
        xs[..6].copy_from_slice(&[0.0, -0.0, 1e-40, -1e-40, 3e38, -3e38]);
        let mut upstream = rng::normal(&mut rng, 400);
        upstream[..8].copy_from_slice(&[1.0, -1.0, 0.0, -0.0, -0.0, 0.0, 2.0, -0.0]);
        let upstream = Tensor::from_vec(upstream, (20, 20), &device).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> { values(t).iter().map(|v| v.to_bits()).collect() };
        for slope in [0.2, 0.1] {
            let run = |fused: bool| {
                let x = Var::from_tensor(&Tensor::from_vec(xs.clone(), (20, 20), &device).unwrap())
                    .unwrap();
                let ys = if fused {
                    leaky_relu(x.as_tensor(), slope).unwrap()
                } else {
                    leaky_relu_composed(x.as_tensor(), slope).unwrap()
                };
                let loss = (&ys * &upstream).unwrap().sum_all().unwrap();
                let grads = loss.backward().unwrap();
                (bits(&ys), bits(grads.get(&x).unwrap()))
            };
            assert_eq!(run(true), run(false), "slope {slope}");
        }
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
