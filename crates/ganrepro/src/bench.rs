//! `ganrepro bench`: training-step throughput of both models at thesis size, against this
//! machine's matrix-multiply rate measured in the same run.
//!
//! Benchmarks, each a row of `results/bench/bench.csv`, timed in turn step by step against the
//! in-run baselines of the optimisations they measure (each peak memory is taken over its own
//! warm-up steps, after the variants before it):
//! - `vanilla-h2-batch128`: the vanilla step with 2 hidden layers, batch 128;
//! - `vanilla-h2-batch128-gemm-crate`: the same step with every product on the `gemm` crate
//!   (candle's own) instead of OpenBLAS;
//! - `dcgan-batch16`: the DCGAN step, batch 16 (1 warm-up and 3 timed steps: it is slow on a CPU);
//! - `dcgan-batch16-gemm-crate`: the same step on the `gemm` crate;
//! - `dcgan-batch16-composed-norm-bias`: the step on OpenBLAS with bias addition and batch
//!   normalisation composed from candle's operations instead of `cpu_ops`'s fused ones;
//! - `dcgan-batch16-gathered-conv-gemm-crate`: the step as it ran before `cpu_conv`, with every
//!   convolution gathering its whole im2col matrix by `index_select`, on the `gemm` crate.
//!
//! Without OpenBLAS (see `crate::matmul`) the rows without `gemm-crate` run on it too.
//! `GANREPRO_BENCH_ONLY=vanilla` or `=dcgan` restricts the run to one model's benchmarks, and
//! `GANREPRO_BENCH_ONLY=<benchmark>` to that one benchmark (to profile it alone), to save time
//! while measuring one lever.
//!
//! Each benchmark's matmul rate is the training's own product (`blas::sgemm`, on the row's
//! library) on the step's own matrix shapes: the dense layers' products, and for the DCGAN the
//! products its convolutions run. Peak resident memory is reset before each benchmark where
//! Linux allows.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ganrepro_train::blas::{self, Operand};
use ganrepro_train::candle_core::Device;
use ganrepro_train::dcgan::{DcganSettings, DcganTrainer, IMAGE_CHANNELS, IMAGE_SIZE};
use ganrepro_train::vanilla::{VanillaSettings, VanillaTrainer};
use ganrepro_train::{Images, Trainer};

use crate::cli::BenchArgs;

/// The CSV's columns; a file with another header is not appended to.
const CSV_HEADER: &str = "label,benchmark,batch,gemm_threads,candle_threads,repetitions,\
                          steps_per_second,spread,gflop_per_step,gflops,matmul_gflops,\
                          ratio_to_matmul,peak_rss_mib";

/// One benchmark's timings.
struct Timing {
    /// Seconds per repetition, sorted.
    seconds: Vec<f64>,
}

