//! The thesis's published average discriminator losses (Tables 3, 4 and 5).

/// The published values, as restated in the project's copy of the thesis specification.
pub const PUBLISHED_D_LOSS_CSV: &str =
    include_str!("../../../experiments/thesis/published_d_loss.csv");

/// The published value for a cell of the thesis's grid, if the thesis reports one.
///
/// `class` is a CIFAR-10 class name for the DCGAN table; `hidden_layers` the vanilla depth.
pub fn published_value(
    model: &str,
    dataset: &str,
    class: Option<&str>,
    hidden_layers: Option<usize>,
    epochs: u64,
) -> Option<f64> {
    PUBLISHED_D_LOSS_CSV.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split(',').collect();
        let [_table, row_model, row_dataset, row_class, row_depth, row_epochs, _window, d_loss] =
            fields[..]
        else {
            return None;
        };
        let matches = row_model == model
            && row_dataset == dataset
            && row_class == class.unwrap_or("")
            && row_depth == hidden_layers.map(|h| h.to_string()).unwrap_or_default()
            && row_epochs == epochs.to_string();
        matches.then(|| d_loss.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_published_values_and_nothing_else() {
        assert_eq!(
            published_value("vanilla", "mnist", None, Some(2), 600),
            Some(0.58236426)
        );
        assert_eq!(
            published_value("vanilla", "fashion-mnist", None, Some(5), 2000),
            Some(0.56105234)
        );
        assert_eq!(
            published_value("dcgan", "cifar10", Some("dog"), None, 1000),
            Some(0.46569556)
        );
        assert_eq!(
            published_value("vanilla", "mnist", None, Some(4), 600),
            None
        );
        assert_eq!(
            published_value("dcgan", "cifar10", Some("dog"), None, 500),
            None
        );
    }
}
