//! Single-precision matrix products on the CPU: OpenBLAS when it has been loaded, otherwise the
//! pure-Rust `gemm` crate that candle itself uses.
//!
//! On a 2-core AVX-512 machine OpenBLAS 0.3.21 multiplies the training steps' matrices at
//! 110-210 GFLOP/s where `gemm` 0.19 reaches 35-80 (`results/bench/bench.csv`), and every
//! product of training (dense layers, convolutions, their gradients) goes through [`sgemm`].
//! OpenBLAS is loaded at run time ([`load_openblas`]), never linked, so the workspace builds
//! without it; `ganrepro` fetches Debian's build next to the data sets.
//!
//! The two libraries sum in different orders, and OpenBLAS picks its kernels by processor, so
//! results depend on which one runs: [`identity`] names it, and run keys include that name.
//! Neither result depends on the thread count. The `gemm` crate splits a product's output
//! between threads and never its summed dimension. OpenBLAS 0.3.21 threaded by itself does not
//! keep that promise (a vanilla run's losses differed between 1 and 2 threads after 30 epochs),
//! so it always runs single-threaded, and [`sgemm`] cuts a product into row blocks whose number
//! depends only on the product's shape, run on rayon's threads.
//!
//! This is one of the two places with `unsafe` code in the workspace (the other is the
//! library loading it needs): both libraries take raw pointers, and [`sgemm`] checks every
//! operand's extent against its slice before calling either.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `cblas_sgemm` with 32-bit integers, as Debian's `libopenblas0` exports it.
type CblasSgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

const CBLAS_ROW_MAJOR: c_int = 101;
const CBLAS_NO_TRANS: c_int = 111;
const CBLAS_TRANS: c_int = 112;

/// A loaded OpenBLAS.
struct OpenBlas {
    sgemm: CblasSgemm,
    /// Its build configuration and the kernel set it chose for this processor.
    name: String,
    /// Kept open for the life of the process.
    _libraries: Vec<libloading::os::unix::Library>,
}

static OPENBLAS: OnceLock<OpenBlas> = OnceLock::new();

/// When set, [`sgemm`] uses the `gemm` crate even with OpenBLAS loaded (for `ganrepro bench`).
static BUILTIN_ONLY: AtomicBool = AtomicBool::new(false);