impl Timing {
    fn measure(
        warmup: usize,
        repetitions: usize,
        mut f: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<Self> {
        for _ in 0..warmup {
            f()?;
        }
        let mut seconds = Vec::with_capacity(repetitions);
        for _ in 0..repetitions.max(1) {
            let start = Instant::now();
            f()?;
            seconds.push(start.elapsed().as_secs_f64());
        }
        Ok(Self::from_seconds(seconds))
    }

    fn from_seconds(mut seconds: Vec<f64>) -> Self {
        seconds.sort_by(f64::total_cmp);
        Self { seconds }
    }

    fn median(&self) -> f64 {
        self.seconds[self.seconds.len() / 2]
    }

    /// Relative spread: (slowest - fastest) / median.
    fn spread(&self) -> f64 {
        (self.seconds[self.seconds.len() - 1] - self.seconds[0]) / self.median()
    }
}

/// One measured benchmark, a row of the output.
struct Row {
    name: &'static str,
    batch: usize,
    flops_per_step: f64,
    timing: Timing,
    matmul_gflops: f64,
    peak_rss_mib: f64,
}

/// Synthetic bytes in the shape of a data set: throughput does not depend on the pixels.
fn synthetic(n_images: usize, channels: usize, side: usize) -> Vec<u8> {
    (0..n_images * channels * side * side)
        .map(|i| (i * 2_654_435_761 % 251) as u8)
        .collect()
}

/// Peak resident memory of this process since the last [`reset_peak_rss`], in MiB (Linux; 0
/// elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Resets the peak resident memory to the current one (Linux's `clear_refs` value 5), so each
/// benchmark reports its own peak; where that fails, peaks are cumulative.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// GFLOP/s of the training's matrix product (`blas::sgemm`, with whichever library
/// `configure` selects) over a list of `(m, k, n)` shapes, each multiplied once per pass.
fn matmul_rate(shapes: &[(usize, usize, usize)], repetitions: usize) -> anyhow::Result<f64> {
    let operands: Vec<(Vec<f32>, Vec<f32>)> = shapes
        .iter()
        .map(|&(m, k, n)| (vec![1.0; m * k], vec![1.0; k * n]))
        .collect();
    let mut outputs: Vec<Vec<f32>> = shapes.iter().map(|&(m, _, n)| vec![0.0; m * n]).collect();
    let flops: f64 = shapes
        .iter()
        .map(|&(m, k, n)| 2.0 * (m * k * n) as f64)
        .sum();
    let timing = Timing::measure(1, repetitions, || {
        for ((&(m, k, n), (a, b)), c) in shapes.iter().zip(&operands).zip(&mut outputs) {
            let (a, b) = (Operand::plain(a, k), Operand::plain(b, n));
            blas::sgemm(m, n, k, a, b, c, n, false);
        }
        Ok(())
    })?;
    Ok(flops / timing.median() / 1e9)
}

/// The forward, input-gradient and weight-gradient products of a layer whose forward product
/// is `(m, k, n)`.
fn with_backward((m, k, n): (usize, usize, usize)) -> [(usize, usize, usize); 3] {
    [(m, k, n), (m, n, k), (k, m, n)]
}

/// The matrix products of one vanilla step: forward, input-gradient and weight-gradient products
/// of every dense layer, at the batch sizes the step runs them.
fn vanilla_matmul_shapes(
    settings: &VanillaSettings,
    image_dim: usize,
) -> Vec<(usize, usize, usize)> {
    let layer_dims = |input: usize, widths: &[usize], output: usize| {
        let mut dims = vec![input];
        dims.extend_from_slice(widths);
        dims.push(output);
        dims.windows(2).map(|w| (w[0], w[1])).collect::<Vec<_>>()
    };
    let batch = settings.batch_size;
    let mut shapes = Vec::new();
    for (n_in, n_out) in layer_dims(settings.noise_dim, &settings.generator_widths, image_dim) {
        shapes.push((batch, n_in, n_out)); // fakes for the D update
        shapes.extend(with_backward((batch, n_in, n_out)));
    }
    for (n_in, n_out) in layer_dims(image_dim, &settings.discriminator_widths, 1) {
        shapes.extend(with_backward((2 * batch, n_in, n_out)));
        shapes.extend([(batch, n_in, n_out), (batch, n_out, n_in)]);
    }
    shapes
}

/// The matrix products of the DCGAN's layers, forward and backward once each, as the step runs
/// them on the CPU (`ganrepro_train::cpu_conv`): dense layers as they are, and each convolution
/// as products of im2col chunks with its kernel ([`im2col_shapes`]).
fn dcgan_matmul_shapes(settings: &DcganSettings) -> Vec<(usize, usize, usize)> {
    let batch = settings.batch_size;
    let (g, d) = (settings.generator_filters, settings.discriminator_filters);
    let (seed, full) = (IMAGE_SIZE / 2, IMAGE_SIZE);
    let pixels = |side: usize| batch * side * side;
    let mut shapes = Vec::new();
    // Generator: dense to the 16x16 seed, 5x5 convolution, 4x4 transposed convolution to
    // 32x32 (the adjoint of a 4x4 stride-2 convolution from 32x32 to 16x16 with the channels
    // swapped), two 5x5 convolutions and the 5x5 convolution to RGB.
    shapes.extend(with_backward((batch, settings.noise_dim, g * seed * seed)));
    shapes.extend(im2col_shapes(pixels(seed), 25 * g, g));
    shapes.extend(im2col_shapes(pixels(seed), 16 * g, g));
    shapes.extend(im2col_shapes(pixels(full), 25 * g, g));
    shapes.extend(im2col_shapes(pixels(full), 25 * g, g));
    shapes.extend(im2col_shapes(pixels(full), 25 * g, IMAGE_CHANNELS));
    // Discriminator: 3x3 convolution, three strided 4x4 convolutions, dense to the logit.
    shapes.extend(im2col_shapes(pixels(full), 9 * IMAGE_CHANNELS, d));
    for side in [full / 2, full / 4, full / 8] {
        shapes.extend(im2col_shapes(pixels(side), 16 * d, d));
    }
    shapes.extend(with_backward((batch, d * (full / 8) * (full / 8), 1)));
    shapes
}

/// The products of a convolution with `rows` output pixels and `patch_len`-value patches, as
/// `cpu_conv` runs them in chunks of about 2^21 patch values: per chunk, patches times kernel,
/// output gradient times kernel transposed, and patches transposed times output gradient.
fn im2col_shapes(rows: usize, patch_len: usize, c_out: usize) -> Vec<(usize, usize, usize)> {
    let chunk = ((1 << 21) / patch_len).clamp(1, rows);
    let mut shapes = Vec::new();
    for first in (0..rows).step_by(chunk) {
        let n = chunk.min(rows - first);
        shapes.extend([
            (n, patch_len, c_out),
            (n, c_out, patch_len),
            (patch_len, n, c_out),
        ]);
    }
    shapes
}

/// One way to run a step, timed against the others in the same run.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    /// Products by the `gemm` crate instead of OpenBLAS.
    gemm_crate: bool,
    /// Convolutions by `index_select` gathers instead of `cpu_conv`.
    gathered_conv: bool,
    /// Bias addition and batch normalisation composed from candle's operations instead of
    /// `cpu_ops`.
    composed_norm: bool,
}

