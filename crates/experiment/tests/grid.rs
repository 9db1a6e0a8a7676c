//! Grid expansion and run keys.

use std::path::Path;

use ganrepro_experiment::{expand, load_experiment, parse_experiment, ModelSettings, RunKey};

fn thesis_vanilla() -> ganrepro_experiment::ExperimentFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/thesis-vanilla.yaml");
    load_experiment(&path).unwrap()
}

#[test]
fn thesis_grid_has_twelve_cells_with_published_values() {
    let cells = expand(&thesis_vanilla(), "thesis-vanilla", "thesis").unwrap();
    assert_eq!(cells.len(), 2 * 3 * 2);
    assert!(cells
        .iter()
        .all(|c| c.thesis_value.is_some() && c.window == 250));
    assert!(
        cells.iter().all(|c| c.scaled.is_empty()),
        "the thesis profile scales nothing"
    );
    let first = &cells[0];
    assert_eq!(
        (first.dataset.as_str(), first.hidden_layers, first.epochs),
        ("mnist", Some(2), 600)
    );
    assert_eq!(first.thesis_value, Some(0.58236426));
    assert_eq!(first.sample_epochs, [2, 20, 600]);
    let deep = cells
        .iter()
        .find(|c| c.hidden_layers == Some(5) && c.epochs == 2000)
        .unwrap();
    assert_eq!(
        deep.sample_epochs,
        [2000],
        "extra snapshots only at 2 hidden layers"
    );
    let ModelSettings::Vanilla(settings) = &deep.settings else {
        panic!("vanilla")
    };
    assert_eq!(settings.generator_widths.len(), 6);
    assert_eq!(settings.steps_per_epoch, 468);
}

#[test]
fn quick_profile_names_what_it_scaled() {
    let cells = expand(&thesis_vanilla(), "thesis-vanilla", "quick").unwrap();
    assert_eq!(cells.len(), 12);
    for cell in &cells {
        let named = |setting: &str| cell.scaled.iter().any(|phrase| phrase.starts_with(setting));
        assert_eq!(cell.scaled.len(), 3, "{:?}", cell.scaled);
        // The quick value is tuned in the experiment file; the phrase must give it beside the
        // thesis's, and it must be smaller.
        let steps = cell
            .scaled
            .iter()
            .find_map(|phrase| phrase.strip_prefix("steps_per_epoch "))
            .and_then(|rest| rest.strip_suffix(" (thesis 468)"))
            .and_then(|value| value.parse::<usize>().ok());
        assert!(steps.is_some_and(|steps| steps < 468), "{:?}", cell.scaled);
        assert!(
            named("generator_widths") && named("discriminator_widths"),
            "{:?}",
            cell.scaled
        );
    }
}

#[test]
fn dcgan_quick_profile_narrows_filters_and_keeps_the_grid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/thesis-dcgan.yaml");
    let file = load_experiment(&path).unwrap();
    let thesis = expand(&file, "thesis-dcgan", "thesis").unwrap();
    let quick = expand(&file, "thesis-dcgan", "quick").unwrap();
    assert_eq!(thesis.len(), 9);
    assert_eq!(quick.len(), 9);
    let published: Vec<_> = thesis.iter().filter_map(|c| c.thesis_value).collect();
    assert_eq!(
        published,
        [0.45015996, 0.47024597, 0.46569556],
        "only the 1000-epoch cells"
    );
    let ModelSettings::Dcgan(settings) = &quick[0].settings else {
        panic!("dcgan")
    };
    assert_eq!(
        (settings.generator_filters, settings.discriminator_filters),
        (16, 16)
    );
    assert_eq!(
        quick[0].data.class,
        Some(1),
        "automobile is CIFAR-10 label 1"
    );
}

#[test]
fn width_divisor_keeps_the_depth_rule() {
    let cells = expand(&thesis_vanilla(), "thesis-vanilla", "ci").unwrap();
    let deeper = cells.iter().find(|c| c.hidden_layers == Some(3)).unwrap();
    let ModelSettings::Vanilla(settings) = &deeper.settings else {
        panic!("vanilla")
    };
    assert_eq!(settings.generator_widths, [16, 32, 64, 64]);
    assert_eq!(settings.discriminator_widths, [64, 64, 32, 16]);
}

#[test]
fn unknown_profile_is_an_error_naming_the_known_ones() {
    let error = expand(&thesis_vanilla(), "thesis-vanilla", "fast").unwrap_err();
    assert!(
        error.contains("`fast`") && error.contains("quick"),
        "{error}"
    );
}

#[test]
fn run_key_is_stable_and_sensitive() {
    let cells = expand(&thesis_vanilla(), "thesis-vanilla", "quick").unwrap();
    let cell = &cells[0];
    let key = RunKey::of(cell, "data-hash");
    assert_eq!(
        key,
        RunKey::of(&cell.clone(), "data-hash"),
        "same inputs, same key"
    );
    assert_eq!(key.0.len(), 64);

    // Things that change the result change the key.
    assert_ne!(key, RunKey::of(cell, "other-data-hash"));
    let mut other = cell.clone();
    other.seed += 1;
    assert_ne!(key, RunKey::of(&other, "data-hash"));
    let mut other = cell.clone();
    other.epochs += 1;
    assert_ne!(key, RunKey::of(&other, "data-hash"));
    let mut other = cell.clone();
    let ModelSettings::Vanilla(settings) = &mut other.settings else {
        panic!("vanilla")
    };
    settings.learning_rate *= 2.0;
    assert_ne!(key, RunKey::of(&other, "data-hash"));

    // Things that do not change the result leave it alone.
    let mut other = cell.clone();
    other.window = 7;
    other.profile = "renamed".into();
    other.sample_epochs = vec![1];
    assert_eq!(key, RunKey::of(&other, "data-hash"));

    // Cells differing only by epochs share a trajectory.
    let longer = cells
        .iter()
        .find(|c| c.hidden_layers == cell.hidden_layers && c.epochs == 2000);
    assert_eq!(
        RunKey::trajectory(cell, "d"),
        RunKey::trajectory(longer.unwrap(), "d")
    );
}

#[test]
fn run_key_is_pinned() {
    // Guards the canonical serialisation: if this changes, every stored run is orphaned, so it
    // must only change together with a deliberate bump of the model's result version.
    let yaml = "description: t\nmodel: vanilla\nseed: 1\nwindow: 5\ngrid:\n  datasets: [mnist]\n  \
                hidden_layers: [2]\n  epochs: [10]\nprofiles:\n  quick:\n    note: t\n";
    let file = parse_experiment(yaml, Path::new("t.yaml")).unwrap();
    let cell = &expand(&file, "t", "quick").unwrap()[0];
    assert_eq!(
        RunKey::of(cell, "abc").0,
        "3a74ad3abf21d00338a3cbbd86efe5234180f51d2a3cca4faaba5f12205f6858"
    );
}
