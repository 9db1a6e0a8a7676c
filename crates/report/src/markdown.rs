//! The D-loss report in Markdown: one table per experiment and data set, shaped like the
//! thesis's Tables 3 to 5, each saying exactly what its numbers are.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::cells::{CellRow, Model, SkippedCell};
use crate::error::Result;
use crate::table::write_atomically;

/// Renders the report of one profile: a table per experiment and data set, the profile's
/// scaling note and a "Skipped" section listing every skipped cell with its reason.
pub fn render_d_loss_markdown(
    profile_name: &str,
    rows: &[CellRow],
    skipped: &[SkippedCell],
    profile_note: &str,
) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "# Average discriminator loss, profile `{profile_name}`\n"
    )
    .unwrap();
    if !profile_note.trim().is_empty() {
        writeln!(out, "Profile notes:\n\n{}\n", profile_note.trim()).unwrap();
    }
    out.push_str(
        "Numbers are rounded to 4 decimals; the CSV table beside this report holds them \
         exactly. \"n/a\" marks a cell the thesis did not publish, \"-\" a cell this grid did \
         not produce.\n",
    );

    let mut groups: BTreeMap<(&str, &str, Model), Vec<&CellRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.experiment.as_str(), row.dataset.as_str(), row.model))
            .or_default()
            .push(row);
    }
    for ((experiment, dataset, model), group) in groups {
        match model {
            Model::Vanilla => {
                writeln!(out, "\n## {experiment}: {dataset} (vanilla GAN)\n").unwrap();
                render_vanilla(&mut out, dataset, &group);
            }
            Model::Dcgan => {
                writeln!(out, "\n## {experiment}: {dataset} (DCGAN)\n").unwrap();
                render_dcgan(&mut out, &group);
            }
        }
        render_scaling(&mut out, &group);
    }

    out.push_str("\n## Skipped\n\n");
    if skipped.is_empty() {
        out.push_str("No cell was skipped.\n");
    }
    for cell in skipped {
        let class = cell
            .class
            .as_deref()
            .map(|class| format!(" / {class}"))
            .unwrap_or_default();
        writeln!(
            out,
            "- {} / {}{class} / {} epochs ({}): {}",
            cell.experiment, cell.dataset, cell.epochs, cell.model, cell.reason
        )
        .unwrap();
    }
    out
}