impl Variant {
    /// Sets the process-wide switches for this variant.
    fn select(&self) {
        blas::set_builtin_only(self.gemm_crate);
        ganrepro_train::nn::set_gathered_convolutions_only(self.gathered_conv);
        ganrepro_train::cpu_ops::set_composed_only(self.composed_norm);
    }
}

/// Whether `GANREPRO_BENCH_ONLY`'s value `only` selects the benchmark `name`: everything when
/// empty, else a model's benchmarks by the model's name, else one benchmark by its own.
fn selected(only: &str, name: &str) -> bool {
    only.is_empty() || name == only || name.split('-').next() == Some(only)
}

/// Times `variants` of one step, each with its own trainer made by `make`: `warmup` steps each
/// (their peak memory is the variant's), then `repetitions` rounds of one step per variant in
/// turn, so that the machine's load hits all alike. Each variant's matmul rate is measured with
/// its own library. Every switch is reset afterwards.
fn interleaved(
    variants: &[Variant],
    warmup: usize,
    repetitions: usize,
    shapes: &[(usize, usize, usize)],
    mut make: impl FnMut() -> anyhow::Result<Box<dyn Trainer>>,
) -> anyhow::Result<Vec<(Variant, Timing, f64, f64)>> {
    let only = std::env::var("GANREPRO_BENCH_ONLY").unwrap_or_default();
    let variants: Vec<Variant> = variants
        .iter()
        .copied()
        .filter(|variant| selected(&only, variant.name))
        .collect();
    let mut trainers = Vec::new();
    let mut peaks = Vec::new();
    let mut rates = Vec::new();
    for variant in &variants {
        variant.select();
        rates.push(matmul_rate(shapes, 3)?);
        reset_peak_rss();
        let mut trainer = make()?;
        for _ in 0..warmup {
            trainer.train_epoch()?;
        }
        peaks.push(peak_rss_mib());
        trainers.push(trainer);
    }
    let mut seconds = vec![Vec::new(); variants.len()];
    for _ in 0..repetitions.max(1) {
        for (idx, variant) in variants.iter().enumerate() {
            variant.select();
            let start = Instant::now();
            trainers[idx].train_epoch()?;
            seconds[idx].push(start.elapsed().as_secs_f64());
        }
    }
    Variant {
        name: "",
        gemm_crate: false,
        gathered_conv: false,
        composed_norm: false,
    }
    .select();
    Ok(variants
        .iter()
        .zip(seconds)
        .zip(peaks.into_iter().zip(rates))
        .map(|((variant, seconds), (peak, rate))| {
            (*variant, Timing::from_seconds(seconds), rate, peak)
        })
        .collect())
}

