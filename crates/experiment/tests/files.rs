//! Experiment files: the committed ones load, and every kind of mistake is located.

use std::path::Path;

use ganrepro_experiment::{load_experiment, parse_experiment, ExperimentError};

const MINIMAL: &str = "\
description: test
model: vanilla
seed: 1
window: 5
grid:
  datasets: [mnist]
  hidden_layers: [2]
  epochs: [10]
profiles:
  quick:
    note: test
";

fn error_of(yaml: &str) -> String {
    match parse_experiment(yaml, Path::new("bad.yaml")) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn committed_experiments_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
    let mut n_files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            load_experiment(&path).unwrap_or_else(|e| panic!("{e}"));
            n_files += 1;
        }
    }
    assert!(n_files >= 1);
}

#[test]
fn minimal_file_parses() {
    parse_experiment(MINIMAL, Path::new("ok.yaml")).unwrap();
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let message = error_of(&MINIMAL.replace("seed: 1\n", "seed: 1\nlearning_rate: 0.1\n"));
    assert!(message.contains("bad.yaml"), "{message}");
    assert!(message.contains("line 4 column 1"), "{message}");
    assert!(
        message.contains("unknown field `learning_rate`"),
        "{message}"
    );
}

#[test]
fn unknown_nested_setting_is_reported() {
    let yaml = format!("{MINIMAL}    vanilla:\n      stepz_per_epoch: 3\n");
    let message = error_of(&yaml);
    assert!(message.contains("line 13 column 7"), "{message}");
    assert!(message.contains("stepz_per_epoch"), "{message}");
}

#[test]
fn wrong_type_is_reported_with_line_and_column() {
    let message = error_of(&MINIMAL.replace("window: 5", "window: five"));
    assert!(message.contains("line 4 column 9"), "{message}");
    // The source excerpt is headed by the file, not by the parser's placeholder name.
    assert!(message.contains("--> bad.yaml:4:9"), "{message}");
    assert!(!message.contains("<input>"), "{message}");
}

#[test]
fn duplicate_key_is_reported_with_line_and_column() {
    let message = error_of(&MINIMAL.replace("seed: 1\n", "seed: 1\nseed: 2\n"));
    assert!(message.contains("line 4 column 1"), "{message}");
    assert!(message.contains("duplicate"), "{message}");
}

#[test]
fn every_semantic_problem_is_listed_with_its_location() {
    let yaml = MINIMAL
        .replace("datasets: [mnist]", "datasets: [mnist, kmnist]")
        .replace("epochs: [10]", "epochs: [10, 0]")
        .replace("window: 5", "window: 0");
    let error = parse_experiment(&yaml, Path::new("bad.yaml")).unwrap_err();
    let ExperimentError::Invalid { problems, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems
        .iter()
        .any(|p| p.starts_with("line 6 column 21") && p.contains("kmnist")));
    assert!(problems
        .iter()
        .any(|p| p.starts_with("line 8 column 16") && p.contains("epochs")));
    assert!(problems
        .iter()
        .any(|p| p.starts_with("line 4 column 9") && p.contains("window")));
}
