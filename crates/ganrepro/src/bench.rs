//! `ganrepro bench`: training-step throughput of both models at thesis size, against this
//! machine's matrix-multiply rate measured in the same run.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ganrepro_train::candle_core::{DType, Device, Tensor};
use ganrepro_train::vanilla::{VanillaSettings, VanillaTrainer};
use ganrepro_train::{Images, Trainer};

use crate::cli::BenchArgs;

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
        for _ in 0..repetitions {
            let start = Instant::now();
            f()?;
            seconds.push(start.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        Ok(Self { seconds })
    }

    fn median(&self) -> f64 {
        self.seconds[self.seconds.len() / 2]
    }

    /// Relative spread: (slowest - fastest) / median.
    fn spread(&self) -> f64 {
        (self.seconds[self.seconds.len() - 1] - self.seconds[0]) / self.median()
    }
}

/// Synthetic bytes in the shape of a data set: throughput does not depend on the pixels.
fn synthetic(n_images: usize, channels: usize, side: usize) -> Vec<u8> {
    (0..n_images * channels * side * side)
        .map(|i| (i * 2_654_435_761 % 251) as u8)
        .collect()
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// GFLOP/s of candle's matmul (the gemm the training uses) over a list of `(m, k, n)` shapes,
/// weighted as one step uses them.
fn matmul_rate(shapes: &[(usize, usize, usize)], device: &Device) -> anyhow::Result<f64> {
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
    let timing = Timing::measure(3, 15, || {
        for (a, b) in &operands {
            a.matmul(b)?;
        }
        Ok(())
    })?;
    Ok(flops / timing.median() / 1e9)
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
        shapes.extend([
            (batch, n_in, n_out),
            (batch, n_out, n_in),
            (n_in, batch, n_out),
        ]);
    }
    for (n_in, n_out) in layer_dims(image_dim, &settings.discriminator_widths, 1) {
        let both = 2 * batch;
        shapes.extend([
            (both, n_in, n_out),
            (both, n_out, n_in),
            (n_in, both, n_out),
        ]);
        shapes.extend([(batch, n_in, n_out), (batch, n_out, n_in)]);
    }
    shapes
}

/// Runs the benchmark, prints it and appends it to `results/bench/bench.csv`.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let device = Device::Cpu;
    let threads = ganrepro_train::candle_core::utils::get_num_threads();
    let mut rows = Vec::new();

    let settings = VanillaSettings::thesis(2);
    let pixels = synthetic(60_000, 1, 28);
    let images = Images {
        pixels: &pixels,
        n_images: 60_000,
        channels: 1,
        height: 28,
        width: 28,
    };
    let mut probe = settings.clone();
    probe.steps_per_epoch = 1;
    let mut trainer = VanillaTrainer::new(probe, 1, &images, &device)?;
    let timing = Timing::measure(3, args.repetitions, || {
        Ok(trainer.train_epoch().map(|_| ())?)
    })?;
    let rate = matmul_rate(&vanilla_matmul_shapes(&settings, 784), &device)?;
    rows.push((
        "vanilla-h2-batch128",
        settings.flops_per_step(784),
        timing,
        rate,
    ));

    let label = args.label.clone().unwrap_or_else(|| "unlabelled".into());
    let csv = args.root.join("results").join("bench").join("bench.csv");
    let mut lines = Vec::new();
    println!(
        "{:<22} {:>10} {:>9} {:>10} {:>13} {:>10} {:>8}",
        "benchmark", "steps/s", "spread", "GFLOP/s", "matmul GFLOP/s", "of matmul", "threads"
    );
    for (name, flops, timing, matmul) in &rows {
        let steps_per_second = 1.0 / timing.median();
        let achieved = flops * steps_per_second / 1e9;
        println!(
            "{name:<22} {steps_per_second:>10.2} {:>8.0}% {achieved:>10.1} {matmul:>13.1} {:>9.0}% {threads:>8}",
            100.0 * timing.spread(),
            100.0 * achieved / matmul
        );
        lines.push(format!(
            "{label},{name},{threads},{steps_per_second:.4},{:.4},{achieved:.2},{matmul:.2},{:.4},{:.0}",
            timing.spread(),
            achieved / matmul,
            peak_rss_mib()
        ));
    }
    println!("peak resident memory: {:.0} MiB", peak_rss_mib());
    append_csv(&csv, &lines)?;
    println!("appended to {}", csv.display());
    Ok(())
}

fn append_csv(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().expect("results/bench"))?;
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if new {
        writeln!(
            file,
            "label,benchmark,threads,steps_per_second,spread,gflops,matmul_gflops,ratio_to_matmul,peak_rss_mib"
        )?;
    }
    for line in lines {
        writeln!(file, "{line}")?;
    }
    Ok(())
}
