//! Rows shaped like the thesis's grids, shared by the topic modules.

use ganrepro_report::{CellRow, Model, SkippedCell};

/// The thesis's MNIST vanilla grid (Table 3) with made-up results of ours.
pub fn vanilla_rows() -> Vec<CellRow> {
    let published = [
        (2, 600, 0.58236426),
        (3, 600, 0.55773926),
        (5, 600, 0.54678940),
        (2, 2000, 0.5549142),
        (3, 2000, 0.54041023),
        (5, 2000, 0.53775002),
    ];
    published
        .iter()
        .enumerate()
        .map(
            |(cell_idx, &(hidden_layers, epochs, thesis_value))| CellRow {
                experiment: "thesis-vanilla".to_owned(),
                model: Model::Vanilla,
                dataset: "mnist".to_owned(),
                class: None,
                hidden_layers: Some(hidden_layers),
                epochs,
                window: 250,
                steps_per_epoch: 468,
                batch_size: 128,
                thesis_statistic: 0.6 + 0.01 * cell_idx as f64 + 1.0 / 3.0e5,
                d_loss_last_step_avg: 0.6 + 0.01 * cell_idx as f64 + 1.0 / 3.0e5,
                d_loss_epoch_mean_avg: 0.62 + 0.01 * cell_idx as f64,
                thesis_value: Some(thesis_value),
                scaled: String::new(),
                run_key: format!("{cell_idx:064x}"),
            },
        )
        .collect()
}

/// The thesis's DCGAN grid (Table 5) with made-up results of ours.
pub fn dcgan_rows() -> Vec<CellRow> {
    let published = [
        ("automobile", 0.45015996),
        ("airplane", 0.47024597),
        ("dog", 0.46569556),
    ];
    published
        .iter()
        .enumerate()
        .map(|(cell_idx, &(class, thesis_value))| CellRow {
            experiment: "thesis-dcgan".to_owned(),
            model: Model::Dcgan,
            dataset: "cifar10".to_owned(),
            class: Some(class.to_owned()),
            hidden_layers: None,
            epochs: 1000,
            window: 250,
            steps_per_epoch: 312,
            batch_size: 16,
            thesis_statistic: 0.44 + 0.02 * cell_idx as f64,
            d_loss_last_step_avg: 0.88 + 0.04 * cell_idx as f64,
            d_loss_epoch_mean_avg: 0.9 + 0.03 * cell_idx as f64,
            thesis_value: Some(thesis_value),
            scaled: "steps_per_epoch 20 of 312".to_owned(),
            run_key: format!("{:064x}", 100 + cell_idx),
        })
        .collect()
}

/// One skipped DCGAN cell.
pub fn skipped_cells() -> Vec<SkippedCell> {
    vec![SkippedCell {
        experiment: "thesis-dcgan".to_owned(),
        model: Model::Dcgan,
        dataset: "cifar10".to_owned(),
        class: Some("cat".to_owned()),
        epochs: 1000,
        reason: "CIFAR-10 not downloaded (run `ganrepro fetch cifar10`)".to_owned(),
    }]
}
