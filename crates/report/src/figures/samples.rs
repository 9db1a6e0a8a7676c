//! A grid of generated images, each tile upscaled so that the PNG is viewable.

use std::path::Path;

use plotters::prelude::*;

use super::{plot_error, prepare};
use crate::error::{ReportError, Result};

/// Tiles are enlarged to at least this many pixels on their longer side.
const MIN_TILE_PIXELS: usize = 56;

/// Draws `n_images` images into a `grid_rows` x `grid_cols` grid and writes it as a PNG.
///
/// `images` holds the images in NCHW order with values in [-1, 1] (values outside are clipped).
/// One channel is drawn in grey, with `inverted_grey` as dark strokes on white (the thesis's
/// inverted grey colour map: -1 is white, 1 is black); three channels are drawn as RGB and
/// `inverted_grey` is ignored. Each tile is enlarged by a whole factor to at least 96 pixels and
/// separated from its neighbours by a small gap; grid places without an image stay empty.
#[expect(
    clippy::too_many_arguments,
    reason = "the signature mirrors the tensor's shape and the grid's, which the callers hold"
)]
pub fn plot_sample_grid(
    path: &Path,
    images: &[f32],
    n_images: usize,
    channels: usize,
    height: usize,
    width: usize,
    grid_rows: usize,
    grid_cols: usize,
    inverted_grey: bool,
) -> Result<()> {
    let input_error = |problem: String| ReportError::FigureInput {
        path: path.to_owned(),
        problem,
    };
    if channels != 1 && channels != 3 {
        return Err(input_error(format!(
            "expected 1 or 3 channels, found {channels}"
        )));
    }
    if height == 0 || width == 0 || grid_rows == 0 || grid_cols == 0 {
        return Err(input_error(format!(
            "image size {height}x{width} and grid {grid_rows}x{grid_cols} must not be empty"
        )));
    }
    let image_len = channels * height * width;
    if images.len() != n_images * image_len {
        return Err(input_error(format!(
            "expected {n_images} images of {channels}x{height}x{width} = {} values, found {}",
            n_images * image_len,
            images.len()
        )));
    }
    if n_images > grid_rows * grid_cols {
        return Err(input_error(format!(
            "{n_images} images do not fit a {grid_rows}x{grid_cols} grid"
        )));
    }
    prepare(path)?;

    // Layout: whole-number enlargement, and a gap of two enlarged pixels around every tile.
    let scale = MIN_TILE_PIXELS.div_ceil(height.max(width)).max(1);
    let gap = 2 * scale;
    let (tile_height, tile_width) = (height * scale, width * scale);
    let canvas_width = grid_cols * (tile_width + gap) + gap;
    let canvas_height = grid_rows * (tile_height + gap) + gap;
    // Dark-on-white tiles need a grey gap to stand apart; coloured tiles read best on white.
    let gap_level = if channels == 1 && inverted_grey {
        150
    } else {
        255
    };
    let mut canvas = vec![gap_level; canvas_width * canvas_height * 3];

    let to_level = |value: f32| -> u8 { ((value.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8 };
    for (image_idx, image) in images.chunks_exact(image_len).enumerate() {
        let top = gap + (image_idx / grid_cols) * (tile_height + gap);
        let left = gap + (image_idx % grid_cols) * (tile_width + gap);
        for canvas_y in top..top + tile_height {
            for canvas_x in left..left + tile_width {
                let pixel_idx = ((canvas_y - top) / scale) * width + (canvas_x - left) / scale;
                let rgb = if channels == 1 {
                    let level = to_level(image[pixel_idx]);
                    let level = if inverted_grey { 255 - level } else { level };
                    [level; 3]
                } else {
                    let plane = height * width;
                    [0, 1, 2].map(|channel| to_level(image[channel * plane + pixel_idx]))
                };
                let offset = (canvas_y * canvas_width + canvas_x) * 3;
                canvas[offset..offset + 3].copy_from_slice(&rgb);
            }
        }
    }

    let error = plot_error(path);
    let size = (canvas_width as u32, canvas_height as u32);
    let mut backend = BitMapBackend::new(path, size);
    backend.blit_bitmap((0, 0), size, &canvas).map_err(&error)?;
    backend.present().map_err(&error)
}
