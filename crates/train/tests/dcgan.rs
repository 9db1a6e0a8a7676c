//! The DCGAN has the notebook's shapes, trains reproducibly (also across thread counts), resumes
//! exactly and reproduces the notebook's target noise and accuracy metric.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::process::Command;

use candle_core::{Device, Tensor};
use ganrepro_train::dcgan::{
    keras_binary_accuracy, layer_shapes, n_flips, noisy_targets, DcganSettings, DcganTrainer,
    Discriminator, Generator,
};
use ganrepro_train::nn::{bce_with_logits, Mode};
use ganrepro_train::rng::{self, Stream};
use ganrepro_train::{EpochRecord, Images, Trainer};

const N_IMAGES: usize = 12;
const IMAGE_DIM: usize = 3 * 32 * 32;

/// Deterministic, varied bytes standing in for 3x32x32 images: tiny runs need no real data set.
fn synthetic_pixels() -> Vec<u8> {
    (0..N_IMAGES * IMAGE_DIM)
        .map(|i| ((i * 37 + i / IMAGE_DIM * 11) % 256) as u8)
        .collect()
}

/// A DCGAN small enough to train in a blink. Four steps per epoch over three batches exercise the
/// wrap-around of the in-order batches, and a flip fraction of 0.5 flips two targets per batch.
fn tiny_settings() -> DcganSettings {
    DcganSettings {
        noise_dim: 8,
        batch_size: 4,
        steps_per_epoch: 4,
        generator_filters: 4,
        discriminator_filters: 4,
        flip_fraction: 0.5,
        ..DcganSettings::thesis()
    }
}

fn trainer(seed: u64, pixels: &[u8]) -> DcganTrainer {
    let images = Images {
        pixels,
        n_images: N_IMAGES,
        channels: 3,
        height: 32,
        width: 32,
    };
    DcganTrainer::new(tiny_settings(), seed, &images, &Device::Cpu).unwrap()
}

fn run(seed: u64, n_epochs: usize) -> (Vec<EpochRecord>, DcganTrainer) {
    let pixels = synthetic_pixels();
    let mut trainer = trainer(seed, &pixels);
    let records = (0..n_epochs)
        .map(|_| trainer.train_epoch().unwrap())
        .collect();
    (records, trainer)
}

