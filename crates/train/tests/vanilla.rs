//! The vanilla GAN trains reproducibly, resumes exactly and learns.

use candle_core::Device;
use ganrepro_train::vanilla::{VanillaSettings, VanillaTrainer};
use ganrepro_train::{EpochRecord, Images, Trainer};

/// Deterministic, varied bytes standing in for images: tiny runs need no real data set.
fn synthetic_pixels(n_images: usize, dim: usize) -> Vec<u8> {
    (0..n_images * dim)
        .map(|i| ((i * 37 + i / dim * 11) % 256) as u8)
        .collect()
}

fn tiny_settings() -> VanillaSettings {
    VanillaSettings {
        generator_widths: vec![16, 32],
        discriminator_widths: vec![32, 16],
        noise_dim: 8,
        batch_size: 8,
        steps_per_epoch: 3,
        ..VanillaSettings::thesis(2)
    }
}

/// A fresh trainer on 64 synthetic 7x7 images.
fn trainer(seed: u64) -> VanillaTrainer {
    let pixels = synthetic_pixels(64, 49);
    let images = Images {
        pixels: &pixels,
        n_images: 64,
        channels: 1,
        height: 7,
        width: 7,
    };
    VanillaTrainer::new(tiny_settings(), seed, &images, &Device::Cpu).unwrap()
}

fn run(seed: u64, n_epochs: usize) -> (Vec<EpochRecord>, VanillaTrainer) {
    let mut trainer = trainer(seed);
    let records = (0..n_epochs)
        .map(|_| trainer.train_epoch().unwrap())
        .collect();
    (records, trainer)
}

#[test]
fn same_seed_gives_bit_identical_losses() {
    let (first, _) = run(3, 4);
    let (second, _) = run(3, 4);
    assert_eq!(first, second);
    let (other_seed, _) = run(4, 4);
    assert_ne!(first, other_seed);
}

#[test]
fn resumed_run_matches_uninterrupted_run() {
    let (uninterrupted, _) = run(5, 6);

    let (head, interrupted) = run(5, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    ganrepro_train::checkpoint::save(&interrupted.checkpoint().unwrap(), &path).unwrap();
    drop(interrupted);

    let mut resumed = trainer(5);
    resumed
        .restore(&ganrepro_train::checkpoint::load(&path, &Device::Cpu).unwrap())
        .unwrap();
    assert_eq!(resumed.completed_epochs(), 2);
    let tail: Vec<_> = (0..4).map(|_| resumed.train_epoch().unwrap()).collect();

    assert_eq!([head, tail].concat(), uninterrupted);
}

#[test]
fn records_summarise_the_epoch() {
    let (records, trainer) = run(1, 2);
    assert_eq!(records.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
    for record in &records {
        assert!(record.d_loss_last.is_finite() && record.d_loss_last > 0.0);
        assert!(record.g_loss_mean.is_finite() && record.g_loss_mean > 0.0);
        assert!(record.d_accuracy_last.is_none());
    }
    let samples = trainer.samples(5).unwrap();
    assert_eq!(samples.pixels.len(), 5 * 49);
    assert!(samples.pixels.iter().all(|p| (-1.0..=1.0).contains(p)));
}

#[test]
fn checkpoint_does_not_change_when_training_continues() {
    let (_, mut trainer) = run(2, 1);
    let checkpoint = trainer.checkpoint().unwrap();
    let frozen: Vec<(String, Vec<f32>)> = checkpoint
        .iter()
        .filter(|(name, _)| name.ends_with("weight"))
        .map(|(name, t)| {
            (
                name.clone(),
                t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            )
        })
        .collect();
    trainer.train_epoch().unwrap();
    for (name, values) in frozen {
        let now = checkpoint[&name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(now, values, "{name} changed after the checkpoint was taken");
    }
}
