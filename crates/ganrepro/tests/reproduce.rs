//! `ganrepro reproduce` end to end: caching, serving shorter cells, and resuming a killed run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tiny experiment on the first 512 MNIST images: cheap enough to train twice per test.
const TINY: &str = "\
description: end-to-end test
model: vanilla
seed: 7
window: 5
grid:
  datasets: [mnist]
  hidden_layers: [2]
  epochs: [12, 30]
data:
  limit: 512
profiles:
  quick:
    note: tiny
    width_divisor: 16
    vanilla:
      steps_per_epoch: 2
      batch_size: 16
";

/// The workspace's data directory, holding MNIST, Fashion-MNIST and OpenBLAS once this returns:
/// fetched by the project's own code on first use, once per test process.
fn workspace_data() -> PathBuf {
    static FETCHED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FETCHED
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let mut options = ganrepro_data::DataOptions::from_env(&root);
            options.data_dir = None;
            options.allow_network = false;
            for dataset in [
                ganrepro_data::DatasetId::Mnist,
                ganrepro_data::DatasetId::FashionMnist,
            ] {
                ganrepro_data::load_train(dataset, &options).expect("fetching test data");
            }
            // The runs find the library for matrix products beside the data, as users' do.
            let openblas = ganrepro_data::openblas::openblas_dir(&root.join("data"));
            if let Err(reason) = ganrepro_data::openblas::ensure_openblas(&openblas, true) {
                eprintln!("tests run without OpenBLAS: {reason}");
            }
            root.join("data")
        })
        .clone()
}

/// The same for the DCGAN, on 64 sneakers resized to 32x32x3.
const TINY_DCGAN: &str = "\
description: end-to-end test
model: dcgan
seed: 7
window: 3
grid:
  datasets: [fashion-mnist]
  classes: [sneaker]
  epochs: [4]
data:
  resize: 32
  channels: 3
  limit: 64
profiles:
  quick:
    note: tiny
    width_divisor: 32
    dcgan:
      steps_per_epoch: 2
      batch_size: 8
";

/// A fresh workspace root holding only the tiny vanilla experiment.
fn fresh_root() -> tempfile::TempDir {
    root_with(&[("tiny.yaml", TINY)])
}

fn root_with(experiments: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("experiments")).unwrap();
    for (name, text) in experiments {
        std::fs::write(root.path().join("experiments").join(name), text).unwrap();
    }
    root
}

fn reproduce(root: &Path, extra: &[&str]) -> Command {
    reproduce_with_data(root, &workspace_data(), extra)
}

/// `ganrepro reproduce` offline on the quick profile, with data from `data_dir` only.
fn reproduce_with_data(root: &Path, data_dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ganrepro"));
    command
        .args(["reproduce", "--profile", "quick", "--offline", "--root"])
        .arg(root)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("GANREPRO_DATA_DIR");
    command
}

fn run_to_end(root: &Path) -> String {
    let output = reproduce(root, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "ganrepro failed:\n{stderr}");
    stderr
}

