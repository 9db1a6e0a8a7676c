//! The real data sets, loaded only when `GANREPRO_REAL_DATA` is set (they are large and may need
//! fetching).
//!
//! `GANREPRO_REAL_DATA=1` uses this workspace (and `GANREPRO_DATA_DIR` if set);
//! `GANREPRO_REAL_DATA=/some/dir` treats that directory as the workspace root, so
//! `GANREPRO_REAL_DATA=$(mktemp -d)` exercises the package fallbacks from scratch.

use std::path::PathBuf;
use std::time::Instant;

use ganrepro_data::{load_train, DataOptions, DatasetId};

/// Training label counts published for each data set.
const MNIST_LABEL_COUNTS: [usize; 10] =
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const FASHION_MNIST_LABEL_COUNTS: [usize; 10] = [6000; 10];

#[test]
fn real_mnist_and_fashion_mnist_load_when_enabled() {
    let Some(setting) = std::env::var_os("GANREPRO_REAL_DATA").filter(|v| !v.is_empty()) else {
        eprintln!("GANREPRO_REAL_DATA not set: real data sets not loaded");
        return;
    };
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let workspace_root = if setting == "1" {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    } else {
        PathBuf::from(setting)
    };
    let options = DataOptions::from_env(&workspace_root);

    for (dataset, label_counts) in [
        (DatasetId::Mnist, MNIST_LABEL_COUNTS),
        (DatasetId::FashionMnist, FASHION_MNIST_LABEL_COUNTS),
    ] {
        let start = Instant::now();
        let set = load_train(dataset, &options).unwrap_or_else(|err| panic!("{err}"));
        eprintln!(
            "{dataset}: loaded in {:.1} s",
            start.elapsed().as_secs_f64()
        );

        assert_eq!(
            (set.n_images, set.channels, set.height, set.width),
            (60_000, 1, 28, 28)
        );
        let mut counts = [0usize; 10];
        for &label in &set.labels {
            counts[label as usize] += 1;
        }
        assert_eq!(counts, label_counts, "{dataset} label counts");
    }
}