/// Loads OpenBLAS from `dir` (its `libopenblas.so.0`, after any `libquadmath.so.0` and
/// `libgfortran.so.5` beside it, which it needs), or from the system's library path when `dir`
/// is `None`, single-threaded. Returns its [`identity`]. Once a library is loaded, later calls
/// return it unchanged.
pub fn load_openblas(dir: Option<&Path>) -> std::result::Result<String, String> {
    if let Some(loaded) = OPENBLAS.get() {
        return Ok(loaded.name.clone());
    }
    let open = |name: &str| {
        let path = dir.map_or_else(|| name.into(), |dir| dir.join(name));
        // SAFETY: loading runs the libraries' initialisers; these are the system's C runtime
        // libraries and OpenBLAS, whose initialisers only set up their own state.
        unsafe {
            libloading::os::unix::Library::open(
                Some(&path),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
        }
        .map_err(|err| format!("loading {}: {err}", path.display()))
    };
    choose_kernels();
    let mut libraries = Vec::new();
    if let Some(dir) = dir {
        // OpenBLAS's Fortran runtime, found by name once loaded globally.
        for runtime in ["libquadmath.so.0", "libgfortran.so.5"] {
            if dir.join(runtime).exists() {
                libraries.push(open(runtime)?);
            }
        }
    }
    let library = open("libopenblas.so.0")?;
    // SAFETY: the symbols are OpenBLAS's documented C interface with these signatures
    // (cblas.h of a 32-bit-integer build, which Debian's libopenblas0 is).
    let openblas = unsafe {
        let symbol_error = |err: libloading::Error| format!("OpenBLAS lacks a symbol: {err}");
        let sgemm = *library
            .get::<CblasSgemm>(b"cblas_sgemm\0")
            .map_err(symbol_error)?;
        let set_threads = *library
            .get::<unsafe extern "C" fn(c_int)>(b"openblas_set_num_threads\0")
            .map_err(symbol_error)?;
        let config = *library
            .get::<unsafe extern "C" fn() -> *const c_char>(b"openblas_get_config\0")
            .map_err(symbol_error)?;
        let corename = *library
            .get::<unsafe extern "C" fn() -> *const c_char>(b"openblas_get_corename\0")
            .map_err(symbol_error)?;
        let text = |f: unsafe extern "C" fn() -> *const c_char| {
            CStr::from_ptr(f()).to_string_lossy().trim().to_owned()
        };
        let name = format!("{} (kernels: {})", text(config), text(corename));
        set_threads(1);
        libraries.push(library);
        OpenBlas {
            sgemm,
            name,
            _libraries: libraries,
        }
    };
    let _ = OPENBLAS.set(openblas);
    Ok(OPENBLAS.get().expect("just set").name.clone())
}

/// Names OpenBLAS's kernel set for this processor in `OPENBLAS_CORETYPE`, unless the user set
/// it: AVX-512 (`SkylakeX`) or AVX2 with FMA (`Haswell`).
///
/// OpenBLAS 0.3.21 does not recognise every processor that has these instructions: on the
/// 2-core Xeon of this project's machines it falls back to its SSE3 kernels (`Prescott`), which
/// multiplied at 36 GFLOP/s where `SkylakeX` reached 212 (1024-cubed, same run). Naming the set
/// from the instructions present also makes the choice, and with it the results, the same on
/// every processor with those instructions.
fn choose_kernels() {
    const CORE_TYPE: &str = "OPENBLAS_CORETYPE";
    if std::env::var_os(CORE_TYPE).is_some() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let kernels = if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            Some("SkylakeX")
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            Some("Haswell")
        } else {
            None
        };
        if let Some(kernels) = kernels {
            // Read by OpenBLAS when it is loaded, which is next.
            std::env::set_var(CORE_TYPE, kernels);
        }
    }
}

/// Makes [`sgemm`] use the `gemm` crate even when OpenBLAS is loaded, so that `ganrepro bench`
/// can time both in one run.
pub fn set_builtin_only(on: bool) {
    BUILTIN_ONLY.store(on, Ordering::Relaxed);
}

/// The library that [`sgemm`] runs, for logs and run keys: OpenBLAS's configuration and
/// kernel set, or the `gemm` crate.
pub fn identity() -> String {
    match openblas() {
        Some(openblas) => openblas.name.clone(),
        None => "gemm 0.19 (pure Rust, as candle's CPU backend)".to_owned(),
    }
}

impl OpenBlas {
    /// `cblas_sgemm` on operands that [`sgemm`] has checked.
    #[allow(clippy::too_many_arguments)]
    fn sgemm(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: Operand<'_>,
        b: Operand<'_>,
        c: &mut [f32],
        c_stride: usize,
        accumulate: bool,
    ) {
        let int = |x: usize| c_int::try_from(x).expect("matrix size fits OpenBLAS's integers");
        let trans = |op: &Operand<'_>| {
            if op.transposed {
                CBLAS_TRANS
            } else {
                CBLAS_NO_TRANS
            }
        };
        // SAFETY: `sgemm` checked every operand's extent (a row block of a checked matrix stays
        // inside it); `c` is a unique borrow, so it aliases neither input.
        unsafe {
            (self.sgemm)(
                CBLAS_ROW_MAJOR,
                trans(&a),
                trans(&b),
                int(m),
                int(n),
                int(k),
                1.0,
                a.data.as_ptr(),
                int(a.stride),
                b.data.as_ptr(),
                int(b.stride),
                if accumulate { 1.0 } else { 0.0 },
                c.as_mut_ptr(),
                int(c_stride),
            )
        }
    }
}

fn openblas() -> Option<&'static OpenBlas> {
    OPENBLAS
        .get()
        .filter(|_| !BUILTIN_ONLY.load(Ordering::Relaxed))
}

/// One operand of [`sgemm`]: a row-major matrix in `data` with rows `stride` values apart,
/// used as it is or transposed.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a> {
    /// The stored matrix.
    pub data: &'a [f32],
    /// Distance between the starts of consecutive stored rows.
    pub stride: usize,
    /// Whether the product uses the stored matrix transposed.
    pub transposed: bool,
}

