//! The Markdown report: thesis-shaped tables, what each number is, chance level, skipped cells.

use ganrepro_report::{render_d_loss_markdown, write_d_loss_markdown};

use crate::common::{dcgan_rows, skipped_cells, vanilla_rows};

fn report() -> String {
    let mut rows = vanilla_rows();
    rows.extend(dcgan_rows());
    render_d_loss_markdown(
        "smoke",
        &rows,
        &skipped_cells(),
        "steps per epoch cut to 20",
    )
}

#[test]
fn vanilla_table_has_epochs_as_rows_and_depths_as_columns() {
    let report = report();
    assert!(
        report.contains("## thesis-vanilla: mnist (vanilla GAN)"),
        "{report}"
    );
    assert!(
        report.contains("| epochs | 2 hidden layers | 3 hidden layers | 5 hidden layers |"),
        "{report}"
    );
    assert!(
        report.contains("| 600    | 0.6000 (0.5824) | 0.6100 (0.5577) |"),
        "{report}"
    );
    assert!(report.contains(
        "average over the last 250 epochs of the discriminator's binary cross-entropy at the \
         last step of each epoch"
    ));
}

#[test]
fn dcgan_table_has_classes_as_columns_and_explains_the_mixed_statistic() {
    let report = report();
    assert!(
        report.contains("## thesis-dcgan: cifar10 (DCGAN)"),
        "{report}"
    );
    let header = report
        .lines()
        .find(|line| line.starts_with("| epochs | statistic"))
        .unwrap();
    let airplane = header.find("airplane").unwrap();
    assert!(airplane < header.find("automobile").unwrap());
    assert!(header.find("automobile").unwrap() < header.find("dog").unwrap());
    assert!(report.contains("averages a loss with an accuracy"));
    assert!(report.contains("summed D loss, last step"));
    assert!(report.contains("Scaled versus the thesis: steps_per_epoch 20 of 312."));
}

#[test]
fn every_table_states_chance_level_once() {
    let report = report();
    assert_eq!(report.matches("ln 2 = 0.693").count(), 2, "{report}");
    assert_eq!(report.matches("not 0.5 as the thesis reads it").count(), 2);
}

#[test]
fn profile_note_and_skipped_cells_are_listed() {
    let report = report();
    assert!(report.contains("# Average discriminator loss, profile `smoke`"));
    assert!(report.contains("Profile notes:\n\nsteps per epoch cut to 20"));
    assert!(report.contains(
        "## Skipped\n\n- thesis-dcgan / cifar10 / cat / 1000 epochs (dcgan): CIFAR-10 not \
         downloaded"
    ));
    let empty = render_d_loss_markdown("faithful", &vanilla_rows(), &[], "");
    assert!(empty.contains("## Skipped\n\nNo cell was skipped.\n"));
}

#[test]
fn missing_thesis_value_and_missing_cell_are_marked() {
    let mut rows = vanilla_rows();
    rows[0].thesis_value = None;
    rows.remove(5);
    let report = render_d_loss_markdown("p", &rows, &[], "");
    assert!(report.contains("0.6000 (n/a)"), "{report}");
    let line_2000 = report
        .lines()
        .find(|line| line.starts_with("| 2000"))
        .unwrap();
    let last_cell = line_2000.trim_end_matches('|').rsplit('|').next().unwrap();
    assert_eq!(last_cell.trim(), "-", "{line_2000}");
}

#[test]
fn clamped_windows_are_stated_per_epoch_count() {
    let mut rows = vanilla_rows();
    for row in &mut rows {
        row.epochs /= 100;
        row.window = row.window.min(row.epochs);
    }
    let report = render_d_loss_markdown("smoke", &rows, &[], "");
    assert!(
        report.contains("the last epochs of each run (6 of 6 epochs, 20 of 20 epochs)"),
        "{report}"
    );
}

#[test]
fn markdown_file_matches_the_rendered_text() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("report").join("d_loss.md");
    let rows = vanilla_rows();
    write_d_loss_markdown(&path, "p", &rows, &[], "note").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        render_d_loss_markdown("p", &rows, &[], "note")
    );
}

#[test]
fn scaling_shared_by_every_cell_is_listed_once_and_per_depth_widths_per_depth() {
    let mut rows = vanilla_rows();
    for row in &mut rows {
        let depth = row.hidden_layers.unwrap();
        row.scaled = format!("generator_widths for {depth} layers; steps_per_epoch 2 (thesis 468)");
    }
    let report = render_d_loss_markdown("quick", &rows, &[], "");
    assert_eq!(
        report.matches("steps_per_epoch 2 (thesis 468)").count(),
        1,
        "{report}"
    );
    assert!(
        report.contains(
            "Scaled versus the thesis: steps_per_epoch 2 (thesis 468).\n\
             - 2 hidden layers: generator_widths for 2 layers.\n\
             - 3 hidden layers: generator_widths for 3 layers.\n"
        ),
        "{report}"
    );
}