#[test]
fn thesis_networks_have_the_notebook_layer_shapes() {
    let shapes = layer_shapes(&DcganSettings::thesis(), 2, &Device::Cpu).unwrap();
    let want: Vec<(&str, Vec<usize>)> = vec![
        ("generator.dense", vec![2, 16 * 16 * 128]),
        ("generator.reshape", vec![2, 16, 16, 128]),
        ("generator.conv5x5_16", vec![2, 16, 16, 128]),
        ("generator.conv_transpose4x4", vec![2, 32, 32, 128]),
        ("generator.conv5x5_32a", vec![2, 32, 32, 128]),
        ("generator.conv5x5_32b", vec![2, 32, 32, 128]),
        ("generator.output", vec![2, 32, 32, 3]),
        ("discriminator.conv3x3", vec![2, 32, 32, 128]),
        ("discriminator.conv4x4_16", vec![2, 16, 16, 128]),
        ("discriminator.conv4x4_8", vec![2, 8, 8, 128]),
        ("discriminator.conv4x4_4", vec![2, 4, 4, 128]),
        ("discriminator.flatten", vec![2, 4 * 4 * 128]),
        ("discriminator.logit", vec![2, 1]),
    ];
    let got: Vec<(&str, Vec<usize>)> = shapes
        .iter()
        .map(|(name, dims)| (name.as_str(), dims.clone()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn same_seed_gives_bit_identical_losses() {
    let (first, first_trainer) = run(3, 3);
    let (second, second_trainer) = run(3, 3);
    assert_eq!(first, second);
    assert_eq!(
        first_trainer.samples(4).unwrap(),
        second_trainer.samples(4).unwrap()
    );
    let (other_seed, _) = run(4, 3);
    assert_ne!(first, other_seed);
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let (uninterrupted, uninterrupted_trainer) = run(5, 4);

    let (head, trainer) = run(5, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    ganrepro_train::checkpoint::save(&trainer.checkpoint().unwrap(), &path).unwrap();
    drop(trainer);

    let pixels = synthetic_pixels();
    let mut resumed = self::trainer(5, &pixels);
    resumed
        .restore(&ganrepro_train::checkpoint::load(&path, &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(resumed.completed_epochs(), 2);
    let tail: Vec<_> = (0..2).map(|_| resumed.train_epoch().unwrap()).collect();

    assert_eq!([head, tail].concat(), uninterrupted);
    // Samples run in inference mode, so this also checks the restored running statistics.
    assert_eq!(
        resumed.samples(4).unwrap(),
        uninterrupted_trainer.samples(4).unwrap()
    );
}

#[test]
fn checkpoint_does_not_change_when_training_continues() {
    let (_, mut trainer) = run(6, 1);
    let checkpoint = trainer.checkpoint().unwrap();
    let before = checkpoint["generator.dense.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    trainer.train_epoch().unwrap();
    let after = checkpoint["generator.dense.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn records_report_the_summed_losses_and_the_keras_accuracy() {
    let (records, trainer) = run(1, 2);
    assert_eq!(records.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
    for record in &records {
        assert!(record.d_loss_last.is_finite() && record.d_loss_last > 0.0);
        assert!(record.g_loss_mean.is_finite() && record.g_loss_mean > 0.0);
        // No noisy target is exactly 0 or 1, so Keras's accuracy is 0 (`keras_binary_accuracy`).
        assert_eq!(record.d_accuracy_last, Some(0.0));
        assert_eq!(record.d_accuracy_mean, Some(0.0));
    }
    let samples = trainer.samples(5).unwrap();
    assert_eq!(
        (
            samples.n_images,
            samples.channels,
            samples.height,
            samples.width
        ),
        (5, 3, 32, 32)
    );
    assert_eq!(samples.pixels.len(), 5 * IMAGE_DIM);
    assert!(samples.pixels.iter().all(|p| (-1.0..=1.0).contains(p)));
}

#[test]
fn flip_rule_flips_int_fraction_of_the_batch() {
    assert_eq!(n_flips(0.05, 16), 0);
    assert_eq!(n_flips(0.05, 40), 2);
    assert_eq!(n_flips(0.05, 128), 6);

    let mut target_rng = rng::stream(0, Stream::Targets, 1, 0);
    let at_16 = noisy_targets(&mut target_rng, 16, [0.0, 0.1], 0.05);
    assert!(at_16.iter().all(|t| (0.0..0.1).contains(t)), "{at_16:?}");

    // Indices are drawn with replacement, so two draws may flip one target; over many batches
    // both counts occur, and never more than int(0.05 * 40) = 2.
    let mut flip_counts = Vec::new();
    for step_idx in 0..200 {
        let mut target_rng = rng::stream(0, Stream::Targets, 1, step_idx);
        let at_40 = noisy_targets(&mut target_rng, 40, [0.0, 0.1], 0.05);
        assert!(at_40
            .iter()
            .all(|t| (0.0..0.1).contains(t) || (0.9..=1.0).contains(t)));
        flip_counts.push(at_40.iter().filter(|&&t| t > 0.5).count());
    }
    assert!(
        flip_counts.iter().all(|&n| n == 1 || n == 2),
        "{flip_counts:?}"
    );
    assert!(flip_counts.contains(&1) && flip_counts.contains(&2));
}

#[test]
fn keras_accuracy_compares_targets_without_rounding_them() {
    // Logits 3 and -3 round to 1 and 0; a logit of 0 (probability 0.5) rounds to 0.
    assert_eq!(
        keras_binary_accuracy(&[3.0, -3.0, 0.0], &[1.0, 0.0, 0.0]),
        1.0
    );
    assert_eq!(
        keras_binary_accuracy(&[3.0, -3.0, 0.0], &[0.95, 0.05, 0.0]),
        1.0 / 3.0
    );
}

/// Set in the child processes of `losses_do_not_depend_on_the_thread_count`.
const CHILD_ENV: &str = "GANREPRO_DCGAN_THREAD_CHILD";
const RECORD_PREFIX: &str = "dcgan-records:";

/// A child of `losses_do_not_depend_on_the_thread_count`: prints a tiny run's records, bit for
/// bit. Outside that test it does nothing.
#[test]
fn thread_count_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let (records, trainer) = run(7, 2);
    let mut samples = DefaultHasher::new();
    trainer
        .samples(2)
        .unwrap()
        .pixels
        .iter()
        .for_each(|p| p.to_bits().hash(&mut samples));
    let losses: Vec<u64> = records
        .iter()
        .flat_map(|r| [r.d_loss_mean, r.g_loss_mean])
        .map(f64::to_bits)
        .collect();
    println!("\n{RECORD_PREFIX}{losses:?} samples {:x}", samples.finish());
}

/// The global thread pool is sized once per process, so each thread count runs in a child.
#[test]
fn losses_do_not_depend_on_the_thread_count() {
    let records = |n_threads: &str| {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "dcgan::thread_count_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, "1")
            .env("RAYON_NUM_THREADS", n_threads)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "child with {n_threads} threads failed: {stdout}"
        );
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix(RECORD_PREFIX));
        line.unwrap_or_else(|| panic!("child printed no records: {stdout}"))
            .to_string()
    };
    assert_eq!(records("1"), records("2"));
}

#[test]
fn generator_update_changes_every_generator_weight_tensor() {
    let pixels = synthetic_pixels();
    let mut trainer = trainer(3, &pixels);
    let before = trainer.checkpoint().unwrap();
    trainer.train_epoch().unwrap();
    let after = trainer.checkpoint().unwrap();
    let mut unchanged = Vec::new();
    for (name, tensor) in &before {
        if !name.starts_with("generator.") || name.contains("running") {
            continue;
        }
        let moved = (tensor - &after[name])
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap();
        if moved
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            == 0.0
        {
            unchanged.push(name.clone());
        }
    }
    assert!(
        unchanged.is_empty(),
        "generator tensors the G update never moved: {unchanged:?}"
    );
}

/// The generator's loss through the frozen discriminator, as the G update computes it (target
/// 0, the inverted label of real images), for fixed noise and dropout.
fn generator_loss(generator: &Generator, discriminator: &Discriminator, noise: &Tensor) -> Tensor {
    let mut dropout_rng = rng::stream(5, Stream::Dropout, 0, 0);
    let fakes = generator.forward(noise, Mode::Train).unwrap();
    let logits = discriminator
        .forward(&fakes, Mode::Frozen, &mut dropout_rng)
        .unwrap();
    let targets = Tensor::zeros_like(&logits).unwrap();
    bce_with_logits(&logits, &targets).unwrap()
}

/// The gradient the G update applies is the loss's gradient: moving every generator parameter a
/// small step along it changes the loss by the step times the gradient's squared norm, as central
/// finite differences measure it. A wrong sign or a lost path through the frozen discriminator
/// (batch norm, dropout, the gathered convolutions) would fail this.
#[test]
fn generator_gradient_through_the_frozen_discriminator_matches_finite_differences() {
    let settings = tiny_settings();
    let device = Device::Cpu;
    let mut init_rng = rng::stream(11, Stream::Init, 0, 0);
    let generator = Generator::new(&settings, &mut init_rng, &device).unwrap();
    let discriminator = Discriminator::new(&settings, &mut init_rng, &device).unwrap();
    let mut noise_rng = rng::stream(11, Stream::Noise, 0, 0);
    let noise = rng::normal(&mut noise_rng, 4 * settings.noise_dim);
    let noise = Tensor::from_vec(noise, (4, settings.noise_dim), &device).unwrap();

    let loss = generator_loss(&generator, &discriminator, &noise);
    let gradients = loss.backward().unwrap();
    let vars = generator.named_vars();
    let originals: Vec<Tensor> = vars
        .iter()
        .map(|(_, var)| var.as_tensor().copy().unwrap())
        .collect();
    let grads: Vec<Tensor> = vars
        .iter()
        .map(|(name, var)| {
            gradients
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"))
                .clone()
        })
        .collect();
    let squared_norm: f64 = grads
        .iter()
        .map(|grad| {
            grad.sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        })
        .sum();
    assert!(squared_norm > 0.0);

    let loss_at = |step: f64| {
        for (((_, var), original), grad) in vars.iter().zip(&originals).zip(&grads) {
            var.set(&(original + (grad * step).unwrap()).unwrap())
                .unwrap();
        }
        let loss = generator_loss(&generator, &discriminator, &noise);
        loss.to_scalar::<f32>().unwrap() as f64
    };
    // Batch norm over four images makes the loss sharply curved along the gradient, so the step
    // moves the parameters by only 1e-3 in norm; the measured slope converges as it shrinks.
    let step = 1e-3 / squared_norm.sqrt();
    let measured = (loss_at(step) - loss_at(-step)) / (2.0 * step);
    let relative_error = (measured - squared_norm).abs() / squared_norm;
    assert!(
        relative_error < 0.02,
        "directional derivative {measured} against squared gradient norm {squared_norm}"
    );
}
