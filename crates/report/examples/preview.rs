//! Writes every table and figure kind from made-up data into a directory, to look at them.
//!
//! Run with `cargo run -p ganrepro-report --example preview -- <output directory>`.

use std::f64::consts::LN_2;
use std::path::PathBuf;

use ganrepro_report::{
    plot_comparison, plot_losses, plot_sample_grid, render_d_loss_markdown, write_d_loss_csv,
    write_d_loss_markdown, CellRow, LossHistory, LossSeries, Model, SkippedCell,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let directory: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: preview <directory>")?
        .into();

    // A thesis-shaped vanilla grid and DCGAN row set, with values near chance.
    let mut vanilla = Vec::new();
    let published = [
        [0.58236426, 0.55773926, 0.54678940],
        [0.5549142, 0.54041023, 0.53775002],
    ];
    for (epochs_idx, epochs) in [600, 2000].into_iter().enumerate() {
        for (depth_idx, hidden_layers) in [2, 3, 5].into_iter().enumerate() {
            let ours = LN_2 - 0.02 * depth_idx as f64 - 0.01 * epochs_idx as f64;
            vanilla.push(CellRow {
                experiment: "thesis-vanilla".to_owned(),
                model: Model::Vanilla,
                dataset: "mnist".to_owned(),
                class: None,
                hidden_layers: Some(hidden_layers),
                epochs,
                window: 250,
                steps_per_epoch: 468,
                batch_size: 128,
                thesis_statistic: ours,
                d_loss_last_step_avg: ours,
                d_loss_epoch_mean_avg: ours + 0.004,
                thesis_value: Some(published[epochs_idx][depth_idx]),
                scaled: String::new(),
                run_key: format!("{:064x}", epochs_idx * 3 + depth_idx),
            });
        }
    }
    let dcgan: Vec<CellRow> = [
        ("automobile", 0.45015996),
        ("airplane", 0.47024597),
        ("dog", 0.46569556),
    ]
    .into_iter()
    .enumerate()
    .map(|(class_idx, (class, thesis_value))| CellRow {
        experiment: "thesis-dcgan".to_owned(),
        model: Model::Dcgan,
        dataset: "cifar10".to_owned(),
        class: Some(class.to_owned()),
        hidden_layers: None,
        epochs: 1000,
        window: 250,
        steps_per_epoch: 312,
        batch_size: 16,
        thesis_statistic: 0.70 + 0.03 * class_idx as f64,
        d_loss_last_step_avg: 1.40 + 0.06 * class_idx as f64,
        d_loss_epoch_mean_avg: 1.38 + 0.05 * class_idx as f64,
        thesis_value: Some(thesis_value),
        scaled: "steps_per_epoch 20 of 312".to_owned(),
        run_key: format!("{:064x}", 10 + class_idx),
    })
    .collect();
    let skipped = [SkippedCell {
        experiment: "thesis-dcgan".to_owned(),
        model: Model::Dcgan,
        dataset: "cifar10".to_owned(),
        class: Some("cat".to_owned()),
        epochs: 1000,
        reason: "not in this profile".to_owned(),
    }];
    let rows: Vec<CellRow> = vanilla.iter().chain(&dcgan).cloned().collect();

    // Tables.
    write_d_loss_csv(&directory.join("d_loss.csv"), &rows)?;
    write_d_loss_markdown(
        &directory.join("d_loss.md"),
        "preview",
        &rows,
        &skipped,
        "made-up data",
    )?;
    print!(
        "{}",
        render_d_loss_markdown("preview", &rows, &skipped, "made-up data")
    );

    // Loss curves: a noisy, slowly falling D loss and a rising G loss.
    let history = {
        let mut state = 0x9e37_79b9_u64;
        let mut noise = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut history = LossHistory::default();
        for epoch_idx in 0..600 {
            let progress = f64::from(epoch_idx) / 600.0;
            let d_level = 0.68 - 0.12 * progress + 0.05 * progress * progress;
            history.d_loss_last.push(d_level + 0.12 * noise());
            history.d_loss_mean.push(d_level + 0.02 * noise());
            history
                .g_loss_last
                .push(0.9 + 0.6 * progress + 0.3 * noise());
            history
                .g_loss_mean
                .push(0.9 + 0.6 * progress + 0.05 * noise());
        }
        history
    };
    let title = "MNIST, 2 hidden layers, 600 epochs";
    plot_losses(
        &directory.join("d_loss.png"),
        title,
        &history,
        LossSeries::D,
        true,
    )?;
    plot_losses(
        &directory.join("g_loss.png"),
        title,
        &history,
        LossSeries::G,
        true,
    )?;

    // Sample grids: rings on one channel, colour gradients on three.
    let rings: Vec<f32> = (0..100 * 28 * 28)
        .map(|value_idx| {
            let (image_idx, y, x) = (value_idx / 784, (value_idx / 28) % 28, value_idx % 28);
            let distance = ((x as f32 - 14.0).powi(2) + (y as f32 - 14.0).powi(2)).sqrt();
            let radius = 3.0 + (image_idx % 9) as f32;
            if (distance - radius).abs() < 1.5 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    plot_sample_grid(
        &directory.join("mnist_samples.png"),
        &rings,
        100,
        1,
        28,
        28,
        10,
        10,
        true,
    )?;
    let gradients: Vec<f32> = (0..9 * 3 * 32 * 32)
        .map(|value_idx| {
            let (image_idx, channel) = (value_idx / 3072, (value_idx / 1024) % 3);
            let (y, x) = ((value_idx / 32) % 32, value_idx % 32);
            let ramp = [x, y, (x + y + image_idx * 4) % 32][channel];
            ramp as f32 / 16.0 - 1.0
        })
        .collect();
    plot_sample_grid(
        &directory.join("cifar_samples.png"),
        &gradients,
        9,
        3,
        32,
        32,
        3,
        3,
        false,
    )?;

    // Comparisons with the thesis.
    plot_comparison(
        &directory.join("mnist_comparison.png"),
        "MNIST: ours vs thesis",
        &vanilla,
    )?;
    plot_comparison(
        &directory.join("cifar_comparison.png"),
        "CIFAR-10: ours vs thesis",
        &dcgan,
    )?;
    Ok(())
}
