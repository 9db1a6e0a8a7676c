//! Convolutions and transposed convolutions on the CPU by im2col in chunks, with every product
//! through [`crate::blas::sgemm`].
//!
//! The batch is copied once into a zero-padded channels-last buffer. There, the values a
//! convolution's output pixel reads through one kernel row are adjacent (`kernel * c_in`
//! values), so a patch is `kernel` copies of contiguous runs. Patches are gathered for a chunk
//! of output pixels at a time (about 8 MiB) and multiplied at once, so the im2col matrix never
//! exists whole: 210 MB per 5x5 layer of the DCGAN generator at thesis size, written to memory
//! and read back, against a chunk that stays in the processor's cache.
//!
//! Each computation runs in the direction of a convolution `C` that gathers patches:
//! - a convolution's output is `patches(x) K`; its input gradient scatters `grad K^T` back
//!   onto the patches' pixels (col2im, adding in pixel order); its kernel gradient is
//!   `patches(x)^T grad`, summed over the chunks in order;
//! - a transposed convolution is the adjoint of the convolution `C` that maps its output back
//!   to its input, with the same kernel: its output scatters `x K^T`, its input gradient is
//!   `patches(grad) K`, and its kernel gradient is `x^T patches(grad)`.
//!
//! Nothing here depends on the thread count: chunks run in order, and the products split their
//! output between threads.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use crate::blas::{sgemm, Operand};
use crate::nn::contiguous_f32;

/// Values per chunk of gathered patches (8 MiB of f32).
const CHUNK_VALUES: usize = 1 << 21;

/// The sizes of a convolution `C` over a channels-last batch (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    /// Input side lengths.
    height: usize,
    width: usize,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    /// Values per chunk of gathered patches: [`CHUNK_VALUES`] outside tests.
    chunk_values: usize,
}

impl Geometry {
    fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output pixels over the batch: the rows of every product.
    fn n_rows(&self) -> usize {
        self.batch * self.out_height() * self.out_width()
    }

