//! The CSV table: exact round trip of every value, empty fields for absent ones, row order.

use ganrepro_report::{read_d_loss_csv, sort_rows, write_d_loss_csv, CellRow};

use crate::common::{dcgan_rows, vanilla_rows};

#[test]
fn csv_round_trips_every_float_bit_for_bit() {
    let tricky = [
        0.1 + 0.2,
        1.0 / 3.0,
        std::f64::consts::LN_2,
        f64::MIN_POSITIVE / 7.0,
        f64::MAX,
        -0.0,
        1e-300,
        123_456_789.123_456_79,
        f64::INFINITY,
        f64::NAN,
    ];
    let mut rows = vanilla_rows();
    for (row, value) in rows.iter_mut().zip(tricky.iter().cycle().skip(1)) {
        row.thesis_statistic = tricky[0];
        row.d_loss_last_step_avg = *value;
        row.d_loss_epoch_mean_avg = -value;
    }
    rows.extend(tricky.iter().map(|&value| CellRow {
        thesis_value: Some(value),
        epochs: (value.to_bits() % 100_000) as u32,
        ..vanilla_rows()[0].clone()
    }));
    rows.extend(dcgan_rows());

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("tables").join("d_loss.csv");
    write_d_loss_csv(&path, &rows).unwrap();
    let read = read_d_loss_csv(&path).unwrap();

    let mut expected = rows.clone();
    sort_rows(&mut expected);
    assert_eq!(read.len(), expected.len());
    // Every NaN reads back as the one NaN that CSV can spell; all other values keep their bits.
    let bits = |row: &CellRow| {
        [
            row.thesis_statistic,
            row.d_loss_last_step_avg,
            row.d_loss_epoch_mean_avg,
        ]
        .into_iter()
        .chain(row.thesis_value)
        .map(|value| {
            if value.is_nan() {
                None
            } else {
                Some(value.to_bits())
            }
        })
        .collect::<Vec<_>>()
    };
    for (read_row, expected_row) in read.iter().zip(&expected) {
        assert_eq!(bits(read_row), bits(expected_row));
        assert_eq!(read_row.cell_key(), expected_row.cell_key());
        assert_eq!(read_row.scaled, expected_row.scaled);
        assert_eq!(read_row.run_key, expected_row.run_key);
    }
}

#[test]
fn csv_writes_empty_fields_for_absent_values() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("d_loss.csv");
    let mut row = vanilla_rows().remove(0);
    row.thesis_value = None;
    write_d_loss_csv(&path, &[row.clone()]).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let fields: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(fields[3], "", "class");
    assert_eq!(fields[12], "", "thesis_value");
    assert_eq!(fields[13], "", "scaled");
    assert_eq!(read_d_loss_csv(&path).unwrap(), vec![row]);
}

#[test]
fn csv_rows_are_sorted_whatever_the_input_order() {
    let mut rows = dcgan_rows();
    rows.extend(vanilla_rows());
    rows.reverse();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("d_loss.csv");
    write_d_loss_csv(&path, &rows).unwrap();

    let read = read_d_loss_csv(&path).unwrap();
    let cells: Vec<String> = read.iter().map(|row| row.cell_key().to_string()).collect();
    assert_eq!(
        cells,
        [
            "thesis-dcgan/cifar10/airplane/1000 epochs",
            "thesis-dcgan/cifar10/automobile/1000 epochs",
            "thesis-dcgan/cifar10/dog/1000 epochs",
            "thesis-vanilla/mnist/2 hidden/600 epochs",
            "thesis-vanilla/mnist/2 hidden/2000 epochs",
            "thesis-vanilla/mnist/3 hidden/600 epochs",
            "thesis-vanilla/mnist/3 hidden/2000 epochs",
            "thesis-vanilla/mnist/5 hidden/600 epochs",
            "thesis-vanilla/mnist/5 hidden/2000 epochs",
        ]
    );
}

#[test]
fn csv_of_no_rows_reads_back_empty() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("d_loss.csv");
    write_d_loss_csv(&path, &[]).unwrap();
    assert_eq!(read_d_loss_csv(&path).unwrap(), Vec::<CellRow>::new());
}