impl<'a> Operand<'a> {
    /// A matrix used as stored.
    pub fn plain(data: &'a [f32], stride: usize) -> Self {
        Self {
            data,
            stride,
            transposed: false,
        }
    }

    /// A matrix used transposed.
    pub fn transposed(data: &'a [f32], stride: usize) -> Self {
        Self {
            data,
            stride,
            transposed: true,
        }
    }

    /// Checks that the operand holds a `rows x cols` matrix (after any transpose).
    fn check(&self, rows: usize, cols: usize, what: &str) {
        let (stored_rows, stored_cols) = if self.transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        assert!(
            stored_cols <= self.stride
                && (stored_rows - 1) * self.stride + stored_cols <= self.data.len(),
            "sgemm: {what} of {} values with stride {} cannot hold {stored_rows} x {stored_cols}",
            self.data.len(),
            self.stride
        );
    }

    /// The matrix from its row `first` on (as the product uses it).
    fn rows_from(&self, first: usize) -> Self {
        let offset = if self.transposed {
            first
        } else {
            first * self.stride
        };
        Self {
            data: &self.data[offset..],
            ..*self
        }
    }

    /// Row and column strides of the matrix as the product uses it.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (1, self.stride as isize)
        } else {
            (self.stride as isize, 1)
        }
    }
}

/// `c = a b` (or `c += a b` with `accumulate`) for an `m x k` matrix `a`, a `k x n` matrix `b`
/// and an `m x n` row-major `c` with rows `c_stride` apart.
///
/// # Panics
/// If an operand's slice cannot hold its matrix, or a size exceeds OpenBLAS's 32-bit integers.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_stride: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                c[row * c_stride..row * c_stride + n].fill(0.0);
            }
        }
        return;
    }
    a.check(m, k, "a");
    b.check(k, n, "b");
    Operand::plain(c, c_stride).check(m, n, "c");
    match openblas() {
        Some(openblas) => {
            // Row blocks of at least MIN_ROWS rows, at most MAX_BLOCKS of them: a number that
            // depends on the shape alone, so the results do not depend on the threads.
            const MIN_ROWS: usize = 64;
            const MAX_BLOCKS: usize = 4;
            let rows_per_block = m.div_ceil((m / MIN_ROWS).clamp(1, MAX_BLOCKS));
            let c = &mut c[..(m - 1) * c_stride + n];
            c.par_chunks_mut(rows_per_block * c_stride)
                .enumerate()
                .for_each(|(block, c_block)| {
                    let first = block * rows_per_block;
                    let rows = rows_per_block.min(m - first);
                    let a_block = a.rows_from(first);
                    openblas.sgemm(rows, n, k, a_block, b, c_block, c_stride, accumulate);
                });
        }
        None => {
            let ((a_rs, a_cs), (b_rs, b_cs)) = (a.strides(), b.strides());
            let parallelism = match candle_core::utils::get_num_threads() {
                0 | 1 => gemm::Parallelism::None,
                n => gemm::Parallelism::Rayon(n),
            };
            // SAFETY: as above.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    c_stride as isize,
                    accumulate,
                    a.data.as_ptr(),
                    a_cs,
                    a_rs,
                    b.data.as_ptr(),
                    b_cs,
                    b_rs,
                    if accumulate { 1.0 } else { 0.0 },
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                )
            }
        }
    }
}

/// The product of two 2-D f32 CPU tensors through [`sgemm`], with its backward pass; other
/// devices and types use candle's `matmul`.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.device().is_cpu() && a.dtype() == candle_core::DType::F32 && a.rank() == 2 {
        a.apply_op2(b, MatMul)
    } else {
        a.matmul(b)
    }
}

/// A 2-D operand's matrix: contiguous, or a transposed view of a contiguous matrix.
fn operand<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<Operand<'a>> {
    let CpuStorage::F32(values) = storage else {
        candle_core::bail!("{op}: needs f32 tensors")
    };
    let (rows, cols) = layout.shape().dims2()?;
    let values = &values[layout.start_offset()..];
    match layout.stride() {
        [row, 1] if *row >= cols => Ok(Operand::plain(values, *row)),
        [1, col] if *col >= rows => Ok(Operand::transposed(values, *col)),
        _ => candle_core::bail!("{op}: needs a contiguous or transposed matrix"),
    }
}