    /// Values in one patch: taps in row-major order, then channels, as Keras lays out a kernel.
    fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.c_in
    }

    fn padded_height(&self) -> usize {
        self.height + 2 * self.padding
    }

    fn padded_width(&self) -> usize {
        self.width + 2 * self.padding
    }

    fn padded_len(&self) -> usize {
        self.batch * self.padded_height() * self.padded_width() * self.c_in
    }

    fn rows_per_chunk(&self) -> usize {
        (self.chunk_values / self.patch_len()).clamp(1, self.n_rows())
    }

    /// Where the run of kernel row `tap_y` of output pixel `row` starts in the padded buffer.
    fn run_start(&self, row: usize, tap_y: usize) -> usize {
        let per_image = self.out_height() * self.out_width();
        let (image, pixel) = (row / per_image, row % per_image);
        let (y, x) = (pixel / self.out_width(), pixel % self.out_width());
        let padded_y = image * self.padded_height() + y * self.stride + tap_y;
        (padded_y * self.padded_width() + x * self.stride) * self.c_in
    }

    /// The input copied into the zero-padded buffer.
    fn pad(&self, xs: &[f32]) -> Vec<f32> {
        let mut padded = vec![0.0; self.padded_len()];
        let row_len = self.width * self.c_in;
        for (row_index, row) in xs.chunks_exact(row_len).enumerate() {
            let (image, y) = (row_index / self.height, row_index % self.height);
            let padded_y = image * self.padded_height() + y + self.padding;
            let start = (padded_y * self.padded_width() + self.padding) * self.c_in;
            padded[start..start + row_len].copy_from_slice(row);
        }
        padded
    }

    /// The inverse of [`Geometry::pad`]: the input's pixels out of a padded buffer.
    fn crop(&self, padded: &[f32]) -> Vec<f32> {
        let row_len = self.width * self.c_in;
        let mut xs = Vec::with_capacity(self.batch * self.height * row_len);
        for image in 0..self.batch {
            for y in 0..self.height {
                let padded_y = image * self.padded_height() + y + self.padding;
                let start = (padded_y * self.padded_width() + self.padding) * self.c_in;
                xs.extend_from_slice(&padded[start..start + row_len]);
            }
        }
        xs
    }

    /// The patches of output pixels `first..first + n_rows`, one per row of `patches`.
    fn gather(&self, padded: &[f32], first: usize, n_rows: usize, patches: &mut [f32]) {
        let run = self.kernel * self.c_in;
        for (row, patch) in patches
            .chunks_exact_mut(self.patch_len())
            .take(n_rows)
            .enumerate()
        {
            for (tap_y, part) in patch.chunks_exact_mut(run).enumerate() {
                let start = self.run_start(first + row, tap_y);
                part.copy_from_slice(&padded[start..start + run]);
            }
        }
    }

    /// The adjoint of [`Geometry::gather`]: adds each patch onto the pixels it was read from.
    fn scatter_add(&self, patches: &[f32], first: usize, n_rows: usize, padded: &mut [f32]) {
        let run = self.kernel * self.c_in;
        for (row, patch) in patches
            .chunks_exact(self.patch_len())
            .take(n_rows)
            .enumerate()
        {
            for (tap_y, part) in patch.chunks_exact(run).enumerate() {
                let start = self.run_start(first + row, tap_y);
                for (sum, value) in padded[start..start + run].iter_mut().zip(part) {
                    *sum += value;
                }
            }
        }
    }

    /// Chunks of output pixels: (first row, rows).
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> {
        let (n_rows, per_chunk) = (self.n_rows(), self.rows_per_chunk());
        (0..n_rows)
            .step_by(per_chunk)
            .map(move |first| (first, per_chunk.min(n_rows - first)))
    }

    /// `patches(xs) kernel`, `[n_rows, c_out]`, for a `[patch_len, c_out]` kernel.
    fn gather_product(&self, xs: &[f32], kernel: Operand<'_>) -> Vec<f32> {
        let padded = self.pad(xs);
        let (patch_len, c_out) = (self.patch_len(), self.c_out);
        let mut ys = vec![0.0; self.n_rows() * c_out];
        let mut patches = vec![0.0; self.rows_per_chunk() * patch_len];
        for (first, n_rows) in self.chunks() {
            self.gather(&padded, first, n_rows, &mut patches);
            let patches = Operand::plain(&patches, patch_len);
            let out = &mut ys[first * c_out..];
            sgemm(n_rows, c_out, patch_len, patches, kernel, out, c_out, false);
        }
        ys
    }

    /// The adjoint of [`Geometry::gather_product`]: `rows kernel_t` scattered onto the input
    /// pixels, for `[n_rows, c_out]` rows and a `[c_out, patch_len]` kernel.
    fn scatter_product(&self, rows: &[f32], kernel_t: Operand<'_>) -> Vec<f32> {
        let (patch_len, c_out) = (self.patch_len(), self.c_out);
        let mut padded = vec![0.0; self.padded_len()];
        let mut patches = vec![0.0; self.rows_per_chunk() * patch_len];
        for (first, n_rows) in self.chunks() {
            let chunk = Operand::plain(&rows[first * c_out..], c_out);
            sgemm(
                n_rows,
                patch_len,
                c_out,
                chunk,
                kernel_t,
                &mut patches,
                patch_len,
                false,
            );
            self.scatter_add(&patches, first, n_rows, &mut padded);
        }
        self.crop(&padded)
    }

    /// `patches(xs)^T rows` (`[patch_len, c_out]`), or with `transposed` its transpose
    /// `rows^T patches(xs)` (`[c_out, patch_len]`), for `[n_rows, c_out]` rows.
    fn patch_gram(&self, xs: &[f32], rows: &[f32], transposed: bool) -> Vec<f32> {
        let padded = self.pad(xs);
        let (patch_len, c_out) = (self.patch_len(), self.c_out);
        let mut gram = vec![0.0; patch_len * c_out];
        let mut patches = vec![0.0; self.rows_per_chunk() * patch_len];
        for (first, n_rows) in self.chunks() {
            self.gather(&padded, first, n_rows, &mut patches);
            let accumulate = first > 0;
            let chunk = &rows[first * c_out..];
            if transposed {
                let (a, b) = (
                    Operand::transposed(chunk, c_out),
                    Operand::plain(&patches, patch_len),
                );
                sgemm(
                    c_out, patch_len, n_rows, a, b, &mut gram, patch_len, accumulate,
                );
            } else {
                let (a, b) = (
                    Operand::transposed(&patches, patch_len),
                    Operand::plain(chunk, c_out),
                );
                sgemm(patch_len, c_out, n_rows, a, b, &mut gram, c_out, accumulate);
            }
        }
        gram
    }
}