/// What the profile scaled in one table's cells: the phrases every cell shares in one line, then
/// per column (depth or class) what only its cells scale, such as a depth's layer widths.
fn render_scaling(out: &mut String, group: &[&CellRow]) {
    let phrases = |row: &CellRow| -> Vec<String> {
        row.scaled
            .split("; ")
            .map(str::trim)
            .filter(|phrase| !phrase.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let Some(first) = group.first() else {
        return;
    };
    let common: Vec<String> = phrases(first)
        .into_iter()
        .filter(|phrase| group.iter().all(|row| phrases(row).contains(phrase)))
        .collect();
    // Column label -> its own phrases, each column listed once, in table order.
    let mut own: Vec<(String, Vec<String>)> = Vec::new();
    for row in group {
        let label = match (row.hidden_layers, &row.class) {
            (Some(depth), _) => format!("{depth} hidden layers"),
            (None, Some(class)) => class.clone(),
            (None, None) => row.dataset.clone(),
        };
        let rest: Vec<String> = phrases(row)
            .into_iter()
            .filter(|phrase| !common.contains(phrase))
            .collect();
        if !rest.is_empty() && !own.iter().any(|(seen, _)| *seen == label) {
            own.push((label, rest));
        }
    }
    if common.is_empty() && own.is_empty() {
        return;
    }
    let every = if common.is_empty() {
        "nothing shared by every cell".to_owned()
    } else {
        common.join("; ")
    };
    writeln!(out, "\nScaled versus the thesis: {every}.").unwrap();
    for (label, rest) in own {
        writeln!(out, "- {label}: {}.", rest.join("; ")).unwrap();
    }
}

/// Writes [`render_d_loss_markdown`]'s report to `path`, creating the parent directory.
pub fn write_d_loss_markdown(
    path: &Path,
    profile_name: &str,
    rows: &[CellRow],
    skipped: &[SkippedCell],
    profile_note: &str,
) -> Result<()> {
    let text = render_d_loss_markdown(profile_name, rows, skipped, profile_note);
    write_atomically(path, text.as_bytes())
}

fn render_vanilla(out: &mut String, dataset: &str, rows: &[&CellRow]) {
    let table_reference = match dataset {
        "mnist" => ", the statistic of thesis Table 3",
        "fashion-mnist" => ", the statistic of thesis Table 4",
        _ => ", the thesis's statistic",
    };
    writeln!(
        out,
        "Each cell is the average over {} of the discriminator's binary cross-entropy at the \
         last step of each epoch{table_reference}, as \"ours (thesis)\".",
        window_phrase(rows)
    )
    .unwrap();
    out.push_str(
        "A discriminator that cannot tell real from fake outputs 0.5 and scores \
         ln 2 = 0.693 on this loss, not 0.5 as the thesis reads it.\n\n",
    );

    let depths: BTreeSet<Option<u32>> = rows.iter().map(|row| row.hidden_layers).collect();
    let epoch_counts: BTreeSet<u32> = rows.iter().map(|row| row.epochs).collect();
    let header: Vec<String> = std::iter::once("epochs".to_owned())
        .chain(depths.iter().map(|depth| match depth {
            Some(depth) => format!("{depth} hidden layers"),
            None => "hidden layers not given".to_owned(),
        }))
        .collect();
    let grid = |cell_text: &dyn Fn(&CellRow) -> String| -> Vec<Vec<String>> {
        epoch_counts
            .iter()
            .map(|&epochs| {
                std::iter::once(epochs.to_string())
                    .chain(depths.iter().map(|&depth| {
                        rows.iter()
                            .find(|row| row.epochs == epochs && row.hidden_layers == depth)
                            .map_or_else(|| "-".to_owned(), |row| cell_text(row))
                    }))
                    .collect()
            })
            .collect()
    };
    out.push_str(&markdown_table(
        &header,
        &grid(&|row| ours_and_thesis(row)),
        1,
    ));

    out.push_str(
        "\nBeside it, ours only and not in the thesis: the average over the same window of each \
         epoch's mean discriminator loss over all of its steps, which is less noisy than the \
         last step.\n\n",
    );
    out.push_str(&markdown_table(
        &header,
        &grid(&|row| number(row.d_loss_epoch_mean_avg)),
        1,
    ));
}

fn render_dcgan(out: &mut String, rows: &[&CellRow]) {
    writeln!(
        out,
        "The thesis statistic (thesis Table 5) is numpy's mean, over {}, of the pair \
         [summed D loss, summed D accuracy] recorded at the last step of each epoch, where each \
         sum adds D's update on real images and its update on fake images; it therefore \
         averages a loss with an accuracy, (loss + accuracy) / 2, and is not a loss. The \
         accuracy is Keras 2's binary accuracy against the notebook's noisy targets, which are \
         practically never exactly 0 or 1, so it is practically always 0 and the statistic is \
         about half the summed loss. The rows below it show the plain average of the summed D loss over the same window, at the last \
         step of each epoch and as each epoch's mean.",
        window_phrase(rows)
    )
    .unwrap();
    out.push_str(
        "A discriminator that cannot tell real from fake outputs 0.5 and scores \
         ln 2 = 0.693 per update on this loss (1.386 for the two updates summed), not 0.5 as \
         the thesis reads it.\n\n",
    );

    let mut classes: Vec<Option<&str>> = rows
        .iter()
        .map(|row| row.class.as_deref())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    classes.sort_by_key(|class| {
        let label = class.and_then(crate::cells::class_rank);
        (label.is_none(), label, *class)
    });
    let epoch_counts: BTreeSet<u32> = rows.iter().map(|row| row.epochs).collect();

    let header: Vec<String> = ["epochs", "statistic"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            classes
                .iter()
                .map(|class| class.unwrap_or("no class").to_owned()),
        )
        .collect();
    type CellText = fn(&CellRow) -> String;
    let statistics: [(&str, CellText); 3] = [
        ("thesis statistic, ours (thesis)", ours_and_thesis),
        ("summed D loss, last step", |row| {
            number(row.d_loss_last_step_avg)
        }),
        ("summed D loss, epoch mean", |row| {
            number(row.d_loss_epoch_mean_avg)
        }),
    ];
    let mut body = Vec::new();
    for &epochs in &epoch_counts {
        for (label, cell_text) in statistics {
            let mut line = vec![epochs.to_string(), label.to_owned()];
            line.extend(classes.iter().map(|&class| {
                rows.iter()
                    .find(|row| row.epochs == epochs && row.class.as_deref() == class)
                    .map_or_else(|| "-".to_owned(), |row| cell_text(row))
            }));
            body.push(line);
        }
    }
    out.push_str(&markdown_table(&header, &body, 2));
}

/// "the last 250 epochs", or a per-epoch-count list when scaled profiles clamped the window.
fn window_phrase(rows: &[&CellRow]) -> String {
    let windows: BTreeMap<u32, BTreeSet<u32>> =
        rows.iter().fold(BTreeMap::new(), |mut windows, row| {
            windows.entry(row.epochs).or_default().insert(row.window);
            windows
        });
    let distinct: BTreeSet<u32> = windows.values().flatten().copied().collect();
    if distinct.len() == 1 {
        let window = distinct.first().copied().unwrap_or_default();
        return format!("the last {window} epochs");
    }
    let per_epochs: Vec<String> = windows
        .iter()
        .map(|(epochs, windows)| {
            let windows: Vec<String> = windows.iter().map(u32::to_string).collect();
            format!("{} of {epochs} epochs", windows.join(" or "))
        })
        .collect();
    format!("the last epochs of each run ({})", per_epochs.join(", "))
}

fn ours_and_thesis(row: &CellRow) -> String {
    let thesis = row.thesis_value.map_or_else(|| "n/a".to_owned(), number);
    format!("{} ({thesis})", number(row.thesis_statistic))
}

fn number(value: f64) -> String {
    format!("{value:.4}")
}

/// A Markdown table whose first `n_label_columns` columns are left-aligned labels and the rest
/// right-aligned numbers, padded so that it also reads well as plain text.
fn markdown_table(header: &[String], body: &[Vec<String>], n_label_columns: usize) -> String {
    let mut widths: Vec<usize> = header
        .iter()
        .map(|cell| cell.chars().count().max(3))
        .collect();
    for line in body {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render_line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column_idx, (cell, &width))| {
                if column_idx < n_label_columns {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(column_idx, &width)| {
            if column_idx < n_label_columns {
                "-".repeat(width)
            } else {
                format!("{}:", "-".repeat(width - 1))
            }
        })
        .collect();

    let mut table = render_line(header);
    table.push_str(&format!("| {} |\n", rule.join(" | ")));
    for line in body {
        table.push_str(&render_line(line));
    }
    table
}
