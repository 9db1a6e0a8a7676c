//! Golden-table comparison: every kind of difference is reported with its cell and column.

use std::path::Path;

use ganrepro_report::{
    compare_tables, load_tolerances, render_differences, ReportError, Tolerance, Tolerances,
};

use crate::common::{dcgan_rows, vanilla_rows};

fn golden_rows() -> Vec<ganrepro_report::CellRow> {
    let mut rows = vanilla_rows();
    rows.extend(dcgan_rows());
    rows
}

fn tolerance(column: &str, absolute: f64) -> Tolerances {
    let mut tolerances = Tolerances::default();
    tolerances.columns.insert(
        column.to_owned(),
        Tolerance {
            absolute,
            reason: "test".to_owned(),
        },
    );
    tolerances
}

#[test]
fn identical_tables_have_no_differences() {
    let differences = compare_tables(&golden_rows(), &golden_rows(), &Tolerances::default());
    assert_eq!(differences, []);
    assert_eq!(render_differences(&differences), "no differences\n");
}

#[test]
fn perturbed_value_names_its_cell_and_column() {
    let mut produced = golden_rows();
    produced[4].d_loss_last_step_avg =
        f64::from_bits(produced[4].d_loss_last_step_avg.to_bits() + 1);

    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(
        differences[0].cell,
        "thesis-vanilla/mnist/3 hidden/2000 epochs"
    );
    assert_eq!(differences[0].column, "d_loss_last_step_avg");
    assert!(differences[0].note.contains("bit-exact"));
    let table = render_differences(&differences);
    assert!(table.contains("thesis-vanilla/mnist/3 hidden/2000 epochs  d_loss_last_step_avg"));
}

#[test]
fn difference_within_tolerance_passes_and_beyond_it_fails() {
    let mut produced = golden_rows();
    produced[0].d_loss_epoch_mean_avg += 1e-9;

    let loose = tolerance("d_loss_epoch_mean_avg", 1e-8);
    assert_eq!(compare_tables(&golden_rows(), &produced, &loose), []);

    let tight = tolerance("d_loss_epoch_mean_avg", 1e-10);
    let differences = compare_tables(&golden_rows(), &produced, &tight);
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].column, "d_loss_epoch_mean_avg");
    assert!(differences[0]
        .note
        .contains("exceeds tolerance 1e-10 (test)"));

    // A tolerance on one column does not loosen another.
    let other = tolerance("thesis_statistic", 1.0);
    assert_eq!(compare_tables(&golden_rows(), &produced, &other).len(), 1);
}

#[test]
fn missing_and_extra_rows_are_reported() {
    let mut produced = golden_rows();
    let missing = produced.remove(0);
    let mut extra = missing.clone();
    extra.epochs = 20;
    produced.push(extra);

    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    let found: Vec<(&str, &str, &str, &str)> = differences
        .iter()
        .map(|difference| {
            (
                difference.cell.as_str(),
                difference.column.as_str(),
                difference.golden.as_str(),
                difference.produced.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "thesis-vanilla/mnist/2 hidden/20 epochs",
                "row",
                "missing",
                "present"
            ),
            (
                "thesis-vanilla/mnist/2 hidden/600 epochs",
                "row",
                "present",
                "missing"
            ),
        ]
    );
}

#[test]
fn changed_run_key_is_reported() {
    let mut produced = golden_rows();
    produced[7].run_key = "f".repeat(64);
    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    assert_eq!(differences.len(), 1);
    assert_eq!(
        differences[0].cell,
        "thesis-dcgan/cifar10/airplane/1000 epochs"
    );
    assert_eq!(differences[0].column, "run_key");
    assert_eq!(differences[0].produced, "f".repeat(64));
}