/// Which of a layer's three computations an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Arguments: input, kernel.
    Forward,
    /// Arguments: output gradient, kernel.
    InputGrad,
    /// Arguments: input, output gradient.
    KernelGrad,
}

/// A convolution (kernel `[k, k, c_in, c_out]`) or a transposed convolution (kernel `[c_in, k,
/// k, c_out]`) over channels-last images: its layout and the gathering convolution `C`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    transposed: bool,
    geometry: Geometry,
    input_shape: Shape,
    kernel_shape: Shape,
}

impl Layer {
    fn new(
        transposed: bool,
        stride: usize,
        padding: usize,
        input: &Shape,
        kernel: &Shape,
    ) -> Result<Self> {
        let (batch, height, width, channels) = input.dims4()?;
        let (k, k_wide, layer_in, layer_out) = if transposed {
            let (c_in, k, k_wide, c_out) = kernel.dims4()?;
            (k, k_wide, c_in, c_out)
        } else {
            kernel.dims4()?
        };
        let fits = |side: usize| side + 2 * padding >= k;
        if k != k_wide || layer_in != channels || stride == 0 || !fits(height) || !fits(width) {
            candle_core::bail!(
                "convolution: images {input:?} and kernel {kernel:?} do not fit at stride \
                 {stride} and padding {padding}"
            );
        }
        let geometry = if transposed {
            // C maps the transposed convolution's output back onto its input.
            let side = |input: usize| (input - 1) * stride + k - 2 * padding;
            Geometry {
                batch,
                height: side(height),
                width: side(width),
                c_in: layer_out,
                c_out: layer_in,
                kernel: k,
                stride,
                padding,
                chunk_values: CHUNK_VALUES,
            }
        } else {
            Geometry {
                batch,
                height,
                width,
                c_in: layer_in,
                c_out: layer_out,
                kernel: k,
                stride,
                padding,
                chunk_values: CHUNK_VALUES,
            }
        };
        Ok(Self {
            transposed,
            geometry,
            input_shape: input.clone(),
            kernel_shape: kernel.clone(),
        })
    }

    fn output_shape(&self) -> Shape {
        let g = &self.geometry;
        if self.transposed {
            Shape::from((g.batch, g.height, g.width, g.c_in))
        } else {
            Shape::from((g.batch, g.out_height(), g.out_width(), g.c_out))
        }
    }

    /// Runs `pass` on its two arguments' values; returns the values and their shape.
    fn run(&self, pass: Pass, a: &[f32], b: &[f32]) -> (Vec<f32>, Shape) {
        let g = &self.geometry;
        // C's kernel is [patch_len, c_out of C]: the layer's kernel as stored for a
        // convolution, its transpose for a transposed convolution.
        match (self.transposed, pass) {
            (false, Pass::Forward) => {
                let kernel = Operand::plain(b, g.c_out);
                (g.gather_product(a, kernel), self.output_shape())
            }
            (false, Pass::InputGrad) => {
                let kernel_t = Operand::transposed(b, g.c_out);
                (g.scatter_product(a, kernel_t), self.input_shape.clone())
            }
            (false, Pass::KernelGrad) => (g.patch_gram(a, b, false), self.kernel_shape.clone()),
            (true, Pass::Forward) => {
                let kernel_t = Operand::plain(b, g.patch_len());
                (g.scatter_product(a, kernel_t), self.output_shape())
            }
            (true, Pass::InputGrad) => {
                let kernel = Operand::transposed(b, g.patch_len());
                (g.gather_product(a, kernel), self.input_shape.clone())
            }
            (true, Pass::KernelGrad) => (g.patch_gram(b, a, true), self.kernel_shape.clone()),
        }
    }
}

