//! `ganrepro bench`: training-step throughput of both models at thesis size, against this
//! machine's matrix-multiply rate measured in the same run.
//!
//! Benchmarks, each a row of `results/bench/bench.csv`:
//! - `vanilla-h2-batch128`: the vanilla step with 2 hidden layers, batch 128;
//! - `vanilla-h2-batch128-adam-tensor-ops`: the same step with Adam as candle tensor operations
//!   instead of the in-place kernels, the in-run baseline of that optimisation (the two are timed
//!   step by step in turn; each peak memory is taken over its own warm-up steps);
//! - `dcgan-batch16`: the DCGAN step, batch 16 (1 warm-up and 3 timed steps: it is slow on a CPU).
//!
//! `GANREPRO_BENCH_ONLY=vanilla` or `=dcgan` restricts the run to the benchmarks whose name
//! starts with that word, to save time while measuring one lever.
//!
//! Each benchmark's matmul rate is candle's matrix product (the gemm the training uses) on the
//! step's own matrix shapes: the dense layers' products, and for the DCGAN the im2col products
//! its convolutions run. Peak resident memory is reset before each benchmark where Linux allows.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ganrepro_train::candle_core::{DType, Device, Tensor};
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

/// GFLOP/s of candle's matmul over a list of `(m, k, n)` shapes, each multiplied once per pass.
fn matmul_rate(
    shapes: &[(usize, usize, usize)],
    repetitions: usize,
    device: &Device,
) -> anyhow::Result<f64> {
    let operands: Vec<(Tensor, Tensor)> = shapes
        .iter()
        .map(|&(m, k, n)| {
            let a = Tensor::ones((m, k), DType::F32, device)?;
            let b = Tensor::ones((k, n), DType::F32, device)?;
            Ok((a, b))
        })
        .collect::<anyhow::Result<_>>()?;
    let flops: f64 = shapes
        .iter()
        .map(|&(m, k, n)| 2.0 * (m * k * n) as f64)
        .sum();
    let timing = Timing::measure(1, repetitions, || {
        for (a, b) in &operands {
            a.matmul(b)?;
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
/// them: a convolution is one product of its im2col patches `[batch * out pixels, k * k * c_in]`
/// with the kernel, a transposed convolution one product of its input pixels with the kernel
/// `[c_in, k * k * c_out]` (see `ganrepro_train::nn::Conv2d`).
fn dcgan_matmul_shapes(settings: &DcganSettings) -> Vec<(usize, usize, usize)> {
    let batch = settings.batch_size;
    let (g, d) = (settings.generator_filters, settings.discriminator_filters);
    let (seed, full) = (IMAGE_SIZE / 2, IMAGE_SIZE);
    let pixels = |side: usize| batch * side * side;
    let forward = [
        // Generator: dense to the 16x16 seed, 5x5 convolution, 4x4 transposed convolution to
        // 32x32, two 5x5 convolutions and the 5x5 convolution to RGB.
        (batch, settings.noise_dim, g * seed * seed),
        (pixels(seed), 25 * g, g),
        (pixels(seed), g, 16 * g),
        (pixels(full), 25 * g, g),
        (pixels(full), 25 * g, g),
        (pixels(full), 25 * g, IMAGE_CHANNELS),
        // Discriminator: 3x3 convolution, three strided 4x4 convolutions, dense to the logit.
        (pixels(full), 9 * IMAGE_CHANNELS, d),
        (pixels(full / 2), 16 * d, d),
        (pixels(full / 4), 16 * d, d),
        (pixels(full / 8), 16 * d, d),
        (batch, d * (full / 8) * (full / 8), 1),
    ];
    forward.into_iter().flat_map(with_backward).collect()
}

/// Times the vanilla step with 2 hidden layers at batch 128, with Adam as tensor operations and
/// in place, the two interleaved step by step so that the machine's load hits both alike.
fn bench_vanilla(repetitions: usize, device: &Device) -> anyhow::Result<Vec<Row>> {
    let settings = VanillaSettings::thesis(2);
    let matmul_gflops = matmul_rate(&vanilla_matmul_shapes(&settings, 784), 15, device)?;
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
        ("vanilla-h2-batch128-adam-tensor-ops", true),
        ("vanilla-h2-batch128", false),
    ];
    let mut trainers = Vec::new();
    let mut peaks = Vec::new();
    for (_, tensor_ops_only) in variants {
        reset_peak_rss();
        ganrepro_train::adam::set_tensor_ops_only(tensor_ops_only);
        let mut trainer = VanillaTrainer::new(probe.clone(), 1, &images, device)?;
        for _ in 0..3 {
            trainer.train_epoch()?;
        }
        peaks.push(peak_rss_mib());
        trainers.push(trainer);
    }
    let mut seconds = vec![Vec::new(); variants.len()];
    for _ in 0..repetitions.max(1) {
        for (idx, (_, tensor_ops_only)) in variants.iter().enumerate() {
            ganrepro_train::adam::set_tensor_ops_only(*tensor_ops_only);
            let start = Instant::now();
            trainers[idx].train_epoch()?;
            seconds[idx].push(start.elapsed().as_secs_f64());
        }
    }
    ganrepro_train::adam::set_tensor_ops_only(false);
    let rows = variants.iter().zip(seconds).zip(peaks);
    Ok(rows
        .map(|(((name, _), seconds), peak_rss_mib)| Row {
            name,
            batch: settings.batch_size,
            flops_per_step: settings.flops_per_step(side * side),
            timing: Timing::from_seconds(seconds),
            matmul_gflops,
            peak_rss_mib,
        })
        .collect())
}

/// Times the DCGAN step at thesis size: 1 warm-up and 3 timed steps.
fn bench_dcgan(device: &Device) -> anyhow::Result<Row> {
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
    let matmul_gflops = matmul_rate(&dcgan_matmul_shapes(&settings), 3, device)?;
    let mut probe = settings.clone();
    probe.steps_per_epoch = 1;
    reset_peak_rss();
    let mut trainer = DcganTrainer::new(probe, 1, &images, device)?;
    let timing = Timing::measure(1, 3, || Ok(trainer.train_epoch().map(|_| ())?))?;
    Ok(Row {
        name: "dcgan-batch16",
        batch: settings.batch_size,
        flops_per_step: settings.flops_per_step(),
        timing,
        matmul_gflops,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Runs the benchmarks, prints them and appends them to `results/bench/bench.csv`.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let gemm_threads = ganrepro_train::candle_core::utils::get_num_threads();
    let candle_threads = std::env::var("CANDLE_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let only = std::env::var("GANREPRO_BENCH_ONLY").unwrap_or_default();
    let mut rows = Vec::new();

    if "vanilla".starts_with(&only) {
        rows.extend(bench_vanilla(args.repetitions, &device)?);
    }
    if "dcgan".starts_with(&only) {
        rows.push(bench_dcgan(&device)?);
    }

    // The gemm's rate on a large square product, for comparison with other libraries' figures
    // (the steps' own shapes are smaller and run slower).
    let square_gflops = matmul_rate(&[(1024, 1024, 1024)], 5, &device)?;

    let label = args.label.clone().unwrap_or_else(|| "unlabelled".into());
    println!(
        "gemm threads (RAYON_NUM_THREADS): {gemm_threads}; element-wise threads \
         (CANDLE_NUM_THREADS): {candle_threads}; allocator purge delay (MIMALLOC_PURGE_DELAY, \
         ms, -1 = keep freed memory): {}",
        std::env::var("MIMALLOC_PURGE_DELAY").unwrap_or_else(|_| "mimalloc's default".into())
    );
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