/// Times the vanilla step with 2 hidden layers at batch 128, with OpenBLAS (when loaded) and
/// with the `gemm` crate.
fn bench_vanilla(repetitions: usize, device: &Device) -> anyhow::Result<Vec<Row>> {
    let settings = VanillaSettings::thesis(2);
    // Real batches are drawn with replacement, so the step costs the same on fewer images; few
    // keep the trainers' own memory out of the peak resident memory.
    let (n_images, side) = (2048, 28);
    let pixels = synthetic(n_images, 1, side);
    let images = Images {
        pixels: &pixels,
        n_images,
        channels: 1,
        height: side,
        width: side,
    };
    let mut probe = settings.clone();
    probe.steps_per_epoch = 1;
    let variants = [
        Variant {
            name: "vanilla-h2-batch128-gemm-crate",
            gemm_crate: true,
            gathered_conv: false,
            composed_norm: false,
        },
        Variant {
            name: "vanilla-h2-batch128",
            gemm_crate: false,
            gathered_conv: false,
            composed_norm: false,
        },
    ];
    let shapes = vanilla_matmul_shapes(&settings, 784);
    let timed = interleaved(&variants, 3, repetitions, &shapes, || {
        Ok(Box::new(VanillaTrainer::new(
            probe.clone(),
            1,
            &images,
            device,
        )?))
    })?;
    Ok(timed
        .into_iter()
        .map(|(variant, timing, matmul_gflops, peak_rss_mib)| Row {
            name: variant.name,
            batch: settings.batch_size,
            flops_per_step: settings.flops_per_step(side * side),
            timing,
            matmul_gflops,
            peak_rss_mib,
        })
        .collect())
}

/// Times the DCGAN step at thesis size, 1 warm-up and 3 timed steps per variant: the gathered
/// convolutions on the `gemm` crate (the path before `cpu_conv`), `cpu_conv` on the `gemm`
/// crate, `cpu_conv` on OpenBLAS (when loaded) with composed bias and batch norm, and the step
/// as trained.
fn bench_dcgan(device: &Device) -> anyhow::Result<Vec<Row>> {
    let settings = DcganSettings::thesis();
    let n_images = 5000;
    let pixels = synthetic(n_images, IMAGE_CHANNELS, IMAGE_SIZE);
    let images = Images {
        pixels: &pixels,
        n_images,
        channels: IMAGE_CHANNELS,
        height: IMAGE_SIZE,
        width: IMAGE_SIZE,
    };
    let mut probe = settings.clone();
    probe.steps_per_epoch = 1;
    let variants = [
        Variant {
            name: "dcgan-batch16-gathered-conv-gemm-crate",
            gemm_crate: true,
            gathered_conv: true,
            composed_norm: false,
        },
        Variant {
            name: "dcgan-batch16-gemm-crate",
            gemm_crate: true,
            gathered_conv: false,
            composed_norm: false,
        },
        Variant {
            name: "dcgan-batch16-composed-norm-bias",
            gemm_crate: false,
            gathered_conv: false,
            composed_norm: true,
        },
        Variant {
            name: "dcgan-batch16",
            gemm_crate: false,
            gathered_conv: false,
            composed_norm: false,
        },
    ];
    let shapes = dcgan_matmul_shapes(&settings);
    let timed = interleaved(&variants, 1, 3, &shapes, || {
        Ok(Box::new(DcganTrainer::new(
            probe.clone(),
            1,
            &images,
            device,
        )?))
    })?;
    Ok(timed
        .into_iter()
        .map(|(variant, timing, matmul_gflops, peak_rss_mib)| Row {
            name: variant.name,
            batch: settings.batch_size,
            flops_per_step: settings.flops_per_step(),
            timing,
            matmul_gflops,
            peak_rss_mib,
        })
        .collect())
}