/// Convolves `[batch, height, width, c_in]` f32 CPU images with a `[k, k, c_in, c_out]` kernel
/// at the given stride and zero padding, without bias.
pub fn conv2d(xs: &Tensor, kernel: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    apply(false, xs, kernel, stride, padding)
}

/// The transposed convolution of `[batch, height, width, c_in]` f32 CPU images with a `[c_in, k,
/// k, c_out]` kernel: the adjoint of [`conv2d`] at the same stride and padding, with output side
/// `(side - 1) * stride + k - 2 * padding`.
pub fn conv_transpose2d(
    xs: &Tensor,
    kernel: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    apply(true, xs, kernel, stride, padding)
}

fn apply(
    transposed: bool,
    xs: &Tensor,
    kernel: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let layer = Layer::new(transposed, stride, padding, xs.shape(), kernel.shape())?;
    let op = ConvOp {
        layer,
        pass: Pass::Forward,
    };
    xs.contiguous()?.apply_op2(&kernel.contiguous()?, op)
}

/// One pass of a layer as a candle operation.
struct ConvOp {
    layer: Layer,
    pass: Pass,
}

impl CustomOp2 for ConvOp {
    fn name(&self) -> &'static str {
        match (self.layer.transposed, self.pass) {
            (false, Pass::Forward) => "conv2d",
            (false, Pass::InputGrad) => "conv2d-input-grad",
            (false, Pass::KernelGrad) => "conv2d-kernel-grad",
            (true, Pass::Forward) => "conv-transpose2d",
            (true, Pass::InputGrad) => "conv-transpose2d-input-grad",
            (true, Pass::KernelGrad) => "conv-transpose2d-kernel-grad",
        }
    }

    fn cpu_fwd(
        &self,
        first: &CpuStorage,
        first_layout: &Layout,
        second: &CpuStorage,
        second_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(first, first_layout, self.name())?;
        let b = contiguous_f32(second, second_layout, self.name())?;
        let (values, shape) = self.layer.run(self.pass, a, b);
        Ok((CpuStorage::F32(values), shape))
    }

    fn bwd(
        &self,
        xs: &Tensor,
        kernel: &Tensor,
        _ys: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let pass = |pass| ConvOp {
            layer: self.layer.clone(),
            pass,
        };
        // No gradient for an argument off the tape: real images, or a frozen network's kernel.
        let input_grad = if xs.track_op() {
            Some(grad.apply_op2_no_bwd(kernel, &pass(Pass::InputGrad))?)
        } else {
            None
        };
        let kernel_grad = if kernel.track_op() {
            Some(xs.apply_op2_no_bwd(&grad, &pass(Pass::KernelGrad))?)
        } else {
            None
        };
        Ok((input_grad, kernel_grad))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    use crate::test_support::values;

    fn tensor(dims: &[usize], seed: u64) -> Tensor {
        let n = dims.iter().product();
        Tensor::from_vec(values(n, seed), dims, &Device::Cpu).unwrap()
    }

    /// Output, input gradient and kernel gradient of `sum(layer(xs, kernel) * weights)`.
    fn run(
        layer: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
        xs: &Var,
        kernel: &Var,
    ) -> [Vec<f32>; 3] {
        let ys = layer(xs.as_tensor(), kernel.as_tensor()).unwrap();
        let weights = tensor(ys.dims(), 99);
        let grads = (&ys * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        [
            flat(&ys),
            flat(grads.get(xs).unwrap()),
            flat(grads.get(kernel).unwrap()),
        ]
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} against candle's {w}"
            );
        }
    }

    #[test]
    fn convolutions_match_candles_values_and_gradients() {
        // (batch, side, c_in, c_out, kernel, stride, padding): the thesis's "same" 3x3 and 5x5
        // layers, its 4x4 stride-2 downsampling, no padding, and an uneven stride.
        let cases = [
            (2, 6, 3, 4, 3, 1, 1),
            (3, 7, 2, 5, 5, 1, 2),
            (2, 8, 3, 2, 4, 2, 1),
            (2, 5, 3, 2, 3, 1, 0),
            (1, 7, 2, 3, 3, 2, 0),
        ];
        for (index, &(batch, side, c_in, c_out, k, stride, padding)) in cases.iter().enumerate() {
            let seed = 10 * index as u64;
            let xs = Var::from_tensor(&tensor(&[batch, side, side, c_in], seed)).unwrap();
            let kernel = Var::from_tensor(&tensor(&[k, k, c_in, c_out], seed + 1)).unwrap();
            let ours = run(|x, w| conv2d(x, w, stride, padding), &xs, &kernel);
            let candles = run(
                |x, w| {
                    let x = x.permute((0, 3, 1, 2))?;
                    let w = w.permute((3, 2, 0, 1))?;
                    x.conv2d(&w, padding, stride, 1, 1)?.permute((0, 2, 3, 1))
                },
                &xs,
                &kernel,
            );
            for (part, name) in ["output", "input gradient", "kernel gradient"]
                .iter()
                .enumerate()
            {
                assert_close(&ours[part], &candles[part], &format!("case {index} {name}"));
            }
        }
    }

    #[test]
    fn transposed_convolutions_match_candles_values_and_gradients() {
        // The generator's 4x4 stride-2 upsampling, and a 3x3 stride-1 case.
        let cases = [(2, 4, 3, 2, 4, 2, 1), (1, 5, 2, 3, 3, 1, 1)];
        for (index, &(batch, side, c_in, c_out, k, stride, padding)) in cases.iter().enumerate() {
            let seed = 10 * index as u64 + 5;
            let xs = Var::from_tensor(&tensor(&[batch, side, side, c_in], seed)).unwrap();
            let kernel = Var::from_tensor(&tensor(&[c_in, k, k, c_out], seed + 1)).unwrap();
            let ours = run(|x, w| conv_transpose2d(x, w, stride, padding), &xs, &kernel);
            let candles = run(
                |x, w| {
                    let x = x.permute((0, 3, 1, 2))?;
                    let w = w.permute((0, 3, 1, 2))?;
                    x.conv_transpose2d(&w, padding, 0, stride, 1)?
                        .permute((0, 2, 3, 1))
                },
                &xs,
                &kernel,
            );
            for (part, name) in ["output", "input gradient", "kernel gradient"]
                .iter()
                .enumerate()
            {
                assert_close(&ours[part], &candles[part], &format!("case {index} {name}"));
            }
        }
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let whole = Geometry {
            batch: 2,
            height: 6,
            width: 5,
            c_in: 3,
            c_out: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            chunk_values: CHUNK_VALUES,
        };
        // Chunks of 7 patches: 60 output pixels in 9 chunks, the last one short.
        let chunked = Geometry {
            chunk_values: 7 * whole.patch_len(),
            ..whole
        };
        assert_eq!(chunked.chunks().count(), 9);
        let xs = values(2 * 6 * 5 * 3, 1);
        let kernel = values(whole.patch_len() * 4, 2);
        let rows = values(whole.n_rows() * 4, 3);
        let kernel = Operand::plain(&kernel, 4);
        let kernel_t = Operand::transposed(kernel.data, 4);
        // Equal up to rounding: a product's kernels can depend on its number of rows.
        assert_close(
            &chunked.gather_product(&xs, kernel),
            &whole.gather_product(&xs, kernel),
            "output",
        );
        assert_close(
            &chunked.scatter_product(&rows, kernel_t),
            &whole.scatter_product(&rows, kernel_t),
            "input gradient",
        );
        assert_close(
            &chunked.patch_gram(&xs, &rows, false),
            &whole.patch_gram(&xs, &rows, false),
            "kernel gradient",
        );
    }

    #[test]
    fn mismatched_kernel_is_an_error() {
        let xs = tensor(&[1, 4, 4, 3], 1);
        let kernel = tensor(&[3, 3, 2, 4], 2);
        let error = conv2d(&xs, &kernel, 1, 1).unwrap_err().to_string();
        assert!(error.contains("do not fit"), "{error}");
    }
}
