//! Pictures for people to look at, written as PNG: a grid of image tiles (augmented samples,
//! heat-map overlays), each tile enlarged so small images such as 28×28 ones stay visible.

use image::{ImageFormat, Rgb, RgbImage};
use kiln_model::ImageShape;
use std::io::Cursor;

/// Pixels between tiles and around the grid.
const GAP: u32 = 4;
/// Tiles are enlarged by whole pixels until they are at least this many pixels wide.
const MIN_TILE: usize = 96;
/// The colour between tiles.
const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);

/// A grid of equally sized RGB tiles, filled row by row.
#[derive(Debug)]
pub struct Grid {
    canvas: RgbImage,
    columns: u32,
    tile: (u32, u32),
    zoom: u32,
    next: u32,
}

impl Grid {
    /// An empty grid of `rows × columns` tiles for images of `shape`.
    pub fn new(shape: &ImageShape, rows: usize, columns: usize) -> Self {
        let zoom = MIN_TILE.div_ceil(shape.width.max(1)).max(1) as u32;
        let tile = (shape.width as u32 * zoom, shape.height as u32 * zoom);
        let size = |n: usize, side: u32| GAP + n as u32 * (side + GAP);
        Self {
            canvas: RgbImage::from_pixel(size(columns, tile.0), size(rows, tile.1), BACKGROUND),
            columns: columns as u32,
            tile,
            zoom,
            next: 0,
        }
    }

    /// Adds the next tile: `rgb(y, x)` gives the colour of source pixel (y, x).
    pub fn push(&mut self, rgb: impl Fn(usize, usize) -> [u8; 3]) {
        let (col, row) = (self.next % self.columns, self.next / self.columns);
        self.next += 1;
        let left = GAP + col * (self.tile.0 + GAP);
        let top = GAP + row * (self.tile.1 + GAP);
        for ty in 0..self.tile.1 {
            for tx in 0..self.tile.0 {
                let colour = rgb((ty / self.zoom) as usize, (tx / self.zoom) as usize);
                if left + tx < self.canvas.width() && top + ty < self.canvas.height() {
                    self.canvas.put_pixel(left + tx, top + ty, Rgb(colour));
                }
            }
        }
    }

    /// Adds an image of `shape` given as channel-major raw pixel values (0 to 255).
    pub fn push_image(&mut self, pixels: &[f32], shape: &ImageShape) {
        self.push(|y, x| image_colour(pixels, shape, y, x));
    }

    /// The grid encoded as PNG.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        self.canvas
            .write_to(&mut out, ImageFormat::Png)
            .expect("encoding a PNG in memory cannot fail");
        out.into_inner()
    }
}

/// The colour of pixel (y, x) of a channel-major image: grey for one channel, else the first
/// three channels as red, green and blue.
pub fn image_colour(pixels: &[f32], shape: &ImageShape, y: usize, x: usize) -> [u8; 3] {
    let plane = shape.height * shape.width;
    let at = |c: usize| pixels[c * plane + y * shape.width + x].clamp(0.0, 255.0) as u8;
    if shape.channels >= 3 {
        [at(0), at(1), at(2)]
    } else {
        let v = at(0);
        [v, v, v]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_enlarged_and_placed_row_by_row() {
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 3,
        };
        let mut grid = Grid::new(&shape, 2, 2);
        let zoom = 32; // 96 / 3
        assert_eq!(grid.canvas.width(), GAP + 2 * (3 * zoom + GAP));
        let first: Vec<f32> = vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0];
        grid.push_image(&first, &shape);
        grid.push(|_, _| [255, 0, 0]);
        // Pixel (1, 2) of the first tile, enlarged.
        let p = grid.canvas.get_pixel(GAP + 2 * zoom + 5, GAP + zoom + 5);
        assert_eq!(p.0, [50, 50, 50]);
        // The second tile sits to the right of the first.
        let q = grid.canvas.get_pixel(GAP + 3 * zoom + GAP + 1, GAP + 1);
        assert_eq!(q.0, [255, 0, 0]);
        let png = grid.to_png();
        assert_eq!(&png[1..4], b"PNG");
    }
}
