//! Figures: every kind is drawn into a temporary directory and decoded back as a PNG.

use std::path::Path;

use ganrepro_report::{
    plot_comparison, plot_losses, plot_sample_grid, LossHistory, LossSeries, ReportError,
};

use crate::common::{dcgan_rows, vanilla_rows};

/// Decodes a PNG and returns its size and whether any pixel is not white.
fn decode(path: &Path) -> (u32, u32, bool) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let has_ink = pixels[..frame.buffer_size()]
        .iter()
        .any(|&byte| byte != 255);
    (frame.width, frame.height, has_ink)
}

/// A noisy, slowly falling loss curve, deterministic without a random-number crate.
pub fn synthetic_history(n_epochs: usize) -> LossHistory {
    let mut state = 0x2545_f491_u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut history = LossHistory::default();
    for epoch_idx in 0..n_epochs {
        let progress = epoch_idx as f64 / n_epochs as f64;
        let d_level = 0.68 - 0.12 * progress + 0.05 * progress * progress;
        let g_level = 0.9 + 0.6 * progress;
        history.d_loss_last.push(d_level + 0.12 * noise());
        history.d_loss_mean.push(d_level + 0.02 * noise());
        history.g_loss_last.push(g_level + 0.3 * noise());
        history.g_loss_mean.push(g_level + 0.05 * noise());
    }
    history
}

/// Images with a ring of growing radius (one channel) or colour gradients (three channels).
pub fn synthetic_images(n_images: usize, channels: usize, size: usize) -> Vec<f32> {
    let mut images = Vec::with_capacity(n_images * channels * size * size);
    for image_idx in 0..n_images {
        for channel in 0..channels {
            for y in 0..size {
                for x in 0..size {
                    let (dx, dy) = (x as f32 - size as f32 / 2.0, y as f32 - size as f32 / 2.0);
                    let radius = 3.0 + (image_idx % 9) as f32;
                    let value = if channels == 1 {
                        if ((dx * dx + dy * dy).sqrt() - radius).abs() < 1.5 {
                            1.0
                        } else {
                            -1.0
                        }
                    } else {
                        let ramp = [x, y, (x + y + image_idx * 3) / 2][channel] as f32;
                        2.0 * ramp / size as f32 - 1.0
                    };
                    images.push(value);
                }
            }
        }
    }
    images
}

#[test]
fn every_figure_kind_writes_a_decodable_png() {
    let directory = tempfile::tempdir().unwrap();
    let figure = |name: &str| directory.path().join("figures").join(name);
    let history = synthetic_history(600);

    plot_losses(
        &figure("d_loss.png"),
        "D loss, MNIST, 2 hidden layers",
        &history,
        LossSeries::D,
        true,
    )
    .unwrap();
    plot_losses(
        &figure("g_loss.png"),
        "G loss",
        &history,
        LossSeries::G,
        false,
    )
    .unwrap();
    plot_sample_grid(
        &figure("mnist_samples.png"),
        &synthetic_images(100, 1, 28),
        100,
        1,
        28,
        28,
        10,
        10,
        true,
    )
    .unwrap();
    plot_sample_grid(
        &figure("cifar_samples.png"),
        &synthetic_images(7, 3, 32),
        7,
        3,
        32,
        32,
        3,
        3,
        false,
    )
    .unwrap();
    plot_comparison(&figure("vanilla_comparison.png"), "MNIST", &vanilla_rows()).unwrap();
    plot_comparison(&figure("dcgan_comparison.png"), "CIFAR-10", &dcgan_rows()).unwrap();

    assert_eq!(decode(&figure("d_loss.png")), (1000, 600, true));
    assert_eq!(decode(&figure("g_loss.png")), (1000, 600, true));
    // 28 pixels enlarged 4 times, with 8-pixel gaps: 10 * (112 + 8) + 8.
    assert_eq!(decode(&figure("mnist_samples.png")), (604, 604, true));
    // 32 pixels enlarged 3 times, with 6-pixel gaps: 3 * (96 + 6) + 6.
    assert_eq!(decode(&figure("cifar_samples.png")), (208, 208, true));
    assert_eq!(decode(&figure("vanilla_comparison.png")), (1000, 640, true));
    assert_eq!(decode(&figure("dcgan_comparison.png")), (1000, 640, true));
}

#[test]
fn sample_grid_rejects_inconsistent_shapes() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("samples.png");
    let images = synthetic_images(4, 1, 28);
    let problem = |result: Result<(), ReportError>| match result.unwrap_err() {
        ReportError::FigureInput { problem, .. } => problem,
        other => panic!("unexpected error {other}"),
    };
    assert!(
        problem(plot_sample_grid(&path, &images, 5, 1, 28, 28, 3, 3, true))
            .contains("expected 5 images")
    );
    assert!(
        problem(plot_sample_grid(&path, &images, 4, 1, 28, 28, 1, 3, true)).contains("do not fit")
    );
    assert!(
        problem(plot_sample_grid(&path, &images, 4, 2, 28, 14, 2, 2, true))
            .contains("1 or 3 channels")
    );
    assert!(!path.exists());
}

#[test]
fn inverted_grey_draws_dark_strokes_on_white() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("one.png");
    // A single 2x2 image: background (-1) everywhere but one stroke pixel (+1).
    plot_sample_grid(&path, &[1.0, -1.0, -1.0, -1.0], 1, 1, 2, 2, 1, 1, true).unwrap();

    let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let pixel = |x: usize, y: usize| {
        let offset = (y * frame.width as usize + x) * 3;
        [pixels[offset], pixels[offset + 1], pixels[offset + 2]]
    };
    // 2 pixels enlarged 28 times, gap 56: the stroke's tile starts at (56, 56).
    assert_eq!(pixel(56, 56), [0, 0, 0]);
    assert_eq!(pixel(56 + 28, 56), [255, 255, 255]);
    assert_eq!(pixel(10, 10), [150, 150, 150]);
}

#[test]
fn comparison_rejects_mixed_models_and_empty_rows() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("comparison.png");
    let mut rows = vanilla_rows();
    rows.extend(dcgan_rows());
    assert!(matches!(
        plot_comparison(&path, "t", &rows),
        Err(ReportError::FigureInput { .. })
    ));
    assert!(matches!(
        plot_comparison(&path, "t", &[]),
        Err(ReportError::FigureInput { .. })
    ));
}

#[test]
fn loss_figure_needs_a_finite_value() {
    let directory = tempfile::tempdir().unwrap();
    let history = LossHistory {
        d_loss_last: vec![f64::NAN],
        ..LossHistory::default()
    };
    let result = plot_losses(
        &directory.path().join("d.png"),
        "t",
        &history,
        LossSeries::D,
        true,
    );
    assert!(matches!(result, Err(ReportError::FigureInput { .. })));
}
