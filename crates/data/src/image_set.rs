//! Decoded images in memory, and the sets derived from them (one class, resized, truncated).

use crate::checksum::sha256_hex;
use crate::DatasetId;

/// Images as bytes 0..255 in NCHW order, labels one byte per image, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// The data set the images come from.
    pub dataset: DatasetId,
    /// Number of images (and labels).
    pub n_images: usize,
    /// Channels per image: 1 for MNIST and Fashion-MNIST, 3 (R, G, B) for CIFAR-10.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// `n_images * channels * height * width` bytes: image by image, channel planes, rows.
    pub pixels: Vec<u8>,
    /// One label 0..=9 per image.
    pub labels: Vec<u8>,
    /// Lowercase hex SHA-256 identifying the content; it enters the run key of every run.
    pub content_sha256: String,
}

/// How one output coordinate of a resize reads the input: pairs of (input index, weight).
type Taps = Vec<Vec<(usize, f32)>>;

impl ImageSet {
    /// Bytes in one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `idx` (channel planes, rows).
    ///
    /// # Panics
    /// If `idx >= n_images`.
    pub fn image(&self, idx: usize) -> &[u8] {
        assert!(
            idx < self.n_images,
            "image {idx} out of range, the set has {}",
            self.n_images
        );
        let len = self.image_len();
        &self.pixels[idx * len..(idx + 1) * len]
    }

    /// Keeps images whose label == class, in file order; content_sha256 becomes
    /// sha256(parent hash + ":class=" + class).
    pub fn select_class(&self, class: u8) -> ImageSet {
        let kept: Vec<usize> = (0..self.n_images)
            .filter(|&idx| self.labels[idx] == class)
            .collect();
        let mut pixels = Vec::with_capacity(kept.len() * self.image_len());
        for &idx in &kept {
            pixels.extend_from_slice(self.image(idx));
        }
        ImageSet {
            n_images: kept.len(),
            pixels,
            labels: vec![class; kept.len()],
            content_sha256: self.derived_hash(&format!("class={class}")),
            ..self.clone_header()
        }
    }

    /// Bilinear (or area) resize to size x size and repeat a single channel over `channels` (used
    /// to run the DCGAN on Fashion-MNIST at 32x32x3); content hash derived from parent +
    /// parameters.
    ///
    /// Enlarging uses bilinear interpolation with pixel centres at half-integer coordinates and
    /// edges clamped (the convention of PIL and of `tf.image.resize` without antialiasing);
    /// shrinking averages the covered area, so that no input pixel is skipped. Results are
    /// rounded to the nearest byte. Resizing to the current size copies the pixels unchanged.
    ///
    /// # Panics
    /// If `size` or `channels` is 0, or if the set has several channels and `channels` differs.
    pub fn resized(&self, size: usize, channels: usize) -> ImageSet {
        assert!(
            size > 0 && channels > 0,
            "resize needs a positive size and channel count"
        );
        assert!(
            self.channels == channels || self.channels == 1,
            "can only repeat a single channel, not turn {} channels into {channels}",
            self.channels
        );
        let rows = resize_taps(self.height, size);
        let cols = resize_taps(self.width, size);
        let out_plane = size * size;
        let mut pixels = Vec::with_capacity(self.n_images * channels * out_plane);
        let mut row_pass = vec![0f32; size * self.width];
        let mut plane = vec![0u8; out_plane];
        for image_idx in 0..self.n_images {
            let image = self.image(image_idx);
            for channel_idx in 0..self.channels {
                let input =
                    &image[channel_idx * self.height * self.width..][..self.height * self.width];

                // Interpolate along the rows first, then along the columns.
                for (out_y, taps) in rows.iter().enumerate() {
                    for x in 0..self.width {
                        row_pass[out_y * self.width + x] = taps
                            .iter()
                            .map(|&(in_y, weight)| weight * f32::from(input[in_y * self.width + x]))
                            .sum();
                    }
                }
                for out_y in 0..size {
                    for (out_x, taps) in cols.iter().enumerate() {
                        let value: f32 = taps
                            .iter()
                            .map(|&(in_x, weight)| weight * row_pass[out_y * self.width + in_x])
                            .sum();
                        plane[out_y * size + out_x] = value.round().clamp(0.0, 255.0) as u8;
                    }
                }

                // A single input channel is repeated over all output channels.
                let copies = if self.channels == 1 { channels } else { 1 };
                for _ in 0..copies {
                    pixels.extend_from_slice(&plane);
                }
            }
        }
        ImageSet {
            n_images: self.n_images,
            channels,
            height: size,
            width: size,
            pixels,
            labels: self.labels.clone(),
            content_sha256: self.derived_hash(&format!(
                "resized={size}x{size}x{channels}:bilinear-up-area-down-v1"
            )),
            ..self.clone_header()
        }
    }

    /// Keep the first n images (for tiny test runs); hash derived likewise.
    ///
    /// Keeps all images when `n >= n_images`; the hash still records the truncation.
    pub fn truncated(&self, n: usize) -> ImageSet {
        let n_kept = n.min(self.n_images);
        ImageSet {
            n_images: n_kept,
            pixels: self.pixels[..n_kept * self.image_len()].to_vec(),
            labels: self.labels[..n_kept].to_vec(),
            content_sha256: self.derived_hash(&format!("truncated={n_kept}")),
            ..self.clone_header()
        }
    }

    /// sha256(parent hash + ":" + what), the hash of a set derived from this one.
    fn derived_hash(&self, what: &str) -> String {
        sha256_hex(format!("{}:{what}", self.content_sha256).as_bytes())
    }

    /// A copy of the dimensions and identity without the (possibly large) pixel data.
    fn clone_header(&self) -> ImageSet {
        ImageSet {
            dataset: self.dataset,
            n_images: 0,
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels: Vec::new(),
            labels: Vec::new(),
            content_sha256: self.content_sha256.clone(),
        }
    }
}

/// For each output coordinate, the input coordinates it reads and their weights (summing to 1).
fn resize_taps(in_len: usize, out_len: usize) -> Taps {
    let scale = in_len as f64 / out_len as f64;
    (0..out_len)
        .map(|out_idx| {
            if out_len >= in_len {
                // Bilinear: the output pixel centre mapped into the input, clamped at the edges.
                let centre = ((out_idx as f64 + 0.5) * scale - 0.5).clamp(0.0, (in_len - 1) as f64);
                let low = centre.floor() as usize;
                let high = (low + 1).min(in_len - 1);
                let frac = (centre - low as f64) as f32;
                vec![(low, 1.0 - frac), (high, frac)]
            } else {
                // Area: every input pixel weighted by how much of it the output pixel covers.
                let start = out_idx as f64 * scale;
                let end = start + scale;
                (start.floor() as usize..(end.ceil() as usize).min(in_len))
                    .map(|in_idx| {
                        let overlap = end.min(in_idx as f64 + 1.0) - start.max(in_idx as f64);
                        (in_idx, (overlap / scale) as f32)
                    })
                    .filter(|&(_, weight)| weight > 0.0)
                    .collect()
            }
        })
        .collect()
}