struct MatMul;

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "blas-matmul"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        a_layout: &Layout,
        b: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = a_layout.shape().dims2()?;
        let (k_b, n) = b_layout.shape().dims2()?;
        if k != k_b {
            candle_core::bail!("{}: cannot multiply {m}x{k} by {k_b}x{n}", self.name());
        }
        let (a, b) = (
            operand(a, a_layout, self.name())?,
            operand(b, b_layout, self.name())?,
        );
        let mut c = vec![0.0f32; m * n];
        sgemm(m, n, k, a, b, &mut c, n, false);
        Ok((CpuStorage::F32(c), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _c: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let a_grad = if a.track_op() {
            Some(grad.apply_op2_no_bwd(&b.t()?, &MatMul)?)
        } else {
            None
        };
        let b_grad = if b.track_op() {
            Some(a.t()?.apply_op2_no_bwd(&grad, &MatMul)?)
        } else {
            None
        };
        Ok((a_grad, b_grad))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    use crate::test_support::values;

    #[test]
    fn sgemm_matches_the_definition_for_every_transpose_and_stride() {
        let (m, n, k) = (5, 4, 3);
        for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
            // Stored with one spare value per row, so strides differ from widths.
            let (a_stride, b_stride) = (if a_t { m } else { k } + 1, if b_t { k } else { n } + 1);
            let a_data = values(if a_t { k } else { m } * a_stride, 1);
            let b_data = values(if b_t { n } else { k } * b_stride, 2);
            let at = |i: usize, l: usize| {
                if a_t {
                    a_data[l * a_stride + i]
                } else {
                    a_data[i * a_stride + l]
                }
            };
            let bt = |l: usize, j: usize| {
                if b_t {
                    b_data[j * b_stride + l]
                } else {
                    b_data[l * b_stride + j]
                }
            };
            let a = Operand {
                data: &a_data,
                stride: a_stride,
                transposed: a_t,
            };
            let b = Operand {
                data: &b_data,
                stride: b_stride,
                transposed: b_t,
            };
            let mut c = vec![1.0f32; m * n];
            sgemm(m, n, k, a, b, &mut c, n, true);
            for i in 0..m {
                for j in 0..n {
                    let want = 1.0 + (0..k).map(|l| at(i, l) * bt(l, j)).sum::<f32>();
                    let got = c[i * n + j];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "a_t {a_t} b_t {b_t} ({i},{j}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn sgemm_refuses_an_operand_too_small_for_its_matrix() {
        let a = values(5, 1);
        let b = values(6, 2);
        let mut c = vec![0.0; 6];
        sgemm(
            2,
            3,
            3,
            Operand::plain(&a, 3),
            Operand::plain(&b, 3),
            &mut c,
            3,
            false,
        );
    }

    #[test]
    fn matmul_values_and_gradients_match_candles() {
        let device = Device::Cpu;
        let a = Var::from_vec(values(6 * 4, 3), (6, 4), &device).unwrap();
        let b = Var::from_vec(values(4 * 5, 4), (4, 5), &device).unwrap();
        let weights = Tensor::from_vec(values(6 * 5, 5), (6, 5), &device).unwrap();
        let run = |c: Tensor| {
            let grads = (&c * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            [
                flat(&c),
                flat(grads.get(&a).unwrap()),
                flat(grads.get(&b).unwrap()),
            ]
        };
        let ours = run(matmul(a.as_tensor(), b.as_tensor()).unwrap());
        let candles = run(a.as_tensor().matmul(b.as_tensor()).unwrap());
        for (got, want) in ours.iter().zip(&candles) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
        // A transposed view is multiplied as the matrix it shows.
        let at = a.as_tensor().t().unwrap();
        let ours = matmul(&at, &weights).unwrap().to_vec2::<f32>().unwrap();
        let candles = at.matmul(&weights).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(ours.len(), 4);
        for (g, w) in ours.iter().flatten().zip(candles.iter().flatten()) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    }
}