#[test]
fn nan_in_either_table_is_reported_even_within_tolerance() {
    let loose = tolerance("thesis_statistic", 1.0);
    let mut with_nan = golden_rows();
    with_nan[2].thesis_statistic = f64::NAN;

    for (golden, produced) in [
        (golden_rows(), with_nan.clone()),
        (with_nan.clone(), golden_rows()),
    ] {
        let differences = compare_tables(&golden, &produced, &loose);
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].column, "thesis_statistic");
        assert!(differences[0].note.starts_with("NaN"));
    }
    assert_eq!(compare_tables(&with_nan, &with_nan, &loose).len(), 1);
}

#[test]
fn thesis_value_present_in_one_table_only_is_reported() {
    let mut produced = golden_rows();
    produced[1].thesis_value = None;
    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].column, "thesis_value");
    assert_eq!(differences[0].produced, "");
}

#[test]
fn duplicate_cells_are_reported() {
    let mut produced = golden_rows();
    produced.push(produced[0].clone());
    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    assert_eq!(differences.len(), 1);
    assert!(differences[0]
        .note
        .contains("more than once in the produced table"));
}

#[test]
fn rendered_differences_are_aligned() {
    let mut produced = golden_rows();
    produced[0].batch_size = 64;
    produced[8].thesis_statistic = 0.5;
    let differences = compare_tables(&golden_rows(), &produced, &Tolerances::default());
    let table = render_differences(&differences);

    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + differences.len(), "{table}");
    assert!(lines[1].starts_with("----"), "{table}");
    let column_start = lines[0].find("column").unwrap();
    let note_start = lines[0].find("note").unwrap();
    for (line, difference) in lines[2..].iter().zip(&differences) {
        assert!(
            line[column_start..].starts_with(&difference.column),
            "{table}"
        );
        assert_eq!(&line[note_start..], difference.note, "{table}");
    }
}

#[test]
fn tolerance_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tolerances.yaml");
    let tolerances = load_tolerances(&path).unwrap();
    assert_eq!(tolerances.absolute("d_loss_epoch_mean_avg"), 1e-12);
    assert_eq!(tolerances.absolute("thesis_statistic"), 0.0);
    assert_eq!(tolerances.absolute("d_loss_last_step_avg"), 0.0);
}

#[test]
fn empty_tolerance_file_means_bit_exact() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tolerances.yaml");
    std::fs::write(&path, "# nothing may move\n").unwrap();
    assert_eq!(load_tolerances(&path).unwrap(), Tolerances::default());
}

#[test]
fn unknown_tolerance_key_is_reported_with_its_line() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tolerances.yaml");
    std::fs::write(
        &path,
        "thesis_statistic:\n  absolute: 0.1\n  reason: r\nd_loss_avg:\n  absolute: 0.1\n",
    )
    .unwrap();
    let error = load_tolerances(&path).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "tolerances.yaml:4:1: unknown field `d_loss_avg`, \
         expected one of thesis_statistic, d_loss_last_step_avg, d_loss_epoch_mean_avg, \
         thesis_value"
        ),
        "{error}"
    );
    match error {
        ReportError::ToleranceSyntax { line, message, .. } => {
            assert_eq!(line, 4, "{message}");
            assert!(message.contains("d_loss_avg"), "{message}");
        }
        other => panic!("unexpected error {other}"),
    }

    std::fs::write(&path, "thesis_statistic:\n  absolute: 0.1\n  reasons: r\n").unwrap();
    match load_tolerances(&path).unwrap_err() {
        ReportError::ToleranceSyntax { line, column, .. } => assert_eq!((line, column), (3, 3)),
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn every_bad_tolerance_value_is_reported() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tolerances.yaml");
    std::fs::write(
        &path,
        concat!(
            "thesis_statistic:\n  absolute: -1\n  reason: r\n",
            "thesis_value:\n  absolute: 0\n  reason: ''\n",
        ),
    )
    .unwrap();
    match load_tolerances(&path).unwrap_err() {
        ReportError::ToleranceValues { problems, .. } => assert_eq!(
            problems,
            [
                "thesis_statistic.absolute: expected a finite number >= 0, found -1",
                "thesis_value.reason: expected a reason, found nothing",
            ]
        ),
        other => panic!("unexpected error {other}"),
    }
}
