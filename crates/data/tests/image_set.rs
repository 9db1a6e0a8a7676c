//! Derived image sets: class selection, truncation and resizing, with their content hashes.

use ganrepro_data::checksum::sha256_hex;
use ganrepro_data::{DatasetId, ImageSet};

/// A set of `n` single-channel images whose pixels encode (image, position).
fn grey_set(n: usize, size: usize) -> ImageSet {
    ImageSet {
        dataset: DatasetId::FashionMnist,
        n_images: n,
        channels: 1,
        height: size,
        width: size,
        pixels: (0..n * size * size).map(|idx| (idx % 251) as u8).collect(),
        labels: (0..n).map(|idx| (idx * 7 % 10) as u8).collect(),
        content_sha256: sha256_hex(b"parent"),
    }
}

#[test]
fn select_class_keeps_file_order_and_derives_the_hash() {
    let set = grey_set(30, 4);

    let selected = set.select_class(3);

    let expected_idx: Vec<usize> = (0..30).filter(|&idx| set.labels[idx] == 3).collect();
    assert_eq!(selected.n_images, expected_idx.len());
    for (kept_idx, &parent_idx) in expected_idx.iter().enumerate() {
        assert_eq!(selected.image(kept_idx), set.image(parent_idx));
    }
    assert!(selected.labels.iter().all(|&label| label == 3));
    let expected_hash = sha256_hex(format!("{}:class=3", set.content_sha256).as_bytes());
    assert_eq!(selected.content_sha256, expected_hash);
}

#[test]
fn truncated_keeps_the_first_images() {
    let set = grey_set(10, 4);

    let head = set.truncated(3);

    assert_eq!(head.n_images, 3);
    assert_eq!(head.pixels, set.pixels[..3 * 16]);
    assert_eq!(head.labels, set.labels[..3]);
    assert_ne!(head.content_sha256, set.content_sha256);
    assert_eq!(set.truncated(100).n_images, 10);
}

#[test]
fn resized_to_the_same_size_copies_pixels() {
    let set = grey_set(3, 28);

    let same = set.resized(28, 1);

    assert_eq!(same.pixels, set.pixels);
    assert_ne!(same.content_sha256, set.content_sha256);
}

#[test]
fn resized_up_repeats_the_channel_and_interpolates() {
    let mut set = grey_set(2, 28);
    // Image 0 constant, image 1 a horizontal ramp.
    for y in 0..28 {
        for x in 0..28 {
            set.pixels[y * 28 + x] = 200;
            set.pixels[784 + y * 28 + x] = (x * 9) as u8;
        }
    }

    let big = set.resized(32, 3);

    assert_eq!(
        (big.n_images, big.channels, big.height, big.width),
        (2, 3, 32, 32)
    );
    assert_eq!(big.pixels.len(), 2 * 3 * 32 * 32);
    assert_eq!(big.labels, set.labels);
    assert!(big.image(0).iter().all(|&value| value == 200));
    let ramp = big.image(1);
    let (red, green, blue) = (&ramp[..1024], &ramp[1024..2048], &ramp[2048..]);
    assert_eq!(red, green);
    assert_eq!(red, blue);
    for y in 0..32 {
        let row = &red[y * 32..(y + 1) * 32];
        assert!(
            row.windows(2).all(|pair| pair[0] <= pair[1]),
            "row {y} not monotone: {row:?}"
        );
        assert_eq!((row[0], row[31]), (0, 243));
    }
    assert_eq!(big, set.resized(32, 3), "resizing is deterministic");
    assert_ne!(big.content_sha256, set.resized(32, 1).content_sha256);
}

#[test]
fn resized_down_averages_areas() {
    let set = ImageSet {
        dataset: DatasetId::Mnist,
        n_images: 1,
        channels: 1,
        height: 4,
        width: 4,
        pixels: vec![
            0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150,
        ],
        labels: vec![0],
        content_sha256: sha256_hex(b"parent"),
    };

    let small = set.resized(2, 1);

    // Each output pixel is the mean of a 2x2 block, rounded.
    assert_eq!(small.pixels, vec![25, 45, 105, 125]);
}