/// Runs the benchmarks, prints them and appends them to `results/bench/bench.csv`.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    crate::matmul::choose(&ganrepro_data::DataOptions::from_env(&args.root))?;
    let gemm_threads = ganrepro_train::candle_core::utils::get_num_threads();
    let candle_threads = std::env::var("CANDLE_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let only = std::env::var("GANREPRO_BENCH_ONLY").unwrap_or_default();
    let mut rows = Vec::new();

    if only.is_empty() || only.starts_with("vanilla") {
        rows.extend(bench_vanilla(args.repetitions, &device)?);
    }
    if only.is_empty() || only.starts_with("dcgan") {
        rows.extend(bench_dcgan(&device)?);
    }

    // The product's rate on a large square matrix, for comparison with other libraries'
    // figures (the steps' own shapes are smaller and run slower).
    let square_gflops = matmul_rate(&[(1024, 1024, 1024)], 5)?;

    let label = args.label.clone().unwrap_or_else(|| "unlabelled".into());
    println!(
        "gemm threads (RAYON_NUM_THREADS): {gemm_threads}; element-wise threads \
         (CANDLE_NUM_THREADS): {candle_threads}; allocator purge delay (MIMALLOC_PURGE_DELAY, \
         ms, -1 = keep freed memory): {}",
        std::env::var("MIMALLOC_PURGE_DELAY").unwrap_or_else(|_| "mimalloc's default".into())
    );
    println!("matrix products: {}", blas::identity());
    println!("matmul 1024x1024x1024: {square_gflops:.1} GFLOP/s");
    println!(
        "{:<36} {:>5} {:>8} {:>7} {:>8} {:>8} {:>9} {:>8}",
        "benchmark", "batch", "steps/s", "spread", "GFLOP/s", "matmul", "of matmul", "peak MiB"
    );
    let mut lines = Vec::new();
    for row in &rows {
        let steps_per_second = 1.0 / row.timing.median();
        let achieved = row.flops_per_step * steps_per_second / 1e9;
        let ratio = achieved / row.matmul_gflops;
        let spread = 100.0 * row.timing.spread();
        println!(
            "{:<36} {:>5} {steps_per_second:>8.3} {spread:>6.0}% {achieved:>8.1} {:>8.1} {:>8.0}% \
             {:>8.0}",
            row.name,
            row.batch,
            row.matmul_gflops,
            100.0 * ratio,
            row.peak_rss_mib
        );
        lines.push(format!(
            "{label},{},{},{gemm_threads},{candle_threads},{},{steps_per_second:.4},{:.4},{:.3},\
             {achieved:.2},{:.2},{ratio:.4},{:.0}",
            row.name,
            row.batch,
            row.timing.seconds.len(),
            row.timing.spread(),
            row.flops_per_step / 1e9,
            row.matmul_gflops,
            row.peak_rss_mib
        ));
    }
    let csv = args.root.join("results").join("bench").join("bench.csv");
    append_csv(&csv, &lines)?;
    println!("appended to {} (label {label})", csv.display());
    Ok(())
}

fn append_csv(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("results/bench"))?;
    let new = !path.exists();
    if !new {
        let existing =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let header = existing.lines().next().unwrap_or_default();
        if header != CSV_HEADER {
            anyhow::bail!(
                "{} has the columns `{header}`, this version writes `{CSV_HEADER}`; move the old \
                 file aside",
                path.display()
            );
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if new {
        writeln!(file, "{CSV_HEADER}")?;
    }
    for line in lines {
        writeln!(file, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::selected;

    #[test]
    fn only_selects_a_model_or_one_benchmark() {
        assert!(selected("", "dcgan-batch16-gemm-crate"));
        assert!(selected("vanilla", "vanilla-h2-batch128-gemm-crate"));
        assert!(!selected("vanilla", "dcgan-batch16"));
        assert!(selected("vanilla-h2-batch128", "vanilla-h2-batch128"));
        assert!(!selected(
            "vanilla-h2-batch128",
            "vanilla-h2-batch128-gemm-crate"
        ));
    }
}
