//! Our thesis statistic beside the thesis's published value, across depths and epoch counts
//! (vanilla) or across classes (DCGAN), with chance level marked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::{padded_range, plot_error, prepare, LN_2};
use crate::cells::{CellRow, Model};
use crate::error::{ReportError, Result};

/// Line colours, one per series group (epoch count and data set).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 90, 160),
    RGBColor(230, 120, 20),
    RGBColor(40, 150, 60),
    RGBColor(140, 70, 170),
    RGBColor(140, 90, 60),
    RGBColor(200, 60, 140),
];
const CHANCE_COLOUR: RGBColor = RGBColor(90, 90, 90);

/// Draws our `thesis_statistic` against the published `thesis_value` for each row into a PNG.
///
/// Vanilla rows are placed by hidden layers and DCGAN rows by class; rows are grouped into one
/// colour per epoch count (and data set, when there are several), ours as solid lines with
/// filled points and the thesis's as dashed lines with crosses. A dashed grey line marks
/// chance, ln 2 = 0.693. `rows` must all be of one model; non-finite values are left out.
pub fn plot_comparison(path: &Path, title: &str, rows: &[CellRow]) -> Result<()> {
    let input_error = |problem: &str| ReportError::FigureInput {
        path: path.to_owned(),
        problem: problem.to_owned(),
    };
    let models: BTreeSet<Model> = rows.iter().map(|row| row.model).collect();
    let model = match models.into_iter().collect::<Vec<_>>()[..] {
        [model] => model,
        [] => return Err(input_error("no rows to compare")),
        _ => {
            return Err(input_error(
                "rows mix vanilla and DCGAN cells; plot them separately",
            ))
        }
    };
    prepare(path)?;

    // Positions along the x axis: hidden layers or classes, as categories.
    let position_of = |row: &CellRow| -> String {
        match model {
            Model::Vanilla => row
                .hidden_layers
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            Model::Dcgan => row.class.clone().unwrap_or_else(|| "?".to_owned()),
        }
    };
    let mut categories: Vec<String> = rows
        .iter()
        .map(position_of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    categories.sort_by_key(|category| {
        let class_label = crate::cells::class_rank(category);
        (category.parse::<u32>().ok(), class_label, category.clone())
    });
    let x_of = |row: &CellRow| -> f64 {
        let category = position_of(row);
        categories
            .iter()
            .position(|known| *known == category)
            .unwrap_or_default() as f64
    };

    // One group per (data set, epochs), each with ours and the thesis's points.
    let several_datasets = rows
        .iter()
        .map(|row| &row.dataset)
        .collect::<BTreeSet<_>>()
        .len()
        > 1;
    let mut groups: BTreeMap<(&str, u32), Vec<&CellRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.dataset.as_str(), row.epochs))
            .or_default()
            .push(row);
    }
    let group_points = |group: &[&CellRow], value: fn(&CellRow) -> Option<f64>| {
        let mut points: Vec<(f64, f64)> = group
            .iter()
            .filter_map(|row| {
                value(row)
                    .filter(|value| value.is_finite())
                    .map(|y| (x_of(row), y))
            })
            .collect();
        points.sort_by(|left, right| left.0.total_cmp(&right.0));
        points
    };

    let all_values = rows
        .iter()
        .flat_map(|row| [Some(row.thesis_statistic), row.thesis_value])
        .flatten()
        .chain([LN_2]);
    let (y_low, y_high) = padded_range(all_values, 0.08).unwrap_or((0.0, 1.0));
    let y_high = y_high + 0.3 * (y_high - y_low);
    let x_range = -0.5..categories.len() as f64 - 0.5;

    let error = plot_error(path);
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(&error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range.clone(), y_low..y_high)
        .map_err(&error)?;
    let (x_description, y_description) = match model {
        Model::Vanilla => (
            "hidden layers",
            "mean D loss over the window (thesis statistic)",
        ),
        Model::Dcgan => (
            "CIFAR-10 class",
            "thesis statistic: (D loss + D accuracy) / 2",
        ),
    };
    let category_label = |x: &f64| -> String {
        let nearest = x.round();
        let index = nearest as usize;
        if (x - nearest).abs() < 1e-6 && nearest >= 0.0 && index < categories.len() {
            categories[index].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_labels(categories.len() + 1)
        .x_label_formatter(&category_label)
        .y_label_formatter(&|value| format!("{value:.2}"))
        .x_desc(x_description)
        .y_desc(y_description)
        .axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(&error)?;

    // Chance level: a dashed line across the plot, labelled in place.
    let chance_line = [(x_range.start, LN_2), (x_range.end, LN_2)];
    chart
        .draw_series(DashedLineSeries::new(
            chance_line,
            10,
            6,
            CHANCE_COLOUR.stroke_width(2),
        ))
        .map_err(&error)?;
    let label_style = TextStyle::from(("sans-serif", 16).into_font())
        .color(&CHANCE_COLOUR)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Left,
            plotters::style::text_anchor::VPos::Bottom,
        ));
    chart
        .draw_series([Text::new(
            "chance: ln 2 = 0.693",
            (
                x_range.start + 0.02 * (x_range.end - x_range.start),
                LN_2 + 0.01 * (y_high - y_low),
            ),
            label_style,
        )])
        .map_err(&error)?;

    for (group_idx, ((dataset, epochs), group)) in groups.iter().enumerate() {
        let colour = PALETTE[group_idx % PALETTE.len()];
        let name = if several_datasets {
            format!("{dataset}, {epochs} epochs")
        } else {
            format!("{epochs} epochs")
        };
        let scaled = group.iter().any(|row| !row.scaled.trim().is_empty());

        let ours = group_points(group, |row| Some(row.thesis_statistic));
        chart
            .draw_series(LineSeries::new(ours.clone(), colour.stroke_width(2)))
            .map_err(&error)?
            .label(format!("ours, {name}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                ours.iter()
                    .map(|&point| Circle::new(point, 5, colour.filled())),
            )
            .map_err(&error)?;

        let thesis = group_points(group, |row| row.thesis_value);
        if thesis.is_empty() {
            continue;
        }
        let thesis_name = if scaled {
            format!("thesis, its unscaled cells for ours at {name}")
        } else {
            format!("thesis, {name}")
        };
        chart
            .draw_series(DashedLineSeries::new(
                thesis.clone(),
                8,
                5,
                colour.stroke_width(2),
            ))
            .map_err(&error)?
            .label(thesis_name)
            .legend(move |(x, y)| {
                DashedPathElement::new([(x, y), (x + 24, y)], 6, 4, colour.stroke_width(2))
            });
        chart
            .draw_series(
                thesis
                    .iter()
                    .map(|&point| Cross::new(point, 6, colour.stroke_width(2))),
            )
            .map_err(&error)?;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(&error)?;
    root.present().map_err(&error)
}
