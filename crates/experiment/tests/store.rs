//! The run store keeps entries exactly and reports damaged ones.

use std::collections::BTreeMap;

use ganrepro_experiment::Completion;
use ganrepro_experiment::{Lookup, RunKey, RunStore};
use ganrepro_train::{EpochRecord, SampleImages};

fn history(n: u64) -> Vec<EpochRecord> {
    (1..=n)
        .map(|epoch| EpochRecord {
            epoch,
            d_loss_last: 0.1 + epoch as f64 / 3.0,
            g_loss_last: 1.0 / (epoch as f64 + 0.7),
            d_loss_mean: std::f64::consts::PI * epoch as f64,
            g_loss_mean: 1e-17 * epoch as f64,
            d_accuracy_last: (epoch % 2 == 0).then_some(0.25),
            d_accuracy_mean: (epoch % 2 == 0).then_some(1.0 / 3.0),
        })
        .collect()
}

#[test]
fn finished_entry_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(dir.path());
    let key = RunKey("a".repeat(64));
    assert!(matches!(store.lookup(&key), Lookup::Missing));

    let records = history(5);
    store.write_history(&key, &records).unwrap();
    let samples = BTreeMap::from([(
        5,
        SampleImages {
            pixels: vec![0.5, -0.25, 1.0, -1.0],
            n_images: 1,
            channels: 1,
            height: 2,
            width: 2,
        },
    )]);
    store.write_samples(&key, &samples).unwrap();
    assert!(
        matches!(store.lookup(&key), Lookup::Partial),
        "no completion marker yet"
    );

    store
        .complete(
            &key,
            &Completion {
                epochs: 5,
                served_from: None,
            },
        )
        .unwrap();
    let Lookup::Hit(entry) = store.lookup(&key) else {
        panic!("expected a hit")
    };
    assert_eq!(entry.history, records);
    assert_eq!(entry.samples, samples);
}

#[test]
fn damaged_entries_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = RunStore::new(dir.path());
    let key = RunKey("b".repeat(64));
    store.write_history(&key, &history(3)).unwrap();
    store
        .complete(
            &key,
            &Completion {
                epochs: 4,
                served_from: None,
            },
        )
        .unwrap();
    let Lookup::Corrupt(error) = store.lookup(&key) else {
        panic!("expected corrupt")
    };
    assert!(error.to_string().contains("3 epochs recorded"), "{error}");

    let history_path = store.dir(&key).join("history.csv");
    let text = std::fs::read_to_string(&history_path)
        .unwrap()
        .replace("2,", "2,oops");
    std::fs::write(&history_path, text).unwrap();
    let Lookup::Corrupt(error) = store.lookup(&key) else {
        panic!("expected corrupt")
    };
    assert!(error.to_string().contains("line 3"), "{error}");
}