/// Every `history.csv` of the run store, by run key.
fn histories(root: &Path) -> Vec<(String, String)> {
    let mut found: Vec<_> = std::fs::read_dir(root.join("results/runs"))
        .unwrap()
        .map(|entry| {
            let dir = entry.unwrap().path();
            let key = dir.file_name().unwrap().to_string_lossy().into_owned();
            (
                key,
                std::fs::read_to_string(dir.join("history.csv")).unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn second_invocation_is_all_cache_hits_and_shorter_cells_are_served() {
    let root = fresh_root();
    let first = run_to_end(root.path());
    assert!(
        first.contains("1 trained") && first.contains("1 served from a longer run"),
        "{first}"
    );
    let table = std::fs::read_to_string(root.path().join("results/quick/d_loss.csv")).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");

    let second = run_to_end(root.path());
    assert!(
        second.contains("0 trained") && second.contains("2 from the run store"),
        "{second}"
    );
    let again = std::fs::read_to_string(root.path().join("results/quick/d_loss.csv")).unwrap();
    assert_eq!(table, again);

    // The served 12-epoch history is the first 12 epochs of the 30-epoch run.
    let runs = histories(root.path());
    let (short, long): (Vec<_>, Vec<_>) = runs.iter().partition(|(_, h)| h.lines().count() == 13);
    let long_head: Vec<&str> = long[0].1.lines().take(13).collect();
    assert_eq!(short[0].1.lines().collect::<Vec<_>>(), long_head);
}

#[test]
fn killed_run_resumes_to_the_same_losses() {
    let uninterrupted = fresh_root();
    run_to_end(uninterrupted.path());

    // Kill the process once a few epochs are checkpointed, then start it again.
    let killed = fresh_root();
    let mut child = reproduce(killed.path(), &["--checkpoint-seconds", "0"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let checkpointed = loop {
        let runs = killed.path().join("results/runs");
        let epochs = std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("history.csv")).ok())
            .map(|h| h.lines().count().saturating_sub(1))
            .max()
            .unwrap_or(0);
        if epochs >= 5 || Instant::now() > deadline {
            break epochs;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(checkpointed >= 5, "no checkpoint within the deadline");
    assert!(
        !status.success(),
        "the run finished before it could be killed; make it longer"
    );

    let resumed = run_to_end(killed.path());
    assert!(resumed.contains("1 resumed from a checkpoint"), "{resumed}");
    assert_eq!(histories(killed.path()), histories(uninterrupted.path()));
}

#[test]
fn both_models_give_identical_tables_on_1_and_2_threads() {
    let tables: Vec<String> = ["1", "2"]
        .iter()
        .map(|threads| {
            let root = root_with(&[("tiny.yaml", TINY), ("tiny-dcgan.yaml", TINY_DCGAN)]);
            let output = reproduce(root.path(), &["--jobs", "1"])
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::fs::read_to_string(root.path().join("results/quick/d_loss.csv")).unwrap()
        })
        .collect();
    assert_eq!(
        tables[0].lines().count(),
        4,
        "two vanilla cells and one DCGAN cell"
    );
    assert_eq!(tables[0], tables[1]);
}

#[test]
fn compare_fails_naming_the_cell_that_moved() {
    let root = fresh_root();
    run_to_end(root.path());
    let produced = root.path().join("results/quick/d_loss.csv");
    let golden = root.path().join("golden.csv");
    let tolerances = root.path().join("tolerances.yaml");
    std::fs::write(
        &tolerances,
        "thesis_value:\n  absolute: 0\n  reason: copied\n",
    )
    .unwrap();
    let compare = |golden: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ganrepro"))
            .args(["compare", "--produced"])
            .arg(&produced)
            .arg("--golden")
            .arg(golden)
            .arg("--tolerances")
            .arg(&tolerances)
            .output()
            .unwrap()
    };
    assert!(
        compare(&produced).status.success(),
        "a table matches itself"
    );

    // Nudge the last digit of one loss in the golden copy.
    let table = std::fs::read_to_string(&produced).unwrap();
    let row = table.lines().nth(2).unwrap();
    let fields: Vec<&str> = row.split(',').collect();
    let loss: f64 = fields[11].parse().unwrap();
    let nudged = row.replacen(fields[11], &(loss + 1e-12).to_string(), 1);
    std::fs::write(&golden, table.replace(row, &nudged)).unwrap();

    let output = compare(&golden);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("d_loss_epoch_mean_avg"), "{stdout}");
    assert!(stdout.contains("30"), "names the 30-epoch cell: {stdout}");
}

#[test]
fn only_keeps_the_rows_and_notes_of_the_experiments_it_leaves_out() {
    let dcgan = TINY_DCGAN.replace("note: tiny", "note: tiny convolutional");
    let root = root_with(&[("tiny.yaml", TINY), ("tiny-dcgan.yaml", &dcgan)]);
    run_to_end(root.path());
    let output = reproduce(root.path(), &["--only", "tiny"])
        .output()
        .unwrap();
    assert!(output.status.success());

    let table = std::fs::read_to_string(root.path().join("results/quick/d_loss.csv")).unwrap();
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("tiny-dcgan,"))
            .count(),
        1,
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.starts_with("tiny,")).count(),
        2,
        "{table}"
    );
    let report = std::fs::read_to_string(root.path().join("results/quick/d_loss.md")).unwrap();
    assert!(
        report.contains("- tiny: tiny\n- tiny-dcgan: tiny convolutional\n"),
        "{report}"
    );
}

/// A tiny CIFAR-10 DCGAN grid: one class, 32 images, 2 epochs.
const TINY_CIFAR: &str = "\
description: end-to-end test
model: dcgan
seed: 7
window: 2
grid:
  datasets: [cifar10]
  classes: [automobile]
  epochs: [2]
data:
  limit: 32
profiles:
  quick:
    note: tiny cifar
    width_divisor: 32
    dcgan:
      steps_per_epoch: 2
      batch_size: 8
";

/// Extracted CIFAR-10 binary batches in the official layout and size (5 files of 10,000
/// records: a label byte, then 3,072 pixel bytes), with made-up pixels.
fn write_cifar_binary_batches(data_dir: &Path) {
    let batches = data_dir.join("cifar10").join("cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    for batch in 0..5 {
        let mut bytes = Vec::with_capacity(10_000 * 3073);
        for record in 0..10_000usize {
            bytes.push((record % 10) as u8);
            bytes.extend((0..3072usize).map(|i| ((i * 7 + record * 13 + batch) % 256) as u8));
        }
        std::fs::write(batches.join(format!("data_batch_{}.bin", batch + 1)), bytes).unwrap();
    }
}

#[test]
fn cifar_cells_are_skipped_without_the_data_and_train_given_the_files() {
    let root = root_with(&[("tiny-cifar.yaml", TINY_CIFAR)]);
    let empty = tempfile::tempdir().unwrap();
    let output = reproduce_with_data(root.path(), empty.path(), &["--require-all"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 skipped"), "{stderr}");
    assert!(
        stderr.contains("cifar-10-binary.tar.gz"),
        "says what to supply: {stderr}"
    );

    let data = tempfile::tempdir().unwrap();
    write_cifar_binary_batches(data.path());
    let output = reproduce_with_data(root.path(), data.path(), &["--require-all"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 trained") && stderr.contains("0 skipped"),
        "{stderr}"
    );
    let table = std::fs::read_to_string(root.path().join("results/quick/d_loss.csv")).unwrap();
    assert!(
        table.contains("tiny-cifar,dcgan,cifar10,automobile,,2,"),
        "{table}"
    );
}
